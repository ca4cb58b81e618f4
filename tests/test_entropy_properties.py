"""Hypothesis property tests of the shared entropy layer (both backends).

Random symbol streams under random integer tables (peaked, near-deterministic, flat, with
zero-probability entries; alphabets 2..65536) must round-trip exactly, and the real size
must stay within 1% + 8 bytes of the ideal -sum log2 P. quantize_probs must not depend on
the batch a row sits in.
"""
from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ncodec.entropy import BACKENDS, EntropyDecoder, EntropyEncoder, quantize_logprobs, quantize_probs

SETTINGS = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True)
KINDS = ("dirichlet", "near_one", "near_zero", "uniform", "zipf")


def _probs(rng: np.random.Generator, kind: str, shape: tuple[int, ...]) -> np.ndarray:
    """Float probability tables of one family; rows are normalised loosely (quantize_probs rescales)."""
    k = shape[-1]
    if kind == "dirichlet":
        p = rng.gamma(rng.choice([0.05, 0.5, 5.0]), size=shape)
    elif kind == "near_one":                     # one symbol with p ~ 1 - 1e-9, the rest tiny
        p = np.full(shape, 1e-9 / k)
        idx = rng.integers(0, k, size=shape[:-1])
        np.put_along_axis(p, idx[..., None], 1.0 - 1e-9, -1)
    elif kind == "near_zero":                    # many entries at 1e-12 or exactly 0
        p = rng.random(shape) * (rng.random(shape) < 0.1)
        p[..., 0] += 1e-12
        p += 1e-12 * (rng.random(shape) < 0.5)
    elif kind == "uniform":
        p = np.ones(shape)
    else:                                        # heavy-tailed, like residual magnitudes
        p = 1.0 / (1.0 + np.arange(k)) ** rng.uniform(0.5, 3.0)
        p = np.broadcast_to(p, shape).copy()
    return p


def _sample(rng: np.random.Generator, pmf: np.ndarray, n: int) -> np.ndarray:
    """Symbols drawn from integer tables ((K,) shared or (n, K) per symbol)."""
    if pmf.ndim == 1:
        return rng.choice(pmf.shape[0], size=n, p=pmf / pmf.sum()).astype(np.int32)
    cdf = np.cumsum(pmf, axis=1)
    u = rng.integers(0, cdf[:, -1:], size=(n, 1))
    return (cdf <= u).sum(axis=1).astype(np.int32)


def _round_trip(backend: str, calls: list[tuple[np.ndarray, np.ndarray]]) -> tuple[bytes, float]:
    enc = EntropyEncoder(backend)
    for s, pmf in calls:
        enc.encode(s, pmf)
    data = enc.finish()
    dec = EntropyDecoder(data, backend)
    for s, pmf in calls:
        out = dec.decode(pmf, len(s)) if pmf.ndim == 1 else dec.decode(pmf)
        assert np.array_equal(out, s)
    return data, enc.ideal_bits


def _check_rate(data: bytes, ideal: float) -> None:
    real = 8 * len(data)
    assert real <= ideal * 1.01 + 64, (real, ideal)
    assert real >= ideal - 64, (real, ideal)       # nothing lost: the bits are really there


@settings(max_examples=80, **SETTINGS)
@given(seed=st.integers(0, 2 ** 32 - 1), log2k=st.integers(1, 16), n=st.integers(1, 3000),
       kind=st.sampled_from(KINDS), backend=st.sampled_from(BACKENDS))
def test_shared_table_round_trip_and_rate(seed, log2k, n, kind, backend):
    """One (K,) table for the whole stream; K anywhere in 2..65536."""
    rng = np.random.default_rng(seed)
    k = int(rng.integers(2 ** (log2k - 1) + 1, 2 ** log2k + 1)) if log2k > 1 else 2
    pmf = quantize_probs(_probs(rng, kind, (k,)))
    assert pmf.sum() == 1 << 24 and pmf.min() >= 1
    s = _sample(rng, pmf, n)
    data, ideal = _round_trip(backend, [(s, pmf)])
    _check_rate(data, ideal)


