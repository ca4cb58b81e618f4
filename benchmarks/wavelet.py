"""Thin wrapper: ``python benchmarks/wavelet.py`` == ``ncodec bench wavelet`` (Kodak/BSDS500/FSDD R-D, BD-rates, speed)."""
import sys

from ncodec.bench.wavelet import main

if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
