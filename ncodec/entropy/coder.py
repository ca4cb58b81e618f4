"""Stream entropy coders on top of constriction: one API, two backends.

``ans``   — constriction's stack (rANS) coder; encode calls are buffered and pushed in
            reverse at ``finish`` so decoding reads symbols in the order they were written.
``range`` — constriction's queue (range) coder; first in, first out natively.

Models are integer PMF tables (see ``tables``), either one table shared by all symbols of a
call, or one table per symbol. Payloads are the coder's 32-bit words in little-endian
order with trailing zero bytes dropped (the decoder pads them back), which saves up to 3
bytes per record.
"""
from __future__ import annotations

import numpy as np

from .._lazy import lazy_import
from ..errors import CodecError
from .tables import check_pmf, ideal_bits

constriction = lazy_import("constriction")

BACKENDS = ("ans", "range")
_MODEL = constriction.stream.model.Categorical(perfect=False)


def _model_args(pmf: np.ndarray, n: int):
    pmf = check_pmf(pmf)
    # float32 holds integers up to 2**24 exactly (our default precision) and halves memory traffic
    ftype = np.float32 if pmf.size and int(pmf.max()) <= 1 << 24 else np.float64
    if pmf.ndim == 1:
        return constriction.stream.model.Categorical(pmf.astype(np.float64), perfect=False), ()
    if pmf.ndim != 2 or pmf.shape[0] != n:
        raise ValueError(f"per-symbol PMF table must have shape ({n}, K), got {pmf.shape}")
    return _MODEL, (np.ascontiguousarray(pmf, dtype=ftype),)


def _words_to_bytes(words: np.ndarray) -> bytes:
    raw = np.asarray(words, dtype="<u4").tobytes()
    return raw.rstrip(b"\0")


def _bytes_to_words(data: bytes) -> np.ndarray:
    pad = (-len(data)) % 4
    return np.frombuffer(bytes(data) + b"\0" * pad, dtype="<u4").astype(np.uint32)


class EntropyEncoder:
    """Collects symbols with their integer models and produces one payload."""

    def __init__(self, backend: str = "ans", track_ideal: bool = True) -> None:
        """``track_ideal=False`` skips the -log2 P bookkeeping (``ideal_bits`` stays 0) for callers
        that count ideal bits themselves; it costs a table lookup and a log per call."""
        if backend not in BACKENDS:
            raise ValueError(f"unknown entropy backend {backend!r} (choose from {BACKENDS})")
        self.backend = backend
        self.track_ideal = track_ideal
        self._ops: list[tuple[np.ndarray, np.ndarray]] = []
        self._range = constriction.stream.queue.RangeEncoder() if backend == "range" else None
        self.ideal_bits = 0.0

    def encode(self, symbols: np.ndarray, pmf: np.ndarray) -> None:
        """Code ``symbols`` (ints in [0, K)) with a shared (K,) or per-symbol (n, K) integer PMF."""
        s = np.ascontiguousarray(np.asarray(symbols).reshape(-1), dtype=np.int32)
        if s.size == 0:
            return
        k = np.asarray(pmf).shape[-1]
        if s.min() < 0 or s.max() >= k:
            raise ValueError(f"symbol out of the model's alphabet [0, {k})")
        if self.track_ideal:
            self.ideal_bits += ideal_bits(s, pmf)
        if self._range is not None:
            model, args = _model_args(pmf, s.size)
            self._range.encode(s, model, *args)
        else:
            self._ops.append((s, np.asarray(pmf)))

    def encode_uniform(self, values: np.ndarray, nbits: int) -> None:
        """Code integers in [0, 2**nbits) at exactly nbits each (raw bits through the same stream)."""
        v = np.asarray(values, dtype=np.int64).reshape(-1)
        for shift in range(0, nbits, 8):
            width = min(8, nbits - shift)
            self.encode((v >> shift) & ((1 << width) - 1), np.ones(1 << width, dtype=np.int64))

    def finish(self) -> bytes:
        """Return the payload bytes; the encoder cannot be used afterwards."""
        if self._range is not None:
            return _words_to_bytes(self._range.get_compressed())
        ans = constriction.stream.stack.AnsCoder()
        for s, pmf in reversed(self._ops):
            model, args = _model_args(pmf, s.size)
            ans.encode_reverse(s, model, *args)
        return _words_to_bytes(ans.get_compressed())


class EntropyDecoder:
    """Reads back what an ``EntropyEncoder`` wrote, call for call, with the same models."""

    def __init__(self, data: bytes, backend: str = "ans") -> None:
        if backend not in BACKENDS:
            raise ValueError(f"unknown entropy backend {backend!r}")
        self.backend = backend
        words = _bytes_to_words(data)
        try:
            if backend == "range":
                self._coder = constriction.stream.queue.RangeDecoder(words)
            else:
                self._coder = constriction.stream.stack.AnsCoder(words)
        except Exception as exc:  # constriction rejects some malformed inputs at construction
            raise CodecError(f"entropy-coded payload is malformed: {exc}") from exc

    def decode(self, pmf: np.ndarray, n: int | None = None) -> np.ndarray:
        """Decode ``n`` symbols with a shared (K,) PMF, or len(pmf) symbols with per-symbol (n, K) PMFs."""
        pmf = np.asarray(pmf)
        if pmf.ndim == 2:
            n = pmf.shape[0] if n is None else n
        elif n is None:
            raise ValueError("n is required with a shared PMF")
        if n == 0:
            return np.zeros(0, dtype=np.int32)
        model, args = _model_args(pmf, n)
        try:
            if args:
                out = self._coder.decode(model, *args)
            else:
                out = self._coder.decode(model, n)
        except Exception as exc:
            raise CodecError(f"entropy-coded payload is malformed: {exc}") from exc
        return np.asarray(out, dtype=np.int32)

    def decode_uniform(self, n: int, nbits: int) -> np.ndarray:
        """Inverse of ``EntropyEncoder.encode_uniform``."""
        v = np.zeros(n, dtype=np.int64)
        for shift in range(0, nbits, 8):
            width = min(8, nbits - shift)
            v |= self.decode(np.ones(1 << width, dtype=np.int64), n).astype(np.int64) << shift
        return v
