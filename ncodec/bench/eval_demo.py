"""``ncodec bench eval_demo``: machine-perceptual and R-D evaluation of the registered codecs.

1. Accuracy of our shipped classifiers on decoded MNIST / Fashion-MNIST / FSDD test data per
   quality level, and the lowest rate at which accuracy stays within 1 point of clean.
2. Kodak R-D sweep of the lossy image codecs (6 levels each) with BD-rate against WebP.
Writes benchmarks/results/eval_results.{json,csv,md} (+ PNG plots) and eval_demo.json (summary).
"""
from __future__ import annotations

import argparse
import time

IMAGE_CODECS = ["jpeg", "webp", "avif", "jpegxl", "wavelet"]
AUDIO_CODECS = ["opus", "wavelet"]
LOSSLESS_REF = {"image": "jpegxl-lossless", "audio": "flac"}
# Task sweeps reach down to the lowest qualities: that is where classifiers start to fail.
TASK_LEVELS = {"jpeg": [1, 5, 10, 20, 40, 70, 90], "webp": [1, 5, 10, 20, 40, 70, 90],
               "avif": [1, 10, 20, 35, 50, 70, 90], "jpegxl": [1, 10, 25, 50, 70, 85, 95],
               "opus": [6, 8, 10, 12, 16, 24, 32]}


def _present(names: list[str], media: str) -> tuple[list[str], list[str]]:
    """(registered codecs that accept this media kind, the missing/refusing ones) from a candidate list."""
    import numpy as np
    from ..codecs import get_codec
    from ..codecs.base import available
    from ..item import Item
    probe = (Item.from_array(np.zeros((28, 28), np.uint8), "image") if media == "image"
             else Item.from_array(np.zeros(800, np.int16), "audio", sample_rate=8000))
    ok = []
    for n in names:
        if n not in available():
            continue
        try:
            get_codec(n).check(probe)
        except Exception:  # noqa: BLE001 - refuses this media kind
            continue
        ok.append(n)
    return ok, [n for n in names if n not in ok]


def _finish(out: str, summary: dict, timings: dict, private: bool):
    """Summarise the whole (merged) results file, render its report, write eval_demo.json."""
    import json
    from pathlib import Path
    from ..eval.bd import bd_rows
    from ..eval.downstream import lowest_rate_within
    from ..eval.report import render
    from ..eval.sweep import aggregate, load_results
    from ._common import write_results
    data = load_results(out)
    rows = data["rows"]
    summary_path = Path(out).with_name("eval_demo.json")
    if summary_path.exists():          # keep timings of parts not rerun this time
        try:
            timings = {**json.loads(summary_path.read_text()).get("timings", {}), **timings}
        except json.JSONDecodeError:
            pass
    task_rows = [{k: r.get(k) for k in ("dataset", "codec", "quality", "rate", "rate_unit", "accuracy",
                                        "clean_accuracy", "acc_drop_pts", "feat_dist", "psnr", "snr", "n", "subset",
                                        "errors", "error")} for r in rows if r.get("kind") == "task"]
    kodak = [p for p in aggregate(rows) if p["dataset"] == "kodak"]
    summary.update(lowest_rate_within_1pt=lowest_rate_within(rows), kodak=kodak,
                   kodak_bd_vs_webp=bd_rows(kodak, "kodak", "webp"), timings=timings)
    md = render(data, out.replace(".json", ".md"), anchor="webp", title="ncodec evaluation: classical codecs (eval_demo)")
    if private:   # a private run: keep the summary beside its results, not in benchmarks/results
        summary_path.write_text(json.dumps({**summary, "rows": task_rows}, indent=1, default=str) + "\n")
        path = summary_path
    else:
        path = write_results("eval_demo", task_rows, **summary, results_file=out, report=str(md))
    return md, path


