"""``wavelet``: lossy wavelet-packet autoencoder codec (WaLLoC-style) for RGB/gray images and mono audio.

The coding engine (model, tables, every torch call) lives in ``_wavelet_engine`` and is
imported on first use, so listing codecs never imports torch. Payload layout: see there.

Weights and model ids: images and audio have separate weight files (shipped ``wavelet_image``
and ``wavelet_audio``, or a user's, chosen with ``-O weights=NAME|PATH``), and a file stores the
model id of the one it was coded with, so retraining one media never invalidates the other's
files. ``compress`` binds the codec to the items' media (``for_media``); the registry's unbound
instance is the version-1 codec (both shipped files under one combined id, no audio gain), which
still decodes files written before per-media ids (codec version 1).

Version 2 audio payloads carry one gain byte after the 2-byte latent check: the clip is scaled
by ``2**(e/8)`` (``e`` a signed byte) to a speech-like loudness before coding and back after,
so quiet recordings get the same relative quality as loud ones.

Version 3 image payloads carry a post-filter block after the 2-byte latent check (``_postfilter``):
per-image least-squares filters the encoder fits to the decoded pixels and sends where they pay for
their bits; the decoder applies them in integer arithmetic. Files of versions 1 and 2 (no block)
still decode: ``for_version`` tells the layouts apart by the version stored in the file.
"""
from __future__ import annotations

import copy
from typing import Any, Mapping

import numpy as np

from ..errors import CodecError, UnsupportedInputError
from ..item import Item, ItemMeta
from .base import CHECK_KEY, CHECK_SYMBOLS, Codec, Encoded, Option, SelectableWeights, payload_error, register

N_LEVELS = 10
SHIPPED = {"image": "wavelet_image2", "audio": "wavelet_audio"}     # defaults of new files
V1_PAIR = ("wavelet_image", "wavelet_audio")     # version-1 files name both by one combined id
LOW_SNR_DB = 3.0          # an audio encode whose reconstruction is below this SNR gets a warning


