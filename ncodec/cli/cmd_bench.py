"""``ncodec bench NAME [args]``: run a benchmark module from ncodec/bench (tables + JSON)."""
from __future__ import annotations

import argparse
import importlib
import pkgutil


def _benches() -> list[str]:
    pkg = importlib.import_module("ncodec.bench")
    return sorted(m.name for m in pkgutil.iter_modules(pkg.__path__) if not m.name.startswith("_"))


def register(sub) -> None:
    p = sub.add_parser("bench", help="run a benchmark (writes benchmarks/results/NAME.json)")
    p.add_argument("name", choices=_benches())
    p.add_argument("rest", nargs=argparse.REMAINDER, help="options passed to the benchmark")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    return int(importlib.import_module(f"ncodec.bench.{args.name}").main(args.rest) or 0)
