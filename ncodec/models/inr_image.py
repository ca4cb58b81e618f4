"""Overfitted neural image decoder (Cool-chic / C3 family): architecture, fitting, fixed-point decoding.

One tiny decoder per image, fitted to that image alone:

* **latent grids** at 1/1, 1/2, ... 1/2**(L-1) of the image size (L <= 7), one channel each,
  rounded to integers (clamped to +-``LATENT_MAX``);
* an **ARM** (auto-regressive model): an MLP over ``ctx`` already-decoded neighbours of the same
  grid (``CONTEXT``, causal for the wavefront order t = 2*row + col) predicting the mean and
  log2 scale of a discretised Laplace for each latent; one ARM is shared by all grids;
* **upsampling**: each coarser grid is brought to full resolution by x2 steps of a learned
  4-tap polyphase filter (bicubic at start, one filter per step, replicate borders);
* a **synthesis**: 1x1 convolutions (ReLU) from the L upsampled channels to the colour
  channels, then residual 3x3 convolutions (replicate borders).

Fitting (``fit``) minimises MSE + lambda x latent bits per pixel with additive uniform noise,
then straight-through rounding; ``quantize`` picks a power-of-two step per module (ARM,
upsampling, synthesis; weights and biases separately) by rate-distortion cost.

Decoding never uses floating-point rounding that could differ between machines or thread counts:
``FixedNet`` runs the quantized network in fixed point (activations are integers in units of
2**-ACT_BITS, weights integers in units of 2**-k), carried in float64 whose every product and
partial sum is an integer below 2**53 and therefore exact in any summation order (BLAS, threads,
FMA or not). Rounding after each layer is ``floor(x / 2**s + 1/2)`` done on exact values.
So the ARM's table indexes and the reconstruction are bit-identical everywhere.

This module imports numpy only; torch is loaded on first use by the fitting code, so a decoder
never imports torch. It never entropy-codes (``ncodec.codecs._inr_engine`` does).
"""
from __future__ import annotations

import math
import sys
import time
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from .._lazy import lazy_import

torch = lazy_import("torch")

ACT_BITS = 12                          # fixed-point fraction bits of every activation
ACT_CLAMP = float(1 << (ACT_BITS + 11))   # |activation| bound (fixed-point units): keeps sums exact
MAX_WEIGHT_INT = (1 << 15) - 1         # |quantized weight| bound
MAX_STEP_BITS = 20                     # quantization step 2**-k with k <= this
LATENT_MAX = 127                       # |latent| bound
LOG2_B_MIN, LOG2_B_MAX = -5, 6         # Laplace scale range (log2)
SCALES_PER_OCTAVE = 8
N_SCALES = (LOG2_B_MAX - LOG2_B_MIN) * SCALES_PER_OCTAVE + 1
MEAN_FRACS = 16                        # fractional mean resolution of the latent tables
MAX_LEVELS = 7
MODULES = ("arm", "ups", "syn")
BICUBIC_TAPS = (-0.03515625, 0.26171875, 0.87890625, -0.10546875)   # a=-0.75, phase 1/4

# Causal neighbours (d_row, d_col) nearest first: each has 2*d_row + d_col < 0, so the whole
# anti-diagonal t = 2*row + col of a grid can be decoded at once.
CONTEXT = ((0, -1), (-1, 0), (-1, -1), (-1, 1), (0, -2), (-2, 0), (-1, -2), (-2, -1), (-2, 1),
           (-2, -2), (-2, 2), (0, -3), (-3, 0), (-1, -3), (-3, -1), (-3, 1), (-2, -3), (-3, -2),
           (-3, 2), (-2, 3), (-3, -3), (-3, 3), (0, -4), (-4, 0))
PAD_TOP, PAD_LEFT, PAD_RIGHT = 4, 4, 3


# ------------------------------------------------------------------ architecture

@dataclass(frozen=True)
class Preset:
    """Decoder complexity: ARM context/width/depth, synthesis 1x1 widths, residual 3x3 layers."""

    name: str
    arm_context: int
    arm_hidden: int
    arm_layers: int
    synth_widths: tuple[int, ...]
    synth_3x3: int


PRESETS = {
    "small": Preset("small", 8, 8, 1, (12,), 1),
    "medium": Preset("medium", 12, 16, 2, (24,), 2),
    "large": Preset("large", 24, 24, 2, (40,), 2),
    "mid": Preset("mid", 16, 16, 2, (24,), 2),
}
PRESET_IDS = ("small", "medium", "large", "mid")     # payload preset id = index (append only)


def n_levels(height: int, width: int) -> int:
    """Latent grids for an image: 1/1 ... down to a coarsest grid of about 4 pixels (at most 7)."""
    m = max(1, min(height, width))
    return int(min(MAX_LEVELS, max(1, m.bit_length() - 2)))


