"""``hclt``: lossless 28x28 grayscale images with a Hidden Chow-Liu Tree circuit (MNIST-style digits).

Quality selects the shipped weights: 1 = MNIST (default), 2 = Fashion-MNIST. Two record shapes:

- one (28, 28) image: its own rANS stream (an archive of such records lets ``extract`` reach each);
- a stack, a (N, 28, 28) tensor of up to ``STACK_LIMIT`` images (how the API stores an image stack):
  one record whose images share ``LANES`` chained rANS streams (``ncodec.entropy.lanes``), so the
  per-stream start/end bytes and the archive's per-record index are paid once per lane, not per image.

Many images are coded in lock-step batches either way. The codec drives the three stages:
the circuit's exact integer conditionals in DFS order (``ncodec.models.hclt_coding``), the shared
float->int step (``ncodec.entropy.quantize_probs``, 16-bit tables) and the batched rANS
(``ncodec.entropy.batched_ans``): one stream per single image, one per lane of a stack.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Callable, Mapping, Sequence

import numpy as np

from .._threads import one_blas_thread
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
LANES = 1024          # chained streams of a stack record (its lock-step batch when decoding)
STACK_LIMIT = 16384   # most images in one stack record (12.8 M pixels: inside the default decode limits)
CODE_PREC = 16         # bits of the coded tables: a rANS stream started at state 0 wastes up to about this
                       # many bits per record; 16 instead of 24 saves ~0.01 bit/dim on MNIST at +0.0002 model cost


def _workers(threads: int) -> int:
    """Worker threads for option ``threads`` (0: one).

    The coding loop is ~1568 small numpy steps per batch and holds the GIL between them: two threads
    ran no faster by the wall clock and cost ~20% more CPU (MNIST 10k stack: 778 vs 926 images per
    CPU-second), so more than one is only an explicit choice."""
    return max(1, threads or 1)


def _chunks(n: int, workers: int) -> list[slice]:
    """Near-equal slices of ``n`` items: at most CHUNK each, and one per worker when each gets >= MIN_SPLIT."""
    if n <= 0:
        return []
    parts = max(1, -(-n // CHUNK), min(workers, n // MIN_SPLIT))
    return [slice(n * k // parts, n * (k + 1) // parts) for k in range(parts)]


def _map_chunks(fn: Callable[[Any], Any], chunks: list, workers: int) -> list:
    """fn over chunks, in order, with one BLAS thread; on up to ``workers`` threads when there are several chunks."""
    n = max(1, min(workers, len(chunks)))
    with one_blas_thread():
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
    freq = np.empty((n, b), dtype=np.uint32)          # 16-bit tables: 4 bytes halve the traffic of a
    start = np.empty((n, b), dtype=np.uint32)         # 10k-image stack's (N, 1568) arrays
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
    """Payloads (one stream per image) -> (B, D) uint8 pixels in natural order; CodecError for a damaged payload."""
    from ..entropy import BatchedAnsDecoder
    b, d = len(payloads), len(tables.order)
    t0 = time.perf_counter()
    dec = BatchedAnsDecoder(payloads, CODE_PREC, 2 * d)
    if times is not None:
        times.rans += time.perf_counter() - t0
    (coded,) = _decode_rounds(tables, dec, [b], b, times)
    dec.finish()
    return _natural(tables, coded)


def _pmf_padded(pmf: np.ndarray, lanes: int) -> np.ndarray:
    """(B, 16) integer PMFs widened to (lanes, 16) with uniform rows for lanes that sit out a round."""
    from ..models.hclt_coding import NIB
    b = pmf.shape[0]
    if b == lanes:
        return pmf
    full = np.full((NIB, lanes), (1 << CODE_PREC) // NIB, dtype=pmf.dtype)
    full[:, :b] = pmf.T
    return full.T


def _decode_rounds(tables: "CodingTables", dec: Any, sizes: Sequence[int], lanes: int,
                   times: StageTimes | None) -> list[np.ndarray]:
    """Decode lock-step rounds: round r walks the circuit for lanes 0 .. sizes[r]-1 and returns their
    (sizes[r], D) pixels in coding order (symbol pairs joined)."""
    from ..entropy import quantize_probs
    from ..models.hclt_coding import NIB
    d = len(tables.order)
    rounds = []
    tq = tr = 0.0
    t_start = time.perf_counter()
    for size in sizes:
        out = np.empty((2 * d, size), dtype=np.int64)                 # one contiguous row per step
        gen = tables.walk(size)
        tab = next(gen)
        for s in range(2 * d):
            t0 = time.perf_counter()
            pmf = _pmf_padded(quantize_probs(tab, CODE_PREC), lanes)
            t1 = time.perf_counter()
            out[s] = dec.decode(pmf)[:size]
            tq += t1 - t0
            tr += time.perf_counter() - t1
            if s + 1 < 2 * d:
                tab = gen.send(out[s])
        gen.close()
        rounds.append((out[0::2] * NIB + out[1::2]).T)
    if times is not None:
        times.model += time.perf_counter() - t_start - tq - tr
        times.quantize += tq
        times.rans += tr
    return rounds


def _natural(tables: "CodingTables", coded: np.ndarray) -> np.ndarray:
    """(B, D) pixels in coding order -> uint8 pixels in natural order."""
    pix = np.empty(coded.shape, dtype=np.uint8)
    pix[:, tables.order] = coded
    return pix


def encode_stack(tables: "CodingTables", x: np.ndarray, workers: int = 1,
                 times: StageTimes | None = None) -> Encoded:
    """(N, D) pixels -> one payload: image i in chained lane i % L (``ncodec.entropy.lanes``)."""
    from ..entropy import ans_encode, lanes
    n = len(x)

    def one(c: slice) -> tuple[np.ndarray, np.ndarray, StageTimes]:
        t = StageTimes()
        return (*coded_freqs(tables, x[c], t), t)
    parts = _map_chunks(one, _chunks(n, workers), workers)
    if times is not None:
        for *_, t in parts:
            times.add(t)
    if not parts:
        return Encoded(b"", 0.0)
    freq = np.concatenate([f for f, _, _ in parts])
    start = np.concatenate([c for _, c, _ in parts])
    ideal = float((float(CODE_PREC) * freq.shape[1] - np.log2(freq).sum(axis=1)).sum())
    n_lanes = lanes.lane_count(n, LANES)
    lane_freq, counts = lanes.to_lanes(freq, n_lanes)
    lane_start, _ = lanes.to_lanes(start, n_lanes)
    t0 = time.perf_counter()
    payload = lanes.join(ans_encode(lane_freq, lane_start, CODE_PREC, counts))
    if times is not None:
        times.rans += time.perf_counter() - t0
    return Encoded(payload, ideal)


def decode_stack(tables: "CodingTables", payload: bytes, n: int, times: StageTimes | None = None) -> np.ndarray:
    """Inverse of ``encode_stack``: (N, D) uint8 pixels, all lanes in one lock-step batch.

    One thread on purpose: two half-width lane groups doubled the per-step overhead and fought over
    the GIL (MNIST 10k: 677 images per CPU-second on two threads, 1468 on one, and no faster by the
    wall clock either)."""
    from ..entropy import BatchedAnsDecoder, lanes
    d = len(tables.order)
    n_lanes = lanes.lane_count(n, LANES)
    dec = BatchedAnsDecoder(lanes.split(payload, n_lanes), CODE_PREC, lanes.lane_messages(n, n_lanes) * (2 * d))
    coded = np.empty((n, d), dtype=np.uint8)                             # pixel values, coding order
    with one_blas_thread():
        rounds = _decode_rounds(tables, dec, lanes.round_sizes(n, n_lanes), n_lanes, times)
    for r, rows in enumerate(rounds):
        coded[r * n_lanes:r * n_lanes + len(rows)] = rows
    dec.finish()
    return _natural(tables, coded)


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
                      "worker threads for independent chunks of up to 1024 single images (0: one; the loop "
                      "is GIL-bound, so more cost CPU without gaining speed)"),
               Option("weights", str, None, "weights name (ncodec list --weights) or path to a weight file; "
                                            "default: the shipped weights of the quality level"))

    def _weights(self, quality: int) -> str:
        return self.bound or WEIGHTS[quality]

    def model_id(self, quality: int) -> bytes:
        from ..weights import model_id
        return model_id(self._weights(quality))

    def for_model(self, model_id: bytes, quality: int) -> "HCLTCodec":
        return self if model_id == self.model_id(quality) else self.installed(model_id)

    stack_limit = STACK_LIMIT          # the API keeps image stacks whole (split into records of this many)

    @classmethod
    def accepts_stack(cls, data: np.ndarray) -> bool:
        """True for an (N, 28, 28[, 1]) uint8 array: coded as chained-lane stack records."""
        return cls._is_stack(data.shape, data.dtype, "tensor")

    @staticmethod
    def _is_stack(shape: Sequence[int], dtype: Any, media: str) -> bool:
        return (media == "tensor" and str(dtype) == "uint8" and len(shape) in (3, 4) and shape[0] >= 1
                and tuple(shape[1:3]) == SHAPE and (len(shape) == 3 or shape[3] == 1))

    def check(self, item: Item) -> None:
        d = item.data
        if self._is_stack(d.shape, d.dtype, item.meta.media):
            if d.shape[0] > STACK_LIMIT:
                raise UnsupportedInputError(f"hclt: a stack record holds at most {STACK_LIMIT} images, "
                                            f"got {d.shape[0]} (the API splits larger stacks)")
            return
        Codec.check(self, item)
        if d.ndim == 3 and d.shape[2] == 1:
            d = d[..., 0]
        if d.shape != SHAPE or d.dtype != np.uint8:
            raise UnsupportedInputError(
                f"hclt: needs {SHAPE[0]}x{SHAPE[1]} uint8 grayscale images (or an (N, 28, 28) uint8 stack), "
                f"got shape {item.data.shape} {item.data.dtype}")

    def encode_batch(self, items: Sequence[Item], quality: int, options: Mapping[str, Any],
                     times: StageTimes | None = None) -> list[Encoded]:
        """Stacks: one chained-lane payload each; single images: one stream each, coded in lock-step
        chunks. ``times`` (optional) collects the stage split."""
        for it in items:
            self.check(it)
        tables = coding_tables(self._weights(quality))
        workers = _workers(options.get("threads", 0))
        out: list[Encoded | None] = [None] * len(items)
        stacks = [self._is_stack(it.data.shape, it.data.dtype, it.meta.media) for it in items]
        for k, it in enumerate(items):
            if stacks[k]:
                out[k] = encode_stack(tables, it.data.reshape(len(it.data), -1), workers, times)
        single = [k for k in range(len(items)) if not stacks[k]]
        if single:
            x = np.stack([items[k].data.reshape(-1) for k in single])

            def one(xc: np.ndarray) -> tuple[list[Encoded], StageTimes]:
                t = StageTimes()
                return encode_pixels(tables, xc, t), t
            parts = _map_chunks(one, [x[c] for c in _chunks(len(x), workers)], workers)
            if times is not None:
                for _, t in parts:
                    times.add(t)
            for k, e in zip(single, [e for enc, _ in parts for e in enc]):
                out[k] = e
        return out  # type: ignore[return-value]

    def decode_batch(self, payloads: Sequence[bytes], metas: Sequence[ItemMeta], quality: int,
                     times: StageTimes | None = None) -> list[Item]:
        """Items back from payloads (stacks lane by lane, single images in lock-step chunks); ``times``
        (optional) collects the stage split."""
        if len(payloads) != len(metas):
            raise CodecError(f"hclt: {len(payloads)} payloads for {len(metas)} records")
        stacks = [self._is_stack(m.shape, m.dtype, m.media) for m in metas]
        for m, st in zip(metas, stacks):
            if st and m.shape[0] > STACK_LIMIT:
                raise CodecError(f"hclt: stored stack of {m.shape[0]} images exceeds {STACK_LIMIT}")
            if not st and (m.numel != 784 or m.dtype != "uint8" or m.media != "image"):
                raise CodecError(f"hclt: stored metadata {m.shape} {m.dtype} is not a 28x28 uint8 image "
                                 "or an (N, 28, 28) uint8 stack")
        tables = coding_tables(self._weights(quality))
        workers = _workers(0)
        out: list[Item | None] = [None] * len(metas)
        for k, m in enumerate(metas):
            if stacks[k]:
                pix = decode_stack(tables, payloads[k], int(m.shape[0]), times)
                out[k] = Item(pix.reshape(m.shape), m)
        single = [k for k in range(len(metas)) if not stacks[k]]
        sp = [payloads[k] for k in single]

        def one(c: slice) -> tuple[np.ndarray, StageTimes]:
            t = StageTimes()
            return decode_pixels(tables, sp[c], t), t
        parts = _map_chunks(one, _chunks(len(sp), workers), workers)
        if times is not None:
            for _, t in parts:
                times.add(t)
        pix = np.concatenate([p for p, _ in parts]) if parts else np.zeros((0, 784), np.uint8)
        for r, k in enumerate(single):
            out[k] = Item(pix[r].reshape(metas[k].shape), metas[k])
        return out  # type: ignore[return-value]

    def encode(self, item: Item, quality: int, options: Mapping[str, Any]) -> Encoded:
        return self.encode_batch([item], quality, options)[0]

    def decode(self, payload: bytes, meta: ItemMeta, quality: int) -> Item:
        return self.decode_batch([payload], [meta], quality)[0]
