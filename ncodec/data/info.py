"""``ncodec info ds/``: what a packed data set holds (codec, records, totals, rate, overhead per
record) and the state of every shard (size and sha256 against the manifest; a damaged shard's
bad records are listed by number and name)."""
from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np

from .index import DatasetIndex
from .reader import DatasetReader


def dataset_info(root: str | Path, check: bool = True, decode: bool = False) -> dict[str, Any]:
    """Totals and (with ``check``) per-shard checks of the data set at ``root``."""
    idx = DatasetIndex(root)
    man = idx.manifest
    tot = man["totals"]
    n_shards = int(tot["shards"])
    file_bytes, payload, units, input_bytes = (int(tot[k]) for k in ("bytes", "payload_bytes", "units", "input_bytes"))
    media = man.get("media", "")
    unit = {"image": "bpp", "video": "bpp", "audio": "bits/sample"}.get(media, "bits/element")
    labels = idx.labels()
    p = man["params"]
    out: dict[str, Any] = {
        "path": str(idx.root), "codec": p["codec"], "quality": p["quality"], "model_id": p["model_id"],
        "options": p["options"], "lossless": man.get("lossless"), "media": media,
        "complete": idx.complete, "records": len(idx), "records_total": man["records_total"],
        "shards": n_shards, "shard_size": p["shard_size"], "file_bytes": file_bytes, "payload_bytes": payload,
        "input_bytes": input_bytes, "ratio": input_bytes / file_bytes if file_bytes else None,
        "rate": 8 * file_bytes / units if units else None, "rate_unit": unit,
        "overhead_per_record": (file_bytes - payload) / len(idx) if len(idx) else None,
        "labelled": int((labels >= 0).sum()), "classes": idx.classes,
        "sources": p["sources"],
    }
    if check:
        checks = DatasetReader(root).check(decode=decode) if n_shards else []
        out["shard_checks"] = checks
        out["bad_shards"] = [c["file"] for c in checks if c["status"] != "ok"]
    return out


def format_info(info: dict[str, Any], shards: int = 10) -> str:
    """Human-readable lines for ``dataset_info``."""
    lines = []
    keys = ("path", "codec", "quality", "model_id", "lossless", "media", "complete", "records", "shards",
            "file_bytes", "payload_bytes", "input_bytes")
    for k in keys:
        lines.append(f"{k:>20}: {info[k]}")
    if info["ratio"]:
        lines.append(f"{'ratio':>20}: {info['ratio']:.2f}x")
    if info["rate"] is not None:
        lines.append(f"{'rate':>20}: {info['rate']:.4g} {info['rate_unit']} (every shard byte counted)")
    if info["overhead_per_record"] is not None:
        lines.append(f"{'overhead/record':>20}: {info['overhead_per_record']:.2f} B (headers, index entries, CRCs)")
    lines.append(f"{'labelled':>20}: {info['labelled']}" + (f" ({len(info['classes'])} classes)" if info["classes"] else ""))
    if not info["complete"]:
        lines.append(f"{'':>20}  unfinished: {info['records']} of {info['records_total']} records "
                     "(rerun ncodec pack to resume)")
    checks = info.get("shard_checks")
    if checks is not None:
        ok = sum(c["status"] == "ok" for c in checks)
        lines.append(f"{'shard checks':>20}: {ok}/{len(checks)} ok")
        shown = [c for c in checks if c["status"] != "ok"] + [c for c in checks if c["status"] == "ok"]
        for c in shown[:shards]:
            lines.append(f"  {c['file']}  {c['records']} records  {c['bytes']} B  {c['status']}"
                         + (f": {c['detail']}" if c["detail"] else ""))
            for b in c["bad_records"][:5]:
                lines.append(f"      record {b['record']} (data set record {b['index']}, {b['name']!r}): {b['error']}")
            if len(c["bad_records"]) > 5:
                lines.append(f"      ... {len(c['bad_records']) - 5} more bad records")
        if len(checks) > shards:
            lines.append(f"  ... {len(checks) - shards} more shards")
    return "\n".join(lines)


def run_info(args: argparse.Namespace) -> int:
    """The ``ncodec info`` path for a data set folder (exit 3 when a shard fails its check)."""
    info = dataset_info(args.input, check=True, decode=bool(getattr(args, "decode", False)))
    if getattr(args, "json", False):
        print(json.dumps(info, indent=2, default=_jsonable))
    else:
        print(format_info(info, getattr(args, "records", 10)))
    return 3 if info["bad_shards"] else 0


def _jsonable(x: Any) -> Any:
    if isinstance(x, np.generic):
        return x.item()
    return str(x)
