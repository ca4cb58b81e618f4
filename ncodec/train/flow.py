"""Trainer ``flow``: the integer discrete flow on MNIST, Fashion-MNIST or BSDS500 photo crops.

Uses the shared resumable loop; ``--cpu-budget`` stops (and checkpoints) after that many CPU
seconds of this process, and ``--export`` writes ncodec/weights/<name>.pt + its manifest with
the measured test bits/dim.
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import torch

from ..models.flow import FlowConfig, IntFlow
from .. import data as D
from .loop import add_common_args, config_from_args, gradient_step, run_training
from .registry import register_trainer

DEFAULTS = {
    "mnist": dict(channels=1, size=28, levels=2, hidden=64, depth=4, n_mix=5, couplings=1, t_max=64),
    "fashion-mnist": dict(channels=1, size=28, levels=2, hidden=64, depth=4, n_mix=5, couplings=1, t_max=64),
    "bsds500": dict(channels=3, size=32, levels=3, hidden=48, depth=4, n_mix=4, couplings=1, t_max=64,
                    color_split=True),
}
EXPORT_NAME = {"mnist": "flow_mnist", "fashion-mnist": "flow_fashion", "bsds500": "flow_photo"}


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
    """Random training batches as float tensors (B, C, S, S) of integer values."""

    def __init__(self, data: str, size: int, rng: np.random.Generator) -> None:
        self.data, self.size, self.rng = data, size, rng
        if data == "bsds500":
            self.pool = load_photo_pool()
        else:
            self.x, _ = D.arrays(data, "train")

    def batch(self, n: int) -> torch.Tensor:
        if self.data != "bsds500":
            idx = self.rng.integers(0, len(self.x), n)
            return torch.from_numpy(self.x[idx][:, None].astype(np.float32))
        s = self.size
        out = np.empty((n, 3, s, s), dtype=np.float32)
        for i in range(n):
            a = self.pool[self.rng.integers(len(self.pool))]
            y = self.rng.integers(0, a.shape[0] - s + 1)
            x = self.rng.integers(0, a.shape[1] - s + 1)
            t = a[y:y + s, x:x + s]
            if self.rng.random() < 0.5:
                t = t[:, ::-1]
            out[i] = t.transpose(2, 0, 1)
        return torch.from_numpy(out)


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
    add_common_args(p)
    p.add_argument("--data", choices=sorted(DEFAULTS), default="mnist")
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--hidden", type=int, default=None)
    p.add_argument("--depth", type=int, default=None)
    p.add_argument("--mix", type=int, default=None)
    p.add_argument("--couplings", type=int, default=None)
    p.add_argument("--cpu-budget", type=float, default=0.0, help="stop after this many CPU seconds")
    p.add_argument("--eval-n", type=int, default=2000, help="test images for the reported bits/dim")
    p.add_argument("--export", action="store_true", help="write the shipped weights + manifest")


def run(args) -> int:
    """Train (resumably), then evaluate and optionally export the weights."""
    cfg_kw = dict(DEFAULTS[args.data])
    for key, val in (("hidden", args.hidden), ("depth", args.depth), ("n_mix", args.mix),
                     ("couplings", args.couplings)):
        if val is not None:
            cfg_kw[key] = val
    mcfg = FlowConfig(**cfg_kw)
    tcfg = config_from_args(args, default_steps=20000, default_dir=f"runs/flow_{args.data}")
    torch.set_num_threads(args.threads or 1)
    torch.manual_seed(args.seed)
    model = IntFlow(mcfg)
    opt = torch.optim.Adam(model.parameters(), lr=args.lr)
    sampler = Sampler(args.data, mcfg.size, np.random.default_rng(args.seed))
    numel = mcfg.channels * mcfg.size ** 2
    cpu0 = time.process_time()
    wall0 = time.time()
    spent_before = [0.0]

    def step_fn(step: int) -> dict:
        cpu = spent_before[0] + time.process_time() - cpu0
        frac = step / max(tcfg.steps, 1)
        if args.cpu_budget:
            frac = max(frac, cpu / args.cpu_budget)
        if tcfg.time_budget_s:
            frac = max(frac, (time.time() - wall0) / tcfg.time_budget_s)
        lr = args.lr * min(1.0, (step + 1) / 200) * (0.55 + 0.45 * np.cos(np.pi * min(frac, 1.0)))
        for g in opt.param_groups:
            g["lr"] = lr
        x = sampler.batch(args.batch)

        def loss_fn():
            bits, parts = model(x)
            return bits.mean() / numel, {}
        m = gradient_step(model, opt, loss_fn, clip=5.0)
        cpu = spent_before[0] + time.process_time() - cpu0
        m["bpd"] = m.pop("loss")
        m["cpu_s"] = cpu
        if args.cpu_budget and cpu > args.cpu_budget:
            tcfg.steps = step + 1          # the loop re-reads steps: stop after this one
        return m

    def state_fn() -> dict:
        return {"model": model.state_dict(), "opt": opt.state_dict(), "config": mcfg.to_dict(),
                "cpu_s": spent_before[0] + time.process_time() - cpu0}

    def load_state_fn(s: dict) -> None:
        model.load_state_dict(s["model"])
        opt.load_state_dict(s["opt"])
        spent_before[0] = float(s.get("cpu_s", 0.0))

    summary = run_training(tcfg, step_fn, state_fn, load_state_fn, desc=f"flow {args.data}")
    cpu_total = spent_before[0] + time.process_time() - cpu0
    xt = test_set(args.data, args.eval_n)
    bpd = evaluate_bpd(model, xt)
    print(f"flow {args.data}: steps {summary['steps_done']}, cpu {cpu_total:.0f} s, "
          f"test model bpd {bpd:.4f} on {len(xt)} images", flush=True)
    if args.export:
        export(model, args, summary["steps_done"], cpu_total, bpd, len(xt))
    return 0


run.add_args = add_args
register_trainer("flow", help="integer discrete flow (lossless) on mnist / fashion-mnist / bsds500")(run)


def export(model: IntFlow, args, steps: int, cpu_s: float, bpd: float, n_eval: int) -> Path:
    """Save float32 weights + config into ncodec/weights and write the manifest entry."""
    from ..weights import WEIGHTS_DIR, write_manifest
    name = EXPORT_NAME[args.data]
    path = WEIGHTS_DIR / f"{name}.pt"
    torch.save({"config": model.cfg.to_dict(),
                "state": {k: v.detach().float().clone() for k, v in model.state_dict().items()}}, path)
    cmd = "ncodec train flow " + " ".join(sys.argv[sys.argv.index("flow") + 1:]) if "flow" in sys.argv else ""
    write_manifest(name, path, dataset=args.data, command=cmd, steps=steps, cpu_seconds=round(cpu_s),
                   batch=args.batch, device="cpu, 1 thread",
                   figures={"test_model_bpd": round(bpd, 4), "test_images": n_eval})
    return path
