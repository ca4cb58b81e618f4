"""Decode limits: how much a file may make a decoder allocate, checked before it allocates.

A file's header declares every record's shape; a codec payload may declare more (frame sizes,
sample counts, network sizes). Nothing is allocated for a declared size before it passed
these limits, so a small hostile file cannot make a decoder take gigabytes or minutes:

- ``max_pixels``: per record, pixels (image H x W, video T x H x W) or samples (audio, per
  channel). A codec may declare a lower default for media it decodes slowly
  (``Codec.decode_max_pixels``); an explicit limit given by the caller overrides both.
- ``max_bytes``: decoded bytes of one decode call (one record, or one batch of records), and
  the largest working array a decoder may allocate on the way.

The API takes them as ``max_pixels=`` / ``max_bytes=`` arguments, the CLI as ``--max-pixels`` /
``--max-bytes``; codecs read the active limits with :func:`active` while they decode.
"""
from __future__ import annotations

from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Iterator

from .errors import LimitError
from .item import ItemMeta

DEFAULT_MAX_PIXELS = 1 << 25        # 33.5 M pixels (e.g. 8192 x 4096) or samples per record
DEFAULT_MAX_BYTES = 1 << 27         # 128 MiB decoded per call / per working array


@dataclass(frozen=True)
class Limits:
    """Decode limits; None means "the default" (the codec's for pixels, else the module's)."""

    max_pixels: int | None = None
    max_bytes: int | None = None

    def resolve(self, codec=None, media: str | None = None) -> "Limits":
        """Concrete limits for ``codec`` decoding ``media``: explicit values win, then the codec's
        default, then the module defaults."""
        px = self.max_pixels
        if px is None:
            px = DEFAULT_MAX_PIXELS
            own = getattr(codec, "decode_max_pixels", None) or {}
            if media in own:
                px = min(px, int(own[media]))
        by = DEFAULT_MAX_BYTES if self.max_bytes is None else self.max_bytes
        return Limits(int(px), int(by))


_ACTIVE: ContextVar[Limits] = ContextVar("ncodec_limits", default=Limits(DEFAULT_MAX_PIXELS, DEFAULT_MAX_BYTES))


def active() -> Limits:
    """The limits of the decode in progress (module defaults outside one)."""
    return _ACTIVE.get()


@contextmanager
def using(limits: Limits) -> Iterator[Limits]:
    """Make ``limits`` (resolved) the active ones for the duration of a decode."""
    lim = limits.resolve() if limits.max_pixels is None or limits.max_bytes is None else limits
    token = _ACTIVE.set(lim)
    try:
        yield lim
    finally:
        _ACTIVE.reset(token)


def pixels_of(meta: ItemMeta) -> int:
    """What ``max_pixels`` counts for a record: H*W, T*H*W, or audio samples per channel (0 otherwise)."""
    s = meta.shape
    if meta.media == "image" and len(s) >= 2:
        return int(s[0]) * int(s[1])
    if meta.media == "video" and len(s) >= 3:
        return int(s[0]) * int(s[1]) * int(s[2])
    if meta.media == "audio" and len(s) >= 1:
        return int(s[0])
    return 0


def bytes_of(meta: ItemMeta) -> int:
    """Decoded size in bytes of a record with this metadata."""
    import numpy as np
    n = 1
    for d in meta.shape:
        n *= int(d)
    return n * np.dtype(meta.dtype).itemsize


def check_meta(meta: ItemMeta, limits: Limits, codec: str = "") -> None:
    """Refuse a record whose declared size is over the (resolved) limits."""
    who = f"{codec}: " if codec else ""
    px = pixels_of(meta)
    if px > limits.max_pixels:
        unit = "samples" if meta.media == "audio" else "pixels"
        raise LimitError(f"{who}record declares {px} {unit} ({'x'.join(map(str, meta.shape))}), over the "
                         f"limit of {limits.max_pixels} (raise it with --max-pixels / max_pixels=)")
    nb = bytes_of(meta)
    if nb > limits.max_bytes:
        raise LimitError(f"{who}record declares {nb} decoded bytes ({'x'.join(map(str, meta.shape))} "
                         f"{meta.dtype}), over the limit of {limits.max_bytes} (raise it with --max-bytes / max_bytes=)")


def check_alloc(codec: str, what: str, nbytes: int) -> None:
    """Called by decoders before a working allocation whose size a payload declares."""
    lim = active()
    if nbytes > lim.max_bytes:
        raise LimitError(f"{codec}: {what} would need {nbytes} bytes, over the limit of {lim.max_bytes} "
                         f"(raise it with --max-bytes / max_bytes=)")


def check_count(codec: str, what: str, n: int, cap: int) -> None:
    """Refuse a payload-declared count (packets, symbols, parameters) over a codec's cap."""
    if n > cap:
        raise LimitError(f"{codec}: payload declares {n} {what}, over the limit of {cap}")