@dataclass(frozen=True)
class InrSpec:
    """Everything that fixes the decoder's shape: image size, colour channels, preset, grids."""

    height: int
    width: int
    channels: int
    preset: Preset
    levels: int

    @classmethod
    def for_image(cls, height: int, width: int, channels: int, preset: str) -> "InrSpec":
        return cls(height, width, channels, PRESETS[preset], n_levels(height, width))

    @property
    def context(self) -> tuple[tuple[int, int], ...]:
        return CONTEXT[: self.preset.arm_context]

    def grid_shapes(self) -> list[tuple[int, int]]:
        """(rows, cols) of each latent grid, finest first."""
        return [(-(-self.height // (1 << l)), -(-self.width // (1 << l))) for l in range(self.levels)]

    def n_latents(self) -> int:
        return sum(h * w for h, w in self.grid_shapes())

    def param_shapes(self) -> list[tuple[str, tuple[int, ...]]]:
        """Name and shape of every network tensor, in coding order (module = name prefix)."""
        p, out = self.preset, []
        width = p.arm_context
        for i in range(p.arm_layers):
            out += [(f"arm.{i}.w", (p.arm_hidden, width)), (f"arm.{i}.b", (p.arm_hidden,))]
            width = p.arm_hidden
        out += [("arm.out.w", (2, width)), ("arm.out.b", (2,))]
        if self.levels > 1:
            out.append(("ups.w", (self.levels - 1, 4)))
        width = self.levels
        for i, w in enumerate(p.synth_widths):
            out += [(f"syn.{i}.w", (w, width)), (f"syn.{i}.b", (w,))]
            width = w
        out += [("syn.out.w", (self.channels, width)), ("syn.out.b", (self.channels,))]
        for i in range(p.synth_3x3):
            out += [(f"syn.res{i}.w", (self.channels, self.channels, 3, 3)), (f"syn.res{i}.b", (self.channels,))]
        return out

    def macs_per_pixel(self) -> dict[str, float]:
        """Decoder multiply-accumulates per image pixel, by part and in total."""
        p, px = self.preset, float(self.height * self.width)
        arm = p.arm_context * p.arm_hidden + (p.arm_layers - 1) * p.arm_hidden ** 2 + 2 * p.arm_hidden
        ups = 0.0
        for l in range(self.levels - 1):          # step to grid l: channels l+1.., two 1-D passes of 4 taps
            (h, w), (h1, _) = self.grid_shapes()[l], self.grid_shapes()[l + 1]
            ups += (self.levels - 1 - l) * 4 * (h1 * w + h * w)
        widths = (self.levels, *p.synth_widths, self.channels)
        syn = sum(a * b for a, b in zip(widths[:-1], widths[1:])) + p.synth_3x3 * 9 * self.channels ** 2
        out = {"arm": arm * self.n_latents() / px, "upsampling": ups / px, "synthesis": float(syn)}
        out["total"] = sum(out.values())
        return out


def module_of(name: str) -> str:
    """'arm', 'ups' or 'syn': the quantization group of a tensor."""
    return name.split(".", 1)[0]


def is_bias(name: str) -> bool:
    return name.endswith(".b")


# ------------------------------------------------------------------ fixed point (numpy, exact)

def rescale(x: np.ndarray, from_bits: int, to_bits: int) -> np.ndarray:
    """Integers in units of 2**-from_bits -> units of 2**-to_bits, rounding half up; exact in float64."""
    d = to_bits - from_bits
    if d >= 0:
        return x * float(1 << d)
    return np.floor((x + float(1 << (-d - 1))) * (1.0 / float(1 << -d)))


def _clamp(x: np.ndarray) -> np.ndarray:
    return np.clip(x, -ACT_CLAMP, ACT_CLAMP, out=x)


@dataclass
class FixedNet:
    """A quantized decoder: integer tensors plus the step exponent (weights, biases) of each module."""

    spec: InrSpec
    ints: dict[str, np.ndarray]              # name -> integer-valued float64 array
    steps: dict[str, tuple[int, int]]        # module -> (k_weight, k_bias): value = int * 2**-k

    def _linear(self, x: np.ndarray, name: str, relu: bool) -> np.ndarray:
        """x (n, in) at ACT_BITS -> (n, out) at ACT_BITS: exact integer matmul, bias, rounding."""
        kw, kb = self.steps[module_of(name)]
        acc = x @ self.ints[name + ".w"].T
        acc += rescale(self.ints[name + ".b"], kb, ACT_BITS + kw)
        out = _clamp(rescale(acc, ACT_BITS + kw, ACT_BITS))
        return np.maximum(out, 0.0, out=out) if relu else out

    # ---- ARM
    def arm(self, ctx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Context latents (n, ctx) integers -> (mean, log2 scale), integers at ACT_BITS."""
        h = self._linear(ctx.astype(np.float64) * float(1 << ACT_BITS), "arm.0", True)
        for i in range(1, self.spec.preset.arm_layers):
            h = _clamp(h + self._linear(h, f"arm.{i}", True))
        out = self._linear(h, "arm.out", False)
        return out[:, 0], out[:, 1]

    # ---- upsampling
    def upsample(self, latents: Sequence[np.ndarray]) -> np.ndarray:
        """Integer grids (finest first) -> (L, H, W) float64 stack at ACT_BITS."""
        shapes = self.spec.grid_shapes()
        one = float(1 << ACT_BITS)
        u = latents[-1][None].astype(np.float64) * one
        for l in range(self.spec.levels - 2, -1, -1):
            u = self._up2(u, l, shapes[l])
            u = np.concatenate([latents[l][None].astype(np.float64) * one, u], 0)
        return u

    def _up2(self, x: np.ndarray, step: int, shape: tuple[int, int]) -> np.ndarray:
        taps = self.ints["ups.w"][step]
        k = self.steps["ups"][0]
        x = _up2_last(x, taps, k)[..., : shape[1]]
        x = _up2_last(np.swapaxes(x, -1, -2), taps, k)[..., : shape[0]]
        return np.ascontiguousarray(np.swapaxes(x, -1, -2))

    # ---- synthesis
    def synthesize(self, u: np.ndarray, strip_rows: int | None = None) -> np.ndarray:
        """(L, H, W) at ACT_BITS -> (H, W, C) uint8, in row strips (bounded working memory)."""
        spec = self.spec
        H, W, C = spec.height, spec.width, spec.channels
        widest = max((spec.levels, *spec.preset.synth_widths, C))
        rows = strip_rows or max(8, (4 << 20) // max(1, W * widest * 8))
        n3 = spec.preset.synth_3x3
        out = np.empty((H, W, C), dtype=np.uint8)
        for r0 in range(0, H, rows):
            r1 = min(H, r0 + rows)
            lo, hi = max(0, r0 - n3), min(H, r1 + n3)
            h = u[:, lo:hi, :].reshape(u.shape[0], -1).T
            for i in range(len(spec.preset.synth_widths)):
                h = self._linear(h, f"syn.{i}", True)
            h = self._linear(h, "syn.out", False).reshape(hi - lo, W, C)
            for i in range(n3):
                h, lo, hi = self._res3x3(h, lo, hi, i, relu=i < n3 - 1)
            out[r0:r1] = to_uint8(h[r0 - lo: r1 - lo])
        return out

    def _res3x3(self, h: np.ndarray, lo: int, hi: int, i: int, relu: bool):
        """One residual 3x3 layer on rows [lo, hi) of the image; returns the rows it can produce."""
        H = self.spec.height
        parts = ([h[:1]] if lo == 0 else []) + [h] + ([h[-1:]] if hi == H else [])
        hp = np.concatenate(parts, 0) if len(parts) > 1 else h
        hp = np.pad(hp, ((0, 0), (1, 1), (0, 0)), mode="edge")
        R, W = hp.shape[0] - 2, h.shape[1]
        name = f"syn.res{i}"
        kw, kb = self.steps["syn"]
        w = self.ints[name + ".w"]
        acc = np.zeros((R, W, w.shape[0]))
        for dy in range(3):
            for dx in range(3):
                acc += hp[dy:dy + R, dx:dx + W] @ w[:, :, dy, dx].T
        acc += rescale(self.ints[name + ".b"], kb, ACT_BITS + kw)
        conv = _clamp(rescale(acc, ACT_BITS + kw, ACT_BITS))
        if relu:
            np.maximum(conv, 0.0, out=conv)
        out = _clamp(hp[1:-1, 1:-1] + conv)
        return out, (0 if lo == 0 else lo + 1), (H if hi == H else hi - 1)

    def render(self, latents: Sequence[np.ndarray]) -> np.ndarray:
        """Integer latent grids -> decoded (H, W, C) uint8 image."""
        return self.synthesize(self.upsample(latents))


def _up2_last(x: np.ndarray, taps: np.ndarray, k: int) -> np.ndarray:
    """x2 upsampling along the last axis: even outputs from samples i-2..i+1 with taps, odd ones
    from i-1..i+2 with the taps reversed (replicate borders); exact, then rounded to ACT_BITS."""
    n = x.shape[-1]
    xp = np.pad(x, [(0, 0)] * (x.ndim - 1) + [(2, 2)], mode="edge")
    t0, t1, t2, t3 = (float(t) for t in taps)
    out = np.empty(x.shape[:-1] + (2 * n,))
    out[..., 0::2] = t0 * xp[..., 0:n] + t1 * xp[..., 1:n + 1] + t2 * xp[..., 2:n + 2] + t3 * xp[..., 3:n + 3]
    out[..., 1::2] = t3 * xp[..., 1:n + 1] + t2 * xp[..., 2:n + 2] + t1 * xp[..., 3:n + 3] + t0 * xp[..., 4:n + 4]
    return _clamp(rescale(out, ACT_BITS + k, ACT_BITS))


def to_uint8(x: np.ndarray) -> np.ndarray:
    """Fixed-point colour in [0, 1] (ACT_BITS) -> uint8, rounding x * 255 exactly."""
    return np.clip(rescale(x * 255.0, ACT_BITS, 0), 0, 255).astype(np.uint8)


def table_indexes(mu: np.ndarray, log2b: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """ARM outputs (integers at ACT_BITS) -> (scale index, integer mean, mean-fraction index).

    Scale index j: nearest of the log2 grid LOG2_B_MIN + j / SCALES_PER_OCTAVE. The mean is split
    into its nearest integer m and the fraction bin f of (mean - m) in [-1/2, 1/2). All integer.
    """
    one = float(1 << ACT_BITS)
    j = np.floor(((log2b - LOG2_B_MIN * one) * SCALES_PER_OCTAVE + one / 2) / one)
    j = np.clip(j, 0, N_SCALES - 1).astype(np.int64)
    mu = np.clip(mu, -LATENT_MAX * one, LATENT_MAX * one)
    m = np.floor((mu + one / 2) / one)
    frac = mu - m * one                                  # in [-one/2, one/2)
    f = np.floor((frac + one / 2) * MEAN_FRACS / one).astype(np.int64)
    return j, m.astype(np.int64), np.clip(f, 0, MEAN_FRACS - 1)


def context_index(spec: InrSpec) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[int]]:
    """Flat layout of all grids in one zero-padded buffer, in wavefront order.

    Returns (pos, ctx, t, bases): ``pos[n]`` the buffer index of the n-th latent in decoding order
    (sorted by t = 2*row + col, then grid, then row), ``ctx[n]`` the buffer indexes of its context,
    ``t[n]`` its wavefront, and the start of each grid in the buffer (buffer length last).
    """
    offs = spec.context
    pos, ctx, tt, lev, rows, bases = [], [], [], [], [], [0]
    for l, (h, w) in enumerate(spec.grid_shapes()):
        pw = PAD_LEFT + w + PAD_RIGHT
        ii, jj = np.meshgrid(np.arange(h), np.arange(w), indexing="ij")
        p = bases[-1] + (ii.ravel() + PAD_TOP) * pw + jj.ravel() + PAD_LEFT
        pos.append(p)
        ctx.append(p[:, None] + np.array([dy * pw + dx for dy, dx in offs], dtype=np.int64)[None])
        tt.append(2 * ii.ravel() + jj.ravel())
        lev.append(np.full(h * w, l))
        rows.append(ii.ravel())
        bases.append(bases[-1] + (PAD_TOP + h) * pw)
    pos_a, ctx_a, t_a = np.concatenate(pos), np.concatenate(ctx), np.concatenate(tt)
    order = np.lexsort((np.concatenate(rows), np.concatenate(lev), t_a))
    return pos_a[order], ctx_a[order], t_a[order], bases


# ------------------------------------------------------------------ torch model (fitting)

def _to_tensor(a, device=None):
    return torch.as_tensor(np.asarray(a, dtype=np.float32), device=device)


def init_params(spec: InrSpec, gen, device) -> dict:
    """Float parameters at the start of fitting: small random layers, bicubic upsampling, zero latents."""
    params = {}
    for name, shape in spec.param_shapes():
        if name == "ups.w":
            t = torch.tensor(BICUBIC_TAPS).repeat(shape[0], 1)
        elif is_bias(name):
            t = torch.zeros(shape)
        elif name == f"syn.res{spec.preset.synth_3x3 - 1}.w" or name == "arm.out.w":
            t = torch.zeros(shape)     # the last (linear) residual layer starts as identity; ARM at b=1
        elif name.startswith("syn.res"):                   # a ReLU residual at zero would get no gradient
            t = (torch.rand(shape, generator=gen) * 2 - 1) * 0.1
        else:
            fan_in = int(np.prod(shape[1:]))
            t = (torch.rand(shape, generator=gen) * 2 - 1) * math.sqrt(1.0 / fan_in)
        params[name] = t.to(device).requires_grad_(True)
    for l, (h, w) in enumerate(spec.grid_shapes()):
        params[f"latent.{l}"] = torch.zeros((1, 1, h, w), device=device, requires_grad=True)
    return params


def _up2_last_t(x, taps):
    n = x.shape[-1]
    xp = torch.nn.functional.pad(x, (2, 2, 0, 0), mode="replicate")
    t0, t1, t2, t3 = taps[0], taps[1], taps[2], taps[3]
    even = t0 * xp[..., 0:n] + t1 * xp[..., 1:n + 1] + t2 * xp[..., 2:n + 2] + t3 * xp[..., 3:n + 3]
    odd = t3 * xp[..., 1:n + 1] + t2 * xp[..., 2:n + 2] + t1 * xp[..., 3:n + 3] + t0 * xp[..., 4:n + 4]
    return torch.stack([even, odd], -1).flatten(-2)


def upsample_t(spec: InrSpec, params: dict, latents: list):
    """Torch mirror of ``FixedNet.upsample`` (float): (1, L, H, W)."""
    shapes = spec.grid_shapes()
    u = latents[-1]
    for l in range(spec.levels - 2, -1, -1):
        taps = params["ups.w"][l]
        u = _up2_last_t(u, taps)[..., : shapes[l][1]]
        u = _up2_last_t(u.transpose(-1, -2), taps)[..., : shapes[l][0]].transpose(-1, -2)
        u = torch.cat([latents[l], u], 1)
    return u


def synthesize_t(spec: InrSpec, params: dict, u):
    """Torch mirror of ``FixedNet.synthesize`` without the final rounding: (1, C, H, W) in ~[0, 1].
    The 1x1 layers are matrix products on (channels, pixels) and the 3x3 ones an explicit im2col
    product: ~25% faster than ``conv2d`` forward + backward at these widths on one CPU thread."""
    F = torch.nn.functional
    H, W = u.shape[-2:]
    h = u.reshape(u.shape[1], H * W)
    for i in range(len(spec.preset.synth_widths)):
        h = F.relu(torch.addmm(params[f"syn.{i}.b"][:, None], params[f"syn.{i}.w"], h))
    h = torch.addmm(params["syn.out.b"][:, None], params["syn.out.w"], h).reshape(1, -1, H, W)
    n3 = spec.preset.synth_3x3
    C = h.shape[1]
    for i in range(n3):
        hp = F.pad(h, (1, 1, 1, 1), mode="replicate")[0]
        cols = torch.stack([hp[:, dy:dy + H, dx:dx + W] for dy in range(3) for dx in range(3)], 1)
        conv = torch.addmm(params[f"syn.res{i}.b"][:, None], params[f"syn.res{i}.w"].reshape(C, 9 * C),
                           cols.reshape(9 * C, H * W)).reshape(1, C, H, W)
        h = h + (F.relu(conv) if i < n3 - 1 else conv)
    return h


def arm_t(spec: InrSpec, params: dict, ctx):
    """Torch mirror of ``FixedNet.arm``: (n, ctx) -> mean, log2 scale."""
    F = torch.nn.functional
    h = F.relu(F.linear(ctx, params["arm.0.w"], params["arm.0.b"]))
    for i in range(1, spec.preset.arm_layers):
        h = h + F.relu(F.linear(h, params[f"arm.{i}.w"], params[f"arm.{i}.b"]))
    out = F.linear(h, params["arm.out.w"], params["arm.out.b"])
    return out[:, 0], out[:, 1]


def contexts_t(spec: InrSpec, latents: list):
    """(N, ctx) context of every latent (grid by grid, raster order), zero outside the grid."""
    F = torch.nn.functional
    rows = []
    for y in latents:
        h, w = y.shape[-2:]
        yp = F.pad(y, (PAD_LEFT, PAD_RIGHT, PAD_TOP, 0))[0, 0]
        cols = [yp[PAD_TOP + dy: PAD_TOP + dy + h, PAD_LEFT + dx: PAD_LEFT + dx + w].reshape(-1)
                for dy, dx in spec.context]
        rows.append(torch.stack(cols, 1))
    return torch.cat(rows, 0)


def laplace_bits_t(y, mu, log2b):
    """-log2 P(y) of integers (or noisy values) y under a Laplace(mu, b) integrated over [y-1/2, y+1/2]."""
    log2b = torch.clamp(log2b, LOG2_B_MIN, LOG2_B_MAX)
    inv_b = torch.exp2(-log2b)
    d = (y - mu).abs()
    dc = torch.clamp(d, max=0.5)
    center = 1 - 0.5 * (torch.exp(-(0.5 - dc) * inv_b) + torch.exp(-(0.5 + dc) * inv_b))
    log_tail = math.log(0.5) - (torch.clamp(d, min=0.5) - 0.5) * inv_b + torch.log(-torch.expm1(-inv_b))
    logp = torch.where(d < 0.5, torch.log(center), log_tail)
    return -logp / math.log(2.0)


def softround_t(y, temperature: float):
    """Differentiable rounding: floor(y) + 1/2 + tanh((frac - 1/2) / T) / (2 tanh(1 / 2T))."""
    m = torch.floor(y).detach()
    r = y - m - 0.5
    return m + 0.5 + 0.5 * torch.tanh(r / temperature) / math.tanh(0.5 / temperature)


def forward_t(spec: InrSpec, params: dict, mode: str, gen=None, temperature: float = 0.3):
    """Reconstruction (1, C, H, W) and latent bits for ``mode`` 'noise' (soft-round, uniform noise,
    soft-round again, as C3), 'ste' (hard rounding, straight-through gradient) or 'hard'."""
    lat = []
    for l in range(spec.levels):
        y = params[f"latent.{l}"]
        if mode == "noise":
            u = torch.rand(y.shape, generator=gen, device=y.device) - 0.5
            y = softround_t(softround_t(y, temperature) + u, temperature)
        elif mode == "ste":
            y = y + (torch.round(y) - y).detach()
        else:
            y = torch.clamp(torch.round(y), -LATENT_MAX, LATENT_MAX)
        lat.append(y)
    mu, log2b = arm_t(spec, params, contexts_t(spec, lat))
    bits = laplace_bits_t(torch.cat([y.reshape(-1) for y in lat]), mu, log2b).sum()
    x = synthesize_t(spec, params, upsample_t(spec, params, lat))
    return x, bits


# ------------------------------------------------------------------ fitting

@dataclass
class FitOptions:
    """How long and how to fit (the encoder's knobs; nothing here reaches the decoder).

    Two phases: (1) everything is fitted through soft-rounding + uniform noise (C3's proxy,
    temperature 0.3 -> 0.1) with a cosine learning rate; (2) the latents are rounded and frozen
    and only the networks are fine-tuned on the exact hard-rounded loss (``final_frac`` of the
    iterations). Measured on 256x256 Kodak crops (one CPU thread): Adam with a short
    second-moment memory (beta2 0.9, so the huge first gradients are forgotten within tens of
    steps instead of hundreds) and latents stepping 8x faster than the networks gave +2 to +3 dB
    over the defaults at a few hundred iterations; soft-rounding + noise beat plain uniform noise
    by ~4 dB; a straight-through phase on the latents lost rate, the frozen-latent network
    fine-tune gains ~0.1 dB and ~4% rate. Re-measured (800 iterations, kodim01/kodim23 crops,
    docs/results/inr.md): a straight-through phase on latents + networks (``ste_frac``) blows the
    rate up by 15-60% (Adam moves every latent by ~lr per step, across rounding boundaries), and
    warm-up candidates (``candidates``/``warmup``), 2x learning rate or a 4x / 16x latent
    multiplier were all within the +-0.3 dB seed-to-seed spread: kept off / at the defaults.
    """

    iterations: int = 2000
    time_budget: float | None = None      # wall seconds of the fit; the schedule stretches to it
    lr: float = 1e-2
    latent_lr_mult: float = 8.0           # latents step 8x faster (Cool-chic's encoder gain, in effect)
    betas: tuple[float, float] = (0.9, 0.9)
    final_frac: float = 0.1               # share of iterations for the frozen-latent network fine-tune
    ste_frac: float = 0.0                 # share for a straight-through phase on everything (after noise)
    ste_lr: float = 1e-3
    candidates: int = 1                   # warm-up candidates (seeds), the best one continues
    warmup: int = 0                       # iterations of each warm-up candidate (within ``iterations``)
    final_lr: float = 1e-3
    t_start: float = 0.3                  # soft-round temperature, annealed over the noise phase
    t_end: float = 0.1
    seed: int = 0
    device: str = "auto"
    threads: int | None = None
    progress: bool = True

    def resolve_device(self):
        if self.device == "cuda" or (self.device == "auto" and torch.cuda.is_available()):
            if not torch.cuda.is_available():
                raise RuntimeError("device=cuda asked for, but torch sees no CUDA device")
            return torch.device("cuda")
        return torch.device("cpu")


@dataclass
class FitResult:
    """Float parameters after fitting (numpy, on CPU; latents already rounded) and what it cost."""

    spec: InrSpec
    params: dict[str, np.ndarray]
    iterations: int
    seconds: float
    cpu_seconds: float
    history: list[tuple[int, float, float, float]] = field(default_factory=list)  # it, loss, mse, bpp


def image_tensor(image: np.ndarray, device=None):
    """(H, W[, C]) uint8 -> (1, C, H, W) float in [0, 1]."""
    a = np.asarray(image)
    a = a[..., None] if a.ndim == 2 else a
    return _to_tensor(a.transpose(2, 0, 1)[None] / 255.0, device)


def _cosine(frac: float, peak: float, floor: float = 0.02) -> float:
    return peak * (floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * min(1.0, frac))))


def _bar(total: int, enabled: bool):
    if not enabled:
        return None
    from tqdm import tqdm
    return tqdm(total=total, desc="fitting inr", unit="it", file=sys.stderr, leave=False,
                dynamic_ncols=True, disable=None)


class _Clock:
    """Iteration budget and optional wall-time budget shared by the phases: ``frac`` of the
    whole fit done, stretched by the time budget when one is set."""

    def __init__(self, opts: FitOptions) -> None:
        self.opts, self.t0, self.c0, self.done = opts, time.perf_counter(), time.process_time(), 0

    def frac(self, it: int) -> float:
        f = it / self.opts.iterations
        if self.opts.time_budget is not None:
            f = max(f, (time.perf_counter() - self.t0) / self.opts.time_budget)
        return f

    def out_of_time(self) -> bool:
        b = self.opts.time_budget
        return b is not None and self.done > 0 and time.perf_counter() - self.t0 >= b


def _step(opt, loss) -> None:
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()


def _log(history, bar, it, loss, mse, bits, px) -> None:
    if it % 50 == 0:
        history.append((it, float(loss.detach()), float(mse.detach()), float(bits.detach()) / px))
        if bar is not None:
            bar.set_postfix(psnr=f"{-10 * math.log10(max(float(mse), 1e-12)):.2f}", bpp=f"{float(bits) / px:.3f}")
    if bar is not None:
        bar.update(1)


def _adam(params, opts, lr: float, betas, latents: bool = True):
    """Adam over the networks (LR multiplier 1) and, with ``latents``, the latent grids (multiplier
    ``latent_lr_mult``); each group's ``mult`` scales the scheduled LR."""
    net = [v for k, v in params.items() if not k.startswith("latent.")]
    groups = [{"params": net, "mult": 1.0}]
    if latents:
        groups.append({"params": [v for k, v in params.items() if k.startswith("latent.")],
                       "mult": opts.latent_lr_mult})
    return torch.optim.Adam(groups, lr=lr, betas=betas)


def _rd_step(spec, params, target, lam, opt, lr: float, clock, bar, history, *forward) -> None:
    """One optimizer step at learning rate ``lr`` (times each group's ``mult``) on MSE + lam * bits
    per pixel of ``forward_t(spec, params, *forward)``, counted on the clock and logged."""
    for g in opt.param_groups:
        g["lr"] = lr * g["mult"]
    x, bits = forward_t(spec, params, *forward)
    mse = torch.mean((x - target) ** 2)
    loss = mse + lam * bits / float(spec.height * spec.width)
    _step(opt, loss)
    clock.done += 1
    _log(history, bar, clock.done - 1, loss, mse, bits, float(spec.height * spec.width))


def _decay_phase(spec, params, target, lam, opt, peak: float, mode: str, clock, n, bar, history) -> None:
    """``n`` steps of the ``mode`` loss with the LR decaying from ``peak`` to 0 (cosine)."""
    for it in range(n):
        if clock.out_of_time():
            return
        _rd_step(spec, params, target, lam, opt, _cosine(it / n, peak, 0.0), clock, bar, history, mode)


def _noise_phase(spec, params, target, lam, opts, clock, n, bar, history, gen, opt=None, start=0, share_of=None):
    """Phase 1: latents and networks through soft-rounding + noise, cosine learning rate (iterations
    ``start`` .. ``n`` of a phase of ``share_of`` (default n) iterations). Returns the optimizer."""
    opt = opt or _adam(params, opts, opts.lr, opts.betas)
    share_of = share_of or n
    noise_share = max(1e-9, 1 - opts.final_frac - opts.ste_frac)
    for it in range(start, n):
        share = max(it / share_of, clock.frac(clock.done) / noise_share if opts.time_budget is not None else 0.0)
        if clock.out_of_time() or (opts.time_budget is not None and share >= 1.0):
            return opt
        frac = min(1.0, share)
        temp = opts.t_start + (opts.t_end - opts.t_start) * frac
        _rd_step(spec, params, target, lam, opt, _cosine(frac, opts.lr), clock, bar, history, "noise", gen, temp)
    return opt


def _ste_phase(spec, params, target, lam, opts, clock, n, bar, history) -> None:
    """Phase 1b: latents and networks on the hard-rounded loss, straight-through gradient, low LR."""
    if n <= 0:
        return
    opt = _adam(params, opts, opts.ste_lr, (0.9, 0.99))
    _decay_phase(spec, params, target, lam, opt, opts.ste_lr, "ste", clock, n, bar, history)


def _hard_loss(spec, params, target, lam) -> float:
    with torch.no_grad():
        x, bits = forward_t(spec, params, "hard")
        return float(torch.mean((x - target) ** 2) + lam * bits / float(spec.height * spec.width))


def _final_phase(spec, params, target, lam, opts, clock, n, bar, history) -> None:
    """Phase 2: latents rounded and frozen; networks fine-tuned on the hard-rounded loss."""
    with torch.no_grad():
        for l in range(spec.levels):
            params[f"latent.{l}"] = torch.clamp(torch.round(params[f"latent.{l}"]), -LATENT_MAX, LATENT_MAX)
    if n <= 0 or not any(not k.startswith("latent.") for k in params):
        return
    opt = _adam(params, opts, opts.final_lr, (0.9, 0.99), latents=False)
    _decay_phase(spec, params, target, lam, opt, opts.final_lr, "hard", clock, n, bar, history)


def fit(image: np.ndarray, spec: InrSpec, lam: float, opts: FitOptions) -> FitResult:
    """Fit latents and networks to ``image`` for MSE + lam * bits/pixel; deterministic given the seed
    (and the thread count) unless a time budget cuts it. The latents come back rounded."""
    if opts.threads:
        torch.set_num_threads(opts.threads)
    device = opts.resolve_device()
    target = image_tensor(image, device)
    clock, history = _Clock(opts), []
    bar = _bar(opts.iterations, opts.progress)
    n_final = int(round(opts.iterations * opts.final_frac)) if opts.iterations > 1 else 0
    n_ste = int(round(opts.iterations * opts.ste_frac)) if opts.iterations > 1 else 0
    n_cand = max(1, opts.candidates) if opts.warmup > 0 else 1
    n_noise = max(1, opts.iterations - n_final - n_ste - (n_cand - 1) * opts.warmup)

    def start(seed):
        p = init_params(spec, torch.Generator().manual_seed(seed), "cpu")
        p = {k: v.detach().to(device).requires_grad_(True) for k, v in p.items()}
        return p, torch.Generator(device=device).manual_seed(seed + 1)
    try:
        best = None
        w = min(opts.warmup, n_noise) if n_cand > 1 else 0
        for c in range(n_cand if w else 0):
            params, gen = start(opts.seed + 1000 * c)
            opt = _noise_phase(spec, params, target, lam, opts, clock, w, bar, history, gen, share_of=n_noise)
            loss = _hard_loss(spec, params, target, lam)
            if best is None or loss < best[0]:
                best = (loss, params, gen, opt)
        if best is None:
            params, gen = start(opts.seed)
            opt = None
        else:
            _, params, gen, opt = best
        _noise_phase(spec, params, target, lam, opts, clock, n_noise, bar, history, gen, opt=opt, start=w)
        _ste_phase(spec, params, target, lam, opts, clock, n_ste, bar, history)
        _final_phase(spec, params, target, lam, opts, clock, n_final, bar, history)
    finally:
        if bar is not None:
            bar.close()
    out = {k: v.detach().cpu().numpy().astype(np.float64) for k, v in params.items()}
    return FitResult(spec, out, clock.done, time.perf_counter() - clock.t0, time.process_time() - clock.c0, history)


# ------------------------------------------------------------------ weight quantization

def quantize_values(w: np.ndarray, k: int) -> np.ndarray:
    """round(w * 2**k), clipped to the weight bound, as integer-valued float64."""
    return np.clip(np.round(np.asarray(w, dtype=np.float64) * float(1 << k)), -MAX_WEIGHT_INT, MAX_WEIGHT_INT)


def laplace_bits_estimate(q: np.ndarray) -> float:
    """Bits to code integers q with the best zero-mean discretised Laplace (a close estimate of
    what the engine's table coding spends, side information included)."""
    q = np.abs(np.asarray(q, dtype=np.float64).reshape(-1))
    if not q.size or not q.any():
        return 4.0
    best = math.inf
    for j in range(N_SCALES):
        b = 2.0 ** (LOG2_B_MIN + j / SCALES_PER_OCTAVE)
        p0 = 1 - math.exp(-0.5 / b)
        tail = math.log2(0.5) + np.log2(-math.expm1(-1 / b)) - (q - 0.5) / b / math.log(2)
        bits = -np.where(q == 0, math.log2(max(p0, 1e-300)), tail).sum()
        best = min(best, float(bits))
    return best + 4 + 7


def weight_bits(ints: dict[str, np.ndarray]) -> float:
    """Estimated coded size of all integer network tensors."""
    return sum(laplace_bits_estimate(v) for v in ints.values())


def quantize_net(spec: InrSpec, params: dict[str, np.ndarray], steps: dict[str, tuple[int, int]]) -> dict:
    """Integer tensors of the network at the given per-module steps."""
    out = {}
    for name, _ in spec.param_shapes():
        kw, kb = steps[module_of(name)]
        out[name] = quantize_values(params[name], kb if is_bias(name) else kw)
    return out


def latent_ints(spec: InrSpec, params: dict[str, np.ndarray]) -> list[np.ndarray]:
    """Rounded, clamped integer latent grids (finest first)."""
    return [np.clip(np.round(params[f"latent.{l}"][0, 0]), -LATENT_MAX, LATENT_MAX).astype(np.int64)
            for l in range(spec.levels)]


def _rd_cost(spec, params, ints, steps, target, lam, device) -> float:
    """MSE + lam * (latent bits + weight bits) / pixels with the dequantized network (float)."""
    deq = dict(params)
    for name, v in ints.items():
        kw, kb = steps[module_of(name)]
        deq[name] = v / float(1 << (kb if is_bias(name) else kw))
    with torch.no_grad():
        tp = {k: _to_tensor(v, device) for k, v in deq.items()}
        x, bits = forward_t(spec, tp, "hard")
        mse = float(torch.mean((torch.round(torch.clamp(x, 0, 1) * 255) / 255 - target) ** 2))
    return mse + lam * (float(bits) + weight_bits(ints)) / float(spec.height * spec.width)


def choose_steps(fitres: FitResult, image: np.ndarray, lam: float, device=None,
                 candidates: Sequence[int] = tuple(range(3, 15))) -> tuple[dict, dict, float]:
    """Per-module quantization steps by rate-distortion cost (greedy: weights, then biases, module by
    module); returns (steps, integer tensors, cost)."""
    spec, params = fitres.spec, fitres.params
    device = device or torch.device("cpu")
    target = image_tensor(image, device)
    steps = {m: (12, 14) for m in MODULES}

    def cost(st):
        ints = quantize_net(spec, params, st)
        return _rd_cost(spec, params, ints, st, target, lam, device), ints

    best, ints = cost(steps)
    for m in MODULES:
        if not any(module_of(n) == m for n, _ in spec.param_shapes()):
            continue
        for which in (0, 1):
            for k in candidates:
                trial = dict(steps)
                trial[m] = (k, steps[m][1]) if which == 0 else (steps[m][0], k)
                c, q = cost(trial)
                if c < best:
                    best, steps, ints = c, trial, q
    return steps, ints, best
