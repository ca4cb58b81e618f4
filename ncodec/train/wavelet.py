"""Trainer ``wavelet``: closed-form start (wavelet packet + PCA), then variable-rate R-D fine-tuning.

``ncodec train wavelet --media image --data bsds500`` (BSDS500 train+val crops) or
``--media audio --data fsdd`` (FSDD train split). Each step draws a quality level per sample,
so one model learns every rung of the lambda ladder. The shared loop owns budgets, the LR
schedule (200 warmup steps, cosine to 5% of --lr over the run's progress), checkpoints and the
device; ``--export`` writes the weights (computed on CPU) once the run is finished.
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch

from ..models.wavelet import WaveletAE, WaveletConfig, build
from .. import data as D
from .export import add_export_args, export_name, command_line, export_dir, to_cpu, write_entry
from .loop import Loop, add_common_args, config_from_args, gradient_step
from .registry import register_trainer

IMAGE_LAMBDAS = [0.0009, 0.0018, 0.0035, 0.0067, 0.013, 0.025, 0.05, 0.1]
AUDIO_LAMBDAS = [0.5, 1.5, 4.0, 12.0, 35.0, 100.0, 300.0, 1000.0]
LOOP_DEFAULTS = dict(steps=20000, lr=3e-4, warmup=200, schedule="cosine", lr_floor=0.05)
AUX_LR = 1e-3      # the entropy bottleneck's tail quantiles: own optimizer, constant LR (not scheduled)


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
    """Random crops (images, with flips) or windows (audio) as float tensors on ``device``.

    Positions and flips come from the NumPy generator ``rng`` (the same batches on every device);
    the pixels / samples themselves are kept on the device.
    """

    def __init__(self, media: str, data, crop: int, rng: np.random.Generator,
                 device: torch.device | str = "cpu") -> None:
        self.media, self.crop, self.rng, self.device = media, crop, rng, torch.device(device)
        if media == "audio":
            self.data = torch.from_numpy(np.asarray(data, dtype=np.float32)).to(self.device)
        else:
            self.data = [torch.from_numpy(np.ascontiguousarray(a)).to(self.device) for a in data]

    def batch(self, n: int) -> torch.Tensor:
        r, c = self.rng, self.crop
        if self.media == "audio":
            starts = r.integers(0, len(self.data) - c, n)
            return torch.stack([self.data[s:s + c] for s in starts])[:, None, :]
        out = []
        for _ in range(n):
            img = self.data[r.integers(len(self.data))]
            h, w = img.shape[:2]
            i, j = r.integers(0, h - c + 1), r.integers(0, w - c + 1)
            a = img[i:i + c, j:j + c]
            if r.random() < 0.5:
                a = a.flip(1)
            if r.random() < 0.5:
                a = a.permute(1, 0, 2)
            out.append(a)
        x = torch.stack(out).float() / 255.0
        return x.permute(0, 3, 1, 2).contiguous()


def pca_basis(model: WaveletAE, sampler: Sampler, n_batches: int = 40, bs: int = 16) -> tuple[np.ndarray, np.ndarray]:
    """Rows: eigenvectors of the packet-coefficient covariance, largest variance first (the KLT); and their stds."""
    c = model.cfg.channels
    cov = np.zeros((c, c))
    count = 0
    with torch.no_grad():
        for _ in range(n_batches):
            w = model.wpt(sampler.batch(bs).double() - model.cfg.offset)
            flat = w.transpose(0, 1).reshape(c, -1)
            cov += (flat @ flat.T).cpu().numpy()
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
    lam = torch.tensor(cfg.lambdas, dtype=torch.float32, device=x.device)[q]
    loss = (lam * cfg.dist_scale * mse + rate).mean()
    return loss, {"rate": float(rate.mean().detach()), "mse": float(mse.mean().detach())}


# ------------------------------------------------------------------ export
def export(model: WaveletAE, path: Path, command: str, extra: dict, n_low: int = 0) -> Path:
    """Write ``path`` (<name>.pt: config + state dict with CDF tables) and its manifest, computed on CPU;
    ``n_low`` extrapolated quality levels are added below the trained ladder (see extend_ladder)."""
    model = to_cpu(model)
    eb = model.entropy_bottleneck
    # the tail quantiles only depend on the prior's own parameters: finish fitting them (cheap)
    aux_opt = torch.optim.Adam([eb.quantiles], lr=1e-2)
    from tqdm.auto import tqdm
    for _ in tqdm(range(3000), desc="export: prior tails", leave=False, disable=None):   # terminal only
        aux_opt.zero_grad(set_to_none=True)
        aux = eb.loss()
        aux.backward()
        aux_opt.step()
    model.eval()
    eb.update(force=True)
    model = extend_ladder(model, n_low).eval()
    sd = {k: v.detach().clone() for k, v in model.state_dict().items()}
    torch.save({"config": model.cfg.to_dict(), "state_dict": sd}, path)
    write_entry(path.stem, path, codec="wavelet", media="image" if model.cfg.dims == 2 else "audio", dataset=extra.pop("dataset", ""), command=command, **extra)
    return path


# ------------------------------------------------------------------ CLI entry
def add_args(p) -> None:
    p.add_argument("--media", choices=("image", "audio"), default="image")
    p.add_argument("--data", default=None, help="bsds500 (image) or fsdd (audio)")
    p.add_argument("--crop", type=int, default=None, help="crop side (image) / window samples (audio)")
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--export", action="store_true", help="export the weights when the run is finished")
    p.add_argument("--extra-low-levels", type=int, default=2,
                   help="quality levels added below the trained ladder at export by extrapolating the gains")
    p.add_argument("--export-only", action="store_true",
                   help="export the weights of the checkpoint in --ckpt-dir without training")
    p.add_argument("--closed-form-only", action="store_true", help="export the closed-form start (0 steps)")
    add_common_args(p, **LOOP_DEFAULTS)
    add_export_args(p)


def _check_data(media: str, data_name: str) -> None:
    if (media, data_name) not in (("image", "bsds500"), ("audio", "fsdd")):
        from ..errors import InputError
        raise InputError(f"wavelet trains images on bsds500 and audio on fsdd, not {media} on {data_name}")


def _fit_tails(model: WaveletAE, sampler: Sampler, aux_opt: torch.optim.Optimizer, n: int = 300) -> None:
    """Fit the entropy bottleneck's tail quantiles on real hyper-latents (the closed-form start has none)."""
    for _ in range(n):
        with torch.no_grad():
            z = model.h_a(model.analysis(model.pad(sampler.batch(4))))
        aux_opt.zero_grad(set_to_none=True)
        model.entropy_bottleneck(z)
        aux = model.entropy_bottleneck.loss()
        aux.backward()
        aux_opt.step()


