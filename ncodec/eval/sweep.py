"""Rate–distortion sweeps: every quality level of each codec over a data set, each point one
``roundtrip`` through the real file format, one row per item (or batch archive) × codec × level.

Rows merge across runs (keyed by kind, dataset, item, codec, quality) in a JSON file with a CSV
copy beside it. A codec failure on one item becomes a row with ``error`` set, never a crash.
"""
from __future__ import annotations

import csv
import json
import math
import os
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from ..item import Item
from .metrics import rate_units
from .roundtrip import combine, roundtrip

ROW_KEY = ("kind", "dataset", "item", "codec", "quality")
DATASETS = ("kodak", "bsds500-test", "mnist", "fashion-mnist", "fsdd")

# ------------------------------------------------------------------ data

def load_dataset(name: str, limit: int | None = None) -> list[Item]:
    """Test items of a registered data set (``ncodec.data``), or the files of a folder / one file path."""
    from .. import data as D
    from ..errors import InputError
    p = Path(name)
    if name in D.SPLITS or name in D.ALIASES or not p.exists():
        if name not in D.SPLITS and name not in D.ALIASES:
            raise InputError(f"unknown data set {name!r} (have: {', '.join(DATASETS)}, or a path)")
        return D.load(name, "test", limit)
    from ..io import read_item
    files = sorted(f for f in p.iterdir() if f.is_file() and not f.name.startswith(".")) if p.is_dir() else [p]
    files = files[:limit] if limit else files
    if not files:
        raise InputError(f"{name}: no files")
    items = []
    for f in files:
        it = read_item(f)
        it.name = f.name
        items.append(it)
    return items


def codec_levels(codec: str, levels: Sequence[int] | None = None, n: int = 6) -> list[int]:
    """Quality levels to sweep: the ones asked for, else the codec's ``sweep_levels``, our table,
    or ``n`` levels spread inside its quality range; [default] for lossless codecs and codecs
    without a knob."""
    from ..codecs import get_codec
    c = get_codec(codec)
    if levels:
        return [int(q) for q in levels]
    if c.qualities is None or c.lossless:      # a lossless codec's knob is effort, not distortion
        return [c.resolve_quality(None)]
    if c.sweep_qualities is not None:
        return [int(q) for q in c.sweep_levels()]
    lo, hi = c.qualities
    if hi - lo + 1 <= n:
        return list(range(lo, hi + 1))
    return sorted({int(round(v)) for v in np.linspace(lo, hi, n + 2)[1:-1]})


# ------------------------------------------------------------------ one row

def label(codec: str, options: Mapping[str, Any] | None) -> str:
    """A results row's codec label: the name, with its options when any (``wavelet[weights=x]``)."""
    return f"{codec}[{','.join(f'{k}={v}' for k, v in sorted(options.items()))}]" if options else codec


def code_item(items: Item | Sequence[Item], codec: str, quality: int, dataset: str = "", index: int = 0,
              keep_names: bool = True, options: Mapping[str, Any] | None = None) -> dict:
    """One sweep row: ``roundtrip`` of one item (a single-record file) or of a list of items (a
    batch: one archive), labelled for the results file; a failure becomes a row with ``error`` set."""
    batch = not isinstance(items, Item)
    its = list(items) if batch else [items]
    units, unit = rate_units(its)
    name = f"batch{index}" if batch else (items.name or f"item{index}")
    row = {"kind": "rd", "dataset": dataset, "item": name, "index": index, "codec": label(codec, options),
           "quality": int(quality),
           "media": its[0].meta.media, "n": len(its), "units": int(units), "rate_unit": unit, "error": None}
    try:
        row.update(roundtrip(its, codec, quality, options=options, archive=batch, keep_names=keep_names))
    except Exception as exc:  # noqa: BLE001 - one bad item must not stop a sweep
        row["error"] = f"{type(exc).__name__}: {exc}"
    row["codec"] = label(codec, options)            # the trip's own row names the bare codec
    return row


def _job(args: tuple) -> list[dict]:
    items, codec, levels, dataset, index, keep_names, options = args
    return [code_item(items, codec, q, dataset, index, keep_names, options) for q in levels]


def _init_worker() -> None:
    try:
        import torch
        torch.set_num_threads(1)
    except Exception:  # noqa: BLE001
        pass


def default_workers() -> int:
    """At most 2 processes (the machine this was built for has 2 cores)."""
    return max(1, min(2, os.cpu_count() or 1))


