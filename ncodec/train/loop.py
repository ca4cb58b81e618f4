"""The one resumable training loop every trainer uses.

A trainer builds its model(s) and optimizer(s) on ``loop.device`` and hands the loop a
``step_fn(step) -> metrics``; the loop owns everything around it:

* **budgets** -- steps, wall seconds and CPU seconds (``time.process_time``), all summed over the
  sessions of one run (they live in the checkpoint), so a resumed run continues its budget;
  the **progress fraction** is the largest of used/limit over the budgets that are set;
* **the LR schedule** -- one ``LambdaLR`` per scheduled optimizer, driven by the progress fraction
  (linear warmup over ``warmup`` steps, then cosine or linear decay to ``lr_floor * lr``, or
  constant); learning rules without an optimizer (EM) read the same value from ``loop.lr``;
* seeding, threads, the device (``auto`` picks CUDA when present), checkpoints + resume (they
  load on either device), a per-session wall limit (a pause, not the end of the run), graceful
  SIGINT/SIGTERM (stop after the current step and checkpoint), a progress bar, a JSONL metrics
  log, torchrun/DDP, and one flag set (``add_common_args``) shared by every trainer.
"""
from __future__ import annotations

import contextlib
import json
import math
import os
import random
import signal
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Sequence

import numpy as np
import torch

SCHEDULES = ("cosine", "linear", "constant")
DEVICES = ("auto", "cpu", "cuda")
CKPT_NAME = "checkpoint.pt"
CKPT_FORMAT = 2


@dataclass
class TrainConfig:
    """Settings shared by every trainer (one field per flag of ``add_common_args``)."""

    steps: int = 1000
    seed: int = 0
    ckpt_dir: str = "runs/default"
    ckpt_every: int = 200
    log_every: int = 20
    time_budget_s: float = 0.0      # 0: no limit; else the run ends after this many wall seconds (all sessions)
    threads: int = 0                # 0: torch default
    resume: bool = True
    extra: dict = field(default_factory=dict)
    cpu_budget_s: float = 0.0       # 0: no limit; else the run ends after this many CPU seconds (all sessions)
    session_limit_s: float = 0.0    # 0: none; else this session pauses (resumable) after this many wall seconds
    lr: float = 1e-3                # peak learning rate (or EM step size) of the schedule
    warmup: int = 0                 # linear warmup steps
    schedule: str = "cosine"        # cosine | linear | constant
    lr_floor: float = 0.0           # final LR as a fraction of ``lr`` (cosine and linear)
    device: str = "auto"            # auto | cpu | cuda
    quiet: bool = False             # no progress bar and no info lines (the final summary line stays)


# ------------------------------------------------------------------ budgets and schedule

class Budget:
    """Steps, wall seconds and CPU seconds a run has used (over all its sessions) against its limits."""

    def __init__(self, steps: int, wall_s: float = 0.0, cpu_s: float = 0.0) -> None:
        self.limits = {"steps": float(steps), "time budget": float(wall_s), "CPU budget": float(cpu_s)}
        self.step, self.wall_s, self.cpu_s = 0, 0.0, 0.0
        self.start_clocks()

    def start_clocks(self) -> None:
        """Count wall and CPU time from now (call when the timed work starts)."""
        self._wall0, self._cpu0 = time.monotonic(), time.process_time()

    def tick(self) -> None:
        """Add the wall and CPU time spent since the last tick (or ``start_clocks``)."""
        wall, cpu = time.monotonic(), time.process_time()
        self.wall_s += wall - self._wall0
        self.cpu_s += cpu - self._cpu0
        self._wall0, self._cpu0 = wall, cpu

    def fractions(self) -> dict[str, float]:
        """used / limit for every budget that is set."""
        used = {"steps": self.step, "time budget": self.wall_s, "CPU budget": self.cpu_s}
        return {k: used[k] / lim for k, lim in self.limits.items() if lim > 0}

    def progress(self) -> float:
        """The progress fraction schedules follow: the largest used/limit (1.0 or more: spent)."""
        return max(self.fractions().values(), default=0.0)

    def spent_by(self) -> str:
        """Which budget ended the run ('' while none is spent)."""
        spent = [k for k, f in self.fractions().items() if f >= 1.0]
        return spent[0] if spent else ""

    def state(self) -> dict:
        return {"step": self.step, "wall_s": self.wall_s, "cpu_s": self.cpu_s}

    def load(self, s: Mapping) -> None:
        self.step, self.wall_s, self.cpu_s = int(s["step"]), float(s["wall_s"]), float(s["cpu_s"])
        self.start_clocks()


