"""`ncodec eval rd --engine ray` gives the rows the local engine gives; `eval task --domain latent` runs."""
from __future__ import annotations

import json

import numpy as np
import pytest

from ncodec.eval.sweep import run_sweep
from ncodec.item import Item


def _items() -> list[Item]:
    rng = np.random.default_rng(0)
    return [Item.from_array(rng.integers(0, 256, (40, 48, 3), dtype=np.uint8), "image", name=f"n{i}")
            for i in range(3)]


def test_ray_engine_matches_local_rows():
    pytest.importorskip("ray")
    items = _items()
    local = run_sweep(items, ["webp", "png"], {"webp": [30, 80]}, dataset="t", workers=1, progress=False)
    remote = run_sweep(items, ["webp", "png"], {"webp": [30, 80]}, dataset="t", workers=2, progress=False,
                       engine="ray")
    key = lambda r: (r["codec"], r["quality"], r["item"])        # noqa: E731
    assert [key(r) for r in local] == [key(r) for r in remote] and len(local) == 9
    assert [r["bits"] for r in local] == [r["bits"] for r in remote]
    assert all(r["error"] is None for r in remote)


def test_latent_domain_task_cli(tmp_path, cli):
    out = tmp_path / "lt.json"
    r = cli("eval", "task", "--domain", "latent", "--task", "mnist", "--codec", "wavelet", "--levels", "1",
            "--limit", "100", "--train", "300", "--epochs", "1", "--workers", "1", "--out", str(out), "--quiet",
            cwd=str(tmp_path))
    assert r.returncode == 0, r.stderr.decode()
    rows = json.loads(out.read_text())["latent_rows"]
    assert rows[0]["task"] == "mnist" and rows[0]["quality"] == 1 and 0 < rows[0]["rate"] < 8
    assert 0.0 <= rows[0]["latent"]["accuracy"] <= 1.0 and rows[0]["latent"]["end_to_end_examples_per_s"] > 0
    r = cli("eval", "task", "--domain", "latent", "--task", "mnist", "--codec", "webp", "--out", str(out))
    assert r.returncode == 2 and b"wavelet" in r.stderr
