"""Per-image adaptive post-filter (a Wiener / loop filter) for decoded 8-bit images.

Why: a learned synthesis is trained for all images at once; fitted to one image, a small linear filter on its
decoded pixels removes much of the blur and ringing that image has (0.5-0.7 dB at the lowest
``wavelet`` levels on Kodak) for a few dozen bytes -- quality bought with encoder compute, not training.

What: for each colour channel, a point-symmetric (2R+1)x(2R+1) FIR filter on that channel, plus the
co-located pixels of the other channels and a bias, fitted by least squares between the decoded and the
original image (normal equations on a ninth of the pixels), quantised to integers at 2^-S, and kept
only where its squared-error saving is worth its bits at the codec's rate-distortion trade-off. The
decoder applies it in exact integer arithmetic (a float32 convolution whose every partial sum is an
integer below 2^24), so the filtered bytes are the same on every machine.

Block layout (bits, MSB first, zero-padded to a whole byte):
  3 bits channel mask | 2 bits R-1 | 3 bits S-5 |
  per filtered channel: 3 bits Exp-Golomb order k, then signed Exp-Golomb(k) values (zigzag):
    centre - 2^S, the pair taps (half-plane offsets in raster order), the other channels' centres, bias.
A block with an empty mask is the single byte 0x00 (no filter).
"""
from __future__ import annotations

import numpy as np

from ..errors import CodecError

MAX_R = 3
S_CHOICES = (7, 8, 9, 10)
MAX_ABS = 1 << 15          # coefficient bound (and ``exact_range``: float32-exact convolution)
MAX_BIAS = 1 << 22
FIT_STEP = 3               # normal equations on every 3rd row and column


def _offsets(r: int) -> list[tuple[int, int]]:
    """Half-plane offsets of a (2r+1)^2 window, ordered so the taps of a smaller r come first."""
    offs = [(dy, dx) for dy in range(0, r + 1) for dx in range(-r, r + 1) if dy > 0 or dx > 0]
    return sorted(offs, key=lambda o: (max(abs(o[0]), abs(o[1])), o))


def _n_coeffs(r: int, channels: int) -> int:
    return 1 + len(_offsets(r)) + (channels - 1) + 1


def _features(img: np.ndarray, c: int, r: int, step: int = 1) -> list[np.ndarray]:
    """Feature planes (int32) of channel ``c`` in coefficient order, edge-extended at the borders,
    on every ``step``-th row and column."""
    h, w, ch = img.shape
    pad = np.pad(img[:, :, c].astype(np.int32), r, mode="edge")

    def at(dy: int, dx: int) -> np.ndarray:
        return pad[r + dy:r + dy + h:step, r + dx:r + dx + w:step]
    feats = [at(0, 0)] + [at(dy, dx) + at(-dy, -dx) for dy, dx in _offsets(r)]
    feats += [img[::step, ::step, o].astype(np.int32) for o in range(ch) if o != c]
    return feats


def apply_filter(img: np.ndarray, filters: dict[int, tuple[int, int, np.ndarray]]) -> np.ndarray:
    """``img`` (H, W, C) uint8 with channel c replaced by its filter (r, s, integer coefficients);
    all filters of one block share r and s.

    One float32 convolution: every product and partial sum is an integer below 2^24
    (``exact_range``), so the result is exact whatever order the convolution sums in."""
    import torch
    import torch.nn.functional as F
    if not filters:
        return img
    out = img.copy()
    ch = img.shape[2]
    chans = sorted(filters)
    r, s = filters[chans[0]][:2]
    k = np.zeros((len(chans), ch, 2 * r + 1, 2 * r + 1), np.float32)
    for i, c in enumerate(chans):
        coef = filters[c][2]
        k[i, c, r, r] = coef[0]
        for (dy, dx), v in zip(_offsets(r), coef[1:]):
            k[i, c, r + dy, r + dx] = k[i, c, r - dy, r - dx] = v
        for o, v in zip([o for o in range(ch) if o != c], coef[1 + len(_offsets(r)):-1]):
            k[i, o, r, r] = v
    x = torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1))).float()[None]
    with _one_thread():
        acc = F.conv2d(F.pad(x, (r, r, r, r), mode="replicate"), torch.from_numpy(k))[0].numpy()
    for i, c in enumerate(chans):
        v = acc[i].astype(np.int32) + np.int32(int(filters[c][2][-1]) + (1 << (s - 1)))
        out[:, :, c] = np.clip(v >> s, 0, 255).astype(np.uint8)
    return out


