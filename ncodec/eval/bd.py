"""Bjøntegaard deltas between two rate–quality curves: BD-rate (% rate change at equal quality)
and BD-quality (dB at equal rate), by the maintained ``bjontegaard`` package (piecewise cubic,
pchip, interpolation in the log-rate domain). The only BD code in ncodec: reports and
benchmarks call these functions.
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


def _overlap(a: np.ndarray, b: np.ndarray) -> bool:
    return len(a) >= 2 and len(b) >= 2 and min(a.max(), b.max()) > max(a.min(), b.min())


def _package(fn: str, ra, qa, rt, qt) -> float:
    import bjontegaard
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return float(getattr(bjontegaard, fn)(ra, qa, rt, qt, method="pchip", require_matching_points=False,
                                              min_overlap=0))


def bd_rate(rate_anchor: Sequence[float], q_anchor: Sequence[float], rate_test: Sequence[float],
            q_test: Sequence[float]) -> float:
    """Average rate difference of test vs anchor at equal quality, in percent (negative = fewer bits).

    NaN when a curve has fewer than 2 usable points or the quality ranges do not overlap.
    """
    ra, qa = monotone_curve(rate_anchor, q_anchor)
    rt, qt = monotone_curve(rate_test, q_test)
    return _package("bd_rate", ra, qa, rt, qt) if _overlap(qa, qt) else math.nan


def bd_quality(rate_anchor: Sequence[float], q_anchor: Sequence[float], rate_test: Sequence[float],
               q_test: Sequence[float]) -> float:
    """Average quality difference (e.g. BD-PSNR in dB) of test vs anchor at equal rate.

    NaN when a curve has fewer than 2 usable points or the rate ranges do not overlap.
    """
    ra, qa = monotone_curve(rate_anchor, q_anchor)
    rt, qt = monotone_curve(rate_test, q_test)
    return _package("bd_psnr", ra, qa, rt, qt) if _overlap(np.log10(ra), np.log10(rt)) else math.nan


def bd_table(curves: dict[str, tuple[list[float], list[float]]], anchor: str) -> list[dict]:
    """BD-rate and BD-quality of every curve against ``anchor``: one dict per codec."""
    if anchor not in curves:
        from ..errors import InputError
        raise InputError(f"anchor {anchor!r} has no curve (have: {', '.join(curves) or 'none'})")
    ra, qa = curves[anchor]
    return [{"codec": name, "points": len(r), "bd_rate_pct": bd_rate(ra, qa, r, q), "bd_quality": bd_quality(ra, qa, r, q)}
            for name, (r, q) in curves.items()]


def bd_rows(points: Sequence[dict], dataset: str, anchor: str) -> list[dict]:
    """BD-rate vs ``anchor`` on PSNR (and MS-SSIM where measured), and BD-PSNR, for one data set's
    curves of 2+ levels (aggregated points, ``sweep.aggregate``); [] when the anchor has no curve."""
    from .sweep import curves
    cps = {k: v for k, v in curves(points, "psnr", dataset).items() if len(v[0]) >= 2}
    if anchor not in cps:
        return []
    rows = {r["codec"]: {"codec": r["codec"], "points": r["points"], "bd_rate_psnr": r["bd_rate_pct"],
                         "bd_psnr": r["bd_quality"]} for r in bd_table(cps, anchor)}
    cms = {k: v for k, v in curves(points, "ms_ssim", dataset).items() if len(v[0]) >= 2}
    if anchor in cms:
        for r in bd_table(cms, anchor):
            if r["codec"] in rows:
                rows[r["codec"]]["bd_rate_msssim"] = r["bd_rate_pct"]
    return list(rows.values())
