"""``ncodec bench classical``: real-file rates and speed of every lossless classical codec.

Data (test splits of ../shared/data): MNIST and Fashion-MNIST test (10k images each, as one
.ncz file per image and as one archive of 10k records), Kodak (24 images, bpp), FSDD test
(recordings 0-4, bits/sample), and the 132-frame Bunny clip (bpp). Every rate is
8 * len(file bytes), header included; the payload-only rate is shown beside it so the
container's overhead is visible. Speeds are per CPU second (codecs on one thread).
A configuration of ``ncodec.eval`` sweeps (``run_sweep`` with one archive per data set;
``--lossy``: Kodak and Bunny R-D sweeps). Writes benchmarks/results/classical.json (+ .png plot).
"""
from __future__ import annotations

import argparse
from fractions import Fraction
from pathlib import Path
from typing import Sequence

import numpy as np

from ..codecs import available, get_codec
from ..eval.roundtrip import ratio
from ..eval.sweep import aggregate, run_sweep
from ..io import read_item
from ..item import Item
from .. import data as D
from ._common import print_table, results_dir, write_results

# Figures measured earlier on this machine (../shared/DESIGN.md, imagecodecs payloads, one run).
ANCHORS = {("kodak", "jpegxl-lossless"): 8.71, ("kodak", "webp-lossless"): 9.57, ("kodak", "png"): 13.37,
           ("mnist", "webp-lossless"): 2.05, ("mnist", "jpegxl-lossless"): 2.08, ("mnist", "png"): 2.63,
           ("fsdd", "flac"): 9.01}
LOSSLESS = {"image": ["png", "webp-lossless", "jpegxl-lossless", "zstd"], "audio": ["flac", "zstd"],
            "video": ["x264-lossless", "png-frames", "zstd"]}
# Slowest presets (cwebp -z 9, cjxl -e 9): cheap enough only on the 28x28 sets.
MAX_EFFORT = {"mnist": [("webp-lossless", 9), ("jpegxl-lossless", 9)],
              "fashion-mnist": [("webp-lossless", 9), ("jpegxl-lossless", 9)]}
LOSSY_VIDEO = {"x264": [18, 23, 28, 33], "x265": [20, 25, 30, 35]}   # CRF, preset medium, yuv444p
LOSSY_KODAK = {"jpeg": [10, 30, 50, 75, 90], "webp": [10, 30, 50, 75, 90], "jpegxl": [10, 30, 50, 75, 90],
               "avif": [20, 35, 50, 65, 80]}
PNG_FRAMES = "png-frames"       # a video as one PNG record per frame


def _levels(dataset: str, codecs: Sequence[str], max_effort: bool) -> dict[str, list[int]]:
    """Each codec's default effort, plus the slow presets of MAX_EFFORT when asked for."""
    extra = dict(MAX_EFFORT.get(dataset, [])) if max_effort else {}
    return {c: list(dict.fromkeys([get_codec(c).resolve_quality(None)] + ([extra[c]] if c in extra else [])))
            for c in codecs}


def lossless_rows(dataset: str, items: list[Item], per_file: bool, max_effort: bool = False) -> list[dict]:
    """Every lossless codec of the media kind over the whole set as one archive (names not stored)."""
    media = items[0].meta.media
    have = available()
    codecs = [c for c in LOSSLESS[media] if c in have]
    rows = run_sweep(items, codecs, _levels(dataset, codecs, max_effort), dataset, workers=1, progress=False,
                     batch=len(items), keep_names=False)
    if PNG_FRAMES in LOSSLESS[media] and "png" in have:
        frames = [Item.from_array(f, "image") for v in items for f in v.data]
        rows += [dict(r, codec=PNG_FRAMES) for r in run_sweep(frames, ["png"], dataset=dataset, workers=1,
                                                                progress=False, batch=len(frames), keep_names=False)]
    raw_bytes = sum(it.data.nbytes for it in items)
    order = LOSSLESS[media]
    rows.sort(key=lambda r: (order.index(r["codec"]), r["quality"]))
    return [_lossless_row(r, raw_bytes, per_file) for r in rows]