@register
class Wavelet(SelectableWeights, Codec):
    name = "wavelet"
    media = ("image", "audio")
    lossless = False
    version = 3               # 2: per-media model ids, a gain byte in audio payloads; 3: image post-filter
    file_version = 3          # layout of the payloads this instance reads (``for_version``)
    qualities = (1, N_LEVELS)
    default_quality = 5
    weights = tuple(SHIPPED.values()) + ("wavelet_image",)      # the first image weights decode older files
    options = (Option("weights", str, None, "weights name (ncodec list --weights) or path to a wavelet weight "
                                            "file; default: the shipped weights of the item's media"),
               Option("postfilter", int, 1, "images: 1 fits the per-image post-filter (about 5% fewer bits at "
                                            "equal PSNR, 2-3x the encode time); 0 sends none (faster encode)"))
    # The content check covers the coded integer latents, through the 16-bit latent CRC that
    # leads every payload (verified by the engine against the decoded latents), the audio gain
    # byte and the image post-filter block: the float synthesis may differ by +-1 across
    # machines, a desynchronised coder may not.
    content_check = CHECK_SYMBOLS
    # ~180 B of working memory per pixel and ~110 per audio sample when decoding: default caps
    # keep a decode near or under 0.5 GB and a few seconds (raise with --max-pixels)
    decode_max_pixels = {"image": 1 << 21, "audio": 3_000_000}
    description = "wavelet-packet autoencoder + hyperprior (WaLLoC-style), lossy RGB/gray images and mono audio"

    # ---------------------------------------------------------------- identity
    def model_id(self, quality: int) -> bytes:
        """The bound weights' id; unbound, the combined id of the first shipped pair (version-1 files)."""
        from ..weights import model_id
        return model_id(self.bound) if self.bound else model_id(*V1_PAIR)

    def for_media(self, media: str) -> "Wavelet":
        return Wavelet(SHIPPED[media]) if self.bound is None and media in SHIPPED else self

    def for_version(self, version: int) -> "Wavelet":
        if version == self.file_version:
            return self
        other = copy.copy(self)
        other.file_version = version
        return other

    def for_model(self, model_id: bytes, quality: int) -> "Wavelet":
        from ..weights import model_id as mid_of
        if self.bound and model_id == self.model_id(quality):
            return self
        if model_id == mid_of(*V1_PAIR):
            return Wavelet()                    # a version-1 file: the first shipped pair, no gain byte
        return self.installed(model_id)

    def _engine(self, media: str):
        from ._wavelet_engine import engine, engine_for
        if self.bound is None:
            return engine(media)
        eng = engine_for(self.bound)
        if eng.media != media:
            raise UnsupportedInputError(f"wavelet weights {self.bound!r} code {eng.media}, not {media}")
        return eng

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
    def _has_gain(self, media: str) -> bool:
        """Version-2 audio payloads carry a gain byte after the latent check."""
        return self.bound is not None and media == "audio"

    def encode(self, item: Item, quality: int, options: Mapping[str, Any]) -> Encoded:
        from ._wavelet_engine import gain_exponent, snr_db, to_tensor
        self.check(item)
        media = item.meta.media
        eng = self._engine(media)
        x = to_tensor(item)
        if media == "image":
            return self._encode_image(eng, item, x, quality, bool(options.get("postfilter", 1)))
        if not self._has_gain(media):
            payload, ideal, _ = eng.encode(x, quality - 1)
            return Encoded(payload, ideal + 16, check=bytes(payload[:2]))   # + the 2-byte latent check
        e = gain_exponent(x)
        core, ideal, x_hat = eng.encode(x * 2.0 ** (e / 8), quality - 1, reconstruct=True)
        payload = core[:2] + (e & 0xFF).to_bytes(1, "little") + core[2:]
        snr = snr_db(x, x_hat.double() * 2.0 ** (-e / 8))
        info = {"snr_db": round(snr, 2), "gain_db": round(6.0206 * e / 8, 2)}
        if snr < LOW_SNR_DB:
            info["warning"] = (f"wavelet: the decoded audio keeps only {snr:.1f} dB SNR at quality {quality}; "
                               f"use a higher -q or another codec (e.g. -c opus, or flac for lossless)")
        return Encoded(payload, ideal + 24, info=info, check=bytes(payload[:3]))

    def _encode_image(self, eng, item: Item, x, quality: int, postfilter: bool = True) -> Encoded:
        """Engine payload with the post-filter block fitted to this image (or an empty one) after its
        2-byte check."""
        from . import _postfilter
        from ._wavelet_engine import from_tensor
        core, ideal, x_hat = eng.encode(x, quality - 1, reconstruct=postfilter)
        fitted = _postfilter.Block()
        if postfilter:
            decoded = _as_hwc(from_tensor(x_hat, item.meta).data)
            lam = eng.cfg.lambdas[quality - 1] / decoded.shape[2]     # bits per unit of 8-bit squared error
            fitted = _postfilter.fit(decoded, _as_hwc(item.data), lam)
        block = _postfilter.pack(fitted, _channels(item.meta.shape))
        payload = core[:2] + block + core[2:]
        info = ({"postfilter": {"classes": fitted.classes, "filters": len(fitted.filters), "radius": fitted.r,
                                "bytes": len(block)}} if fitted.filters else {})
        return Encoded(payload, ideal + 16 + 8 * len(block), info=info, check=payload[:2 + len(block)])

    def _split(self, payload: bytes, meta: ItemMeta) -> tuple[bytes, int, bytes, Any]:
        """(engine payload, audio gain exponent, content-check bytes, image post-filter block) of a stored
        payload: the gain byte (version-2 audio) or the filter block (version-3 images) is cut out."""
        if meta.media == "image" and self.file_version >= 3:
            from ._postfilter import unpack
            if len(payload) < 3:
                raise CodecError("wavelet: payload truncated (shorter than its check and filter block)")
            block, n = unpack(payload[2:], _channels(meta.shape))
            return payload[:2] + payload[2 + n:], 0, payload[:2 + n], block
        if not self._has_gain(meta.media):
            return payload, 0, payload[:2], None
        if len(payload) < 3:
            raise CodecError("wavelet: payload truncated (shorter than its check and gain bytes)")
        e = int.from_bytes(payload[2:3], "little", signed=True)
        return payload[:2] + payload[3:], e, payload[:3], None

    def decode(self, payload: bytes, meta: ItemMeta, quality: int) -> Item:
        from ._wavelet_engine import from_tensor
        if meta.media not in ("image", "audio"):
            raise CodecError(f"wavelet: cannot decode media {meta.media!r}")
        spatial = tuple(meta.shape[:2]) if meta.media == "image" else (int(meta.shape[0]),)
        eng = self._engine(meta.media)
        if meta.media == "image" and (len(meta.shape) not in (2, 3) or meta.dtype != "uint8"
                                      or (len(meta.shape) == 3 and meta.shape[2] not in (1, 3))):
            raise CodecError(f"wavelet: stored metadata {meta.shape} {meta.dtype} is not a gray/RGB 8-bit image")
        if meta.media == "audio" and (len(meta.shape) not in (1, 2) or (len(meta.shape) == 2 and meta.shape[1] != 1)
                                      or meta.dtype not in ("int16", "int32", "float32", "float64")):
            raise CodecError(f"wavelet: stored metadata {meta.shape} {meta.dtype} is not mono audio")
        if min(spatial) < 1:
            raise CodecError("wavelet: empty record")
        core, e, check, block = self._split(bytes(payload), meta)
        try:
            x = eng.decode(core, spatial, quality - 1)
        except CodecError:
            raise
        except Exception as exc:
            raise payload_error(self.name, exc) from exc
        item = from_tensor(x.double() * 2.0 ** (-e / 8) if e else x, meta)
        if block is not None and block.filters:
            from ._postfilter import apply_filter
            item = Item(np.ascontiguousarray(apply_filter(_as_hwc(item.data), block).reshape(meta.shape)), meta)
        item.extra[CHECK_KEY] = check     # the latent CRC (checked by the engine), gain byte / filter block
        return item

    def decode_latents(self, payload: bytes, meta: ItemMeta, quality: int) -> np.ndarray:
        """The dequantized latents (C, *latent spatial) float32 of a payload, without the synthesis
        transform: features for learning straight from compressed data (``NczDataset(decode="latents")``).
        Audio latents of version-2 files are those of the gain-normalised clip."""
        if meta.media not in ("image", "audio"):
            raise CodecError(f"wavelet: cannot decode media {meta.media!r}")
        spatial = tuple(meta.shape[:2]) if meta.media == "image" else (int(meta.shape[0]),)
        if min(spatial) < 1:
            raise CodecError("wavelet: empty record")
        core = self._split(bytes(payload), meta)[0]
        try:
            return self._engine(meta.media).latents(core, spatial, quality - 1)
        except CodecError:
            raise
        except Exception as exc:
            raise payload_error(self.name, exc) from exc


def _channels(shape: tuple[int, ...]) -> int:
    """Colour channels of a gray or RGB image of ``shape`` (what the post-filter block is laid out for)."""
    return 1 if len(shape) == 2 or shape[2] == 1 else 3


def _as_hwc(a: np.ndarray) -> np.ndarray:
    """An (H, W) or (H, W, C) uint8 image as (H, W, C)."""
    return a if a.ndim == 3 else a[:, :, None]
