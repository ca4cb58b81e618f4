"""The Python API behind the CLI: compress items/files to .ncz bytes, decompress, open archives.

Quality scales are each codec's own (``ncodec list CODEC`` prints them): ``webp``/``avif``/``jpeg``/
``jpegxl`` 1..100 (higher is better), ``wavelet`` 1..10, ``inr`` 1..8, ``nerv``/``hnerv`` 0..8,
``x264``/``x265`` a CRF 0..51 (lower is better), ``opus`` kbit/s 6..256; for lossless codecs an
effort or level (``zstd`` 1..22, ``flac`` 0..8, ``jpegxl-lossless`` 1..9), or the shipped weights
(``hclt``/``flow``: 1 MNIST, 2 Fashion-MNIST). ``quality=None`` means the codec's default.
"""
from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, Iterable, Iterator, Mapping, Sequence

import numpy as np

from . import container
from . import limits as L
from .codecs import get_codec
from .codecs.base import CHECK_DATA, CHECK_KEY, CHECK_SYMBOLS, Codec, available, payload_error
from .errors import (CodecError, InputError, IntegrityError, LimitError, LossyWarning, ModelMismatchError,
                     QualityWarning, UnsupportedVersionError, VerifyError)
from .decoded import Decoded, stack_items  # noqa: F401 - stack_items is public here too
from .io import read_item
from .item import DTYPES, Item

# Preference lists: the first registered codec wins, so learned codecs take over as they land.
DEFAULT_LOSSLESS = {"image": ["jpegxl-lossless", "webp-lossless", "png"], "audio": ["flac"],
                    "video": ["x264-lossless", "zstd"], "tensor": ["zstd"], "bytes": ["zstd"]}
DEFAULT_LOSSY = {"image": ["wavelet", "webp"], "audio": ["wavelet", "opus"],
                 "video": ["x264", "zstd"], "tensor": ["zstd"], "bytes": ["zstd"]}

# Content check bytes per record (container version 2): single-item files and archives.
CHECK_BYTES_SINGLE = 4
CHECK_BYTES_ARCHIVE = 2
MAX_NAME_BYTES = 255          # per path component, as most file systems allow
MAX_NAME_DEPTH = 32


def _digit_like(items: Sequence[Item]) -> bool:
    """28x28 uint8 gray images (MNIST-style): where the learned circuit codec beats every classical
    one (MNIST 1.28 bpd vs zstd 1.97, WebP-lossless 2.12 on a 10k archive)."""
    return bool(items) and all(it.meta.media == "image" and it.meta.dtype == "uint8"
                               and tuple(it.meta.shape) in ((28, 28), (28, 28, 1)) for it in items)


def default_codec(media: str, lossy: bool = False, items: Sequence[Item] = ()) -> str:
    """Name of the default codec for a media kind (lossless unless ``lossy``); the measured winner
    for the content where the evidence is clear (28x28 digit stacks -> ``hclt``)."""
    names = available()
    if not lossy and "hclt" in names and _digit_like(items):
        return "hclt"
    for name in (DEFAULT_LOSSY if lossy else DEFAULT_LOSSLESS)[media]:
        if name in names:
            return name
    raise CodecError(f"no codec registered for {media}")


def is_image_stack(item: Item) -> bool:
    """A tensor shaped like a stack of images: (N, H, W) or (N, H, W, 1|3|4), uint8/uint16."""
    d = item.data
    return (item.meta.media == "tensor" and d.dtype in (np.uint8, np.uint16)
            and (d.ndim == 3 or (d.ndim == 4 and d.shape[-1] in (1, 3, 4))) and d.shape[0] >= 1)


# ------------------------------------------------------------------ record names

