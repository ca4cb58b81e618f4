"""Coding half of codec ``flow`` (imported when the codec is used): lossless images with an integer discrete flow (ncodec.models.flow) whose
latents are coded stage by stage with the shared rANS layer.

28x28 grayscale images use the MNIST (quality 1) or Fashion-MNIST (quality 2) weights; RGB
images of any size are coded in independent 32x32 tiles (edge-padded) by the photo model.
Prior parameters come from the nets in float64 and are snapped to a 2**-10 grid before they
become integer tables (``quantize_probs``), so encoder and decoder agree whatever the batch.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
from scipy.special import expit

from ..entropy import EntropyDecoder, EntropyEncoder, quantize_probs
from ..errors import CodecError
from ..models.flow import IntFlow

SNAP = 1024.0            # prior parameters are rounded to multiples of 1/SNAP before tables
CHUNK_SYMBOLS = 8192     # symbols per table build (bounds memory; fixed, so the decoder matches)
NET_BATCH = 256          # tiles per net evaluation


def mixture_tables(logits: np.ndarray, means: np.ndarray, log_s: np.ndarray, lo: int, hi: int) -> np.ndarray:
    """Integer PMFs (N, hi-lo+1) of discretized logistic mixtures (N, K params each), edge bins
    taking the tails; element-wise float64 in a fixed order, then ``quantize_probs``."""
    logits = np.round(logits * SNAP) / SNAP
    means = np.round(means * SNAP) / SNAP
    log_s = np.round(log_s * SNAP) / SNAP
    k = logits.shape[1]
    edges = np.arange(lo, hi, dtype=np.float64) + 0.5            # K_sym - 1 interior edges
    m = logits[:, 0].copy()
    for j in range(1, k):
        m = np.maximum(m, logits[:, j])
    w = [np.exp(logits[:, j] - m) for j in range(k)]
    wsum = w[0].copy()
    for j in range(1, k):
        wsum = wsum + w[j]
    cdf = np.zeros((logits.shape[0], len(edges)), dtype=np.float64)
    for j in range(k):
        cdf = cdf + (w[j] / wsum)[:, None] * expit((edges[None, :] - means[:, j, None]) * np.exp(-log_s[:, j, None]))
    full = np.concatenate([np.zeros((cdf.shape[0], 1)), cdf, np.ones((cdf.shape[0], 1))], axis=1)
    probs = np.diff(full, axis=1)
    return quantize_probs(np.maximum(probs, 0.0))


class _StageData:
    """Per-stage flattening: which entries of the stage tensor are coded, in canonical order."""

    def __init__(self, model: IntFlow, lev: int, si: int) -> None:
        self.st = model.stages[lev][si]
        self.lev, self.si = lev, si
        self.mask = None
        if self.st.mask:
            chk = model.checker[0, 0].numpy().astype(bool)
            self.mask = chk if self.st.mask == "anchor" else ~chk

    def select(self, arr: np.ndarray) -> np.ndarray:
        """(n, c, H, W[, K]) -> (n, c, P[, K]) with P the coded positions (all, or a checker half)."""
        n, c = arr.shape[:2]
        if self.mask is None:
            return arr.reshape(n, c, -1, *arr.shape[4:])
        return arr[:, :, self.mask]

    def put(self, target: np.ndarray, vals: np.ndarray) -> None:
        """Write decoded values (n, c, P) into the stage's channels/positions of ``target``."""
        if self.mask is None:
            target[:, self.st.coded] = vals.reshape(target[:, self.st.coded].shape)
        else:
            sub = target[:, self.st.coded]
            sub[:, :, self.mask] = vals
            target[:, self.st.coded] = sub


def _params(model: IntFlow, lev: int, si: int, y: torch.Tensor) -> tuple[np.ndarray, ...]:
    """Mixture parameters of a stage as numpy (n, c, H, W, K), nets run in chunks of NET_BATCH."""
    outs = [[], [], []]
    with torch.no_grad():
        for i in range(0, y.shape[0], NET_BATCH):
            for o, t in zip(outs, model.stage_params(lev, si, y[i:i + NET_BATCH])):
                o.append(t.permute(0, 1, 3, 4, 2).numpy())
    return tuple(np.concatenate(o) for o in outs)


def _stage_order(model: IntFlow) -> list[tuple[int, int]]:
    """(level, stage) in decoding order: the top first, then levels from coarse to fine."""
    order = [(model.cfg.levels, 0), (model.cfg.levels, 1)]
    for lev in reversed(range(model.cfg.levels)):
        order += [(lev, si) for si in range(len(model.stages[lev]))]
    return order


def record_slices(counts: Sequence[int]) -> list[slice]:
    starts = np.concatenate([[0], np.cumsum(counts)]).astype(int)
    return [slice(int(a), int(b)) for a, b in zip(starts[:-1], starts[1:])]