def map_jobs(fn, jobs: list, workers: int | None, desc: str, progress: bool, engine: str = "local",
             ray_address: str | None = None) -> list:
    """``[fn(j) for j in jobs]`` in order, with a progress bar: in this process, over a spawn process
    pool when ``workers`` > 1, or as Ray tasks (``engine="ray"``: a local Ray started in-process with
    ``workers`` CPUs, or the cluster at ``ray_address``)."""
    from tqdm.auto import tqdm
    workers = default_workers() if workers is None else max(1, workers)
    bar = tqdm(total=len(jobs), desc=desc, disable=None if progress else True,    # None: only on a terminal
               dynamic_ncols=True)
    results: list = []
    if engine == "ray":
        results = _map_ray(fn, jobs, workers, ray_address, bar)
    elif workers == 1 or len(jobs) <= 1:
        for j in jobs:
            results.append(fn(j))
            bar.update(1)
    else:
        import multiprocessing as mp
        with ProcessPoolExecutor(workers, mp_context=mp.get_context("spawn"), initializer=_init_worker) as ex:
            for r in ex.map(fn, jobs):
                results.append(r)
                bar.update(1)
    bar.close()
    return results


def _map_ray(fn, jobs: list, workers: int, address: str | None, bar) -> list:
    """Ray tasks of ``fn`` over ``jobs``, results in job order (each task pins torch to one thread)."""
    from ..data.engines import ray_available
    from ..errors import InputError
    if not ray_available():
        raise InputError("--engine ray needs Ray: pip install 'ncodec[ray]'")
    import ray
    started = not ray.is_initialized()
    if started:
        ray.init(address=address, num_cpus=None if address else workers, include_dashboard=False,
                 log_to_driver=False, ignore_reinit_error=True)
    try:
        task = ray.remote(num_cpus=1)(_ray_call)
        refs = [task.remote(fn, j) for j in jobs]
        out = []
        for ref in refs:
            out.append(ray.get(ref))
            bar.update(1)
        return out
    finally:
        if started:
            ray.shutdown()


def _ray_call(fn, job):
    _init_worker()
    return fn(job)


def run_sweep(items: Sequence[Item], codecs: Sequence[str], levels: dict[str, list[int]] | None = None,
              dataset: str = "", workers: int | None = None, progress: bool = True, batch: int | None = None,
              keep_names: bool = True, engine: str = "local", ray_address: str | None = None,
              options: Mapping[str, Mapping[str, Any]] | None = None) -> list[dict]:
    """Rows for every item × codec × level; ``levels`` maps codec -> levels (default: codec_levels);
    ``options`` maps codec -> its codec options (rows then carry the label ``codec[k=v]``).

    ``batch`` codes items in archives of that many (e.g. 10k MNIST digits as one file): one row per
    batch instead of per item. ``workers`` > 1 runs (item or batch, codec) jobs in a spawn process
    pool; codecs must then be importable by name (codecs registered only inside a test need
    ``workers=1``).
    """
    levels, options = levels or {}, options or {}
    parts = list(items) if not batch else [list(items[i:i + batch]) for i in range(0, len(items), batch)]
    plan: dict[str, list[int]] = {}
    rows: list[dict] = []
    for c in codecs:
        try:
            plan[c] = codec_levels(c, levels.get(c) or levels.get("*"))
        except Exception as exc:  # noqa: BLE001 - unknown codec: one error row per item or batch
            rows += [dict(code_item(p, c, -1, dataset, i, keep_names, options.get(c)),
                          error=f"{type(exc).__name__}: {exc}")
                     for i, p in enumerate(parts)]
    jobs = [(p, c, plan[c], dataset, i, keep_names, options.get(c)) for c in plan for i, p in enumerate(parts)]
    for job_rows in map_jobs(_job, jobs, workers, f"rd {dataset}", progress, engine, ray_address):
        rows.extend(job_rows)
    rows.sort(key=lambda r: (r["codec"], r["quality"], r["index"]))
    return rows


# ------------------------------------------------------------------ results files

def _clean(v):
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, (np.floating, np.integer)):
        return v.item()
    return v


def load_results(path: str | Path) -> dict:
    """A results JSON ({"rows": [...], ...}); an empty one when the file does not exist."""
    p = Path(path)
    if not p.exists():
        return {"rows": []}
    try:
        data = json.loads(p.read_text())
    except json.JSONDecodeError as exc:
        from ..errors import InputError
        raise InputError(f"{p} is not a results JSON: {exc}") from exc
    if isinstance(data, list):
        data = {"rows": data}
    if "rows" not in data:
        from ..errors import InputError
        raise InputError(f"{p} has no 'rows'")
    return data


