"""Quantized continuous families (Gaussian, Laplace, logistic) as indexed integer tables.

A *scale table* lists the standard deviations a model may use; each scale becomes one
integer PMF over the integers around zero (mean removed by the caller), so a network's
float scale is snapped to a table index before coding: encoder and decoder agree exactly.
"""
from __future__ import annotations

import numpy as np


from .indexed import IndexedTables
from .tables import quantize_probs

FAMILIES = ("gaussian", "laplace", "logistic")


def default_scale_table(lo: float = 0.11, hi: float = 256.0, n: int = 64) -> np.ndarray:
    """Log-spaced scales, as compressai's GaussianConditional uses by default."""
    return np.exp(np.linspace(np.log(lo), np.log(hi), n))


def _cdf(family: str, x: np.ndarray, scale: float) -> np.ndarray:
    if family == "gaussian":
        from scipy.special import ndtr   # deferred: scipy.special costs ~0.1 s to import
        return ndtr(x / scale)
    if family == "laplace":
        b = scale / np.sqrt(2.0)
        return np.where(x < 0, 0.5 * np.exp(np.minimum(x, 0) / b), 1 - 0.5 * np.exp(-np.maximum(x, 0) / b))
    if family == "logistic":
        s = scale * np.sqrt(3.0) / np.pi
        return 1.0 / (1.0 + np.exp(-x / s))
    raise ValueError(f"unknown family {family!r} (choose from {FAMILIES})")


def family_tables(family: str, scale_table: np.ndarray, tail_mass: float = 1e-9,
                  precision: int = 16) -> IndexedTables:
    """One zero-mean integer PMF per scale, covering +-the tail bound, plus an overflow bin."""
    pmfs, offsets = [], []
    for scale in np.asarray(scale_table, dtype=np.float64):
        r = 1
        while _cdf(family, np.array(-r - 0.5), scale) > tail_mass / 2 and r < 1 << 16:
            r *= 2
        lo, hi = -r, r
        x = np.arange(lo, hi + 1, dtype=np.float64)
        p = _cdf(family, x + 0.5, scale) - _cdf(family, x - 0.5, scale)
        p = np.append(p, max(tail_mass, 1.0 - p.sum()))
        pmfs.append(quantize_probs(p, precision))
        offsets.append(lo)
    return IndexedTables(pmfs, np.array(offsets))


def scale_indexes(scales: np.ndarray, scale_table: np.ndarray) -> np.ndarray:
    """Index of the smallest table scale >= each scale (clamped), computed element-wise in float64."""
    s = np.asarray(scales, dtype=np.float64)
    table = np.asarray(scale_table, dtype=np.float64)
    return np.searchsorted(table, s, side="left").clip(0, len(table) - 1).astype(np.int64)
