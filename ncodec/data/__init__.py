"""The one data-set registry: ``load(name, split)`` and ``paths(name, split)`` for the data sets
in ``../shared/data`` (read-only), used by trainers, eval, benchmarks, the demo and tests.

| name | splits | content |
|---|---|---|
| mnist, fashion-mnist | train, test | 28x28 uint8 digits / clothes with labels |
| kodak | test | 24 RGB PNG photos |
| bsds500 | train, val, test | RGB JPG photos (481x321) |
| fsdd | train, test | 8 kHz int16 spoken digits; recordings 0-4 of each speaker and digit are test |
| bunny | test | 132 RGB PNG frames, 320x180 (folder: one video) |
| bunny-640 | test | 32 RGB PNG frames, 640x360 |

``load`` returns ``Item``s (labels, where the set has them, in ``item.extra["label"]``);
``arrays`` returns (x, y) NumPy arrays for the digit sets, which trainers want whole.

Sharded ``.ncz`` data sets (``ncodec pack``): ``pack_dataset`` (pack.py), ``unpack_dataset``,
``dataset_info``, ``DatasetReader`` (random access, no torch) and ``NczDataset`` (torch), all
imported on first use; the layout is in ``index.py`` and docs/scale.md.
"""
from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..item import Item

NAMES = ("mnist", "fashion-mnist", "kodak", "bsds500", "fsdd", "bunny", "bunny-640")
SPLITS = {"mnist": ("train", "test"), "fashion-mnist": ("train", "test"), "kodak": ("test",),
          "bsds500": ("train", "val", "test"), "fsdd": ("train", "test"), "bunny": ("test",),
          "bunny-640": ("test",)}
ALIASES = {"fashion_mnist": "fashion-mnist", "fashion": "fashion-mnist", "bsds500-test": "bsds500",
           "bsds": "bsds500"}


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


def canonical(name: str) -> str:
    """The registry name for ``name`` (aliases such as ``bsds500-test`` accepted); InputError if unknown."""
    n = ALIASES.get(name, name)
    if n not in SPLITS:
        raise InputError(f"unknown data set {name!r} (have: {', '.join(NAMES)})")
    return n


def _split(name: str, split: str) -> str:
    if split not in SPLITS[name]:
        raise InputError(f"data set {name!r} has splits {', '.join(SPLITS[name])}, not {split!r}")
    return split


@lru_cache(maxsize=4)
def arrays(name: str, split: str = "test") -> tuple[np.ndarray, np.ndarray]:
    """(images uint8 (N, 28, 28), labels int64) of MNIST or Fashion-MNIST (read-only arrays)."""
    name = canonical(name)
    if name not in ("mnist", "fashion-mnist"):
        raise InputError(f"arrays() serves mnist and fashion-mnist, not {name!r}")
    stem = name.replace("-", "_")
    f = data_root() / stem / f"{stem}.npz"
    if not f.exists():
        raise InputError(f"data set {name!r} not found at {f}")
    d = np.load(f)
    x, y = d[f"x_{_split(name, split)}"], d[f"y_{split}"].astype(np.int64)
    x.flags.writeable = False
    y.flags.writeable = False
    return x, y


def paths(name: str, split: str = "test") -> list[Path]:
    """The files of a file-based data set split, sorted (kodak, bsds500, fsdd, bunny, bunny-640)."""
    name = canonical(name)
    split = _split(name, split)
    root = data_root()
    if name == "kodak":
        return sorted((root / "kodak").glob("kodim*.png"))
    if name == "bsds500":
        return sorted((root / "bsds500" / split).glob("*.jpg"))
    if name == "fsdd":
        files = sorted((root / "fsdd").glob("*.wav"))
        test = split == "test"
        return [f for f in files if (int(f.stem.split("_")[2]) < 5) == test]
    if name in ("bunny", "bunny-640"):
        return sorted((root / "video" / ("bunny_320x180" if name == "bunny" else "bunny_640x360")).glob("f*.png"))
    raise InputError(f"data set {name!r} is not file-based: use arrays()")


def fsdd_label(path: Path) -> int:
    """The spoken digit of an FSDD file (its name is ``{digit}_{speaker}_{index}.wav``)."""
    return int(Path(path).stem.split("_")[0])


def load(name: str, split: str = "test", limit: int | None = None) -> list[Item]:
    """Items of a data set split, named, with ``extra["label"]`` where the set is labelled.

    ``bunny`` loads as one video item (T, H, W, 3); other sets one item per image or clip.
    """
    from ..io import read_item
    name = canonical(name)
    if name in ("mnist", "fashion-mnist"):
        x, y = arrays(name, split)
        n = len(x) if limit is None else min(limit, len(x))
        items = [Item.from_array(x[i], "image", name=f"{name}_{split}_{i:05d}") for i in range(n)]
        for it, lab in zip(items, y[:n]):
            it.extra["label"] = int(lab)
        return items
    if name in ("bunny", "bunny-640"):
        files = paths(name, split)
        if not files:
            raise InputError(f"data set {name!r} has no files under {data_root()}")
        it = read_item(files[0].parent, media="video")
        it.name = name
        return [it]
    files = paths(name, split)[:limit] if limit else paths(name, split)
    if not files:
        raise InputError(f"data set {name!r} has no files under {data_root()} (is ../shared/data there?)")
    out = []
    for f in files:
        it = read_item(f)
        it.name = f.name if name != "fsdd" else f.stem
        if name == "fsdd":
            it.extra["label"] = fsdd_label(f)
        out.append(it)
    return out


# ---------------------------------------------------------------- sharded .ncz data sets
# Exported lazily (module __getattr__) so that importing ncodec.data never imports torch or the
# pack machinery: ``from ncodec.data import NczDataset`` loads torch only then.
_LAZY = {"NczDataset": ("dataset", "NczDataset"), "DatasetReader": ("reader", "DatasetReader"),
         "pack_dataset": ("pack", "pack"), "unpack_dataset": ("unpack", "unpack"),
         "dataset_info": ("info", "dataset_info")}


def __getattr__(name: str):
    """``NczDataset``, ``DatasetReader``, ``pack_dataset``, ``unpack_dataset``, ``dataset_info`` on first use."""
    if name in _LAZY:
        import importlib
        mod, attr = _LAZY[name]
        return getattr(importlib.import_module(f"{__name__}.{mod}"), attr)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
