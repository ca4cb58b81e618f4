"""``inr``: overfitted neural image codec (Cool-chic / C3 family), no training data, no shipped weights.

Encoding fits a tiny decoder to the one image (latent grids 1/1..1/64, an auto-regressive context
model, learned upsampling, a few-layer synthesis; ``ncodec.models.inr_image``) for MSE + lambda x
rate, quantizes its weights with steps chosen by rate-distortion cost, and codes weights and
latents with the shared entropy layer (``_inr_engine``). Decoding runs the quantized network in
exact fixed point, by wavefronts: the same bytes decode to the same image on every machine.

Quality 1..8 sets lambda (about 0.05 to 2.5 bpp on Kodak-like photos); ``-O effort=fast|default|max``
or ``-O iterations=N`` / ``-O time_budget=S`` set the fitting work, ``-O preset=small|mid|medium|large``
the decoder size (~350 / ~1200 / ~1100 / ~2200 multiply-accumulates per pixel with ``small`` /
``mid`` / ``medium`` / ``large``; ``auto`` picks, up to 512x512 pixels, small at q <= 4, where the
network's own bits weigh most, and mid above; medium for larger images).
"""
from __future__ import annotations

from typing import Any, Mapping

from ..errors import CodecError, LimitError, UnsupportedInputError
from ..item import Item, ItemMeta
from .base import CHECK_KEY, CHECK_SYMBOLS, Codec, Encoded, Option, payload_error, register


@register
class Inr(Codec):
    name = "inr"
    media = "image"
    lossless = False
    version = 1
    qualities = (1, 8)
    default_quality = 4
    sweep_qualities = (2, 4, 6, 8)
    decode_max_pixels = {"image": 1 << 24}
    content_check = CHECK_SYMBOLS       # digest of integer weights, latents and the (exact) picture
    options = (
        Option("preset", str, "auto", "decoder size: small / mid / medium / large = ~350 / ~1200 / ~1100 / "
               "~2200 MAC per pixel (mid: wider ARM context); auto: up to 512x512 pixels small at q <= 4 and "
               "mid above (its weights cost less at low rates), else medium",
               choices=("auto", "small", "mid", "medium", "large")),
        Option("effort", str, "default", "fitting iterations: fast 400, default 2000, max 5000 "
               "(~0.06 CPU-s each per 256x256 pixels, small preset)",
               choices=("fast", "default", "max")),
        Option("iterations", int, None, "fitting iterations (overrides effort)"),
        Option("time_budget", float, None, "wall seconds for the fit; stops early (then not deterministic)"),
        Option("device", str, "auto", "where to fit", choices=("auto", "cpu", "cuda")),
        Option("seed", int, 0, "random seed (the encode is deterministic given it and the thread count)"),
        Option("threads", int, None, "torch threads while fitting (default: torch's)"),
        Option("progress", bool, True, "progress bar on a terminal"),
    )
    description = "overfitted neural image codec (Cool-chic/C3-style: latent grids + ARM + synthesis, fitted per image); q 1-8"

    def check(self, item: Item) -> None:
        super().check(item)
        d = item.data
        if item.meta.dtype != "uint8":
            raise UnsupportedInputError(f"inr codes 8-bit images, not {item.meta.dtype}")
        if d.ndim not in (2, 3) or (d.ndim == 3 and d.shape[2] not in (1, 3)):
            raise UnsupportedInputError(f"inr codes gray or RGB images, not shape {d.shape}")
        if min(d.shape[:2]) < 1 or max(d.shape[:2]) > 1 << 16:
            raise UnsupportedInputError(f"inr: image size {d.shape[0]}x{d.shape[1]} not supported")

    def encode(self, item: Item, quality: int, options: Mapping[str, Any]) -> Encoded:
        from ._inr_engine import encode
        self.check(item)
        opts = self.resolve_options(options)
        if opts["iterations"] is not None and opts["iterations"] < 1:
            raise UnsupportedInputError("inr: iterations must be >= 1")
        payload, ideal, info, check = encode(item.data, quality, opts)
        return Encoded(payload, ideal, info, check=check)

    def decode(self, payload: bytes, meta: ItemMeta, quality: int) -> Item:
        from ._inr_engine import decode
        if meta.media != "image" or meta.dtype != "uint8" or len(meta.shape) not in (2, 3):
            raise CodecError(f"inr: cannot decode a {meta.media} {meta.dtype} record of shape {meta.shape}")
        try:
            data, check = decode(bytes(payload), tuple(meta.shape))
        except (CodecError, LimitError):
            raise
        except Exception as exc:
            raise payload_error(self.name, exc) from exc
        return Item(data, meta, extra={CHECK_KEY: check})
