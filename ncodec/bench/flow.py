"""Benchmark of the lossless ``flow`` codec: MNIST / Fashion-MNIST test archives (real-file and
ideal bits/dim, coder gap, enc/dec images/s) beside ``hclt`` and classical codecs, and Kodak /
BSDS500 test photos in real bits per sub-pixel beside PNG, WebP-lossless and JPEG-XL-lossless.
Writes benchmarks/results/flow.json.
"""
from __future__ import annotations

import argparse
import json

import numpy as np
import torch

from ..codecs.base import available
from ..errors import NcodecError
from ..eval.roundtrip import combine, ratio, roundtrip
from ..io import read_item
from ..item import Item
from .. import data as D
from ._common import print_table, results_dir, write_results

PHOTO_PLAN = (("flow", None), ("png", None), ("webp-lossless", 9), ("jpegxl-lossless", 7))


def _speed(r: dict, amount: float, unit: str) -> dict:
    """Throughput of a round-trip row in ``unit`` per wall second and per CPU second."""
    return {f"enc_{unit}_s": ratio(amount, r["enc_s"]), f"dec_{unit}_s": ratio(amount, r["dec_s"]),
            f"enc_{unit}_per_cpu_s": ratio(amount, r["enc_cpu_s"]), f"dec_{unit}_per_cpu_s": ratio(amount, r["dec_cpu_s"])}


def _archive_row(data: str, imgs: np.ndarray, codec: str, quality: int | None) -> dict:
    """``imgs`` as one archive (an image stack: one record per image); real + ideal bits/dim, speed."""
    r = roundtrip(Item.from_array(imgs, "tensor"), codec, quality)
    real, ideal = r["rate"], r["ideal_rate"]           # gray images: one dim per pixel
    return {"data": data, "codec": f"{codec} q{r['quality']}", "images": r["n"], "file_bytes": r["bits"] // 8,
            "real_bpd": real, "ideal_bpd": ideal, "gap_pct": 100 * (real / ideal - 1) if ideal else None,
            **_speed(r, r["n"], "img"), "exact": r["exact"]}


def _photo_row(data: str, paths, codec: str, quality: int | None) -> dict:
    """Each photo as its own file; real bits per sub-pixel over the set, speed in MP/s. ``paths``
    may hold (path, crop size) pairs: the top-left crop of that size."""
    from tqdm import tqdm
    items = [read_item(p) if not isinstance(p, tuple) else _crop(*p) for p in paths]
    per = [roundtrip(it, codec, quality) for it in tqdm(items, desc=f"{codec} on {data}", leave=False)]
    r = combine(per)
    numel = sum(it.meta.numel for it in items)
    return {"data": data, "codec": f"{codec} q{r['quality']}", "images": len(paths), "file_bytes": r["bits"] // 8,
            "real_bpsp": r["bits"] / numel, "ideal_bpsp": ratio(r["ideal_bits"], numel),
            **_speed(r, r["units"] / 1e6, "MP"), "exact": r["exact"],
            "image_bits": [int(x["bits"]) for x in per]}


def _crop(path, size: int) -> Item:
    a = read_item(path).data
    return Item.from_array(np.ascontiguousarray(a[:size, :size]), "image")


def photo_summary(rows: list[dict]) -> list[dict]:
    """Per data set: flow's total size against JPEG-XL / WebP / PNG, and its worst photo against
    PNG (the guard's promise: never above PNG + the one mode byte)."""
    out = []
    for data in dict.fromkeys(r["data"] for r in rows):
        by = {r["codec"]: r for r in rows if r["data"] == data}
        flow = next((r for k, r in by.items() if k.startswith("flow")), None)
        png = next((r for k, r in by.items() if k.startswith("png")), None)
        if flow is None:
            continue
        row = {"data": data, "flow_bpsp": flow["real_bpsp"]}
        for k, r in by.items():
            if not k.startswith("flow"):
                row[f"flow_over_{k.replace(' ', '_')}"] = flow["real_bpsp"] / r["real_bpsp"]
        if png is not None:
            per = [f / p for f, p in zip(flow["image_bits"], png["image_bits"])]
            row["worst_image_flow_over_png"] = max(per)
            row["images_above_png"] = sum(f > p + 8 for f, p in zip(flow["image_bits"], png["image_bits"]))
        out.append(row)
    return out


def _rows(row_fn, data: str, source, plan) -> list[dict]:
    """``row_fn(data, source, codec, quality)`` for each registered codec of ``plan``; one that
    refuses the data is skipped with a message."""
    have = available()
    rows = []
    for codec, q in plan:
        if codec not in have:
            continue
        try:
            rows.append(row_fn(data, source, codec, q))
        except NcodecError as exc:
            print(f"skip {codec} on {data}: {exc}")
    return rows


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; ``--mnist N`` test images per grayscale set, ``--kodak K`` photos."""
    p = argparse.ArgumentParser(prog="ncodec bench flow", description=__doc__)
    p.add_argument("--mnist", type=int, default=2000, help="first N test images of MNIST / Fashion")
    p.add_argument("--kodak", type=int, default=24, help="first K Kodak images (0: skip)")
    p.add_argument("--bsds", type=int, default=200, help="first K BSDS500 test images (0: skip)")
    p.add_argument("--crops", type=int, default=50,
                   help="also the top-left 256x256 crops of the first K BSDS500 test photos (0: skip)")
    p.add_argument("--jxl-e9", action="store_true", help="add JPEG-XL lossless at effort 9 (slow)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--part", choices=("all", "gray", "photo"), default="all",
                   help="run one half only; its rows replace that half's rows in flow.json")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    rows_gray, rows_photo = [], []
    for data, q in (("mnist", 1), ("fashion-mnist", 2)) if args.part != "photo" else ():
        plan = (("flow", q), ("hclt", q), ("png", None), ("webp-lossless", 9), ("jpegxl-lossless", 7))
        rows_gray += _rows(_archive_row, data, D.arrays(data, "test")[0][:args.mnist], plan)
    cols = ["data", "codec", "images", "file_bytes", "real_bpd", "ideal_bpd", "gap_pct", "enc_img_per_cpu_s",
            "dec_img_per_cpu_s", "exact"]
    print_table(rows_gray, cols, title="28x28 test images, one archive each (bits/dim = 8*file bytes / pixels)")
    crops = [(p, 256) for p in D.paths("bsds500", "test")[:args.crops]]
    for data, paths in (("kodak", D.paths("kodak")[:args.kodak]), ("bsds500-test", D.paths("bsds500", "test")[:args.bsds]),
                        ("bsds500-test-256x256", crops)):
        if paths and args.part != "gray":
            plan = PHOTO_PLAN + ((("jpegxl-lossless", 9),) if args.jxl_e9 else ())
            rows_photo += _rows(_photo_row, data, paths, plan)
    print()
    print_table(rows_photo, ["data", "codec", "images", "file_bytes", "real_bpsp", "ideal_bpsp", "enc_MP_per_cpu_s",
                             "dec_MP_per_cpu_s", "exact"], title="photos, one file each (bits per sub-pixel)")
    summary = photo_summary(rows_photo)
    if summary:
        print()
        print_table(summary, list(summary[0]), title="flow against the classical codecs (ratios of total bits)")
    meta = {"gray": {"mnist_images": args.mnist}, "photo": {
        "kodak_images": [pth.name for pth in D.paths("kodak")[:args.kodak]],
        "bsds_images": [pth.name for pth in D.paths("bsds500", "test")[:args.bsds]],
        "crops": f"top-left 256x256 of the first {args.crops} BSDS500 test photos", "summary": summary}}
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
