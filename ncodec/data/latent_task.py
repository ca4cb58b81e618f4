"""Learning from compressed data: a downstream classifier trained on the ``wavelet`` codec's
dequantized latents (``NczDataset(decode="latents")``: entropy decoding only, no synthesis),
beside the pixel-domain classifiers on the very same files (same rate): the shipped classifier
(trained on clean data) and the task's own architecture trained on decoded pixels with the same
budget. Reports accuracy and examples/s of decoding, training and inference for each domain.

    python -m ncodec.data.latent_task --task mnist --quality 1 --train 10000 --test 2000

The train/test splits are packed once into ``--work`` (a resumed pack is free) with
``ncodec.data.pack``; everything read afterwards goes through ``NczDataset``. The classifiers
here are probes trained by a plain loop (Adam, fixed epochs, no augmentation, same for both
domains): a comparison of inputs, not a training recipe; shipped weights come from ``ncodec
train classifier``.
"""
from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from .dataset import NczDataset
from .info import dataset_info
from .pack import pack

TASK_SOURCES = {"mnist": "mnist", "fashion-mnist": "fashion-mnist", "fsdd": "fsdd"}
AUDIO_LEN = 8000              # FSDD clips are centred in 1 s windows (as eval.tasks does)


class LatentNet(nn.Module):
    """A small probe on latents (C, H, W) or (C, L): 1x1 mixing, one 3x3 (or 3) conv, a linear head."""

    def __init__(self, in_ch: int, spatial: tuple[int, ...], width: int = 128, n_classes: int = 10) -> None:
        super().__init__()
        conv, bn = (nn.Conv2d, nn.BatchNorm2d) if len(spatial) == 2 else (nn.Conv1d, nn.BatchNorm1d)
        self.body = nn.Sequential(conv(in_ch, width, 1), bn(width), nn.ReLU(),
                                  conv(width, width, 3, padding=1), bn(width), nn.ReLU())
        self.pool = nn.AdaptiveAvgPool1d(16) if len(spatial) == 1 else nn.Identity()
        n = width * (16 if len(spatial) == 1 else spatial[0] * spatial[1])
        self.head = nn.Sequential(nn.Dropout(0.25), nn.Linear(n, n_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.pool(self.body(x)).flatten(1))


def _fix_last(a: np.ndarray, n: int) -> np.ndarray:
    """Centre the last axis in a window of ``n`` (zero padded or middle-cropped)."""
    m = a.shape[-1]
    if m >= n:
        s = (m - n) // 2
        return a[..., s:s + n]
    out = np.zeros(a.shape[:-1] + (n,), dtype=a.dtype)
    s = (n - m) // 2
    out[..., s:s + m] = a
    return out


def _collate_list(batch):
    xs, ys = zip(*batch)
    return list(xs), torch.tensor(ys)


def read_all(ds: NczDataset, workers: int, batch: int = 64) -> tuple[list[np.ndarray], np.ndarray, float]:
    """Every sample of ``ds`` through a DataLoader: (arrays, labels, seconds)."""
    t0 = time.perf_counter()
    dl = torch.utils.data.DataLoader(ds, batch_size=batch, num_workers=workers, collate_fn=_collate_list)
    xs: list[np.ndarray] = []
    ys: list[np.ndarray] = []
    for x, y in dl:
        xs += x
        ys.append(y.numpy())
    return xs, np.concatenate(ys), time.perf_counter() - t0


def ensure_packed(task: str, split: str, quality: int, limit: int | None, work: Path, workers: int) -> Path:
    """The task's split packed with ``wavelet`` at ``quality`` (packed once; later calls resume = no-op)."""
    root = work / f"{task}-{split}-wavelet-q{quality}-{limit or 'all'}"
    pack([f"{TASK_SOURCES[task]}:{split}"], root, codec="wavelet", quality=quality, limit=limit,
         workers=workers, shard_size="64MB", progress=None)
    return root


def train_probe(model: nn.Module, x: torch.Tensor, y: torch.Tensor, epochs: float, batch: int = 128,
                lr: float = 2e-3, seed: int = 0) -> tuple[nn.Module, float]:
    """Adam with a cosine schedule over ``epochs`` passes; returns (model, seconds)."""
    torch.manual_seed(seed)
    steps = max(1, int(math.ceil(epochs * len(x) / batch)))
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 0.5 * (1 + math.cos(math.pi * min(s, steps) / steps)))
    g = torch.Generator().manual_seed(seed)
    model.train()
    t0 = time.perf_counter()
    perm = torch.randperm(len(x), generator=g)
    k = 0
    for _ in range(steps):
        if k + batch > len(x):
            perm, k = torch.randperm(len(x), generator=g), 0
        idx = perm[k:k + batch]
        k += batch
        loss = F.cross_entropy(model(x[idx]), y[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
    model.eval()
    return model, time.perf_counter() - t0


@torch.no_grad()
def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch: int = 500) -> tuple[float, float]:
    """(top-1 accuracy, seconds)."""
    model.eval()
    t0 = time.perf_counter()
    hits = sum(int((model(x[i:i + batch]).argmax(1) == y[i:i + batch]).sum()) for i in range(0, len(x), batch))
    return hits / max(len(x), 1), time.perf_counter() - t0


def decode_cost(root: Path, n: int = 200) -> dict[str, float]:
    """Milliseconds per record, one thread, latents vs full decode of the same records, alternating
    record by record (so a machine whose load changes affects both alike)."""
    from .reader import DatasetReader
    rd = DatasetReader(root)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        rd.decode_latents(0)
        rd.decode(0)
        n = min(n, len(rd))
        tl = tp = 0.0
        for i in range(n):
            t0 = time.perf_counter()
            rd.decode_latents(i)
            t1 = time.perf_counter()
            rd.decode(i)
            tl, tp = tl + t1 - t0, tp + time.perf_counter() - t1
    finally:
        torch.set_num_threads(threads)
    return {"records": n, "latents_ms": 1e3 * tl / n, "full_decode_ms": 1e3 * tp / n}


def _latent_tensor(arrays: list[np.ndarray], length: int | None) -> torch.Tensor:
    if length is not None:
        arrays = [_fix_last(a, length) for a in arrays]
    return torch.from_numpy(np.stack(arrays).astype(np.float32))


def compare(task: str = "mnist", quality: int = 1, train: int | None = 10000, test: int | None = 2000,
            epochs: float = 3.0, workers: int = 2, work: str | Path = "runs/latent_task",
            seed: int = 0) -> dict[str, Any]:
    """Latent-domain vs pixel-domain classification of one task on the same wavelet files."""
    from ..eval.tasks import get_task, load_classifier
    from ..models.classifiers import build
    torch.set_num_threads(max(1, workers))
    work = Path(work)
    t = get_task(task)
    roots = {s: ensure_packed(task, s, quality, n, work, workers) for s, n in (("train", train), ("test", test))}
    info = dataset_info(roots["test"], check=False)
    out: dict[str, Any] = {"task": task, "codec": "wavelet", "quality": quality, "rate": info["rate"],
                           "rate_unit": info["rate_unit"], "epochs": epochs, "workers": workers}

    # ---- latent domain: entropy decoding only
    lat: dict[str, Any] = {}
    for split, root in roots.items():
        xs, ys, secs = read_all(NczDataset(root, decode="latents"), workers)
        lat[split] = (xs, ys, secs)
    x0, n0 = lat["train"][0][0], None
    if t.media == "audio":        # latents scale with clip length: centre them in the 1 s window's length
        first = NczDataset(roots["train"], decode="item")[0][0]
        n0 = int(round(x0.shape[-1] * AUDIO_LEN / first.data.shape[0]))
    xl = {s: _latent_tensor(lat[s][0], n0) for s in lat}
    mean = xl["train"].mean(dim=tuple(i for i in range(xl["train"].ndim) if i != 1), keepdim=True)
    std = xl["train"].std(dim=tuple(i for i in range(xl["train"].ndim) if i != 1), keepdim=True).clamp_min(1e-6)
    xl = {s: (v - mean) / std for s, v in xl.items()}
    yl = {s: torch.from_numpy(lat[s][1].astype(np.int64)) for s in lat}
    net = LatentNet(xl["train"].shape[1], tuple(xl["train"].shape[2:]))
    net, train_s = train_probe(net, xl["train"], yl["train"], epochs, seed=seed)
    acc, infer_s = accuracy(net, xl["test"], yl["test"])
    n_test, n_train = len(yl["test"]), len(yl["train"])
    out["latent"] = {"shape": list(x0.shape), "accuracy": acc, "decode_examples_per_s": n_test / lat["test"][2],
                     "train_examples_per_s": epochs * n_train / train_s,
                     "infer_examples_per_s": n_test / infer_s,
                     "end_to_end_examples_per_s": n_test / (lat["test"][2] + infer_s),
                     "params": sum(p.numel() for p in net.parameters())}

    # ---- pixel domain: full decode (synthesis included), same files
    pix = {s: read_all(NczDataset(root), workers) for s, root in roots.items()}
    xp = {s: t.to_tensor(pix[s][0]) for s in pix}
    yp = {s: torch.from_numpy(pix[s][1].astype(np.int64)) for s in pix}
    shipped = load_classifier(t)
    acc_shipped, infer_shipped = accuracy(shipped, xp["test"], yp["test"])
    torch.manual_seed(seed)
    pnet, ptrain_s = train_probe(build(t.arch), xp["train"], yp["train"], epochs, seed=seed)
    pacc, pinfer = accuracy(pnet, xp["test"], yp["test"])
    out["pixel"] = {"accuracy_trained_on_decoded": pacc, "accuracy_shipped_clean_classifier": acc_shipped,
                    "decode_examples_per_s": n_test / pix["test"][2],
                    "train_examples_per_s": epochs * n_train / ptrain_s,
                    "infer_examples_per_s": n_test / pinfer,
                    "end_to_end_examples_per_s": n_test / (pix["test"][2] + pinfer),
                    "params": sum(p.numel() for p in pnet.parameters())}
    out["n_train"], out["n_test"] = n_train, n_test
    out["decode_cost_one_thread"] = decode_cost(roots["test"])
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m ncodec.data.latent_task", description=__doc__.split("\n\n")[0])
    p.add_argument("--task", default="mnist", choices=list(TASK_SOURCES))
    p.add_argument("--quality", type=int, default=1)
    p.add_argument("--train", type=int, default=10000, help="train records (0: the whole split)")
    p.add_argument("--test", type=int, default=2000, help="test records (0: the whole split)")
    p.add_argument("--epochs", type=float, default=3.0)
    p.add_argument("-j", "--workers", type=int, default=2)
    p.add_argument("--work", default="runs/latent_task", help="where the packed splits are kept")
    p.add_argument("--json", help="append the result to this JSON list file")
    a = p.parse_args(argv)
    res = compare(a.task, a.quality, a.train or None, a.test or None, a.epochs, a.workers, a.work)
    print(json.dumps(res, indent=1))
    if a.json:
        f = Path(a.json)
        rows = json.loads(f.read_text()) if f.exists() else []
        rows = [r for r in rows if (r.get("task"), r.get("quality")) != (res["task"], res["quality"])] + [res]
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_text(json.dumps(rows, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
