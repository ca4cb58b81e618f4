"""``ncodec bench wavelet``: R-D of the wavelet codec on Kodak, BSDS500 test and FSDD test beside
JPEG/WebP/AVIF/JPEG-XL (images) and Opus/FLAC (audio), BD-rates, coding speed; real file bytes.

A configuration of ``ncodec.eval`` sweeps: every codec runs in the same process and the same run
(one thread), so the speed table compares them per CPU second. Writes
benchmarks/results/wavelet.json (+ wavelet_rows.json) and docs/wavelet_rd.png; prints the tables.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

from ._common import print_table, results_dir, write_results

IMAGE_ANCHORS = ["jpeg", "webp", "avif", "jpegxl"]
# dense anchor sweeps down to the lowest rates (where a learned codec is weakest; issue 14)
ANCHOR_LEVELS = {"webp": [1, 2, 3, 5, 7, 10, 15, 20, 30, 40, 50, 60, 70, 80, 90, 95],
                 "jpeg": [1, 3, 5, 10, 15, 25, 45, 65, 80, 92],
                 "avif": [5, 10, 15, 20, 28, 35, 42, 50, 62, 75, 88],
                 "jpegxl": [5, 10, 15, 22, 30, 40, 50, 70, 85, 95]}
AUDIO_ANCHORS = {"opus": [6, 8, 12, 16, 24, 32], "flac": [8]}    # Opus levels are kb/s
# CompressAI's published Kodak points (bpp, PSNR), quoted in DESIGN.md
PUBLISHED = {"bmshj2018-factorized": [(0.123, 26.91), (0.440, 31.28)],
             "bmshj2018-hyperprior": [(0.131, 27.58), (0.478, 32.84)],
             "mbt2018 q4": [(0.432, 33.09)], "cheng2020-anchor q4": [(0.417, 33.39)],
             "WaLLoC (LSDIR, 16x)": [(0.682, 27.45)]}
IMAGE_SETS = ("kodak", "bsds500-test")
AUDIO_SET = "fsdd-test"


def _curve(points: list[dict], codec: str, metric: str, dataset: str) -> tuple[list, list]:
    pts = sorted((p["rate"], p[metric]) for p in points
                 if p["codec"] == codec and p["dataset"] == dataset and p.get("rate") and p.get(metric) is not None)
    return [r for r, _ in pts], [m for _, m in pts]


def sweep_rows(dataset: str, items: list, codecs: list[str], levels: dict[str, list[int]]) -> list[dict]:
    """Rows (one per item x codec x level) through the real file format, in this process (one
    thread), after one warm-up encode of ``wavelet`` so loading its weights is not timed."""
    from .. import api
    from ..eval.sweep import run_sweep
    if not codecs or not items:
        return []
    if "wavelet" in codecs:
        api.compress_items(items[:1], codec="wavelet", quality=levels["wavelet"][0])
    return run_sweep(items, codecs, levels, dataset=dataset, workers=1)


def reused_rows(path: Path, anchors: list[str], counts: dict[str, int]) -> list[dict]:
    """Rows of ``anchors`` from an earlier run's rows file, for the same images (the first ``counts[ds]``
    of each data set); refuses a file that lacks any of them."""
    import json
    blob = json.loads(path.read_text())
    rows = blob.get("rows", blob) if isinstance(blob, dict) else blob
    out = [r for r in rows if r.get("codec") in anchors and r.get("dataset") in counts
           and int(r.get("index", 0)) < counts[r["dataset"]]]
    for ds, n in counts.items():
        for a in anchors:
            have = {int(r.get("index", 0)) for r in out if r["dataset"] == ds and r["codec"] == a}
            if n and len(have) < n:
                raise SystemExit(f"--reuse-anchors {path}: {a} on {ds} has {len(have)} of {n} images")
    return out


def fsdd_items(limit: int | None) -> list:
    """FSDD test clips, ``limit`` of them spread evenly over speakers and digits."""
    from .. import data as D
    items = D.load("fsdd", "test")
    return items[:: max(1, len(items) // limit)][:limit] if limit else items


def speed(points: list[dict]) -> list[dict]:
    """Megapixels (or megasamples) per CPU second and per wall second, encode and decode, per
    codec and level: whole pipeline (model + entropy coding + container), one thread."""
    from ..eval.roundtrip import ratio
    return [{"dataset": p["dataset"], "codec": p["codec"], "quality": p["quality"],
             **{f"{side}_MPps_{clock}": ratio((p.get("units") or 0) / 1e6, p.get(f"{side}_{key}"))
                for side in ("enc", "dec") for clock, key in (("cpu", "cpu_s"), ("wall", "s"))}}
            for p in points if p["dataset"] != AUDIO_SET or p["codec"] == "wavelet"]


def bd_rates(points: list[dict], anchors: list[str]) -> list[dict]:
    """BD-rate of ``wavelet`` against each anchor (and the published Kodak curves), per data set and metric."""
    from ..eval.bd import bd_rate
    out = []
    for ds in IMAGE_SETS:
        for metric in ("psnr", "ms_ssim"):
            rt, qt = _curve(points, "wavelet", metric, ds)
            if len(rt) < 2:
                continue
            curves = {a: _curve(points, a, metric, ds) for a in anchors}
            if ds == "kodak" and metric == "psnr":
                curves.update({f"{n} (published)": tuple(map(list, zip(*PUBLISHED[n])))
                               for n in ("bmshj2018-factorized", "bmshj2018-hyperprior")})
            out += [{"dataset": ds, "metric": metric, "anchor": a, "bd_rate_pct": bd_rate(ra, qa, rt, qt)}
                    for a, (ra, qa) in curves.items() if len(ra) >= 2]
    return out


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
    ap = argparse.ArgumentParser(prog="ncodec bench wavelet", description=__doc__)
    ap.add_argument("--kodak", type=int, default=24, help="number of Kodak images (0: skip)")
    ap.add_argument("--bsds", type=int, default=200, help="number of BSDS500 test images (0: skip)")
    ap.add_argument("--fsdd", type=int, default=300, help="number of FSDD test clips (0: skip)")
    ap.add_argument("--levels", default="1,2,3,4,5,6,7,8,9,10")
    ap.add_argument("--anchor-levels", action="append", default=[], metavar="CODEC=Q1,Q2,...",
                    help="an anchor's quality levels (repeatable; default: the dense ANCHOR_LEVELS sweeps)")
    ap.add_argument("--anchors", default=",".join(IMAGE_ANCHORS))
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--plot", default=None, help="PNG path (default docs/wavelet_rd.png)")
    ap.add_argument("--only-anchors", action="store_true",
                    help="run the image anchors alone (no wavelet, no audio): rows for a later --reuse-anchors")
    ap.add_argument("--reuse-anchors", default=None, metavar="ROWS_JSON",
                    help="take the rows of these anchors (all but --fresh-anchors) from an earlier run's "
                         "wavelet_rows.json instead of coding them again")
    ap.add_argument("--fresh-anchors", default="webp", help="anchors coded in this run even with --reuse-anchors "
                    "(default webp: the speed comparison needs one classical codec in the same run)")
    args = ap.parse_args(argv)
    import torch
    from .. import data as D
    from ..codecs.base import available
    from ..eval.sweep import aggregate
    torch.set_num_threads(args.threads)
    levels = [int(v) for v in args.levels.split(",")]
    anchors = [a for a in args.anchors.split(",") if a]
    anchor_levels = dict(ANCHOR_LEVELS)
    for spec in args.anchor_levels:
        name, _, qs = spec.partition("=")
        anchor_levels[name] = [int(v) for v in qs.split(",") if v]
    have = available()
    t0 = time.time()
    rows: list[dict] = []
    coded = list(anchors)
    if args.reuse_anchors:
        fresh = set(args.fresh_anchors.split(","))
        coded = [a for a in anchors if a in fresh]
        rows += reused_rows(Path(args.reuse_anchors), [a for a in anchors if a not in fresh],
                            {ds: n for ds, n in zip(IMAGE_SETS, (args.kodak, args.bsds))})
    run = coded if args.only_anchors else ["wavelet"] + coded
    for ds, n in zip(IMAGE_SETS, (args.kodak, args.bsds)):
        if n:
            rows += sweep_rows(ds, D.load(ds, "test", n), run,
                               {"wavelet": levels, **{a: anchor_levels[a] for a in anchors if a in anchor_levels}})
    if args.only_anchors:
        out = write_results("wavelet_anchor_rows", rows, args=vars(args))
        print(f"wrote {out}")
        return 0
    if args.fsdd:
        audio = {"wavelet": levels, **{c: lv for c, lv in AUDIO_ANCHORS.items() if c in have}}
        rows += sweep_rows(AUDIO_SET, fsdd_items(args.fsdd), list(audio), audio)
    write_results("wavelet_rows", rows, args=vars(args))
    points = aggregate(rows)
    errors = [r for r in rows if r.get("error")]
    spd = speed(points)
    bd = bd_rates(points, anchors)

    # ---- tables
    for ds in IMAGE_SETS:
        sel = [p for p in points if p["dataset"] == ds]
        if sel:
            print_table(sel, ["codec", "quality", "items", "rate", "psnr", "ms_ssim", "enc_cpu_ms", "dec_cpu_ms"],
                        title=f"\n{ds}: bpp from real file bytes")
    if bd:
        print_table(bd, ["dataset", "metric", "anchor", "bd_rate_pct"],
                    title="\nBD-rate of wavelet vs anchor (% bits at equal quality; negative = fewer bits)")
    au = [p for p in points if p["dataset"] == AUDIO_SET]
    if au:
        print_table(au, ["codec", "quality", "items", "rate", "snr", "seg_snr"], title="\nFSDD test (bits/sample)")
    if spd:
        print_table(spd, ["dataset", "codec", "quality", "enc_MPps_cpu", "dec_MPps_cpu", "enc_MPps_wall",
                          "dec_MPps_wall"], title="\nspeed, whole pipeline, 1 thread (MP/s; FSDD: M samples/s)")
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
