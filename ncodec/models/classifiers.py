"""Small downstream classifiers (MNIST, Fashion-MNIST, spoken digits) trained by us and shipped,
used to measure machine-perceptual quality: accuracy on decoded data and deep-feature distance."""
from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F


def _block(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU())


class FeatureNet(nn.Module):
    """A stack of conv blocks (each followed by 2x2 pooling except the last) and a linear head.

    ``features(x)`` returns every block's output, the activations the deep-feature distance
    compares; ``forward(x)`` returns logits.
    """

    def __init__(self, in_ch: int = 1, widths: tuple[int, ...] = (32, 64, 128), n_classes: int = 10,
                 head: str = "flatten", flat_hw: tuple[int, int] = (7, 7), dropout: float = 0.25) -> None:
        super().__init__()
        chans = (in_ch,) + tuple(widths)
        self.blocks = nn.ModuleList(_block(a, b) for a, b in zip(chans[:-1], chans[1:]))
        self.head_kind = head
        n_in = widths[-1] * (flat_hw[0] * flat_hw[1] if head == "flatten" else 1)
        self.drop = nn.Dropout(dropout)
        self.fc = nn.Linear(n_in, n_classes)

    def prepare(self, x: torch.Tensor) -> torch.Tensor:
        """Turn the raw batch into the network input (identity here; audio overrides)."""
        return x

    def features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Activations after each conv block (before its pooling)."""
        h = self.prepare(x)
        out = []
        for i, blk in enumerate(self.blocks):
            h = blk(h)
            out.append(h)
            if i < len(self.blocks) - 1:
                h = F.max_pool2d(h, 2)
        return out

    def logits_from(self, last: torch.Tensor) -> torch.Tensor:
        """Head on the last block's activations."""
        h = last.flatten(1) if self.head_kind == "flatten" else last.mean(dim=(2, 3))
        return self.fc(self.drop(h))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.logits_from(self.features(x)[-1])


def mel_filterbank(n_fft: int, n_mels: int, sample_rate: int, fmin: float = 20.0,
                   fmax: float | None = None) -> np.ndarray:
    """Triangular mel filters (HTK mel scale), shape (n_mels, n_fft // 2 + 1)."""
    fmax = fmax or sample_rate / 2
    mel = lambda f: 2595.0 * np.log10(1.0 + f / 700.0)  # noqa: E731
    inv = lambda m: 700.0 * (10 ** (m / 2595.0) - 1.0)  # noqa: E731
    pts = inv(np.linspace(mel(fmin), mel(fmax), n_mels + 2))
    freqs = np.linspace(0, sample_rate / 2, n_fft // 2 + 1)
    fb = np.zeros((n_mels, freqs.size), dtype=np.float32)
    for i in range(n_mels):
        lo, c, hi = pts[i], pts[i + 1], pts[i + 2]
        up = (freqs - lo) / max(c - lo, 1e-9)
        down = (hi - freqs) / max(hi - c, 1e-9)
        fb[i] = np.maximum(0.0, np.minimum(up, down))
    return fb


class LogMelNet(FeatureNet):
    """Spoken-digit classifier: waveform (B, samples) float in [-1, 1] -> log-mel -> CNN.

    The log-mel front end is fixed (not trained) and per-utterance mean-normalised, so a gain
    change does not move the input.
    """

    def __init__(self, sample_rate: int = 8000, n_fft: int = 256, hop: int = 80, n_mels: int = 40,
                 widths: tuple[int, ...] = (16, 32, 64, 64), n_classes: int = 10) -> None:
        super().__init__(1, widths, n_classes, head="mean")
        self.n_fft, self.hop = n_fft, hop
        self.register_buffer("fb", torch.from_numpy(mel_filterbank(n_fft, n_mels, sample_rate)))
        self.register_buffer("window", torch.hann_window(n_fft))

    def prepare(self, x: torch.Tensor) -> torch.Tensor:
        spec = torch.stft(x, self.n_fft, self.hop, window=self.window, return_complex=True).abs() ** 2
        logmel = torch.log(torch.matmul(self.fb, spec) + 1e-6)          # (B, mels, frames)
        logmel = logmel - logmel.mean(dim=(1, 2), keepdim=True)
        return logmel.unsqueeze(1) / 4.0


ARCHS = {"image28": lambda **kw: FeatureNet(1, (32, 64, 128), 10, "flatten", (7, 7), **kw),
         "logmel": lambda **kw: LogMelNet(**kw)}


def build(arch: str, **kw) -> FeatureNet:
    """A fresh network of a named architecture (the name is stored with the weights)."""
    if arch not in ARCHS:
        raise ValueError(f"unknown classifier architecture {arch!r}")
    return ARCHS[arch](**kw)


def feature_distance(model: FeatureNet, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """LPIPS-like distance per sample: channel-unit-normalised activations of each block,
    squared difference averaged over positions, summed over blocks (0 for identical inputs)."""
    return feature_distance_from(model.features(a), model.features(b))


def feature_distance_from(fa: list[torch.Tensor], fb: list[torch.Tensor]) -> torch.Tensor:
    """``feature_distance`` on activations already computed (lists from ``model.features``)."""
    d = torch.zeros(fa[0].shape[0], dtype=torch.float32, device=fa[0].device)
    for x, y in zip(fa, fb):
        nx = x / (x.norm(dim=1, keepdim=True) + 1e-10)
        ny = y / (y.norm(dim=1, keepdim=True) + 1e-10)
        d = d + ((nx - ny) ** 2).sum(dim=1).mean(dim=(1, 2))
    return d


def fix_length(wave: np.ndarray, n: int) -> np.ndarray:
    """Centre a waveform in a window of ``n`` samples (zero padded, or the middle ``n`` cropped)."""
    w = np.asarray(wave)
    if w.ndim > 1:
        w = w.mean(axis=1)
    if len(w) >= n:
        s = (len(w) - n) // 2
        return w[s:s + n]
    out = np.zeros(n, dtype=w.dtype)
    s = (n - len(w)) // 2
    out[s:s + len(w)] = w
    return out


def param_count(model: nn.Module) -> int:
    """Number of parameters (for manifests and reports)."""
    return int(sum(math.prod(p.shape) for p in model.parameters()))
