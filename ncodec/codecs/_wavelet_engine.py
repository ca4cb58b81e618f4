"""Coding engine of codec ``wavelet`` (imported on first use; holds every torch call): lossy wavelet-packet autoencoder codec (WaLLoC-style) for RGB/gray images and mono audio.

Payload = 2-byte check of the integer latents + one entropy-coded stream (shared entropy layer):
hyper-latents with the exported EntropyBottleneck tables (index = channel), then latents with
quantised Gaussian tables (index = the hyperprior's scale snapped to the scale table). Every
float->integer step runs element-wise in float64 on one item at a time, so payloads do not
depend on how items are batched.
"""
from __future__ import annotations

import zlib
from functools import lru_cache

import numpy as np
import torch

from .._threads import one_torch_thread as single_thread
from ..entropy import EntropyDecoder, EntropyEncoder, family_tables, scale_indexes
from ..entropy.compressai_import import tables_from_entropy_bottleneck
from ..errors import CodecError
from ..item import Item, ItemMeta

BACKEND = "ans"
N_LEVELS = 10
AUDIO_INT_SCALE = {"int16": 32768.0, "int32": 2147483648.0}
TARGET_RMS = 0.1          # audio is scaled to about this RMS (-20 dBFS, the level the audio model's
                          # distortion term is calibrated to) before coding, and back after


