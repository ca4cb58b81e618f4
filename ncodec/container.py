"""The .ncz byte format: header (codec, model identity, metadata), record index, per-record
content checks, payloads, CRC32.

Layout and versioning rule are documented in docs/format.md; this module is the only code
that reads or writes those bytes. Version 2 added the per-record content check (a short
keyed hash of what the record decodes to, see ``content_check``); version 1 files (no checks)
are still read.
"""
from __future__ import annotations

import struct
import zlib

import xxhash
from dataclasses import dataclass, field
from fractions import Fraction

from ._varint import decode_uvarint, encode_uvarint
from .errors import ChecksumError, FormatError, TruncatedError, UnsupportedVersionError
from .item import DTYPES, MEDIA_KINDS, ItemMeta

MAGIC = b"NCZ"
FORMAT_VERSION = 2
READABLE_VERSIONS = (1, 2)
MODEL_ID_BYTES = 8

FLAG_ARCHIVE = 0x01      # many records with an index (else: exactly one record, no index)
FLAG_NAMES = 0x02        # every record carries a name
FLAG_MODEL_ID = 0x04     # an 8-byte model identity follows the codec fields
FLAG_MANY_METAS = 0x08   # a table of metadata entries + one meta index per record (else one shared meta)
FLAG_STACK = 0x10        # the records came from one stacked array (write back as one .npy)
CHECK_SHIFT = 5          # bits 5-6: content check width code (version 2; 0 is invalid there)
CHECK_MASK = 0x03 << CHECK_SHIFT
CHECK_WIDTHS = {1: 2, 2: 4, 3: 8}            # width code -> check bytes per record
CHECK_CODES = {w: c for c, w in CHECK_WIDTHS.items()}
KNOWN_FLAGS_V1 = FLAG_ARCHIVE | FLAG_NAMES | FLAG_MODEL_ID | FLAG_MANY_METAS | FLAG_STACK
KNOWN_FLAGS = KNOWN_FLAGS_V1 | CHECK_MASK
CHECK_SEED = 0x6E637A32         # "ncz2": seed of the XXH3-64 content check


def content_check(meta: ItemMeta, content, width: int) -> bytes:
    """The ``width``-byte content check of one record: the first ``width`` bytes of the
    big-endian XXH3-64 digest (seed ``CHECK_SEED``) of the packed metadata followed by the
    content (bytes-like; arrays are hashed as their little-endian C-order bytes).

    What the content is depends on the codec (``Codec.check_source``): the exact decoded bytes
    for lossless codecs, the encoder's reconstruction for classical lossy ones, the
    entropy-decoded integer symbols for learned lossy ones.
    """
    if width not in CHECK_CODES:
        raise ValueError(f"content check width must be one of {sorted(CHECK_CODES)}")
    h = xxhash.xxh3_64(seed=CHECK_SEED)
    h.update(_pack_meta(meta))
    h.update(canonical_bytes(content))
    return h.digest()[:width]


def canonical_bytes(content):
    """A bytes-like view of ``content``: arrays become little-endian, C-contiguous (copied only if needed)."""
    import numpy as np
    if isinstance(content, np.ndarray):
        a = content
        if a.dtype.str[0] == ">":
            a = a.astype(a.dtype.newbyteorder("<"))
        return np.ascontiguousarray(a).reshape(-1).view(np.uint8)
    return content


@dataclass
class Record:
    """One independently decodable payload with its metadata and optional name."""

    payload: bytes
    meta: ItemMeta
    name: str = ""
    check: bytes = b""       # content check (version 2); b"" for records of version 1 files


@dataclass
class Container:
    """A parsed (or to-be-written) .ncz file."""

    codec: str
    codec_version: int
    quality: int
    records: list[Record]
    model_id: bytes = b""
    archive: bool = False
    stack: bool = False
    extra: dict = field(default_factory=dict)
    version: int = FORMAT_VERSION       # of a parsed file; pack() derives it from the records

    @property
    def check_bytes(self) -> int:
        """Content check bytes per record (0: none, a version 1 file)."""
        return len(self.records[0].check) if self.records else 0

    @property
    def payload_bytes(self) -> int:
        """Total payload size, excluding header and index."""
        return sum(len(r.payload) for r in self.records)


# ---------------------------------------------------------------- metadata

def _pack_meta(meta: ItemMeta) -> bytes:
    out = bytearray()
    out.append(MEDIA_KINDS.index(meta.media) << 4 | DTYPES.index(meta.dtype))
    out += encode_uvarint(len(meta.shape))
    for s in meta.shape:
        out += encode_uvarint(s)
    if meta.media == "audio":
        out += encode_uvarint(meta.sample_rate)
    elif meta.media == "video":
        out += encode_uvarint(meta.frame_rate.numerator) + encode_uvarint(meta.frame_rate.denominator)
    return bytes(out)