def safe_name(name: str) -> str:
    """A stored name made safe to use as a relative path: '/'-separated components without
    '', '.', '..', NUL or control characters, each at most 255 UTF-8 bytes, at most 32 deep.
    Returns '' when nothing usable is left."""
    parts = []
    for comp in str(name).replace("\\", "/").split("/"):
        comp = "".join("_" if ord(ch) < 32 or ord(ch) == 127 else ch for ch in comp)
        if comp in ("", ".", ".."):
            continue
        raw = comp.encode("utf-8", "replace")
        if len(raw) > MAX_NAME_BYTES:
            suffix = PurePosixPath(comp).suffix
            suffix = suffix if len(suffix.encode()) < 16 else ""
            keep = MAX_NAME_BYTES - len(suffix.encode())
            comp = raw[:keep].decode("utf-8", "ignore") + suffix
        parts.append(comp)
    return "/".join(parts[-MAX_NAME_DEPTH:])


def unique_names(names: Sequence[str]) -> list[str]:
    """Names made unique, deterministically: a later duplicate ``x.png`` becomes ``x~2.png``
    (then ``~3``...), and a file name that another name uses as a folder is renamed the same
    way. Empty names stay empty."""
    dirs = set()
    for n in names:
        parts = n.split("/")
        for i in range(1, len(parts)):
            dirs.add("/".join(parts[:i]))
    taken: set[str] = set()
    out = []
    for n in names:
        if not n:
            out.append(n)
            continue
        cand, k = n, 1
        while cand in taken or cand in dirs:
            k += 1
            p = PurePosixPath(n)
            stem, suffix = (p.stem, p.suffix) if p.stem else (p.name, "")
            cand = str(p.with_name(f"{stem}~{k}{suffix}"))
        taken.add(cand)
        out.append(cand)
    return out


def input_name(path: str | Path) -> str:
    """The record name an input file gets: its relative path when it is relative and stays
    inside the current folder (``a/x.png``), else its base name."""
    p = Path(path)
    if not p.is_absolute():
        parts = [c for c in PurePosixPath(p.as_posix()).parts if c not in ("", ".")]
        if parts and ".." not in parts:
            return safe_name("/".join(parts))
    return safe_name(p.name)


@dataclass
class CompressResult:
    """What ``compress`` made: the file bytes and the numbers a summary line needs."""

    data: bytes
    codec: str
    quality: int
    n_items: int
    input_bytes: int
    numel: int
    encode_s: float
    ideal_bits: float | None = None
    items: list[Item] = field(default_factory=list, repr=False)
    info: list[dict] = field(default_factory=list, repr=False)     # per item: what the codec measured

    @property
    def bits(self) -> int:
        """Real rate: every byte of the file, header included."""
        return 8 * len(self.data)

    @property
    def warnings(self) -> list[str]:
        """What the codec warned about while encoding (e.g. audio that decodes to near-silence)."""
        return [i["warning"] for i in self.info if isinstance(i, dict) and i.get("warning")]


def _expand(items: Sequence[Item], codec_name: str | None) -> tuple[list[Item], bool]:
    """Split image stacks into one item per image when an image codec will code them, or into
    sub-stacks of at most ``stack_limit`` images for a codec that codes whole stacks (``hclt``)."""
    if len(items) == 1 and is_image_stack(items[0]):
        target = get_codec(codec_name) if codec_name else None
        limit = getattr(target, "stack_limit", 0) if target is not None else 0
        if limit and target.accepts_stack(items[0].data):
            stack = items[0].data
            if len(stack) <= limit:
                return list(items), False
            return [Item.from_array(stack[a:a + limit], "tensor") for a in range(0, len(stack), limit)], True
        if target is None or "image" in target.media_kinds():
            stack = items[0].data
            if stack.ndim == 4 and stack.shape[-1] == 1:
                stack = stack[..., 0]
            return [Item.from_array(img, "image") for img in stack], True
    return list(items), False


def _native(item: Item) -> Item:
    """The item with its array in native byte order and C order (values unchanged), checked
    against its metadata; arrays of dtypes the format cannot store are refused."""
    d = item.data
    if not isinstance(d, np.ndarray):
        raise InputError(f"item {item.name or ''} holds no numpy array")
    if d.dtype.name not in DTYPES:
        from .errors import UnsupportedInputError
        raise UnsupportedInputError(f"dtype {d.dtype} is not supported (supported: {', '.join(DTYPES)})")
    if d.dtype.name != item.meta.dtype or tuple(d.shape) != tuple(item.meta.shape):
        raise InputError(f"item {item.name or ''}: array {d.shape} {d.dtype.name} differs from its "
                         f"metadata {item.meta.shape} {item.meta.dtype}")
    if d.dtype.str[0] == ">" if np.little_endian else d.dtype.str[0] == "<":
        d = d.astype(d.dtype.newbyteorder("="))
    if not d.flags.c_contiguous:
        d = np.ascontiguousarray(d)
    if d is item.data:
        return item
    return Item(d, item.meta, item.name, dict(item.extra))


