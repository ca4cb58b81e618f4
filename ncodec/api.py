"""The Python API behind the CLI: compress items/files to .ncz bytes, decompress, open archives."""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from . import container
from .codecs import get_codec
from .codecs.base import Codec, available, payload_error
from .errors import CodecError, InputError, ModelMismatchError, UnsupportedVersionError, VerifyError
from .io import read_item
from .item import Item

# Preference lists: the first registered codec wins, so learned codecs take over as they land.
DEFAULT_LOSSLESS = {"image": ["jpegxl-lossless", "webp-lossless", "png"], "audio": ["flac"],
                    "video": ["x264-lossless", "zstd"], "tensor": ["zstd"], "bytes": ["zstd"]}
DEFAULT_LOSSY = {"image": ["wavelet", "webp"], "audio": ["wavelet", "opus"],
                 "video": ["x264", "zstd"], "tensor": ["zstd"], "bytes": ["zstd"]}


def default_codec(media: str, lossy: bool = False) -> str:
    """Name of the default codec for a media kind (lossless unless ``lossy``)."""
    names = available()
    for name in (DEFAULT_LOSSY if lossy else DEFAULT_LOSSLESS)[media]:
        if name in names:
            return name
    raise CodecError(f"no codec registered for {media}")


def is_image_stack(item: Item) -> bool:
    """A tensor shaped like a stack of images: (N, H, W) or (N, H, W, 1|3|4), uint8/uint16."""
    d = item.data
    return (item.meta.media == "tensor" and d.dtype in (np.uint8, np.uint16)
            and (d.ndim == 3 or (d.ndim == 4 and d.shape[-1] in (1, 3, 4))) and d.shape[0] >= 1)


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

    @property
    def bits(self) -> int:
        """Real rate: every byte of the file, header included."""
        return 8 * len(self.data)


def _expand(items: Sequence[Item], codec_name: str | None) -> tuple[list[Item], bool]:
    """Split image stacks into one item per image when an image codec will code them."""
    if len(items) == 1 and is_image_stack(items[0]):
        target = get_codec(codec_name) if codec_name else None
        if target is None or "image" in target.media_kinds():
            stack = items[0].data
            if stack.ndim == 4 and stack.shape[-1] == 1:
                stack = stack[..., 0]
            return [Item.from_array(img, "image") for img in stack], True
    return list(items), False


def compress_items(items: Sequence[Item], codec: str | None = None, quality: int | None = None,
                   archive: bool | None = None, keep_names: bool = True,
                   options: Mapping[str, Any] | None = None) -> CompressResult:
    """Compress one item (single-record file) or many (archive of independently decodable records).

    ``options`` are the codec's declared encoder settings (``ncodec list CODEC`` shows them);
    an unknown name or a bad value raises OptionError before anything is coded.
    """
    if not items:
        raise InputError("nothing to compress")
    items, stacked = _expand(items, codec)
    media = items[0].meta.media
    if any(it.meta.media != media for it in items):
        raise InputError("all inputs of one archive must be of one media kind")
    name = codec or default_codec(media, lossy=quality is not None)
    c: Codec = get_codec(name)
    q = c.resolve_quality(quality)
    opts = c.resolve_options(options)
    for it in items:
        c.check(it)
    t0 = time.perf_counter()
    encoded = c.encode_batch(items, q, opts)
    dt = time.perf_counter() - t0
    is_archive = archive if archive is not None else (len(items) > 1 or stacked)
    records = [container.Record(e.payload, it.meta, it.name if keep_names and not stacked else "")
               for e, it in zip(encoded, items)]
    data = container.pack(container.Container(codec=c.name, codec_version=c.version, quality=q,
                                              records=records, model_id=c.model_id(q),
                                              archive=is_archive, stack=stacked))
    ideal = None
    if all(e.ideal_bits is not None for e in encoded):
        ideal = float(sum(e.ideal_bits for e in encoded))
    return CompressResult(data=data, codec=c.name, quality=q, n_items=len(items),
                          input_bytes=int(sum(it.data.nbytes for it in items)),
                          numel=int(sum(it.meta.numel for it in items)), encode_s=dt,
                          ideal_bits=ideal, items=items)


def compress(inputs: str | Path | Item | Iterable[str | Path | Item], codec: str | None = None,
             quality: int | None = None, output: str | Path | None = None, force: bool = False,
             verify: bool = False, options: Mapping[str, Any] | None = None) -> CompressResult:
    """Compress files or Items; writes ``output`` atomically when given, returns the result.

    ``codec`` None picks the media's default (lossy when ``quality`` is given); ``options``
    are codec settings, e.g. ``options={"steps": 300}`` for ``nerv``.
    """
    if isinstance(inputs, (str, Path, Item)):
        inputs = [inputs]
    items = [x if isinstance(x, Item) else read_item(x) for x in inputs]
    res = compress_items(items, codec=codec, quality=quality, options=options)
    if verify:
        verify_result(res)
    if output is not None:
        from .io import atomic_write
        atomic_write(output, res.data, force=force)
    return res


