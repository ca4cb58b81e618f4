"""Fitting = encoding for NeRV/HNeRV: fit the network to a clip, prune by magnitude with a
short fine-tune, quantization-aware fine-tune, quantize, and render frames deterministically.

Everything here works on torch modules and integer arrays; the entropy coding of the result
lives in ``ncodec.codecs.nerv``.
"""
from __future__ import annotations

import copy
import math
import sys
import time
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch.func import functional_call

from .nerv import HnervEncoder, NervConfig, NervDecoder, frame_times
from .nerv_quant import QTensor, fake_quant, quantize_array

MIN_PRUNE_NUMEL = 256   # tensors smaller than this are never pruned (heads, biases)
EMBED_BITS = 6          # HNeRV embeddings keep at least 6 bits (4-bit embeddings cost ~0.5 dB)


@dataclass
class FitOptions:
    """How long and how to fit: steps or a wall-clock budget (whichever ends first)."""

    steps: int | None = None          # optimizer steps for the main fit (None: epochs * T / batch)
    epochs: int = 300
    time_budget: float | None = None  # seconds for the whole encode (fit + fine-tunes)
    batch: int = 2
    lr: float = 5e-3
    seed: int = 0
    device: str = "auto"
    progress: bool = True
    finetune_frac: float = 0.15       # extra steps (fraction of the fit) for each of prune-FT and QAT
    threads: int | None = None

    def resolve_device(self) -> torch.device:
        """cuda when present (unless told otherwise), else cpu."""
        if self.device == "auto":
            return torch.device("cuda" if torch.cuda.is_available() else "cpu")
        return torch.device(self.device)


@dataclass
class FitState:
    """A fitted INR: the decoder (what the file stores) and its inputs (times or embeddings)."""

    cfg: NervConfig
    decoder: NervDecoder
    inputs: torch.Tensor                       # (T,) times or (T, d, h0, w0) embeddings (float, CPU)
    masks: dict[str, torch.Tensor] = field(default_factory=dict)
    emb_q: QTensor | None = None               # HNeRV: quantized embeddings (inputs = their dequantized values)
    fit_seconds: float = 0.0
    fit_steps: int = 0
    fit_cpu_seconds: float = 0.0               # process CPU time of the fit (wall time is fit_seconds)


def frames_to_tensor(frames: np.ndarray) -> torch.Tensor:
    """(T, H, W, 3) uint8 -> (T, 3, H, W) uint8 tensor (converted to float per batch)."""
    return torch.from_numpy(np.ascontiguousarray(np.asarray(frames, dtype=np.uint8).transpose(0, 3, 1, 2)))


def _lr_at(frac: float, peak: float, warmup: float = 0.1) -> float:
    if frac < warmup:
        return peak * (0.1 + 0.9 * frac / warmup)
    return peak * 0.5 * (1 + math.cos(math.pi * min(1.0, (frac - warmup) / (1 - warmup))))


def _bar(total: int, desc: str, enabled: bool):
    if not enabled:
        return None
    from tqdm import tqdm
    return tqdm(total=total, desc=desc, unit="step", file=sys.stderr, leave=False,
                dynamic_ncols=True, disable=None)


def _run_steps(params: list[torch.Tensor], forward_loss, n_frames: int, steps: int, lr: float,
               batch: int, deadline: float | None, gen: torch.Generator, desc: str, progress: bool) -> int:
    """The optimisation loop shared by fitting and fine-tuning; returns the steps actually made."""
    opt = torch.optim.Adam([p for p in params if p.requires_grad], lr=lr, betas=(0.9, 0.99))
    bar = _bar(steps, desc, progress)
    t0 = time.perf_counter()
    order = torch.randperm(n_frames, generator=gen)
    pos = 0
    done = 0
    for step in range(steps):
        if deadline is not None:
            frac = min(1.0, max(step / steps, (time.perf_counter() - t0) / max(deadline - t0, 1e-6)))
            if time.perf_counter() >= deadline and done > 0:   # always make at least one step
                break
        else:
            frac = step / steps
        for group in opt.param_groups:
            group["lr"] = _lr_at(frac, lr)
        if pos + batch > n_frames:
            order = torch.randperm(n_frames, generator=gen)
            pos = 0
        idx = order[pos:pos + batch]
        pos += batch
        loss = forward_loss(idx)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        done += 1
        if bar is not None:
            bar.update(1)
            if step % 50 == 0:
                bar.set_postfix(loss=f"{float(loss.detach()):.4f}")
    if bar is not None:
        bar.close()
    return done


