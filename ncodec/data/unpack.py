"""``unpack``: a packed data set -> one file per record (names from the index, sub-folders kept)
plus ``labels.csv`` when the records have labels. Every record is checked as it is decoded.

Images whose stored name has a lossy suffix (``.jpg``) are written as PNG, so what lands on
disk is exactly what was decoded; audio likewise as WAV.
"""
from __future__ import annotations

import csv
import io
import time
from pathlib import Path, PurePosixPath
from typing import Any

from ..errors import InputError
from ..io import atomic_write, default_suffix, item_to_bytes
from ..item import Item
from .reader import DatasetReader

LOSSLESS_SUFFIX = {"image": {".png", ".bmp", ".tif", ".tiff", ".ppm", ".pgm", ".webp"},
                   "audio": {".wav", ".flac"}, "tensor": {".npy"}, "bytes": {".bin"}}
LOSSY_SUFFIX = {".jpg", ".jpeg", ".gif", ".ogg"}


def safe_relpath(name: str, i: int, item: Item) -> PurePosixPath:
    """A relative output path for record ``i``: the stored name with a lossless suffix, never
    absolute or climbing out of the output folder (such names fall back to ``record_N``)."""
    p = PurePosixPath(name.replace("\\", "/")) if name else PurePosixPath(f"record_{i:08d}")
    if p.is_absolute() or ".." in p.parts or not p.parts:
        p = PurePosixPath(f"record_{i:08d}")
    suffix = p.suffix.lower()
    if suffix in LOSSLESS_SUFFIX.get(item.meta.media, set()):
        return p
    if suffix in LOSSY_SUFFIX:
        return p.with_suffix(default_suffix(item))
    return p.with_name(p.name + default_suffix(item))


def _write_shard(args: tuple) -> tuple[int, list[list[Any]]]:
    root, out, k, force = args
    reader = DatasetReader(root)
    ent = reader.index.shards[k]
    labels = []
    for i in range(ent["first"], ent["first"] + ent["records"]):
        item = reader.decode(i)
        rel = safe_relpath(item.name, i, item)
        dest = Path(out) / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(dest, item_to_bytes(item, rel.suffix), force=force)
        if "label" in item.extra:
            lab = item.extra["label"]
            cls = reader.index.classes
            labels.append([str(rel), lab] + ([cls[lab]] if cls else []))
    reader.close()
    return ent["records"], labels


def unpack(root: str | Path, out: str | Path, force: bool = False, workers: int = 1,
           progress: bool = False) -> dict[str, Any]:
    """Decode every record of the data set ``root`` into files under ``out``; returns counts and time."""
    t0 = time.perf_counter()
    reader = DatasetReader(root)
    if not reader.index.complete:
        raise InputError(f"{root}: the pack is unfinished ({len(reader)} of "
                         f"{reader.index.manifest['records_total']} records); rerun ncodec pack to resume it")
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise InputError(f"output exists and is not a folder ({out})")
    out.mkdir(parents=True, exist_ok=True)
    jobs = [(str(reader.index.root), str(out), k, force) for k in range(len(reader.index.shards))]
    from tqdm.auto import tqdm
    bar = tqdm(total=len(reader), unit="rec", desc="unpack", disable=not progress, dynamic_ncols=True)
    rows: list[list[Any]] = []
    if workers <= 1 or len(jobs) <= 1:
        results = map(_write_shard, jobs)
    else:
        import multiprocessing as mp
        from concurrent.futures import ProcessPoolExecutor
        ex = ProcessPoolExecutor(workers, mp_context=mp.get_context("spawn"))
        results = ex.map(_write_shard, jobs)
    try:
        for n, labs in results:
            rows += labs
            bar.update(n)
    finally:
        bar.close()
        if workers > 1 and len(jobs) > 1:
            ex.shutdown(cancel_futures=True)
    if rows:
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(["file", "label"] + (["class"] if reader.index.classes else []))
        w.writerows(rows)
        atomic_write(out / "labels.csv", buf.getvalue().encode(), force=True)
    return {"records": len(reader), "files": len(reader), "labels": bool(rows), "out": str(out),
            "seconds": time.perf_counter() - t0}
