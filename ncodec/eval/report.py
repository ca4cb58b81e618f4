"""One Markdown page for a results file: R-D tables, BD-rate against an anchor, downstream-task
tables (accuracy, feature distance, lowest rate within 1 point of clean) and linked PNG plots."""
from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Sequence

from .bd import bd_rows
from .downstream import lowest_rate_within
from .sweep import aggregate


def fmt(v, digits: int = 4) -> str:
    """A table cell: floats to ``digits`` significant digits, None/NaN as '–'."""
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "–"
    if isinstance(v, float):
        return f"{v:.{digits}g}"
    return str(v)


def md_table(rows: Sequence[dict], cols: Sequence[tuple[str, str]]) -> str:
    """A GitHub Markdown table of ``rows`` with (key, header) columns."""
    lines = ["| " + " | ".join(h for _, h in cols) + " |", "|" + "---|" * len(cols)]
    for r in rows:
        lines.append("| " + " | ".join(fmt(r.get(k)) for k, _ in cols) + " |")
    return "\n".join(lines)


def render(data: dict, out_path: str | Path, anchor: str = "webp", title: str = "ncodec evaluation",
           plots: bool = True) -> Path:
    """Write the Markdown report (and its PNGs beside it); returns the .md path."""
    from .plots import plot_results
    out = Path(out_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    rows = data.get("rows", [])
    pngs = plot_results(data, out.parent, stem=out.stem) if plots else []
    lines = [f"# {title}", ""]
    if data.get("updated"):
        lines += [f"Results file updated {data['updated']}. Rates are real file bytes × 8 (container header "
                  "included) divided by pixels (bpp) or samples.", ""]
    pts = aggregate(rows)
    for ds in sorted({p["dataset"] for p in pts}):
        sub = [p for p in pts if p["dataset"] == ds]
        lines += [f"## Rate–distortion: {ds}", ""]
        cols = [("codec", "codec"), ("quality", "q"), ("items", "items"), ("rate", sub[0]["rate_unit"] or "rate"),
                ("psnr", "PSNR dB")]
        if any(p.get("ms_ssim") is not None for p in sub):
            cols.append(("ms_ssim", "MS-SSIM"))
        if any(p.get("snr") is not None for p in sub):
            cols.append(("snr", "SNR dB"))
        cols += [("exact_items", "exact"), ("enc_ms", "enc ms/item"), ("dec_ms", "dec ms/item"),
                 ("enc_cpu_ms", "enc CPU ms/item"), ("dec_cpu_ms", "dec CPU ms/item"), ("errors", "errors")]
        lines += [md_table(sub, cols), ""]
        bdr = bd_rows(sub, ds, anchor)
        if bdr:
            lines += [f"BD-rate against **{anchor}** (pchip in log-rate; negative = fewer bits for the same quality):",
                      "", md_table(bdr, [("codec", "codec"), ("points", "points"), ("bd_rate_psnr", "BD-rate PSNR %"),
                                         ("bd_rate_msssim", "BD-rate MS-SSIM %"), ("bd_psnr", "BD-PSNR dB")]), ""]
        errs = [p for p in sub if p.get("error")]
        for p in errs:
            lines.append(f"- {p['codec']} q{p['quality']}: every item failed: {p['error']}")
        png = next((p for p in pngs if p.name == f"{out.stem}_rd_{_slug(ds)}.png"), None)
        if png:
            lines += [f"![{ds} R-D]({os.path.relpath(png, out.parent)})", ""]
    task_rows = [r for r in rows if r.get("kind") == "task"]
    for ds in sorted({r["dataset"] for r in task_rows}):
        sub = sorted((r for r in task_rows if r["dataset"] == ds),
                     key=lambda r: (r["codec"] != "original", r["codec"], r.get("rate") or 0))
        clean = sub[0].get("clean_accuracy")
        lines += [f"## Downstream task: {ds}", "",
                  f"Shipped classifier, clean top-1 accuracy {fmt(100 * clean if clean is not None else None)}% on "
                  f"{sub[0].get('n')} test items ({sub[0].get('subset', '')}). Feature distance: LPIPS-style distance "
                  "between the classifier's channel-normalised block activations on original vs decoded data.", "",
                  md_table([dict(r, accuracy_pct=100 * r["accuracy"] if r.get("accuracy") is not None else None)
                            for r in sub],
                           [("codec", "codec"), ("quality", "q"), ("rate", sub[0].get("rate_unit", "rate")),
                            ("accuracy_pct", "accuracy %"), ("acc_drop_pts", "drop (pts)"), ("feat_dist", "feature dist"),
                            ("psnr", "PSNR dB")] + ([("snr", "SNR dB")] if any(r.get("snr") is not None for r in sub)
                                                    else []) + [("errors", "errors")]), ""]
        low = [dict(r, accuracy_pct=100 * r["accuracy"] if r.get("accuracy") is not None else None)
               for r in lowest_rate_within(sub)]
        if low:
            lines += ["Lowest rate at which accuracy stays within 1 point of clean (at that and every higher level swept):",
                      "", md_table(low, [("codec", "codec"), ("min_rate", sub[0].get("rate_unit", "rate")),
                                         ("quality", "q"), ("accuracy_pct", "accuracy %"),
                                         ("lowest_rate_swept", "lowest rate swept")]), ""]
        png = next((p for p in pngs if p.name == f"{out.stem}_task_{_slug(ds)}.png"), None)
        if png:
            lines += [f"![{ds} accuracy]({os.path.relpath(png, out.parent)})", ""]
    if len(lines) <= 4:
        lines += ["(no rows)", ""]
    out.write_text("\n".join(lines))
    return out


def _slug(s: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in s)
