"""Per-image adaptive post-filter (a Wiener / loop filter) for decoded 8-bit images.

Why: a learned synthesis is trained for all images at once; fitted to one image, small linear filters
on its decoded pixels remove part of the blur and ringing that image has -- quality bought with encoder
compute, not training, for some dozens of bytes.

What: the decoded pixels are split into up to 6 activity classes (a 5x5 box sum of the luma gradient,
integer arithmetic; the encoder sends the class thresholds). For each class and colour channel a
point-symmetric (2R+1)x(2R+1) FIR filter on that channel, plus the co-located pixels of the other
channels and a bias, is fitted by least squares between the decoded and the original image (normal
equations on a ninth of the pixels, every 3rd row and column: 3 is prime to the 8-pixel packet
blocks), quantised to integers at 2^-S, and kept only where its squared-error saving is worth its bits
at the codec's rate-distortion trade-off. The decoder applies the filters in exact integer arithmetic
(a float32 convolution whose every partial sum is an integer below 2^24), so the filtered bytes are
the same on every machine.

Block layout (bits, MSB first, zero-padded to a whole byte); the single byte 0x00 means no filter:
  1 bit 1 | 3 bits classes-1 | 2 bits R-1 | 3 bits S-5 |
  classes-1 thresholds, increasing, as Exp-Golomb(6) of their differences |
  per class: a channel mask (1 bit per channel) |
  per (class, masked channel): 3 bits Exp-Golomb order k, then signed Exp-Golomb(k) values (zigzag):
    centre - 2^S, the pair taps (half-plane offsets, nearer rings first), the other channels' centres, bias.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

from ..errors import CodecError

MAX_R = 3
BINS = 12                  # activity quantile bins of the fit; a class count must divide it
CLASS_COUNTS = (1, 2, 3, 4, 6)   # classes the encoder tries, each a union of adjacent bins
S_CHOICES = (7, 8, 9, 10)
MAX_ABS = 1 << 15          # coefficient bound (and ``exact_range``: float32-exact convolution)
MAX_BIAS = 1 << 22
MAX_ACTIVITY = 1 << 20     # a 5x5 sum of |gradient| of R+G+B stays below 25 * 1530
FIT_STEP = 3               # normal equations on every 3rd row and column
THRESH_K = 6
MAX_BLOCK = 8192           # bytes; the largest valid block (8 classes x 3 channels of 7x7 filters at
                           # MAX_ABS) is under 4 kB, so a reader never needs more of the payload


@dataclass
class Block:
    """One image's post-filter: class thresholds, radius, precision and the (class, channel) filters."""

    thresholds: list[int] = field(default_factory=list)
    r: int = 1
    s: int = 8
    filters: dict[tuple[int, int], np.ndarray] = field(default_factory=dict)

    @property
    def classes(self) -> int:
        return len(self.thresholds) + 1


@lru_cache(maxsize=None)
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


def activity(img: np.ndarray) -> np.ndarray:
    """Integer activity per pixel: the 5x5 box sum of |horizontal| + |vertical| central differences
    of the channel sum (edge-extended)."""
    y = img.astype(np.int64).sum(2)
    p = np.pad(y, 1, mode="edge")
    g = np.abs(p[1:-1, 2:] - p[1:-1, :-2]) + np.abs(p[2:, 1:-1] - p[:-2, 1:-1])
    c = np.pad(g, 2, mode="edge").cumsum(0).cumsum(1)
    c = np.pad(c, ((1, 0), (1, 0)))
    return c[5:, 5:] - c[:-5, 5:] - c[5:, :-5] + c[:-5, :-5]


def classes_of(img: np.ndarray, thresholds: list[int], act: np.ndarray | None = None) -> np.ndarray:
    """Class index per pixel: how many thresholds its activity (``act``, else computed) reaches."""
    if not thresholds:
        return np.zeros(img.shape[:2], np.int64)
    return np.searchsorted(np.asarray(thresholds), activity(img) if act is None else act, side="right")


def apply_filter(img: np.ndarray, block: Block, act: np.ndarray | None = None) -> np.ndarray:
    """``img`` (H, W, C) uint8 with each (class, channel) filter of ``block`` applied to its pixels.

    Per channel one float32 convolution (the window taps of all its class filters as output
    channels; every product and partial sum is an integer below 2^24, ``exact_range``, so it is
    exact whatever order it sums in), then the other channels' centre taps and the bias in int32."""
    import torch
    import torch.nn.functional as F

    from .._threads import one_torch_thread
    if not block.filters:
        return img
    out = img.copy()
    ch, r, s = img.shape[2], block.r, block.s
    offs = _offsets(r)
    cls = classes_of(img, block.thresholds, act)
    x = torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1))).float()[None]
    for c in range(ch):
        keys = [key for key in sorted(block.filters) if key[1] == c]
        if not keys:
            continue
        k = np.zeros((len(keys), 1, 2 * r + 1, 2 * r + 1), np.float32)
        for i, key in enumerate(keys):
            coef = block.filters[key]
            k[i, 0, r, r] = coef[0]
            for (dy, dx), v in zip(offs, coef[1:]):
                k[i, 0, r + dy, r + dx] = k[i, 0, r - dy, r - dx] = v
        with one_torch_thread():
            acc = F.conv2d(F.pad(x[:, c:c + 1], (r, r, r, r), mode="replicate"), torch.from_numpy(k))[0].numpy()
        others = [o for o in range(ch) if o != c]
        for i, key in enumerate(keys):
            coef = block.filters[key]
            sel = cls == key[0]
            v = acc[i][sel].astype(np.int32) + np.int32(int(coef[-1]) + (1 << (s - 1)))
            for o, w in zip(others, coef[1 + len(offs):-1]):
                if w:
                    v += np.int32(w) * img[:, :, o][sel].astype(np.int32)
            out[:, :, c][sel] = np.clip(v >> s, 0, 255).astype(np.uint8)
    return out


