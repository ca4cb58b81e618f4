"""FLAC via soundfile (libsndfile): the classical lossless audio baseline (int16 / 24-bit PCM)."""
from __future__ import annotations

import io

import numpy as np
import soundfile as sf

from ..errors import UnsupportedInputError
from ..item import Item, ItemMeta
from .base import Codec, register


@register
class FLAC(Codec):
    name = "flac"
    media = "audio"
    lossless = True
    qualities = (0, 8)
    default_quality = 8
    description = "FLAC (libsndfile), lossless, integer PCM up to 24 bits"

    def check(self, item: Item) -> None:
        super().check(item)
        if item.meta.dtype not in ("int16", "int32"):
            raise UnsupportedInputError(f"flac codes integer PCM, not {item.meta.dtype}")
        if item.meta.dtype == "int32" and (np.abs(item.data.astype(np.int64)).max(initial=0) >= 1 << 23 or (item.data & 0xFF).any()):
            raise UnsupportedInputError("flac codes at most 24-bit PCM (stored as int32 with zero low byte)")
        if not 1 <= item.meta.sample_rate <= 655350:
            raise UnsupportedInputError("flac needs a sample rate in 1..655350 Hz")

    def encode(self, item: Item, quality: int) -> bytes:
        buf = io.BytesIO()
        subtype = "PCM_16" if item.meta.dtype == "int16" else "PCM_24"
        sf.write(buf, item.data, item.meta.sample_rate, format="FLAC", subtype=subtype,
                 compression_level=quality / 8)
        return buf.getvalue()

    def decode(self, payload: bytes, meta: ItemMeta, quality: int) -> Item:
        data, _ = sf.read(io.BytesIO(payload), dtype=meta.dtype, always_2d=False)
        return Item(np.ascontiguousarray(data.reshape(meta.shape)), meta)