def _unpack_meta(buf: bytes, pos: int, end: int) -> tuple[ItemMeta, int]:
    if pos >= end:
        raise TruncatedError("file ends inside item metadata")
    code = buf[pos]
    pos += 1
    media_i, dtype_i = code >> 4, code & 0x0F
    if media_i >= len(MEDIA_KINDS) or dtype_i >= len(DTYPES):
        raise FormatError("unknown media kind or dtype code")
    ndim, pos = decode_uvarint(buf, pos, end)
    if ndim > 8:
        raise FormatError(f"implausible number of dimensions ({ndim})")
    shape = []
    for _ in range(ndim):
        s, pos = decode_uvarint(buf, pos, end)
        if s > 1 << 40:
            raise FormatError("implausible dimension size")
        shape.append(s)
    sample_rate, frame_rate = 0, Fraction(0)
    media = MEDIA_KINDS[media_i]
    if media == "audio":
        sample_rate, pos = decode_uvarint(buf, pos, end)
    elif media == "video":
        num, pos = decode_uvarint(buf, pos, end)
        den, pos = decode_uvarint(buf, pos, end)
        if den == 0:
            raise FormatError("frame rate with zero denominator")
        frame_rate = Fraction(num, den)
    return ItemMeta(media=media, shape=tuple(shape), dtype=DTYPES[dtype_i],
                    sample_rate=sample_rate, frame_rate=frame_rate), pos


def _pack_str(s: str) -> bytes:
    raw = s.encode("utf-8")
    return encode_uvarint(len(raw)) + raw


def _unpack_str(buf: bytes, pos: int, end: int) -> tuple[str, int]:
    n, pos = decode_uvarint(buf, pos, end)
    if pos + n > end:
        raise TruncatedError("file ends inside a string field")
    try:
        return bytes(buf[pos:pos + n]).decode("utf-8"), pos + n
    except UnicodeDecodeError as exc:
        raise FormatError("string field is not UTF-8") from exc


# ---------------------------------------------------------------- writer

def pack(c: Container) -> bytes:
    """Serialise a container to bytes (header, index, content checks, payloads, CRC32).

    Records that all carry a content check (of one width: 2, 4 or 8 bytes) make a version 2
    file; records without any make a version 1 file (what low-level tools that only measure
    sizes write); a mix is refused.
    """
    if not c.records:
        raise ValueError("a container needs at least one record")
    if not c.archive and len(c.records) != 1:
        raise ValueError("a single-item container holds exactly one record")
    widths = {len(r.check) for r in c.records}
    if len(widths) != 1:
        raise ValueError("every record needs a content check of the same width, or none does")
    width = widths.pop()
    if width and width not in CHECK_CODES:
        raise ValueError(f"content check width must be one of {sorted(CHECK_CODES)}, not {width}")
    version = 2 if width else 1
    metas: list[ItemMeta] = []
    meta_index: dict[ItemMeta, int] = {}
    for r in c.records:
        if r.meta not in meta_index:
            meta_index[r.meta] = len(metas)
            metas.append(r.meta)
    names = any(r.name for r in c.records)
    flags = ((FLAG_ARCHIVE if c.archive else 0) | (FLAG_NAMES if names else 0)
             | (FLAG_MODEL_ID if c.model_id else 0) | (FLAG_MANY_METAS if len(metas) > 1 else 0)
             | (FLAG_STACK if c.stack else 0) | (CHECK_CODES[width] << CHECK_SHIFT if width else 0))
    if c.model_id and len(c.model_id) != MODEL_ID_BYTES:
        raise ValueError(f"model id must be {MODEL_ID_BYTES} bytes")
    codec_raw = c.codec.encode("ascii")
    if not 0 < len(codec_raw) < 64:
        raise ValueError("codec name must be 1..63 ASCII characters")
    out = bytearray(MAGIC)
    out.append(version)
    out.append(flags)
    out.append(len(codec_raw))
    out += codec_raw
    out += encode_uvarint(c.codec_version) + encode_uvarint(c.quality)
    if c.model_id:
        out += c.model_id
    if len(metas) > 1:
        out += encode_uvarint(len(metas))
    for m in metas:
        out += _pack_meta(m)
    if c.archive:
        out += encode_uvarint(len(c.records))
        for r in c.records:
            if len(metas) > 1:
                out += encode_uvarint(meta_index[r.meta])
            if names:
                out += _pack_str(r.name)
            out += encode_uvarint(len(r.payload))
            out += r.check
    else:
        if names:
            out += _pack_str(c.records[0].name)
        out += c.records[0].check
    for r in c.records:
        out += r.payload
    out += struct.pack("<I", zlib.crc32(out))
    return bytes(out)


