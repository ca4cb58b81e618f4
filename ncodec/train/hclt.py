"""``ncodec train hclt``: fit an HCLT to MNIST / Fashion-MNIST by mini-batch EM, then ship it.

Structure: Chow-Liu tree from binned pairwise mutual information on a train subsample. Parameters:
mini-batch EM (expected counts = circuit flows, from autograd) with pseudocount smoothing. The EM
step size is the shared loop's scheduled value (``loop.lr``): by default it decays linearly from
``--lr`` (alias ``--step-max``) to ``--step-min`` over the run's progress fraction (steps, wall or
CPU budget, whichever is furthest), so budgets, resume and devices work as for every trainer.
"""
from __future__ import annotations

import argparse
import math

import numpy as np
import torch

from ..models.hclt import HCLT, chow_liu_tree, init_emissions_from_data, load_hclt, mutual_information, save_hclt
from .. import data as D
from ..errors import InputError
from .export import add_export_args, command_line, export_dir, export_name, write_entry
from .loop import Loop, Summary, add_common_args, config_from_args
from .registry import register_trainer

DATASETS = ("mnist", "fashion-mnist")
LOOP_DEFAULTS = dict(lr=0.15, schedule="linear", warmup=0, threads=1)


def weight_name(data: str) -> str:
    """Shipped weight name for a data set: hclt_mnist / hclt_fashion_mnist."""
    return "hclt_" + data.replace("-", "_")


def _add_args(p) -> None:
    add_common_args(p, **LOOP_DEFAULTS)
    add_export_args(p)
    p.add_argument("--data", choices=DATASETS, default="mnist")
    p.add_argument("--latents", type=int, default=32, help="hidden states per variable (K)")
    p.add_argument("--batch", type=int, default=1024)
    p.add_argument("--epochs", type=float, default=30.0, help="step budget in epochs when --steps is not given")
    p.add_argument("--pseudocount", type=float, default=0.1)
    p.add_argument("--step-max", dest="lr", type=float, default=argparse.SUPPRESS,
                   help="EM step size at the start (same as --lr)")
    p.add_argument("--step-min", type=float, default=0.01, help="EM step size at the end (sets --lr-floor)")
    p.add_argument("--mi-samples", type=int, default=4000)
    p.add_argument("--mi-bins", type=int, default=4)
    p.add_argument("--eval-n", type=int, default=0, help="test images for the reported bpd (default: all)")
    p.add_argument("--no-ship", action="store_true", help="do not write weights/manifest at the end")
    p.add_argument("--init-from", default=None, metavar="NAME|PATH",
                   help="start from hclt weights (installed name or .npz path) or a trainer checkpoint (.pt)")
    p.add_argument("--accumulate", type=int, default=1,
                   help="mini-batches whose flows are summed per EM update (full-batch EM: cover the train set)")
    p.add_argument("--soften", type=float, default=1.0,
                   help="data softening: each pixel counts as its value with this probability, else any other "
                        "value (1: off; e.g. 0.999). Regularises the emissions against overfitting")
    p.add_argument("--eval-every", type=int, default=0,
                   help="log the test bpd (the --eval-n test images) every N steps (0: only at the end)")
    p.add_argument("--record-command", default=None,
                   help="command line(s) to store in the manifest instead of this one (e.g. train + resume)")


