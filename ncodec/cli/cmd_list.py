"""``ncodec list [CODEC]``: every registered codec (media, losslessness, qualities, weights), or one
codec in full with its options. Reads class attributes only: no torch import."""
from __future__ import annotations

import argparse
import json
from functools import lru_cache

from ..codecs.base import available
from ..errors import UnknownCodecError


def register(sub) -> None:
    p = sub.add_parser("list", help="list registered codecs, or show one codec's options")
    p.add_argument("codec", nargs="?", help="show this codec in full (quality levels, options)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=run)


@lru_cache(maxsize=1)
def _defaults() -> dict[str, list[str]]:
    """codec name -> what it is the default for (from ncodec.api's preference lists)."""
    from ..api import DEFAULT_LOSSLESS, DEFAULT_LOSSY
    names = set(available())
    out: dict[str, list[str]] = {"hclt": ["28x28 digit stacks"]}
    for kind, table in (("lossless", DEFAULT_LOSSLESS), ("lossy", DEFAULT_LOSSY)):
        for media, prefs in table.items():
            first = next((n for n in prefs if n in names), None)
            if first:
                out.setdefault(first, []).append(f"{media} {kind}")
    return out


def _row(name: str, cls) -> dict:
    q = "-" if cls.qualities is None else f"{cls.qualities[0]}..{cls.qualities[1]} (default {cls.default_quality})"
    return {"name": name, "media": "/".join(cls.media_kinds()).replace("bytes", "any"),
            "lossless": cls.lossless, "quality": q, "sweep_qualities": cls.sweep_levels(),
            "weights": ",".join(cls.weights) or "-", "description": cls.description,
            "default_for": _defaults().get(name, []),
            "options": [{"name": o.name, "type": o.type.__name__, "default": o.default, "help": o.help,
                         "choices": list(o.choices) if o.choices else None} for o in cls.options]}


def run(args: argparse.Namespace) -> int:
    codecs = available()
    if args.codec:
        if args.codec not in codecs:
            raise UnknownCodecError(f"unknown codec {args.codec!r} (have: {', '.join(codecs)})")
        cls = codecs[args.codec]
        row = _row(args.codec, cls)
        if args.json:
            print(json.dumps(row, indent=2))
            return 0
        print(f"{row['name']}: {row['description']}")
        print(f"  media: {row['media']}   lossless: {'yes' if row['lossless'] else 'no'}   quality: {row['quality']}")
        print(f"  weights: {row['weights']}")
        if row["default_for"]:
            print(f"  default for: {', '.join(row['default_for'])}")
        print("  options (-O KEY=VALUE):" + ("" if cls.options else " none"))
        for o in cls.options:
            print(f"    {o.describe()}")
        return 0
    rows = [_row(name, cls) for name, cls in codecs.items()]
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    print(f"{'codec':<16} {'media':<12} {'lossless':<9} {'quality':<22} description")
    for r in rows:
        mark = f" [default: {', '.join(r['default_for'])}]" if r["default_for"] else ""
        print(f"{r['name']:<16} {r['media']:<12} {'yes' if r['lossless'] else 'no':<9} {r['quality']:<22} "
              f"{r['description']}{mark}")
    return 0
