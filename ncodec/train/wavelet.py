"""Trainer ``wavelet``: closed-form start (wavelet packet + PCA), then variable-rate R-D fine-tuning.

``ncodec train wavelet --media image --data bsds500`` (BSDS500 train+val crops) or
``--media audio --data fsdd`` (FSDD train split). Each step draws a quality level per sample,
so one model learns every rung of the lambda ladder; ``--export`` writes shipped weights.
"""
from __future__ import annotations

import math
import shlex
import sys
import time
from pathlib import Path

import numpy as np
import torch

from ..models.wavelet import WaveletAE, WaveletConfig, build
from .. import data as D
from .loop import add_common_args, config_from_args, gradient_step, run_training
from .registry import register_trainer

IMAGE_LAMBDAS = [0.0009, 0.0018, 0.0035, 0.0067, 0.013, 0.025, 0.05, 0.1]
AUDIO_LAMBDAS = [0.5, 1.5, 4.0, 12.0, 35.0, 100.0, 300.0, 1000.0]


def default_config(media: str) -> WaveletConfig:
    """The architecture shipped for ``media``."""
    if media == "image":
        return WaveletConfig(dims=2, in_ch=3, levels=3, vanishing=2, hidden=32, hyper=48, z_ch=32,
                             lambdas=list(IMAGE_LAMBDAS), dist_scale=255.0 ** 2, offset=0.5)
    # audio: waveform in [-1, 1]; distortion measured relative to a -20 dBFS reference power
    return WaveletConfig(dims=1, in_ch=1, levels=5, vanishing=4, hidden=48, hyper=48, z_ch=16,
                         lambdas=list(AUDIO_LAMBDAS), dist_scale=100.0, offset=0.0)


# ------------------------------------------------------------------ data
def load_images(split_names=("train", "val")) -> list[np.ndarray]:
    """BSDS500 images as uint8 (H, W, 3) arrays."""
    from PIL import Image
    out = []
    for split in split_names:
        for p in D.paths("bsds500", split):
            with Image.open(p) as im:
                out.append(np.array(im.convert("RGB")))
    return out


def load_audio(split: str = "train") -> np.ndarray:
    """All FSDD clips of a split concatenated into one float32 waveform in [-1, 1]."""
    import soundfile as sf
    parts = [sf.read(p, dtype="float32")[0] for p in D.paths("fsdd", split)]
    return np.concatenate(parts).astype(np.float32)


class Sampler:
    """Random crops (images, with flips) or windows (audio) as float tensors."""

    def __init__(self, media: str, data, crop: int, rng: np.random.Generator) -> None:
        self.media, self.data, self.crop, self.rng = media, data, crop, rng

    def batch(self, n: int) -> torch.Tensor:
        r, c = self.rng, self.crop
        if self.media == "audio":
            starts = r.integers(0, len(self.data) - c, n)
            x = np.stack([self.data[s:s + c] for s in starts])[:, None, :]
            return torch.from_numpy(x.copy())
        out = []
        for _ in range(n):
            img = self.data[r.integers(len(self.data))]
            h, w = img.shape[:2]
            i, j = r.integers(0, h - c + 1), r.integers(0, w - c + 1)
            a = img[i:i + c, j:j + c]
            if r.random() < 0.5:
                a = a[:, ::-1]
            if r.random() < 0.5:
                a = a.transpose(1, 0, 2)
            out.append(a)
        x = np.stack(out).astype(np.float32) / 255.0
        return torch.from_numpy(x).permute(0, 3, 1, 2).contiguous()