@settings(max_examples=60, **SETTINGS)
@given(seed=st.integers(0, 2 ** 32 - 1), k=st.integers(2, 300), n=st.integers(1, 1500),
       kind=st.sampled_from(KINDS), backend=st.sampled_from(BACKENDS))
def test_per_symbol_tables_round_trip_and_rate(seed, k, n, kind, backend):
    """A different (K,) table for every symbol, as network-driven codecs use."""
    rng = np.random.default_rng(seed)
    pmf = quantize_probs(_probs(rng, kind, (n, k)))
    s = _sample(rng, pmf, n)
    data, ideal = _round_trip(backend, [(s, pmf)])
    _check_rate(data, ideal)


@settings(max_examples=40, **SETTINGS)
@given(seed=st.integers(0, 2 ** 32 - 1), backend=st.sampled_from(BACKENDS),
       n_calls=st.integers(1, 6))
def test_improbable_symbols_and_mixed_calls(seed, backend, n_calls):
    """Any symbol in the alphabet round-trips, even ones the table makes ~2^-24 likely, across calls."""
    rng = np.random.default_rng(seed)
    calls = []
    for _ in range(n_calls):
        k = int(rng.choice([2, 3, 17, 256, 4099, 65536]))
        n = int(rng.integers(1, 400))
        kind = str(rng.choice(KINDS))
        if k <= 256 and rng.random() < 0.5:
            pmf = quantize_probs(_probs(rng, kind, (n, k)))
        else:
            pmf = quantize_probs(_probs(rng, kind, (k,)))
        s = rng.integers(0, k, size=n).astype(np.int32)          # uniform: ignores the table
        calls.append((s, pmf))
    data, ideal = _round_trip(backend, calls)
    assert 8 * len(data) <= ideal * 1.01 + 64 * n_calls


@settings(max_examples=60, **SETTINGS)
@given(seed=st.integers(0, 2 ** 32 - 1), rows=st.integers(1, 200), k=st.integers(1, 2000),
       kind=st.sampled_from(KINDS), precision=st.sampled_from([16, 24]),
       dtype=st.sampled_from([np.float32, np.float64]))
def test_quantize_probs_batch_invariant(seed, rows, k, kind, precision, dtype):
    """Row i's integers are the same alone, in the batch, in a permuted or re-split batch."""
    rng = np.random.default_rng(seed)
    if k > (1 << precision) // 2:
        k = (1 << precision) // 2
    p = _probs(rng, kind, (rows, k)).astype(dtype)
    full = quantize_probs(p, precision)
    assert full.dtype.kind == "i" and (full.sum(-1) == 1 << precision).all() and (full >= 1).all()
    perm = rng.permutation(rows)
    assert np.array_equal(quantize_probs(p[perm], precision), full[perm])
    cut = int(rng.integers(0, rows + 1))
    parts = [quantize_probs(p[:cut], precision), quantize_probs(p[cut:], precision)]
    assert np.array_equal(np.concatenate(parts), full)
    i = int(rng.integers(0, rows))
    assert np.array_equal(quantize_probs(p[i], precision), full[i])
    assert np.array_equal(quantize_probs(p.reshape(rows, 1, k), precision)[:, 0], full)


@settings(max_examples=30, **SETTINGS)
@given(seed=st.integers(0, 2 ** 32 - 1), rows=st.integers(1, 100), k=st.integers(2, 512))
def test_quantize_logprobs_batch_invariant(seed, rows, k):
    rng = np.random.default_rng(seed)
    logits = rng.normal(scale=rng.uniform(0.1, 30), size=(rows, k)).astype(np.float32)
    full = quantize_logprobs(logits)
    assert (full.sum(-1) == 1 << 24).all() and (full >= 1).all()
    assert np.array_equal(np.stack([quantize_logprobs(r) for r in logits]), full)
    order = np.argsort(-logits, axis=1, kind="stable")          # more likely logits never get fewer counts
    ranked = np.take_along_axis(full, order, 1)
    assert (np.diff(ranked, axis=1)[:, 1:] <= 0).all()