# ---------------------------------------------------------------- reader

def unpack(data: bytes, verify: bool = True) -> Container:
    """Parse and check a .ncz file; raises a FormatError subclass for anything it does not trust."""
    buf = memoryview(data)
    if len(buf) < len(MAGIC) or bytes(buf[:3]) != MAGIC:
        raise FormatError("not an .ncz file (bad magic)")
    if len(buf) < 4 + 1 + 1 + 4:
        raise TruncatedError("file is shorter than the smallest header")
    end = len(buf) - 4
    if verify:
        stored = struct.unpack("<I", bytes(buf[end:]))[0]
        if zlib.crc32(buf[:end]) != stored:
            version = buf[3]
            if version > FORMAT_VERSION:
                raise UnsupportedVersionError(f"container format version {version} is newer than this reader ({FORMAT_VERSION})")
            raise ChecksumError("checksum mismatch: the file is corrupted or truncated")
    version = buf[3]
    if version not in READABLE_VERSIONS:
        raise UnsupportedVersionError(f"container format version {version} not supported "
                                      f"(this reader: {', '.join(map(str, READABLE_VERSIONS))})")
    flags = buf[4]
    if flags & ~(KNOWN_FLAGS if version >= 2 else KNOWN_FLAGS_V1):
        raise FormatError("unknown header flags")
    width = 0
    if version >= 2:
        code = (flags & CHECK_MASK) >> CHECK_SHIFT
        if code not in CHECK_WIDTHS:
            raise FormatError("version 2 file without a content check width")
        width = CHECK_WIDTHS[code]
    pos = 5
    n = buf[pos]
    pos += 1
    if not 0 < n < 64 or pos + n > end:
        raise FormatError("bad codec name field")
    try:
        codec = bytes(buf[pos:pos + n]).decode("ascii")
    except UnicodeDecodeError as exc:
        raise FormatError("codec name is not ASCII") from exc
    pos += n
    codec_version, pos = decode_uvarint(buf, pos, end)
    quality, pos = decode_uvarint(buf, pos, end)
    model_id = b""
    if flags & FLAG_MODEL_ID:
        if pos + MODEL_ID_BYTES > end:
            raise TruncatedError("file ends inside the model identity")
        model_id = bytes(buf[pos:pos + MODEL_ID_BYTES])
        pos += MODEL_ID_BYTES
    n_metas = 1
    if flags & FLAG_MANY_METAS:
        n_metas, pos = decode_uvarint(buf, pos, end)
        if not 1 < n_metas <= end - pos:
            raise FormatError("bad metadata table size")
    metas = []
    for _ in range(n_metas):
        m, pos = _unpack_meta(buf, pos, end)
        metas.append(m)
    archive = bool(flags & FLAG_ARCHIVE)
    has_names = bool(flags & FLAG_NAMES)
    entries: list[tuple[int, str, int, bytes]] = []
    if archive:
        count, pos = decode_uvarint(buf, pos, end)
        if count == 0 or count * (1 + width) > end - pos:
            raise FormatError("bad record count")
        for _ in range(count):
            mi = 0
            if n_metas > 1:
                mi, pos = decode_uvarint(buf, pos, end)
                if mi >= n_metas:
                    raise FormatError("record refers to a missing metadata entry")
            name = ""
            if has_names:
                name, pos = _unpack_str(buf, pos, end)
            length, pos = decode_uvarint(buf, pos, end)
            if pos + width > end:
                raise TruncatedError("file ends inside the record index")
            entries.append((mi, name, length, bytes(buf[pos:pos + width])))
            pos += width
        total = sum(e[2] for e in entries)
        if pos + total != end:
            raise (TruncatedError if pos + total > end else FormatError)("record lengths do not match the file size")
    else:
        name = ""
        if has_names:
            name, pos = _unpack_str(buf, pos, end)
        if pos + width > end:
            raise TruncatedError("file ends inside the header")
        check = bytes(buf[pos:pos + width])
        pos += width
        entries.append((0, name, end - pos, check))
    records = []
    for mi, name, length, check in entries:
        records.append(Record(payload=bytes(buf[pos:pos + length]), meta=metas[mi], name=name, check=check))
        pos += length
    return Container(codec=codec, codec_version=codec_version, quality=quality, records=records,
                     model_id=model_id, archive=archive, stack=bool(flags & FLAG_STACK), version=version)


def header_size(data: bytes) -> int:
    """Bytes of the file that are not payload (header + index + checksum)."""
    c = unpack(data)
    return len(data) - c.payload_bytes
