"""Wavelet-packet autoencoder (WaLLoC-style) for images (2-D) and audio (1-D).

A fixed orthogonal Daubechies wavelet packet transform (exact inverse, periodic extension)
feeds a linear analysis initialised to the PCA/KLT of the packet coefficients plus a small
learned residual; a per-level gain sets the rate; a mean-scale hyperprior models the latents;
the synthesis mirrors the analysis. One class serves 1-D and 2-D data (``dims``).
"""
from __future__ import annotations

import copy
import math
from dataclasses import asdict, dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

SCALE_MIN = 0.11          # smallest scale the entropy tables hold (compressai's default bound)
SCALE_MAX = 256.0
N_SCALES = 64


def scale_table() -> np.ndarray:
    """The scales the coder's Gaussian tables are built for (log-spaced); latents whose predicted scale
    snaps to the first entry are not coded at all (they are zero with probability > 1 - 1e-5)."""
    return np.exp(np.linspace(np.log(SCALE_MIN), np.log(SCALE_MAX), N_SCALES))


_SMALLEST = float(scale_table()[0])


def daubechies(n: int) -> np.ndarray:
    """Orthonormal Daubechies lowpass filter with ``n`` vanishing moments (2n taps), by spectral factorisation."""
    if n == 1:
        return np.array([1.0, 1.0]) / math.sqrt(2.0)
    # P(y) = sum_k C(n-1+k, k) y^k with y = sin^2(w/2) = (2 - z - 1/z) / 4
    coeffs = [math.comb(n - 1 + k, k) for k in range(n)]
    yroots = np.roots(coeffs[::-1])
    zroots = []
    for y in yroots:
        r = np.roots([1.0, -(2.0 - 4.0 * y), 1.0])      # z^2 - (2 - 4y) z + 1 = 0
        zroots.append(r[np.argmin(np.abs(r))])           # minimum phase: the root inside the circle
    q = np.real(np.poly(zroots))
    h = np.convolve(q, np.poly(-np.ones(n)))            # times (1 + z)^n
    h = np.real(h)
    return h * (math.sqrt(2.0) / h.sum())


def packet_filters(levels: int, vanishing: int) -> np.ndarray:
    """The 2**levels equivalent 1-D filters of a full packet tree (stride 2**levels), one per row.

    Level filters compose as f = f1 * upsample(f2), because each level correlates then decimates by 2.
    """
    h = daubechies(vanishing)
    g = h[::-1] * np.array([(-1) ** k for k in range(len(h))])
    bank = [np.array([1.0])]
    for lev in range(levels):
        up = 2 ** lev
        nxt = []
        for f in bank:
            for base in (h, g):
                u = np.zeros((len(base) - 1) * up + 1)
                u[::up] = base
                nxt.append(np.convolve(f, u))
        bank = nxt
    return np.stack(bank)


