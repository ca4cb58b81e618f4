"""``ncodec bench wavelet``: R-D of the wavelet codec on Kodak, BSDS500 test and FSDD test beside
JPEG/WebP/AVIF/JPEG-XL (images) and Opus/FLAC (audio), BD-rates, coding speed; real file bytes.

Writes benchmarks/results/wavelet.json and docs/wavelet_rd.png; prints the tables.
"""
from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

import numpy as np

from ._common import print_table, results_dir, write_results

IMAGE_ANCHORS = ["jpeg", "webp", "avif", "jpegxl"]
# CompressAI's published Kodak points (bpp, PSNR), quoted in DESIGN.md
PUBLISHED = {"bmshj2018-factorized": [(0.123, 26.91), (0.440, 31.28)],
             "bmshj2018-hyperprior": [(0.131, 27.58), (0.478, 32.84)],
             "mbt2018 q4": [(0.432, 33.09)], "cheng2020-anchor q4": [(0.417, 33.39)],
             "WaLLoC (LSDIR, 16x)": [(0.682, 27.45)]}
OPUS_KBPS = [6, 8, 12, 16, 24, 32]


def bd_rate(ra, qa, rt, qt) -> float:
    """BD-rate in % of test vs anchor (ncodec.eval.bd when present, else our pchip version)."""
    try:
        from ..eval.bd import bd_rate as _bd
        return float(_bd(ra, qa, rt, qt))
    except ImportError:
        from scipy.interpolate import PchipInterpolator
        a = sorted(zip(qa, np.log10(ra)))
        t = sorted(zip(qt, np.log10(rt)))
        lo, hi = max(a[0][0], t[0][0]), min(a[-1][0], t[-1][0])
        if not hi > lo:
            return math.nan
        ia = PchipInterpolator(*zip(*a)).integrate(lo, hi) / (hi - lo)
        it = PchipInterpolator(*zip(*t)).integrate(lo, hi) / (hi - lo)
        return float((10 ** (it - ia) - 1) * 100)


def _curve(points: list[dict], codec: str, metric: str, dataset: str) -> tuple[list, list]:
    pts = sorted((p["rate"], p[metric]) for p in points
                 if p["codec"] == codec and p["dataset"] == dataset and p.get("rate") and p.get(metric) is not None)
    return [r for r, _ in pts], [m for _, m in pts]


def image_sweep(dataset: str, limit: int | None, codecs: list[str], levels: list[int]) -> list[dict]:
    """Rows (one per item x codec x level) through the real file format."""
    from ..eval.sweep import load_dataset, run_sweep
    if not codecs:
        return []
    items = load_dataset(dataset, limit)
    return run_sweep(items, codecs, levels={"wavelet": levels}, dataset=dataset, workers=1)


def speed(levels: list[int], n_images: int = 4) -> list[dict]:
    """Whole-pipeline (model + entropy coding + container) encode/decode MP/s on Kodak, by CPU time and wall time."""
    from .. import api
    from ..eval.sweep import load_dataset
    items = load_dataset("kodak", n_images)[:n_images]
    api.compress_items(items[:1], codec="wavelet", quality=levels[0])       # warm-up (weights, tables)
    rows = []
    for q in levels:
        mp = sum(it.data.shape[0] * it.data.shape[1] for it in items) / 1e6
        ec = ew = dc = dw = 0.0
        for it in items:
            c0, w0 = time.process_time(), time.perf_counter()
            data = api.compress_items([it], codec="wavelet", quality=q, archive=False).data
            c1, w1 = time.process_time(), time.perf_counter()
            api.decompress_bytes(data)
            c2, w2 = time.process_time(), time.perf_counter()
            ec, ew, dc, dw = ec + c1 - c0, ew + w1 - w0, dc + c2 - c1, dw + w2 - w1
        rows.append({"quality": q, "enc_MPps_cpu": mp / ec, "dec_MPps_cpu": mp / dc,
                     "enc_MPps_wall": mp / ew, "dec_MPps_wall": mp / dw})
    return rows


def seg_snr(ref: np.ndarray, dec: np.ndarray, frame: int = 256) -> float:
    """Segmental SNR in dB: per-frame SNR clipped to [-10, 35] dB, averaged over frames."""
    a = ref.astype(np.float64).reshape(-1)
    e = a - dec.astype(np.float64).reshape(-1)
    n = len(a) // frame
    if n == 0:
        return float("nan")
    ps = (a[:n * frame].reshape(n, frame) ** 2).sum(1)
    pe = (e[:n * frame].reshape(n, frame) ** 2).sum(1)
    s = 10 * np.log10((ps + 1e-10) / (pe + 1e-10))
    return float(np.clip(s, -10, 35).mean())