def lr_factor(cfg: TrainConfig, step: int, progress: float) -> float:
    """Multiplier of the peak LR for ``step`` at ``progress``: linear warmup, then the decay."""
    warm = min(1.0, (step + 1) / cfg.warmup) if cfg.warmup > 0 else 1.0
    p = min(max(progress, 0.0), 1.0)
    if cfg.schedule == "constant":
        decay = 1.0
    elif cfg.schedule == "linear":
        decay = 1.0 - (1.0 - cfg.lr_floor) * p
    elif cfg.schedule == "cosine":
        decay = cfg.lr_floor + (1.0 - cfg.lr_floor) * 0.5 * (1.0 + math.cos(math.pi * p))
    else:
        raise ValueError(f"unknown schedule {cfg.schedule!r} (have {', '.join(SCHEDULES)})")
    return warm * decay


# ------------------------------------------------------------------ process setup

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


def resolve_device(name: str = "auto") -> torch.device:
    """``auto``: CUDA when available, else CPU. CUDA training may use TF32 matmuls (exports are
    always recomputed on CPU in float32/float64, so this never changes what is shipped)."""
    from ..errors import InputError
    if name not in DEVICES:
        raise InputError(f"--device must be one of {', '.join(DEVICES)}, not {name!r}")
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cpu":
        return torch.device("cpu")
    if not torch.cuda.is_available():
        raise InputError("--device cuda: no CUDA device is available (use --device auto or cpu)")
    torch.backends.cuda.matmul.allow_tf32 = True
    torch.backends.cudnn.allow_tf32 = True
    return torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))


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


