"""Weight quantization for INR decoders: per-channel (or per-tensor) symmetric uniform
quantization with power-of-2**(1/8) scales, so the scale is one byte and decoding is exact.

A scale code k in [0, 255] means scale = 2**((k - 160) / 8), computed from a fixed table of
float32 constants (no libm call), so encoder and decoder get bit-identical float32 weights.
"""
from __future__ import annotations

import heapq
from dataclasses import dataclass

import numpy as np
import torch

SCALE_OFFSET = 160
# 2**(j/8) for j = 0..7 as exact float64 literals (rounded to float32 when used)
_FRAC = np.array([1.0, 1.0905077326652577, 1.189207115002721, 1.2968395546510096,
                  1.4142135623730951, 1.5422108254079407, 1.681792830507429, 1.8340080864093424])


@dataclass
class QTensor:
    """A quantized tensor: integer values (0 where pruned), optional keep-mask and scale codes."""

    shape: tuple[int, ...]
    q: np.ndarray              # int32, full shape; pruned positions hold 0
    scale_codes: np.ndarray    # uint8: one per output channel (axis 0) or a single one
    bits: int
    mask: np.ndarray | None = None   # bool, full shape; True = kept

    def dequantize(self) -> np.ndarray:
        """float32 weights, bit-identical on every machine."""
        return dequantize(self.q, self.scale_codes, self.shape)


def qmax_of(bits: int) -> int:
    """Largest magnitude of a signed ``bits``-bit symmetric quantizer."""
    return (1 << (bits - 1)) - 1


def scales_from_codes(codes: np.ndarray) -> np.ndarray:
    """float32 scale for each one-byte scale code (exact, table driven)."""
    k = np.asarray(codes, dtype=np.int64) - SCALE_OFFSET
    return np.ldexp(_FRAC[k % 8], k // 8).astype(np.float32)


def codes_for(maxabs: np.ndarray, bits: int) -> np.ndarray:
    """Smallest scale code whose scale keeps |w| <= maxabs within the quantizer's range."""
    maxabs = np.asarray(maxabs, dtype=np.float64)
    with np.errstate(divide="ignore"):
        k = np.ceil(8.0 * np.log2(np.maximum(maxabs, 1e-30) / qmax_of(bits)) - 1e-9) + SCALE_OFFSET
    k = np.clip(k, 0, 255).astype(np.int64)
    # guard against log2 rounding: step up while the scale is still too small
    s = scales_from_codes(k)
    low = (s.astype(np.float64) * qmax_of(bits) < maxabs) & (k < 255)
    k = np.where(low, k + 1, k)
    k = np.where(maxabs <= 0, 0, k)
    return k.astype(np.uint8)


def n_scales(shape: tuple[int, ...]) -> int:
    """Scale codes a tensor carries: one per slice along axis 0 when it has >= 2 dims, else one."""
    return int(shape[0]) if len(shape) >= 2 else 1


def _channel_view(shape: tuple[int, ...]) -> tuple[int, ...]:
    return (int(shape[0]),) + (1,) * (len(shape) - 1) if len(shape) >= 2 else (1,) * len(shape)


def dequantize(q: np.ndarray, codes: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Integer values times their (per-channel or per-tensor) scale, as float32."""
    s = scales_from_codes(codes).reshape(_channel_view(shape))
    return (np.asarray(q, dtype=np.float32).reshape(shape) * s).astype(np.float32)


def quantize_array(w: np.ndarray, bits: int, mask: np.ndarray | None = None) -> QTensor:
    """Quantize a float array (per slice of axis 0 when it has >= 2 dims, else per tensor) to a QTensor."""
    w = np.asarray(w, dtype=np.float32)
    if mask is not None:
        w = np.where(mask, w, 0.0).astype(np.float32)
    if w.ndim >= 2:
        maxabs = np.abs(w.reshape(w.shape[0], -1)).max(axis=1)
    else:
        maxabs = np.array([np.abs(w).max() if w.size else 0.0])
    codes = codes_for(maxabs, bits)
    s = scales_from_codes(codes).reshape(_channel_view(w.shape))
    qm = qmax_of(bits)
    q = np.clip(np.rint(w / s), -qm, qm).astype(np.int32)
    if mask is not None:
        q = np.where(mask, q, 0).astype(np.int32)
    return QTensor(tuple(w.shape), q, codes, bits, None if mask is None else mask.astype(bool))


def fake_quant(w: torch.Tensor, bits: int) -> torch.Tensor:
    """Straight-through fake quantization matching ``quantize_array`` (for quantization-aware fine-tuning)."""
    with torch.no_grad():
        if w.dim() >= 2:
            maxabs = w.detach().abs().reshape(w.shape[0], -1).amax(dim=1).cpu().numpy()
        else:
            maxabs = np.array([float(w.detach().abs().max())])
        codes = codes_for(maxabs, bits)
        s = torch.from_numpy(scales_from_codes(codes)).to(w.device)
        s = s.view(-1, *([1] * (w.dim() - 1))) if w.dim() >= 2 else s.view(*([1] * max(w.dim(), 1)))
        qm = qmax_of(bits)
        wq = torch.clamp(torch.round(w / s), -qm, qm) * s
    return w + (wq - w).detach()


def huffman_bits(symbols: np.ndarray) -> int:
    """Total length of a Huffman code for ``symbols`` (tables not counted): the NeRV-style size estimate."""
    vals, counts = np.unique(np.asarray(symbols).reshape(-1), return_counts=True)
    if len(vals) == 0:
        return 0
    if len(vals) == 1:
        return int(counts[0])
    heap = [(int(c), i, [i]) for i, c in enumerate(counts)]
    heapq.heapify(heap)
    depth = np.zeros(len(vals), dtype=np.int64)
    uid = len(vals)
    while len(heap) > 1:
        c1, _, a = heapq.heappop(heap)
        c2, _, b = heapq.heappop(heap)
        for j in a + b:
            depth[j] += 1
        heapq.heappush(heap, (c1 + c2, uid, a + b))
        uid += 1
    return int((depth * counts).sum())
