"""Zstandard over the raw array bytes: lossless fallback for bytes, tensors and anything else."""
from __future__ import annotations

from typing import Any, Mapping

import imagecodecs
import numpy as np

from ..item import Item, ItemMeta
from .base import Codec, Encoded, register


@register
class Zstd(Codec):
    name = "zstd"
    media = "bytes"          # accepts every media kind: it codes the array's bytes
    lossless = True
    qualities = (1, 22)
    default_quality = 19
    description = "Zstandard on raw bytes / array bytes, lossless, any media"

    def check(self, item: Item) -> None:
        return None

    def encode(self, item: Item, quality: int, options: Mapping[str, Any]) -> Encoded:
        return Encoded(imagecodecs.zstd_encode(np.ascontiguousarray(item.data).tobytes(), level=quality))

    def decode(self, payload: bytes, meta: ItemMeta, quality: int) -> Item:
        raw = imagecodecs.zstd_decode(payload)
        arr = np.frombuffer(raw, dtype=meta.dtype)
        if arr.size != meta.numel:
            raise ValueError("decoded size does not match the header")
        return Item(arr.reshape(meta.shape).copy(), meta)
