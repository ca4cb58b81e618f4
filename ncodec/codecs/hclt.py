"""``hclt``: lossless 28x28 grayscale images with a Hidden Chow-Liu Tree circuit (MNIST-style digits).

Quality selects the shipped weights: 1 = MNIST (default), 2 = Fashion-MNIST. Each image is one
independent record; many images are coded in lock-step batches (exact integer conditionals in
DFS order + one rANS stream per image, see ncodec.models.hclt_coding).
"""
from __future__ import annotations

from functools import lru_cache
from typing import Sequence

import numpy as np

from ..errors import CodecError, UnsupportedInputError
from ..item import Item, ItemMeta
from .base import Codec, register

WEIGHTS = {1: "hclt_mnist", 2: "hclt_fashion_mnist"}
SHAPE = (28, 28)
CHUNK = 512            # images per lock-step batch (memory bound only; results do not depend on it)


def _workers(n_chunks: int) -> int:
    """Threads for independent chunks ($NCODEC_THREADS, default: up to 2 cores); numpy releases the GIL."""
    import os
    want = int(os.environ.get("NCODEC_THREADS", "0")) or min(2, os.cpu_count() or 1)
    return max(1, min(want, n_chunks))


def _map_chunks(fn, chunks: list) -> list:
    """fn over chunks, in order; on worker threads when there are several chunks."""
    n = _workers(len(chunks))
    if n == 1:
        return [fn(c) for c in chunks]
    from concurrent.futures import ThreadPoolExecutor
    with ThreadPoolExecutor(n) as pool:
        return list(pool.map(fn, chunks))


@lru_cache(maxsize=None)
def load_weights(name: str):
    """(float64 HCLT, integer CodingTables) of shipped weights ``name`` (sha-checked, cached)."""
    from ..models.hclt import load_hclt
    from ..models.hclt_coding import CodingTables
    from ..weights import weight_path

    model = load_hclt(weight_path(name))
    return model, CodingTables.from_model(model)


def ideal_bits(name: str, x: np.ndarray, batch: int = 1000) -> np.ndarray:
    """-log2 P(x) per row of ``x`` (N, 784) under weights ``name`` (float64 circuit)."""
    import torch
    model, _ = load_weights(name)
    out = []
    with torch.no_grad():
        for s in range(0, len(x), batch):
            ll = model.log_likelihood(torch.from_numpy(np.asarray(x[s:s + batch], dtype=np.int64)))
            out.append(-ll.numpy() / np.log(2.0))
    return np.concatenate(out) if out else np.zeros(0)


@register
class HCLTCodec(Codec):
    name = "hclt"
    media = "image"
    lossless = True
    qualities = (1, 2)
    default_quality = 1
    weights = tuple(WEIGHTS.values())
    description = "HCLT probabilistic circuit, lossless 28x28 uint8 (q1 MNIST, q2 Fashion-MNIST weights)"

    def model_id(self, quality: int) -> bytes:
        from ..weights import model_id
        return model_id(WEIGHTS[quality])

    def check(self, item: Item) -> None:
        Codec.check(self, item)
        d = item.data
        if d.ndim == 3 and d.shape[2] == 1:
            d = d[..., 0]
        if d.shape != SHAPE or d.dtype != np.uint8:
            raise UnsupportedInputError(
                f"hclt: needs {SHAPE[0]}x{SHAPE[1]} uint8 grayscale images, got shape {item.data.shape} {item.data.dtype}")

    def _pixels(self, items: Sequence[Item]) -> np.ndarray:
        for it in items:
            self.check(it)
        return np.stack([it.data.reshape(-1) for it in items]) if items else np.zeros((0, 784), np.uint8)

    def encode_batch(self, items: Sequence[Item], quality: int) -> list[bytes]:
        from ..models.hclt_coding import encode_tables, rans_encode
        _, tables = load_weights(WEIGHTS[quality])
        x = self._pixels(items)
        self._pending = (quality, x, {row.tobytes() for row in x})
        def one(xc: np.ndarray) -> list[bytes]:
            _, freq, start = encode_tables(tables, xc)
            return rans_encode(freq, start)
        chunks = [x[s:s + CHUNK] for s in range(0, len(x), CHUNK)]
        return [p for part in _map_chunks(one, chunks) for p in part]

    def decode_batch(self, payloads: Sequence[bytes], metas: Sequence[ItemMeta], quality: int) -> list[Item]:
        from ..models.hclt_coding import decode_pixels
        for m in metas:
            if m.numel != 784 or m.dtype != "uint8" or m.media != "image":
                raise CodecError(f"hclt: stored metadata {m.shape} {m.dtype} is not a 28x28 uint8 image")
        _, tables = load_weights(WEIGHTS[quality])
        starts = list(range(0, len(payloads), CHUNK))
        parts = _map_chunks(lambda s: decode_pixels(tables, [bytes(p) for p in payloads[s:s + CHUNK]]), starts)
        return [Item(pix[r].reshape(metas[s + r].shape), metas[s + r])
                for s, pix in zip(starts, parts) for r in range(len(pix))]

    def encode(self, item: Item, quality: int) -> bytes:
        return self.encode_batch([item], quality)[0]

    def decode(self, payload: bytes, meta: ItemMeta, quality: int) -> Item:
        return self.decode_batch([payload], [meta], quality)[0]

    def estimate_bits(self, item: Item, quality: int) -> float | None:
        """The circuit's exact -log2 P(image) under the shipped (float64) parameters.

        Images of the last ``encode_batch`` call are evaluated together on the first request (the
        API asks item by item), everything else one by one.
        """
        key = (quality, self._pixels([item]).tobytes())
        if key not in self._ideal:
            pending = getattr(self, "_pending", None)
            if pending is not None and pending[0] == quality and key[1] in pending[2]:
                x = pending[1]
                self._pending = None
            else:
                x = self._pixels([item])
            self._ideal.clear() if len(self._ideal) > 200_000 else None
            for r, bits in enumerate(ideal_bits(WEIGHTS[quality], x)):
                self._ideal[(quality, x[r].tobytes())] = bits
        return self._ideal[key]

    def __init__(self) -> None:
        self._ideal: dict = {}
        self._pending = None
