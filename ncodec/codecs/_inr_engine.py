"""Coding engine of the ``inr`` codec: fit -> quantize -> entropy-code, and the wavefront decoder.

Payload (all integers unsigned LEB128 varints unless said otherwise)::

    version byte | height | width | channels | preset id (index in ``PRESET_IDS``: 0 small, 1 medium,
    2 large, 3 mid) | levels
    | 6 bytes: (k_weight, k_bias) step exponents of arm, ups, syn | latent half-width exponent byte
    | range-coded stream: network tensors, latents by wavefront, 16-bit sentinel

Each network tensor: 4 bits e (values within +-(2**e - 1); e = 0: all zero), then 7 bits of a
Laplace scale index and the values under that zero-mean table. Latents: for every wavefront
t = 2*row + col (all grids in lock step) the fixed-point ARM gives each latent a scale index, an
integer mean m and a mean-fraction index; the residual latent - m is coded with the per-symbol
integer tables of one ``EntropyDecoder.decode`` call per wavefront.

Tables are built from the discretised Laplace by IEEE-exact operations only (products, sums and
differences of float64 values whose exponentials were computed by ``decimal``, correctly
rounded, then converted once), and made integer by the shared ``quantize_probs``: the decoder
rebuilds them bit-identically on any machine.
"""
from __future__ import annotations

import decimal
import hashlib
import time
from functools import lru_cache
from typing import Any, Mapping

import numpy as np

from .._varint import decode_uvarint, encode_uvarint
from ..entropy import EntropyDecoder, EntropyEncoder, quantize_probs
from ..errors import CodecError
from ..limits import check_alloc
from ..models import inr_image as M

FORMAT_VERSION = 1
BACKEND = "range"
SENTINEL = 0x1C0C
MAX_LATENT_EXP = 8                 # latent residuals within +-(2**8 - 1)
MAX_WEIGHT_EXP = 15
MAX_SIDE = 1 << 16                 # image height/width bound
ENCODE_CHUNK = 8192                # latents per encoder call
AUTO_SMALL_PIXELS = 512 * 512
AUTO_MID_LAMBDA = 0.004            # auto preset: mid below this lambda (q >= 5), small at and above
EFFORTS = {"fast": 400, "default": 2000, "max": 5000}
# quality 1..8 -> lambda (MSE on [0, 1] + lambda * bits per pixel): / 2.2 per level around q4 = 0.005, so
# the 8 levels span ~0.05-2.5 bpp on 256x256 Kodak crops in about even log-rate steps (rate ~ lambda**-0.7)
LAMBDAS = {q: 0.005 * 2.2 ** (4 - q) for q in range(1, 9)}


# ------------------------------------------------------------------ deterministic tables

def _exp(x: decimal.Decimal) -> float:
    with decimal.localcontext(decimal.Context(prec=40)):
        return float(x.exp())


def _scale_inv(j: int) -> decimal.Decimal:
    """1 / b_j = 2 ** -(LOG2_B_MIN + j / SCALES_PER_OCTAVE), computed in decimal."""
    with decimal.localcontext(decimal.Context(prec=40)):
        e = -(decimal.Decimal(M.LOG2_B_MIN) + decimal.Decimal(j) / decimal.Decimal(M.SCALES_PER_OCTAVE))
        return decimal.Decimal(2) ** e