def _target(frames_u8: torch.Tensor, idx: torch.Tensor, device: torch.device) -> torch.Tensor:
    return frames_u8[idx].to(device).float() / 255.0


def fit(frames: np.ndarray, cfg: NervConfig, opts: FitOptions, deadline: float | None = None) -> FitState:
    """Fit a NeRV (time -> frame) or HNeRV (encoder + decoder) to the clip; returns the float model."""
    if opts.threads:
        torch.set_num_threads(opts.threads)
    device = opts.resolve_device()
    torch.manual_seed(opts.seed)
    gen = torch.Generator().manual_seed(opts.seed)
    fr = frames_to_tensor(frames)
    T = fr.shape[0]
    batch = max(1, min(opts.batch, T))
    steps = opts.steps if opts.steps is not None else max(1, opts.epochs * T // batch)
    dec = NervDecoder(cfg).to(device)
    enc = HnervEncoder(cfg).to(device) if cfg.kind == "hnerv" else None
    times = frame_times(T, device)
    if enc is None:
        def loss_fn(idx):
            return F.l1_loss(dec(times[idx.to(device)]), _target(fr, idx, device))
        params = list(dec.parameters())
    else:
        def loss_fn(idx):
            tgt = _target(fr, idx, device)
            return F.l1_loss(dec(enc(tgt)), tgt)
        params = list(dec.parameters()) + list(enc.parameters())
    t0, c0 = time.perf_counter(), time.process_time()
    done = _run_steps(params, loss_fn, T, steps, opts.lr, batch, deadline, gen,
                      f"fitting {cfg.kind}", opts.progress)
    dt, dc = time.perf_counter() - t0, time.process_time() - c0
    dec = dec.cpu().float().eval()
    if enc is None:
        inputs = frame_times(T)
    else:
        enc = enc.eval()
        with torch.no_grad():
            inputs = torch.cat([enc(_target(fr, torch.arange(i, min(i + 8, T)), device)).cpu()
                                for i in range(0, T, 8)])
    return FitState(cfg, dec, inputs, fit_seconds=dt, fit_steps=done, fit_cpu_seconds=dc)


def prunable(name: str, p: torch.Tensor) -> bool:
    """Weights (not biases) with enough elements are pruned."""
    return p.dim() >= 2 and p.numel() >= MIN_PRUNE_NUMEL


def magnitude_masks(dec: NervDecoder, ratio: float) -> dict[str, torch.Tensor]:
    """Per-tensor magnitude pruning: keep the largest (1 - ratio) fraction of each prunable weight."""
    masks = {}
    if ratio <= 0:
        return masks
    for name, p in dec.named_parameters():
        if prunable(name, p):
            k = int(round(ratio * p.numel()))
            if k <= 0:
                continue
            thr = p.detach().abs().reshape(-1).kthvalue(k).values
            masks[name] = p.detach().abs() > thr
    return masks


def _effective(dec: NervDecoder, masks: dict[str, torch.Tensor], bits: int | None) -> dict[str, torch.Tensor]:
    out = {}
    for name, p in dec.named_parameters():
        w = p * masks[name].to(p.device) if name in masks else p
        out[name] = fake_quant(w, bits) if bits else w
    return out


def finetune(state: FitState, frames: np.ndarray, opts: FitOptions, steps: int, bits: int | None,
             deadline: float | None, desc: str) -> int:
    """Fine-tune the decoder in place with its masks applied (and fake-quantized weights if ``bits``)."""
    if steps <= 0:
        return 0
    device = opts.resolve_device()
    gen = torch.Generator().manual_seed(opts.seed + 1 + (bits or 0))
    fr = frames_to_tensor(frames)
    T = fr.shape[0]
    dec = state.decoder.to(device).train()
    inputs = state.inputs.to(device)

    def loss_fn(idx):
        out = functional_call(dec, _effective(dec, state.masks, bits), (inputs[idx.to(device)],))
        return F.l1_loss(out, _target(fr, idx, device))
    done = _run_steps(list(dec.parameters()), loss_fn, T, steps, opts.lr * 0.2,
                      max(1, min(opts.batch, T)), deadline, gen, desc, opts.progress)
    state.decoder = dec.cpu().eval()
    state.inputs = state.inputs.cpu()
    return done


def quantize_decoder(dec: NervDecoder, masks: dict[str, torch.Tensor], bits: int) -> dict[str, QTensor]:
    """Every decoder parameter as a QTensor (masked weights quantized to 0 and flagged in the mask)."""
    out = {}
    for name, p in dec.named_parameters():
        m = masks.get(name)
        out[name] = quantize_array(p.detach().cpu().numpy(), bits,
                                   None if m is None else m.cpu().numpy().astype(bool))
    return out


def decoder_from_quantized(cfg: NervConfig, qtensors: dict[str, QTensor]) -> NervDecoder:
    """Rebuild the decoder on CPU with the exact dequantized float32 weights."""
    dec = NervDecoder(cfg)
    sd = {name: torch.from_numpy(qt.dequantize()) for name, qt in qtensors.items()}
    dec.load_state_dict(sd, strict=True)
    return dec.float().eval()


def quantize_embeddings(state: FitState, bits: int) -> None:
    """HNeRV: quantize the per-frame embeddings (one scale per frame); the decoder then sees the dequantized ones."""
    q = quantize_array(state.inputs.numpy(), bits)
    state.emb_q = q
    state.inputs = torch.from_numpy(q.dequantize())


@torch.no_grad()
def render(dec: NervDecoder, inputs: torch.Tensor, batch: int = 4) -> np.ndarray:
    """Render every frame on CPU in float32 -> (T, H, W, 3) uint8 (round to nearest, clipped)."""
    dec = dec.cpu().float().eval()
    out = []
    for i in range(0, inputs.shape[0], batch):
        y = dec(inputs[i:i + batch].cpu().float())
        y = torch.clamp(torch.round(y * 255.0), 0, 255).to(torch.uint8)
        out.append(y.permute(0, 2, 3, 1).numpy())
    return np.ascontiguousarray(np.concatenate(out))


@dataclass
class Compressed:
    """The quantized INR ready for entropy coding, with the encoder-side rendering of it."""

    cfg: NervConfig
    weights: dict[str, QTensor]
    embeddings: QTensor | None
    bits: int
    prune: float
    frames: np.ndarray | None = None   # the encoder's render of the quantized network
    seconds: float = 0.0


def compress_state(state: FitState, frames: np.ndarray, bits: int, prune: float, opts: FitOptions,
                   ft_steps: int, deadline: float | None = None, render_frames: bool = True) -> Compressed:
    """Prune (+fine-tune), quantization-aware fine-tune and quantize a fitted state (a copy; ``state`` is kept)."""
    t0 = time.perf_counter()
    st = FitState(state.cfg, copy.deepcopy(state.decoder), state.inputs.clone())
    if st.cfg.kind == "hnerv":
        quantize_embeddings(st, max(bits, EMBED_BITS))
    if prune > 0:
        st.masks = magnitude_masks(st.decoder, prune)
        finetune(st, frames, opts, ft_steps, None, _sub_deadline(deadline, 0.5), "pruning fine-tune")
    finetune(st, frames, opts, ft_steps, bits, deadline, "quantization fine-tune")
    weights = quantize_decoder(st.decoder, st.masks, bits)
    comp = Compressed(st.cfg, weights, st.emb_q, bits, prune)
    if render_frames:
        comp.frames = render(decoder_from_quantized(st.cfg, weights), st.inputs)
    comp.seconds = time.perf_counter() - t0
    return comp


def _sub_deadline(deadline: float | None, frac: float) -> float | None:
    if deadline is None:
        return None
    now = time.perf_counter()
    return now + max(0.0, deadline - now) * frac


def inputs_for(cfg: NervConfig, emb: QTensor | None) -> torch.Tensor:
    """Decoder inputs at decode time: frame times (NeRV) or dequantized embeddings (HNeRV)."""
    if cfg.kind == "nerv":
        return frame_times(cfg.frames)
    return torch.from_numpy(emb.dequantize())