class _Engine:
    """One loaded model with its coding tables."""

    def __init__(self, weights: str) -> None:
        from ..models.wavelet import scale_table
        from ..weights import load_wavelet
        self.model = load_wavelet(weights)
        self.cfg = self.model.cfg
        self.z_tables, _ = tables_from_entropy_bottleneck(self.model.entropy_bottleneck)
        self.scale_table = scale_table()
        self.y_tables = family_tables("gaussian", self.scale_table)

    @property
    def media(self) -> str:
        """What these weights code: "image" (2-D model) or "audio" (1-D)."""
        return "image" if self.cfg.dims == 2 else "audio"

    # ---------------------------------------------------------------- shapes
    def latent_shapes(self, spatial: tuple[int, ...]) -> tuple[tuple[int, ...], tuple[int, ...]]:
        """(z shape, y shape) of one item whose padded spatial size follows from ``spatial``."""
        b = self.cfg.block
        padded = [s + (-s) % b for s in spatial]
        yk = tuple(p // 2 ** self.cfg.levels for p in padded)
        zk = tuple(p // 4 for p in yk)
        return (1, self.cfg.z_ch, *zk), (1, self.cfg.channels, *yk)

    # ---------------------------------------------------------------- coding
    def check_level(self, level: int) -> None:
        """The shipped model must have this quality level."""
        if not 0 <= level < len(self.cfg.lambdas):
            raise CodecError(f"wavelet: the installed model has {len(self.cfg.lambdas)} levels, not {level + 1}")

    def encode(self, x: torch.Tensor, level: int, reconstruct: bool = False
               ) -> tuple[bytes, float, torch.Tensor | None]:
        """x: (1, C, *S) float in model units -> (payload, ideal bits, the decoder's reconstruction
        (1, C, *S) in model units when ``reconstruct``, else None)."""
        self.check_level(level)
        q = torch.tensor([level])
        with single_thread():
            lat = self.model.encode_latents(self.model.pad(x), q)
        z_sym = lat["z_sym"].numpy().astype(np.int64)
        y_sym = lat["y_sym"].numpy().astype(np.int64)
        z_idx = np.broadcast_to(np.arange(z_sym.shape[1]).reshape(1, -1, *(1,) * (z_sym.ndim - 2)), z_sym.shape)
        y_idx = scale_indexes(lat["scale"].numpy(), self.scale_table)
        coded = y_idx > 0                               # index 0: not coded, zero by definition
        enc = EntropyEncoder(BACKEND)
        self.z_tables.encode(enc, z_sym, z_idx)
        self.y_tables.encode(enc, y_sym[coded], y_idx[coded])
        ideal = enc.ideal_bits
        x_hat = None
        if reconstruct:
            with single_thread():
                sent = torch.from_numpy(np.where(coded, y_sym, 0).astype(np.float64))   # what the decoder gets
                x_hat = self.model.decode_latents(sent, lat["mu"], q)
            x_hat = x_hat[(slice(None), slice(None)) + tuple(slice(0, s) for s in x.shape[2:])]
        return _check_bytes(z_sym, y_sym) + enc.finish(), ideal, x_hat

    def decode(self, payload: bytes, spatial: tuple[int, ...], level: int) -> torch.Tensor:
        """Payload -> reconstruction (1, C, *spatial) in model units."""
        with single_thread():
            y_sym, mu, q = self._symbols(payload, spatial, level)
            x_hat = self.model.decode_latents(torch.from_numpy(y_sym.astype(np.float64)), mu, q)
        crop = (slice(None), slice(None)) + tuple(slice(0, s) for s in spatial)
        return x_hat[crop]

    def latents(self, payload: bytes, spatial: tuple[int, ...], level: int) -> np.ndarray:
        """Payload -> dequantized latents (C, *latent spatial) float32, in level-independent units
        (what the synthesis transform consumes), without running the synthesis."""
        y_sym, mu, q = self._symbols(payload, spatial, level)
        y_hat = (torch.from_numpy(y_sym.astype(np.float64)) + mu) * self.model._gain(
            self.model.log_igain.detach().double(), q)
        return y_hat[0].float().numpy()

    def _symbols(self, payload: bytes, spatial: tuple[int, ...], level: int):
        """Entropy-decode a payload: integer latents y_sym, their float64 means, the level tensor."""
        self.check_level(level)
        if len(payload) < 2:
            raise CodecError("wavelet: payload truncated (shorter than its 2-byte check)")
        zs, ys = self.latent_shapes(spatial)
        dec = EntropyDecoder(payload[2:], BACKEND)
        z_idx = np.broadcast_to(np.arange(zs[1]).reshape(1, -1, *(1,) * (len(zs) - 2)), zs)
        z_sym = self.z_tables.decode(dec, z_idx).reshape(zs)
        q = torch.tensor([level])
        med = self.model.z_medians().view(1, -1, *(1,) * (len(zs) - 2))
        z_hat = torch.from_numpy(z_sym.astype(np.float64)) + med
        with torch.no_grad(), single_thread():
            mu, scale = self.model.entropy_params(z_hat, q)
        y_idx = scale_indexes(scale.numpy(), self.scale_table)
        coded = y_idx > 0
        y_sym = np.zeros(ys, dtype=np.int64)
        y_sym[coded] = self.y_tables.decode(dec, y_idx[coded])
        if _check_bytes(z_sym, y_sym) != payload[:2]:
            raise CodecError("wavelet: payload is corrupted or truncated (latent check mismatch)")
        return y_sym, mu, q


def _check_bytes(z_sym: np.ndarray, y_sym: np.ndarray) -> bytes:
    """16-bit CRC of the integer latents: a decode that went astray (corrupt/truncated data) is caught."""
    crc = zlib.crc32(np.ascontiguousarray(y_sym, dtype="<i4").tobytes(),
                     zlib.crc32(np.ascontiguousarray(z_sym, dtype="<i4").tobytes()))
    return (crc & 0xFFFF).to_bytes(2, "little")


def engine(media: str) -> _Engine:
    """The shipped image or audio model (cached)."""
    return engine_for(f"wavelet_{media}")


@lru_cache(maxsize=None)
def engine_for(weights: str) -> _Engine:
    """The model of installed weights ``weights`` (cached)."""
    try:
        return _Engine(weights)
    except CodecError:
        raise
    except Exception as exc:
        raise CodecError(f"wavelet: cannot load weights {weights}: {exc}") from exc


def gain_exponent(x: torch.Tensor) -> int:
    """The signed-byte exponent ``e`` whose gain ``2**(e/8)`` brings audio ``x`` (model units) near
    TARGET_RMS without lifting its peak above 1; 0 for silence."""
    a = x.double().abs()
    peak = float(a.max()) if a.numel() else 0.0
    rms = float(a.pow(2).mean().sqrt()) if a.numel() else 0.0
    if rms <= 0.0 or peak <= 0.0:
        return 0
    e = min(round(8 * np.log2(TARGET_RMS / rms)), int(np.floor(8 * np.log2(1.0 / peak))))
    return int(np.clip(e, -128, 127))


def snr_db(x: torch.Tensor, x_hat: torch.Tensor) -> float:
    """SNR in dB of a reconstruction (``eval.metrics.snr``), inf for a silent input (nothing to lose)."""
    from ..eval.metrics import snr
    a = x.double().numpy()
    return float("inf") if not a.any() else snr(a, x_hat.double().numpy())


def to_tensor(item: Item) -> torch.Tensor:
    """Item -> (1, C, *S) float32 tensor in model units ([0, 1] pixels, [-1, 1] samples)."""
    d = item.data
    if item.meta.media == "image":
        a = d.reshape(d.shape[0], d.shape[1], -1).astype(np.float32) / 255.0
        if a.shape[2] == 1:
            a = np.repeat(a, 3, axis=2)
        return torch.from_numpy(np.ascontiguousarray(a.transpose(2, 0, 1)))[None]
    a = d.reshape(-1).astype(np.float64)
    a = a / AUDIO_INT_SCALE.get(item.meta.dtype, 1.0)
    return torch.from_numpy(a.astype(np.float32))[None, None]

def from_tensor(x: torch.Tensor, meta: ItemMeta) -> Item:
    """Inverse of ``to_tensor`` (rounded and clipped to the stored dtype)."""
    a = x[0].double().numpy()
    if meta.media == "image":
        if len(meta.shape) == 2 or meta.shape[2] == 1:
            a = a.mean(axis=0, keepdims=True)
        img = np.clip(np.round(a * 255.0), 0, 255).astype(np.uint8).transpose(1, 2, 0)
        return Item(np.ascontiguousarray(img.reshape(meta.shape)), meta)
    s = a.reshape(-1)
    if meta.dtype in AUDIO_INT_SCALE:
        full = AUDIO_INT_SCALE[meta.dtype]
        s = np.clip(np.round(s * full), -full, full - 1)
    return Item(np.ascontiguousarray(s.astype(meta.dtype).reshape(meta.shape)), meta)