def verify_result(res: CompressResult) -> None:
    """Decode a fresh result and check a lossless codec reproduced every item bit-exactly."""
    decoded = decompress_bytes(res.data)
    if len(decoded) != len(res.items):
        raise VerifyError("verify: record count differs after decoding")
    if get_codec(res.codec).lossless:
        for a, b in zip(res.items, decoded):
            if not a.same_data(b):
                raise VerifyError(f"verify: decoded data differs from the input ({a.name or 'item'})")


class Archive:
    """A parsed .ncz file whose records decode one at a time (``archive[i]``) or all at once."""

    def __init__(self, data: bytes, source: str = "") -> None:
        self.data = data
        self.source = source
        self.container = container.unpack(data)
        c = self.container
        self.codec = get_codec(c.codec)
        if c.codec_version > self.codec.version:
            raise UnsupportedVersionError(
                f"file needs {c.codec} codec version {c.codec_version}; this ncodec has {self.codec.version}")
        try:
            expected = self.codec.model_id(c.quality)
        except Exception as exc:
            raise CodecError(f"{c.codec}: cannot load the model for quality {c.quality}: {exc}") from exc
        if expected != c.model_id:
            raise ModelMismatchError(
                f"file was made with other {c.codec} weights (file {c.model_id.hex() or 'none'}, "
                f"installed {expected.hex() or 'none'})")

    def __len__(self) -> int:
        return len(self.container.records)

    @property
    def names(self) -> list[str]:
        """Stored record names ('' where none was stored)."""
        return [r.name for r in self.container.records]

    def _check(self, item: Item, rec: container.Record) -> Item:
        if item.data.shape != rec.meta.shape or item.data.dtype.name != rec.meta.dtype:
            raise CodecError(f"{self.codec.name}: decoded shape/dtype differs from the header")
        item.meta = rec.meta
        item.name = rec.name
        return item

    def __getitem__(self, i: int) -> Item:
        rec = self.container.records[i]
        try:
            item = self.codec.decode(rec.payload, rec.meta, self.container.quality)
        except CodecError:
            raise
        except Exception as exc:
            raise payload_error(self.codec.name, exc) from exc
        return self._check(item, rec)

    def decode_all(self) -> list[Item]:
        """Every record, decoded in one batch call."""
        recs = self.container.records
        try:
            items = self.codec.decode_batch([r.payload for r in recs], [r.meta for r in recs],
                                            self.container.quality)
        except CodecError:
            raise
        except Exception as exc:
            raise payload_error(self.codec.name, exc) from exc
        return [self._check(it, r) for it, r in zip(items, recs)]

    def info(self) -> dict:
        """Header fields, record table and sizes (what ``ncodec info`` prints)."""
        c = self.container
        return {"source": self.source, "file_bytes": len(self.data), "codec": c.codec,
                "codec_version": c.codec_version, "quality": c.quality,
                "model_id": c.model_id.hex(), "archive": c.archive, "stack": c.stack,
                "records": len(c.records), "payload_bytes": c.payload_bytes,
                "overhead_bytes": len(self.data) - c.payload_bytes, "checksum": "ok",
                "lossless": self.codec.lossless,
                "items": [{"name": r.name, "media": r.meta.media, "shape": list(r.meta.shape),
                           "dtype": r.meta.dtype, "sample_rate": r.meta.sample_rate,
                           "frame_rate": str(r.meta.frame_rate), "bytes": len(r.payload)}
                          for r in c.records]}


def open(path_or_bytes: str | Path | bytes) -> Archive:  # noqa: A001 - mirrors the verb users expect
    """Open a .ncz file (path or bytes) for record-by-record decoding."""
    if isinstance(path_or_bytes, (bytes, bytearray)):
        return Archive(bytes(path_or_bytes))
    p = Path(path_or_bytes)
    try:
        return Archive(p.read_bytes(), str(p))
    except FileNotFoundError as exc:
        raise InputError(f"no such file ({p})") from exc
    except IsADirectoryError as exc:
        raise InputError(f"is a folder ({p})") from exc


def decompress_bytes(data: bytes) -> list[Item]:
    """Decode every record of an .ncz file given as bytes."""
    return Archive(data).decode_all()


def decompress(path_or_bytes: str | Path | bytes) -> list[Item] | Item:
    """Decode a .ncz file: one Item for a single-item file, a list for an archive."""
    arc = open(path_or_bytes)
    items = arc.decode_all()
    return items if arc.container.archive else items[0]


def stack_items(items: Sequence[Item]) -> np.ndarray:
    """Stack decoded image records back into the (N, ...) array they came from."""
    return np.stack([it.data for it in items])
