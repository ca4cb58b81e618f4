"""Bounded decoding for the classical codecs: decode into an output array whose size comes
from the (limit-checked) container header, so a payload that declares other dimensions is
refused before its pixels are allocated; plus small readers of the size fields some
bitstreams carry (zstd frame content size, FLAC STREAMINFO)."""
from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

from ..item import ItemMeta


def image_shapes(meta: ItemMeta, channels: Sequence[int]) -> list[tuple[int, ...]]:
    """Output shapes a decoder may legitimately return for an image of ``meta``: the stored
    layout first, then (H, W, c) for each allowed decoded channel count ``channels``."""
    h, w = int(meta.shape[0]), int(meta.shape[1])
    c = 1 if len(meta.shape) == 2 else int(meta.shape[2])
    out: list[tuple[int, ...]] = []
    if c == 1:
        out.append((h, w))
    for k in channels:
        if (h, w, k) not in out:
            out.append((h, w, k))
    return out


def decode_into(fn: Callable, payload: bytes, meta: ItemMeta, channels: Sequence[int], **kw) -> np.ndarray:
    """``fn(payload, out=array, **kw)`` with ``array`` of the first candidate shape whose size the
    payload's own header agrees with; the libraries read the header and refuse a mismatched
    ``out`` before decoding, so nothing bigger than the header's image is ever allocated."""
    if len(meta.shape) not in (2, 3) or meta.media != "image":
        raise ValueError(f"stored metadata {meta.shape} is not an image")
    last: Exception | None = None
    for shape in image_shapes(meta, channels):
        out = np.empty(shape, dtype=meta.dtype)
        try:
            return fn(payload, out=out, **kw)
        except ValueError as exc:
            if "out" not in str(exc):
                raise
            last = exc
    raise ValueError(f"payload image size or depth differs from the header {meta.shape} {meta.dtype} ({last})")


def zstd_content_size(payload: bytes) -> int:
    """The content size a zstd frame header declares; ValueError for a frame without one."""
    if len(payload) < 6 or payload[:4] != b"\x28\xb5\x2f\xfd":
        raise ValueError("not a zstd frame")
    fhd = payload[4]
    fcs_flag, single, dict_flag = fhd >> 6, (fhd >> 5) & 1, fhd & 3
    if fhd & 0x08:
        raise ValueError("zstd frame header has a reserved bit set")
    pos = 5 + (0 if single else 1) + (0, 1, 2, 4)[dict_flag]
    size = ((1 if single else 0), 2, 4, 8)[fcs_flag]
    if size == 0:
        raise ValueError("zstd frame without a content size")
    if pos + size > len(payload):
        raise ValueError("zstd frame header truncated")
    value = int.from_bytes(payload[pos:pos + size], "little")
    return value + 256 if size == 2 else value


def flac_streaminfo(payload: bytes) -> dict:
    """Sample rate, channels, bits per sample and total samples from a FLAC STREAMINFO block."""
    if len(payload) < 4 + 4 + 34 or payload[:4] != b"fLaC" or payload[4] & 0x7F != 0:
        raise ValueError("not a FLAC stream starting with STREAMINFO")
    if int.from_bytes(payload[5:8], "big") != 34:
        raise ValueError("bad STREAMINFO length")
    si = payload[8:8 + 34]
    bits = int.from_bytes(si[10:18], "big")
    return {"sample_rate": bits >> 44, "channels": ((bits >> 41) & 0x7) + 1,
            "bits_per_sample": ((bits >> 36) & 0x1F) + 1, "total_samples": bits & ((1 << 36) - 1),
            "max_block": int.from_bytes(si[2:4], "big")}