def run(args) -> int:
    """Train (and optionally export) the image or audio wavelet model."""
    media = args.media
    data_name = args.data or ("bsds500" if media == "image" else "fsdd")
    _check_data(media, data_name)
    name = export_name(args, f"wavelet_{media}")
    cfg = config_from_args(args, ckpt_dir=f"runs/{name}")
    loop = Loop(cfg, desc=f"wavelet-{media}")
    if args.export_only and not loop.ckpt_path.exists():       # before minutes of data loading
        from ..errors import InputError
        raise InputError(f"--export-only: no checkpoint at {loop.ckpt_path} (train first with --name {name}, "
                         f"or give the run's --ckpt-dir)")
    crop = args.crop or (128 if media == "image" else 4096)
    rng = np.random.default_rng(cfg.seed)
    t_load = time.time()
    data = load_images() if media == "image" else load_audio("train")
    sampler = Sampler(media, data, crop, rng, loop.device)
    model = build(default_config(media)).to(loop.device)
    loop.info(f"{media}: {len(data)} {'images' if media == 'image' else 'samples'} loaded in "
              f"{time.time() - t_load:.1f}s; {sum(p.numel() for p in model.parameters())} parameters")
    if not args.export_only:
        model.init_closed_form(*pca_basis(model, sampler))
    main_params = [p for n, p in model.named_parameters() if not n.endswith(".quantiles")]
    aux_params = [p for n, p in model.named_parameters() if n.endswith(".quantiles")]
    opt = torch.optim.Adam(main_params, lr=cfg.lr)
    aux_opt = torch.optim.Adam(aux_params, lr=AUX_LR)
    n_levels = len(model.cfg.lambdas)
    state = {"model": model, "opt": opt, "aux_opt": aux_opt}

    def step_fn(step: int) -> dict:
        model.train()
        x = sampler.batch(args.batch)
        q = torch.from_numpy(rng.integers(0, n_levels, args.batch)).to(loop.device)
        m = gradient_step(model, opt, lambda: rd_loss(model, x, q), clip=1.0)
        aux_opt.zero_grad(set_to_none=True)
        aux = model.entropy_bottleneck.loss()
        aux.backward()
        aux_opt.step()
        m["aux"] = float(aux.detach())
        return m

    def state_fn() -> dict:
        return {"rng": rng.bit_generator.state}

    def load_state_fn(s: dict) -> None:
        rng.bit_generator.state = s["rng"]

    ckdir = Path(cfg.ckpt_dir)
    finished = False
    if args.export_only:
        from ..errors import InputError
        if not loop.load(state, load_state_fn=load_state_fn):
            raise InputError(f"--export-only: no checkpoint in {ckdir}")
        loop.info(f"exporting the checkpoint {loop.ckpt_path} (step {loop.budget.step})")
        finished = True
    elif args.closed_form_only:
        _fit_tails(model, sampler, aux_opt)
        finished = True
    else:
        ckdir.mkdir(parents=True, exist_ok=True)
        (ckdir / "command.txt").write_text(command_line(args, "wavelet") + "\n")
        finished = loop.run(step_fn, state=state, optimizers=[opt], state_fn=state_fn,
                            load_state_fn=load_state_fn).finished
    if (args.export and finished) or args.export_only or args.closed_form_only:
        _export_run(args, model, loop, name, data_name)
    return 0


def _export_run(args, model: WaveletAE, loop: Loop, name: str, data_name: str) -> Path:
    """Export the run's model with its manifest (the training command; for --export-only, the one
    recorded in the checkpoint folder first) into --export-dir."""
    command = command_line(args, "wavelet")
    prev = Path(loop.cfg.ckpt_dir) / "command.txt"
    if args.export_only and prev.exists():
        command = prev.read_text().strip() + " ; then: " + command
    b = loop.budget
    path = export(model, export_dir(args) / f"{name}.pt", command,
                  {"dataset": f"{data_name} {'train+val' if args.media == 'image' else 'train'}",
                   "steps": b.step, "train_wall_s": round(b.wall_s, 1), "train_cpu_s": round(b.cpu_s, 1),
                   "train_device": str(loop.device), "extrapolated_low_levels": args.extra_low_levels},
                  n_low=args.extra_low_levels)
    print(f"exported {name} ({args.media}) to {path}; use it with -c wavelet -O weights={name}", flush=True)
    return path


run.add_args = add_args
register_trainer("wavelet")(run)


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