def pca_basis(model: WaveletAE, sampler: Sampler, n_batches: int = 40, bs: int = 16) -> tuple[np.ndarray, np.ndarray]:
    """Rows: eigenvectors of the packet-coefficient covariance, largest variance first (the KLT); and their stds."""
    c = model.cfg.channels
    cov = np.zeros((c, c))
    count = 0
    with torch.no_grad():
        for _ in range(n_batches):
            w = model.wpt(sampler.batch(bs).double() - model.cfg.offset)
            flat = w.transpose(0, 1).reshape(c, -1).numpy()
            cov += flat @ flat.T
            count += flat.shape[1]
    cov /= count
    vals, vecs = np.linalg.eigh(cov)
    order = np.argsort(vals)[::-1]
    basis = vecs[:, order].T
    # sign convention: largest entry of each row positive (reproducible)
    basis *= np.sign(basis[np.arange(c), np.abs(basis).argmax(1)])[:, None]
    return basis, np.sqrt(np.maximum(vals[order], 0.0))


def rd_loss(model: WaveletAE, x: torch.Tensor, q: torch.Tensor) -> tuple[torch.Tensor, dict]:
    """lambda_q * dist_scale * MSE + bits per pixel (images) / per sample (audio), averaged over the batch."""
    out = model(x, q)
    cfg = model.cfg
    per_item_px = float(np.prod(x.shape[2:]))
    mse = (out["x_hat"] - x).pow(2).flatten(1).mean(1)
    bits = out["y_bits"].flatten(1).sum(1) + out["z_bits"].flatten(1).sum(1)
    rate = bits / per_item_px
    lam = torch.tensor(cfg.lambdas, dtype=torch.float32)[q]
    loss = (lam * cfg.dist_scale * mse + rate).mean()
    return loss, {"rate": float(rate.mean().detach()), "mse": float(mse.mean().detach())}


# ------------------------------------------------------------------ export
def export(model: WaveletAE, name: str, command: str, extra: dict, n_low: int = 0) -> Path:
    """Write ncodec/weights/<name>.pt (config + state dict with CDF tables) and its manifest;
    ``n_low`` extrapolated quality levels are added below the trained ladder (see extend_ladder)."""
    from ..weights import WEIGHTS_DIR, write_manifest
    eb = model.entropy_bottleneck
    # the tail quantiles only depend on the prior's own parameters: finish fitting them (cheap)
    aux_opt = torch.optim.Adam([eb.quantiles], lr=1e-2)
    for _ in range(3000):
        aux_opt.zero_grad(set_to_none=True)
        aux = eb.loss()
        aux.backward()
        aux_opt.step()
    model.eval()
    eb.update(force=True)
    model = extend_ladder(model, n_low).eval()
    path = WEIGHTS_DIR / f"{name}.pt"
    sd = {k: v.detach().clone() for k, v in model.state_dict().items()}
    torch.save({"config": model.cfg.to_dict(), "state_dict": sd}, path)
    write_manifest(name, path, dataset=extra.pop("dataset", ""), command=command, **extra)
    return path


# ------------------------------------------------------------------ CLI entry
def add_args(p) -> None:
    p.add_argument("--media", choices=("image", "audio"), default="image")
    p.add_argument("--data", default=None, help="bsds500 (image) or fsdd (audio)")
    p.add_argument("--crop", type=int, default=None, help="crop side (image) / window samples (audio)")
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--lr", type=float, default=3e-4)
    p.add_argument("--name", default=None, help="weights name to export (default wavelet_<media>)")
    p.add_argument("--export", action="store_true", help="export shipped weights when done")
    p.add_argument("--cpu-budget", type=float, default=0.0,
                   help="stop after this many CPU seconds (the lr schedule follows the larger of the "
                        "step, CPU-time and --time-budget fractions, so it always anneals)")
    p.add_argument("--extra-low-levels", type=int, default=2,
                   help="quality levels added below the trained ladder at export by extrapolating the gains")
    p.add_argument("--export-only", action="store_true",
                   help="export the weights of the checkpoint in --ckpt-dir without training")
    p.add_argument("--closed-form-only", action="store_true", help="export the closed-form start (0 steps)")
    add_common_args(p)