def audio_sweep(limit: int | None, levels: list[int], codecs: list[str]) -> list[dict]:
    """FSDD test: bits/sample (real file bytes) vs SNR and segmental SNR for wavelet, Opus, FLAC."""
    from .. import api
    from ..codecs.base import available
    from ..io import read_item
    from .. import data as D
    paths = D.paths("fsdd", "test")
    paths = paths[:: max(1, len(paths) // limit)][:limit] if limit else paths
    items = [read_item(p) for p in paths]
    have = available()
    plan = [("wavelet", q) for q in levels if "wavelet" in codecs]
    plan += [("opus", k) for k in OPUS_KBPS if "opus" in have and "opus" in codecs]
    plan += [("flac", 8)] if "flac" in have and "flac" in codecs else []
    points = []
    for codec, q in plan:
        bits = samples = 0
        snrs, segs = [], []
        for it in items:
            data = api.compress_items([it], codec=codec, quality=q, archive=False).data
            dec = api.decompress_bytes(data)[0].data
            bits += 8 * len(data)
            samples += it.data.shape[0]
            a = it.data.astype(np.float64)
            err = float(np.mean((a - dec.astype(np.float64)) ** 2))
            snrs.append(10 * np.log10(np.mean(a ** 2) / err) if err > 0 else math.inf)
            segs.append(seg_snr(it.data, dec))
        finite = [s for s in snrs if math.isfinite(s)]
        points.append({"dataset": "fsdd-test", "codec": codec, "quality": q, "items": len(items),
                       "rate": bits / samples, "rate_unit": "bits/sample",
                       "snr": float(np.mean(finite)) if finite else None,
                       "seg_snr": float(np.mean(segs)), "exact": all(math.isinf(s) for s in snrs)})
    return points


def plot(points: list[dict], path: Path) -> Path:
    """2x2 panels: Kodak PSNR, Kodak MS-SSIM, BSDS500 PSNR, FSDD SNR."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(2, 2, figsize=(11, 8.5))
    panels = [("kodak", "psnr", "Kodak: PSNR (dB)"), ("kodak", "ms_ssim", "Kodak: MS-SSIM"),
              ("bsds500-test", "psnr", "BSDS500 test: PSNR (dB)"), ("fsdd-test", "snr", "FSDD test: SNR (dB)")]
    for ax, (ds, metric, title) in zip(axes.flat, panels):
        codecs = sorted({p["codec"] for p in points if p["dataset"] == ds})
        for c in codecs:
            r, m = _curve(points, c, metric, ds)
            if r:
                ax.plot(r, m, marker="o", ms=3.5, lw=2.4 if c == "wavelet" else 1.3,
                        label=c, color="k" if c == "wavelet" else None)
        if ds == "kodak" and metric == "psnr":
            for name, pts in PUBLISHED.items():
                ax.plot(*zip(*pts), marker="x", ls=":", lw=1, label=f"{name} (published)")
        ax.set_title(title)
        ax.set_xlabel("bits/sample" if ds.startswith("fsdd") else "bpp (real file bytes)")
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=7)
        if not ds.startswith("fsdd"):
            ax.set_xlim(0, 2.2)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; see --help for the subset options."""
    ap = argparse.ArgumentParser(prog="ncodec bench wavelet")
    ap.add_argument("--kodak", type=int, default=24, help="number of Kodak images (0: skip)")
    ap.add_argument("--bsds", type=int, default=200, help="number of BSDS500 test images (0: skip)")
    ap.add_argument("--fsdd", type=int, default=300, help="number of FSDD test clips (0: skip)")
    ap.add_argument("--levels", default="1,2,3,4,5,6,7,8")
    ap.add_argument("--anchors", default=",".join(IMAGE_ANCHORS))
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--plot", default=None, help="PNG path (default docs/wavelet_rd.png)")
    ap.add_argument("--reuse-anchors", default=None,
                    help="rows JSON of an earlier run (benchmarks/results/wavelet_rows.json): reuse its anchor "
                         "codec rows instead of recomputing them (same data subsets)")
    ap.add_argument("--only-anchors", action="store_true", help="compute and store anchor rows only")
    args = ap.parse_args(argv)
    import torch
    torch.set_num_threads(args.threads)
    from ..eval.sweep import aggregate
    levels = [int(v) for v in args.levels.split(",")]
    anchors = [a for a in args.anchors.split(",") if a]
    rows: list[dict] = []
    t0 = time.time()
    import json
    reused: list[dict] = []
    if args.reuse_anchors:
        lim = {"kodak": args.kodak, "bsds500-test": args.bsds}
        reused = [r for r in json.loads(Path(args.reuse_anchors).read_text())["rows"] if r["codec"] != "wavelet"
                  and (r["dataset"] not in lim or r.get("index", 0) < lim[r["dataset"]])]
    have = {(r["dataset"], r["codec"]) for r in reused}
    ours = [] if args.only_anchors else ["wavelet"]
    for ds, n in (("kodak", args.kodak), ("bsds500-test", args.bsds)):
        if n:
            rows += image_sweep(ds, n, ours + [a for a in anchors if (ds, a) not in have], levels)
    rows += [r for r in reused if r["dataset"] in ("kodak", "bsds500-test")]
    audio_codecs = ours + [c for c in ("opus", "flac") if ("fsdd-test", c) not in have]
    if args.fsdd:
        rows += audio_sweep(args.fsdd, levels, audio_codecs)
    rows += [r for r in reused if r["dataset"] == "fsdd-test"]
    write_results("wavelet_rows", rows, args=vars(args))
    if args.only_anchors:
        return 0
    points = aggregate([r for r in rows if r.get("kind", "rd") == "rd" and r["dataset"] != "fsdd-test"])
    errors = [r for r in rows if r.get("error")]
    points += [r for r in rows if r["dataset"] == "fsdd-test"]
    spd = speed(levels, 2) if args.kodak else []

    # ---- tables
    for ds in ("kodak", "bsds500-test"):
        sel = [p for p in points if p["dataset"] == ds]
        if sel:
            print_table(sel, ["codec", "quality", "items", "rate", "psnr", "ms_ssim", "enc_ms", "dec_ms"],
                        title=f"\n{ds}: bpp from real file bytes")
    bd = []
    for ds in ("kodak", "bsds500-test"):
        for metric in ("psnr", "ms_ssim"):
            rt, qt = _curve(points, "wavelet", metric, ds)
            if len(rt) < 2:
                continue
            for a in anchors:
                ra, qa = _curve(points, a, metric, ds)
                if len(ra) >= 2:
                    bd.append({"dataset": ds, "metric": metric, "anchor": a, "bd_rate_pct": bd_rate(ra, qa, rt, qt)})
            if ds == "kodak" and metric == "psnr":
                for name in ("bmshj2018-factorized", "bmshj2018-hyperprior"):
                    ra, qa = zip(*PUBLISHED[name])
                    bd.append({"dataset": ds, "metric": metric, "anchor": name + " (published)",
                               "bd_rate_pct": bd_rate(list(ra), list(qa), rt, qt)})
    if bd:
        print_table(bd, ["dataset", "metric", "anchor", "bd_rate_pct"],
                    title="\nBD-rate of wavelet vs anchor (% bits at equal quality; negative = fewer bits)")
    au = [p for p in points if p["dataset"] == "fsdd-test"]
    if au:
        print_table(au, ["codec", "quality", "items", "rate", "snr", "seg_snr"], title="\nFSDD test (bits/sample)")
    if spd:
        print_table(spd, ["quality", "enc_MPps_cpu", "dec_MPps_cpu", "enc_MPps_wall", "dec_MPps_wall"],
                    title="\nwavelet speed, Kodak, whole pipeline, 1 thread (MP/s)")
    png = plot(points, Path(args.plot) if args.plot else results_dir().parent.parent / "docs" / "wavelet_rd.png")
    from ..weights import manifest
    out = write_results("wavelet", points, bd_rates=bd, speed=spd, errors=len(errors),
                        error_examples=[e["error"] for e in errors[:5]], plot=str(png),
                        args=vars(args), seconds=round(time.time() - t0, 1),
                        weights={k: {f: v.get(f) for f in ("sha256", "steps", "train_cpu_s", "command")}
                                 for k, v in manifest().items() if k.startswith("wavelet_")},
                        published=PUBLISHED)
    print(f"\nwrote {out} and {png}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
