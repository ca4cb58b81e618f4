"""The interlaced integer flow for whole photos: exact integer arithmetic, any image size.

A photo is rebuilt from one pixel by halving the lattice step: at step ``s`` (``h = s/2``) the
pixels at (s·i + h, s·j + h) come first (pass ``D``, from the four diagonal lattice points and a
ring around them), then (s·i, s·j + h) (pass ``H``) and (s·i + h, s·j) (pass ``V``, which also
sees the ``H`` pixels). Each pass is an additive coupling layer of an integer discrete flow:
the coded value is ``x - predict(known pixels)`` folded modulo 256, so the map is bijective and
every pass decodes in parallel. Channels are coded G, R, B per pass, and a later channel's
predictor also sees the earlier channels' prediction errors at the same pixel.

Everything the decoder computes is exact integer arithmetic (gathers, dot products of small
integers with Q12 integer weights, shifts, a lookup table), so a file decodes to the same bytes on any machine, thread
count or batch. Neighbours outside the image are clamped onto its border rows and columns,
whose pixels not yet coded hold the value of the lattice point before them (refreshed at the
start of each step).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import numpy as np

IRLS = 1                   # reweighting rounds of the least-squares fit
QBITS = 12                 # predictor weights are integers in units of 2**-12
WMAX = (1 << 15) - 1       # |weight| bound: sums of <= 24 terms x 255 x 2**15 stay exact in float64
PASSES = ("D", "H", "V")
CLASSES = 24               # activity classes per (pass, channel, level group)
ACT_CAP = 4095
RING_DIV = 4               # outer neighbours' spread weighs 1/RING_DIV (a power of two: exact)
SIGNED = 4                 # nearest neighbours whose signed coding errors are predictor features
WEIGHT_LEVELS = 6          # shipped default weights per level up to 5; coarser levels share level 5
BUCKET_EDGES = np.array([9, 14])     # activity classes where the predictor buckets start
BUCKETS = len(BUCKET_EDGES) + 1      # smooth, textured, edge

# neighbour offsets in units of h, nearest four first (they define the activity)
OFFSETS: dict[str, tuple[tuple[int, int], ...]] = {
    "D": ((-1, -1), (-1, 1), (1, -1), (1, 1),
          (-1, -3), (-1, 3), (1, -3), (1, 3), (-3, -1), (-3, 1), (3, -1), (3, 1)),
    "H": ((0, -1), (0, 1), (-1, 0), (1, 0),
          (0, -3), (0, 3), (-2, -1), (-2, 1), (2, -1), (2, 1), (-1, -2), (-1, 2), (1, -2), (1, 2)),
    "V": ((-1, 0), (1, 0), (0, -1), (0, 1),
          (-3, 0), (3, 0), (-1, -2), (1, -2), (-1, 2), (1, 2), (-2, -1), (-2, 1), (2, -1), (2, 1),
          (-1, -1), (-1, 1), (1, -1), (1, 1)),
}


def _class_lut() -> np.ndarray:
    """class(a) = min(CLASSES-1, floor(3 log2(1 + a))), computed with exact integer comparisons."""
    a = np.arange(ACT_CAP + 1, dtype=np.int64)
    cls = np.zeros(a.shape, dtype=np.uint8)
    for c in range(1, CLASSES):
        # 2**(c/3) <= 1 + a  <=>  2**c <= (1 + a)**3
        cls[(1 + a) ** 3 >= (1 << c)] = c
    return cls


CLASS_LUT = _class_lut()


def n_features(pass_name: str, channel: int) -> int:
    """Weights of one stage: the same-channel neighbours, one per earlier channel (its error at
    the pixel), and the signed coding errors of the SIGNED nearest neighbours."""
    return len(OFFSETS[pass_name]) + channel + SIGNED


def levels(h: int, w: int) -> int:
    """Number of halving steps from the single base pixel to the full image."""
    return max(0, int(np.ceil(np.log2(max(h, w, 1)))))


@dataclass(frozen=True)
class Stage:
    """One pass of one step: pixel rows/cols it codes, its step and its level from the finest."""

    pass_name: str
    step: int
    level: int              # 0 = the finest step (h = 1)
    rows: np.ndarray
    cols: np.ndarray

    @property
    def count(self) -> int:
        return len(self.rows) * len(self.cols)


def stages(h: int, w: int) -> Iterator[Stage]:
    """The passes in coding order (coarse to fine), skipping empty ones."""
    n = levels(h, w)
    for lev in reversed(range(n)):
        s = 2 << lev
        half = s // 2
        spans = {"D": (half, half), "H": (0, half), "V": (half, 0)}
        for p in PASSES:
            r0, c0 = spans[p]
            st = Stage(p, s, lev, np.arange(r0, h, s), np.arange(c0, w, s))
            if st.count:
                yield st


def refresh(known: np.ndarray, step: int) -> None:
    """In place, at the start of a step: the border rows and columns (where clamped neighbours
    land) take the value of the lattice point (step-aligned) before them, so a clamped neighbour
    not yet coded reads a coded one. Inside the image every neighbour is a coded pixel."""
    _, h, w = known.shape
    for axis, n in ((1, h), (2, w)):
        for line in (0, n - 1):
            src = known[:, (line // step) * step] if axis == 1 else known[:, :, (line // step) * step]
            lat = src[:, ::step]
            filled = np.repeat(lat, step, axis=1)[:, :src.shape[1]]
            if axis == 1:
                known[:, line] = filled
            else:
                known[:, :, line] = filled


def neighbours(known: np.ndarray, ch: int, st: Stage, count: int | None = None,
               out: np.ndarray | None = None) -> np.ndarray:
    """(k, N) same-channel neighbour values of the stage's pixels (the first ``count``
    offsets, default all), clamped onto the image; written into the first rows of ``out``
    when given (e.g. a float64 feature matrix)."""
    _, h, w = known.shape
    half = st.step // 2
    plane = known[ch]
    offs = OFFSETS[st.pass_name][:count]
    if out is None:
        out = np.empty((len(offs), st.count), dtype=plane.dtype)
    for k, (dy, dx) in enumerate(offs):
        r = np.minimum(np.maximum(st.rows + dy * half, 0), h - 1)     # (np.clip's wrapper costs more
        c = np.minimum(np.maximum(st.cols + dx * half, 0), w - 1)     #  than these small arrays)
        out[k] = plane.take(r, axis=0).take(c, axis=1).reshape(-1)
    return out


def features(known: np.ndarray, signed: np.ndarray, ch: int, st: Stage, errors: list[np.ndarray]) -> np.ndarray:
    """Predictor features of the stage's pixels as a float64 (n_features, N) matrix of small
    integers (so products with integer weights are exact, see ``predict``): the neighbours'
    values, the earlier channels' errors at the pixel, the nearest neighbours' signed errors
    (``signed``: the planes of coding errors, like ``known``)."""
    k = len(OFFSETS[st.pass_name])
    out = np.empty((k + len(errors) + SIGNED, st.count), dtype=np.float64)
    neighbours(known, ch, st, out=out)
    for i, e in enumerate(errors):
        out[k + i] = e
    neighbours(signed, ch, st, SIGNED, out=out[k + len(errors):])
    return out


def predict(feats: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Integer predictions clip(floor((w . f + 2**(QBITS-1)) / 2**QBITS), 0, 255) for each weight
    row: ``weights`` (k,) -> (N,), (B, k) -> (B, N), as int32.

    The product runs in float64 BLAS, yet is exact: every term and partial sum is an integer
    below 2**53 (|w| < 2**15, |f| <= 255, <= 24 terms), so no order of summation, thread count
    or machine can change it, and scaling by 2**-QBITS is exact too."""
    w = np.asarray(weights, dtype=np.float64)
    acc = w @ feats
    pred = np.floor((acc + float(1 << (QBITS - 1))) * (1.0 / (1 << QBITS)))
    return np.minimum(np.maximum(pred, 0.0), 255.0).astype(np.int32)


