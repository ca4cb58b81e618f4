"""Machine-perceptual evaluation: code a task's test set at each quality level (archives of real
file bytes), classify the decoded data with our shipped classifier, and record top-1 accuracy,
its drop from clean, and a deep-feature distance between originals and decoded data."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np
import torch

from ..item import Item
from .metrics import DISTORTIONS, rate_units
from .roundtrip import Trip, code, trip_row
from .sweep import codec_levels, label, map_jobs
from .tasks import Task, get_task, load_classifier

CHUNK = 500   # items per archive: fixed, so rates do not depend on the worker count


def subset(n: int, limit: int | None, seed: int = 0) -> np.ndarray:
    """Indices of a fixed random subset of ``limit`` items (all of them, in order, when no limit)."""
    if not limit or limit >= n:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).permutation(n)[:limit])


@dataclass
class Chunk:
    """A chunk of test items after coding: the files made, the decoded arrays (None where an
    item failed) and the failures."""

    trips: list[Trip]
    decoded: list[np.ndarray | None]
    errors: list[str]


def code_chunk(items: Sequence[Item], codec: str, quality: int, options: Mapping[str, Any] | None = None) -> Chunk:
    """Round trip of a list of items as one archive; on failure code them one by one, so a
    single bad item costs only itself (its slot in ``decoded`` is None)."""
    try:
        trip = code(list(items), codec, quality, options, archive=True)
        return Chunk([trip], [d.data for d in trip.decoded], [])
    except Exception:  # noqa: BLE001 - fall back to one archive per item to isolate the failure
        pass
    out = Chunk([], [], [])
    for k, it in enumerate(items):
        if k == 3 and len(out.errors) == 3 and len({e.split(": ", 1)[1] for e in out.errors}) == 1:
            msg = out.errors[0].split(": ", 1)[1]          # the codec fails the same way on everything
            out.decoded += [None] * (len(items) - 3)
            out.errors += [f"{x.name}: {msg}" for x in items[3:]]
            break
        try:
            trip = code([it], codec, quality, options, archive=True)
            out.trips.append(trip)
            out.decoded.append(trip.decoded[0].data)
        except Exception as exc:  # noqa: BLE001
            out.decoded.append(None)
            out.errors.append(f"{it.name}: {type(exc).__name__}: {exc}")
    return out


def _chunk_job(args: tuple) -> Chunk:
    items, codec, q, options = args
    return code_chunk(items, codec, q, options)


@torch.no_grad()
def classify(model, task: Task, arrays: Sequence[np.ndarray], ref: Sequence[np.ndarray] | None = None,
             batch: int = 500) -> tuple[np.ndarray, np.ndarray | None]:
    """Predicted classes of ``arrays`` and, given originals ``ref``, the per-item feature distance."""
    from ..models.classifiers import feature_distance_from
    preds, dists = [], []
    for i in range(0, len(arrays), batch):
        feats = model.features(task.to_tensor(arrays[i:i + batch]))
        preds.append(model.logits_from(feats[-1]).argmax(1).numpy())
        if ref is not None:
            dists.append(feature_distance_from(model.features(task.to_tensor(ref[i:i + batch])), feats).numpy())
    p = np.concatenate(preds) if preds else np.zeros(0, np.int64)
    return p, (np.concatenate(dists) if dists else None) if ref is not None else None


def run_task_eval(task_name: str, codecs: Sequence[str], levels: dict[str, list[int]] | None = None,
                  limit: int | None = None, workers: int | None = None, progress: bool = True,
                  model=None, options: Mapping[str, Mapping[str, Any]] | None = None) -> list[dict]:
    """One row per codec × level (plus a clean 'original' row) with accuracy on decoded test data;
    ``options`` maps codec -> codec options (those rows are labelled ``codec[k=v]``)."""
    task = get_task(task_name)
    all_items, all_labels = task.load("test")
    idx = subset(len(all_items), limit)
    items = [all_items[i] for i in idx]
    labels = all_labels[idx]
    model = model if model is not None else load_classifier(task)
    orig = [it.data for it in items]
    clean_pred, _ = classify(model, task, orig)
    clean_acc = float(np.mean(clean_pred == labels))
    units, unit = rate_units(items)
    raw_bits = 8 * sum(it.data.nbytes for it in items)
    base = {"kind": "task", "dataset": task.name, "item": "*", "n": len(items),
            "subset": "all" if len(items) == len(all_items) else f"{len(items)} of {len(all_items)} (seed 0)",
            "units": units, "rate_unit": unit, "clean_accuracy": clean_acc}
    rows = [dict(base, codec="original", quality=0, bits=raw_bits, rate=raw_bits / units, accuracy=clean_acc,
                 acc_drop_pts=0.0, feat_dist=0.0, errors=0, error=None)]
    plan: list[tuple[str, int]] = []
    for c in codecs:
        try:
            plan += [(c, q) for q in codec_levels(c, (levels or {}).get(c) or (levels or {}).get("*"))]
        except Exception as exc:  # noqa: BLE001
            rows.append(dict(base, codec=c, quality=-1, error=f"{type(exc).__name__}: {exc}"))
    chunks = [items[i:i + CHUNK] for i in range(0, len(items), CHUNK)]
    options = options or {}
    jobs = [(ch, c, q, options.get(c)) for c, q in plan for ch in chunks]
    results = map_jobs(_chunk_job, jobs, workers, f"task {task.name}", progress)
    k = len(chunks)
    for n_level, (c, q) in enumerate(plan):
        parts = results[n_level * k:(n_level + 1) * k]
        rows.append(_level_row(dict(base, codec=label(c, options.get(c)), quality=q), parts, orig, labels, model,
                               task))
    return rows


def _level_row(row: dict, parts: Sequence[Chunk], orig: Sequence[np.ndarray], labels: np.ndarray, model,
               task: Task) -> dict:
    """The task row of one codec level: rate and distortion of its files, accuracy on what decoded."""
    trips = [t for p in parts for t in p.trips]
    decoded = [d for p in parts for d in p.decoded]
    errs = [e for p in parts for e in p.errors]
    ok = [i for i, d in enumerate(decoded) if d is not None and d.shape == orig[i].shape]
    row.update(errors=len(decoded) - len(ok), error=(errs[0] if errs else None))
    if not ok:
        return row
    coded = trip_row(trips)
    pred, dist = classify(model, task, [decoded[i] for i in ok], [orig[i] for i in ok])
    acc = float(np.mean(pred == labels[ok]))
    row.update({key: coded[key] for key in ("quality", "model_id", "codec_version", "bits", "payload_bits",
                                            "enc_s", "dec_s", "enc_cpu_s", "dec_cpu_s")})
    row.update({key: coded[key] for key in DISTORTIONS if key in coded})
    row.update(rate=coded["bits"] / row["units"] if len(ok) == len(orig) else None,  # a partial set would mislead
               accuracy=acc, acc_drop_pts=100.0 * (row["clean_accuracy"] - acc), feat_dist=float(np.mean(dist)),
               exact=coded["exact_items"])
    return row


def lowest_rate_within(rows: Sequence[dict], tol_pts: float = 1.0) -> list[dict]:
    """Per dataset and codec: the lowest rate from which accuracy stays within ``tol_pts`` points
    of clean at every higher-rate level swept (None when no level qualifies)."""
    out = []
    groups: dict[tuple[str, str], list[dict]] = {}
    for r in rows:
        if r.get("kind") == "task" and r.get("codec") != "original":
            groups.setdefault((r["dataset"], r["codec"]), []).append(r)
    for (ds, codec), rs in sorted(groups.items()):
        pts = sorted((r for r in rs if r.get("rate") is not None and r.get("accuracy") is not None),
                     key=lambda r: r["rate"])
        best = None
        for i, r in enumerate(pts):
            if all(100 * (p["clean_accuracy"] - p["accuracy"]) <= tol_pts for p in pts[i:]):
                best = r
                break
        out.append({"dataset": ds, "codec": codec, "levels": len(pts),
                    "clean_accuracy": pts[0]["clean_accuracy"] if pts else None,
                    "min_rate": best["rate"] if best else None, "quality": best["quality"] if best else None,
                    "accuracy": best["accuracy"] if best else None, "rate_unit": pts[0]["rate_unit"] if pts else "",
                    "lowest_rate_swept": pts[0]["rate"] if pts else None,
                    "accuracy_at_lowest": pts[0]["accuracy"] if pts else None})
    return out