def _one_thread():
    """torch on one intra-op thread here (per CPU-second the fastest; values cannot change)."""
    from contextlib import contextmanager

    import torch

    @contextmanager
    def ctx():
        before = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            yield
        finally:
            torch.set_num_threads(before)
    return ctx()


def exact_range(coef: np.ndarray, r: int) -> bool:
    """Whether 255 * sum |tap| (pair taps count twice) stays below 2^24 (float32-exact convolution)."""
    n_pairs = len(_offsets(r))
    a = np.abs(np.asarray(coef[:-1], dtype=np.int64))
    return int(255 * (a[0] + 2 * a[1:1 + n_pairs].sum() + a[1 + n_pairs:].sum())) < (1 << 24)


# ------------------------------------------------------------------ bits
def _zigzag(v: np.ndarray) -> np.ndarray:
    return np.where(v >= 0, 2 * v, -2 * v - 1)


def _eg_bits(u: np.ndarray, k: int) -> int:
    q = (u >> k) + 1
    return int((2 * np.floor(np.log2(q)).astype(np.int64) + 1 + k).sum())


def _best_k(u: np.ndarray) -> tuple[int, int]:
    costs = [_eg_bits(u, k) for k in range(8)]
    k = int(np.argmin(costs))
    return k, costs[k]


class _Bits:
    def __init__(self) -> None:
        self.bits: list[int] = []

    def put(self, value: int, n: int) -> None:
        self.bits += [(value >> (n - 1 - i)) & 1 for i in range(n)]

    def eg(self, u: int, k: int) -> None:
        q = (u >> k) + 1
        nb = q.bit_length()
        self.put(0, nb - 1)
        self.put(q, nb)
        self.put(u & ((1 << k) - 1), k)

    def tobytes(self) -> bytes:
        return np.packbits(np.array(self.bits, dtype=np.uint8)).tobytes() if self.bits else b""


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.bits = np.unpackbits(np.frombuffer(data[:1024], dtype=np.uint8))
        self.pos = 0

    def get(self, n: int) -> int:
        if self.pos + n > len(self.bits):
            raise CodecError("wavelet: payload truncated inside the post-filter block")
        v = 0
        for b in self.bits[self.pos:self.pos + n]:
            v = (v << 1) | int(b)
        self.pos += n
        return v

    def eg(self, k: int) -> int:
        zeros = 0
        while self.get(1) == 0:
            zeros += 1
            if zeros > 24:
                raise CodecError("wavelet: corrupt post-filter block (Exp-Golomb prefix too long)")
        q = (1 << zeros) | self.get(zeros)
        return ((q - 1) << k) | self.get(k)


def pack(filters: dict[int, tuple[int, int, np.ndarray]], channels: int) -> bytes:
    """The block of ``filters`` (all with the same r and s); b"\\x00" for none."""
    if not filters:
        return b"\x00"
    r, s = next(iter(filters.values()))[:2]
    out = _Bits()
    mask = sum(1 << c for c in filters)
    out.put(mask, 3)
    out.put(r - 1, 2)
    out.put(s - 5, 3)
    for c in range(channels):
        if c in filters:
            u = _zigzag(_centred(filters[c][2], s))
            k, _ = _best_k(u)
            out.put(k, 3)
            for v in u:
                out.eg(int(v), k)
    return out.tobytes()


def _centred(w: np.ndarray, s: int) -> np.ndarray:
    d = np.asarray(w, dtype=np.int64).copy()
    d[0] -= 1 << s
    return d


