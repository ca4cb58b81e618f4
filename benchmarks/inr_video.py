"""Thin wrapper: ``python benchmarks/inr_video.py`` == ``ncodec bench inr_video`` (NeRV/HNeRV vs x264/x265)."""
import sys

from ncodec.bench.inr_video import main

if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