def merge_rows(old: Iterable[dict], new: Iterable[dict]) -> list[dict]:
    """Union of rows; a new row replaces an old one with the same (kind, dataset, item, codec, quality).

    Old rows of a (kind, dataset, codec) that the new rows measured with other weights or another
    codec version are dropped, so one curve never mixes two versions of a codec; a task curve
    (one row per level) is always replaced whole.
    """
    new = list(new)
    fresh = {(r.get("kind"), r.get("dataset"), r.get("codec")): (r.get("model_id"), r.get("codec_version"))
             for r in new if not r.get("error")}
    out: dict[tuple, dict] = {}
    for r in old:
        key = (r.get("kind"), r.get("dataset"), r.get("codec"))
        if key in fresh and (r.get("kind") == "task" or (r.get("model_id"), r.get("codec_version")) != fresh[key]):
            continue
        out[tuple(r.get(k) for k in ROW_KEY)] = r
    for r in new:
        out[tuple(r.get(k) for k in ROW_KEY)] = r
    return list(out.values())


def save_results(path: str | Path, rows: Sequence[dict], merge: bool = True, **meta) -> Path:
    """Write rows (merged with what the file already holds) as JSON, plus a CSV copy beside it."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    old = load_results(p) if merge else {"rows": []}
    merged = merge_rows(old.get("rows", []), rows)
    merged = [{k: _clean(v) for k, v in r.items()} for r in merged]
    data = {k: v for k, v in old.items() if k != "rows"}
    data.update({k: _clean(v) for k, v in meta.items()})
    data["updated"] = time.strftime("%Y-%m-%d %H:%M:%S")
    data["rows"] = merged
    tmp = p.with_suffix(p.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=1) + "\n")
    os.replace(tmp, p)
    write_csv(p.with_suffix(".csv"), merged)
    return p


def write_csv(path: str | Path, rows: Sequence[dict]) -> Path:
    """All rows as CSV (the union of their keys as columns)."""
    cols: list[str] = []
    for r in rows:
        for k in r:
            if k not in cols:
                cols.append(k)
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=cols)
        w.writeheader()
        for r in rows:
            w.writerow({k: ("" if r.get(k) is None else r.get(k)) for k in cols})
    return Path(path)


# ------------------------------------------------------------------ summaries

def aggregate(rows: Sequence[dict]) -> list[dict]:
    """One point per (dataset, codec, quality) of the rd rows (``roundtrip.combine`` of the rows
    that coded): rate = total bits / total units, distortion means over items, total and
    per-item times, and the error count."""
    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        if r.get("kind", "rd") == "rd":
            groups.setdefault((r.get("dataset", ""), r["codec"], r["quality"]), []).append(r)
    out = []
    for (ds, codec, q), rs in sorted(groups.items(), key=lambda kv: kv[0]):
        ok = [r for r in rs if not r.get("error")]
        pt = {"dataset": ds, "codec": codec, "quality": q, "items": len(ok), "errors": len(rs) - len(ok)}
        pt.update(combine(ok))
        pt["rate_unit"] = (ok or rs)[0].get("rate_unit", "")
        for side in ("enc", "dec"):
            pt[f"{side}_ms"] = _per_item_ms(ok, f"{side}_s")
            pt[f"{side}_cpu_ms"] = _per_item_ms(ok, f"{side}_cpu_s")
        if rs and not ok:
            pt["error"] = rs[0].get("error")
        out.append(pt)
    return out


def _per_item_ms(rows: Sequence[dict], key: str) -> float | None:
    """Mean milliseconds per item over the rows that recorded ``key``."""
    timed = [r for r in rows if r.get(key) is not None]
    n = sum(int(r.get("n") or 1) for r in timed)
    return 1000 * sum(r[key] for r in timed) / n if n else None


def curves(points: Sequence[dict], metric: str = "psnr", dataset: str | None = None,
           x: str = "rate") -> dict[str, tuple[list[float], list[float]]]:
    """codec -> (rates, metric values) from aggregated points (one data set)."""
    out: dict[str, tuple[list[float], list[float]]] = {}
    for p in points:
        if dataset is not None and p.get("dataset") != dataset:
            continue
        if p.get(x) is None or p.get(metric) is None:
            continue
        r, m = out.setdefault(p["codec"], ([], []))
        r.append(float(p[x]))
        m.append(float(p[metric]))
    return out
