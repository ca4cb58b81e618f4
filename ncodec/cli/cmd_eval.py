"""``ncodec eval rd|bd|task|report|plot``: R-D sweeps, BD-rate tables, downstream-task accuracy on
decoded data, a Markdown report and PNG plots (logic lives in ncodec.eval)."""
from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import InputError


def _codecs(text: str) -> list[str]:
    names = [c.strip() for c in text.split(",") if c.strip()]
    if not names:
        raise InputError("--codec needs at least one codec name")
    return names


def parse_levels(specs: list[str] | None) -> dict[str, list[int]]:
    """``['10,30,50']`` (all codecs) or ``['webp=10,30', 'jpeg=20,40']`` -> {codec or '*': levels}."""
    out: dict[str, list[int]] = {}
    for s in specs or []:
        key, _, vals = s.rpartition("=")
        try:
            out[key or "*"] = [int(v) for v in vals.split(",") if v.strip()]
        except ValueError as exc:
            raise InputError(f"bad --levels {s!r} (want e.g. 10,30,50 or webp=10,30)") from exc
    return out


def codec_options(pairs: list[str], codecs: list[str]) -> dict[str, dict[str, str]]:
    """``-O [CODEC:]KEY=VALUE`` arguments -> {codec: {key: value}} for the listed codecs."""
    from ..codecs.base import parse_option_args
    out: dict[str, dict[str, str]] = {}
    for pair in pairs:
        head, _, rest = pair.partition("=")
        name, colon, key = head.rpartition(":")
        targets = [name] if colon else codecs
        if colon and name not in codecs:
            raise InputError(f"-O {pair}: codec {name!r} is not in --codec")
        for c in targets:
            out.setdefault(c, {}).update(parse_option_args([f"{key}={rest}" if colon else pair]))
    return out


def _common(p) -> None:
    p.add_argument("--codec", required=True, help="comma-separated codec names (see ncodec list)")
    p.add_argument("--levels", action="append", help="quality levels: 10,30,50 or CODEC=10,30 (repeatable)")
    p.add_argument("--limit", type=int, default=None, help="use only this many test items")
    p.add_argument("--workers", type=int, default=None, help="processes (default: up to 2)")
    p.add_argument("--no-merge", action="store_true", help="overwrite the results file instead of merging")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("-O", "--option", action="append", default=[], metavar="[CODEC:]KEY=VALUE",
                   help="codec option (repeatable), e.g. -O wavelet:weights=mywave; without CODEC: for every "
                        "codec listed. Rows of a codec with options are labelled CODEC[KEY=VALUE,...]")


def register(sub) -> None:
    p = sub.add_parser("eval", help="rate-distortion sweeps, BD-rate, downstream accuracy, reports")
    esub = p.add_subparsers(dest="eval_cmd", metavar="WHAT")
    esub.required = True

    rd = esub.add_parser("rd", help="sweep codecs x quality levels over a data set")
    _common(rd)
    rd.add_argument("--data", required=True, help="kodak, bsds500-test, mnist, fashion-mnist, fsdd, or a path")
    rd.add_argument("--out", default="eval_results.json", help="results JSON (a CSV is written beside it)")
    rd.add_argument("--batch", type=int, default=None,
                    help="code items in archives of N (one row per archive; e.g. MNIST digits)")
    rd.add_argument("--engine", choices=["local", "ray"], default="local",
                    help="local process pool (default) or Ray tasks (local Ray, or --ray-address)")
    rd.add_argument("--ray-address", default=None, help="an existing Ray cluster (default: start one here)")
    rd.set_defaults(func=run_rd)

    bd = esub.add_parser("bd", help="BD-rate / BD-PSNR table of a results file")
    bd.add_argument("results")
    bd.add_argument("--anchor", default="webp")
    bd.add_argument("--data", default=None, help="data set in the file (default: each)")
    bd.add_argument("--metric", default="psnr", choices=["psnr", "ms_ssim", "snr"])
    bd.set_defaults(func=run_bd)

    tk = esub.add_parser("task", help="classifier accuracy on decoded test data per quality level")
    _common(tk)
    tk.add_argument("--task", required=True, help="mnist, fashion-mnist or fsdd")
    tk.add_argument("--out", default="eval_results.json")
    tk.add_argument("--domain", choices=["pixel", "latent"], default="pixel",
                    help="pixel: shipped classifier on decoded data; latent: train on the wavelet codec's "
                         "dequantized latents (no synthesis) beside a pixel classifier on the same files")
    tk.add_argument("--train", type=int, default=10000, help="--domain latent: train records (0: whole split)")
    tk.add_argument("--epochs", type=float, default=3.0, help="--domain latent: training epochs")
    tk.set_defaults(func=run_task)

    rp = esub.add_parser("report", help="write a Markdown page (tables + PNG plots) for a results file")
    rp.add_argument("results")
    rp.add_argument("-o", "--output", default=None, help="Markdown path (default: RESULTS.md)")
    rp.add_argument("--anchor", default="webp")
    rp.add_argument("--title", default="ncodec evaluation")
    rp.set_defaults(func=run_report)

    pl = esub.add_parser("plot", help="PNG plots (R-D and accuracy curves) for a results file")
    pl.add_argument("results")
    pl.add_argument("--out-dir", default=None, help="folder (default: beside the results)")
    pl.set_defaults(func=run_plot)


def _load(path: str) -> dict:
    from ..eval.sweep import load_results
    if not Path(path).exists():
        raise InputError(f"no such results file ({path})")
    return load_results(path)