@lru_cache(maxsize=None)
def _exps(fracs: tuple) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per scale j and mean fraction f: q = e^{-1/b}, c+ = e^{-(1/2 - f)/b}, c- = e^{-(1/2 + f)/b}."""
    q = np.empty(M.N_SCALES)
    cp = np.empty((M.N_SCALES, len(fracs)))
    cm = np.empty((M.N_SCALES, len(fracs)))
    half = decimal.Decimal(1) / 2
    for j in range(M.N_SCALES):
        inv = _scale_inv(j)
        q[j] = _exp(-inv)
        for i, f in enumerate(fracs):
            cp[j, i] = _exp(-(half - f) * inv)
            cm[j, i] = _exp(-(half + f) * inv)
    return q, cp, cm


def _power(base: np.ndarray, n: np.ndarray) -> np.ndarray:
    """base ** n (n >= 0 integers) by binary exponentiation in a fixed order: IEEE-exact steps only."""
    out = np.ones(np.broadcast(base, n).shape)
    b = np.broadcast_to(base, out.shape).copy()
    n = np.broadcast_to(n, out.shape)
    for bit in range(int(n.max()).bit_length() if n.size else 0):
        out = np.where((n >> bit) & 1, out * b, out)
        b = b * b
    return out


def _laplace_pmfs(fracs: tuple, half_width: int, scales: slice = slice(None)) -> np.ndarray:
    """Integer PMFs (scales, len(fracs), 2W+1) of round-to-integer Laplace residuals r in [-W, W]
    for a mean offset f from the integer mean: P(r) = 0.5 c+ q^(r-1) (1-q) for r > 0, mirrored
    with c- for r < 0, P(0) = 1 - c+/2 - c-/2."""
    q, cp, cm = (a[scales] for a in _exps(fracs))
    r = np.arange(1, half_width + 1)
    qn = _power(q[:, None, None], r[None, None, :] - 1)                # (S, 1, W)
    one_minus_q = (1.0 - q)[:, None, None]
    pos = 0.5 * cp[:, :, None] * qn * one_minus_q
    neg = 0.5 * cm[:, :, None] * qn * one_minus_q
    p0 = (1.0 - 0.5 * cp) - 0.5 * cm
    p = np.concatenate([neg[:, :, ::-1], p0[:, :, None], pos], axis=2)
    return quantize_probs(p)


def _mean_fracs() -> tuple:
    """Bin centres of the mean fraction: (i + 1/2) / F - 1/2."""
    F = decimal.Decimal(M.MEAN_FRACS)
    return tuple((decimal.Decimal(i) + decimal.Decimal(1) / 2) / F - decimal.Decimal(1) / 2 for i in range(M.MEAN_FRACS))


@lru_cache(maxsize=8)
def latent_tables(exp: int) -> np.ndarray:
    """(N_SCALES, MEAN_FRACS, 2W+1) integer tables for latent residuals, W = 2**exp - 1."""
    return _laplace_pmfs(_mean_fracs(), (1 << exp) - 1)


@lru_cache(maxsize=64)
def weight_table(j: int, exp: int) -> np.ndarray:
    """Zero-mean integer table over [-W, W] (W = 2**exp - 1) with Laplace scale index j."""
    return _laplace_pmfs((decimal.Decimal(0),), (1 << exp) - 1, slice(j, j + 1))[0, 0]


# ------------------------------------------------------------------ network tensors

def _best_scale(v: np.ndarray) -> int:
    """Scale index with the smallest (continuous Laplace) cost for integers v: an encoder choice."""
    a = np.abs(v.astype(np.float64))
    best, arg = np.inf, 0
    for j in range(M.N_SCALES):
        b = 2.0 ** (M.LOG2_B_MIN + j / M.SCALES_PER_OCTAVE)
        p0 = max(1 - np.exp(-0.5 / b), 1e-300)
        tail = np.log(0.5) + np.log(max(-np.expm1(-1 / b), 1e-300)) - (a - 0.5) / b
        c = -np.where(a == 0, np.log(p0), tail).sum()
        if c < best:
            best, arg = c, j
    return arg


def encode_tensor(enc: EntropyEncoder, v: np.ndarray) -> None:
    """Append one integer tensor (|v| <= MAX_WEIGHT_INT) to the stream."""
    v = np.asarray(v, dtype=np.int64).reshape(-1)
    top = int(np.abs(v).max()) if v.size else 0
    exp = top.bit_length()                          # 2**exp - 1 >= top
    enc.encode_uniform(np.array([exp]), 4)
    if exp:
        j = _best_scale(v)
        enc.encode_uniform(np.array([j]), 7)
        w = (1 << exp) - 1
        enc.encode(v + w, weight_table(j, exp))


def decode_tensor(dec: EntropyDecoder, shape: tuple[int, ...]) -> np.ndarray:
    """Inverse of ``encode_tensor`` (integer-valued float64)."""
    n = int(np.prod(shape))
    exp = int(dec.decode_uniform(1, 4)[0])
    if exp > MAX_WEIGHT_EXP:
        raise CodecError("inr: network tensor range out of bounds")
    if not exp:
        return np.zeros(shape)
    j = int(dec.decode_uniform(1, 7)[0])
    if j >= M.N_SCALES:
        raise CodecError("inr: network tensor table index out of range")
    w = (1 << exp) - 1
    return (dec.decode(weight_table(j, exp), n).astype(np.float64) - w).reshape(shape)


# ------------------------------------------------------------------ latents

class Wavefronts:
    """Decoding order of all latents of a spec: buffer layout, contexts, wavefront boundaries."""

    def __init__(self, spec: M.InrSpec) -> None:
        self.spec = spec
        self.pos, self.ctx, t, self.bases = M.context_index(spec)
        counts = np.bincount(t)
        self.starts = np.concatenate([[0], np.cumsum(counts)])
        self.size = self.bases[-1]

    def buffer(self, latents: list[np.ndarray] | None = None) -> np.ndarray:
        """The zero-padded buffer (float64), filled with ``latents`` when given."""
        buf = np.zeros(self.size)
        if latents is not None:
            for l, y in enumerate(latents):
                h, w = y.shape
                pw = M.PAD_LEFT + w + M.PAD_RIGHT
                view = buf[self.bases[l]: self.bases[l + 1]].reshape(M.PAD_TOP + h, pw)
                view[M.PAD_TOP:, M.PAD_LEFT: M.PAD_LEFT + w] = y
        return buf

    def grids(self, buf: np.ndarray) -> list[np.ndarray]:
        """Integer grids (finest first) out of a buffer."""
        out = []
        for l, (h, w) in enumerate(self.spec.grid_shapes()):
            pw = M.PAD_LEFT + w + M.PAD_RIGHT
            view = buf[self.bases[l]: self.bases[l + 1]].reshape(M.PAD_TOP + h, pw)
            out.append(view[M.PAD_TOP:, M.PAD_LEFT: M.PAD_LEFT + w].astype(np.int64))
        return out


def _pmfs(net: M.FixedNet, ctx_values: np.ndarray, tables: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-latent integer tables and integer means from context values."""
    mu, log2b = net.arm(ctx_values)
    j, m, f = M.table_indexes(mu, log2b)
    return tables[j, f], m


