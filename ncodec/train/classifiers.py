"""``ncodec train classifier --task mnist|fashion-mnist|fsdd``: train a downstream classifier on the
train split with the shared loop, measure clean test accuracy, ship weights + manifest.

The LR follows the loop's schedule: linear warmup over the first 20% of the steps, then cosine
decay to zero (the shape of the one-cycle policy these classifiers were first trained with).
"""
from __future__ import annotations

import math
from pathlib import Path

import torch
from torch.nn import functional as F

from .export import add_export_args, command_line, export_dir, export_name, to_cpu, write_entry
from .loop import Loop, add_common_args, config_from_args, gradient_step
from .registry import register_trainer

WARMUP_FRACTION = 0.2


def _add_args(p) -> None:
    from ..eval.tasks import tasks
    p.add_argument("--task", required=True, choices=list(tasks()))
    p.add_argument("--epochs", type=float, default=None, help="step budget in epochs (default: the task's)")
    p.add_argument("--batch", type=int, default=None)
    add_common_args(p, schedule="cosine", lr_floor=0.0)
    add_export_args(p)


@torch.no_grad()
def accuracy(model, x: torch.Tensor, y: torch.Tensor, batch: int = 1000) -> float:
    """Top-1 accuracy of ``model`` on a prepared tensor batch."""
    model.eval()
    hits = 0
    for i in range(0, len(x), batch):
        hits += int((model(x[i:i + batch]).argmax(1) == y[i:i + batch]).sum())
    return hits / max(len(x), 1)


def run(args) -> int:
    """Train, evaluate on the test split and write clf_<task>.{pt,json} into the export folder."""
    from ..eval.tasks import get_task
    from ..models.classifiers import build, param_count

    task = get_task(args.task)
    d = task.train_defaults
    epochs = args.epochs or d.get("epochs", 3)
    batch = args.batch or d.get("batch", 128)
    items, labels = task.load("train")
    x = task.to_tensor([it.data for it in items])
    y = torch.from_numpy(labels)
    n = len(x)
    per_epoch = math.ceil(n / batch)
    steps = args.steps or int(round(epochs * per_epoch))
    cfg = config_from_args(args, steps=steps, lr=d.get("lr", 3e-3), warmup=max(1, round(WARMUP_FRACTION * steps)),
                           ckpt_dir=f"runs/{export_name(args, task.weights)}")
    loop = Loop(cfg, desc=f"clf {task.name}")
    dev = loop.device
    # augmentation draws from a CPU generator: batches that augment are built on CPU (identical on
    # every device) and moved; without augmentation the whole train set lives on the device
    x_dev, y_dev = (x, y) if task.augment is not None else (x.to(dev), y.to(dev))
    model = build(task.arch).to(dev)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=1e-4)
    gen = torch.Generator()

    def step_fn(step: int) -> dict:
        epoch, k = divmod(step, per_epoch)
        perm = torch.randperm(n, generator=torch.Generator().manual_seed(cfg.seed * 1000 + epoch))
        idx = perm[k * batch:(k + 1) * batch]
        xb, yb = x_dev[idx.to(x_dev.device)], y_dev[idx.to(y_dev.device)]
        if task.augment is not None:
            gen.manual_seed(cfg.seed * 7919 + step)
            xb = task.augment(xb.clone(), gen)
        xb, yb = xb.to(dev, non_blocking=True), yb.to(dev, non_blocking=True)
        model.train()

        def loss_fn():
            logits = model(xb)
            return F.cross_entropy(logits, yb), {"acc": (logits.argmax(1) == yb).float().mean()}
        return gradient_step(model, opt, loss_fn)

    summary = loop.run(step_fn, state={"model": model, "opt": opt}, optimizers=[opt])
    if not summary.finished:
        return 0
    model = to_cpu(model)
    titems, tlabels = task.load("test")
    acc = accuracy(model, task.to_tensor([it.data for it in titems]), torch.from_numpy(tlabels))
    train_acc = accuracy(model, x[:5000], y[:5000])
    name = export_name(args, task.weights)
    path = export_dir(args) / f"{name}.pt"
    torch.save({"arch": task.arch, "task": task.name, "state_dict": model.state_dict()}, path)
    write_entry(name, Path(path), codec="classifier", task=task.name, arch=task.arch, dataset=task.description,
                command=command_line(args, "classifier"), epochs=epochs, batch=batch, lr=cfg.lr, steps=cfg.steps,
                seed=cfg.seed, params=param_count(model), clean_test_accuracy=round(acc, 5),
                train_accuracy_first5000=round(train_acc, 5), test_items=len(titems),
                train_cpu_s=round(summary.cpu_s, 1), train_wall_s=round(summary.wall_s, 1),
                device=str(dev))
    print(f"{task.name}: clean test accuracy {acc:.4f} ({len(titems)} items) -> {path}")
    return 0


run.add_args = _add_args
register_trainer("classifier")(run)