def run(args) -> int:
    """Train (or resume) and, when the run is finished, write the weights + manifest with the test bpd."""
    name = export_name(args, weight_name(args.data))      # checked before any work; names the checkpoints
    xtr, _ = D.arrays(args.data, "train")
    xte, _ = D.arrays(args.data, "test")
    xtr = xtr.reshape(len(xtr), -1)
    xte = xte.reshape(len(xte), -1)[:args.eval_n or None]
    steps_per_epoch = math.ceil(len(xtr) / args.batch)
    cfg = config_from_args(args, steps=int(round(args.epochs * steps_per_epoch / max(1, args.accumulate))),
                           ckpt_dir=f"runs/{name}")
    cfg.lr_floor = args.step_min / cfg.lr if args.lr_floor is None else cfg.lr_floor
    loop = Loop(cfg, desc=f"hclt {args.data}")
    dev = loop.device

    accumulate = max(1, int(args.accumulate))
    if args.init_from:
        model0 = load_init(args.init_from)
        if model0.num_latents != args.latents:
            raise InputError(f"--init-from {args.init_from}: K={model0.num_latents}, not --latents {args.latents}")
    else:
        rng = np.random.default_rng(cfg.seed)
        mi = mutual_information(xtr[rng.permutation(len(xtr))[:args.mi_samples]], bins=args.mi_bins)
        model0 = HCLT(chow_liu_tree(mi), args.latents,
                      log_emit=init_emissions_from_data(xtr, args.latents, seed=cfg.seed))
    holder = {"model": model0.to(dev)}
    loop.info(f"chow-liu tree: depth {len(holder['model'].tree.levels)}")
    xtr_t = torch.from_numpy(xtr.astype(np.int64)).to(dev)
    xte_t = torch.from_numpy(xte.astype(np.int64)).to(dev)

    def step_fn(step: int) -> dict:
        model = holder["model"]
        flows, ll, n = None, 0.0, 0
        for j in range(accumulate):
            epoch, i = divmod(step * accumulate + j, steps_per_epoch)
            perm = np.random.default_rng(cfg.seed * 100003 + epoch).permutation(len(xtr))
            idx = torch.from_numpy(perm[i * args.batch:(i + 1) * args.batch]).to(dev)
            *f, part = model.em_flows(xtr_t[idx], soften=args.soften)
            flows = f if flows is None else [a + b for a, b in zip(flows, f)]
            ll += part
            n += len(idx)
        eta = loop.lr
        model.em_update(tuple(flows), eta, args.pseudocount)
        out = {"bpd": -ll / (n * xtr.shape[1] * math.log(2)), "eta": eta, "epoch": epoch}
        if args.eval_every and (step + 1) % args.eval_every == 0:
            out["test_bpd"] = model.bits_per_dim(xte_t)
        return out

    def state_fn() -> dict:
        m = holder["model"]
        return {"parent": m.tree.parent, "emit": m.log_emit.data.cpu(), "trans": m.log_trans.data.cpu(),
                "prior": m.log_prior.data.cpu()}

    def load_state(s: dict) -> None:
        # the tree is part of the state (not a parameter): rebuild the circuit from the checkpoint
        holder["model"] = HCLT(np.asarray(s["parent"]), args.latents, log_emit=s["emit"], log_trans=s["trans"],
                               log_prior=s["prior"]).to(dev)

    summary = loop.run(step_fn, state_fn=state_fn, load_state_fn=load_state)
    model = holder["model"].cpu()
    if summary.finished and not args.no_ship:
        _ship(model, args, xte, summary, name)
    else:
        print(f"test bpd (float32 params) {model.bits_per_dim(torch.from_numpy(xte.astype(np.int64))):.4f}")
    return 0


run.add_args = _add_args
register_trainer("hclt")(run)


def load_init(ref: str) -> HCLT:
    """A float32 HCLT from installed weights / an .npz weight file, or from a trainer checkpoint (.pt)."""
    from pathlib import Path

    from ..weights import resolve, weight_path
    if ref.endswith(".pt"):
        if not Path(ref).is_file():
            raise InputError(f"--init-from {ref}: no such checkpoint")
        s = torch.load(ref, map_location="cpu", weights_only=False).get("extra") or {}
        if not {"parent", "emit", "trans", "prior"} <= set(s):
            raise InputError(f"--init-from {ref}: not an hclt trainer checkpoint")
        return HCLT(np.asarray(s["parent"]), int(s["emit"].shape[-1]), log_emit=s["emit"], log_trans=s["trans"],
                    log_prior=s["prior"])
    m = load_hclt(weight_path(resolve(ref, codec="hclt")))
    return HCLT(m.tree.parent, m.num_latents, log_emit=m.log_emit.data, log_trans=m.log_trans.data,
                log_prior=m.log_prior.data)


def _ship(model: HCLT, args, xte: np.ndarray, summary: Summary, name: str) -> None:
    """Save the weight file and its manifest (test bpd measured on the stored tables, on CPU)."""
    out = export_dir(args) / f"{name}.npz"
    save_hclt(model, out)
    shipped = load_hclt(out)
    bpd = shipped.bits_per_dim(torch.from_numpy(xte.astype(np.int64)))
    cmd = args.record_command or command_line(args, "hclt")
    write_entry(name, out, codec="hclt", dataset=args.data, command=cmd, test_bpd=round(bpd, 5), test_images=len(xte),
                latents=args.latents, steps=summary.step, batch=args.batch,
                train_cpu_minutes=round(summary.cpu_s / 60, 2), train_device=str(getattr(summary, "device", "")),
                pseudocount=args.pseudocount)
    print(f"exported {name} to {out} ({out.stat().st_size} bytes): test bpd {bpd:.4f}; use it with -c hclt -O weights={name}", flush=True)
