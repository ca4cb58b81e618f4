"""Trainer ``flow``: the integer discrete flow on MNIST, Fashion-MNIST or BSDS500 photo crops.

Uses the shared resumable loop (budgets, LR schedule, checkpoints, device); ``--export`` writes
<name>.pt + its manifest with the measured test bits/dim into ``--export-dir`` (default
ncodec/weights) once the run is finished.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..models.flow import FlowConfig, IntFlow
from .. import data as D
from .export import add_export_args, command_line, export_dir, export_name, to_cpu, write_entry
from .loop import Loop, Summary, add_common_args, config_from_args, gradient_step
from .registry import register_trainer

DEFAULTS = {
    "mnist": dict(channels=1, size=28, levels=2, hidden=64, depth=4, n_mix=5, couplings=1, t_max=64),
    "fashion-mnist": dict(channels=1, size=28, levels=2, hidden=64, depth=4, n_mix=5, couplings=1, t_max=64),
    "bsds500": dict(channels=3, size=32, levels=3, hidden=48, depth=4, n_mix=4, couplings=1, t_max=64,
                    color_split=True),
}
EXPORT_NAME = {"mnist": "flow_mnist", "fashion-mnist": "flow_fashion", "bsds500": "flow_photo"}
# LR: 200 warmup steps, then cosine from --lr down to 10% of it over the run's progress
LOOP_DEFAULTS = dict(steps=20000, lr=2e-3, warmup=200, schedule="cosine", lr_floor=0.1, threads=1)


def load_photo_pool(max_side: int = 0) -> np.ndarray:
    """BSDS500 train+val images as a list-like of uint8 (H, W, 3) arrays."""
    from PIL import Image
    imgs = []
    for p in D.paths("bsds500", "train") + D.paths("bsds500", "val"):
        imgs.append(np.asarray(Image.open(p).convert("RGB")))
    return imgs


def photo_test_tiles(n_images: int = 8, size: int = 32, per_image: int = 16, seed: int = 1) -> np.ndarray:
    """Fixed random 32x32 tiles from BSDS500 test images (for reporting), (N, 3, S, S) uint8."""
    from PIL import Image
    rng = np.random.default_rng(seed)
    out = []
    for p in D.paths("bsds500", "test")[:n_images]:
        a = np.asarray(Image.open(p).convert("RGB"))
        for _ in range(per_image):
            y = rng.integers(0, a.shape[0] - size + 1)
            x = rng.integers(0, a.shape[1] - size + 1)
            out.append(a[y:y + size, x:x + size].transpose(2, 0, 1))
    return np.stack(out)


class Sampler:
    """Random training batches as float tensors (B, C, S, S) of integer values, built on ``device``.

    Positions and flips come from the NumPy generator ``rng`` (so the batches are the same on every
    device); the pixels stay on the device (the whole train array, or the photos as uint8 tensors).
    """

    def __init__(self, data: str, size: int, rng: np.random.Generator, device: torch.device | str = "cpu") -> None:
        self.data, self.size, self.rng, self.device = data, size, rng, torch.device(device)
        if data == "bsds500":
            self.pool = [torch.from_numpy(np.array(a)).to(self.device) for a in load_photo_pool()]
        else:
            self.x = torch.from_numpy(np.array(D.arrays(data, "train")[0])).to(self.device)

    def batch(self, n: int) -> torch.Tensor:
        if self.data != "bsds500":
            idx = torch.from_numpy(self.rng.integers(0, len(self.x), n)).to(self.device)
            return self.x[idx][:, None].float()
        s = self.size
        out = []
        for _ in range(n):
            a = self.pool[self.rng.integers(len(self.pool))]
            y = self.rng.integers(0, a.shape[0] - s + 1)
            x = self.rng.integers(0, a.shape[1] - s + 1)
            t = a[y:y + s, x:x + s]
            if self.rng.random() < 0.5:
                t = t.flip(1)
            out.append(t.permute(2, 0, 1))
        return torch.stack(out).float()


def test_set(data: str, n: int) -> torch.Tensor:
    """The first ``n`` test images (or fixed test tiles for photos) as float tensors."""
    if data == "bsds500":
        return torch.from_numpy(photo_test_tiles().astype(np.float32))[:n]
    x, _ = D.arrays(data, "test")
    return torch.from_numpy(x[:n, None].astype(np.float32))


@torch.no_grad()
def evaluate_bpd(model: IntFlow, x: torch.Tensor, batch: int = 250) -> float:
    """Model bits per sub-pixel (float model, no coder) on ``x``."""
    model.eval()
    bits = 0.0
    for i in range(0, len(x), batch):
        b, _ = model(x[i:i + batch])
        bits += float(b.sum())
    model.train()
    return bits / x[0].numel() / len(x)


def add_args(p) -> None:
    """Options of ``ncodec train flow``."""
    add_common_args(p, **LOOP_DEFAULTS)
    add_export_args(p)
    p.add_argument("--data", choices=sorted(DEFAULTS), default="mnist")
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--hidden", type=int, default=None)
    p.add_argument("--depth", type=int, default=None)
    p.add_argument("--mix", type=int, default=None)
    p.add_argument("--couplings", type=int, default=None)
    p.add_argument("--eval-n", type=int, default=2000, help="test images for the reported bits/dim")
    p.add_argument("--export", action="store_true", help="write the weights + manifest when the run is finished")


def run(args) -> int:
    """Train (resumably), then evaluate and optionally export the weights."""
    cfg_kw = dict(DEFAULTS[args.data])
    for key, val in (("hidden", args.hidden), ("depth", args.depth), ("n_mix", args.mix),
                     ("couplings", args.couplings)):
        if val is not None:
            cfg_kw[key] = val
    mcfg = FlowConfig(**cfg_kw)
    tcfg = config_from_args(args, ckpt_dir=f"runs/{export_name(args, EXPORT_NAME[args.data])}")
    loop = Loop(tcfg, desc=f"flow {args.data}")
    model = IntFlow(mcfg).to(loop.device)
    opt = torch.optim.Adam(model.parameters(), lr=tcfg.lr)
    sampler = Sampler(args.data, mcfg.size, np.random.default_rng(tcfg.seed), loop.device)
    numel = mcfg.channels * mcfg.size ** 2

    def step_fn(step: int) -> dict:
        x = sampler.batch(args.batch)

        def loss_fn():
            bits, _ = model(x)
            return bits.mean() / numel, {}
        m = gradient_step(model, opt, loss_fn, clip=5.0)
        m["bpd"] = m.pop("loss")
        return m

    def state_fn() -> dict:
        return {"config": mcfg.to_dict(), "rng": sampler.rng.bit_generator.state}

    def load_state_fn(s: dict) -> None:
        sampler.rng.bit_generator.state = s["rng"]

    summary = loop.run(step_fn, state={"model": model, "opt": opt}, optimizers=[opt],
                       state_fn=state_fn, load_state_fn=load_state_fn)
    model = to_cpu(model)
    xt = test_set(args.data, args.eval_n)
    bpd = evaluate_bpd(model, xt)
    print(f"flow {args.data}: test model bpd {bpd:.4f} on {len(xt)} images", flush=True)
    if args.export and summary.finished:
        export(model, args, summary, bpd, len(xt))
    return 0


run.add_args = add_args
register_trainer("flow")(run)


def export(model: IntFlow, args, summary: Summary, bpd: float, n_eval: int) -> Path:
    """Save float32 weights + config (from the CPU model) and write the manifest entry."""
    name = export_name(args, EXPORT_NAME[args.data])
    path = export_dir(args) / f"{name}.pt"
    torch.save({"config": model.cfg.to_dict(),
                "state": {k: v.detach().float().clone() for k, v in model.state_dict().items()}}, path)
    write_entry(name, path, codec="flow", dataset=args.data, command=command_line(args, "flow"), steps=summary.step,
                cpu_seconds=round(summary.cpu_s), batch=args.batch,
                device=f"{summary.device}, {torch.get_num_threads()} thread(s)",
                figures={"test_model_bpd": round(bpd, 4), "test_images": n_eval})
    print(f"exported {name} to {path}", flush=True)
    return path