@contextlib.contextmanager
def _graceful_signals(request_stop: Callable[[], None]) -> Iterator[None]:
    """While training: the first SIGINT/SIGTERM asks for a clean stop (after the current step, with a
    checkpoint); a second SIGINT interrupts at once (no checkpoint of a half-done step)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    old = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}

    def handler(signum, frame) -> None:
        request_stop()
        signal.signal(signal.SIGINT, signal.default_int_handler)
        print(f"\n{signal.Signals(signum).name}: stopping after this step (again to abort)", file=sys.stderr)

    for s in old:
        signal.signal(s, handler)
    try:
        yield
    finally:
        for s, h in old.items():
            signal.signal(s, h)


# ------------------------------------------------------------------ the summary

def _secs(s: float) -> str:
    return f"{s:.1f} s" if s < 100 else f"{s:.0f} s"


@dataclass
class Summary:
    """What one session of a run did; ``line()`` is the human-readable form the CLI prints."""

    desc: str
    step: int                  # steps done in total (all sessions)
    start_step: int            # where this session started
    steps: int                 # the step budget
    finished: bool             # a budget is spent: the run is over (export now)
    stopped_by: str            # 'steps' | 'time budget' | 'CPU budget' | 'session limit' | 'interrupted'
    wall_s: float              # wall seconds of the whole run (all sessions)
    cpu_s: float               # CPU seconds of the whole run
    session_wall_s: float
    last: dict
    checkpoint: str
    device: str = "cpu"

    def line(self) -> str:
        """One line: where the run stands, why it stopped, its time, its last metrics, its checkpoint."""
        state = "finished" if self.finished else "paused (rerun the same command to resume)"
        metrics = "  ".join(f"{k} {v:.4g}" for k, v in list(self.last.items())[:5]
                            if isinstance(v, (int, float)))
        return (f"[{self.desc}] {state} at step {self.step}/{self.steps} ({self.stopped_by}); "
                f"this session {self.step - self.start_step} steps in {_secs(self.session_wall_s)}; "
                f"run total {_secs(self.wall_s)} wall, {_secs(self.cpu_s)} CPU"
                + (f"; {metrics}" if metrics else "") + f"; checkpoint {self.checkpoint}")

    def as_dict(self) -> dict:
        """Plain dict (with the keys older callers of ``run_training`` read)."""
        d = asdict(self)
        d.update(steps_done=self.step, seconds=self.session_wall_s)
        return d


# ------------------------------------------------------------------ the loop

class Loop:
    """A training run: construct it first (it seeds, sets threads and picks ``device``), build the
    model on ``loop.device``, then ``loop.run(step_fn, state=..., optimizers=...)``."""

    def __init__(self, cfg: TrainConfig, desc: str = "train") -> None:
        if cfg.schedule not in SCHEDULES:
            from ..errors import InputError
            raise InputError(f"--schedule must be one of {', '.join(SCHEDULES)}, not {cfg.schedule!r}")
        self.cfg, self.desc = cfg, desc
        self.rank, self.world = distributed_setup()
        if cfg.threads:
            torch.set_num_threads(cfg.threads)
        self.device = resolve_device(cfg.device)
        seed_everything(cfg.seed + self.rank)
        self.ckpt_path = Path(cfg.ckpt_dir) / CKPT_NAME
        self.budget = Budget(cfg.steps, cfg.time_budget_s, cfg.cpu_budget_s)
        self._factor = lr_factor(cfg, 0, 0.0)
        self._stop = False

    # -- what step functions read ------------------------------------------------
    @property
    def step(self) -> int:
        """Steps done so far (all sessions)."""
        return self.budget.step

    @property
    def progress(self) -> float:
        """The run's progress fraction (see ``Budget.progress``), as of the last completed step."""
        return self.budget.progress()

    @property
    def lr(self) -> float:
        """The scheduled learning rate (or EM step size) for the current step."""
        return self.cfg.lr * self._factor

    def request_stop(self) -> None:
        """Stop after the current step, checkpoint, and report the run as paused."""
        self._stop = True

    def info(self, msg: str) -> None:
        """Print an info line (rank 0, unless --quiet)."""
        if self.rank == 0 and not self.cfg.quiet:
            print(f"[{self.desc}] {msg}", flush=True)

    # -- checkpoints ---------------------------------------------------------------
    def save(self, state: Mapping[str, Any], schedulers: Sequence, state_fn: Callable[[], dict] | None) -> None:
        """Write the checkpoint atomically (rank 0 only)."""
        if self.rank != 0:
            return
        rng = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}
        if self.device.type == "cuda":
            rng["cuda"] = torch.cuda.get_rng_state(self.device)
        ck = {"format": CKPT_FORMAT, "step": self.budget.step, "budget": self.budget.state(),
              "state": {k: v.state_dict() for k, v in state.items()},
              "extra": state_fn() if state_fn else None,
              "schedulers": [s.state_dict() for s in schedulers], "rng": rng, "config": asdict(self.cfg)}
        self.ckpt_path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.ckpt_path.with_suffix(".tmp")
        torch.save(ck, tmp)
        os.replace(tmp, self.ckpt_path)

    def load(self, state: Mapping[str, Any] | None = None, schedulers: Sequence = (),
             load_state_fn: Callable[[dict], None] | None = None) -> bool:
        """Restore the checkpoint in ``cfg.ckpt_dir`` if there is one (onto ``self.device``, whichever
        device wrote it): budgets, RNGs, ``state`` objects, schedulers and the trainer's extra state."""
        if not self.ckpt_path.exists():
            return False
        ck = torch.load(self.ckpt_path, map_location="cpu", weights_only=False)
        if ck.get("format") != CKPT_FORMAT:
            from ..errors import InputError
            raise InputError(f"{self.ckpt_path} was written by an older training loop: "
                             "use another --ckpt-dir or --no-resume")
        for k, obj in (state or {}).items():
            obj.load_state_dict(ck["state"][k])
        for sched, sd in zip(schedulers, ck.get("schedulers", [])):
            bases = list(sched.base_lrs)          # this session's base LRs win (so a new --lr applies)
            sched.load_state_dict(sd)
            sched.base_lrs = bases
            for g, b in zip(sched.optimizer.param_groups, bases):
                g["initial_lr"] = b
        if load_state_fn is not None:
            load_state_fn(ck["extra"])
        self.budget.load(ck["budget"])
        rng = ck["rng"]
        random.setstate(rng["python"])
        np.random.set_state(rng["numpy"])
        torch.set_rng_state(rng["torch"])
        if "cuda" in rng and self.device.type == "cuda":
            torch.cuda.set_rng_state(rng["cuda"], self.device)
        return True

    # -- the loop ------------------------------------------------------------------
    def _synced_progress(self) -> tuple[float, bool]:
        """Progress and stop request, agreed over DDP ranks (the largest wins) so all stop together."""
        p, stop = self.budget.progress(), self._stop
        if self.world > 1:
            t = torch.tensor([p, float(stop)], device=self.device)
            torch.distributed.all_reduce(t, op=torch.distributed.ReduceOp.MAX)
            p, stop = float(t[0]), bool(t[1])
        return p, stop

    def _stop_reason(self, session0: float) -> str:
        """Why the run should stop before the next step ('' to go on); budgets first."""
        progress, stop = self._synced_progress()
        if progress >= 1.0:
            return self.budget.spent_by() or "budget (another rank)"
        if stop:
            return "interrupted"
        limit = self.cfg.session_limit_s
        return "session limit" if limit and time.monotonic() - session0 >= limit else ""

    def _apply_schedule(self, schedulers: Sequence, progress: float) -> None:
        """Set the LR multiplier for the next step and let every scheduler apply it."""
        self._factor = lr_factor(self.cfg, self.budget.step, progress)
        for s in schedulers:
            s.step()

    def _log(self, log, bar, last: dict) -> None:
        row = {"step": self.budget.step, "wall_s": round(self.budget.wall_s, 2),
               "cpu_s": round(self.budget.cpu_s, 2), "lr": self.lr, "progress": round(self.progress, 5), **last}
        if bar is not None:
            bar.set_postfix({k: f"{v:.4g}" for k, v in list(last.items())[:4] if isinstance(v, (int, float))})
        if log is not None:
            log.write(json.dumps(row) + "\n")
            log.flush()

    def run(self, step_fn: Callable[[int], dict], state: Mapping[str, Any] | None = None,
            optimizers: Sequence[torch.optim.Optimizer] = (),
            state_fn: Callable[[], dict] | None = None,
            load_state_fn: Callable[[dict], None] | None = None) -> Summary:
        """Call ``step_fn(step)`` from the last checkpoint until a budget is spent (the run is
        finished), the session limit passes or a stop is requested (the run is paused).

        ``state``: name -> object with ``state_dict``/``load_state_dict`` (models, optimizers, ...)
        to checkpoint; ``optimizers``: those the LR schedule drives (their param groups' ``lr`` at
        construction are the peak LRs); ``state_fn``/``load_state_fn``: any further state (e.g. a
        NumPy generator). Only rank 0 writes checkpoints and logs under DDP.
        """
        from tqdm.auto import tqdm

        cfg, state = self.cfg, dict(state or {})
        scheds = [torch.optim.lr_scheduler.LambdaLR(opt, lambda _e: self._factor) for opt in optimizers]
        resumed = cfg.resume and self.load(state, scheds, load_state_fn)
        start = self.budget.step
        if resumed:
            self._apply_schedule(scheds, self.budget.progress())
        self._announce(resumed)
        ckdir = Path(cfg.ckpt_dir)
        log = open(ckdir / "metrics.jsonl", "a") if self.rank == 0 else None
        bar = None if self.rank or cfg.quiet else tqdm(total=cfg.steps, initial=start, desc=self.desc,
                                                      dynamic_ncols=True, disable=None)   # none when piped
        self.budget.start_clocks()
        session0 = time.monotonic()
        last: dict = {}
        stopped_by = ""
        try:
            with _graceful_signals(self.request_stop):
                while True:
                    stopped_by = self._stop_reason(session0)
                    if stopped_by:
                        break
                    last = step_fn(self.budget.step)
                    self.budget.step += 1
                    self.budget.tick()
                    self._apply_schedule(scheds, self.budget.progress())
                    if bar is not None:
                        bar.update(1)
                    if self.budget.step % cfg.log_every == 0:
                        self._log(log, bar, last)
                    if self.budget.step % cfg.ckpt_every == 0:
                        self.save(state, scheds, state_fn)
            self.budget.tick()
            if last and self.budget.step % cfg.log_every:
                self._log(log, bar, last)
            self.save(state, scheds, state_fn)
        finally:
            if bar is not None:
                bar.close()
            if log is not None:
                log.close()
        finished = stopped_by not in ("interrupted", "session limit")
        summary = Summary(self.desc, self.budget.step, start, cfg.steps, finished, stopped_by, self.budget.wall_s,
                          self.budget.cpu_s, time.monotonic() - session0, last, str(self.ckpt_path), str(self.device))
        if self.rank == 0:
            (ckdir / "summary.json").write_text(json.dumps(summary.as_dict(), indent=2, default=str) + "\n")
            print(summary.line(), flush=True)
        return summary

    def _announce(self, resumed: bool) -> None:
        """Say once where checkpoints go and where the run starts."""
        if self.rank == 0:
            Path(self.cfg.ckpt_dir).mkdir(parents=True, exist_ok=True)
            (Path(self.cfg.ckpt_dir) / "config.json").write_text(json.dumps(asdict(self.cfg), indent=2))
        where = (f"resuming at step {self.budget.step} ({self.budget.wall_s:.0f} s wall, "
                 f"{self.budget.cpu_s:.0f} s CPU spent)") if resumed else "new run"
        self.info(f"checkpoints: {self.ckpt_path} ({where}; device {self.device})")


