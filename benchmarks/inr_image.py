"""``inr`` (overfitted neural image codec) on 256x256 Kodak centre crops beside WebP, AVIF, JPEG-XL, ``wavelet``.

Every figure is real bytes (8 x .ncz size) through ``ncodec.eval.roundtrip`` (``api.compress_items`` ->
file -> decode) and CPU seconds of this process (``time.process_time``), one torch thread.

    python benchmarks/inr_image.py --quick                  # 2 images, 3 levels, fast effort (~10 min)
    python benchmarks/inr_image.py                          # 8 images x 4 levels, default effort (hours on 1 core)
    python benchmarks/inr_image.py --images 3 --levels 2,4,6,8 --effort default --curve 150,300,600,1200,2400
    python benchmarks/inr_image.py --curve 400,2000,5000 --curve-images 2 --curve-level 4   # the CPU profile

Writes benchmarks/results/inr_image.json (rewritten after every image, so a long run leaves partial
results), prints the tables, and draws inr_image_rd.png (R-D with the Cool-chic anchors) and
inr_image_time.png (quality vs encode CPU-seconds: the curve a user picks an effort from).
BD-rates use ``ncodec.eval.bd`` on the curves averaged over the crops (mean rate, mean PSNR per level).
"""
from __future__ import annotations

import argparse
import json
import math
import platform
import sys
import time
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).resolve().parent / "results"
IMAGES = ("kodim01", "kodim23", "kodim03", "kodim05", "kodim07", "kodim13", "kodim15", "kodim19")
WEBP_LEVELS = (1, 2, 3, 5, 8, 12, 16, 20, 25, 30, 40, 50, 60, 70, 80, 85, 90, 95)
ANCHOR_LEVELS = {"avif": (10, 20, 30, 40, 50, 60, 70, 80, 90), "jpegxl": (10, 20, 35, 50, 65, 80, 90, 95),
                 "wavelet": (1, 2, 3, 4, 5, 6, 7, 8, 9, 10)}
# Cool-chic 5.0.1, 2,000 iterations, run on this machine (issue #17): image, MAC/px, bpp, dB,
# WebP and AVIF dB at that rate, encode CPU-s.
COOLCHIC = (("kodim01", 1900, 0.53, 27.69, 26.40, 26.78, 517), ("kodim01", 480, 0.45, 27.37, 25.82, 26.14, 304),
            ("kodim01", 480, 1.15, 32.89, 30.66, 31.12, 290), ("kodim23", 1900, 0.63, 37.83, 36.31, 37.19, 529),
            ("kodim23", 480, 1.25, 40.73, 39.51, 40.18, 292))


