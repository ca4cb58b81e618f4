"""The shared training loop (ncodec/train/loop.py): budgets (steps, wall, CPU; resumable), exact
resume, the LR schedule on the progress fraction, the shared flag set and --device, and a tiny
end-to-end ``ncodec train hclt`` that exports to a temp folder and leaves ncodec/weights alone.

Everything here trains a 5-parameter toy for a few steps (or HCLT for 2 steps): seconds in all.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import math
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from ncodec.errors import InputError
from ncodec.train.loop import Loop, TrainConfig, add_common_args, config_from_args, gradient_step, lr_factor, \
    run_training


def _cfg(tmp_path: Path, name: str = "run", **kw) -> TrainConfig:
    base = dict(steps=6, ckpt_dir=str(tmp_path / name), quiet=True, device="cpu", log_every=1, lr=0.05)
    return TrainConfig(**{**base, **kw})


class Toy:
    """A linear regression trained with Adam on batches drawn from the global torch and NumPy RNGs."""

    def __init__(self, cfg: TrainConfig) -> None:
        self.model = torch.nn.Linear(4, 1)
        self.opt = torch.optim.Adam(self.model.parameters(), lr=cfg.lr)
        self.lrs: list[float] = []

    def step(self, step: int) -> dict:
        self.lrs.append(self.opt.param_groups[0]["lr"])
        x = torch.randn(8, 4) + float(np.random.rand())

        def loss_fn():
            return (self.model(x) - x.sum(1, keepdim=True)).pow(2).mean(), {}
        return gradient_step(self.model, self.opt, loss_fn)

    def run(self, loop: Loop, step_fn=None):
        return loop.run(step_fn or self.step, state={"model": self.model, "opt": self.opt}, optimizers=[self.opt])


def _sleepy(toy: Toy, seconds: float):
    def step_fn(step: int) -> dict:
        time.sleep(seconds)
        return toy.step(step)
    return step_fn


def _train(cfg: TrainConfig, step_fn_of=None):
    loop = Loop(cfg)
    toy = Toy(cfg)
    return toy, toy.run(loop, step_fn_of(toy, loop) if step_fn_of else None)


# ------------------------------------------------------------------ budgets

def test_step_budget_stops_checkpoints_and_logs(tmp_path):
    toy, s = _train(_cfg(tmp_path, steps=5))
    assert (s.step, s.start_step, s.finished, s.stopped_by) == (5, 0, True, "steps")
    assert Path(s.checkpoint).exists()
    rows = [json.loads(r) for r in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [1, 2, 3, 4, 5]
    assert all({"loss", "lr", "wall_s", "cpu_s", "progress"} <= set(r) for r in rows)
    assert "finished at step 5/5" in s.line()


class FakeClock:
    """Stands in for the loop's ``time`` module: every training step costs exactly ``wall`` wall seconds
    and ``cpu`` CPU seconds, so budget tests are exact on a loaded machine."""

    def __init__(self, wall: float = 0.1, cpu: float = 0.05) -> None:
        self.wall, self.cpu, self.t_wall, self.t_cpu = wall, cpu, 1000.0, 10.0

    def monotonic(self) -> float:
        return self.t_wall

    def process_time(self) -> float:
        return self.t_cpu

    def stepper(self, toy: Toy):
        def step_fn(step: int) -> dict:
            self.t_wall += self.wall
            self.t_cpu += self.cpu
            return toy.step(step)
        return step_fn


@pytest.fixture
def clock(monkeypatch) -> FakeClock:
    import ncodec.train.loop as loop_mod
    c = FakeClock()
    monkeypatch.setattr(loop_mod, "time", c)
    return c


def test_tiny_wall_budget_stops_and_stays_spent(tmp_path):
    cfg = _cfg(tmp_path, steps=10 ** 6, time_budget_s=0.2)
    _, first = _train(cfg, lambda toy, loop: _sleepy(toy, 0.02))
    assert first.finished and first.stopped_by == "time budget" and first.wall_s >= 0.2
    assert 1 <= first.step < 10 ** 6
    _, again = _train(cfg, lambda toy, loop: _sleepy(toy, 0.02))      # spent for good: no further step
    assert (again.start_step, again.step, again.finished) == (first.step, first.step, True)


def test_wall_budget_resumes_where_it_stopped(tmp_path, clock):
    _, first = _train(_cfg(tmp_path, steps=10 ** 6, time_budget_s=1.0), lambda toy, loop: clock.stepper(toy))
    assert (first.step, first.stopped_by) == (10, "time budget") and first.wall_s == pytest.approx(1.0)
    # a larger budget continues from the 1.0 s already used: 10 more steps, not 20
    _, more = _train(_cfg(tmp_path, steps=10 ** 6, time_budget_s=2.0), lambda toy, loop: clock.stepper(toy))
    assert (more.start_step, more.step, more.finished) == (10, 20, True)
    assert more.wall_s == pytest.approx(2.0) and more.cpu_s == pytest.approx(1.0)


def test_cpu_budget_stops_and_resumes(tmp_path, clock):
    cfg = _cfg(tmp_path, steps=10 ** 6, cpu_budget_s=0.5, session_limit_s=0.35)
    _, s1 = _train(cfg, lambda toy, loop: clock.stepper(toy))       # paused by the session limit first
    assert (s1.step, s1.finished, s1.stopped_by) == (4, False, "session limit")
    assert "paused" in s1.line()
    _, s2 = _train(cfg, lambda toy, loop: clock.stepper(toy))
    assert (s2.start_step, s2.step, s2.finished, s2.stopped_by) == (4, 8, False, "session limit")
    _, s3 = _train(cfg, lambda toy, loop: clock.stepper(toy))
    assert (s3.start_step, s3.step, s3.finished, s3.stopped_by) == (8, 10, True, "CPU budget")
    assert s3.cpu_s == pytest.approx(0.5)


def test_real_cpu_budget_stops(tmp_path):
    def busy(toy, loop):
        def step_fn(step):
            t = time.process_time()
            while time.process_time() - t < 0.01:
                pass
            return toy.step(step)
        return step_fn
    _, s = _train(_cfg(tmp_path, steps=10 ** 6, cpu_budget_s=0.1), busy)
    assert s.finished and s.stopped_by == "CPU budget" and s.cpu_s >= 0.1 and s.step < 10 ** 6


# ------------------------------------------------------------------ resume

def test_resume_gives_the_uninterrupted_result(tmp_path):
    kw = dict(steps=8, warmup=3, lr_floor=0.1, seed=3)
    whole, s_whole = _train(_cfg(tmp_path, "whole", **kw))

    def stop_after_step_3(toy, loop):
        def step_fn(step):
            if step == 3:
                loop.request_stop()           # what SIGINT/SIGTERM do: finish this step, checkpoint
            return toy.step(step)
        return step_fn
    part1, s1 = _train(_cfg(tmp_path, "split", **kw), stop_after_step_3)
    assert (s1.step, s1.finished, s1.stopped_by) == (4, False, "interrupted")
    part2, s2 = _train(_cfg(tmp_path, "split", **kw))
    assert (s2.start_step, s2.step, s2.finished) == (4, 8, True)
    assert s2.wall_s >= s1.wall_s and s2.cpu_s >= s1.cpu_s          # budgets carried over
    assert part1.lrs + part2.lrs == whole.lrs
    for a, b in zip(whole.model.parameters(), part2.model.parameters()):
        assert torch.equal(a, b)
    sa, sb = whole.opt.state_dict()["state"], part2.opt.state_dict()["state"]
    assert all(torch.equal(sa[k]["exp_avg_sq"], sb[k]["exp_avg_sq"]) for k in sa)


def test_no_resume_starts_over(tmp_path):
    _train(_cfg(tmp_path, steps=3))
    _, s = _train(_cfg(tmp_path, steps=3, resume=False))
    assert (s.start_step, s.step) == (0, 3)


def test_run_training_keeps_the_notebook_api(tmp_path):
    state = {"n": 0}

    def step_fn(step):
        state["n"] += 1
        return {"n": float(state["n"])}
    cfg = _cfg(tmp_path, steps=3)
    out = run_training(cfg, step_fn, lambda: dict(state), state.update, desc="nb")
    assert (out["steps_done"], out["start_step"], out["finished"]) == (3, 0, True) and out["seconds"] >= 0
    cfg.steps = 5
    out = run_training(cfg, step_fn, lambda: dict(state), state.update, desc="nb")
    assert (out["steps_done"], out["start_step"], state["n"]) == (5, 3, 5)


# ------------------------------------------------------------------ schedule

def test_lr_follows_warmup_then_cosine_on_progress(tmp_path):
    toy, _ = _train(_cfg(tmp_path, steps=10, warmup=3, lr=1.0, lr_floor=0.1))
    want = [min(1.0, (k + 1) / 3) * (0.1 + 0.45 * (1 + math.cos(math.pi * k / 10))) for k in range(10)]
    assert toy.lrs == pytest.approx(want)
    cfg = TrainConfig(lr_floor=0.1, warmup=0)
    assert lr_factor(cfg, 0, 0.0) == 1.0 and lr_factor(cfg, 99, 0.5) == pytest.approx(0.55)
    assert lr_factor(cfg, 99, 1.0) == pytest.approx(0.1) == lr_factor(cfg, 99, 7.0)   # floor once spent
    assert lr_factor(TrainConfig(schedule="constant", warmup=4), 1, 0.9) == 0.5
    assert lr_factor(TrainConfig(schedule="linear", lr_floor=0.2), 5, 0.5) == pytest.approx(0.6)


def test_lr_schedule_follows_the_wall_budget(tmp_path, clock):
    # steps are plentiful: the time budget sets the progress, so the LR still anneals to its floor
    toy, s = _train(_cfg(tmp_path, steps=10 ** 6, time_budget_s=1.0, lr=1.0, lr_floor=0.1),
                    lambda toy, loop: clock.stepper(toy))
    assert (s.step, s.stopped_by) == (10, "time budget")
    assert toy.lrs == pytest.approx([0.1 + 0.45 * (1 + math.cos(math.pi * k / 10)) for k in range(10)])


# ------------------------------------------------------------------ flags and device

def _parse(argv: list[str], **defaults) -> TrainConfig:
    p = argparse.ArgumentParser()
    add_common_args(p, **defaults)
    return config_from_args(p.parse_args(argv), ckpt_dir="runs/x")


def test_one_flag_set_reaches_the_config():
    cfg = _parse(["--steps", "7", "--wall-budget", "5", "--cpu-budget", "3", "--session-limit", "2", "--lr", "0.1",
                  "--warmup", "4", "--schedule", "constant", "--lr-floor", "0.2", "--seed", "9", "--ckpt-every", "3",
                  "--log-every", "2", "--threads", "1", "--no-resume", "--device", "cpu", "--quiet"])
    assert (cfg.steps, cfg.time_budget_s, cfg.cpu_budget_s, cfg.session_limit_s, cfg.lr, cfg.warmup) == \
        (7, 5.0, 3.0, 2.0, 0.1, 4)
    assert (cfg.schedule, cfg.lr_floor, cfg.seed, cfg.ckpt_every, cfg.log_every, cfg.threads) == \
        ("constant", 0.2, 9, 3, 2, 1)
    assert (cfg.resume, cfg.device, cfg.quiet, cfg.ckpt_dir) == (False, "cpu", True, "runs/x")
    # trainer defaults apply when a flag is not given
    cfg = _parse([], steps=20000, lr=3e-4, warmup=200)
    assert (cfg.steps, cfg.lr, cfg.warmup, cfg.device, cfg.resume) == (20000, 3e-4, 200, "auto", True)


def test_device_cpu_and_unavailable_cuda(tmp_path):
    cfg = _parse(["--device", "cpu", "--steps", "2"])
    cfg.ckpt_dir, cfg.quiet = str(tmp_path / "run"), True
    loop = Loop(cfg)
    assert loop.device == torch.device("cpu")
    assert Toy(cfg).run(loop).step == 2
    if not torch.cuda.is_available():
        with pytest.raises(InputError):
            Loop(_cfg(tmp_path, device="cuda"))


# ------------------------------------------------------------------ the CLI

def _weights_digest() -> dict[str, str]:
    from ncodec.weights import WEIGHTS_DIR
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(WEIGHTS_DIR.iterdir()) if p.is_file()}


def test_train_help_is_cheap_and_lists_trainers(capsys):
    from ncodec.cli.main import main
    with pytest.raises(SystemExit) as e:
        main(["train", "--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    assert all(name in out for name in ("classifier", "flow", "hclt", "wavelet"))
    with pytest.raises(SystemExit) as e:
        main(["train", "wavelet", "--help"])
    out = capsys.readouterr().out
    assert e.value.code == 0 and "--time-budget" in out and "--device" in out and "--media" in out


def test_cli_hclt_tiny_run_exports_elsewhere(tmp_path, capsys, data_dir):
    from ncodec.cli.main import main
    before = _weights_digest()
    ck, out = tmp_path / "ck", tmp_path / "weights"
    argv = ["train", "hclt", "--steps", "2", "--batch", "64", "--latents", "4", "--mi-samples", "500", "--eval-n", "200",
            "--threads", "0", "--device", "cpu", "--quiet", "--ckpt-dir", str(ck), "--export-dir", str(out)]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "finished at step 2/2" in printed
    summary = json.loads((ck / "summary.json").read_text())
    assert summary["finished"] and summary["step"] == 2 and summary["device"] == "cpu"
    entry = json.loads((out / "hclt_mnist.json").read_text())
    assert entry["steps"] == 2 and "--export-dir" in entry["command"] and (out / entry["file"]).exists()
    assert _weights_digest() == before, "ncodec/weights changed"


def test_cli_hclt_continues_from_weights_and_checkpoints(tmp_path, capsys, data_dir):
    """--init-from (exported weights or a trainer checkpoint) + full-batch style --accumulate + --soften."""
    import torch

    from ncodec.cli.main import main
    from ncodec.models.hclt import load_hclt
    ck, out = tmp_path / "ck", tmp_path / "weights"
    base = ["train", "hclt", "--batch", "64", "--latents", "4", "--mi-samples", "500", "--eval-n", "200",
            "--threads", "1", "--device", "cpu", "--quiet", "--export-dir", str(out)]
    assert main(base + ["--steps", "2", "--ckpt-dir", str(ck)]) == 0
    first = load_hclt(out / "hclt_mnist.npz")
    ck2 = tmp_path / "ck2"
    assert main(base + ["--steps", "2", "--ckpt-dir", str(ck2), "--init-from", str(ck / "checkpoint.pt"),
                        "--accumulate", "3", "--soften", "0.99", "--eval-every", "1", "--lr", "1.0",
                        "--schedule", "constant", "--name", "cont"]) == 0
    rows = [json.loads(x) for x in (ck2 / "metrics.jsonl").read_text().splitlines() if x.strip()]
    assert rows and "test_bpd" in rows[-1]
    cont = load_hclt(out / "cont.npz")
    assert np.array_equal(cont.tree.parent, first.tree.parent)          # same tree, new parameters
    assert not torch.equal(cont.log_emit, first.log_emit)
    assert main(base + ["--steps", "1", "--ckpt-dir", str(tmp_path / "ck3"), "--init-from", str(out / "cont.npz"),
                        "--name", "cont2"]) == 0
    assert main(base + ["--steps", "1", "--latents", "8", "--ckpt-dir", str(tmp_path / "ck4"),
                        "--init-from", str(out / "cont.npz"), "--name", "cont3"]) != 0    # K mismatch: an error
    capsys.readouterr()