def _content_checks(c: Codec, q: int, items: Sequence[Item], encoded, width: int) -> list[bytes]:
    """The per-record content checks (see ``Codec.check_source``)."""
    source = c.check_source()
    if source == CHECK_DATA:
        return [container.content_check(it.meta, it.data, width) for it in items]
    if source == CHECK_SYMBOLS:
        out = []
        for e, it in zip(encoded, items):
            if not isinstance(e.check, (bytes, bytearray)):
                raise CodecError(f"{c.name}: encoder returned no symbol check (Encoded.check)")
            out.append(container.content_check(it.meta, bytes(e.check), width))
        return out
    # reconstruction: decode each payload once, as a reader will, and hash what comes out
    lim = L.Limits(max(L.DEFAULT_MAX_PIXELS, max(L.pixels_of(it.meta) for it in items)),
                   max(L.DEFAULT_MAX_BYTES, sum(it.data.nbytes for it in items)))
    try:
        with L.using(lim):
            recon = c.decode_batch([e.payload for e in encoded], [it.meta for it in items], q)
    except (CodecError, LimitError) as exc:
        raise CodecError(f"{c.name}: the encoder made a payload its decoder refuses ({exc})") from exc
    except Exception as exc:
        raise CodecError(f"{c.name}: the encoder made a payload its decoder cannot read "
                         f"({type(exc).__name__}: {exc})") from exc
    out = []
    for r, it in zip(recon, items):
        if r.data.shape != it.meta.shape or r.data.dtype.name != it.meta.dtype:
            raise CodecError(f"{c.name}: decoded shape/dtype differs from the input's")
        out.append(container.content_check(it.meta, r.data, width))
    return out


