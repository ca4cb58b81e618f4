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
    p.add_argument("--weights", action="store_true",
                   help="installed weights (shipped and user-trained) with their model ids and figures")
    p.set_defaults(func=run)


FIGURES = ("test_bpd", "test_accuracy", "accuracy", "steps", "train_cpu_s", "train_cpu_minutes")


def run_weights(args: argparse.Namespace) -> int:
    """Shipped and user weights: name, origin, codec, model id, data set, measured figures."""
    from ..weights import manifest, user_dir
    rows = []
    for name, e in manifest().items():
        serves = e.get("codec") or name.split("_", 1)[0]
        figs = ", ".join(f"{k}={e[k]}" for k in FIGURES if k in e)
        rows.append({"name": name, "origin": e["origin"], "codec": serves, "model_id": e["sha256"][:16],
                     "dataset": e.get("dataset", ""), "figures": figs, "folder": e["folder"]})
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    print(f"{'weights':<24} {'origin':<8} {'codec':<11} {'model id':<17} figures")
    for r in rows:
        print(f"{r['name']:<24} {r['origin']:<8} {r['codec']:<11} {r['model_id']:<17} {r['figures']}")
    print(f"(user weights folder: {user_dir()})")
    return 0


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
    if args.weights:
        return run_weights(args)
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
