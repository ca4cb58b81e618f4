"""Start-up cost of the command line: CPU seconds and peak memory of short ``ncodec`` commands,
next to ``python -c pass`` in the same run (not a timed test: it prints a table and writes
``benchmarks/results/startup.json``).

Each command runs ``--repeat`` times in a fresh process; the table shows the median CPU time
(user + system, from ``getrusage`` of the child) and the peak resident memory. The input is a
small 64x64 PNG so that coding time does not hide start-up time.

    python benchmarks/startup.py [--repeat 7]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results" / "startup.json"
GOAL_CPU_S = 0.3          # issue #12: classical paths within 0.3 CPU-s ...
GOAL_MEM_MB = 150.0       # ... and 150 MB of bare Python


def run_once(cmd: list[str], cwd: str) -> tuple[float, float, float]:
    """(CPU seconds, peak RSS MB, wall seconds) of one child process that must exit 0."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, err = proc.communicate()
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed: {err.decode(errors='replace').strip()}")
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return cpu, after.ru_maxrss / 1024.0, wall


def measure(cmd: list[str], cwd: str, repeat: int) -> dict:
    """Median CPU and wall seconds over ``repeat`` runs; peak memory from a separate measuring child."""
    cpus, walls = [], []
    for _ in range(repeat):
        cpu, _, wall = run_once(cmd, cwd)
        cpus.append(cpu)
        walls.append(wall)
    return {"cpu_s": statistics.median(cpus), "wall_s": statistics.median(walls), "peak_mb": peak_rss(cmd, cwd)}


def peak_rss(cmd: list[str], cwd: str) -> float:
    """Peak RSS (MB) of one run, measured in a fresh helper process so earlier children do not count."""
    probe = ("import resource, subprocess, sys; subprocess.run(sys.argv[1:], check=True, "
             "stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL); "
             "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")
    out = subprocess.run([sys.executable, "-c", probe, *cmd], cwd=cwd, capture_output=True, text=True, check=True)
    return int(out.stdout.strip()) / 1024.0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=7)
    args = ap.parse_args(argv)
    ncodec = [sys.executable, "-m", "ncodec.cli.main"]
    with tempfile.TemporaryDirectory() as tmp:
        import numpy as np
        from PIL import Image
        rng = np.random.default_rng(0)
        Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(Path(tmp) / "a.png")
        cases = [
            ("python -c pass", [sys.executable, "-c", "pass"]),
            ("ncodec list", ncodec + ["list"]),
            ("ncodec compress a.png -c png", ncodec + ["compress", "a.png", "-c", "png", "-o", "a.ncz", "-f", "--quiet"]),
            ("ncodec decompress a.ncz", ncodec + ["decompress", "a.ncz", "-o", "b.png", "-f", "--quiet"]),
            ("ncodec compress a.png -c webp -q 80", ncodec + ["compress", "a.png", "-c", "webp", "-q", "80", "-o", "w.ncz", "-f", "--quiet"]),
        ]
        rows = []
        for label, cmd in cases:
            r = measure(cmd, tmp, args.repeat)
            rows.append({"command": label, **r})
    base = rows[0]
    print(f"{'command':<38} {'CPU s':>7} {'+CPU s':>7} {'wall s':>7} {'peak MB':>8} {'+MB':>6}  goal")
    for r in rows:
        r["extra_cpu_s"] = r["cpu_s"] - base["cpu_s"]
        r["extra_mb"] = r["peak_mb"] - base["peak_mb"]
        ok = r["extra_cpu_s"] <= GOAL_CPU_S and r["extra_mb"] <= GOAL_MEM_MB
        r["meets_goal"] = ok
        print(f"{r['command']:<38} {r['cpu_s']:7.3f} {r['extra_cpu_s']:7.3f} {r['wall_s']:7.3f} "
              f"{r['peak_mb']:8.1f} {r['extra_mb']:6.1f}  {'ok' if ok else 'MISS'}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({"machine": platform.platform(), "cpus": os.cpu_count(),
                                   "python": platform.python_version(), "repeat": args.repeat,
                                   "goal": {"extra_cpu_s": GOAL_CPU_S, "extra_mb": GOAL_MEM_MB},
                                   "rows": rows}, indent=2) + "\n")
    print(f"wrote {RESULTS}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