def compress_items(items: Sequence[Item], codec: str | None = None, quality: int | None = None,
                   archive: bool | None = None, keep_names: bool = True,
                   options: Mapping[str, Any] | None = None, check_bytes: int | None = None) -> CompressResult:
    """Compress ``Item``s: one item makes a single-record file, several (or an image stack) an archive
    of independently decodable records.

    Parameters: ``codec`` a registered name (``ncodec list``), None for the media's default
    (lossless, or the default lossy codec when ``quality`` is given; 28x28 uint8 digit stacks go
    to ``hclt``); ``quality`` the codec's own scale (see the module docstring), None for its
    default; ``archive`` force (True) or forbid (False) the archive layout; ``keep_names`` store
    ``item.name`` per record; ``options`` the codec's declared encoder settings (``ncodec list
    CODEC``, e.g. ``{"weights": "mydigits"}`` or ``{"effort": "fast"}``), an unknown name or bad
    value raising ``OptionError`` before anything is coded; ``check_bytes`` the per-record
    content check width (2, 4 or 8; default 4 for a single item, 2 per archive record).

    Returns a ``CompressResult`` (``.data`` the file bytes). Record names are made safe relative
    paths and unique. A lossy encode that keeps almost nothing warns (``errors.LossyWarning``);
    a quality level sent to a lossless default (zstd on float tensors) warns too
    (``errors.QualityWarning``).
    """
    if not items:
        raise InputError("nothing to compress")
    items = [_native(it) for it in items]
    originals = items
    items, stacked = _expand(items, codec)
    name = codec or default_codec(items[0].meta.media, lossy=quality is not None, items=items)
    if codec is None and stacked:
        items, stacked = _expand(originals, name)       # the chosen codec may code whole stacks (hclt)
    media = items[0].meta.media
    if any(it.meta.media != media for it in items):
        raise InputError("all inputs of one archive must be of one media kind")
    c: Codec = get_codec(name)
    q = c.resolve_quality(quality)
    if codec is None and quality is not None and c.lossless:
        warnings.warn(f"{media} has no lossy codec: quality {q} went to the lossless {name}, where it is "
                      f"the compression level (the data is kept exactly)", QualityWarning, stacklevel=2)
    opts = c.resolve_options(options)
    c = c.bind(opts).for_media(media)
    for it in items:
        c.check(it)
    is_archive = archive if archive is not None else (len(items) > 1 or stacked)
    width = check_bytes or (CHECK_BYTES_ARCHIVE if is_archive else CHECK_BYTES_SINGLE)
    if width not in container.CHECK_CODES:
        raise InputError(f"check_bytes must be one of {sorted(container.CHECK_CODES)}, not {width}")
    t0 = time.perf_counter()
    encoded = c.encode_batch(items, q, opts)
    dt = time.perf_counter() - t0
    checks = _content_checks(c, q, items, encoded, width)
    names = unique_names([safe_name(it.name) if keep_names and not stacked else "" for it in items])
    records = [container.Record(e.payload, it.meta, n, ck)
               for e, it, n, ck in zip(encoded, items, names, checks)]
    data = container.pack(container.Container(codec=c.name, codec_version=c.version, quality=q,
                                              records=records, model_id=c.model_id(q),
                                              archive=is_archive, stack=stacked))
    ideal = None
    if all(e.ideal_bits is not None for e in encoded):
        ideal = float(sum(e.ideal_bits for e in encoded))
    for e in encoded:
        if e.info.get("warning"):
            warnings.warn(e.info["warning"], LossyWarning, stacklevel=2)
    return CompressResult(data=data, codec=c.name, quality=q, n_items=len(items),
                          input_bytes=int(sum(it.data.nbytes for it in items)),
                          numel=int(sum(it.meta.numel for it in items)), encode_s=dt,
                          ideal_bits=ideal, items=items, info=[e.info for e in encoded])


def as_item(x: np.ndarray | bytes | Item, media: str | None = None, sample_rate: int = 0) -> Item:
    """An Item from an array (``media`` given, or guessed: (H, W) / (H, W, 1|3|4) uint8/uint16 are
    images, (N, H, W) uint8 stacks tensors that image codecs split, anything else a tensor), from
    raw bytes, or the Item itself. Audio needs ``media="audio"`` and a ``sample_rate``."""
    if isinstance(x, Item):
        return x
    if isinstance(x, (bytes, bytearray, memoryview)):
        return Item.from_bytes(bytes(x))
    if not isinstance(x, np.ndarray):
        raise InputError(f"cannot compress a {type(x).__name__}: give a path, an Item, a NumPy array or bytes")
    if media is None:
        image_like = x.dtype in (np.uint8, np.uint16) and (x.ndim == 2 or (x.ndim == 3 and x.shape[2] in (1, 3, 4)))
        media = "image" if image_like else "tensor"
    if media == "audio" and sample_rate <= 0:
        raise InputError("audio arrays need sample_rate=")
    return Item.from_array(x, media, sample_rate=sample_rate)