def latent_exp(net: M.FixedNet, wf: Wavefronts, buf: np.ndarray) -> int:
    """Smallest table half-width exponent covering every residual latent - mean."""
    vals = buf[wf.pos]
    _, m, _ = M.table_indexes(*net.arm(buf[wf.ctx]))
    top = int(np.abs(vals - m).max()) if vals.size else 0
    return max(1, top.bit_length())


def encode_latents(enc: EntropyEncoder, net: M.FixedNet, wf: Wavefronts, buf: np.ndarray, exp: int) -> None:
    """Code every latent in wavefront order (contexts are known, so in large chunks)."""
    tables = latent_tables(exp)
    w = (1 << exp) - 1
    for s in range(0, len(wf.pos), ENCODE_CHUNK):
        sl = slice(s, s + ENCODE_CHUNK)
        pmf, m = _pmfs(net, buf[wf.ctx[sl]], tables)
        enc.encode(buf[wf.pos[sl]].astype(np.int64) - m + w, pmf)


def decode_latents(dec: EntropyDecoder, net: M.FixedNet, wf: Wavefronts, exp: int) -> np.ndarray:
    """Decode all latents, one wavefront (all grids in lock step) per entropy-decoder call."""
    tables = latent_tables(exp)
    w = (1 << exp) - 1
    buf = wf.buffer()
    for t in range(len(wf.starts) - 1):
        sl = slice(wf.starts[t], wf.starts[t + 1])
        pmf, m = _pmfs(net, buf[wf.ctx[sl]], tables)
        v = dec.decode(pmf).astype(np.int64) - w + m
        if v.size and np.abs(v).max() > M.LATENT_MAX:
            raise CodecError("inr: decoded latent out of range (payload damaged)")
        buf[wf.pos[sl]] = v
    return buf


