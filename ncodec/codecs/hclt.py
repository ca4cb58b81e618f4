"""``hclt``: lossless 28x28 grayscale images with a Hidden Chow-Liu Tree circuit (MNIST-style digits).

Quality selects the shipped weights: 1 = MNIST (default), 2 = Fashion-MNIST. Each image is one
independent record; many images are coded in lock-step batches (exact integer conditionals in
DFS order + one rANS stream per image, see ncodec.models.hclt_coding).
"""
from __future__ import annotations

from functools import lru_cache
from typing import Any, Mapping, Sequence

import numpy as np

from ..errors import CodecError, UnsupportedInputError
from ..item import Item, ItemMeta
from .base import Codec, Encoded, Option, register

WEIGHTS = {1: "hclt_mnist", 2: "hclt_fashion_mnist"}
SHAPE = (28, 28)
CHUNK = 512            # images per lock-step batch (memory bound only; results do not depend on it)


def _map_chunks(fn, chunks: list, threads: int) -> list:
    """fn over chunks, in order; on ``threads`` worker threads (0: up to 2) when there are several."""
    import os
    n = max(1, min(threads or min(2, os.cpu_count() or 1), len(chunks)))
    if n == 1:
        return [fn(c) for c in chunks]
    from concurrent.futures import ThreadPoolExecutor
    with ThreadPoolExecutor(n) as pool:
        return list(pool.map(fn, chunks))


@lru_cache(maxsize=None)
def coding_tables(name: str):
    """Integer CodingTables of shipped weights ``name`` (cached)."""
    from ..models.hclt_coding import CodingTables
    from ..weights import load_hclt
    return CodingTables.from_model(load_hclt(name))


def ideal_bits(name: str, x: np.ndarray, batch: int = 1000) -> np.ndarray:
    """-log2 P(x) per row of ``x`` (N, 784) under weights ``name`` (float64 circuit, not the integer tables)."""
    import torch

    from ..weights import load_hclt
    model = load_hclt(name)
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
    options = (Option("threads", int, 0, "worker threads for independent 512-image chunks (0: up to 2)"),)

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

    def encode_batch(self, items: Sequence[Item], quality: int, options: Mapping[str, Any]) -> list[Encoded]:
        from ..models.hclt_coding import CODE_PREC, encode_tables, rans_encode
        tables = coding_tables(WEIGHTS[quality])
        x = self._pixels(items)

        def one(xc: np.ndarray) -> list[Encoded]:
            _, freq, start = encode_tables(tables, xc)
            ideal = (float(CODE_PREC) * freq.shape[1] - np.log2(freq).sum(axis=1)).tolist()
            return [Encoded(p, b) for p, b in zip(rans_encode(freq, start), ideal)]
        chunks = [x[s:s + CHUNK] for s in range(0, len(x), CHUNK)]
        return [e for part in _map_chunks(one, chunks, options.get("threads", 0)) for e in part]

    def decode_batch(self, payloads: Sequence[bytes], metas: Sequence[ItemMeta], quality: int) -> list[Item]:
        from ..models.hclt_coding import decode_pixels
        for m in metas:
            if m.numel != 784 or m.dtype != "uint8" or m.media != "image":
                raise CodecError(f"hclt: stored metadata {m.shape} {m.dtype} is not a 28x28 uint8 image")
        tables = coding_tables(WEIGHTS[quality])
        starts = list(range(0, len(payloads), CHUNK))
        parts = _map_chunks(lambda s: decode_pixels(tables, [bytes(p) for p in payloads[s:s + CHUNK]]), starts, 0)
        return [Item(pix[r].reshape(metas[s + r].shape), metas[s + r])
                for s, pix in zip(starts, parts) for r in range(len(pix))]

    def encode(self, item: Item, quality: int, options: Mapping[str, Any]) -> Encoded:
        return self.encode_batch([item], quality, options)[0]

    def decode(self, payload: bytes, meta: ItemMeta, quality: int) -> Item:
        return self.decode_batch([payload], [meta], quality)[0]
