"""Thin wrapper: ``python benchmarks/flow.py`` == ``ncodec bench flow`` (lossless integer-flow codec)."""
import sys

from ncodec.bench.flow import main

if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