def spread(feats: np.ndarray, pass_name: str, n_errors: int) -> np.ndarray:
    """The channel's own part of the activity (float64 holding integers): the spread of the four
    nearest neighbours (the first rows of ``feats``) and, 1/RING_DIV as much, of the outer
    ones, plus the nearest four's absolute coding errors. Exact: sums of small integers and
    floors of divisions by powers of two."""
    k = len(OFFSETS[pass_name])
    near = feats[:4]
    tot = near.sum(axis=0)
    out = np.floor(np.abs(4 * near - tot).sum(axis=0) * 0.25)
    out += np.floor(np.abs(4 * feats[4:k] - tot).sum(axis=0) * (1.0 / (4 * RING_DIV)))
    out += np.abs(feats[k + n_errors:k + n_errors + 4]).sum(axis=0)
    return out


def classes(own: np.ndarray, errors: list[np.ndarray]) -> np.ndarray:
    """Context class (uint8) per pixel: ``spread`` plus twice the earlier channels' absolute
    errors at the pixel, through the log-spaced class table."""
    a = own.copy() if errors else own
    for e in errors:
        a += 2 * np.abs(e)
    return CLASS_LUT[np.minimum(a, ACT_CAP).astype(np.int32)]


def activity(feats: np.ndarray, pass_name: str, errors: list[np.ndarray]) -> np.ndarray:
    """Context class (uint8) per pixel of a stage (``spread`` then ``classes``)."""
    return classes(spread(feats, pass_name, len(errors)), errors)


