"""Build the teaching notebooks from their percent-format sources in notebooks/_src/, execute them
with nbclient and store them WITH the outputs that run produced (so they read well on a code host).

Usage (from the repository root):
    .venv/bin/python notebooks/_build.py                # rebuild + execute every notebook
    .venv/bin/python notebooks/_build.py quickstart     # only some
    .venv/bin/python notebooks/_build.py --check        # stored notebooks match their sources?

Source format: ``# %%`` starts a code cell, ``# %% [markdown]`` a markdown cell whose lines are
written as ``# text`` comments (the leading ``# `` is stripped).
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

HERE = Path(__file__).resolve().parent
SRC = HERE / "_src"
CELL_TIMEOUT_S = 240


def parse_source(text: str) -> list[tuple[str, str]]:
    """Split a percent-format source into (kind, source) cells; kind is 'code' or 'markdown'."""
    cells: list[tuple[str, list[str]]] = []
    for line in text.splitlines():
        if line.startswith("# %%"):
            cells.append(("markdown" if "[markdown]" in line else "code", []))
        elif cells:
            cells[-1][1].append(line)
    out = []
    for kind, lines in cells:
        if kind == "markdown":
            lines = [ln[2:] if ln.startswith("# ") else ln.lstrip("#") for ln in lines]
        body = "\n".join(lines).strip("\n")
        if body:
            out.append((kind, body))
    return out


def build_notebook(src: Path) -> nbformat.NotebookNode:
    """An unexecuted notebook from one source file."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    for kind, body in parse_source(src.read_text()):
        nb.cells.append(nbformat.v4.new_markdown_cell(body) if kind == "markdown"
                        else nbformat.v4.new_code_cell(body))
    # stable cell ids keep diffs small between rebuilds
    for i, cell in enumerate(nb.cells):
        cell["id"] = f"{src.stem[:20]}-{i:02d}"
    return nb


def kernel_env() -> None:
    """One thread per library in the kernel (the machine is shared) and the repo importable."""
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    os.environ.setdefault("MKL_NUM_THREADS", "1")
    repo = str(HERE.parent)
    pp = os.environ.get("PYTHONPATH", "")
    if repo not in pp.split(os.pathsep):
        os.environ["PYTHONPATH"] = repo + (os.pathsep + pp if pp else "")


def execute(nb: nbformat.NotebookNode, timeout: int = CELL_TIMEOUT_S) -> float:
    """Run every cell in a fresh python3 kernel with working dir notebooks/; raises on a cell error."""
    kernel_env()
    t0 = time.perf_counter()
    NotebookClient(nb, timeout=timeout, kernel_name="python3", record_timing=False,
                   resources={"metadata": {"path": str(HERE)}}).execute()
    return time.perf_counter() - t0


def sources_of(nb: nbformat.NotebookNode) -> list[tuple[str, str]]:
    """(kind, source) of every cell, for comparing a stored notebook with its source file."""
    return [(c.cell_type, c.source) for c in nb.cells]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("names", nargs="*", help="notebook names (default: all in notebooks/_src)")
    ap.add_argument("--check", action="store_true", help="only check stored notebooks match sources")
    args = ap.parse_args(argv)
    srcs = sorted(SRC.glob("*.py"))
    if args.names:
        srcs = [SRC / f"{n.removesuffix('.ipynb')}.py" for n in args.names]
    bad = 0
    for src in srcs:
        dst = HERE / f"{src.stem}.ipynb"
        nb = build_notebook(src)
        if args.check:
            ok = dst.exists() and sources_of(nbformat.read(dst, as_version=4)) == sources_of(nb)
            print(f"{dst.name}: {'ok' if ok else 'STALE (rebuild it)'}")
            bad += not ok
            continue
        dt = execute(nb)
        nbformat.validate(nb)
        nbformat.write(nb, dst)
        print(f"{dst.name}: executed in {dt:.1f} s, {dst.stat().st_size / 1024:.0f} KiB")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