def _circ_pad(x: torch.Tensor, p: int, axis: int) -> torch.Tensor:
    """Append the first ``p`` samples along ``axis`` periodically (any p, even beyond the length)."""
    n = x.shape[axis]
    parts = [x] + [x] * (p // n) + ([x.narrow(axis, 0, p % n)] if p % n else [])
    return torch.cat(parts, dim=axis)


def _circ_fold(y: torch.Tensor, n: int, axis: int) -> torch.Tensor:
    """Sum a longer-than-``n`` periodic result back onto length ``n`` along ``axis``."""
    out = y.narrow(axis, 0, n).clone()
    pos = n
    while pos < y.shape[axis]:
        k = min(n, y.shape[axis] - pos)
        out.narrow(axis, 0, k).add_(y.narrow(axis, pos, k))
        pos += k
    return out


class WaveletPacket(nn.Module):
    """Orthogonal separable wavelet packet transform, ``levels`` full levels over the last ``dims`` axes.

    Input (N, C, *S) with every S divisible by 2**levels; output (N, C * 2**(dims*levels), *S / 2**levels).
    The whole tree runs as one strided convolution per axis (the 2-D packet filters are outer
    products of the 1-D ones) with periodic extension, so the transform is orthogonal and
    ``inverse`` (the transposed convolutions, folded) is exact.
    """

    def __init__(self, dims: int, levels: int, vanishing: int = 2) -> None:
        super().__init__()
        self.dims, self.levels = dims, levels
        f1 = packet_filters(levels, vanishing)                     # (B, K)
        self.register_buffer("f1", torch.tensor(f1, dtype=torch.float64), persistent=False)
        self.stride = 2 ** levels
        self.taps = f1.shape[1]
        self.bands = f1.shape[0] ** dims

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.dims == 2:
            return self._forward2(x)
        x = _circ_pad(x, self.taps - self.stride, 2)
        c = x.shape[1]
        w = self.f1.to(x.dtype)[:, None, :].repeat(c, 1, 1)
        return F.conv1d(x, w, stride=self.stride, groups=c)

    def _forward2(self, x: torch.Tensor) -> torch.Tensor:
        """The 2-D tree as two 1-D passes (rows, then columns): the packet filters are separable,
        so this is the same transform at 44 instead of 484 multiply-adds per pixel and channel."""
        n, c = x.shape[:2]
        x = _circ_pad(_circ_pad(x, self.taps - self.stride, 2), self.taps - self.stride, 3)
        f = self.f1.to(x.dtype)
        b, s = f.shape[0], self.stride
        h = F.conv2d(x.reshape(n * c, 1, *x.shape[2:]), f.view(b, 1, -1, 1), stride=(s, 1))   # (nc, b, H/s, W+)
        h = F.conv2d(h.reshape(n * c * b, 1, *h.shape[2:]), f.view(b, 1, 1, -1), stride=(1, s))
        return h.reshape(n, c * b * b, *h.shape[2:])

    def inverse(self, y: torch.Tensor) -> torch.Tensor:
        """Exact inverse (the transpose): per axis, a polyphase convolution -- output phase r of block M
        is sum_t sum_band y_band[M - t] f_band[stride t + r] over the periodic signal -- then the phases
        are interleaved. Regular small convolutions instead of a strided transposed one (~5x faster)."""
        n, c = y.shape[0], y.shape[1] // self.bands
        w = self._polyphase(y.dtype)
        b, k = w.shape[0], w.shape[2]
        if self.dims == 1:
            return self._synth_axis(y.reshape(n * c, b, -1), w, F.conv1d).reshape(n, c, -1)
        hh, ww = y.shape[2], y.shape[3]
        t = y.reshape(n * c * b, b, hh, ww)                                        # (n c a, b, h, w)
        t = self._synth_axis(t, w.view(b, b, 1, k), F.conv2d, axis=3)              # (n c a, 1, h, W)
        t = self._synth_axis(t.reshape(n * c, b, hh, ww * self.stride), w.view(b, b, k, 1), F.conv2d, axis=2)
        return t.reshape(n, c, hh * self.stride, ww * self.stride)

    def _polyphase(self, dtype: torch.dtype) -> torch.Tensor:
        """(phase r, band, tap k) weights f_band[stride (K-1-k) + r] of the polyphase synthesis."""
        f, s = self.f1, self.stride
        k = -(-self.taps // s)
        pad = torch.zeros(f.shape[0], k * s, dtype=f.dtype)
        pad[:, :self.taps] = f
        w = pad.view(f.shape[0], k, s).permute(2, 0, 1).flip(2)                   # (r, band, k)
        return w.to(dtype).contiguous()

    def _synth_axis(self, t: torch.Tensor, w: torch.Tensor, conv, axis: int = 2) -> torch.Tensor:
        """Polyphase synthesis along ``axis`` (input channels = bands): periodic left pad of K-1 blocks,
        convolution to the stride phases, phases interleaved into the axis."""
        k = w.shape[2] if axis == 2 else w.shape[3]
        n = t.shape[axis]
        if n >= k - 1:
            t = torch.cat([t.narrow(axis, n - (k - 1), k - 1), t], dim=axis)
        else:
            t = t.index_select(axis, torch.arange(-(k - 1), n, device=t.device) % n)
        out = conv(t, w)                                                           # (.., phase, .., L, ..)
        moved = out.movedim(1, axis)                                               # phase next to its block
        shape = list(out.shape)
        shape[axis] *= self.stride
        del shape[1]
        return moved.reshape(shape[0], *shape[1:]).unsqueeze(1)


def _conv(dims: int):
    return nn.Conv2d if dims == 2 else nn.Conv1d


def _tconv(dims: int):
    return nn.ConvTranspose2d if dims == 2 else nn.ConvTranspose1d


@dataclass
class WaveletConfig:
    """Architecture of a ``WaveletAE`` (stored beside its weights)."""

    dims: int = 2
    in_ch: int = 3
    levels: int = 2
    vanishing: int = 2
    hidden: int = 64
    hyper: int = 64
    z_ch: int = 32
    lambdas: list = field(default_factory=lambda: [0.0018, 0.0035, 0.0067, 0.013, 0.025, 0.05, 0.1])
    dist_scale: float = 255.0 ** 2    # loss = lambda * dist_scale * MSE + bits per sample/pixel
    offset: float = 0.5               # input is centred by subtracting this

    @property
    def channels(self) -> int:
        return self.in_ch * 2 ** (self.dims * self.levels)

    @property
    def block(self) -> int:
        """Each spatial size is padded to a multiple of this (packet levels + two hyper strides)."""
        return 2 ** self.levels * 4

    def to_dict(self) -> dict:
        return asdict(self)


class FiLMRes(nn.Module):
    """Residual conv block whose hidden layer is modulated per quality level (zero-initialised output)."""

    def __init__(self, dims: int, ch: int, hidden: int, n_levels: int) -> None:
        super().__init__()
        conv = _conv(dims)
        self.c1 = conv(ch, hidden, 3, padding=1)
        self.c2 = conv(hidden, hidden, 3, padding=1)
        self.c3 = conv(hidden, ch, 3, padding=1)
        nn.init.zeros_(self.c3.weight)
        nn.init.zeros_(self.c3.bias)
        self.scale = nn.Parameter(torch.zeros(n_levels, hidden))
        self.shift = nn.Parameter(torch.zeros(n_levels, hidden))
        self.dims = dims

    def forward(self, x: torch.Tensor, q: torch.Tensor | None) -> torch.Tensor:
        h = self.c1(x)
        if q is not None:
            view = (-1, self.scale.shape[1]) + (1,) * self.dims
            h = h * (1 + self.scale[q].view(view)) + self.shift[q].view(view)
        h = F.gelu(h)
        h = F.gelu(self.c2(h))
        return x + self.c3(h)


class FrozenBottleneck(nn.Module):
    """Inference stand-in for compressai's EntropyBottleneck: its medians and integer CDF tables only
    (so the codec never imports compressai); ``forward`` gives the tables' likelihoods."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.register_buffer("quantiles", torch.zeros(channels, 1, 3))
        for name in ("_quantized_cdf", "_offset", "_cdf_length"):
            self.register_buffer(name, torch.zeros(0, dtype=torch.int32))

    def forward(self, z: torch.Tensor, training: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
        med = self.quantiles[:, 0, 1].double().view(1, -1, *(1,) * (z.dim() - 2))
        sym = torch.round(z.double() - med)
        cdf = self._quantized_cdf.long()
        c = torch.arange(z.shape[1]).view(1, -1, *(1,) * (z.dim() - 2)).expand_as(sym)
        rel = sym.long() - self._offset.long()[c]
        size = self._cdf_length.long()[c] - 2                  # last bin is the overflow bin
        idx = torch.where((rel >= 0) & (rel < size), rel, size)
        p = (cdf[c, idx + 1] - cdf[c, idx]).double() / float(1 << 16)
        return (sym + med).float(), p.float()


class WaveletAE(nn.Module):
    """Wavelet packet + PCA-initialised linear analysis/synthesis, gains per level, mean-scale hyperprior."""

    def __init__(self, cfg: WaveletConfig, frozen_prior: bool = False) -> None:
        super().__init__()
        self.cfg = cfg
        d, c, nl = cfg.dims, cfg.channels, len(cfg.lambdas)
        conv, tconv = _conv(d), _tconv(d)
        self.wpt = WaveletPacket(d, cfg.levels, cfg.vanishing)
        self.a_lin = conv(c, c, 1)
        self.a_res = FiLMRes(d, c, cfg.hidden, nl)
        self.s_lin = conv(c, c, 1)
        self.s_res = FiLMRes(d, c, cfg.hidden, nl)
        self.log_gain = nn.Parameter(torch.zeros(nl, c))
        self.log_igain = nn.Parameter(torch.zeros(nl, c))
        hz = cfg.hyper
        self.h_a = nn.Sequential(conv(c, hz, 3, padding=1), nn.LeakyReLU(),
                                 conv(hz, hz, 5, stride=2, padding=2), nn.LeakyReLU(),
                                 conv(hz, cfg.z_ch, 5, stride=2, padding=2))
        self.h_s = nn.Sequential(tconv(cfg.z_ch, hz, 5, stride=2, padding=2, output_padding=1), nn.LeakyReLU(),
                                 tconv(hz, hz, 5, stride=2, padding=2, output_padding=1), nn.LeakyReLU(),
                                 conv(hz, 2 * c, 3, padding=1))
        with torch.no_grad():                      # start with near-zero hyper-latents: little side-info cost
            self.h_a[-1].weight.mul_(0.1)
            self.h_a[-1].bias.zero_()
        if frozen_prior:
            self.entropy_bottleneck = FrozenBottleneck(cfg.z_ch)
        else:
            from compressai.entropy_models import EntropyBottleneck
            self.entropy_bottleneck = EntropyBottleneck(cfg.z_ch)
        self._hs64: tuple[nn.Module, nn.Module] | None = None
        self.init_closed_form(np.eye(c))

    # ---------------------------------------------------------------- closed-form start
    def init_closed_form(self, basis: np.ndarray, stds: np.ndarray | None = None) -> None:
        """Analysis = ``basis`` (rows: PCA directions), synthesis = its transpose, gains from the lambda ladder,
        prior scales = the PCA component standard deviations."""
        c, d = self.cfg.channels, self.cfg.dims
        b = torch.tensor(basis, dtype=torch.float32)
        with torch.no_grad():
            self.a_lin.weight.copy_(b.view(c, c, *(1,) * d))
            self.a_lin.bias.zero_()
            self.s_lin.weight.copy_(b.t().reshape(c, c, *(1,) * d))
            self.s_lin.bias.zero_()
            for i, lam in enumerate(self.cfg.lambdas):
                # high-rate optimum step: delta^2 = 6 * in_ch / (ln2 * lambda * dist_scale) per coefficient
                per = self.cfg.in_ch if self.cfg.dims == 2 else 1
                delta = math.sqrt(6.0 * per / (math.log(2) * lam * self.cfg.dist_scale))
                self.log_gain[i].fill_(-math.log(delta))
                self.log_igain[i].fill_(math.log(delta))
            self.h_s[-1].weight.zero_()
            self.h_s[-1].bias.zero_()
            if stds is not None:
                self.h_s[-1].bias[c:].copy_(torch.tensor(np.log(np.maximum(stds, 1e-4)), dtype=torch.float32))
        self._hs64 = None

    # ---------------------------------------------------------------- parts
    def pad(self, x: torch.Tensor) -> torch.Tensor:
        """Replicate-pad the spatial axes up to a multiple of ``cfg.block``."""
        b = self.cfg.block
        pads = []
        for s in reversed(x.shape[2:]):
            pads += [0, (-s) % b]
        if any(pads):
            mode = "replicate"
            x = F.pad(x, pads, mode=mode)
        return x

    def analysis(self, x: torch.Tensor) -> torch.Tensor:
        """Padded input -> level-independent (unscaled, unquantised) latents."""
        w = self.wpt(x - self.cfg.offset)
        return self.a_res(self.a_lin(w), None)

    def synthesis(self, y_hat: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
        """Quantised latents -> reconstruction (padded size)."""
        w = self.s_lin(y_hat * self._gain(self.log_igain, q))
        w = self.s_res(w, q)
        return self.wpt.inverse(w) + self.cfg.offset

    def _gain(self, logg: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
        return torch.exp(logg[q]).view(-1, logg.shape[1], *(1,) * self.cfg.dims)

    def entropy_params(self, z_hat: torch.Tensor, q: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Means and scales of the level-``q`` latents from the quantised hyper-latents.

        The hyper-synthesis predicts in level-independent units; the level's gain scales both.
        At test time the encoder and decoder must snap every scale to the same table index: the
        layers before the last run in float64, the last (most of the cost) in float32, and the few
        scales whose float32 value lies within that layer's rounding-error bound of a table boundary
        are recomputed in float64 (``_exact_near_boundaries``), so the indexes are those of an
        all-float64 pass on any machine and thread count."""
        if self.training:
            out, logg = self.h_s(z_hat), self.log_gain
        else:
            front, last = self._hyper_eval()
            h = front(z_hat.double())
            h32 = h.float()
            out = last(h32)
            logg = self.log_gain.detach().double()
        mu, s = out.chunk(2, dim=1)
        g = self._gain(logg, q)
        if not self.training:
            mu, s = mu.double(), self._exact_near_boundaries(s, h, h32, logg[q])
        return mu * g, (torch.exp(s.clamp(-20, 20)) * g).clamp_min(_SMALLEST)

    def _hyper_eval(self) -> tuple[nn.Module, nn.Module]:
        """Test-time hyper-synthesis: (float64 layers before the last, float32 last layer), cached."""
        if self._hs64 is None:
            hs = copy.deepcopy(self.h_s).eval()
            for p in hs.parameters():
                p.requires_grad_(False)
            self._hs64 = (hs[:-1].double(), hs[-1].float())
        return self._hs64

    def _exact_near_boundaries(self, s: torch.Tensor, h: torch.Tensor, h32: torch.Tensor,
                               logg: torch.Tensor) -> torch.Tensor:
        """Float32 log-scales ``s`` with those near a table boundary replaced by float64 values.

        Any summation order of the last layer's n products is within gamma_n * sum|w h| of the exact
        value (u = 2^-24, gamma_n = n u / (1 - n u), plus u per rounded input); sum|w h| is bounded by
        max|w| * (3x3 box of sum_k |h_k|). A scale farther than that (plus a float32 screening margin)
        from every boundary ``log(table[k]) - log(gain)`` snaps to the float64 pass's index; the rest
        (about 1 %) are recomputed from ``h`` in float64 (``h32``: the float32 copy the layer saw)."""
        last = self._hyper_eval()[1]
        c, dims = self.cfg.channels, self.cfg.dims
        w = last.weight[c:]
        n = w[0].numel() + 1
        u = 2.0 ** -24
        gam = (n * u / (1 - n * u) + u) * 1.05
        view = (1, -1) + (1,) * dims
        box = F.avg_pool2d if dims == 2 else F.avg_pool1d
        k3 = 3 ** dims
        a = box(h32.abs().sum(1, keepdim=True), 3, stride=1, padding=1, count_include_pad=True) * k3
        bound = a * (gam * w.abs().flatten(1).amax(1)).view(view) + (gam * last.bias[c:].abs()).view(view) + 1e-5
        step = math.log(SCALE_MAX / SCALE_MIN) / (N_SCALES - 1)
        pos = (s.float() + (logg - math.log(SCALE_MIN)).float().view(-1, c, *(1,) * dims)) * (1.0 / step)
        k = pos.round()
        near = ((pos - k).abs() * step <= bound) & (k >= 0) & (k <= N_SCALES - 2)
        s = s.double()
        if not bool(near.any()):
            return s
        idx = near.nonzero(as_tuple=True)
        hp = F.pad(h, (1, 1) * dims)
        taps = torch.arange(3)
        ch = torch.arange(h.shape[1]).view(1, -1, *(1,) * dims)
        if dims == 2:
            b, cc, i, j = (t.view(-1, 1, 1, 1) for t in idx)
            patch = hp[b, ch, i + taps.view(1, 1, 3, 1), j + taps.view(1, 1, 1, 3)]
        else:
            b, cc, i = (t.view(-1, 1, 1) for t in idx)
            patch = hp[b, ch, i + taps.view(1, 1, 3)]
        cc = cc.reshape(-1)
        s[idx] = (patch * w.double()[cc]).flatten(1).sum(1) + last.bias[c:].double()[cc]
        return s

    def train(self, mode: bool = True):
        self._hs64 = None
        return super().train(mode)

    # ---------------------------------------------------------------- likelihoods
    @staticmethod
    def gaussian_bits(y: torch.Tensor, mu: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
        """-log2 P of integer-spaced values under a quantised Gaussian (training rate term)."""
        v = (y - mu).abs()
        upper = torch.special.ndtr((0.5 - v) / scale)
        lower = torch.special.ndtr((-0.5 - v) / scale)
        p = (upper - lower).clamp_min(1e-9)
        return -torch.log2(p)

    def forward(self, x: torch.Tensor, q: torch.Tensor) -> dict:
        """Training (noise) or test (rounding, float64 entropy params) pass on a padded batch."""
        y_u = self.analysis(x)
        z = self.h_a(y_u)
        y = y_u * self._gain(self.log_gain, q)
        if self.training:
            z_t, z_lik = self.entropy_bottleneck(z)
            mu, scale = self.entropy_params(z_t, q)
            y_noisy = y + torch.empty_like(y).uniform_(-0.5, 0.5)
            y_bits = self.gaussian_bits(y_noisy, mu, scale)
            y_hat = torch.round(y - mu).detach() + (y - y.detach()) + mu    # straight-through rounding
            z_bits = -torch.log2(z_lik.clamp_min(1e-9))
            y_sym = None
        else:
            lat = self._test_latents(y, z, q)
            y_sym, mu, scale = lat["y_sym"], lat["mu"], lat["scale"]
            y_bits = self.gaussian_bits(y_sym + mu, mu, scale)
            y_hat = (y_sym + mu).float()
            z_bits = -torch.log2(self.entropy_bottleneck(z, training=False)[1].clamp_min(1e-9))
        x_hat = self.synthesis(y_hat, q)
        return {"x_hat": x_hat, "y_bits": y_bits, "z_bits": z_bits, "y_sym": y_sym, "y": y}

    def _test_latents(self, y: torch.Tensor, z: torch.Tensor, q: torch.Tensor) -> dict:
        z_sym, z_hat = self.quantize_z(z)
        mu, scale = self.entropy_params(z_hat, q)
        y_sym = torch.round(y.double() - mu)
        y_sym = torch.where(scale <= _SMALLEST, torch.zeros_like(y_sym), y_sym)   # skipped
        return {"z_sym": z_sym, "y_sym": y_sym, "mu": mu, "scale": scale}

    @torch.no_grad()
    def encode_latents(self, x: torch.Tensor, q: torch.Tensor) -> dict:
        """Test-time encoder on a padded batch: integer z/y symbols (float64 tensors) and the y means/scales."""
        y_u = self.analysis(x)
        z = self.h_a(y_u)
        return self._test_latents(y_u * self._gain(self.log_gain, q), z, q)

    @torch.no_grad()
    def decode_latents(self, y_sym: torch.Tensor, mu: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
        """Test-time decoder: integer symbols + float64 means -> padded reconstruction."""
        return self.synthesis((y_sym + mu).float(), q)

    def quantize_z(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Integer hyper-latent symbols (relative to the channel medians) and their float64 values."""
        med = self.entropy_bottleneck.quantiles[:, 0, 1].detach().double().view(1, -1, *(1,) * self.cfg.dims)
        z_sym = torch.round(z.double() - med)
        return z_sym, z_sym + med

    def z_medians(self) -> torch.Tensor:
        """Per-channel medians (float64) the z symbols are relative to."""
        return self.entropy_bottleneck.quantiles[:, 0, 1].detach().double()


def build(cfg: WaveletConfig | dict, frozen_prior: bool = False) -> WaveletAE:
    """A model from a config (or its dict form); ``frozen_prior`` for inference without compressai."""
    if isinstance(cfg, dict):
        cfg = WaveletConfig(**cfg)
    return WaveletAE(cfg, frozen_prior)