def main(argv: list[str] | None = None) -> int:
    """Run the tasks and the Kodak sweep; print tables; write results JSON, report and plots."""
    from ..eval.bd import bd_rows
    from ..eval.downstream import lowest_rate_within, run_task_eval
    from ..eval.roundtrip import cpu_seconds
    from ..eval.sweep import aggregate, load_dataset, run_sweep, save_results
    from ._common import print_table, results_dir

    p = argparse.ArgumentParser(prog="ncodec bench eval_demo", description=__doc__)
    p.add_argument("--tasks", default="mnist,fashion-mnist,fsdd")
    p.add_argument("--task-limit", type=int, default=2000, help="test items per image task (FSDD: all 300)")
    p.add_argument("--image-codecs", default=",".join(IMAGE_CODECS))
    p.add_argument("--audio-codecs", default=",".join(AUDIO_CODECS))
    p.add_argument("--kodak-limit", type=int, default=None)
    p.add_argument("--skip-kodak", action="store_true")
    p.add_argument("--skip-tasks", action="store_true")
    p.add_argument("--workers", type=int, default=None)
    p.add_argument("--out", default=None, help="results JSON (default benchmarks/results/eval_results.json)")
    args = p.parse_args(argv)

    out = args.out or str(results_dir() / "eval_results.json")
    default_lists = args.image_codecs == ",".join(IMAGE_CODECS) and args.audio_codecs == ",".join(AUDIO_CODECS)
    img, img_missing = _present(args.image_codecs.split(","), "image")
    aud, aud_missing = _present(args.audio_codecs.split(","), "audio")
    summary: dict = {"image_codecs": img, "audio_codecs": aud, "image_codecs_skipped": img_missing,
                     "audio_codecs_skipped": aud_missing}
    timings: dict = {}
    print(f"image codecs: {', '.join(img)} (not registered or refusing images: {', '.join(img_missing) or 'none'})")
    print(f"audio codecs: {', '.join(aud)} (not registered or refusing audio: {', '.join(aud_missing) or 'none'})")
    if not args.skip_tasks:
        for task in [t for t in args.tasks.split(",") if t]:
            media = "audio" if task == "fsdd" else "image"
            codecs = (aud if media == "audio" else img) + [LOSSLESS_REF[media]]
            limit = None if media == "audio" else args.task_limit
            t0, c0 = time.time(), cpu_seconds()
            rows = run_task_eval(task, codecs, {c: lv for c, lv in TASK_LEVELS.items()}, limit=limit,
                                 workers=args.workers)
            tag = task if default_lists else f"{task}[{','.join(codecs)}]"
            timings[f"task_{tag}_s"] = round(time.time() - t0, 1)
            timings[f"task_{tag}_cpu_s"] = round(cpu_seconds() - c0, 1)
            save_results(out, rows)
            print_table(rows, ["codec", "quality", "rate", "accuracy", "acc_drop_pts", "feat_dist", "psnr", "snr", "errors"],
                        title=f"{task}: {rows[0]['n']} test items ({rows[0]['subset']}), rate in {rows[0]['rate_unit']}"
                              f" (real archive bytes)")
            low = lowest_rate_within(rows)
            print_table(low, ["codec", "min_rate", "quality", "accuracy", "clean_accuracy", "lowest_rate_swept",
                              "accuracy_at_lowest"], title=f"{task}: lowest rate with accuracy within 1 point of clean")
    if not args.skip_kodak:
        items = load_dataset("kodak", args.kodak_limit)
        t0, c0 = time.time(), cpu_seconds()
        rows = run_sweep(items, img, dataset="kodak", workers=args.workers)
        tag = "kodak_sweep" if img == ["jpeg", "webp", "avif", "jpegxl"] else f"kodak_sweep[{','.join(img)}]"
        timings[f"{tag}_s"] = round(time.time() - t0, 1)
        timings[f"{tag}_cpu_s"] = round(cpu_seconds() - c0, 1)
        timings[f"{tag}_codecs"] = img
        for c in img:
            timings[f"kodak_{c}_codec_s"] = round(sum((r.get("enc_s") or 0) + (r.get("dec_s") or 0) for r in rows
                                                      if r["codec"] == c), 1)
            timings[f"kodak_{c}_codec_cpu_s"] = round(sum((r.get("enc_cpu_s") or 0) + (r.get("dec_cpu_s") or 0)
                                                          for r in rows if r["codec"] == c), 1)
        save_results(out, rows)
        pts = aggregate(rows)
        print_table(pts, ["codec", "quality", "items", "rate", "psnr", "ms_ssim", "enc_cpu_ms", "dec_cpu_ms", "errors"],
                    title=f"Kodak ({len(items)} images), bpp from real file bytes; sweep took {timings[tag + '_s']} s")
        bdp = bd_rows(pts, "kodak", "webp")
        if bdp:
            print_table(bdp, ["codec", "points", "bd_rate_psnr", "bd_psnr", "bd_rate_msssim"],
                        title="Kodak BD vs WebP (BD-rate % on PSNR and on MS-SSIM, BD-PSNR dB)")
    md, path = _finish(out, summary, timings, private=bool(args.out))
    print(f"wrote {out}, {md} and {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
