"""Packing whole data sets into sharded .ncz folders, and reading them back with ``NczDataset``
(not a timed test: prints a table and writes ``benchmarks/results/pack.json``).

For each data set (MNIST 70k, FSDD 3000, BSDS500 500) x codec (one lossless, one lossy) x
engine (local with 1 and 2 workers, Ray with 2 actors), one fresh process runs ``pack`` and
reports items/s, input MB/s, output size, overhead per record and the peak memory of every
worker (``ru_maxrss`` of the process that encoded). The shard hashes of every engine are
compared: they must be identical. Then ``NczDataset`` reads the local-2 pack in random order
through a DataLoader with 0 and 2 workers: time to first batch and samples/s.

    python benchmarks/pack.py --quick          # small slices, a few minutes (Ray starts 6 times)
    nice python benchmarks/pack.py             # the full sets (run on an idle machine)
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results" / "pack.json"
# data set -> (DATA argument, [(codec, quality)], quick limit)
SETS = {
    "mnist": ("mnist", [("webp-lossless", None), ("webp", 75)], 3000),
    "fsdd": ("fsdd", [("flac", None), ("wavelet", 5)], 200),
    "bsds500": ("bsds500", [("webp-lossless", None), ("wavelet", 5)], 20),
}
ENGINES = [("local", 1), ("local", 2), ("ray", 2)]


def pack_one(spec: dict) -> dict:
    """Run one pack in this (fresh) process and measure it."""
    from ncodec.data import dataset_info
    from ncodec.data.pack import pack
    t0 = time.perf_counter()
    res = pack([spec["data"]], spec["out"], codec=spec["codec"], quality=spec["quality"], engine=spec["engine"],
               workers=spec["workers"], limit=spec["limit"], shard_size=spec["shard_size"], progress=False,
               force=True)
    wall = time.perf_counter() - t0
    info = dataset_info(spec["out"], check=False)
    shards = [json.loads(s) for s in (Path(spec["out"]) / "shards.jsonl").read_text().splitlines()]
    return {**{k: spec[k] for k in ("set", "codec", "quality", "engine", "workers", "limit")},
            "records": res.records, "shards": res.shards, "wall_s": wall, "pack_s": res.seconds,
            "items_per_s": res.records / wall, "input_mb_per_s": res.input_bytes / wall / 1e6,
            "input_mb": res.input_bytes / 1e6, "output_mb": res.file_bytes / 1e6, "ratio": info["ratio"],
            "rate": info["rate"], "rate_unit": info["rate_unit"], "overhead_b_per_record": info["overhead_per_record"],
            "worker_peak_rss_mb": sorted(round(w["peak_rss_mb"], 1) for w in res.workers.values()),
            "driver_peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
            "shard_sha256": [s["sha256"] for s in shards]}


def _collate(batch):
    return batch


def read_one(spec: dict) -> dict:
    """NczDataset in a DataLoader, random order: time to first batch and samples/s."""
    import torch
    from ncodec.data import NczDataset
    torch.set_num_threads(1)          # as in DataLoader workers: 2 threads per process thrash 2 shared cores
    ds = NczDataset(spec["out"])
    n = min(len(ds), spec["read_limit"])
    order = torch.randperm(len(ds), generator=torch.Generator().manual_seed(0))[:n].tolist()
    t0 = time.perf_counter()
    dl = torch.utils.data.DataLoader(ds, batch_size=64, num_workers=spec["workers"], sampler=order,
                                     collate_fn=_collate)
    first = None
    count = 0
    for b in dl:
        if first is None:
            first = time.perf_counter() - t0
        count += len(b)
        if time.perf_counter() - t0 > spec["read_seconds"]:
            break                     # slow decoders: a time cap, the rate stays valid
    wall = time.perf_counter() - t0
    return {"set": spec["set"], "codec": spec["codec"], "loader_workers": spec["workers"], "samples": count,
            "first_batch_s": first, "samples_per_s": count / wall, "wall_s": wall,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0}


def _child(kind: str, spec: dict) -> dict:
    """Run ``pack_one`` / ``read_one`` in a fresh interpreter (clean memory figures, own Ray)."""
    code = f"import json, sys; sys.path.insert(0, {str(Path(__file__).parent)!r}); import pack as b; " \
           f"print('RESULT' + json.dumps(b.{kind}(json.loads(sys.argv[1]))))"
    proc = subprocess.run([sys.executable, "-c", code, json.dumps(spec)], capture_output=True, text=True)
    if proc.returncode != 0:
        return {**spec, "error": proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else "failed"}
    line = [s for s in proc.stdout.splitlines() if s.startswith("RESULT")][-1]
    return json.loads(line[len("RESULT"):])


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="small slices of each set (a smoke run)")
    p.add_argument("--sets", default=",".join(SETS), help="comma-separated: " + ",".join(SETS))
    p.add_argument("--engines", default=",".join(f"{e}-{w}" for e, w in ENGINES), help="e.g. local-1,local-2,ray-2")
    p.add_argument("--read-limit", type=int, default=None, help="samples NczDataset reads (default 10000; quick 300)")
    p.add_argument("--read-seconds", type=float, default=60.0, help="stop a read measurement after this long")
    p.add_argument("--shard-size", default="64MB")
    p.add_argument("--out", help=f"result file (default {RESULTS.name}; --quick: pack_quick.json)")
    a = p.parse_args()
    engines = [(e.rsplit("-", 1)[0], int(e.rsplit("-", 1)[1])) for e in a.engines.split(",")]
    read_limit = a.read_limit or (300 if a.quick else 10000)
    work = Path(tempfile.mkdtemp(prefix="ncodec-pack-bench-"))
    rows, reads = [], []
    load0 = os.getloadavg()[0]
    try:
        for name in a.sets.split(","):
            data, codecs, quick_n = SETS[name]
            for codec, q in codecs:
                outs = {}
                for engine, workers in engines:
                    out = work / f"{name}-{codec}-{engine}{workers}"
                    spec = {"set": name, "data": data, "codec": codec, "quality": q, "engine": engine,
                            "workers": workers, "limit": quick_n if a.quick else None, "out": str(out),
                            "shard_size": a.shard_size}
                    r = _child("pack_one", spec)
                    rows.append(r)
                    outs[(engine, workers)] = out
                    if "error" in r:
                        print(f"{name:8} {codec:14} {engine}-{workers}: ERROR {r['error']}", flush=True)
                        continue
                    print(f"{name:8} {codec:14} {engine}-{workers}: {r['records']:6d} rec {r['wall_s']:7.1f} s "
                          f"{r['items_per_s']:8.1f} rec/s {r['input_mb_per_s']:6.2f} MB/s  ratio {r['ratio']:.2f}  "
                          f"{r['overhead_b_per_record']:.2f} B/rec  workers {r['worker_peak_rss_mb']} MB", flush=True)
                ok = [r for r in rows[-len(engines):] if "error" not in r]
                same = len({tuple(r["shard_sha256"]) for r in ok}) <= 1
                for r in ok:
                    r["identical_to_other_engines"] = same
                read_src = outs.get(("local", 2)) or next(iter(outs.values()))
                for lw in (0, 2):
                    rr = _child("read_one", {"set": name, "codec": codec, "out": str(read_src), "workers": lw,
                                             "read_limit": read_limit, "read_seconds": a.read_seconds})
                    reads.append(rr)
                    if "error" not in rr:
                        print(f"{'':8} {codec:14} NczDataset workers={lw}: first batch {rr['first_batch_s']:.2f} s, "
                              f"{rr['samples_per_s']:.1f} samples/s", flush=True)
                for out in outs.values():
                    shutil.rmtree(out, ignore_errors=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    for r in rows:
        r.pop("shard_sha256", None)
    result = {"machine": {"platform": platform.platform(), "cpus": os.cpu_count(), "python": platform.python_version(),
                          "load_at_start": load0, "load_at_end": os.getloadavg()[0]},
              "quick": a.quick, "read_limit": read_limit, "pack": rows, "read": reads,
              "date": time.strftime("%Y-%m-%d %H:%M")}
    out = Path(a.out) if a.out else (RESULTS.with_name("pack_quick.json") if a.quick else RESULTS)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1) + "\n")
    print(f"-> {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