def _lossless_row(r: dict, raw_bytes: int, per_file: bool) -> dict:
    """The classical.json row of one archive sweep row (throughput = raw input bytes per CPU second)."""
    default = r["codec"] == PNG_FRAMES or r["quality"] == get_codec(r["codec"]).resolve_quality(None)
    row = {"dataset": r["dataset"], "codec": r["codec"], "q": r["quality"], "items": r["n"], "unit": r["rate_unit"],
           "archive_rate": r.get("rate"), "archive_bytes": (r.get("bits") or 0) // 8,
           "payload_rate": r.get("payload_rate")}
    if per_file:
        row.update(file_rate=r.get("files_rate"), files_bytes=(r.get("files_bits") or 0) // 8)
    row.update({"enc_MBps": ratio(raw_bytes / 1e6, r.get("enc_cpu_s")),
                "dec_MBps": ratio(raw_bytes / 1e6, r.get("dec_cpu_s")),
                "enc_items_per_s": ratio(r["n"], r.get("enc_cpu_s")), "dec_items_per_s": ratio(r["n"], r.get("dec_cpu_s")),
                "enc_cpu_s": r.get("enc_cpu_s"), "dec_cpu_s": r.get("dec_cpu_s"), "enc_wall_s": r.get("enc_s"),
                "dec_wall_s": r.get("dec_s"), "exact": r.get("exact"),
                "anchor": ANCHORS.get((r["dataset"], r["codec"])) if default else None, "error": r.get("error")})
    return row


def lossy_rows(items: list[Item], levels: dict[str, list[int]], dataset: str) -> list[dict]:
    """R-D points (one file per item: rate from the sum of file bytes, mean PSNR / MS-SSIM over
    items) of lossy codecs at the given levels, with megapixels per CPU second."""
    have = available()
    codecs = [c for c in levels if c in have]
    rows = run_sweep(items, codecs, {c: levels[c] for c in codecs}, dataset, workers=1, progress=False,
                     keep_names=False)
    return [{"dataset": dataset, "codec": p["codec"], "q": p["quality"], "bpp": p.get("rate"), "psnr": p.get("psnr"),
             "ms_ssim": p.get("ms_ssim"), "enc_cpu_s": p.get("enc_cpu_s"), "dec_cpu_s": p.get("dec_cpu_s"),
             "enc_MP_per_cpu_s": ratio((p.get("units") or 0) / 1e6, p.get("enc_cpu_s")),
             "dec_MP_per_cpu_s": ratio((p.get("units") or 0) / 1e6, p.get("dec_cpu_s")), "error": p.get("error")}
            for p in aggregate(rows)]


def load_sets(limit: int | None, which: Sequence[str]) -> dict[str, tuple[list[Item], bool]]:
    """Data set name -> (items, whether one-file-per-item rates are reported)."""
    sets: dict[str, tuple[list[Item], bool]] = {}
    for name in ("mnist", "fashion-mnist"):
        if name in which:
            x, _ = D.arrays(name, "test")
            x = x[:limit] if limit else x
            sets[name] = ([Item.from_array(img, "image") for img in x], True)
    if "kodak" in which:
        paths = D.paths("kodak")[:limit] if limit else D.paths("kodak")
        sets["kodak"] = ([read_item(p) for p in paths], True)
    if "fsdd" in which:
        paths = D.paths("fsdd", "test")[:limit] if limit else D.paths("fsdd", "test")
        sets["fsdd"] = ([read_item(p) for p in paths], True)
    if "bunny" in which:
        frames = D.paths("bunny")[: (limit or 132)]
        arr = np.stack([read_item(f).data for f in frames])
        sets["bunny"] = ([Item.from_array(arr, "video", name="bunny_320x180", frame_rate=Fraction(25))], False)
    return sets


def plot(rows: list[dict], path: Path) -> None:
    """Bar chart: payload and file rate of every codec per data set (one panel each)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    rows = [r for r in rows if r.get("payload_rate") is not None]
    sets = list(dict.fromkeys(r["dataset"] for r in rows))
    if not sets:
        return
    fig, axes = plt.subplots(1, len(sets), figsize=(3.2 * len(sets), 3.4))
    axes = np.atleast_1d(axes)
    for ax, ds in zip(axes, sets):
        rs = [r for r in rows if r["dataset"] == ds]
        x = np.arange(len(rs))
        ax.bar(x - 0.2, [r["payload_rate"] for r in rs], 0.4, label="payload")
        ax.bar(x + 0.2, [r.get("file_rate") or r["archive_rate"] for r in rs], 0.4, label="file (.ncz)")
        for i, r in enumerate(rs):
            if r.get("anchor"):
                ax.plot([i - 0.4, i + 0.4], [r["anchor"]] * 2, "k--", lw=1)
        ax.set_xticks(x, [r["codec"] for r in rs], rotation=45, ha="right", fontsize=7)
        ax.set_title(f"{ds} ({rs[0]['unit']})", fontsize=9)
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; prints tables and writes benchmarks/results/classical.json."""
    ap = argparse.ArgumentParser(prog="ncodec bench classical", description=__doc__)
    ap.add_argument("--limit", type=int, help="only the first N items of every set (smoke runs)")
    ap.add_argument("--sets", default="mnist,fashion-mnist,kodak,fsdd,bunny")
    ap.add_argument("--max-effort", action="store_true",
                    help="also webp-lossless z9 and jpegxl-lossless e9 on MNIST / Fashion-MNIST (slow presets)")
    ap.add_argument("--lossy", action="store_true", help="also Kodak and Bunny rate/PSNR points of the lossy codecs")
    ap.add_argument("--out", default="classical", help="results name (benchmarks/results/NAME.json)")
    ap.add_argument("--no-plot", action="store_true")
    args = ap.parse_args(argv)
    from tqdm import tqdm
    try:
        import torch
        torch.set_num_threads(1)
    except ImportError:
        pass
    sets = load_sets(args.limit, args.sets.split(","))
    rows = []
    for ds, (items, per_file) in tqdm(sets.items(), desc="lossless", unit="set", disable=None):
        rows += lossless_rows(ds, items, per_file, args.max_effort)
    cols = ["dataset", "codec", "q", "items", "unit", "file_rate", "archive_rate", "payload_rate", "anchor",
            "enc_MBps", "dec_MBps", "enc_items_per_s", "dec_items_per_s", "exact"]
    print_table(rows, cols, title="Lossless classical codecs (rates: 8 x file bytes / pixels or samples; "
                                  "speeds per CPU second)")
    lossy = []
    lossy_cols = ["dataset", "codec", "q", "bpp", "psnr", "ms_ssim", "enc_MP_per_cpu_s", "dec_MP_per_cpu_s"]
    if args.lossy and "kodak" in sets:
        kodak = lossy_rows(sets["kodak"][0], LOSSY_KODAK, "kodak")
        print_table(kodak, lossy_cols, title="Kodak lossy (mean PSNR over images; rate from the sum of file bytes)")
        lossy += kodak
    if args.lossy and "bunny" in sets:
        video = sets["bunny"][0]
        bunny = lossy_rows(video, LOSSY_VIDEO, video[0].name)
        print_table(bunny, lossy_cols, title="Bunny lossy (q = CRF; PSNR over all frames)")
        lossy += bunny
    out = write_results(args.out, rows, lossy=lossy, anchors={f"{k[0]}/{k[1]}": v for k, v in ANCHORS.items()},
                        notes="file_rate: one .ncz per item; archive_rate: one .ncz archive of all items; "
                              "payload_rate: codec bytes only; throughput = raw input bytes (items) per CPU second, "
                              "codecs on 1 thread (imagecodecs numthreads=1, x264/x265 threads=1)",
                        limit=args.limit)
    print(f"wrote {out}")
    if not args.no_plot:
        png = results_dir() / f"{args.out}.png"
        plot(rows, png)
        print(f"wrote {png}")
    return 0