def compress(inputs: str | Path | Item | np.ndarray | bytes | Iterable[str | Path | Item | np.ndarray],
             codec: str | None = None, quality: int | None = None, output: str | Path | None = None,
             force: bool = False, verify: bool = False, options: Mapping[str, Any] | None = None,
             check_bytes: int | None = None, media: str | None = None, sample_rate: int = 0) -> CompressResult:
    """Compress files, ``Item``s, NumPy arrays or bytes (one, or a list of them) into one .ncz file.

    Parameters: ``inputs`` a path (image, audio, video file or folder of frames, ``.npy``, any
    file as bytes), an ``Item``, an array, bytes, or a list of these (an archive); ``codec`` a
    registered name (``ncodec list``), None for the media's default (lossless; lossy when
    ``quality`` is given); ``quality`` the codec's own scale (module docstring; None: the codec's
    default); ``output`` a path written atomically (refused when it exists, unless ``force``, or
    when it is one of the inputs); ``verify`` decode again before returning (lossless: compared
    byte for byte); ``options`` the codec's settings (``ncodec list CODEC``), e.g.
    ``{"weights": "mydigits"}`` (``hclt``, ``wavelet``: your trained weights, by name or path) or
    ``{"steps": 300}`` (``nerv``); ``check_bytes`` per-record content check width; ``media`` the
    kind of an array input ("image", "audio", "video", "tensor"; guessed when None, see
    ``as_item``) and ``sample_rate`` for audio arrays.

    Returns a ``CompressResult``: ``.data`` the file bytes, ``.bits`` real bits (8 x bytes, header
    included), ``.ideal_bits`` the model's -log2 P (learned codecs), ``.codec``, ``.quality``,
    ``.n_items``, ``.warnings``. File inputs are stored under their relative path (or base name).
    """
    if isinstance(inputs, (str, Path, Item, np.ndarray, bytes, bytearray, memoryview)):
        inputs = [inputs]
    elif not isinstance(inputs, Iterable):
        raise InputError(f"cannot compress a {type(inputs).__name__}: give a path, an Item, a NumPy array or bytes")
    inputs = list(inputs)
    items = []
    for x in inputs:
        if isinstance(x, (Item, np.ndarray, bytes, bytearray, memoryview)):
            items.append(as_item(x, media, sample_rate))
        elif not isinstance(x, (str, Path)):
            raise InputError(f"cannot compress a {type(x).__name__}: give a path, an Item, a NumPy array or bytes")
        else:
            it = read_item(x)
            it.name = input_name(x)
            items.append(it)
    if output is not None:
        from .io import check_output_not_input
        check_output_not_input(output, [x for x in inputs if not isinstance(x, Item)])
    res = compress_items(items, codec=codec, quality=quality, options=options, check_bytes=check_bytes)
    if verify:
        verify_result(res)
    if output is not None:
        from .io import atomic_write
        atomic_write(output, res.data, force=force)
    return res


def _same_bytes(a: np.ndarray, b: np.ndarray) -> bool:
    """Shape, dtype and every byte equal (NaNs with equal bits compare equal)."""
    return (a.shape == b.shape and a.dtype.name == b.dtype.name
            and bytes(container.canonical_bytes(a)) == bytes(container.canonical_bytes(b)))


def verify_result(res: CompressResult) -> str:
    """Decode a fresh result as a reader would and say what was checked.

    Lossless codecs: every record decodes to exactly the input's bytes (shape, dtype, every
    byte; a NaN equals itself). Lossy codecs: every record decodes and matches its content
    check (the reconstruction, or for learned codecs the coded integer symbols, that the
    encoder made); the data is not compared with the input, which a lossy codec changes.
    Raises VerifyError (or the decode's own error) otherwise.
    """
    big = L.Limits(max([L.DEFAULT_MAX_PIXELS] + [L.pixels_of(it.meta) for it in res.items]),
                   max(L.DEFAULT_MAX_BYTES, res.input_bytes))
    arc = Archive(res.data, max_pixels=big.max_pixels, max_bytes=big.max_bytes)
    decoded = arc.decode_all()
    if len(decoded) != len(res.items):
        raise VerifyError("verify: record count differs after decoding")
    c = get_codec(res.codec)
    if c.lossless:
        for a, b in zip(res.items, decoded):
            if not _same_bytes(a.data, b.data):
                raise VerifyError(f"verify: decoded data differs from the input ({a.name or 'item'})")
        return "verified: decodes bit-exactly to the input"
    what = "coded symbols match" if c.check_source() == CHECK_SYMBOLS else "reconstruction matches"
    return f"verified: decodable, {what} the content check (lossy: not compared with the input)"


