"""Benchmark of the lossless ``flow`` codec: MNIST / Fashion-MNIST test archives (real-file and
ideal bits/dim, coder gap, enc/dec images/s) beside ``hclt`` and classical codecs, and Kodak /
BSDS500 test photos in real bits per sub-pixel beside PNG, WebP-lossless and JPEG-XL-lossless.
Writes benchmarks/results/flow.json.
"""
from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch

from ..api import compress_items, decompress_bytes
from ..codecs.base import available
from ..errors import NcodecError
from ..io import read_item
from ..item import Item
from .. import data as D
from ._common import print_table, results_dir, write_results


def _archive_row(data: str, imgs: np.ndarray, codec: str, quality: int | None) -> dict:
    """Compress ``imgs`` as one archive (one record per image); real + ideal bits/dim, speed."""
    item = Item.from_array(imgs, "tensor")
    t0 = time.perf_counter()
    res = compress_items([item], codec=codec, quality=quality)
    enc_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    out = decompress_bytes(res.data)
    dec_s = time.perf_counter() - t0
    exact = all(a.same_data(b) for a, b in zip(res.items, out))
    n = len(imgs)
    real = 8 * len(res.data) / res.numel
    ideal = res.ideal_bits / res.numel if res.ideal_bits is not None else None
    return {"data": data, "codec": f"{codec} q{res.quality}", "images": n, "file_bytes": len(res.data),
            "real_bpd": real, "ideal_bpd": ideal,
            "gap_pct": 100 * (real / ideal - 1) if ideal else None,
            "enc_img_s": n / enc_s, "dec_img_s": n / dec_s, "exact": exact}


def _photo_row(data: str, paths, codec: str, quality: int | None) -> dict:
    """Each photo as its own file; real bits per sub-pixel over the set, speed in MP/s."""
    bits, numel, enc_s, dec_s, exact, ideal = 0, 0, 0.0, 0.0, True, 0.0
    for p in paths:
        it = read_item(p)
        t0 = time.perf_counter()
        res = compress_items([it], codec=codec, quality=quality)
        enc_s += time.perf_counter() - t0
        t0 = time.perf_counter()
        out = decompress_bytes(res.data)[0]
        dec_s += time.perf_counter() - t0
        exact &= out.same_data(res.items[0])
        bits += 8 * len(res.data)
        numel += res.numel
        ideal = None if ideal is None or res.ideal_bits is None else ideal + res.ideal_bits
    mp = numel / 3 / 1e6
    return {"data": data, "codec": f"{codec} q{res.quality}", "images": len(paths), "file_bytes": bits // 8,
            "real_bpsp": bits / numel, "ideal_bpsp": ideal / numel if ideal else None,
            "enc_MP_s": mp / enc_s, "dec_MP_s": mp / dec_s, "exact": exact}


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; ``--mnist N`` test images per grayscale set, ``--kodak K`` photos."""
    p = argparse.ArgumentParser(prog="ncodec bench flow", description=__doc__)
    p.add_argument("--mnist", type=int, default=2000, help="first N test images of MNIST / Fashion")
    p.add_argument("--kodak", type=int, default=2, help="first K Kodak images (0: skip)")
    p.add_argument("--bsds", type=int, default=2, help="first K BSDS500 test images (0: skip)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--part", choices=("all", "gray", "photo"), default="all",
                   help="run one half only; its rows replace that half's rows in flow.json")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    have = available()
    rows_gray, rows_photo = [], []
    for data, q in (("mnist", 1), ("fashion-mnist", 2)) if args.part != "photo" else ():
        x, _ = D.arrays(data, "test")
        x = x[:args.mnist]
        for codec, cq in (("flow", q), ("hclt", q), ("png", None), ("webp-lossless", 9), ("jpegxl-lossless", 7)):
            if codec not in have:
                continue
            try:
                rows_gray.append(_archive_row(data, x, codec, cq))
            except NcodecError as exc:
                print(f"skip {codec} on {data}: {exc}")
    cols = ["data", "codec", "images", "file_bytes", "real_bpd", "ideal_bpd", "gap_pct", "enc_img_s", "dec_img_s", "exact"]
    print_table(rows_gray, cols, title="28x28 test images, one archive each (bits/dim = 8*file bytes / pixels)")
    for data, paths in (("kodak", D.paths("kodak")[:args.kodak]), ("bsds500-test", D.paths("bsds500", "test")[:args.bsds])):
        if not paths or args.part == "gray":
            continue
        for codec, cq in (("flow", None), ("png", None), ("webp-lossless", 9), ("jpegxl-lossless", 7),
                          ("jpegxl-lossless", 9)):
            if codec not in have:
                continue
            try:
                rows_photo.append(_photo_row(data, paths, codec, cq))
            except NcodecError as exc:
                print(f"skip {codec} on {data}: {exc}")
    print()
    print_table(rows_photo, ["data", "codec", "images", "file_bytes", "real_bpsp", "ideal_bpsp", "enc_MP_s",
                             "dec_MP_s", "exact"], title="photos, one file each (bits per sub-pixel)")
    meta = {"gray": {"mnist_images": args.mnist}, "photo": {
        "kodak_images": [pth.name for pth in D.paths("kodak")[:args.kodak]],
        "bsds_images": [pth.name for pth in D.paths("bsds500", "test")[:args.bsds]]}}
    rows = rows_gray + rows_photo
    prev = results_dir() / "flow.json"
    if args.part != "all" and prev.exists():
        old = json.loads(prev.read_text())
        keep = "photo" if args.part == "gray" else "gray"
        rows = [r for r in old.get("rows", []) if ("real_bpd" in r) == (keep == "gray")] + rows
        meta[keep] = old.get(keep, {})
    out = write_results("flow", rows, threads=args.threads, **meta)
    print(f"\nwrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
