"""One resumable training loop: seed, checkpoints + resume, time budget, progress bar,
JSONL metrics log, and torchrun/DDP when launched with ``torchrun --nproc_per_node N``.

The loop is agnostic of the learning rule: it calls ``step_fn(step) -> metrics`` (a gradient
step, an EM step, ...) and checkpoints whatever ``state_fn()`` returns.
"""
from __future__ import annotations

import json
import os
import random
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch


@dataclass
class TrainConfig:
    """Settings shared by every trainer."""

    steps: int = 1000
    seed: int = 0
    ckpt_dir: str = "runs/default"
    ckpt_every: int = 200
    log_every: int = 20
    time_budget_s: float = 0.0      # 0: no limit; else stop (and checkpoint) after this many seconds
    threads: int = 0                # 0: torch default
    resume: bool = True
    extra: dict = field(default_factory=dict)


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (rank offsets are added by the caller under DDP)."""
    random.seed(seed)
    np.random.seed(seed % (1 << 32))
    torch.manual_seed(seed)


def distributed_setup() -> tuple[int, int]:
    """Initialise torch.distributed when torchrun set WORLD_SIZE>1; returns (rank, world_size)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1 and not torch.distributed.is_initialized():
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        torch.distributed.init_process_group(backend)
        if torch.cuda.is_available():
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    rank = torch.distributed.get_rank() if world > 1 else 0
    return rank, world


def wrap_ddp(model: torch.nn.Module) -> torch.nn.Module:
    """DistributedDataParallel around ``model`` when running under torchrun, else the model itself."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        dev = [torch.cuda.current_device()] if torch.cuda.is_available() else None
        return torch.nn.parallel.DistributedDataParallel(model, device_ids=dev)
    return model


def gradient_step(model: torch.nn.Module, optimizer: torch.optim.Optimizer,
                  loss_fn: Callable[[], tuple[torch.Tensor, dict]], clip: float = 0.0) -> dict:
    """One optimizer step on ``loss_fn()``'s loss; returns its metrics (floats) plus 'loss'."""
    optimizer.zero_grad(set_to_none=True)
    loss, metrics = loss_fn()
    loss.backward()
    if clip:
        torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
    optimizer.step()
    out = {k: float(v) for k, v in metrics.items()}
    out["loss"] = float(loss.detach())
    return out


def _ckpt_path(cfg: TrainConfig) -> Path:
    return Path(cfg.ckpt_dir) / "checkpoint.pt"


def run_training(cfg: TrainConfig, step_fn: Callable[[int], dict], state_fn: Callable[[], dict],
                 load_state_fn: Callable[[dict], None], desc: str = "train") -> dict:
    """Run ``step_fn`` from the last checkpoint (if any) up to ``cfg.steps``; returns a summary.

    Checkpoints hold ``state_fn()`` plus the step and RNG states; on resume ``load_state_fn``
    gets the same dict back. Only rank 0 writes checkpoints and logs under DDP.
    """
    from tqdm.auto import tqdm

    rank, world = distributed_setup()
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    seed_everything(cfg.seed + rank)
    ckdir = Path(cfg.ckpt_dir)
    ckdir.mkdir(parents=True, exist_ok=True)
    start = 0
    ck = _ckpt_path(cfg)
    if cfg.resume and ck.exists():
        saved = torch.load(ck, map_location="cpu", weights_only=False)
        load_state_fn(saved["state"])
        start = saved["step"]
        torch.set_rng_state(saved["torch_rng"])
        np.random.set_state(saved["numpy_rng"])
    if rank == 0:
        (ckdir / "config.json").write_text(json.dumps(asdict(cfg), indent=2))
    log = open(ckdir / "metrics.jsonl", "a") if rank == 0 else None
    t0 = time.time()
    step = start
    last: dict = {}

    def save() -> None:
        if rank != 0:
            return
        tmp = ck.with_suffix(".tmp")
        torch.save({"state": state_fn(), "step": step, "torch_rng": torch.get_rng_state(),
                    "numpy_rng": np.random.get_state()}, tmp)
        os.replace(tmp, ck)

    bar = tqdm(total=cfg.steps, initial=start, desc=desc, disable=rank != 0, dynamic_ncols=True)
    try:
        while step < cfg.steps:
            last = step_fn(step)
            step += 1
            bar.update(1)
            if step % cfg.log_every == 0 or step == cfg.steps:
                bar.set_postfix({k: f"{v:.4g}" for k, v in list(last.items())[:4]})
                if log:
                    log.write(json.dumps({"step": step, "time_s": round(time.time() - t0, 2), **last}) + "\n")
                    log.flush()
            if step % cfg.ckpt_every == 0:
                save()
            if cfg.time_budget_s and time.time() - t0 > cfg.time_budget_s:
                break
    finally:
        save()
        bar.close()
        if log:
            log.close()
    return {"steps_done": step, "start_step": start, "seconds": time.time() - t0, "last": last,
            "finished": step >= cfg.steps}


def add_common_args(p) -> None:
    """CLI options every trainer shares (mirrors TrainConfig)."""
    p.add_argument("--steps", type=int, default=None, help="total optimisation steps")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--ckpt-dir", default=None, help="checkpoint folder (resumes from it)")
    p.add_argument("--ckpt-every", type=int, default=200)
    p.add_argument("--time-budget", type=float, default=0.0, help="stop after this many seconds (resumable)")
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--no-resume", action="store_true")


def config_from_args(args, default_steps: int, default_dir: str) -> TrainConfig:
    """TrainConfig from the options ``add_common_args`` added."""
    return TrainConfig(steps=args.steps or default_steps, seed=args.seed,
                       ckpt_dir=args.ckpt_dir or default_dir, ckpt_every=args.ckpt_every,
                       time_budget_s=args.time_budget, threads=args.threads, resume=not args.no_resume)
