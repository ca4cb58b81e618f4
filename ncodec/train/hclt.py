"""``ncodec train hclt``: fit an HCLT to MNIST / Fashion-MNIST by mini-batch EM (CPU), then ship it.

Structure: Chow-Liu tree from binned pairwise mutual information on a train subsample. Parameters:
mini-batch EM (expected counts = circuit flows, from autograd) with pseudocount smoothing and a
linearly decaying step size. Resumable through ncodec.train.loop.run_training.
"""
from __future__ import annotations

import math
import shlex
import sys
import time
from pathlib import Path

import numpy as np
import torch

from ..models.hclt import HCLT, chow_liu_tree, init_emissions_from_data, load_hclt, mutual_information, save_hclt
from .. import data as D
from .loop import add_common_args, config_from_args, run_training
from .registry import register_trainer

DATASETS = ("mnist", "fashion-mnist")


def weight_name(data: str) -> str:
    """Shipped weight name for a data set: hclt_mnist / hclt_fashion_mnist."""
    return "hclt_" + data.replace("-", "_")


def _add_args(p) -> None:
    add_common_args(p)
    p.add_argument("--data", choices=DATASETS, default="mnist")
    p.add_argument("--latents", type=int, default=32, help="hidden states per variable (K)")
    p.add_argument("--batch", type=int, default=1024)
    p.add_argument("--epochs", type=float, default=30.0, help="used when --steps is not given")
    p.add_argument("--pseudocount", type=float, default=0.1)
    p.add_argument("--step-max", type=float, default=0.15, help="EM step size at the start")
    p.add_argument("--step-min", type=float, default=0.01, help="EM step size at the end")
    p.add_argument("--mi-samples", type=int, default=4000)
    p.add_argument("--mi-bins", type=int, default=4)
    p.add_argument("--out", default=None, help="weights file (default: ncodec/weights/hclt_<data>.npz)")
    p.add_argument("--no-ship", action="store_true", help="do not write weights/manifest at the end")
    p.add_argument("--cpu-budget", type=float, default=0.0,
                   help="stop and ship after this many CPU seconds (summed over resumes); the step size decays over it")
    p.add_argument("--record-command", default=None,
                   help="command line(s) to store in the manifest instead of this one (e.g. train + resume)")
    p.add_argument("--wall-budget", type=float, default=0.0,
                   help="like --cpu-budget in wall-clock seconds of this run (for a shared, loaded machine)")


class _BudgetReached(Exception):
    """Raised inside a step when the CPU / wall budget is spent: training counts as finished."""


def run(args) -> int:
    """Train (or resume) and, when finished, write the weights + manifest with the measured test bpd."""
    threads = args.threads or 1
    torch.set_num_threads(threads)
    xtr, _ = D.arrays(args.data, "train")
    xte, _ = D.arrays(args.data, "test")
    xtr = xtr.reshape(len(xtr), -1)
    xte = xte.reshape(len(xte), -1)
    steps_per_epoch = math.ceil(len(xtr) / args.batch)
    default_steps = int(round(args.epochs * steps_per_epoch))
    cfg = config_from_args(args, default_steps, f"runs/{weight_name(args.data)}")
    cfg.threads = threads
    cpu0 = time.process_time()

    rng = np.random.default_rng(args.seed)
    t0 = time.time()
    mi = mutual_information(xtr[rng.permutation(len(xtr))[:args.mi_samples]], bins=args.mi_bins)
    parent = chow_liu_tree(mi)
    model = HCLT(parent, args.latents,
                 log_emit=init_emissions_from_data(xtr, args.latents, seed=args.seed))
    print(f"chow-liu tree: depth {len(model.tree.levels)}, {time.time() - t0:.1f}s", flush=True)
    xtr_t = torch.from_numpy(xtr.astype(np.int64))
    extra = {"cpu_s": 0.0}

    def step_fn(step: int) -> dict:
        epoch, i = divmod(step, steps_per_epoch)
        perm = np.random.default_rng(args.seed * 100003 + epoch).permutation(len(xtr))
        idx = torch.from_numpy(perm[i * args.batch:(i + 1) * args.batch])
        cpu = extra["cpu_s"] + time.process_time() - cpu0
        frac = step / max(1, cfg.steps - 1)
        if args.cpu_budget:
            frac = max(frac, cpu / args.cpu_budget)
        if args.wall_budget:
            frac = max(frac, (time.time() - wall0) / args.wall_budget)
        if frac >= 1.0:
            raise _BudgetReached
        eta = args.step_max + (args.step_min - args.step_max) * frac
        fe, ft, fp, ll = model.em_flows(xtr_t[idx])
        model.em_update((fe, ft, fp), eta, args.pseudocount)
        return {"bpd": -ll / (len(idx) * xtr.shape[1] * math.log(2)), "eta": eta, "epoch": epoch,
                "cpu_min": cpu / 60}

    def state_fn() -> dict:
        return {"parent": model.tree.parent, "emit": model.log_emit.data, "trans": model.log_trans.data,
                "prior": model.log_prior.data, "cpu_s": extra["cpu_s"] + time.process_time() - cpu0}

    def load_state(s: dict) -> None:
        nonlocal model
        model = HCLT(np.asarray(s["parent"]), args.latents, log_emit=s["emit"], log_trans=s["trans"],
                     log_prior=s["prior"])
        extra["cpu_s"] = float(s.get("cpu_s", 0.0))

    wall0 = time.time()
    try:
        summary = run_training(cfg, step_fn, state_fn, load_state, desc=f"hclt {args.data}")
    except _BudgetReached:
        import torch as _t
        ck = _t.load(Path(cfg.ckpt_dir) / "checkpoint.pt", map_location="cpu", weights_only=False)
        summary = {"steps_done": ck["step"], "finished": True, "budget_reached": True}
    cpu_total = extra["cpu_s"] + time.process_time() - cpu0
    print(f"steps {summary['steps_done']}/{cfg.steps}  cpu {cpu_total / 60:.1f} min", flush=True)
    if summary["finished"] and not args.no_ship:
        _ship(model, args, cfg, xte, cpu_total, summary)
    else:
        print(f"test bpd (float32 params) {model.bits_per_dim(torch.from_numpy(xte.astype(np.int64))):.4f}")
    return 0


run.add_args = _add_args
register_trainer("hclt", help="HCLT probabilistic circuit (lossless MNIST / Fashion-MNIST), mini-batch EM")(run)


def _ship(model: HCLT, args, cfg, xte: np.ndarray, cpu_total: float, summary: dict) -> None:
    """Save the shipped weight file and its manifest (test bpd measured on the stored tables)."""
    from ..weights import WEIGHTS_DIR, write_manifest

    name = weight_name(args.data)
    out = Path(args.out) if args.out else WEIGHTS_DIR / f"{name}.npz"
    save_hclt(model, out)
    shipped = load_hclt(out)
    bpd = shipped.bits_per_dim(torch.from_numpy(xte.astype(np.int64)))
    cmd = "ncodec train hclt " + " ".join(shlex.quote(a) for a in sys.argv[3:]) if len(sys.argv) > 3 \
        else "ncodec train hclt --data " + args.data
    cmd = args.record_command or cmd
    if out.parent.resolve() == WEIGHTS_DIR.resolve():
        write_manifest(name, out, dataset=args.data, command=cmd, test_bpd=round(bpd, 5),
                       latents=args.latents, steps=summary["steps_done"], batch=args.batch,
                       train_cpu_minutes=round(cpu_total / 60, 2), pseudocount=args.pseudocount)
    print(f"shipped {out} ({out.stat().st_size} bytes): test bpd {bpd:.4f}", flush=True)
