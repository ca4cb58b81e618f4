"""Long fuzz run over every codec (``make fuzz``): the generators of ``tests/fuzzlib.py`` (the CI
suite ``tests/test_fuzz_payloads.py`` runs the same ones, fewer), per-codec counts of cases,
clean errors, outputs equal to the unmutated file's, wrong outputs accepted, crashes, memory
errors, hangs, cases over 10 s, peak RSS growth and the slowest case, written to
``benchmarks/results/fuzz.json``.

    python benchmarks/fuzz.py --cases 100000            # ~20-40 min on 2 cores
    python benchmarks/fuzz.py --cases 2000 --codecs png,zstd --seed 7

Cases are spread over codecs by how fast they decode (slow learned codecs get fewer) and over
kinds as payload 55%, header 20%, shape 20%, limit 5% (at most ``--max-limit`` limit cases for
the learned codecs, whose at-limit decodes take seconds each).
"""
from __future__ import annotations

import argparse
import json
import platform
import sys
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO))

import fuzzlib  # noqa: E402

# relative share of cases per codec (roughly inverse to its decode time per case)
WEIGHTS = {c: 1.0 for c in fuzzlib.CODECS}
WEIGHTS.update({"hclt": 0.04, "flow": 0.06, "wavelet": 0.08, "nerv": 0.3, "hnerv": 0.3, "inr": 0.1, "opus": 0.8})
KIND_SHARE = {"payload": 0.55, "header": 0.20, "shape": 0.20, "limit": 0.05}
LEARNED = ("hclt", "flow", "wavelet", "nerv", "hnerv", "inr")


def split(total: int, codecs: list[str], max_limit: int) -> dict[str, dict[str, int]]:
    """Cases per codec and kind for about ``total`` cases."""
    w = sum(WEIGHTS[c] for c in codecs)
    out = {}
    for c in codecs:
        n = max(20, int(round(total * WEIGHTS[c] / w)))
        kinds = {k: max(1, int(round(n * s))) for k, s in KIND_SHARE.items()}
        if c in LEARNED:
            kinds["limit"] = min(kinds["limit"], max_limit)
        out[c] = kinds
    short = total - sum(sum(k.values()) for k in out.values())
    classical = [c for c in codecs if c not in LEARNED] or codecs
    for i in range(max(0, short)):                  # rounding: top up to at least ``total``
        out[classical[i % len(classical)]]["payload"] += 1
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", type=int, default=100_000, help="total cases (default 100000)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--codecs", default=",".join(fuzzlib.CODECS), help="comma-separated codec names")
    ap.add_argument("--max-limit", type=int, default=12, help="at-limit cases per learned codec")
    ap.add_argument("--jobs", type=int, default=1, help="worker groups run at once (1: classical then learned)")
    ap.add_argument("--hang-s", type=float, default=60.0, help="a case silent this long counts as a hang")
    ap.add_argument("--mem-cap-mb", type=float, default=1024.0, help="address-space cap above the warm worker")
    ap.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "fuzz.json"))
    args = ap.parse_args(argv)
    codecs = [c.strip() for c in args.codecs.split(",") if c.strip()]
    unknown = [c for c in codecs if c not in fuzzlib.CODECS]
    if unknown:
        ap.error(f"unknown codec(s) {unknown}; fuzzed codecs: {', '.join(fuzzlib.CODECS)}")
    counts = split(args.cases, codecs, args.max_limit)
    groups = [{c: counts[c] for c in codecs if c not in LEARNED}, {c: counts[c] for c in codecs if c in LEARNED}]
    groups = [g for g in groups if g]
    n_total = sum(sum(k.values()) for k in counts.values())
    print(f"fuzz: {n_total} cases over {len(codecs)} codecs, seed {args.seed}", flush=True)
    done = [0]
    t0 = time.time()
    lock = threading.Lock()

    def progress(r: dict) -> None:
        with lock:
            done[0] += 1
            if done[0] % 2000 == 0 or r["outcome"] in ("wrong", "crash", "hang", "memory"):
                extra = f"  {r['outcome']}: {r['codec']} {r['kind']} #{r['index']} {r['desc']} {r['err']}" \
                    if r["outcome"] in ("wrong", "crash", "hang", "memory") else ""
                print(f"  {done[0]}/{n_total} cases, {time.time() - t0:.0f} s{extra}", flush=True)

    results: list[dict] = []

    def run(group: dict) -> None:
        res = fuzzlib.run_tasks(fuzzlib.plan(group), seed=args.seed, hang_s=args.hang_s,
                                mem_cap_mb=args.mem_cap_mb, progress=progress)
        with lock:
            results.extend(res)
    if args.jobs > 1:
        threads = [threading.Thread(target=run, args=(g,)) for g in groups]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    else:
        for g in groups:
            run(g)
    wall = time.time() - t0
    summary = fuzzlib.summarize(results)
    report = {"seed": args.seed, "cases": len(results), "wall_s": round(wall, 1),
              "machine": f"{platform.machine()} {platform.system()}, python {platform.python_version()}",
              "goals": {"wrong": 0, "crash": 0, "hang": 0, "peak_mb": fuzzlib.MEM_GOAL_MB,
                        "max_s": fuzzlib.TIME_GOAL_S},
              "command": "python benchmarks/fuzz.py " + " ".join(argv if argv is not None else sys.argv[1:]),
              "codecs": summary}
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=1))
    cols = ("cases", "clean", "same", "wrong", "crash", "memory", "hang", "over_10s", "peak_mb", "max_s")
    print(f"\n{'codec':<16}" + "".join(f"{c:>9}" for c in cols))
    for c in codecs:
        s = summary.get(c, {})
        print(f"{c:<16}" + "".join(f"{s.get(k, 0):>9.4g}" if isinstance(s.get(k, 0), float) else f"{s.get(k, 0):>9}"
                                   for k in cols))
    print(f"\n{len(results)} cases in {wall:.0f} s; wrote {out}")
    bad = sum(s["wrong"] + s["crash"] + s["hang"] + s["memory"] for s in summary.values())
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