def exact_range(coef: np.ndarray, r: int) -> bool:
    """Whether 255 * sum |tap| (pair taps count twice) stays below 2^24 (float32-exact convolution)."""
    n_pairs = len(_offsets(r))
    a = np.abs(np.asarray(coef[:-1], dtype=np.int64))
    return int(255 * (a[0] + 2 * a[1:1 + n_pairs].sum() + a[1 + n_pairs:].sum())) < (1 << 24)


def _valid(coef: np.ndarray, r: int) -> bool:
    return bool(np.abs(coef[:-1]).max() <= MAX_ABS and abs(int(coef[-1])) <= MAX_BIAS and exact_range(coef, r))


# ------------------------------------------------------------------ bits
def _zigzag(v: np.ndarray) -> np.ndarray:
    return np.where(v >= 0, 2 * v, -2 * v - 1)


_KS = np.arange(8)


def _best_k(u: np.ndarray) -> tuple[int, int]:
    """(order k, total bits) of the cheapest Exp-Golomb order for the non-negative values ``u``."""
    q = (np.asarray(u, dtype=np.int64)[None, :] >> _KS[:, None]) + 1
    nb = 64 - _clz64(q)                                   # bit length of each q
    costs = (2 * nb - 1 + _KS[:, None]).sum(1)
    k = int(np.argmin(costs))
    return k, int(costs[k])


def _clz64(q: np.ndarray) -> np.ndarray:
    """Leading zeros of positive int64 values (64 - bit length), exactly (no float log)."""
    n = np.zeros(q.shape, np.int64)
    v = q.copy()
    for shift in (32, 16, 8, 4, 2, 1):
        big = v >= (1 << shift)
        n += np.where(big, shift, 0)
        v = np.where(big, v >> shift, v)
    return 63 - n


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
        self.bits = np.unpackbits(np.frombuffer(data[:MAX_BLOCK], dtype=np.uint8))
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


def _coef_bits(coef: np.ndarray, s: int) -> int:
    return _best_k(_zigzag(_centred(coef, s)))[1] + 3


def _centred(w: np.ndarray, s: int) -> np.ndarray:
    d = np.asarray(w, dtype=np.int64).copy()
    d[0] -= 1 << s
    return d


def pack(block: Block, channels: int) -> bytes:
    """The bytes of ``block``; b"\x00" for no filter."""
    if not block.filters:
        return b"\x00"
    out = _Bits()
    out.put(1, 1)
    out.put(block.classes - 1, 3)
    out.put(block.r - 1, 2)
    out.put(block.s - 5, 3)
    prev = -1
    for t in block.thresholds:
        out.eg(int(t) - prev - 1, THRESH_K)
        prev = int(t)
    for k in range(block.classes):
        for c in range(channels):
            out.put(int((k, c) in block.filters), 1)
    for key in sorted(block.filters):
        u = _zigzag(_centred(block.filters[key], block.s))
        kk, _ = _best_k(u)
        out.put(kk, 3)
        for v in u:
            out.eg(int(v), kk)
    return out.tobytes()