def run_rd(args: argparse.Namespace) -> int:
    from ..bench._common import print_table
    from ..eval.sweep import aggregate, load_dataset, run_sweep, save_results
    items = load_dataset(args.data, args.limit)
    codecs = _codecs(args.codec)
    rows = run_sweep(items, codecs, parse_levels(args.levels), dataset=args.data,
                     workers=args.workers, progress=not args.quiet, batch=args.batch,
                     engine=args.engine, ray_address=args.ray_address,
                     options=codec_options(args.option, codecs))
    out = save_results(args.out, rows, merge=not args.no_merge)
    pts = aggregate(rows)
    print_table(pts, ["codec", "quality", "items", "rate", "psnr", "ms_ssim", "snr", "enc_cpu_ms", "dec_cpu_ms",
                      "errors"],
                title=f"{args.data}: {len(items)} items (rate in {pts[0]['rate_unit'] if pts else '-'})")
    bad = sum(1 for r in rows if r.get("error"))
    if bad:
        print(f"{bad} item x level runs failed; see the 'error' column of {out}")
    print(f"wrote {out} and {out.with_suffix('.csv')}")
    return 0


def run_bd(args: argparse.Namespace) -> int:
    from ..bench._common import print_table
    from ..eval.bd import bd_table
    from ..eval.sweep import aggregate, curves
    pts = aggregate(_load(args.results)["rows"])
    sets = [args.data] if args.data else sorted({p["dataset"] for p in pts})
    if not sets:
        raise InputError(f"{args.results} has no rate-distortion rows")
    for ds in sets:
        cv = {k: v for k, v in curves(pts, args.metric, ds).items() if len(v[0]) >= 2}
        if args.anchor not in cv:
            print(f"{ds}: anchor {args.anchor!r} has no {args.metric} curve of 2+ levels; skipped")
            continue
        print_table(bd_table(cv, args.anchor), ["codec", "points", "bd_rate_pct", "bd_quality"],
                    title=f"{ds}: BD vs {args.anchor} on {args.metric} (bd_rate_pct: % rate; "
                          f"bd_quality: {'dB' if args.metric != 'ms_ssim' else 'MS-SSIM'})")
    return 0


def run_latent_task(args: argparse.Namespace) -> int:
    """Latent- vs pixel-domain accuracy and examples/s on the same wavelet files, per level."""
    import json
    from pathlib import Path

    from ..bench._common import print_table
    from ..data.latent_task import compare
    if _codecs(args.codec) != ["wavelet"]:
        raise InputError("--domain latent works on the wavelet codec's latents: use --codec wavelet")
    levels = parse_levels(args.levels) or {}
    qs = [int(q) for q in (levels.get("wavelet") or levels.get("*") or [1])]
    rows = [compare(args.task, q, args.train or None, args.limit, args.epochs, args.workers or 2)
            for q in qs]
    table = [{"quality": r["quality"], "rate": r["rate"], "latent_acc": r["latent"]["accuracy"],
              "pixel_acc": r["pixel"]["accuracy_trained_on_decoded"],
              "shipped_acc": r["pixel"]["accuracy_shipped_clean_classifier"],
              "latent_ex_s": r["latent"]["end_to_end_examples_per_s"],
              "pixel_ex_s": r["pixel"]["end_to_end_examples_per_s"]} for r in rows]
    print_table(table, list(table[0]), title=f"{args.task}: latent vs pixel domain, rate in {rows[0]['rate_unit']}")
    out = Path(args.out)
    old = json.loads(out.read_text()).get("latent_rows", []) if out.exists() and not args.no_merge else []
    keep = [r for r in old if (r["task"], r["quality"]) not in {(n["task"], n["quality"]) for n in rows}]
    data = json.loads(out.read_text()) if out.exists() and not args.no_merge else {"rows": []}
    data["latent_rows"] = keep + rows
    out.write_text(json.dumps(data, indent=1) + "\n")
    print(f"wrote {out}")
    return 0


def run_task(args: argparse.Namespace) -> int:
    if args.domain == "latent":
        return run_latent_task(args)
    from ..bench._common import print_table
    from ..eval.downstream import lowest_rate_within, run_task_eval
    from ..eval.sweep import save_results
    from ..eval.tasks import get_task
    get_task(args.task)
    codecs = _codecs(args.codec)
    rows = run_task_eval(args.task, codecs, parse_levels(args.levels), limit=args.limit,
                         workers=args.workers, progress=not args.quiet, options=codec_options(args.option, codecs))
    out = save_results(args.out, rows, merge=not args.no_merge)
    print_table(rows, ["codec", "quality", "rate", "accuracy", "acc_drop_pts", "feat_dist", "psnr", "errors"],
                title=f"{args.task}: {rows[0]['n']} test items ({rows[0]['subset']}), rate in {rows[0]['rate_unit']}")
    print_table(lowest_rate_within(rows), ["codec", "min_rate", "quality", "accuracy", "clean_accuracy"],
                title="lowest rate with accuracy within 1 point of clean")
    print(f"wrote {out}")
    return 0


def run_report(args: argparse.Namespace) -> int:
    from ..eval.report import render
    data = _load(args.results)
    out = Path(args.output) if args.output else Path(args.results).with_suffix(".md")
    render(data, out, anchor=args.anchor, title=args.title)
    print(f"wrote {out}")
    return 0


def run_plot(args: argparse.Namespace) -> int:
    from ..eval.plots import plot_results
    data = _load(args.results)
    out_dir = Path(args.out_dir) if args.out_dir else Path(args.results).parent
    made = plot_results(data, out_dir, stem=Path(args.results).stem)
    for p in made:
        print(f"wrote {p}")
    if not made:
        print("nothing to plot (no rows with rates and metrics)")
    return 0
