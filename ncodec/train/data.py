"""Data sets from ../shared/data (read-only): paths and small loaders shared by trainers, evals, benchmarks."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np


def data_root() -> Path:
    """``$NCODEC_DATA`` or the ``shared/data`` folder beside the repository."""
    env = os.environ.get("NCODEC_DATA")
    if env:
        return Path(env)
    here = Path(__file__).resolve()
    for parent in here.parents:
        cand = parent.parent / "shared" / "data"
        if (parent / "pyproject.toml").exists() and cand.exists():
            return cand
    return Path.cwd().parent / "shared" / "data"


def load_mnist(name: str = "mnist", split: str = "test") -> tuple[np.ndarray, np.ndarray]:
    """(images uint8 (N, 28, 28), labels) of MNIST or Fashion-MNIST."""
    d = np.load(data_root() / name.replace("-", "_") / f"{name.replace('-', '_')}.npz")
    return d[f"x_{split}"], d[f"y_{split}"]


def kodak_paths() -> list[Path]:
    """The 24 Kodak PNGs."""
    return sorted((data_root() / "kodak").glob("kodim*.png"))


def bsds_paths(split: str = "test") -> list[Path]:
    """BSDS500 JPGs of a split (train / val / test)."""
    return sorted((data_root() / "bsds500" / split).glob("*.jpg"))


def fsdd_paths(split: str = "test") -> list[Path]:
    """FSDD WAVs; recordings 0-4 of each speaker and digit are test, 5-49 train."""
    files = sorted((data_root() / "fsdd").glob("*.wav"))
    test = [f for f in files if int(f.stem.split("_")[2]) < 5]
    train = [f for f in files if int(f.stem.split("_")[2]) >= 5]
    return test if split == "test" else train
