"""Helpers every benchmark uses: result folder, JSON writing, table printing."""
from __future__ import annotations

import json
import platform
import time
from pathlib import Path
from typing import Sequence


def results_dir() -> Path:
    """benchmarks/results in the repository (created if needed)."""
    here = Path(__file__).resolve()
    for parent in here.parents:
        if (parent / "pyproject.toml").exists():
            d = parent / "benchmarks" / "results"
            d.mkdir(parents=True, exist_ok=True)
            return d
    d = Path.cwd() / "benchmarks" / "results"
    d.mkdir(parents=True, exist_ok=True)
    return d


def write_results(name: str, rows: list[dict], **meta) -> Path:
    """Write rows + run metadata to benchmarks/results/NAME.json."""
    import torch
    out = results_dir() / f"{name}.json"
    payload = {"benchmark": name, "date": time.strftime("%Y-%m-%d %H:%M:%S"),
               "machine": {"python": platform.python_version(), "torch": torch.__version__,
                           "threads": torch.get_num_threads(), "cpu": platform.processor() or platform.machine()},
               **meta, "rows": rows}
    out.write_text(json.dumps(payload, indent=2) + "\n")
    return out


def print_table(rows: Sequence[dict], columns: Sequence[str], title: str = "") -> str:
    """Print rows as an aligned text table (floats to 4 significant digits); returns the text."""
    def fmt(v):
        if isinstance(v, float):
            return f"{v:.4g}"
        return "" if v is None else str(v)
    cells = [[fmt(r.get(c)) for c in columns] for r in rows]
    widths = [max([len(c)] + [len(row[i]) for row in cells]) for i, c in enumerate(columns)]
    lines = ([title] if title else []) + [" | ".join(c.ljust(w) for c, w in zip(columns, widths)),
                                          "-+-".join("-" * w for w in widths)]
    lines += [" | ".join(v.ljust(w) for v, w in zip(row, widths)) for row in cells]
    text = "\n".join(lines)
    print(text)
    return text
