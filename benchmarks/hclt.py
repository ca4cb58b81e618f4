"""Thin wrapper: ``python benchmarks/hclt.py`` == ``ncodec bench hclt`` (lossless HCLT circuit codec)."""
import sys

from ncodec.bench.hclt import main

if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