def run(args) -> int:
    """Train (and optionally export) the image or audio wavelet model."""
    media = args.media
    data_name = args.data or ("bsds500" if media == "image" else "fsdd")
    if (media, data_name) not in (("image", "bsds500"), ("audio", "fsdd")):
        from ..errors import InputError
        raise InputError(f"wavelet trains images on bsds500 and audio on fsdd, not {media} on {data_name}")
    name = args.name or f"wavelet_{media}"
    cfg = config_from_args(args, default_steps=20000, default_dir=f"runs/{name}")
    wall_budget, cfg.time_budget_s = cfg.time_budget_s, 0.0   # our schedule handles it (see progress)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    crop = args.crop or (128 if media == "image" else 4096)
    rng = np.random.default_rng(cfg.seed)
    torch.manual_seed(cfg.seed)
    t_load = time.time()
    data = load_images() if media == "image" else load_audio("train")
    sampler = Sampler(media, data, crop, rng)
    model = build(default_config(media))
    print(f"[wavelet] {media}: {len(data)} {'images' if media == 'image' else 'samples'} loaded in "
          f"{time.time() - t_load:.1f}s; {sum(p.numel() for p in model.parameters())} parameters", flush=True)
    if not args.export_only:
        model.init_closed_form(*pca_basis(model, sampler))
    main_params = [p for n, p in model.named_parameters() if not n.endswith(".quantiles")]
    aux_params = [p for n, p in model.named_parameters() if n.endswith(".quantiles")]
    opt = torch.optim.Adam(main_params, lr=args.lr)
    aux_opt = torch.optim.Adam(aux_params, lr=1e-3)
    n_levels = len(model.cfg.lambdas)

    clock = {"cpu": 0.0, "wall": 0.0, "t_cpu": time.process_time(), "t_wall": time.time()}

    def progress(step: int) -> float:
        now_c, now_w = time.process_time(), time.time()
        clock["cpu"] += now_c - clock["t_cpu"]
        clock["wall"] += now_w - clock["t_wall"]
        clock["t_cpu"], clock["t_wall"] = now_c, now_w
        fr = [step / max(1, cfg.steps)]
        if args.cpu_budget:
            fr.append(clock["cpu"] / args.cpu_budget)
        if wall_budget:
            fr.append(clock["wall"] / wall_budget)
        return max(fr)

    def lr_at(step: int, frac: float) -> float:
        warm = min(1.0, (step + 1) / 200)
        return args.lr * warm * (0.5 * (1 + math.cos(math.pi * min(frac, 1.0))) * 0.95 + 0.05)

    def step_fn(step: int) -> dict:
        model.train()
        frac = progress(step)
        if frac >= 1.0:
            cfg.steps = step + 1          # budget spent: make this the last step (checkpointed by the loop)
        for g in opt.param_groups:
            g["lr"] = lr_at(step, frac)
        x = sampler.batch(args.batch)
        q = torch.from_numpy(rng.integers(0, n_levels, args.batch))
        m = gradient_step(model, opt, lambda: rd_loss(model, x, q), clip=1.0)
        aux_opt.zero_grad(set_to_none=True)
        aux = model.entropy_bottleneck.loss()
        aux.backward()
        aux_opt.step()
        m["aux"] = float(aux)
        m["cpu_s"] = clock["cpu"]
        return m

    def state_fn() -> dict:
        return {"model": model.state_dict(), "opt": opt.state_dict(), "aux_opt": aux_opt.state_dict(),
                "rng": rng.bit_generator.state, "clock": {"cpu": clock["cpu"], "wall": clock["wall"]}}

    def load_state_fn(s: dict) -> None:
        model.load_state_dict(s["model"])
        opt.load_state_dict(s["opt"])
        aux_opt.load_state_dict(s["aux_opt"])
        rng.bit_generator.state = s["rng"]
        clock.update(s.get("clock", {}))
        clock["t_cpu"], clock["t_wall"] = time.process_time(), time.time()

    summary = {"steps_done": 0, "seconds": 0.0}
    if args.export_only:
        ck = torch.load(Path(cfg.ckpt_dir) / "checkpoint.pt", map_location="cpu", weights_only=False)
        load_state_fn(ck["state"])
        summary["steps_done"] = ck["step"]
        args.export = True
    elif not args.closed_form_only:
        Path(cfg.ckpt_dir).mkdir(parents=True, exist_ok=True)
        (Path(cfg.ckpt_dir) / "command.txt").write_text("ncodec train wavelet " + " ".join(shlex.quote(a) for a in sys.argv[3:]) + "\n")
        summary = run_training(cfg, step_fn, state_fn, load_state_fn, desc=f"wavelet-{media}")
        print(f"[wavelet] {summary}", flush=True)
    if args.export or args.closed_form_only:
        # the entropy bottleneck's tail quantiles need a short fit when we skip training
        if args.closed_form_only:
            for _ in range(300):
                with torch.no_grad():
                    z = model.h_a(model.analysis(model.pad(sampler.batch(4))))
                aux_opt.zero_grad(set_to_none=True)
                model.entropy_bottleneck(z)
                aux = model.entropy_bottleneck.loss()
                aux.backward()
                aux_opt.step()
        command = "ncodec train wavelet " + " ".join(shlex.quote(a) for a in sys.argv[3:]) \
            if len(sys.argv) > 2 and sys.argv[1:3] == ["train", "wavelet"] else " ".join(shlex.quote(a) for a in sys.argv)
        if args.export_only:
            prev = Path(cfg.ckpt_dir) / "command.txt"
            command = (prev.read_text().strip() + " ; then: " if prev.exists() else "") + command
        path = export(model, name, command, {"dataset": f"{data_name} {'train+val' if media == 'image' else 'train'}",
                                              "steps": summary.get("steps_done", 0),
                                              "train_wall_s": round(clock["wall"], 1),
                                              "train_cpu_s": round(clock["cpu"], 1),
                                              "extrapolated_low_levels": args.extra_low_levels},
                      n_low=args.extra_low_levels)
        print(f"[wavelet] exported {path}", flush=True)
    return 0


