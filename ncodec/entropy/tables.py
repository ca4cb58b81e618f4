"""Integer probability tables: the one shared float->integer step, and ideal-rate accounting.

Encoder and decoder must build bit-identical tables. ``quantize_probs`` guarantees that
each row's integers depend only on that row's float values (never on the batch it sits
in, the thread count or summation order): it uses only element-wise float operations
and exact integer arithmetic.
"""
from __future__ import annotations

import numpy as np

DEFAULT_PRECISION = 24   # constriction's stream coders work at 24-bit probability precision
_SNAP_BITS = 30          # relative resolution kept from the float inputs


def quantize_probs(probs: np.ndarray, precision: int = DEFAULT_PRECISION) -> np.ndarray:
    """Float probabilities (..., K), any positive scale per row, -> int64 PMFs summing to 2**precision.

    Every symbol gets at least 1 (so every symbol stays codable); rows are processed
    independently with element-wise ops + integer sums, hence batch- and thread-invariant.
    """
    p = np.asarray(probs, dtype=np.float64)
    if p.ndim == 0 or p.shape[-1] < 1:
        raise ValueError("probability table needs a last axis of length >= 1")
    k = p.shape[-1]
    total = 1 << precision
    if k > total // 2:
        raise ValueError(f"alphabet of {k} symbols too large for {precision}-bit tables")
    if p.ndim == 2 and p.T.flags.c_contiguous and p.shape[0] >= _JIT_MIN_ROWS:
        return _jit_columns()(p.T, precision).T
    p = np.where(np.isfinite(p) & (p > 0), p, 0.0)
    rowmax = p.max(axis=-1, keepdims=True)             # max is exact, order-independent
    rowmax = np.where(rowmax > 0, rowmax, 1.0)
    w = np.floor(p / rowmax * float(1 << _SNAP_BITS)).astype(np.int64)
    w_sum = w.sum(axis=-1, keepdims=True)              # exact integer sum
    w_sum = np.where(w_sum > 0, w_sum, 1)
    free = total - k
    # floor(w * free / w_sum) without int64 overflow: w < 2^30, free < 2^24.
    pmf = (w * free) // w_sum + 1
    deficit = total - pmf.sum(axis=-1)
    idx = np.argmax(pmf, axis=-1)
    np.put_along_axis(pmf, idx[..., None], np.take_along_axis(pmf, idx[..., None], -1) + deficit[..., None], -1)
    return pmf


_JIT_MIN_ROWS = 256      # below this the numpy path is fast enough, and a process spares numba's ~1 s start-up


def _jit_columns():
    """The compiled twin of ``quantize_probs`` for state-major (K, B) tables (built on first use).

    Same element-wise IEEE operations in the same order (no fastmath; truncation of a non-negative
    value is its floor) and exact integer arithmetic (the floor division goes through a float
    quotient that is then corrected by +-1 with integers), so its integers equal the numpy path's
    bit for bit (``tests/test_entropy_tables.py``). ~7x faster on (16, 1024) tables: the hclt coder
    calls it 1568 times per batch.
    """
    global _JIT
    if _JIT is None:
        import numba

        @numba.njit(cache=True, nogil=True)
        def quantize_columns(pt, precision):
            k, n = pt.shape
            total = 1 << precision
            free = total - k
            snap = float(1 << _SNAP_BITS)
            m = np.zeros(n)
            for j in range(k):
                for b in range(n):
                    v = pt[j, b]
                    if v > 0.0 and v < np.inf and v > m[b]:
                        m[b] = v
            for b in range(n):
                if not m[b] > 0.0:
                    m[b] = 1.0
            w = np.empty((k, n), dtype=np.int64)
            for j in range(k):
                for b in range(n):
                    v = pt[j, b]
                    v = v if (v > 0.0 and v < np.inf) else 0.0
                    w[j, b] = np.int64(v / m[b] * snap)
            ws = np.zeros(n, dtype=np.int64)
            for j in range(k):
                for b in range(n):
                    ws[b] += w[j, b]
            for b in range(n):
                if ws[b] <= 0:
                    ws[b] = 1
            out = np.empty((k, n), dtype=np.int64)
            if precision + _SNAP_BITS <= 52:      # w * free < 2**52: a float quotient, corrected to the exact floor
                r = np.empty(n)
                for b in range(n):
                    r[b] = 1.0 / ws[b]
                for j in range(k):
                    for b in range(n):
                        num = w[j, b] * free
                        q = np.int64(num * r[b])
                        rem = num - q * ws[b]
                        if rem < 0:
                            q -= 1
                        elif rem >= ws[b]:
                            q += 1
                        out[j, b] = q + 1
            else:
                for j in range(k):
                    for b in range(n):
                        out[j, b] = (w[j, b] * free) // ws[b] + 1
            tot = np.zeros(n, dtype=np.int64)
            best = np.zeros(n, dtype=np.int64)
            bq = out[0].copy()
            for j in range(k):
                for b in range(n):
                    tot[b] += out[j, b]
            for j in range(1, k):
                for b in range(n):
                    if out[j, b] > bq[b]:
                        bq[b] = out[j, b]
                        best[b] = j
            for b in range(n):
                out[best[b], b] += total - tot[b]
            return out
        _JIT = quantize_columns
    return _JIT


_JIT = None


def quantize_logprobs(logp: np.ndarray, precision: int = DEFAULT_PRECISION) -> np.ndarray:
    """Like ``quantize_probs`` but from (unnormalised) log-probabilities, e.g. network logits."""
    lp = np.asarray(logp, dtype=np.float64)
    lp = lp - lp.max(axis=-1, keepdims=True)
    return quantize_probs(np.exp(lp), precision)


def check_pmf(pmf: np.ndarray) -> np.ndarray:
    """Validate an integer PMF table (..., K): non-negative ints, equal power-of-two row sums."""
    pmf = np.asarray(pmf)
    if pmf.dtype.kind not in "iu":
        raise TypeError("PMF tables must be integer arrays; use quantize_probs on floats")
    if (pmf < 0).any():
        raise ValueError("PMF tables must be non-negative")
    return pmf


def ideal_bits(symbols: np.ndarray, pmf: np.ndarray) -> float:
    """Exact ideal code length -sum log2 P(symbol) under integer tables ((K,) shared or (n, K))."""
    pmf = np.asarray(pmf)
    s = np.asarray(symbols, dtype=np.int64).reshape(-1)
    if pmf.ndim == 1:
        p = pmf[s].astype(np.float64) / float(pmf.sum())
    else:
        pmf = pmf.reshape(-1, pmf.shape[-1])
        p = pmf[np.arange(len(s)), s].astype(np.float64) / pmf.sum(axis=-1).astype(np.float64)
    return float(-np.log2(p).sum())