class Archive:
    """A parsed .ncz file whose records decode one at a time (``archive[i]``, decoded on each
    access), in bounded batches (``iter_decoded``) or all at once (``decode_all``).

    ``max_pixels`` / ``max_bytes`` are the decode limits (see ``ncodec.limits``; None: the
    defaults); ``verify_checks`` False skips the per-record content checks (for a file whose
    lossy reconstruction a different decoder build reproduces only approximately).
    """

    def __init__(self, data: bytes, source: str = "", max_pixels: int | None = None,
                 max_bytes: int | None = None, verify_checks: bool = True) -> None:
        self.data = data
        self.source = source
        self.limits = L.Limits(max_pixels, max_bytes)
        self.verify_checks = verify_checks
        self.container = container.unpack(data)
        c = self.container
        self.codec = get_codec(c.codec)
        if c.codec_version > self.codec.version:
            raise UnsupportedVersionError(
                f"file needs {c.codec} codec version {c.codec_version}; this ncodec has {self.codec.version}")
        try:
            self.codec = self.codec.for_model(c.model_id, c.quality).for_version(c.codec_version)
        except ModelMismatchError:
            raise
        except Exception as exc:
            raise CodecError(f"{c.codec}: cannot load the model for quality {c.quality}: {exc}") from exc

    def __len__(self) -> int:
        return len(self.container.records)

    @property
    def names(self) -> list[str]:
        """Stored record names ('' where none was stored)."""
        return [r.name for r in self.container.records]

    def _limits_for(self, rec: container.Record) -> L.Limits:
        return self.limits.resolve(self.codec, rec.meta.media)

    def _check(self, item: Item, rec: container.Record, index: int) -> Item:
        if not isinstance(item, Item) or not isinstance(item.data, np.ndarray):
            raise CodecError(f"{self.codec.name}: decoder returned no array")
        if item.data.shape != rec.meta.shape or item.data.dtype.name != rec.meta.dtype:
            raise CodecError(f"{self.codec.name}: decoded shape/dtype differs from the header")
        symbols = item.extra.pop(CHECK_KEY, None) if isinstance(item.extra, dict) else None
        if rec.check and self.verify_checks:
            if self.codec.check_source() == CHECK_SYMBOLS:
                if not isinstance(symbols, (bytes, bytearray)):
                    raise CodecError(f"{self.codec.name}: decoder returned no symbol check")
                got = container.content_check(rec.meta, bytes(symbols), len(rec.check))
            else:
                got = container.content_check(rec.meta, item.data, len(rec.check))
            if got != rec.check:
                label = f" ({rec.name})" if rec.name else ""
                raise IntegrityError(
                    f"{self.codec.name}: record {index}{label} fails its content check: it decodes to other "
                    f"data than was written (altered payload, or a decoder that differs from the writer's)")
        item.meta = rec.meta
        item.name = rec.name
        return item

    def _decode(self, idx: Sequence[int]) -> list[Item]:
        """Decode records ``idx`` in one batch call, after checking them against the limits."""
        recs = [self.container.records[i] for i in idx]
        lims = [self._limits_for(r) for r in recs]
        for r, lim in zip(recs, lims):
            L.check_meta(r.meta, lim, self.codec.name)
        total = sum(L.bytes_of(r.meta) for r in recs)
        call = L.Limits(min(x.max_pixels for x in lims), max(x.max_bytes for x in lims))
        if total > call.max_bytes:
            raise LimitError(f"{self.codec.name}: {len(recs)} records declare {total} decoded bytes, over the "
                             f"limit of {call.max_bytes} (decode them in parts with Archive.iter_decoded, "
                             f"or raise --max-bytes / max_bytes=)")
        try:
            with L.using(call):
                if len(recs) == 1:
                    items = [self.codec.decode(recs[0].payload, recs[0].meta, self.container.quality)]
                else:
                    items = self.codec.decode_batch([r.payload for r in recs], [r.meta for r in recs],
                                                    self.container.quality)
        except (CodecError, LimitError):
            raise
        except Exception as exc:
            raise payload_error(self.codec.name, exc) from exc
        if len(items) != len(recs):
            raise CodecError(f"{self.codec.name}: decoder returned {len(items)} items for {len(recs)} records")
        return [self._check(it, r, i) for it, r, i in zip(items, recs, idx)]

    def __getitem__(self, i: int) -> Item:
        n = len(self.container.records)
        if not -n <= i < n:
            raise IndexError(i)
        return self._decode([i % n])[0]

    def decode_all(self) -> list[Item]:
        """Every record, decoded in one batch call (all of it must fit ``max_bytes``)."""
        return self._decode(range(len(self.container.records)))

    def iter_decoded(self) -> Iterator[Item]:
        """Every record in order, decoded in batches of at most ``max_bytes`` decoded bytes."""
        recs = self.container.records
        batch: list[int] = []
        size = 0
        for i, r in enumerate(recs):
            nb = L.bytes_of(r.meta)
            cap = self._limits_for(r).max_bytes
            if batch and size + nb > cap:
                yield from self._decode(batch)
                batch, size = [], 0
            batch.append(i)
            size += nb
        if batch:
            yield from self._decode(batch)

    def info(self) -> dict:
        """Header fields, record table and sizes (what ``ncodec info`` prints)."""
        c = self.container
        width = c.check_bytes
        check = (f"{width} bytes per record ({self.codec.check_source()})" if width
                 else f"none (format version {c.version})")
        return {"source": self.source, "file_bytes": len(self.data), "format_version": c.version,
                "codec": c.codec,
                "codec_version": c.codec_version, "quality": c.quality,
                "model_id": c.model_id.hex(), "archive": c.archive, "stack": c.stack,
                "records": len(c.records), "payload_bytes": c.payload_bytes,
                "overhead_bytes": len(self.data) - c.payload_bytes, "checksum": "ok",
                "content_check": check, "lossless": self.codec.lossless,
                "items": [{"name": r.name, "media": r.meta.media, "shape": list(r.meta.shape),
                           "dtype": r.meta.dtype, "sample_rate": r.meta.sample_rate,
                           "frame_rate": str(r.meta.frame_rate), "bytes": len(r.payload)}
                          for r in c.records]}


