"""Machine-perceptual evaluation: code a task's test set at each quality level (archives of real
file bytes), classify the decoded data with our shipped classifier, and record top-1 accuracy,
its drop from clean, and a deep-feature distance between originals and decoded data."""
from __future__ import annotations

import math
import time
from typing import Sequence

import numpy as np
import torch

from ..item import Item
from .metrics import psnr, rate_denominator, snr
from .sweep import codec_levels, map_jobs
from .tasks import Task, get_task, load_classifier

CHUNK = 500   # items per archive: fixed, so rates do not depend on the worker count


def subset(n: int, limit: int | None, seed: int = 0) -> np.ndarray:
    """Indices of a fixed random subset of ``limit`` items (all of them, in order, when no limit)."""
    if not limit or limit >= n:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).permutation(n)[:limit])


def code_chunk(items: Sequence[Item], codec: str, quality: int) -> dict:
    """Compress a list of items as one archive and decode it; on failure code them one by one,
    so a single bad item costs only itself (its slot in ``decoded`` is None)."""
    from .. import api, container
    t0 = time.perf_counter()
    try:
        res = api.compress_items(list(items), codec=codec, quality=quality, archive=True)
        t1 = time.perf_counter()
        dec = api.decompress_bytes(res.data)
        t2 = time.perf_counter()
        return {"bits": 8 * len(res.data), "payload_bits": 8 * container.unpack(res.data).payload_bytes,
                "decoded": [d.data for d in dec], "enc_s": t1 - t0, "dec_s": t2 - t1, "errors": [],
                "quality": res.quality}
    except Exception:  # noqa: BLE001 - fall back to one archive per item to isolate the failure
        pass
    out = {"bits": 0, "payload_bits": 0, "decoded": [], "enc_s": 0.0, "dec_s": 0.0, "errors": [],
           "quality": quality}
    for k, it in enumerate(items):
        if k == 3 and len(out["errors"]) == 3 and len({e.split(": ", 1)[1] for e in out["errors"]}) == 1:
            msg = out["errors"][0].split(": ", 1)[1]          # the codec fails the same way on everything
            out["decoded"] += [None] * (len(items) - 3)
            out["errors"] += [f"{x.name}: {msg}" for x in items[3:]]
            break
        try:
            t0 = time.perf_counter()
            res = api.compress_items([it], codec=codec, quality=quality, archive=True)
            t1 = time.perf_counter()
            d = api.decompress_bytes(res.data)[0]
            t2 = time.perf_counter()
            out["bits"] += 8 * len(res.data)
            out["payload_bits"] += 8 * container.unpack(res.data).payload_bytes
            out["enc_s"] += t1 - t0
            out["dec_s"] += t2 - t1
            out["decoded"].append(d.data)
            out["quality"] = res.quality
        except Exception as exc:  # noqa: BLE001
            out["decoded"].append(None)
            out["errors"].append(f"{it.name}: {type(exc).__name__}: {exc}")
    return out


def _chunk_job(args: tuple) -> dict:
    items, codec, q = args
    return code_chunk(items, codec, q)


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
                  model=None) -> list[dict]:
    """One row per codec × level (plus a clean 'original' row) with accuracy on decoded test data."""
    task = get_task(task_name)
    all_items, all_labels = task.load("test")
    idx = subset(len(all_items), limit)
    items = [all_items[i] for i in idx]
    labels = all_labels[idx]
    model = model if model is not None else load_classifier(task)
    orig = [it.data for it in items]
    clean_pred, _ = classify(model, task, orig)
    clean_acc = float(np.mean(clean_pred == labels))
    units = sum(rate_denominator(it)[0] for it in items)
    unit = rate_denominator(items[0])[1]
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
    jobs = [(ch, c, q) for c, q in plan for ch in chunks]
    results = map_jobs(_chunk_job, jobs, workers, f"task {task.name}", progress)
    k = len(chunks)
    for n_level, (c, q) in enumerate(plan):
        parts = results[n_level * k:(n_level + 1) * k]
        decoded = [d for p in parts for d in p["decoded"]]
        errs = [e for p in parts for e in p["errors"]]
        ok = [i for i, d in enumerate(decoded) if d is not None and d.shape == orig[i].shape]
        row = dict(base, codec=c, quality=int(parts[0]["quality"]), errors=len(decoded) - len(ok),
                   model_id=_model_hex(c, int(parts[0]["quality"])), codec_version=_version(c),
                   error=(errs[0] if errs else None))
        if ok:
            dec_ok = [decoded[i] for i in ok]
            ref_ok = [orig[i] for i in ok]
            pred, dist = classify(model, task, dec_ok, ref_ok)
            bits = sum(p["bits"] for p in parts)
            ps = [psnr(a, b) for a, b in zip(ref_ok, dec_ok)]
            row.update(bits=bits, payload_bits=sum(p["payload_bits"] for p in parts), rate=bits / units,
                       accuracy=float(np.mean(pred == labels[ok])),
                       acc_drop_pts=100.0 * (clean_acc - float(np.mean(pred == labels[ok]))),
                       feat_dist=float(np.mean(dist)),
                       psnr=float(np.mean([p for p in ps if math.isfinite(p)])) if any(map(math.isfinite, ps)) else None,
                       exact=sum(not math.isfinite(p) for p in ps),
                       snr=_mean_finite(snr(a, b) for a, b in zip(ref_ok, dec_ok)) if task.media == "audio" else None,
                       enc_s=sum(p["enc_s"] for p in parts), dec_s=sum(p["dec_s"] for p in parts))
            if len(ok) < len(items):   # rate of a partial set would mislead
                row["rate"] = None
        rows.append(row)
    return rows


def _mean_finite(vals) -> float | None:
    v = [x for x in vals if math.isfinite(x)]
    return float(np.mean(v)) if v else None


def _model_hex(codec: str, quality: int) -> str | None:
    """Identity of a learned codec's weights (so stale results can be spotted); None if classical."""
    try:
        from ..codecs import get_codec
        m = get_codec(codec).model_id(quality)
        return m.hex() if m else None
    except Exception:  # noqa: BLE001
        return None


def _version(codec: str) -> int | None:
    try:
        from ..codecs import get_codec
        return int(get_codec(codec).version)
    except Exception:  # noqa: BLE001
        return None


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
