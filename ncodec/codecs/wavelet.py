"""``wavelet``: lossy wavelet-packet autoencoder codec (WaLLoC-style) for RGB/gray images and mono audio.

The coding engine (model, tables, every torch call) lives in ``_wavelet_engine`` and is
imported on first use, so listing codecs never imports torch. Payload layout: see there.
"""
from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from ..errors import CodecError, UnsupportedInputError
from ..item import Item, ItemMeta
from .base import CHECK_KEY, CHECK_SYMBOLS, Codec, Encoded, payload_error, register

N_LEVELS = 10


@register
class Wavelet(Codec):
    name = "wavelet"
    media = ("image", "audio")
    lossless = False
    version = 1
    qualities = (1, N_LEVELS)
    default_quality = 5
    weights = ("wavelet_image", "wavelet_audio")
    # The content check covers the coded integer latents, through the 16-bit latent CRC that
    # leads every payload (verified by the engine against the decoded latents): the float
    # synthesis may differ by +-1 across thread counts, a desynchronised coder may not.
    content_check = CHECK_SYMBOLS
    # ~180 B of working memory per pixel and ~110 per audio sample when decoding: default caps
    # keep a decode near or under 0.5 GB and a few seconds (raise with --max-pixels)
    decode_max_pixels = {"image": 1 << 21, "audio": 3_000_000}
    description = "wavelet-packet autoencoder + hyperprior (WaLLoC-style), lossy RGB/gray images and mono audio"

    def model_id(self, quality: int) -> bytes:
        from ..weights import model_id
        return model_id(*self.weights)

    def check(self, item: Item) -> None:
        d, meta = item.data, item.meta
        if meta.media == "image":
            if meta.dtype != "uint8":
                raise UnsupportedInputError(f"wavelet codes 8-bit images, not {meta.dtype}")
            if d.ndim not in (2, 3) or (d.ndim == 3 and d.shape[2] not in (1, 3)) or min(d.shape[:2]) < 1:
                raise UnsupportedInputError(f"wavelet codes gray or RGB images, not shape {d.shape}")
        elif meta.media == "audio":
            if d.ndim == 2 and d.shape[1] != 1 or d.ndim not in (1, 2):
                raise UnsupportedInputError(f"wavelet codes mono audio, not shape {d.shape}")
            if meta.dtype not in ("int16", "int32", "float32", "float64"):
                raise UnsupportedInputError(f"wavelet codes int16/int32/float audio, not {meta.dtype}")
            if d.shape[0] < 1:
                raise UnsupportedInputError("wavelet: empty audio")
            if meta.dtype.startswith("float") and not np.isfinite(d).all():
                raise UnsupportedInputError("wavelet: audio has NaN/inf samples")
        else:
            raise UnsupportedInputError(f"codec 'wavelet' codes image or audio, not {meta.media}")

    # ---------------------------------------------------------------- coding
    def encode(self, item: Item, quality: int, options: Mapping[str, Any]) -> Encoded:
        from ._wavelet_engine import engine, to_tensor
        self.check(item)
        payload, ideal = engine(item.meta.media).encode(to_tensor(item), quality - 1)
        return Encoded(payload, ideal + 16, check=bytes(payload[:2]))   # + the 2-byte latent check

    def decode(self, payload: bytes, meta: ItemMeta, quality: int) -> Item:
        from ._wavelet_engine import engine, from_tensor
        if meta.media not in ("image", "audio"):
            raise CodecError(f"wavelet: cannot decode media {meta.media!r}")
        spatial = tuple(meta.shape[:2]) if meta.media == "image" else (int(meta.shape[0]),)
        eng = engine(meta.media)
        if meta.media == "image" and (len(meta.shape) not in (2, 3) or meta.dtype != "uint8"
                                      or (len(meta.shape) == 3 and meta.shape[2] not in (1, 3))):
            raise CodecError(f"wavelet: stored metadata {meta.shape} {meta.dtype} is not a gray/RGB 8-bit image")
        if meta.media == "audio" and (len(meta.shape) not in (1, 2) or (len(meta.shape) == 2 and meta.shape[1] != 1)
                                      or meta.dtype not in ("int16", "int32", "float32", "float64")):
            raise CodecError(f"wavelet: stored metadata {meta.shape} {meta.dtype} is not mono audio")
        if min(spatial) < 1:
            raise CodecError("wavelet: empty record")
        try:
            x = eng.decode(bytes(payload), spatial, quality - 1)
        except CodecError:
            raise
        except Exception as exc:
            raise payload_error(self.name, exc) from exc
        item = from_tensor(x, meta)
        item.extra[CHECK_KEY] = bytes(payload[:2])     # the engine checked it against the decoded latents
        return item

    def decode_latents(self, payload: bytes, meta: ItemMeta, quality: int) -> np.ndarray:
        """The dequantized latents (C, *latent spatial) float32 of a payload, without the synthesis
        transform: features for learning straight from compressed data (``NczDataset(decode="latents")``)."""
        from ._wavelet_engine import engine
        if meta.media not in ("image", "audio"):
            raise CodecError(f"wavelet: cannot decode media {meta.media!r}")
        spatial = tuple(meta.shape[:2]) if meta.media == "image" else (int(meta.shape[0]),)
        if min(spatial) < 1:
            raise CodecError("wavelet: empty record")
        try:
            return engine(meta.media).latents(bytes(payload), spatial, quality - 1)
        except CodecError:
            raise
        except Exception as exc:
            raise payload_error(self.name, exc) from exc
