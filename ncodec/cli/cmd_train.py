"""``ncodec train NAME ...``: run one registered trainer (see ncodec/train).

Only the chosen trainer's module is imported (its options are parsed here, after NAME), so
``ncodec --help`` and ``ncodec train --help`` never import torch.
"""
from __future__ import annotations

import argparse


def register(sub) -> None:
    from ..train.registry import trainer_help
    names = trainer_help()
    listing = "\n".join(f"  {n:<12} {h}" for n, h in names.items())
    p = sub.add_parser("train", help="train a learned codec or a downstream model",
                       formatter_class=argparse.RawDescriptionHelpFormatter,
                       description="Train with the shared resumable loop (budgets, LR schedule, checkpoints, "
                                   "--device auto|cpu|cuda).",
                       epilog=f"trainers:\n{listing}\n\n'ncodec train NAME --help' lists NAME's options.")
    p.add_argument("trainer", metavar="NAME", choices=list(names), help=", ".join(names))
    p.add_argument("trainer_args", nargs=argparse.REMAINDER, metavar="OPTIONS",
                   help="NAME's options (see 'ncodec train NAME --help')")
    p.set_defaults(func=run)


def run(args) -> int:
    """Parse NAME's own options and run it; the command line is kept for its manifest."""
    from ..train.registry import get_trainer
    t = get_trainer(args.trainer)
    tp = argparse.ArgumentParser(prog=f"ncodec train {t.name}", description=t.help)
    t.add_args(tp)
    targs = tp.parse_args(args.trainer_args)
    targs.argv = list(args.trainer_args)
    return t.run(targs)