def run_training(cfg: TrainConfig, step_fn: Callable[[int], dict], state_fn: Callable[[], dict],
                 load_state_fn: Callable[[dict], None], desc: str = "train") -> dict:
    """The loop without a scheduled optimizer: checkpoints ``state_fn()``; returns ``Summary.as_dict()``."""
    return Loop(cfg, desc).run(step_fn, state_fn=state_fn, load_state_fn=load_state_fn).as_dict()


# ------------------------------------------------------------------ the shared flag set

def _help(text: str, default: Any, unset: str = "") -> str:
    """Help text with the trainer's default (or what applies when there is none)."""
    if default is None:
        return f"{text} ({unset})" if unset else text
    return f"{text} (default: {default})"


def add_common_args(p, **defaults: Any) -> None:
    """Add the flags every trainer shares; ``defaults`` (TrainConfig field names) are the trainer's
    own defaults, shown in ``--help``. Flags left at None get their value in ``config_from_args``."""
    d = defaults.get
    g = p.add_argument_group("training loop (shared by every trainer)")
    unset = "default: set by the trainer"
    g.add_argument("--steps", type=int, default=d("steps"), help=_help("step budget", d("steps"), unset))
    g.add_argument("--time-budget", "--wall-budget", dest="time_budget", type=float, default=d("time_budget_s"),
                   help="wall-second budget of the whole run, summed over resumes (default: none)")
    g.add_argument("--cpu-budget", type=float, default=d("cpu_budget_s"),
                   help="CPU-second budget of the whole run (time.process_time), summed over resumes "
                        "(default: none)")
    g.add_argument("--session-limit", type=float, default=d("session_limit_s"),
                   help="pause this session after this many wall seconds (checkpointed; the budgets and "
                        "the LR schedule do not see it: resume to continue)")
    g.add_argument("--lr", type=float, default=d("lr"), help=_help("peak learning rate", d("lr"), unset))
    g.add_argument("--warmup", type=int, default=d("warmup"),
                   help=_help("linear LR warmup steps", d("warmup"), unset))
    g.add_argument("--schedule", choices=SCHEDULES, default=d("schedule"),
                   help=_help("LR decay over the progress fraction (the largest used/limit of the budgets)",
                              d("schedule"), "cosine"))
    g.add_argument("--lr-floor", type=float, default=d("lr_floor"),
                   help=_help("final LR as a fraction of --lr", d("lr_floor"), unset))
    g.add_argument("--seed", type=int, default=d("seed"), help=_help("random seed", d("seed"), "default: 0"))
    g.add_argument("--ckpt-dir", default=d("ckpt_dir"),
                   help=_help("checkpoint folder; a run resumes from it", d("ckpt_dir"), "default: runs/NAME"))
    g.add_argument("--ckpt-every", type=int, default=d("ckpt_every"),
                   help=_help("checkpoint every N steps", d("ckpt_every"), f"default: {TrainConfig.ckpt_every}"))
    g.add_argument("--log-every", type=int, default=d("log_every"),
                   help=_help("metrics log line every N steps", d("log_every"), f"default: {TrainConfig.log_every}"))
    g.add_argument("--threads", type=int, default=d("threads"),
                   help=_help("torch CPU threads (0: torch's default)", d("threads"), "default: 0"))
    g.add_argument("--no-resume", action="store_true", help="start over even if --ckpt-dir has a checkpoint")
    g.add_argument("--device", choices=DEVICES, default=d("device") or "auto",
                   help="auto: CUDA when available (default: %(default)s)")
    g.add_argument("--quiet", action="store_true", help="no progress bar or info lines (the summary line stays)")


_FLAG_TO_FIELD = {"steps": "steps", "time_budget": "time_budget_s", "cpu_budget": "cpu_budget_s",
                  "session_limit": "session_limit_s", "lr": "lr", "warmup": "warmup", "schedule": "schedule",
                  "lr_floor": "lr_floor", "seed": "seed", "ckpt_dir": "ckpt_dir", "ckpt_every": "ckpt_every",
                  "log_every": "log_every", "threads": "threads", "device": "device"}


def config_from_args(args, **defaults: Any) -> TrainConfig:
    """TrainConfig from the flags of ``add_common_args``: a flag given (or defaulted in
    ``add_common_args``) wins, then ``defaults`` (TrainConfig field names), then TrainConfig's own."""
    kw = dict(defaults)
    for flag, fld in _FLAG_TO_FIELD.items():
        val = getattr(args, flag, None)
        if val is not None:
            kw[fld] = val
    kw["resume"] = not getattr(args, "no_resume", False)
    kw["quiet"] = bool(getattr(args, "quiet", False))
    return TrainConfig(**kw)
