"""Re-execute every stored notebook in notebooks/ (nbclient, fresh python3 kernel) so they never rot.

A cell error fails the test; so does a stored notebook whose cells no longer match its source in
notebooks/_src/ or that was stored without having been executed.
"""
from __future__ import annotations

import importlib.util
import time
from pathlib import Path

import nbformat
import pytest

REPO = Path(__file__).resolve().parents[1]
NB_DIR = REPO / "notebooks"
NOTEBOOKS = sorted(NB_DIR.glob("*.ipynb"))
NOTEBOOK_LIMIT_S = 240  # per notebook: each cell gets this as nbclient timeout, the whole run too


def _builder():
    spec = importlib.util.spec_from_file_location("nb_build", NB_DIR / "_build.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_every_source_has_a_stored_notebook():
    srcs = {p.stem for p in (NB_DIR / "_src").glob("*.py")}
    stored = {p.stem for p in NOTEBOOKS}
    assert srcs, "no notebook sources found"
    assert srcs == stored, f"sources without notebook: {srcs - stored}; notebooks without source: {stored - srcs}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_stored_notebook_is_built_and_executed(path: Path):
    build = _builder()
    stored = nbformat.read(path, as_version=4)
    fresh = build.build_notebook(NB_DIR / "_src" / f"{path.stem}.py")
    assert build.sources_of(stored) == build.sources_of(fresh), \
        f"{path.name} is stale: run .venv/bin/python notebooks/_build.py {path.stem}"
    code = [c for c in stored.cells if c.cell_type == "code"]
    assert code and all(c.execution_count is not None for c in code), "stored without executing"
    assert [c.execution_count for c in code] == list(range(1, len(code) + 1)), "not run top to bottom"
    assert not any(o.output_type == "error" for c in code for o in c.outputs), "stored with an error"


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_executes(path: Path):
    build = _builder()
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    t0 = time.perf_counter()
    build.execute(nb, timeout=NOTEBOOK_LIMIT_S)  # raises CellExecutionError on any cell error
    dt = time.perf_counter() - t0
    assert dt < NOTEBOOK_LIMIT_S, f"{path.name} took {dt:.0f} s (limit {NOTEBOOK_LIMIT_S} s)"
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(c.execution_count is not None for c in code)
    assert any(o.get("data", {}).get("image/png") for c in code for o in c.outputs), "no figure produced"
