"""``ncodec unpack``: a packed data set folder -> one file per record (+ labels.csv).

Import-light (the CLI registers this parser for every command)."""
from __future__ import annotations

import argparse
import sys


def register(sub) -> None:
    p = sub.add_parser("unpack", help="decode a packed data set folder back to files")
    p.add_argument("input", help="data set folder (made by ncodec pack)")
    p.add_argument("-o", "--output", required=True, help="output folder")
    p.add_argument("-j", "--workers", type=int, default=1, help="processes, one shard each at a time")
    p.add_argument("-f", "--force", action="store_true", help="overwrite existing files")
    p.add_argument("--quiet", action="store_true", help="no progress bar or summary")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..data.unpack import unpack
    res = unpack(args.input, args.output, force=args.force, workers=args.workers,
                 progress=not args.quiet and sys.stderr.isatty())
    if not args.quiet:
        print(f"{args.input} -> {res['out']}/: {res['records']} files"
              + (" + labels.csv" if res["labels"] else "") + f", {res['seconds']:.1f} s", file=sys.stderr)
    return 0