def crop(name: str, size: int = 256):
    """Centre crop of a Kodak image as an Item named after it."""
    from ncodec import data as D
    from ncodec.io import read_item
    from ncodec.item import Item
    path = next(p for p in D.paths("kodak") if p.stem == name)
    a = read_item(path).data
    h, w = a.shape[:2]
    a = np.ascontiguousarray(a[(h - size) // 2:(h - size) // 2 + size, (w - size) // 2:(w - size) // 2 + size])
    return Item.from_array(a, "image", name=name)


def row(item, codec: str, quality: int) -> dict:
    """One coded file of an anchor codec: rate (real bits), PSNR, encode/decode CPU-s."""
    from ncodec.eval.roundtrip import roundtrip
    r = roundtrip(item, codec, quality)
    return {"image": item.name, "codec": codec, "quality": quality, "bpp": r["rate"], "psnr": r["psnr"],
            "enc_cpu_s": r["enc_cpu_s"], "dec_cpu_s": r["dec_cpu_s"], "bytes": r["bits"] // 8}


def inr_row(item, quality: int, options: dict) -> dict:
    """An ``inr`` file with the encoder's own report (iterations, network share) kept."""
    from ncodec import api
    from ncodec.eval.roundtrip import decode_file, timed, trip_row
    res, _, enc_cpu = timed(lambda: api.compress_items([item], codec="inr", quality=quality, options=options))
    r = trip_row(decode_file(res.data, res.items, None, enc_cpu, res.ideal_bits))
    info = res.info[0]
    px = item.data.shape[0] * item.data.shape[1]
    return {"image": item.name, "codec": "inr", "quality": quality, "bpp": r["rate"], "psnr": r["psnr"],
            "enc_cpu_s": enc_cpu, "dec_cpu_s": r["dec_cpu_s"], "bytes": r["bits"] // 8,
            "iterations": info["iterations"], "fit_cpu_s": info["fit_cpu_seconds"],
            "network_bpp": info["network_bits"] / px, "latent_bpp": info["latent_bits"] / px,
            "macs_per_pixel": info["macs_per_pixel"], "preset": info["preset"], "options": options}


def interp_psnr(curve: list[tuple[float, float]], bpp: float) -> float:
    """PSNR of a (rate, PSNR) curve at ``bpp`` (linear in log-rate, monotone part; NaN outside)."""
    from ncodec.eval.bd import monotone_curve
    r, q = monotone_curve([c[0] for c in curve], [c[1] for c in curve])
    if len(r) < 2 or not r[0] <= bpp <= r[-1]:
        return math.nan
    return float(np.interp(math.log(bpp), np.log(r), q))


def curves(rows: list[dict], images: list[str]) -> dict[str, list[tuple[float, float, int]]]:
    """Per codec: (mean bpp, mean PSNR, level) over the images that have every level."""
    out: dict = {}
    for codec in sorted({r["codec"] for r in rows if r["codec"] != "inr-curve"}):
        by_q: dict = {}
        for r in rows:
            if r["codec"] == codec and r["image"] in images and r.get("psnr") is not None:
                by_q.setdefault(r["quality"], []).append(r)
        pts = [(float(np.mean([r["bpp"] for r in rs])), float(np.mean([r["psnr"] for r in rs])), q)
               for q, rs in by_q.items() if len(rs) == len(images)]
        out[codec] = sorted(pts)
    return out


def bd_rows(cv: dict, rows: list[dict], images: list[str]) -> list[dict]:
    """BD-rate (%) vs WebP and vs AVIF, on the mean curves and per image (mean of the per-image values)."""
    from ncodec.eval.bd import bd_quality, bd_rate
    out = []
    for codec, pts in cv.items():
        rec = {"codec": codec, "points": len(pts)}
        for anchor in ("webp", "avif"):
            if anchor in cv and codec != anchor:
                a = cv[anchor]
                rec[f"bd_rate_vs_{anchor}"] = bd_rate([p[0] for p in a], [p[1] for p in a],
                                                      [p[0] for p in pts], [p[1] for p in pts])
                rec[f"bd_psnr_vs_{anchor}"] = bd_quality([p[0] for p in a], [p[1] for p in a],
                                                         [p[0] for p in pts], [p[1] for p in pts])
                per = []
                for im in images:
                    ra = sorted((r["bpp"], r["psnr"]) for r in rows if r["codec"] == anchor and r["image"] == im)
                    rt = sorted((r["bpp"], r["psnr"]) for r in rows if r["codec"] == codec and r["image"] == im)
                    if len(ra) >= 2 and len(rt) >= 2:
                        per.append(bd_rate([p[0] for p in ra], [p[1] for p in ra], [p[0] for p in rt], [p[1] for p in rt]))
                per = [v for v in per if math.isfinite(v)]
                rec[f"bd_rate_vs_{anchor}_per_image_mean"] = float(np.mean(per)) if per else None
        out.append(rec)
    return out


def time_rows(rows: list[dict]) -> list[dict]:
    """Quality vs encode time: each ``inr`` file's PSNR gain over WebP and AVIF at its own rate."""
    out = []
    for r in rows:
        if r["codec"] not in ("inr", "inr-curve"):
            continue
        img = r["image"]
        webp = [(x["bpp"], x["psnr"]) for x in rows if x["codec"] == "webp" and x["image"] == img]
        avif = [(x["bpp"], x["psnr"]) for x in rows if x["codec"] == "avif" and x["image"] == img]
        out.append({"image": img, "codec": r["codec"], "quality": r["quality"], "iterations": r.get("iterations"),
                    "enc_cpu_s": r["enc_cpu_s"], "bpp": r["bpp"], "psnr": r["psnr"],
                    "gain_vs_webp_db": r["psnr"] - interp_psnr(webp, r["bpp"]),
                    "gain_vs_avif_db": r["psnr"] - interp_psnr(avif, r["bpp"])})
    return out


def print_table(rows: list[dict], cols: list[str], title: str) -> None:
    def f(v):
        return f"{v:.4g}" if isinstance(v, float) else ("" if v is None else str(v))
    cells = [[f(r.get(c)) for c in cols] for r in rows]
    w = [max([len(c)] + [len(x[i]) for x in cells]) for i, c in enumerate(cols)]
    print(f"\n{title}\n" + " | ".join(c.ljust(n) for c, n in zip(cols, w)) + "\n" + "-+-".join("-" * n for n in w))
    for x in cells:
        print(" | ".join(v.ljust(n) for v, n in zip(x, w)))


def plot(cv: dict, rows: list[dict], trows: list[dict], stem: Path) -> list[Path]:
    """R-D plot (mean curves + kodim01/kodim23 with the Cool-chic anchors) and quality-vs-time plot."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    colors = {"inr": "C3", "webp": "C0", "avif": "C1", "jpegxl": "C2", "wavelet": "C4"}
    fig, axes = plt.subplots(1, 3, figsize=(16, 4.8))
    ax = axes[0]
    for codec, pts in cv.items():
        ax.plot([p[0] for p in pts], [p[1] for p in pts], "o-" if codec == "inr" else ".-",
                color=colors.get(codec), label=codec, lw=2 if codec == "inr" else 1)
    ax.set(title="mean over the 256x256 crops", xlabel="bpp (real bytes)", ylabel="PSNR (dB)", xscale="log")
    ax.legend()
    for ax, img in zip(axes[1:], ("kodim01", "kodim23")):
        for codec in cv:
            pts = sorted((r["bpp"], r["psnr"]) for r in rows if r["codec"] == codec and r["image"] == img)
            if pts:
                ax.plot(*zip(*pts), "o-" if codec == "inr" else ".-", color=colors.get(codec), label=codec)
        cc = [c for c in COOLCHIC if c[0] == img]
        if cc:
            ax.scatter([c[2] for c in cc], [c[3] for c in cc], marker="*", s=140, color="k", zorder=5,
                       label="Cool-chic 5.0.1, 2k it (anchor)")
        ax.set(title=img, xlabel="bpp", ylabel="PSNR (dB)", xscale="log")
        ax.legend(fontsize=7)
    fig.tight_layout()
    rd = stem.with_name(stem.name + "_rd.png")
    fig.savefig(rd, dpi=110)
    plt.close(fig)
    fig, ax = plt.subplots(figsize=(7, 4.5))
    trows = [t for t in trows if t.get("codec") == "inr-curve"] or trows
    for img in sorted({t["image"] for t in trows}):
        pts = sorted((t["enc_cpu_s"], t["gain_vs_webp_db"]) for t in trows if t["image"] == img
                     and math.isfinite(t["gain_vs_webp_db"]))
        if pts:
            ax.plot(*zip(*pts), "o-", label=f"inr {img}")
    ax.scatter([c[6] for c in COOLCHIC], [c[3] - c[4] for c in COOLCHIC], marker="*", s=140, color="k",
               label="Cool-chic 5.0.1, 2k it (anchor)")
    ax.axhline(0, color="C0", lw=1, ls="--", label="WebP")
    ax.set(xscale="log", xlabel="encode CPU-s per 256x256 image (1 thread)", ylabel="PSNR gain over WebP at equal rate (dB)",
           title="quality vs encode time")
    ax.legend(fontsize=7)
    fig.tight_layout()
    tp = stem.with_name(stem.name + "_time.png")
    fig.savefig(tp, dpi=110)
    plt.close(fig)
    return [rd, tp]


def save(path: Path, rows: list[dict], args, images: list[str], done: bool) -> dict:
    """Write the JSON (rows + summaries so far)."""
    cv = curves(rows, images)
    data = {"benchmark": "inr_image", "date": time.strftime("%Y-%m-%d %H:%M:%S"), "complete": done,
            "machine": {"python": platform.python_version(), "cpu": platform.processor() or platform.machine(),
                        "threads": 1}, "args": vars(args), "images": images,
            "coolchic_anchors": [dict(zip(("image", "macs_per_pixel", "bpp", "psnr", "webp_psnr", "avif_psnr",
                                           "enc_cpu_s"), c)) for c in COOLCHIC],
            "mean_curves": {k: [list(p) for p in v] for k, v in cv.items()},
            "bd": bd_rows(cv, rows, images), "time": time_rows(rows), "rows": rows}
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=1, default=lambda v: None if isinstance(v, float) and not math.isfinite(v) else v) + "\n")
    tmp.replace(path)
    return data


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", type=int, default=8, help=f"how many of {', '.join(IMAGES)}")
    ap.add_argument("--levels", default="2,4,6,8", help="inr quality levels")
    ap.add_argument("--effort", default="default", choices=("fast", "default", "max"))
    ap.add_argument("--iterations", type=int, default=None, help="fitting iterations (overrides --effort)")
    ap.add_argument("--preset", default="auto", choices=("auto", "small", "mid", "medium", "large"))
    ap.add_argument("--curve", default="", help="iteration counts for the quality-vs-time curve (kodim01, kodim23)")
    ap.add_argument("--curve-level", type=int, default=4)
    ap.add_argument("--curve-images", type=int, default=2,
                    help="how many of kodim01, kodim23 get the curve (a curve point at the main effort's "
                         "iterations and a main level is taken from the main rows, not fitted again)")
    ap.add_argument("--anchors", default="webp,avif,jpegxl,wavelet")
    ap.add_argument("--quick", action="store_true", help="2 images, levels 2,5,8, fast effort")
    ap.add_argument("--out", default=str(RESULTS / "inr_image.json"))
    args = ap.parse_args(argv)
    if args.quick:
        args.images, args.levels, args.effort = 2, "2,5,8", "fast"
    import torch
    torch.set_num_threads(1)
    images = list(IMAGES[: args.images])
    levels = [int(v) for v in args.levels.split(",") if v]
    anchors = [a for a in args.anchors.split(",") if a]
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    rows: list[dict] = []
    opts = {"effort": args.effort, "preset": args.preset, "threads": 1, "progress": False}
    if args.iterations:
        opts["iterations"] = args.iterations
    t0 = time.time()
    for name in images:
        item = crop(name)
        for codec in ["webp", *anchors[1:]] if "webp" in anchors else anchors:
            for q in (WEBP_LEVELS if codec == "webp" else ANCHOR_LEVELS.get(codec, ())):
                rows.append(row(item, codec, q))
        for q in levels:
            rows.append(inr_row(item, q, opts))
            print(f"[{time.time() - t0:7.0f}s] {name} inr q{q}: {rows[-1]['bpp']:.3f} bpp {rows[-1]['psnr']:.2f} dB "
                  f"enc {rows[-1]['enc_cpu_s']:.0f} CPU-s dec {rows[-1]['dec_cpu_s']:.2f}", flush=True)
        save(out, rows, args, images, False)
    iters = [int(v) for v in args.curve.split(",") if v]
    curve_names = ("kodim01", "kodim23")[: max(0, args.curve_images)]
    for name in curve_names if iters else ():
        if name not in images:                      # the gain over WebP/AVIF needs their curves
            rows += [row(crop(name), c, q) for c in ("webp", "avif")
                     for q in (WEBP_LEVELS if c == "webp" else ANCHOR_LEVELS[c])]
    from ncodec.codecs._inr_engine import EFFORTS
    main_iters = args.iterations or EFFORTS[args.effort]
    for it in iters:
        for name in curve_names:
            have = [r for r in rows if r["codec"] == "inr" and r["image"] == name and r["quality"] == args.curve_level
                    and r.get("iterations") == it]
            if have and it == main_iters:
                rows.append({**have[0], "codec": "inr-curve"})
                continue
            r = inr_row(crop(name), args.curve_level, {**opts, "iterations": it})
            r["codec"] = "inr-curve"
            rows.append(r)
            print(f"[{time.time() - t0:7.0f}s] curve {name} {it} it: {r['bpp']:.3f} bpp {r['psnr']:.2f} dB "
                  f"{r['enc_cpu_s']:.0f} CPU-s", flush=True)
            save(out, rows, args, images, False)
    data = save(out, rows, args, images, True)
    cv = curves(rows, images)
    print_table([{"codec": c, "level": p[2], "bpp": p[0], "psnr": p[1]} for c in ("inr", "webp", "avif", "jpegxl", "wavelet")
                 for p in cv.get(c, [])], ["codec", "level", "bpp", "psnr"], f"mean R-D over {len(images)} crops")
    print_table(data["bd"], ["codec", "points", "bd_rate_vs_webp", "bd_rate_vs_avif", "bd_psnr_vs_webp",
                             "bd_rate_vs_webp_per_image_mean"], "BD-rate (%) on the mean curves; negative = fewer bits")
    inr = [r for r in rows if r["codec"] == "inr"]
    print_table(inr, ["image", "quality", "bpp", "psnr", "network_bpp", "iterations", "enc_cpu_s", "dec_cpu_s"], "inr files")
    print_table(data["time"], ["image", "quality", "iterations", "enc_cpu_s", "bpp", "psnr", "gain_vs_webp_db",
                               "gain_vs_avif_db"], "quality vs encode time")
    for p in plot(cv, rows, data["time"], out.with_suffix("")):
        print("wrote", p)
    print("wrote", out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
