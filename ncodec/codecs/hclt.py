"""``hclt``: lossless 28x28 grayscale images with a Hidden Chow-Liu Tree circuit (MNIST-style digits).

Quality selects the shipped weights: 1 = MNIST (default), 2 = Fashion-MNIST. Each image is one
independent record; many images are coded in lock-step batches. The codec drives the three stages:
the circuit's exact integer conditionals in DFS order (``ncodec.models.hclt_coding``), the shared
float->int step (``ncodec.entropy.quantize_probs``, 16-bit tables) and one batched rANS stream per
image (``ncodec.entropy.batched_ans``).
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Callable, Mapping, Sequence

import numpy as np

from ..errors import CodecError, UnsupportedInputError
from ..item import Item, ItemMeta
from .base import Codec, Encoded, Option, SelectableWeights, register

if TYPE_CHECKING:
    from ..models.hclt_coding import CodingTables

WEIGHTS = {1: "hclt_mnist", 2: "hclt_fashion_mnist"}
SHAPE = (28, 28)
CHUNK = 1024           # most images per lock-step batch: amortises numpy's per-call cost, stays in cache
                       # (payloads never depend on it)
MIN_SPLIT = 128        # a batch is split across worker threads only into chunks of at least this many
CODE_PREC = 16         # bits of the coded tables: a rANS stream started at state 0 wastes up to about this
                       # many bits per record; 16 instead of 24 saves ~0.01 bit/dim on MNIST at +0.0002 model cost


def _workers(threads: int) -> int:
    """Worker threads for option ``threads`` (0: up to 2)."""
    import os
    return max(1, threads or min(2, os.cpu_count() or 1))


def _chunks(n: int, workers: int) -> list[slice]:
    """Near-equal slices of ``n`` items: at most CHUNK each, and one per worker when each gets >= MIN_SPLIT."""
    if n <= 0:
        return []
    parts = max(1, -(-n // CHUNK), min(workers, n // MIN_SPLIT))
    return [slice(n * k // parts, n * (k + 1) // parts) for k in range(parts)]


def _map_chunks(fn: Callable[[Any], Any], chunks: list, workers: int) -> list:
    """fn over chunks, in order; on up to ``workers`` threads when there are several chunks."""
    n = max(1, min(workers, len(chunks)))
    if n == 1:
        return [fn(c) for c in chunks]
    from concurrent.futures import ThreadPoolExecutor
    with ThreadPoolExecutor(n) as pool:
        return list(pool.map(fn, chunks))


@lru_cache(maxsize=None)
def coding_tables(name: str) -> "CodingTables":
    """Integer CodingTables of shipped weights ``name`` (cached)."""
    from ..models.hclt_coding import CodingTables
    from ..weights import load_hclt
    return CodingTables.from_model(load_hclt(name))


@dataclass
class StageTimes:
    """Wall seconds per coding stage (circuit math / float->int tables / rANS), for benchmark reports.

    Each call gets its own object (threads never share one); ``add`` merges them afterwards.
    """

    model: float = 0.0
    quantize: float = 0.0
    rans: float = 0.0

    def add(self, other: "StageTimes") -> "StageTimes":
        self.model += other.model
        self.quantize += other.quantize
        self.rans += other.rans
        return self


def coded_freqs(tables: "CodingTables", x: np.ndarray, times: StageTimes | None = None
                ) -> tuple[np.ndarray, np.ndarray]:
    """(B, D) pixels -> the integer frequencies and cumulative starts (each (B, 2D), coding order) they are coded with.

    Each step's (B, 16) table goes through ``quantize_probs`` exactly as the decoder sees it (rows
    are independent, so the result does not depend on the batch).
    """
    from ..entropy import freq_start, quantize_probs
    from ..models.hclt_coding import symbols_of
    syms = np.ascontiguousarray(symbols_of(x, tables.order).T)       # (2D, B): one contiguous row per step
    n, b = syms.shape
    freq = np.empty((n, b), dtype=np.int64)
    start = np.empty((n, b), dtype=np.int64)
    tq = 0.0
    t0 = time.perf_counter()
    gen = tables.walk(b)
    tab = next(gen)
    for s in range(n):
        t1 = time.perf_counter()
        pmf = quantize_probs(tab, CODE_PREC)
        tq += time.perf_counter() - t1
        freq[s], start[s] = freq_start(pmf, syms[s])
        if s + 1 < n:
            tab = gen.send(syms[s])
    gen.close()
    if times is not None:
        times.model += time.perf_counter() - t0 - tq
        times.quantize += tq
    return freq.T, start.T


def encode_pixels(tables: "CodingTables", x: np.ndarray, times: StageTimes | None = None) -> list[Encoded]:
    """(B, D) pixels -> one payload per row, with the ideal bits of the integer tables it was coded with."""
    from ..entropy import ans_encode
    freq, start = coded_freqs(tables, x, times)
    rows = np.ascontiguousarray(freq)                                   # per-row sums: batch-invariant floats
    ideal = (float(CODE_PREC) * rows.shape[1] - np.log2(rows).sum(axis=1)).tolist()
    t0 = time.perf_counter()
    payloads = ans_encode(freq, start, CODE_PREC)
    if times is not None:
        times.rans += time.perf_counter() - t0
    return [Encoded(p, b) for p, b in zip(payloads, ideal)]


def decode_pixels(tables: "CodingTables", payloads: Sequence[bytes], times: StageTimes | None = None) -> np.ndarray:
    """Payloads -> (B, D) uint8 pixels in natural (not coding) order; CodecError for a damaged payload."""
    from ..entropy import BatchedAnsDecoder, quantize_probs
    from ..models.hclt_coding import NIB
    b, d = len(payloads), len(tables.order)
    t_start = time.perf_counter()
    dec = BatchedAnsDecoder(payloads, CODE_PREC, 2 * d)
    out = np.empty((2 * d, b), dtype=np.int64)                        # one contiguous row per step
    tq = tr = 0.0
    gen = tables.walk(b)
    tab = next(gen)
    for s in range(2 * d):
        t0 = time.perf_counter()
        pmf = quantize_probs(tab, CODE_PREC)
        t1 = time.perf_counter()
        out[s] = dec.decode(pmf)
        tq += t1 - t0
        tr += time.perf_counter() - t1
        if s + 1 < 2 * d:
            tab = gen.send(out[s])
    gen.close()
    dec.finish()
    if times is not None:
        times.model += time.perf_counter() - t_start - tq - tr
        times.quantize += tq
        times.rans += tr
    pix = np.empty((b, d), dtype=np.uint8)
    pix[:, tables.order] = (out[0::2] * NIB + out[1::2]).T.astype(np.uint8)
    return pix


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
class HCLTCodec(SelectableWeights, Codec):
    name = "hclt"
    media = "image"
    lossless = True
    qualities = (1, 2)
    default_quality = 1
    weights = tuple(WEIGHTS.values())
    description = "HCLT probabilistic circuit, lossless 28x28 uint8 (q1 MNIST, q2 Fashion-MNIST weights)"
    options = (Option("threads", int, 0,
                      "worker threads for independent chunks of up to 1024 images (0: up to 2)"),
               Option("weights", str, None, "weights name (ncodec list --weights) or path to a weight file; "
                                            "default: the shipped weights of the quality level"))

    def _weights(self, quality: int) -> str:
        return self.bound or WEIGHTS[quality]

    def model_id(self, quality: int) -> bytes:
        from ..weights import model_id
        return model_id(self._weights(quality))

    def for_model(self, model_id: bytes, quality: int) -> "HCLTCodec":
        return self if model_id == self.model_id(quality) else self.installed(model_id)

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

    def encode_batch(self, items: Sequence[Item], quality: int, options: Mapping[str, Any],
                     times: StageTimes | None = None) -> list[Encoded]:
        """One record per image, coded in lock-step chunks; ``times`` (optional) collects the stage split."""
        tables = coding_tables(self._weights(quality))
        x = self._pixels(items)

        def one(xc: np.ndarray) -> tuple[list[Encoded], StageTimes]:
            t = StageTimes()
            return encode_pixels(tables, xc, t), t
        workers = _workers(options.get("threads", 0))
        parts = _map_chunks(one, [x[c] for c in _chunks(len(x), workers)], workers)
        if times is not None:
            for _, t in parts:
                times.add(t)
        return [e for enc, _ in parts for e in enc]

    def decode_batch(self, payloads: Sequence[bytes], metas: Sequence[ItemMeta], quality: int,
                     times: StageTimes | None = None) -> list[Item]:
        """Images back from payloads, decoded in lock-step chunks; ``times`` (optional) collects the stage split."""
        if len(payloads) != len(metas):
            raise CodecError(f"hclt: {len(payloads)} payloads for {len(metas)} records")
        for m in metas:
            if m.numel != 784 or m.dtype != "uint8" or m.media != "image":
                raise CodecError(f"hclt: stored metadata {m.shape} {m.dtype} is not a 28x28 uint8 image")
        tables = coding_tables(self._weights(quality))

        def one(c: slice) -> tuple[np.ndarray, StageTimes]:
            t = StageTimes()
            return decode_pixels(tables, payloads[c], t), t
        workers = _workers(0)
        parts = _map_chunks(one, _chunks(len(payloads), workers), workers)
        if times is not None:
            for _, t in parts:
                times.add(t)
        pix = np.concatenate([p for p, _ in parts]) if parts else np.zeros((0, 784), np.uint8)
        return [Item(pix[r].reshape(m.shape), m) for r, m in enumerate(metas)]

    def encode(self, item: Item, quality: int, options: Mapping[str, Any]) -> Encoded:
        return self.encode_batch([item], quality, options)[0]

    def decode(self, payload: bytes, meta: ItemMeta, quality: int) -> Item:
        return self.decode_batch([payload], [meta], quality)[0]
