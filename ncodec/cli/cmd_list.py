"""``ncodec list``: every registered codec with its media, losslessness, qualities and weights."""
from __future__ import annotations

import argparse
import json

from ..codecs.base import available


def register(sub) -> None:
    p = sub.add_parser("list", help="list registered codecs")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    rows = []
    for name, cls in available().items():
        q = "-" if cls.qualities is None else f"{cls.qualities[0]}..{cls.qualities[1]} (default {cls.default_quality})"
        rows.append({"name": name, "media": cls.media, "lossless": cls.lossless, "quality": q,
                     "weights": ",".join(cls.weights) or "-", "description": cls.description})
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    print(f"{'codec':<16} {'media':<7} {'lossless':<9} {'quality':<22} {'weights':<18} description")
    for r in rows:
        print(f"{r['name']:<16} {r['media']:<7} {'yes' if r['lossless'] else 'no':<9} {r['quality']:<22} "
              f"{r['weights']:<18} {r['description']}")
    return 0