run.add_args = add_args
register_trainer("wavelet", help="wavelet-packet autoencoder (images: bsds500, audio: fsdd)")(run)


def extend_ladder(model: WaveletAE, n_low: int) -> WaveletAE:
    """Add ``n_low`` quality levels below the trained ones by extrapolating the per-channel log gains
    one ladder step at a time (the level's FiLM rows are copied from the lowest trained level)."""
    if n_low <= 0:
        return model
    cfg = model.cfg
    with torch.no_grad():
        def grow(t: torch.Tensor, extrap: bool) -> torch.Tensor:
            step = (t[1] - t[0]) if extrap else torch.zeros_like(t[0])
            low = [t[0] - k * step for k in range(n_low, 0, -1)]
            return torch.cat([torch.stack(low), t])
        sd = model.state_dict()
        for k in list(sd):
            if k in ("log_gain", "log_igain"):
                sd[k] = grow(sd[k], True)
            elif k.endswith(".scale") or k.endswith(".shift"):
                sd[k] = grow(sd[k], False)
        ratio = cfg.lambdas[1] / cfg.lambdas[0]
        lam = [cfg.lambdas[0] / ratio ** k for k in range(n_low, 0, -1)] + list(cfg.lambdas)
        new_cfg = WaveletConfig(**{**cfg.to_dict(), "lambdas": lam})
        new = WaveletAE(new_cfg, frozen_prior=not hasattr(model.entropy_bottleneck, "_logits_cumulative"))
        for key in ("_quantized_cdf", "_offset", "_cdf_length"):     # data-dependent buffer sizes
            getattr(new.entropy_bottleneck, key).resize_(sd[f"entropy_bottleneck.{key}"].shape)
        new.load_state_dict(sd)
    return new
