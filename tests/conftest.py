"""Shared fixtures: small slices of ../shared/data (read-only) and generated data."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from ncodec import data as D

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def data_dir() -> Path:
    root = D.data_root()
    if not root.exists():
        pytest.skip("shared data not found")
    return root


@pytest.fixture(scope="session")
def mnist_slice(data_dir) -> np.ndarray:
    return np.load(data_dir / "mnist" / "mnist.npz")["x_test"][:64]


def run_cli(*args: str, cwd: Path | None = None, stdin: bytes | None = None, check: bool = False):
    """Run ``python -m ncodec ARGS`` as a subprocess; returns CompletedProcess (bytes)."""
    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc = subprocess.run([sys.executable, "-m", "ncodec", *args], cwd=cwd, input=stdin,
                          capture_output=True, env=env, timeout=300)
    if check and proc.returncode != 0:
        raise AssertionError(proc.stderr.decode())
    return proc


@pytest.fixture
def cli():
    return run_cli
