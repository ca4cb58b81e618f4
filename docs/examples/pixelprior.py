"""``pixelprior``: a minimal learned codec in one file (the walkthrough of docs/adding_a_codec.md).

Lossless 28x28 uint8 digits. The "model" is one 256-bin histogram per pixel position, learned by
counting over a training set; each pixel is coded with its position's integer table through the
shared entropy layer. Everything a real learned codec needs is here: declared options, weights
found through ``ncodec.weights``, a model id in every file, ideal bits returned with the payload,
batched encode, input checks, and payload errors turned into ``CodecError``.
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from ncodec.codecs.base import Codec, Encoded, Option, payload_error, register
from ncodec.errors import CodecError, UnsupportedInputError
from ncodec.item import Item, ItemMeta

WEIGHTS = "pixelprior_mnist"
SHAPE = (28, 28)


def train_tables(x: np.ndarray, path: Path, smoothing: float = 0.5) -> Path:
    """'Training': per-position pixel histograms of ``x`` (N, 28, 28) uint8, saved as .npz."""
    counts = np.zeros((SHAPE[0] * SHAPE[1], 256))
    flat = x.reshape(len(x), -1)
    for pos in range(flat.shape[1]):
        counts[pos] = np.bincount(flat[:, pos], minlength=256)
    np.savez_compressed(path, probs=(counts + smoothing) / (len(x) + 256 * smoothing))
    return path


@lru_cache(maxsize=4)
def _tables(precision: int) -> np.ndarray:
    """Integer PMFs (784, 256) built by the one shared float->int function: identical on both sides."""
    from ncodec.entropy import quantize_probs
    from ncodec.weights import weight_path            # sha-checked against the manifest
    return quantize_probs(np.load(weight_path(WEIGHTS))["probs"], precision)


@register
class PixelPrior(Codec):
    name = "pixelprior"
    media = "image"
    lossless = True
    weights = (WEIGHTS,)
    options = (Option("precision", int, 16, "bits of the integer probability tables", choices=(12, 14, 16)),)
    description = "per-pixel learned histograms, lossless 28x28 uint8 (docs/adding_a_codec.md example)"

    def model_id(self, quality: int) -> bytes:
        from ncodec.weights import model_id
        return model_id(WEIGHTS)

    def check(self, item: Item) -> None:
        super().check(item)
        if item.data.shape != SHAPE or item.data.dtype != np.uint8:
            raise UnsupportedInputError(f"pixelprior codes 28x28 uint8 images, not {item.data.shape} {item.data.dtype}")

    def encode_batch(self, items: Sequence[Item], quality: int, options: Mapping[str, Any]) -> list[Encoded]:
        from ncodec.entropy import EntropyEncoder
        pmf = _tables(options["precision"])
        out = []
        for it in items:
            enc = EntropyEncoder("ans")
            enc.encode(it.data.reshape(-1), pmf)            # per-symbol (784, 256) tables in one call
            out.append(Encoded(bytes([options["precision"]]) + enc.finish(), enc.ideal_bits + 8))
        return out

    def encode(self, item: Item, quality: int, options: Mapping[str, Any]) -> Encoded:
        return self.encode_batch([item], quality, options)[0]

    def decode(self, payload: bytes, meta: ItemMeta, quality: int) -> Item:
        from ncodec.entropy import EntropyDecoder
        if tuple(meta.shape) != SHAPE or meta.dtype != "uint8":
            raise CodecError(f"pixelprior: stored shape {meta.shape} {meta.dtype} is not 28x28 uint8")
        if not payload or payload[0] not in (12, 14, 16):
            raise CodecError("pixelprior: payload has no valid table precision")
        try:
            pixels = EntropyDecoder(payload[1:], "ans").decode(_tables(payload[0]))
        except CodecError:
            raise
        except Exception as exc:
            raise payload_error(self.name, exc) from exc
        return Item(pixels.astype(np.uint8).reshape(SHAPE), meta)
