"""FLAC via soundfile (libsndfile): the classical lossless audio baseline (int16 / 24-bit PCM)."""
from __future__ import annotations

from typing import Any, Mapping

import io

import numpy as np
import soundfile as sf

from ..errors import UnsupportedInputError
from ..item import Item, ItemMeta
from .base import Codec, Encoded, register


def _strip_metadata(flac: bytes) -> bytes:
    """Keep only the STREAMINFO block: libsndfile's VORBIS_COMMENT (~44 B) carries nothing we need."""
    if flac[:4] != b"fLaC":
        return flac
    pos, keep = 4, []
    while pos + 4 <= len(flac):
        head = flac[pos]
        length = int.from_bytes(flac[pos + 1:pos + 4], "big")
        if head & 0x7F == 0:
            keep.append(bytearray(flac[pos:pos + 4 + length]))
        pos += 4 + length
        if head & 0x80:
            break
    if len(keep) != 1:
        return flac
    keep[0][0] |= 0x80                      # STREAMINFO becomes the last metadata block
    return b"fLaC" + bytes(keep[0]) + flac[pos:]


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

    def encode(self, item: Item, quality: int, options: Mapping[str, Any]) -> Encoded:
        buf = io.BytesIO()
        subtype = "PCM_16" if item.meta.dtype == "int16" else "PCM_24"
        sf.write(buf, item.data, item.meta.sample_rate, format="FLAC", subtype=subtype,
                 compression_level=quality / 8)
        return Encoded(_strip_metadata(buf.getvalue()))

    def decode(self, payload: bytes, meta: ItemMeta, quality: int) -> Item:
        data, _ = sf.read(io.BytesIO(payload), dtype=meta.dtype, always_2d=False)
        return Item(np.ascontiguousarray(data.reshape(meta.shape)), meta)
