"""``ncodec train NAME ...``: run one registered trainer (see ncodec/train)."""
from __future__ import annotations

import argparse


def register(sub) -> None:
    from ..train.registry import trainers
    p = sub.add_parser("train", help="train a learned codec or a downstream model")
    tsub = p.add_subparsers(dest="trainer", metavar="NAME")
    tsub.required = True
    for name, t in trainers().items():
        tp = tsub.add_parser(name, help=t.help)
        t.add_args(tp)
        tp.set_defaults(func=t.run)
