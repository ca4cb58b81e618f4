"""Thin wrapper: ``python benchmarks/classical.py`` == ``ncodec bench classical`` (lossless classical baselines)."""
import sys

from ncodec.bench.classical import main

if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
