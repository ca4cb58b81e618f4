"""NeRV and HNeRV implicit neural video representations: frame index (NeRV) or a tiny
per-frame embedding (HNeRV) -> stacked conv + PixelShuffle upsampling blocks -> RGB frame.

The architecture is fully described by ``NervConfig`` (a handful of integers), which the
codec stores in its payload so the decoder can rebuild the exact network.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn
import torch.nn.functional as F

KINDS = ("nerv", "hnerv")
PRESETS = ("S", "M", "L")
# target decoder parameters per million clip pixels (T*H*W) for each preset
PRESET_PARAMS_PER_MPIX = {"S": 9_000.0, "M": 22_000.0, "L": 50_000.0}
MIN_PARAMS = {"S": 2_000, "M": 4_000, "L": 8_000}
FIRST_STRIDES = (5, 4, 3, 2)


@dataclass
class NervConfig:
    """Integers that define a NeRV/HNeRV decoder (everything the payload must carry)."""

    kind: str                    # "nerv" | "hnerv"
    frames: int                  # T
    height: int                  # H of the output frames (before cropping = padded size below)
    width: int
    strides: tuple[int, ...]     # upsampling factor of each block, coarse to fine
    channels: tuple[int, ...]    # channels at the base grid and after each block (len = len(strides)+1)
    pe_levels: int = 32          # NeRV: positional encoding frequencies
    mlp_hidden: int = 64         # NeRV: hidden width of the stem MLP
    embed_dim: int = 8           # HNeRV: channels of the per-frame embedding at the base grid

    def __post_init__(self) -> None:
        self.strides = tuple(int(s) for s in self.strides)
        self.channels = tuple(int(c) for c in self.channels)
        if self.kind not in KINDS:
            raise ValueError(f"unknown INR kind {self.kind!r}")
        if len(self.channels) != len(self.strides) + 1:
            raise ValueError("channels must have one more entry than strides")

    @property
    def scale(self) -> int:
        """Total upsampling factor from the base grid to the (padded) frame."""
        return math.prod(self.strides)

    @property
    def padded(self) -> tuple[int, int]:
        """Rendered frame size: H, W rounded up to a multiple of ``scale`` (cropped afterwards)."""
        s = self.scale
        return -(-self.height // s) * s, -(-self.width // s) * s

    @property
    def base(self) -> tuple[int, int]:
        """Size of the base grid the first block starts from."""
        ph, pw = self.padded
        return ph // self.scale, pw // self.scale


def plan_strides(height: int, width: int, max_waste: float = 0.1) -> tuple[int, ...]:
    """Upsampling strides for a frame size: the largest total factor whose padding wastes <= 10%."""
    best, best_key = (2,), None
    for first in FIRST_STRIDES:
        for n2 in range(0, 7):
            strides = (first,) + (2,) * n2
            s = math.prod(strides)
            if s > min(height, width):
                continue
            ph, pw = -(-height // s) * s, -(-width // s) * s
            waste = ph * pw / (height * width) - 1.0
            ok = waste <= max_waste + 1e-9
            key = (ok, s if ok else -waste, -len(strides))
            if best_key is None or key > best_key:
                best, best_key = strides, key
    return best


def _channel_list(width: float, n: int, ratio: float = 1.2, cmin: int = 4) -> tuple[int, ...]:
    return tuple(max(cmin, int(round(width / ratio ** i))) for i in range(n + 1))


def make_config(kind: str, frames: int, height: int, width: int, preset: str = "M",
                params: int | None = None) -> NervConfig:
    """Config for a clip and a size preset (S/M/L, sized to the clip's pixel count) or a parameter target."""
    if kind not in KINDS:
        raise ValueError(f"unknown INR kind {kind!r}")
    if params is None:
        if preset not in PRESETS:
            raise ValueError(f"unknown preset {preset!r}")
        mpix = frames * height * width / 1e6
        params = max(MIN_PARAMS[preset], int(PRESET_PARAMS_PER_MPIX[preset] * mpix))
    strides = plan_strides(height, width)
    embed_dim = {"S": 4, "M": 8, "L": 16}.get(preset, 8)
    lo, hi = 4.0, 512.0
    cfg = None
    for _ in range(30):   # bisection on the base width to hit the parameter target
        mid = (lo + hi) / 2
        hidden = max(16, min(128, int(round(mid * 1.5))))
        cfg = NervConfig(kind, frames, height, width, strides, _channel_list(mid, len(strides)),
                         mlp_hidden=hidden, embed_dim=embed_dim)
        if count_decoder_params(cfg) > params:
            hi = mid
        else:
            lo = mid
    hidden = max(16, min(128, int(round(lo * 1.5))))
    return NervConfig(kind, frames, height, width, strides, _channel_list(lo, len(strides)),
                      mlp_hidden=hidden, embed_dim=embed_dim)


def count_decoder_params(cfg: NervConfig) -> int:
    """Parameters stored in the file (decoder only; HNeRV embeddings counted separately)."""
    h0, w0 = cfg.base
    n = 0
    if cfg.kind == "nerv":
        d_in = 2 * cfg.pe_levels
        n += d_in * cfg.mlp_hidden + cfg.mlp_hidden
        n += cfg.mlp_hidden * cfg.channels[0] * h0 * w0 + cfg.channels[0] * h0 * w0
        c_prev = cfg.channels[0]
    else:
        c_prev = cfg.embed_dim
    for i, s in enumerate(cfg.strides):
        c_out = cfg.channels[i + 1] * s * s
        n += 9 * c_prev * c_out + c_out
        c_prev = cfg.channels[i + 1]
    n += 9 * c_prev * 3 + 3
    return n


def positional_encoding(t: torch.Tensor, levels: int) -> torch.Tensor:
    """NeRV's encoding of normalised time t in [0, 1]: sin/cos of 1.25**l * pi * t, l < levels."""
    freqs = (1.25 ** torch.arange(levels, dtype=torch.float32, device=t.device)) * math.pi
    ang = t.float()[:, None] * freqs[None, :]
    return torch.cat([torch.sin(ang), torch.cos(ang)], dim=1)


class UpBlock(nn.Module):
    """conv3x3 -> PixelShuffle(s) -> GELU: one NeRV upsampling block."""

    def __init__(self, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out * stride * stride, 3, padding=1)
        self.shuffle = nn.PixelShuffle(stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.gelu(self.shuffle(self.conv(x)))


class NervDecoder(nn.Module):
    """The part of the INR that the file stores: (stem MLP for NeRV) + upsampling blocks + RGB head."""

    def __init__(self, cfg: NervConfig) -> None:
        super().__init__()
        self.cfg = cfg
        h0, w0 = cfg.base
        if cfg.kind == "nerv":
            self.stem = nn.Sequential(nn.Linear(2 * cfg.pe_levels, cfg.mlp_hidden), nn.GELU(),
                                      nn.Linear(cfg.mlp_hidden, cfg.channels[0] * h0 * w0), nn.GELU())
            c_prev = cfg.channels[0]
        else:
            self.stem = None
            c_prev = cfg.embed_dim
        blocks = []
        for i, s in enumerate(cfg.strides):
            blocks.append(UpBlock(c_prev, cfg.channels[i + 1], s))
            c_prev = cfg.channels[i + 1]
        self.blocks = nn.ModuleList(blocks)
        self.head = nn.Conv2d(c_prev, 3, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """NeRV: x = normalised frame times (B,); HNeRV: x = embeddings (B, d, h0, w0). Returns (B,3,H,W) in [0,1]."""
        cfg = self.cfg
        if self.stem is not None:
            h0, w0 = cfg.base
            x = self.stem(positional_encoding(x, cfg.pe_levels)).view(-1, cfg.channels[0], h0, w0)
        for b in self.blocks:
            x = b(x)
        x = torch.tanh(self.head(x)) * 0.5 + 0.5
        return x[:, :, :cfg.height, :cfg.width]


class ConvNeXtBlock(nn.Module):
    """Depthwise 7x7 conv, channel LayerNorm, pointwise MLP, residual (the ConvNeXt block, small)."""

    def __init__(self, c: int) -> None:
        super().__init__()
        self.dw = nn.Conv2d(c, c, 7, padding=3, groups=c)
        self.norm = nn.LayerNorm(c)
        self.pw1 = nn.Linear(c, 2 * c)
        self.pw2 = nn.Linear(2 * c, c)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.dw(x).permute(0, 2, 3, 1)
        y = self.pw2(F.gelu(self.pw1(self.norm(y))))
        return x + y.permute(0, 3, 1, 2)


class HnervEncoder(nn.Module):
    """ConvNeXt-like encoder: frame (B,3,H,W) -> embedding (B, d, h0, w0); not stored in the file."""

    def __init__(self, cfg: NervConfig, width: int = 32) -> None:
        super().__init__()
        self.cfg = cfg
        stages = []
        c_prev = 3
        rev = list(reversed(cfg.strides))
        for i, s in enumerate(rev):
            c = min(width * 2, max(8, width // 2 ** (len(rev) - 1 - i)))
            layers: list[nn.Module] = [nn.Conv2d(c_prev, c, s, stride=s)]
            if i >= len(rev) - 3:         # ConvNeXt blocks only at the coarse (cheap) scales
                layers.append(ConvNeXtBlock(c))
            stages.append(nn.Sequential(*layers))
            c_prev = c
        self.stages = nn.Sequential(*stages)
        self.out = nn.Conv2d(c_prev, cfg.embed_dim, 1)

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        ph, pw = self.cfg.padded
        x = F.pad(frames, (0, pw - frames.shape[-1], 0, ph - frames.shape[-2]), mode="replicate")
        return self.out(self.stages(x))


def frame_times(frames: int, device=None) -> torch.Tensor:
    """The normalised time input of every frame of a clip: i / max(T - 1, 1)."""
    return torch.arange(frames, dtype=torch.float32, device=device) / max(frames - 1, 1)