def open(path_or_bytes: str | Path | bytes, max_pixels: int | None = None,  # noqa: A001 - mirrors the verb users expect
         max_bytes: int | None = None, verify_checks: bool = True) -> Archive:
    """Open a .ncz file (path or bytes) without decoding it: header checks only; ``arc[i]`` decodes
    record ``i``, ``arc.info()`` describes the file (limits: see ``Archive``). Returns an ``Archive``."""
    kw = dict(max_pixels=max_pixels, max_bytes=max_bytes, verify_checks=verify_checks)
    if isinstance(path_or_bytes, (bytes, bytearray, memoryview)):
        return Archive(bytes(path_or_bytes), **kw)
    from .io import read_bytes
    p = Path(path_or_bytes)
    return Archive(read_bytes(p), str(p), **kw)


def decompress_bytes(data: bytes, max_pixels: int | None = None, max_bytes: int | None = None) -> list[Item]:
    """Decode every record of an .ncz file given as bytes; returns a plain list of ``Item``s."""
    return Archive(data, max_pixels=max_pixels, max_bytes=max_bytes).decode_all()


def decompress(path_or_bytes: str | Path | bytes, max_pixels: int | None = None,
               max_bytes: int | None = None) -> Decoded:
    """Decode every record of a .ncz file (a path or the file's bytes).

    Returns a ``Decoded`` for every file: a sequence of ``Item``s (``len``, ``[i]``, iteration;
    each with ``.data`` an ndarray, ``.meta`` its ``ItemMeta``, ``.name``) that also carries the
    header (``.codec``, ``.quality``, ``.names``, ``.info()``). For a single-item file ``.data`` /
    ``.meta`` / ``.name`` are those of its only item, and for a stacked archive (an (N, H, W)
    array compressed as N images) ``.data`` is the stacked array. ``max_pixels`` / ``max_bytes``
    are decode limits (``ncodec.limits``; raise them for large files you trust). Errors are
    ``ncodec.errors`` exceptions (``FormatError`` not an .ncz file, ``ModelMismatchError`` weights
    not installed, ``IntegrityError`` a record decodes to other data than was written, ...).
    """
    arc = open(path_or_bytes, max_pixels=max_pixels, max_bytes=max_bytes)
    return Decoded(arc, arc.decode_all())
