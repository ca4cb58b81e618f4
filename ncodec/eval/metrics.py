"""Distortion and rate metrics for one original/decoded pair: PSNR, MS-SSIM, SNR, rate units.

Rates always come from real file bytes (8 * len(file)); these helpers only pick the denominator.
"""
from __future__ import annotations

import math

import numpy as np

from ..item import Item

MSSIM_WIN = 11          # pytorch-msssim's default Gaussian window
MSSIM_MIN_WIN = 3       # smallest window we still call MS-SSIM (sides > 32 px)


def peak_of(dtype: np.dtype | str) -> float:
    """Largest value of an integer sample type (255 for uint8); 1.0 for floats."""
    dt = np.dtype(dtype)
    if dt.kind == "u":
        return float(np.iinfo(dt).max)
    if dt.kind == "i":
        return float(np.iinfo(dt).max) + 1.0   # audio: full scale 32768 for int16
    return 1.0


def mse(a: np.ndarray, b: np.ndarray) -> float:
    """Mean squared error in float64 (shapes must match)."""
    if a.shape != b.shape:
        raise ValueError(f"shape mismatch {a.shape} vs {b.shape}")
    d = a.astype(np.float64) - b.astype(np.float64)
    return float(np.mean(d * d)) if d.size else 0.0


def psnr(a: np.ndarray, b: np.ndarray, peak: float | None = None) -> float:
    """Peak signal-to-noise ratio in dB over all samples (inf when identical)."""
    peak = peak_of(a.dtype) if peak is None else peak
    m = mse(a, b)
    return math.inf if m == 0 else 10.0 * math.log10(peak * peak / m)


def snr(a: np.ndarray, b: np.ndarray) -> float:
    """Signal-to-noise ratio in dB (signal power over error power; inf when identical)."""
    m = mse(a, b)
    p = float(np.mean(a.astype(np.float64) ** 2)) if a.size else 0.0
    if m == 0:
        return math.inf
    return -math.inf if p == 0 else 10.0 * math.log10(p / m)


def mssim_window(height: int, width: int) -> int | None:
    """Gaussian window MS-SSIM can use on an image this size (5 scales need side > 16*(win-1)), or None."""
    side = min(height, width)
    win = MSSIM_WIN
    while win >= MSSIM_MIN_WIN and side <= 16 * (win - 1):
        win -= 2
    return win if win >= MSSIM_MIN_WIN else None


def ms_ssim(a: np.ndarray, b: np.ndarray, peak: float | None = None) -> float | None:
    """MS-SSIM (pytorch-msssim, channels averaged) of two (H, W[, C]) images; None if too small.

    Images with a side <= 160 px use a smaller Gaussian window (down to 3); below 33 px it is None.
    """
    import torch
    from pytorch_msssim import ms_ssim as _ms_ssim
    if a.ndim not in (2, 3):
        return None
    win = mssim_window(a.shape[0], a.shape[1])
    if win is None:
        return None
    peak = peak_of(a.dtype) if peak is None else peak

    def t(x: np.ndarray) -> torch.Tensor:
        x = x[..., None] if x.ndim == 2 else x
        return torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)).permute(2, 0, 1).unsqueeze(0)
    with torch.no_grad():
        return float(_ms_ssim(t(a), t(b), data_range=peak, win_size=win, size_average=True))


def rate_denominator(item: Item) -> tuple[int, str]:
    """Units a rate is counted in: pixels (bpp) for images/video, samples for audio, elements otherwise."""
    m = item.meta
    if m.media == "image":
        return m.shape[0] * m.shape[1], "bpp"
    if m.media == "video":
        return m.shape[0] * m.shape[1] * m.shape[2], "bpp"
    if m.media == "audio":
        return m.shape[0], "bits/sample"
    return m.numel, "bits/element"


def distortion(orig: Item, dec: Item) -> dict:
    """The distortion fields a sweep row records for one pair (keys depend on media kind)."""
    a, b = orig.data, dec.data
    out: dict = {"exact": bool(a.shape == b.shape and a.dtype == b.dtype and np.array_equal(a, b))}
    if a.shape != b.shape:
        out["error"] = f"decoded shape {b.shape} differs from input {a.shape}"
        return out
    if orig.meta.media in ("image", "video"):
        out["psnr"] = _finite(psnr(a, b))
        if orig.meta.media == "image":
            out["ms_ssim"] = ms_ssim(a, b)
    elif orig.meta.media == "audio":
        out["psnr"] = _finite(psnr(a, b))
        out["snr"] = _finite(snr(a, b))
    else:
        out["mse"] = mse(a, b) if a.dtype.kind in "uif" else None
    return out


def _finite(x: float) -> float | None:
    """JSON has no inf: exact reconstructions are recorded as None plus ``exact: true``."""
    return x if math.isfinite(x) else None
