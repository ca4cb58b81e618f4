"""Rate–distortion and rate–accuracy plots as PNG (matplotlib, Agg backend: no display needed)."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

LABELS = {"psnr": "PSNR (dB)", "ms_ssim": "MS-SSIM", "snr": "SNR (dB)", "accuracy": "top-1 accuracy (%)",
          "feat_dist": "deep-feature distance (lower is better)"}


def _series(points: Sequence[dict], metric: str, x: str = "rate") -> dict[str, list[tuple[float, float]]]:
    out: dict[str, list[tuple[float, float]]] = {}
    for p in points:
        if p.get(x) is None or p.get(metric) is None or p.get("codec") == "original":
            continue
        v = float(p[metric]) * (100.0 if metric == "accuracy" else 1.0)
        out.setdefault(p["codec"], []).append((float(p[x]), v))
    return {k: sorted(v) for k, v in sorted(out.items())}


def plot_curves(points: Sequence[dict], metrics: Sequence[str], path: str | Path, title: str = "",
                log_x: bool = False, clean: float | None = None) -> Path | None:
    """One panel per metric, one line per codec (rate on x); ``clean`` draws a reference accuracy.

    Returns the PNG path, or None when no metric has any point.
    """
    metrics = [m for m in metrics if _series(points, m)]
    if not metrics:
        return None
    unit = next((p.get("rate_unit") for p in points if p.get("rate_unit")), "bpp")
    fig, axes = plt.subplots(1, len(metrics), figsize=(5.2 * len(metrics), 4.0), squeeze=False)
    for ax, m in zip(axes[0], metrics):
        for codec, pts in _series(points, m).items():
            xs, ys = zip(*pts)
            if len(pts) == 1:      # a lossless codec or a single level: a point, not a curve
                ax.plot(xs, ys, marker="*", markersize=11, linestyle="none", label=codec)
            else:
                ax.plot(xs, ys, marker="o", markersize=4, linewidth=1.6, label=codec)
        if clean is not None and m == "accuracy":
            ax.axhline(100 * clean, color="k", linestyle="--", linewidth=1, label="clean")
            ax.axhline(100 * clean - 1, color="gray", linestyle=":", linewidth=1, label="clean − 1 pt")
        ax.set_xlabel(f"rate ({unit}, real file bytes)")
        ax.set_ylabel(LABELS.get(m, m))
        if log_x:
            from matplotlib.ticker import LogLocator, NullFormatter, ScalarFormatter
            ax.set_xscale("log")
            ax.xaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
            ax.xaxis.set_major_formatter(ScalarFormatter())
            ax.xaxis.set_minor_formatter(NullFormatter())
        ax.grid(True, alpha=0.3, which="both")
        ax.legend(fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def plot_results(data: dict, out_dir: str | Path, stem: str = "eval") -> list[Path]:
    """All plots a results file supports: R-D per data set, accuracy/feature distance per task."""
    from .sweep import aggregate
    out_dir = Path(out_dir)
    rows = data.get("rows", [])
    made: list[Path] = []
    pts = aggregate(rows)
    for ds in sorted({p["dataset"] for p in pts}):
        sub = [p for p in pts if p["dataset"] == ds]
        media_metrics = ["psnr", "ms_ssim"] if any(p.get("ms_ssim") is not None for p in sub) else ["psnr", "snr"]
        p = plot_curves(sub, media_metrics, out_dir / f"{stem}_rd_{_slug(ds)}.png", title=f"{ds}: rate–distortion")
        if p:
            made.append(p)
    task_rows = [r for r in rows if r.get("kind") == "task"]
    for ds in sorted({r["dataset"] for r in task_rows}):
        sub = [r for r in task_rows if r["dataset"] == ds]
        clean = next((r["clean_accuracy"] for r in sub if r.get("clean_accuracy") is not None), None)
        p = plot_curves(sub, ["accuracy", "feat_dist"], out_dir / f"{stem}_task_{_slug(ds)}.png",
                        title=f"{ds}: classifier on decoded test data", log_x=True, clean=clean)
        if p:
            made.append(p)
    return made


def _slug(s: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in s)