def encode_tiles(model: IntFlow, tiles: np.ndarray, counts: Sequence[int]) -> tuple[list[bytes], list[float]]:
    """Payload (and ideal bits) per record; ``tiles`` (N, C, S, S) ints, record r owns ``counts[r]`` tiles."""
    x = torch.from_numpy(tiles.astype(np.float64))
    with torch.no_grad():
        lats = []
        for i in range(0, x.shape[0], NET_BATCH):
            lats.append(model.latents(x[i:i + NET_BATCH]))
        lat = [torch.cat([part[k] for part in lats]) for k in range(len(lats[0]))]
    encs = [EntropyEncoder("ans") for _ in counts]
    slices = record_slices(counts)
    for lev, si in _stage_order(model):
        sd = _StageData(model, lev, si)
        y = lat[lev]
        if lev == model.cfg.levels and sd.st.mask == "other":
            y = y * model.checker.to(y.dtype)
        logits, means, log_s = (sd.select(p) for p in _params(model, lev, si, y))
        vals = sd.select(lat[lev][:, sd.st.coded].numpy()).astype(np.int64) - sd.st.lo
        if vals.size and (vals.min() < 0 or vals.max() > sd.st.hi - sd.st.lo):
            raise CodecError("flow: latent outside its support (model/weights inconsistent)")
        for enc, sl in zip(encs, slices):
            _code_chunks(enc, None, vals[sl], logits[sl], means[sl], log_s[sl], sd.st.lo, sd.st.hi)
    return [e.finish() for e in encs], [e.ideal_bits for e in encs]


def _code_chunks(enc, dec, vals, logits, means, log_s, lo, hi):
    """Encode ``vals`` (or decode with ``dec``) in fixed chunks; returns decoded flat values."""
    k = logits.shape[-1]
    lg, mu, ls = (a.reshape(-1, k) for a in (logits, means, log_s))
    out = []
    for i in range(0, lg.shape[0], CHUNK_SYMBOLS):
        pmf = mixture_tables(lg[i:i + CHUNK_SYMBOLS], mu[i:i + CHUNK_SYMBOLS], ls[i:i + CHUNK_SYMBOLS], lo, hi)
        if enc is not None:
            enc.encode(vals.reshape(-1)[i:i + CHUNK_SYMBOLS], pmf)
        else:
            out.append(dec.decode(pmf).astype(np.int64))
    return np.concatenate(out) if out else np.zeros(0, dtype=np.int64)


def decode_tiles(model: IntFlow, payloads: Sequence[bytes], counts: Sequence[int]) -> np.ndarray:
    """Inverse of ``encode_tiles``: (N, C, S, S) int64 tiles of all records."""
    cfg = model.cfg
    n = int(sum(counts))
    decs = [EntropyDecoder(p, "ans") for p in payloads]
    slices = record_slices(counts)
    side = cfg.size >> cfg.levels
    levels_y: dict[int, np.ndarray] = {cfg.levels: np.zeros((n, cfg.channels, side, side))}
    h = None
    for lev, si in _stage_order(model):
        if lev not in levels_y:
            s = cfg.size >> (lev + 1)
            y = np.zeros((n, 4 * cfg.channels, s, s))
            y[:, [c * 4 for c in range(cfg.channels)]] = h
            levels_y[lev] = y
        y = levels_y[lev]
        sd = _StageData(model, lev, si)
        logits, means, log_s = (sd.select(p) for p in _params(model, lev, si, torch.from_numpy(y)))
        vals = np.empty(logits.shape[:-1], dtype=np.int64)
        for dec, sl in zip(decs, slices):
            v = _code_chunks(None, dec, None, logits[sl], means[sl], log_s[sl], sd.st.lo, sd.st.hi)
            vals[sl] = v.reshape(vals[sl].shape) + sd.st.lo
        sd.put(y, vals.astype(np.float64))
        if si == len(model.stages[lev]) - 1:
            if lev == cfg.levels:
                h = y
            else:
                with torch.no_grad():
                    h = model.inverse_level(lev, torch.from_numpy(y)).numpy()
    if h is None or h.min() < 0 or h.max() > 255:
        raise CodecError("flow: decoded pixels out of range (corrupt payload or wrong weights)")
    return h.astype(np.int64)


def tile(img: np.ndarray, s: int) -> tuple[np.ndarray, int, int]:
    """(H, W, C) -> (n, C, s, s) edge-padded tiles in raster order, plus the tile grid."""
    h, w = img.shape[:2]
    gh, gw = -(-h // s), -(-w // s)
    pad = np.pad(img, ((0, gh * s - h), (0, gw * s - w), (0, 0)), mode="edge")
    t = pad.reshape(gh, s, gw, s, -1).transpose(0, 2, 4, 1, 3).reshape(gh * gw, -1, s, s)
    return t, gh, gw


def untile(tiles: np.ndarray, gh: int, gw: int, h: int, w: int) -> np.ndarray:
    s = tiles.shape[-1]
    c = tiles.shape[1]
    img = tiles.reshape(gh, gw, c, s, s).transpose(0, 3, 1, 4, 2).reshape(gh * s, gw * s, c)
    return img[:h, :w]
