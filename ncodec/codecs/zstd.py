"""Zstandard over the raw array bytes: lossless fallback for bytes, tensors and anything else.

The payload is one zstd frame of the array's little-endian C-order bytes (whatever the input's
byte order), with the content size in its header: the decoder checks that size against the
container header before it allocates, and decompresses into a buffer of exactly that size.
"""
from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from .._lazy import lazy_import
from ..item import Item, ItemMeta
from ..limits import bytes_of
from ._bounded import zstd_content_size
from .base import Codec, Encoded, register

imagecodecs = lazy_import("imagecodecs")


@register
class Zstd(Codec):
    name = "zstd"
    native_suffix = ".zst"
    media = "bytes"          # accepts every media kind: it codes the array's bytes
    lossless = True
    qualities = (1, 22)
    default_quality = 19
    description = "Zstandard on raw bytes / array bytes, lossless, any media"

    def check(self, item: Item) -> None:
        return None

    def encode(self, item: Item, quality: int, options: Mapping[str, Any]) -> Encoded:
        d = np.asarray(item.data)
        le = d.astype(d.dtype.newbyteorder("<"), copy=False) if d.dtype.itemsize > 1 else d
        return Encoded(imagecodecs.zstd_encode(np.ascontiguousarray(le).tobytes(), level=quality))

    def decode(self, payload: bytes, meta: ItemMeta, quality: int) -> Item:
        n = bytes_of(meta)
        declared = zstd_content_size(payload)
        if declared != n:
            raise ValueError(f"zstd frame declares {declared} bytes, the header {n}")
        buf = bytearray(n)
        if n:
            out = imagecodecs.zstd_decode(payload, out=buf)
            if len(out) != n:
                raise ValueError("decoded size does not match the header")
        else:
            imagecodecs.zstd_decode(payload)      # still a valid (empty) frame
        dt = np.dtype(meta.dtype)
        arr = np.frombuffer(buf, dtype=dt.newbyteorder("<") if dt.itemsize > 1 else dt)
        if arr.dtype != dt:
            arr = arr.astype(dt)
        return Item(arr.reshape(meta.shape), meta)