def unpack(data: bytes, channels: int) -> tuple[dict[int, tuple[int, int, np.ndarray]], int]:
    """(filters, bytes used) of a block at the start of ``data``; CodecError if it is malformed."""
    if not data:
        raise CodecError("wavelet: payload truncated (no post-filter block)")
    rd = _Reader(data)
    mask, r, s = rd.get(3), rd.get(2) + 1, rd.get(3) + 5
    if mask >> channels:
        raise CodecError("wavelet: corrupt post-filter block (channel mask)")
    if mask and r > MAX_R:
        raise CodecError("wavelet: corrupt post-filter block (radius)")
    filters = {}
    n = _n_coeffs(r, channels)
    for c in range(channels):
        if not mask >> c & 1:
            continue
        k = rd.get(3)
        u = np.array([rd.eg(k) for _ in range(n)], dtype=np.int64)
        w = np.where(u % 2 == 0, u // 2, -(u + 1) // 2)
        w[0] += 1 << s
        if np.abs(w[:-1]).max() > MAX_ABS or abs(int(w[-1])) > MAX_BIAS or not exact_range(w, r):
            raise CodecError("wavelet: corrupt post-filter block (coefficient out of range)")
        filters[c] = (r, s, w)
    return filters, (rd.pos + 7) // 8


# ------------------------------------------------------------------ fitting
def fit(decoded: np.ndarray, original: np.ndarray, lam_bits_per_sse: float) -> dict[int, tuple[int, int, np.ndarray]]:
    """The filters worth sending: per channel, the (r, s) and coefficients that most reduce
    ``bits + lam_bits_per_sse * SSE`` (SSE in 8-bit units), estimated from the normal equations on a
    ninth of the pixels, kept only where the exact filtered SSE is lower by more than its bits."""
    from .._threads import one_blas_thread
    with one_blas_thread():
        return _fit(decoded, original, lam_bits_per_sse)


def _fit(decoded: np.ndarray, original: np.ndarray, lam_bits_per_sse: float) -> dict[int, tuple[int, int, np.ndarray]]:
    h, w, ch = decoded.shape
    if h * w < 64:
        return {}
    sub = (slice(0, None, FIT_STEP), slice(0, None, FIT_STEP))
    scale = (h * w) / float(decoded[sub].shape[0] * decoded[sub].shape[1])
    plans = []                        # per channel: {(r, s): (gain_bits, w)}
    for c in range(ch):
        feats = _features(decoded, c, MAX_R, FIT_STEP)
        x = np.stack([f.ravel() for f in feats] + [np.ones(feats[0].size, np.int32)], 1).astype(np.float64)
        t = original[:, :, c][sub].ravel().astype(np.float64)
        a, b = x.T @ x, x.T @ t
        d = t - x[:, 0]
        base = float(d @ d)
        options = {}
        for r in range(1, MAX_R + 1):
            sel = np.r_[0:1 + len(_offsets(r)), 1 + len(_offsets(MAX_R)):x.shape[1]]
            aa, bb = a[np.ix_(sel, sel)], b[sel]
            try:
                wr = np.linalg.solve(aa + 1e-6 * np.eye(len(sel)) * np.trace(aa) / len(sel), bb)
            except np.linalg.LinAlgError:
                continue
            for s in S_CHOICES:
                wq = np.round(wr * (1 << s)).astype(np.int64)
                if np.abs(wq[:-1]).max() > MAX_ABS or abs(wq[-1]) > MAX_BIAS or not exact_range(wq, r):
                    continue
                wf = wq / float(1 << s)
                sse = float(wf @ aa @ wf - 2 * bb @ wf + t @ t)
                bits = _best_k(_zigzag(_centred(wq, s)))[1] + 3
                options[(r, s)] = (lam_bits_per_sse * (base - sse) * scale - bits, wq)
        plans.append(options)
    best, best_gain = {}, 0.0
    for key in {k for p in plans for k in p}:          # one (r, s) for the whole block
        gain = sum(max(p[key][0], 0.0) for p in plans if key in p) - 8
        if gain > best_gain:
            best_gain = gain
            best = {c: (key[0], key[1], p[key][1]) for c, p in enumerate(plans) if key in p and p[key][0] > 0}
    if not best:
        return {}
    out = apply_filter(decoded, best)
    keep = {}
    for c, f in best.items():           # exact check on every pixel
        e0 = original[:, :, c].astype(np.int64) - decoded[:, :, c]
        e1 = original[:, :, c].astype(np.int64) - out[:, :, c]
        bits = _best_k(_zigzag(_centred(f[2], f[1])))[1] + 3
        if lam_bits_per_sse * float((e0 * e0).sum() - (e1 * e1).sum()) > bits:
            keep[c] = f
    return keep
