"""``ncodec train classifier --task mnist|fashion-mnist|fsdd``: train a downstream classifier on the
train split with the shared loop, measure clean test accuracy, ship weights + manifest."""
from __future__ import annotations

import math
import shlex
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F

from .loop import add_common_args, config_from_args, gradient_step, run_training
from .registry import register_trainer


def _add_args(p) -> None:
    from ..eval.tasks import tasks
    p.add_argument("--task", required=True, choices=list(tasks()))
    p.add_argument("--epochs", type=float, default=None, help="epochs (default: the task's)")
    p.add_argument("--batch", type=int, default=None)
    p.add_argument("--lr", type=float, default=None, help="peak learning rate (one-cycle)")
    p.add_argument("--out", default=None, help="weights folder (default: ncodec/weights)")
    add_common_args(p)


@torch.no_grad()
def accuracy(model, x: torch.Tensor, y: torch.Tensor, batch: int = 1000) -> float:
    """Top-1 accuracy of ``model`` on a prepared tensor batch."""
    model.eval()
    hits = 0
    for i in range(0, len(x), batch):
        hits += int((model(x[i:i + batch]).argmax(1) == y[i:i + batch]).sum())
    return hits / max(len(x), 1)


def run(args) -> int:
    """Train, evaluate on the test split and write ncodec/weights/clf_<task>.{pt,json}."""
    from ..eval.tasks import get_task
    from ..models.classifiers import build, param_count
    from ..weights import WEIGHTS_DIR, write_manifest

    task = get_task(args.task)
    d = task.train_defaults
    epochs = args.epochs or d.get("epochs", 3)
    batch = args.batch or d.get("batch", 128)
    lr = args.lr or d.get("lr", 3e-3)
    if args.threads:
        torch.set_num_threads(args.threads)
    items, labels = task.load("train")
    x = task.to_tensor([it.data for it in items])
    y = torch.from_numpy(labels)
    n = len(x)
    per_epoch = math.ceil(n / batch)
    steps = int(round(epochs * per_epoch))
    cfg = config_from_args(args, steps, f"runs/clf_{task.name}")
    cfg.steps = steps if not args.steps else args.steps
    torch.manual_seed(cfg.seed)
    model = build(task.arch)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=cfg.steps, pct_start=0.2)
    gen = torch.Generator()

    def step_fn(step: int) -> dict:
        epoch, k = divmod(step, per_epoch)
        perm = torch.randperm(n, generator=torch.Generator().manual_seed(cfg.seed * 1000 + epoch))
        idx = perm[k * batch:(k + 1) * batch]
        gen.manual_seed(cfg.seed * 7919 + step)
        xb = x[idx].clone()
        if task.augment is not None:
            xb = task.augment(xb, gen)
        yb = y[idx]
        model.train()

        def loss_fn():
            logits = model(xb)
            loss = F.cross_entropy(logits, yb)
            return loss, {"acc": (logits.argmax(1) == yb).float().mean()}
        m = gradient_step(model, opt, loss_fn)
        sched.step()
        return m

    def state_fn() -> dict:
        return {"model": model.state_dict(), "opt": opt.state_dict(), "sched": sched.state_dict()}

    def load_fn(s: dict) -> None:
        model.load_state_dict(s["model"])
        opt.load_state_dict(s["opt"])
        sched.load_state_dict(s["sched"])

    t0 = time.process_time()
    summary = run_training(cfg, step_fn, state_fn, load_fn, desc=f"clf {task.name}")
    cpu_s = time.process_time() - t0
    if not summary["finished"]:
        print(f"stopped at step {summary['steps_done']}/{cfg.steps} (time budget); rerun to resume")
        return 0
    titems, tlabels = task.load("test")
    acc = accuracy(model, task.to_tensor([it.data for it in titems]), torch.from_numpy(tlabels))
    train_acc = accuracy(model, x[:5000], y[:5000])
    out_dir = Path(args.out) if args.out else WEIGHTS_DIR
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{task.weights}.pt"
    model.eval()
    torch.save({"arch": task.arch, "task": task.name, "state_dict": model.state_dict()}, path)
    cmd = "ncodec train classifier " + " ".join(shlex.quote(a) for a in sys.argv[sys.argv.index("classifier") + 1:]) \
        if "classifier" in sys.argv else f"ncodec train classifier --task {task.name}"
    if out_dir.resolve() == WEIGHTS_DIR.resolve():
        write_manifest(task.weights, path, task=task.name, arch=task.arch, dataset=task.description,
                       command=cmd, epochs=epochs, batch=batch, lr=lr, steps=cfg.steps, seed=cfg.seed,
                       params=param_count(model), clean_test_accuracy=round(acc, 5),
                       train_accuracy_first5000=round(train_acc, 5), test_items=len(titems),
                       train_process_cpu_s_last_session=round(cpu_s, 1),
                       train_wall_s_last_session=round(summary["seconds"], 1))
    print(f"{task.name}: clean test accuracy {acc:.4f} ({len(titems)} items) -> {path}")
    return 0


run.add_args = _add_args
register_trainer("classifier", help="downstream classifier for machine-perceptual metrics")(run)
