"""The one home of every measure ncodec reports: PSNR, MS-SSIM, SNR, segmental SNR, rate units,
and their averages over items.

Rates always come from real file bytes (8 * len(file)); ``rate_units`` only picks the
denominator. This module imports numpy alone (torch only inside ``ms_ssim``), so the CLI's
summary line can use it without loading torch or scipy.
"""
from __future__ import annotations

import math
from typing import Iterable, Mapping, Sequence

import numpy as np

from ..item import Item

MSSIM_WIN = 11          # pytorch-msssim's default Gaussian window
MSSIM_MIN_WIN = 3       # smallest window we still call MS-SSIM (sides > 32 px)
SEG_FRAME = 256         # samples per segment of the segmental SNR
SEG_CLIP = (-10.0, 35.0)   # per-segment SNR clipped to this range (dB), as is usual for speech
# Distortion fields a round-trip row may carry; psnr/snr are inf for an exact item.
DISTORTIONS = ("psnr", "ms_ssim", "snr", "seg_snr", "mse")
_INF_WHEN_EXACT = ("psnr", "snr")


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
    """Peak signal-to-noise ratio in dB over all samples (inf when identical); the peak defaults
    to the full scale of ``a``'s dtype."""
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


def seg_snr(a: np.ndarray, b: np.ndarray, frame: int = SEG_FRAME) -> float:
    """Segmental SNR in dB: the SNR of each ``frame``-sample segment, clipped to [-10, 35] dB,
    averaged over segments (NaN for a clip shorter than one segment). Tracks audible quality
    better than the global SNR, which loud passages dominate."""
    x = a.astype(np.float64).reshape(-1)
    e = x - b.astype(np.float64).reshape(-1)
    n = len(x) // frame
    if n == 0:
        return math.nan
    ps = (x[:n * frame].reshape(n, frame) ** 2).sum(1)
    pe = (e[:n * frame].reshape(n, frame) ** 2).sum(1)
    s = 10 * np.log10((ps + 1e-10) / (pe + 1e-10))
    return float(np.clip(s, *SEG_CLIP).mean())


def mssim_window(height: int, width: int) -> int | None:
    """Gaussian window MS-SSIM can use on an image this size (5 scales need side > 16*(win-1)), or None."""
    side = min(height, width)
    win = MSSIM_WIN
    while win >= MSSIM_MIN_WIN and side <= 16 * (win - 1):
        win -= 2
    return win if win >= MSSIM_MIN_WIN else None


def ms_ssim(a: np.ndarray, b: np.ndarray, peak: float | None = None) -> float | None:
    """MS-SSIM (pytorch-msssim, channels averaged) of two (H, W[, C]) images, or the mean over
    frames of two (T, H, W, C) clips; None if the frames are too small.

    Frames with a side <= 160 px use a smaller Gaussian window (down to 3); below 33 px it is None.
    """
    if a.ndim not in (2, 3, 4):
        return None
    h, w = (a.shape[1], a.shape[2]) if a.ndim == 4 else (a.shape[0], a.shape[1])
    win = mssim_window(h, w)
    if win is None:
        return None
    import torch
    from pytorch_msssim import ms_ssim as _ms_ssim
    peak = peak_of(a.dtype) if peak is None else peak

    def t(x: np.ndarray) -> torch.Tensor:
        x = x[..., None] if x.ndim == 2 else x
        x = x[None] if x.ndim == 3 else x
        return torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)).permute(0, 3, 1, 2)
    with torch.no_grad():
        return float(_ms_ssim(t(a), t(b), data_range=peak, win_size=win, size_average=True))


def rate_units(items: Item | Sequence[Item], media: str | None = None) -> tuple[int, str]:
    """Units a rate of these items is counted in, and their name: pixels (bpp) for images and
    video frames, samples (bits/sample, every channel) for audio, elements otherwise.

    ``media`` counts the items as that kind (default: the items' own kind).
    """
    its = [items] if isinstance(items, Item) else list(items)
    if not its:
        return 0, "bits/element"
    kind = media or its[0].meta.media
    if kind == "image":
        return sum(it.meta.shape[0] * it.meta.shape[1] for it in its), "bpp"
    if kind == "video":
        return sum(it.meta.shape[0] * it.meta.shape[1] * it.meta.shape[2] for it in its), "bpp"
    total = sum(it.meta.numel for it in its)
    return total, ("bits/sample" if kind == "audio" else "bits/element")


def distortion(orig: Item, dec: Item) -> dict:
    """The distortion fields of one decoded item (keys depend on the media kind); ``exact`` is
    bit-exact equality, and psnr/snr are inf for an exact item."""
    a, b = orig.data, dec.data
    out: dict = {"exact": bool(a.shape == b.shape and a.dtype == b.dtype and np.array_equal(a, b))}
    if a.shape != b.shape:
        out["error"] = f"decoded shape {b.shape} differs from input {a.shape}"
        return out
    media = orig.meta.media
    if media in ("image", "video", "audio"):
        out["psnr"] = psnr(a, b)
    if media in ("image", "video"):
        out["ms_ssim"] = ms_ssim(a, b)
    elif media == "audio":
        out["snr"] = snr(a, b)
        out["seg_snr"] = seg_snr(a, b)
    elif a.dtype.kind in "uifb":
        out["mse"] = mse(a, b)
    return out


def mean_distortion(parts: Iterable[Mapping]) -> dict:
    """Distortion averaged over parts: single-item dicts (``distortion``) or rows of ``n`` items.

    Each metric is the mean over the items where it is finite, weighted by item count (an exact
    item has no finite PSNR/SNR: it counts in ``exact_items`` instead); inf when only exact items
    had the metric, None when no item had it. Also returns ``exact_items``.
    """
    parts = list(parts)
    out: dict = {"exact_items": sum(_exact_count(p) for p in parts)}
    for key in DISTORTIONS:
        num = den = 0.0
        seen_inf = False
        for p in parts:
            v = p.get(key)
            if v is None or (isinstance(v, float) and math.isnan(v)):
                continue
            if not math.isfinite(v):
                seen_inf = seen_inf or v > 0
                continue
            w = _count(p) - (_exact_count(p) if key in _INF_WHEN_EXACT else 0)
            num, den = num + float(v) * w, den + w
        if den > 0:
            out[key] = num / den
        elif seen_inf:
            out[key] = math.inf
        elif any(key in p for p in parts):
            out[key] = None
    return out


def _count(part: Mapping) -> int:
    return int(part.get("n") or 1)


def _exact_count(part: Mapping) -> int:
    if part.get("exact_items") is not None:
        return int(part["exact_items"])
    return _count(part) if part.get("exact") else 0
