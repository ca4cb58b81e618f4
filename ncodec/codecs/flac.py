"""FLAC via soundfile (libsndfile): the classical lossless audio baseline (int16 / 24-bit PCM)."""
from __future__ import annotations

from typing import Any, Mapping

import io

import numpy as np

from .._lazy import lazy_import
from ..errors import UnsupportedInputError
from ..item import Item, ItemMeta
from ._bounded import flac_streaminfo
from .base import Codec, Encoded, register

sf = lazy_import("soundfile")


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
    native_suffix = ".flac"
    media = "audio"
    lossless = True
    qualities = (0, 8)
    default_quality = 8
    description = "FLAC (libsndfile), lossless, integer PCM up to 24 bits"

    def check(self, item: Item) -> None:
        super().check(item)
        if item.meta.dtype not in ("int16", "int32"):
            raise UnsupportedInputError(f"flac codes integer PCM, not {item.meta.dtype}")
        if item.meta.dtype == "int32" and (item.data & 0xFF).any():
            raise UnsupportedInputError("flac codes at most 24-bit PCM (int32 audio must have a zero low byte, "
                                        "as 24-bit files read; this is 32-bit audio)")
        if item.data.ndim not in (1, 2) or (item.data.ndim == 2 and not 1 <= item.data.shape[1] <= 8):
            raise UnsupportedInputError(f"flac codes 1..8 channels, not shape {item.data.shape}")
        if not 1 <= item.meta.sample_rate <= 655350:
            raise UnsupportedInputError("flac needs a sample rate in 1..655350 Hz")

    def encode(self, item: Item, quality: int, options: Mapping[str, Any]) -> Encoded:
        if item.data.shape[0] == 0:
            return Encoded(b"")                 # no samples: an empty payload (FLAC has no empty stream)
        buf = io.BytesIO()
        subtype = "PCM_16" if item.meta.dtype == "int16" else "PCM_24"
        sf.write(buf, item.data, item.meta.sample_rate, format="FLAC", subtype=subtype,
                 compression_level=quality / 8)
        return Encoded(_strip_metadata(buf.getvalue()))

    def decode(self, payload: bytes, meta: ItemMeta, quality: int) -> Item:
        if meta.dtype not in ("int16", "int32") or len(meta.shape) not in (1, 2):
            raise ValueError(f"stored metadata {meta.shape} {meta.dtype} is not integer PCM")
        n = int(meta.shape[0])
        ch = 1 if len(meta.shape) == 1 else int(meta.shape[1])
        if n == 0:
            if payload:
                raise ValueError("payload of an empty record is not empty")
            return Item(np.zeros(meta.shape, dtype=meta.dtype), meta)
        info = flac_streaminfo(payload)
        want = {"sample_rate": meta.sample_rate, "channels": ch, "total_samples": n,
                "bits_per_sample": 16 if meta.dtype == "int16" else 24}
        for key, value in want.items():
            if info[key] != value:
                raise ValueError(f"FLAC STREAMINFO {key} {info[key]} differs from the header's {value}")
        data, _ = sf.read(io.BytesIO(payload), frames=n, dtype=meta.dtype, always_2d=False)
        if data.shape[0] != n:
            raise ValueError(f"FLAC stream holds {data.shape[0]} samples, the header {n}")
        return Item(np.ascontiguousarray(data.reshape(meta.shape)), meta)