def unpack(data: bytes, channels: int) -> tuple[Block, int]:
    """(block, bytes used) of a block at the start of ``data``; CodecError if it is malformed."""
    if not data:
        raise CodecError("wavelet: payload truncated (no post-filter block)")
    rd = _Reader(data)
    if rd.get(1) == 0:
        if rd.get(7):
            raise CodecError("wavelet: corrupt post-filter block (header)")
        return Block(), 1
    n_cls, r, s = rd.get(3) + 1, rd.get(2) + 1, rd.get(3) + 5
    if r > MAX_R:
        raise CodecError("wavelet: corrupt post-filter block (radius)")
    thresholds, prev = [], -1
    for _ in range(n_cls - 1):
        prev = prev + 1 + rd.eg(THRESH_K)
        if prev > MAX_ACTIVITY:
            raise CodecError("wavelet: corrupt post-filter block (class threshold)")
        thresholds.append(prev)
    keys = [(k, c) for k in range(n_cls) for c in range(channels) if rd.get(1)]
    n = _n_coeffs(r, channels)
    filters = {}
    for key in keys:
        kk = rd.get(3)
        u = np.array([rd.eg(kk) for _ in range(n)], dtype=np.int64)
        w = np.where(u % 2 == 0, u // 2, -(u + 1) // 2)
        w[0] += 1 << s
        if not _valid(w, r):
            raise CodecError("wavelet: corrupt post-filter block (coefficient out of range)")
        filters[key] = w
    return Block(thresholds, r, s, filters), (rd.pos + 7) // 8


# ------------------------------------------------------------------ fitting
def fit(decoded: np.ndarray, original: np.ndarray, lam_bits_per_sse: float) -> Block:
    """The block worth sending: the class count, radius, precision and (class, channel) filters that
    most reduce ``bits + lam_bits_per_sse * SSE`` (SSE in 8-bit units), estimated from the normal
    equations on a ninth of the pixels, each filter kept only where the exact filtered SSE of its
    pixels falls by more than its bits."""
    from .._threads import one_blas_thread
    with one_blas_thread():
        return _fit(decoded, original, lam_bits_per_sse)



def _fit(decoded: np.ndarray, original: np.ndarray, lam: float) -> Block:
    h, w, ch = decoded.shape
    if h * w < 64:
        return Block()
    sub = (slice(0, None, FIT_STEP), slice(0, None, FIT_STEP))
    act = activity(decoded)
    act_sub = act[sub].ravel()
    scale = (h * w) / float(act_sub.size)
    edges = [int(v) for v in np.quantile(act_sub, np.arange(1, BINS) / BINS, method="lower")]
    bins = np.searchsorted(np.asarray(edges), act_sub, side="right")
    grams = []                         # per channel, per bin: (X^T X, X^T t, t^T t)
    for c in range(ch):
        feats = _features(decoded, c, MAX_R, FIT_STEP)
        x = np.stack([f.ravel() for f in feats] + [np.ones(feats[0].size, np.int32)], 1).astype(np.float64)
        t = original[:, :, c][sub].ravel().astype(np.float64)
        per = []
        for b in range(BINS):
            m = bins == b
            xb, tb = x[m], t[m]
            per.append((xb.T @ xb, xb.T @ tb, float(tb @ tb), int(m.sum())))
        grams.append(per)
    best, best_gain = Block(), 0.0
    for n_cls in CLASS_COUNTS:
        width = BINS // n_cls
        thresholds = [edges[j * width - 1] for j in range(1, n_cls)]
        if len(set(thresholds)) < len(thresholds):
            continue
        options: dict[tuple[int, int], dict[tuple[int, int], tuple[float, np.ndarray]]] = {}
        for c in range(ch):
            for k in range(n_cls):
                part = grams[c][k * width:(k + 1) * width]
                if sum(p[3] for p in part) < 64:
                    continue
                options[(k, c)] = _channel_options(sum(p[0] for p in part), sum(p[1] for p in part),
                                                   sum(p[2] for p in part), lam, scale)
        header = 9 + THRESH_K * (n_cls - 1) + 2 * n_cls * ch
        for rs in {key for o in options.values() for key in o}:
            picks = {kc: o[rs] for kc, o in options.items() if rs in o and o[rs][0] > 0}
            gain = sum(g for g, _ in picks.values()) - header
            if picks and gain > best_gain:
                best_gain = gain
                best = Block(thresholds, rs[0], rs[1], {kc: wq for kc, (_, wq) in picks.items()})
    if not best.filters:
        return best
    out = apply_filter(decoded, best, act)    # exact check on every pixel of each filter's class
    cls = classes_of(decoded, best.thresholds, act)
    keep = {}
    for (k, c), coef in best.filters.items():
        m = cls == k
        e0 = original[:, :, c][m].astype(np.int64) - decoded[:, :, c][m]
        e1 = original[:, :, c][m].astype(np.int64) - out[:, :, c][m]
        if lam * float((e0 * e0).sum() - (e1 * e1).sum()) > _coef_bits(coef, best.s):
            keep[(k, c)] = coef
    best.filters = keep
    return best


def _channel_options(a: np.ndarray, b: np.ndarray, tt: float, lam: float, scale: float) -> dict:
    """{(r, s): (estimated saving in bits net of the coefficients, integer coefficients)} for one
    class and channel, from its normal equations (features: all MAX_R taps + bias)."""
    base = tt - 2 * b[0] + a[0, 0]                  # squared error of the unfiltered pixels
    out = {}
    for r in range(1, MAX_R + 1):
        sel = np.r_[0:1 + len(_offsets(r)), 1 + len(_offsets(MAX_R)):a.shape[0]]
        aa, bb = a[np.ix_(sel, sel)], b[sel]
        try:
            wr = np.linalg.solve(aa + 1e-6 * np.eye(len(sel)) * np.trace(aa) / len(sel), bb)
        except np.linalg.LinAlgError:
            continue
        for s in S_CHOICES:
            wq = np.round(wr * (1 << s)).astype(np.int64)
            if not _valid(wq, r):
                continue
            wf = wq / float(1 << s)
            sse = float(wf @ aa @ wf - 2 * bb @ wf + tt)
            out[(r, s)] = (lam * (base - sse) * scale - _coef_bits(wq, s), wq)
    return out
