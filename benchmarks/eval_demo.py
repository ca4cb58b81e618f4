"""Thin wrapper: ``python benchmarks/eval_demo.py`` == ``ncodec bench eval_demo`` (accuracy-vs-rate + Kodak R-D)."""
import sys

from ncodec.bench.eval_demo import main

if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