def fold(x: np.ndarray, pred: np.ndarray) -> np.ndarray:
    """Symbols in [0, 256): (x - pred) folded modulo 256 and centred (the coupling's output)."""
    return (x - pred + 128) & 255


def unfold(sym: np.ndarray, pred: np.ndarray) -> np.ndarray:
    """Inverse of ``fold``."""
    return (pred + sym - 128) & 255


def fit_weights(feats: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Least-squares predictor weights for one stage, as clipped Q12 integers (encoder side only:
    the decoder reads the integers, so float details here never affect decoding)."""
    t = target.astype(np.float64)
    ridge = 1e-3 * np.eye(feats.shape[0])
    try:
        w = np.linalg.solve(feats @ feats.T + ridge, feats @ t)
        for _ in range(IRLS):       # reweighted towards least absolute error (errors are Laplace-like)
            r = 1.0 / np.maximum(np.abs(t - w @ feats), 1.0)
            fw = feats * r
            w = np.linalg.solve(fw @ feats.T + ridge, fw @ t)
    except np.linalg.LinAlgError:
        w = np.linalg.lstsq(feats.T, t, rcond=None)[0]
    w = np.where(np.isfinite(w), w, 0.0)
    return np.clip(np.round(w * (1 << QBITS)), -WMAX, WMAX).astype(np.int64)


@dataclass
class PhotoModel:
    """The shipped parts: a bank of (T, 256) integer PMFs for the folded errors and the default
    predictor weights (BUCKETS, k) per (level, pass, channel), levels >= WEIGHT_LEVELS - 1 shared."""

    bank: np.ndarray
    weights: dict[tuple[int, str, int], np.ndarray]
    cost: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.bank = np.asarray(self.bank, dtype=np.int64)
        if self.bank.ndim != 2 or self.bank.shape[1] != 256 or not 1 <= len(self.bank) <= 256 or self.bank.min() < 1:
            raise ValueError("table bank must be (T <= 256, 256) positive integer PMFs")
        self.cost = -np.log2(self.bank / self.bank.sum(axis=1, keepdims=True))   # bits per symbol
        self.plain = {}
        for key, w in interpolation_defaults().items():
            self.plain[key] = np.broadcast_to(w, (BUCKETS, len(w))).copy()
            w = np.asarray(self.weights[key], dtype=np.int64)
            if w.shape[-1] != len(self.plain[key][0]):
                raise ValueError(f"photo flow weights {key}: {w.shape[-1]} features, this version uses "
                                 f"{len(self.plain[key][0])} (retrain: ncodec train flow-photo)")
            self.weights[key] = np.broadcast_to(w.reshape(-1, w.shape[-1]), (BUCKETS, len(self.plain[key][0]))).copy()

    def default(self, level: int, pass_name: str, ch: int) -> np.ndarray:
        """Trained default weights of a stage, one row per bucket: (BUCKETS, k)."""
        return self.weights[(min(level, WEIGHT_LEVELS - 1), pass_name, ch)]

    def bases(self, level: int, pass_name: str, ch: int) -> list[np.ndarray]:
        """The weights a stage can use without sending any: the trained defaults (mode 0) and
        plain interpolation (mode 1, better on smooth photos than defaults fitted to many)."""
        key = (min(level, WEIGHT_LEVELS - 1), pass_name, ch)
        return [self.weights[key], self.plain[key]]

    def save(self, path: str | Path) -> None:
        arrays = {f"w_{lev}_{p}_{ch}": w for (lev, p, ch), w in self.weights.items()}
        np.savez_compressed(path, bank=self.bank, **arrays)

    @classmethod
    def load(cls, path: str | Path) -> "PhotoModel":
        with np.load(path, allow_pickle=False) as z:
            weights = {}
            for key in z.files:
                if key.startswith("w_"):
                    _, lev, p, ch = key.split("_")
                    weights[(int(lev), p, int(ch))] = z[key]
            return cls(z["bank"], weights)


def interpolation_defaults() -> dict[tuple[int, str, int], np.ndarray]:
    """Untrained weights: the mean of the four nearest neighbours, plus the first earlier
    channel's error for colour (the starting point the trainer refines)."""
    out = {}
    for lev in range(WEIGHT_LEVELS):
        for p in PASSES:
            for ch in range(3):
                w = np.zeros(n_features(p, ch), dtype=np.int64)
                w[:4] = 1 << (QBITS - 2)
                if ch:
                    w[len(OFFSETS[p])] = 1 << QBITS
                out[(lev, p, ch)] = w
    return out
