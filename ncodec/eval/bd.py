"""Bjøntegaard deltas between two rate–quality curves: BD-rate (% rate change at equal quality)
and BD-quality (dB at equal rate), with piecewise cubic (pchip) interpolation in the log-rate domain.

Uses the maintained ``bjontegaard`` package when installed (the same method); our own pchip
integration is the fallback and the cross-check in the tests.
"""
from __future__ import annotations

import math
import warnings
from typing import Sequence

import numpy as np


def monotone_curve(rates: Sequence[float], quality: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    """Points sorted by rate, keeping only those where quality strictly increases with rate
    (BD integration needs a monotone curve; dominated points are dropped), NaN/None dropped."""
    pts = sorted((float(r), float(q)) for r, q in zip(rates, quality)
                 if r is not None and q is not None and r > 0 and math.isfinite(float(r)) and math.isfinite(float(q)))
    out: list[tuple[float, float]] = []
    for r, q in pts:
        if out and r == out[-1][0]:
            if q > out[-1][1]:
                out[-1] = (r, q)
            continue
        if not out or q > out[-1][1]:
            out.append((r, q))
    arr = np.array(out, dtype=np.float64).reshape(-1, 2)
    return arr[:, 0], arr[:, 1]


def _pchip_mean(x: np.ndarray, y: np.ndarray, lo: float, hi: float) -> float:
    from scipy.interpolate import PchipInterpolator
    return float(PchipInterpolator(x, y).integrate(lo, hi) / (hi - lo))


def _bd(xa: np.ndarray, ya: np.ndarray, xt: np.ndarray, yt: np.ndarray) -> float:
    """Mean of (test - anchor) over the overlap of x, each curve a pchip of y(x)."""
    lo, hi = max(xa.min(), xt.min()), min(xa.max(), xt.max())
    if not hi > lo:
        return math.nan
    return _pchip_mean(xt, yt, lo, hi) - _pchip_mean(xa, ya, lo, hi)


def _package():
    try:
        import bjontegaard
        return bjontegaard
    except Exception:  # not installed: our own implementation below is the same method
        return None


def bd_rate(rate_anchor: Sequence[float], q_anchor: Sequence[float], rate_test: Sequence[float],
            q_test: Sequence[float], use_package: bool = True) -> float:
    """Average rate difference of test vs anchor at equal quality, in percent (negative = fewer bits).

    NaN when a curve has fewer than 2 usable points or the quality ranges do not overlap.
    """
    ra, qa = monotone_curve(rate_anchor, q_anchor)
    rt, qt = monotone_curve(rate_test, q_test)
    if len(ra) < 2 or len(rt) < 2 or not min(qa.max(), qt.max()) > max(qa.min(), qt.min()):
        return math.nan
    pkg = _package() if use_package else None
    if pkg is not None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return float(pkg.bd_rate(ra, qa, rt, qt, method="pchip", require_matching_points=False,
                                     min_overlap=0))
    d = _bd(qa, np.log10(ra), qt, np.log10(rt))
    return (10.0 ** d - 1.0) * 100.0


def bd_quality(rate_anchor: Sequence[float], q_anchor: Sequence[float], rate_test: Sequence[float],
               q_test: Sequence[float], use_package: bool = True) -> float:
    """Average quality difference (e.g. BD-PSNR in dB) of test vs anchor at equal rate."""
    ra, qa = monotone_curve(rate_anchor, q_anchor)
    rt, qt = monotone_curve(rate_test, q_test)
    if len(ra) < 2 or len(rt) < 2:
        return math.nan
    la, lt = np.log10(ra), np.log10(rt)
    if not min(la.max(), lt.max()) > max(la.min(), lt.min()):
        return math.nan
    pkg = _package() if use_package else None
    if pkg is not None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return float(pkg.bd_psnr(ra, qa, rt, qt, method="pchip", require_matching_points=False,
                                     min_overlap=0))
    return _bd(la, qa, lt, qt)


def bd_table(curves: dict[str, tuple[list[float], list[float]]], anchor: str) -> list[dict]:
    """BD-rate and BD-quality of every curve against ``anchor``: one dict per codec."""
    if anchor not in curves:
        from ..errors import InputError
        raise InputError(f"anchor {anchor!r} has no curve (have: {', '.join(curves) or 'none'})")
    ra, qa = curves[anchor]
    rows = []
    for name, (r, q) in curves.items():
        rows.append({"codec": name, "points": len(r), "bd_rate_pct": bd_rate(ra, qa, r, q),
                     "bd_quality": bd_quality(ra, qa, r, q)})
    return rows