# ------------------------------------------------------------------ payload

def _header(spec: M.InrSpec, steps: dict, exp: int) -> bytes:
    out = bytearray([FORMAT_VERSION])
    for v in (spec.height, spec.width, spec.channels, M.PRESET_IDS.index(spec.preset.name), spec.levels):
        out += encode_uvarint(v)
    for m in M.MODULES:
        out += bytes(steps[m])
    out.append(exp)
    return bytes(out)


def pack(net: M.FixedNet, latents: list[np.ndarray]) -> tuple[bytes, float, dict]:
    """Payload bytes, ideal bits and a per-part bit split for a quantized network and its latents."""
    spec = net.spec
    wf = Wavefronts(spec)
    buf = wf.buffer(latents)
    exp = latent_exp(net, wf, buf)
    if exp > MAX_LATENT_EXP:
        raise CodecError("inr: latent residuals out of range")
    enc = EntropyEncoder(BACKEND)
    for name, _ in spec.param_shapes():
        encode_tensor(enc, net.ints[name])
    net_bits = enc.ideal_bits
    encode_latents(enc, net, wf, buf, exp)
    lat_bits = enc.ideal_bits - net_bits
    enc.encode_uniform(np.array([SENTINEL]), 16)
    head = _header(spec, net.steps, exp)
    ideal = 8 * len(head) + enc.ideal_bits
    return head + enc.finish(), ideal, {"network_bits": net_bits, "latent_bits": lat_bits}


def _read_header(payload: bytes, shape: tuple[int, ...]) -> tuple[M.InrSpec, dict, int, int]:
    if len(payload) < 2 or payload[0] != FORMAT_VERSION:
        raise CodecError("inr: unknown payload format version" if payload else "inr: empty payload")
    pos = 1

    def rd(limit: int) -> int:
        nonlocal pos
        try:
            v, pos = decode_uvarint(payload, pos)
        except Exception as exc:
            raise CodecError(f"inr: payload header is damaged ({exc})") from exc
        if v > limit:
            raise CodecError("inr: payload header field out of range")
        return v
    H, W, C, pid, L = rd(MAX_SIDE), rd(MAX_SIDE), rd(3), rd(len(M.PRESET_IDS) - 1), rd(M.MAX_LEVELS)
    want = (H, W) if C == 1 and len(shape) == 2 else (H, W, C)
    if tuple(shape) != want or C not in (1, 3):
        raise CodecError(f"inr: payload is for a {H}x{W}x{C} image, the header says {'x'.join(map(str, shape))}")
    spec = M.InrSpec.for_image(H, W, C, M.PRESET_IDS[pid])
    if spec.levels != L:
        raise CodecError("inr: payload grid count does not match the image size")
    if pos + 7 > len(payload):
        raise CodecError("inr: payload truncated in its header")
    steps = {}
    for m in M.MODULES:
        kw, kb = payload[pos], payload[pos + 1]
        if kw > M.MAX_STEP_BITS or kb > M.MAX_STEP_BITS:
            raise CodecError("inr: quantization step out of range")
        steps[m] = (kw, kb)
        pos += 2
    exp = payload[pos]
    if not 1 <= exp <= MAX_LATENT_EXP:
        raise CodecError("inr: latent table width out of range")
    return spec, steps, exp, pos + 1


def check_decode_size(spec: M.InrSpec) -> None:
    """Refuse (LimitError) a decode whose working arrays would pass the active byte limit."""
    px = spec.height * spec.width
    check_alloc("inr", "upsampled latent stack", 3 * spec.levels * px * 8)
    check_alloc("inr", "wavefront index", spec.n_latents() * (spec.preset.arm_context + 3) * 8)


def unpack(payload: bytes, shape: tuple[int, ...]) -> tuple[M.FixedNet, list[np.ndarray]]:
    """Parse and entropy-decode a payload into the quantized network and integer latent grids."""
    spec, steps, exp, pos = _read_header(payload, shape)
    check_decode_size(spec)
    dec = EntropyDecoder(payload[pos:], BACKEND)
    ints = {}
    for name, shp in spec.param_shapes():
        ints[name] = decode_tensor(dec, shp)
    net = M.FixedNet(spec, ints, steps)
    wf = Wavefronts(spec)
    buf = decode_latents(dec, net, wf, exp)
    if int(dec.decode_uniform(1, 16)[0]) != SENTINEL:
        raise CodecError("inr: stream check failed (payload damaged)")
    return net, wf.grids(buf)


