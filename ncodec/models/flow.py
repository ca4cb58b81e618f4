"""Integer discrete flow (IDF-style) for images of 8-bit pixels: squeeze levels with integer
additive couplings, factor-out stages with discretized-logistic-mixture priors conditioned on
what is already known, and a checkerboard split at the top.

Every operation maps integers to integers (couplings add a rounded, clamped translation), so
the flow is exactly invertible; the prior parameters of each coded stage depend only on values
the decoder already has. The codec (``ncodec.codecs.flow``) turns those parameters into integer
tables; this module does no entropy coding.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

LOG2 = math.log(2.0)


@dataclass
class FlowConfig:
    """Shape and size of a flow model (stored with its weights)."""

    channels: int = 1          # colour channels C of the image
    size: int = 28             # square input side (28 for MNIST, 32 for photo tiles)
    levels: int = 2            # squeeze levels (size must be divisible by 2**levels)
    hidden: int = 48           # conv width of every net
    depth: int = 4             # conv layers per net
    n_mix: int = 5             # logistic mixture components per coded value
    couplings: int = 1         # integer additive couplings per level (kept += round(t(rest)))
    t_max: int = 64            # |translation| bound of a coupling (keeps latent supports finite)
    color_split: bool = False  # code colour channels of a stage one after another (R, then G|R, ...)

    def to_dict(self) -> dict:
        """Plain dict for checkpoints and weight files."""
        return asdict(self)


def round_ste(x: torch.Tensor) -> torch.Tensor:
    """Round to the nearest integer; the gradient passes straight through."""
    return x + (torch.round(x) - x).detach()


def _norm(x: torch.Tensor) -> torch.Tensor:
    return (x - 127.5) / 64.0


class ConvNet(nn.Module):
    """A small 3x3 conv stack (SiLU) mapping known channels to per-pixel outputs."""

    def __init__(self, cin: int, cout: int, hidden: int, depth: int, zero_last: bool = False) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Conv2d(cin, hidden, 3, padding=1)]
        for _ in range(max(depth - 2, 0)):
            layers += [nn.SiLU(), nn.Conv2d(hidden, hidden, 3, padding=1)]
        layers += [nn.SiLU(), nn.Conv2d(hidden, cout, 1)]
        self.net = nn.Sequential(*layers)
        if zero_last:
            nn.init.zeros_(self.net[-1].weight)
            nn.init.zeros_(self.net[-1].bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class MixtureHead(nn.Module):
    """Turns raw net outputs into mixture parameters (logits, means in value units, log-scales)."""

    def __init__(self, n_mix: int) -> None:
        super().__init__()
        self.n_mix = n_mix

    def split(self, raw: torch.Tensor, n_ch: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """raw (B, 3*K*n_ch, H, W) -> three (B, n_ch, K, H, W) tensors."""
        b, _, h, w = raw.shape
        r = raw.view(b, 3, self.n_mix, n_ch, h, w).transpose(2, 3)
        k = self.n_mix
        spread = torch.linspace(-1.0, 1.0, k, dtype=raw.dtype, device=raw.device).view(1, 1, k, 1, 1)
        logits = r[:, 0]
        means = 127.5 + 128.0 * (r[:, 1] + spread)
        log_s = (r[:, 2] + 2.0).clamp(min=-4.0, max=7.0)
        return logits, means, log_s


def mixture_log2prob(x: torch.Tensor, logits: torch.Tensor, means: torch.Tensor, log_s: torch.Tensor,
                     lo: float, hi: float) -> torch.Tensor:
    """log2 P(x) of integers x (B, C, H, W) under a discretized logistic mixture on [lo, hi]
    (edge bins take the tails). Mixture tensors are (B, C, K, H, W)."""
    xk = x.unsqueeze(2)
    inv_s = torch.exp(-log_s)
    centred = xk - means
    up = (centred + 0.5) * inv_s
    dn = (centred - 0.5) * inv_s
    cdf_up = torch.sigmoid(up)
    cdf_dn = torch.sigmoid(dn)
    log_cdf_up = up - F.softplus(up)          # log sigmoid(up)
    log_one_minus_dn = -F.softplus(dn)        # log (1 - sigmoid(dn))
    diff = cdf_up - cdf_dn
    mid = centred * inv_s
    log_pdf_mid = mid - log_s - 2.0 * F.softplus(mid)
    log_mid = torch.where(diff > 1e-5, torch.log(diff.clamp(min=1e-12)), log_pdf_mid)
    logp = torch.where(xk <= lo, log_cdf_up, torch.where(xk >= hi, log_one_minus_dn, log_mid))
    logp = torch.logsumexp(logp + torch.log_softmax(logits, dim=2), dim=2)
    return logp / LOG2


@dataclass
class Stage:
    """One coded group: which channels of the level tensor, which are known before it, its support."""

    level: int                  # squeeze level (== levels for the top)
    coded: list[int]            # channel indexes coded in this stage
    known: list[int]            # channel indexes the prior is conditioned on
    lo: int
    hi: int
    mask: str = ""              # "" or "anchor"/"other" for the top checkerboard


class IntFlow(nn.Module):
    """The integer flow + conditional priors. ``forward`` returns bits per image (training loss);
    ``latents`` / ``stage_params`` / ``inverse_level`` are the pieces the codec drives."""

    def __init__(self, cfg: FlowConfig) -> None:
        super().__init__()
        if cfg.size % (1 << cfg.levels):
            raise ValueError("size must be divisible by 2**levels")
        self.cfg = cfg
        c, hcfg, d, k = cfg.channels, cfg.hidden, cfg.depth, cfg.n_mix
        self.head = MixtureHead(k)
        self.couplings = nn.ModuleList()
        self.priors = nn.ModuleList()
        self.stages: list[list[Stage]] = []
        lo, hi = 0, 255
        for lev in range(cfg.levels):
            kept = [ch * 4 for ch in range(c)]
            rest = [ch * 4 + p for ch in range(c) for p in (1, 2, 3)]
            cp = nn.ModuleList([ConvNet(3 * c, c, hcfg, d, zero_last=True) for _ in range(cfg.couplings)])
            self.couplings.append(cp)
            klo, khi = lo - cfg.t_max * cfg.couplings, hi + cfg.t_max * cfg.couplings
            groups = [[ch * 4 + 3 for ch in range(c)], [ch * 4 + p for ch in range(c) for p in (1, 2)]]
            if cfg.color_split and c > 1:
                groups = [[g[i] for i in range(len(g)) if g[i] // 4 == ch] for g in groups for ch in range(c)]
            stages, known = [], list(kept)
            for g in groups:
                stages.append(Stage(lev, g, list(known), lo, hi))
                known = known + g
            self.stages.append(stages)
            self.priors.append(nn.ModuleList([
                ConvNet(len(s.known), 3 * k * len(s.coded), hcfg, d) for s in stages]))
            del rest
            lo, hi = klo, khi
        side = cfg.size >> cfg.levels
        self.top_lo, self.top_hi = lo, hi
        self.top_anchor = nn.Parameter(torch.zeros(1, 3 * k * c, side, side))
        self.top_net = ConvNet(c + 1, 3 * k * c, hcfg, max(d - 1, 2))
        self.stages.append([Stage(cfg.levels, list(range(c)), [], lo, hi, "anchor"),
                            Stage(cfg.levels, list(range(c)), list(range(c)), lo, hi, "other")])
        yy, xx = torch.meshgrid(torch.arange(side), torch.arange(side), indexing="ij")
        self.register_buffer("checker", ((yy + xx) % 2 == 0).to(torch.float32).view(1, 1, side, side),
                             persistent=False)

    # --- the bijection ----------------------------------------------------------------
    def couple(self, lev: int, y: torch.Tensor, ste: bool) -> torch.Tensor:
        """Forward couplings of one level on the squeezed tensor: kept += round(clamp(t(rest)))."""
        c = self.cfg.channels
        kept_idx = [ch * 4 for ch in range(c)]
        rest_idx = [ch * 4 + p for ch in range(c) for p in (1, 2, 3)]
        for net in self.couplings[lev]:
            t = self.translation(net, y[:, rest_idx], ste)
            y = y.clone()
            y[:, kept_idx] = y[:, kept_idx] + t
        return y

    def translation(self, net: nn.Module, rest: torch.Tensor, ste: bool) -> torch.Tensor:
        """Integer translation from the rest channels (clamped to +-t_max)."""
        t = net(_norm(rest)).clamp(-self.cfg.t_max, self.cfg.t_max)
        return round_ste(t) if ste else torch.round(t)

    def inverse_level(self, lev: int, y: torch.Tensor) -> torch.Tensor:
        """Undo one level's couplings (in reverse order) and unsqueeze: exact in integers."""
        c = self.cfg.channels
        kept_idx = [ch * 4 for ch in range(c)]
        rest_idx = [ch * 4 + p for ch in range(c) for p in (1, 2, 3)]
        for net in reversed(self.couplings[lev]):
            t = self.translation(net, y[:, rest_idx], ste=False)
            y = y.clone()
            y[:, kept_idx] = y[:, kept_idx] - t
        return F.pixel_shuffle(y, 2)

    def latents(self, x: torch.Tensor, ste: bool = False) -> list[torch.Tensor]:
        """Level tensors after squeeze + couplings (one per level) and the top tensor last."""
        out = []
        h = x
        c = self.cfg.channels
        for lev in range(self.cfg.levels):
            y = self.couple(lev, F.pixel_unshuffle(h, 2), ste)
            out.append(y)
            h = y[:, [ch * 4 for ch in range(c)]]
        out.append(h)
        return out

    # --- priors ---------------------------------------------------------------------------
    def stage_params(self, lev: int, si: int, y: torch.Tensor):
        """Mixture parameters (B, n_coded, K, H, W) x3 for stage ``si`` of level ``lev``, from
        ``y`` (the level tensor; only the stage's known channels are read)."""
        st = self.stages[lev][si]
        n = len(st.coded)
        if lev == self.cfg.levels:
            if st.mask == "anchor":
                raw = self.top_anchor.expand(y.shape[0], -1, -1, -1).to(y.dtype)
            else:
                m = self.checker.to(y.dtype)
                raw = self.top_net(torch.cat([_norm(y) * m, m.expand(y.shape[0], -1, -1, -1)], 1))
        else:
            raw = self.priors[lev][si](_norm(y[:, st.known]))
        return self.head.split(raw, n)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, dict]:
        """Bits per image (B,) of integer images x (B, C, S, S), with STE rounding in couplings."""
        lat = self.latents(x, ste=True)
        total = x.new_zeros(x.shape[0])
        parts = {}
        for lev, y in enumerate(lat):
            for si, st in enumerate(self.stages[lev]):
                logits, means, log_s = self.stage_params(lev, si, y)
                vals = y[:, st.coded]
                lp = mixture_log2prob(vals, logits, means, log_s, st.lo, st.hi)
                if st.mask:
                    m = self.checker if st.mask == "anchor" else 1.0 - self.checker
                    lp = lp * m
                b = -lp.sum(dim=(1, 2, 3))
                parts[f"L{lev}s{si}"] = b.mean().detach()
                total = total + b
        return total, parts