# ------------------------------------------------------------------ encode / decode

def pick_preset(preset: str, height: int, width: int, lam: float | None = None) -> str:
    """``auto``: up to 512x512 pixels, the small decoder at low rates (lambda >= AUTO_MID_LAMBDA, q <= 4:
    its weights are a smaller share of a small file) and ``mid`` at higher rates (measured on 256x256
    Kodak crops at q6: +0.5 dB at equal rate, more than the small decoder gains from the same CPU
    time spent on iterations); medium above 512x512."""
    if preset != "auto":
        return preset
    if height * width > AUTO_SMALL_PIXELS:
        return "medium"
    return "mid" if lam is not None and lam < AUTO_MID_LAMBDA else "small"


def fit_options(options: Mapping[str, Any]) -> M.FitOptions:
    """Codec options -> fitting options (iterations from effort unless given)."""
    iters = options.get("iterations") or EFFORTS[options.get("effort") or "default"]
    return M.FitOptions(iterations=int(iters), time_budget=options.get("time_budget"),
                        seed=int(options.get("seed") or 0), device=options.get("device") or "auto",
                        threads=options.get("threads"), progress=bool(options.get("progress", True)))


def symbol_check(net: M.FixedNet, latents: list[np.ndarray], image: np.ndarray) -> bytes:
    """Digest of everything the decoder rebuilt: integer weights, integer latents and the decoded
    picture (exact on every machine), for the container's per-record content check."""
    h = hashlib.sha256()
    for name, _ in net.spec.param_shapes():
        h.update(np.ascontiguousarray(net.ints[name], dtype="<i8").tobytes())
    for y in latents:
        h.update(np.ascontiguousarray(y, dtype="<i8").tobytes())
    h.update(np.ascontiguousarray(image, dtype=np.uint8).tobytes())
    return h.digest()


def encode(image: np.ndarray, quality: int, options: Mapping[str, Any]) -> tuple[bytes, float, dict, bytes]:
    """Fit, quantize and code one image (H, W) or (H, W, C) uint8: (payload, ideal bits, info, check)."""
    img = image if image.ndim == 3 else image[..., None]
    H, W, C = img.shape
    lam = LAMBDAS[quality]
    spec = M.InrSpec.for_image(H, W, C, pick_preset(options.get("preset") or "auto", H, W, lam))
    opts = fit_options(options)
    t0, c0 = time.perf_counter(), time.process_time()
    fitres = M.fit(img, spec, lam, opts)
    steps, ints, _ = M.choose_steps(fitres, img, lam)
    net = M.FixedNet(spec, ints, steps)
    latents = M.latent_ints(spec, fitres.params)
    payload, ideal, split = pack(net, latents)
    recon = net.render(latents)
    mse = float(np.mean((recon.astype(np.float64) - img) ** 2))
    info = {"iterations": fitres.iterations, "fit_seconds": fitres.seconds, "fit_cpu_seconds": fitres.cpu_seconds,
            "encode_seconds": time.perf_counter() - t0, "encode_cpu_seconds": time.process_time() - c0,
            "preset": spec.preset.name, "lambda": lam, "steps": {m: list(s) for m, s in steps.items()},
            "macs_per_pixel": spec.macs_per_pixel()["total"], "psnr": 10 * np.log10(255 ** 2 / max(mse, 1e-12)),
            **split}
    return payload, ideal, info, symbol_check(net, latents, recon)


def decode(payload: bytes, shape: tuple[int, ...]) -> tuple[np.ndarray, bytes]:
    """Decoded image with exactly ``shape`` ((H, W) or (H, W, C) uint8) and its symbol check."""
    net, latents = unpack(payload, shape)
    img = net.render(latents)
    return (img[..., 0] if len(shape) == 2 else img), symbol_check(net, latents, img)
