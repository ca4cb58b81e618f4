"""Downstream tasks for machine-perceptual evaluation: a registry of (data set, shipped classifier,
input preparation) so a new task (e.g. a natural-image classifier) plugs in with one ``register_task``."""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import Callable, Sequence

import numpy as np
import torch

from ..errors import InputError
from ..item import Item

_TASKS: dict[str, "Task"] = {}


@dataclass
class Task:
    """One classification task: how to load its splits as Items, how to turn (decoded) arrays
    into a network batch, which shipped weights classify it, and train-time augmentation."""

    name: str
    media: str
    arch: str
    load: Callable[[str], tuple[list[Item], np.ndarray]]
    to_tensor: Callable[[Sequence[np.ndarray]], torch.Tensor]
    augment: Callable[[torch.Tensor, torch.Generator], torch.Tensor] | None = None
    description: str = ""
    train_defaults: dict = field(default_factory=dict)

    @property
    def weights(self) -> str:
        """Name of the shipped weights (ncodec/weights/clf_<task>.pt)."""
        return "clf_" + self.name.replace("-", "_")


def register_task(task: Task) -> Task:
    """Make a task available to ``ncodec eval task`` and ``ncodec train classifier``."""
    _TASKS[task.name] = task
    return task


def tasks() -> dict[str, Task]:
    """All registered tasks by name."""
    return dict(sorted(_TASKS.items()))


def get_task(name: str) -> Task:
    """The task registered as ``name`` (InputError otherwise)."""
    if name not in _TASKS:
        raise InputError(f"unknown task {name!r} (have: {', '.join(_TASKS)})")
    return _TASKS[name]


# ----------------------------------------------------------------- images (28x28 gray)

def _image_tensor(arrays: Sequence[np.ndarray]) -> torch.Tensor:
    x = np.stack([np.asarray(a).reshape(28, 28) for a in arrays]).astype(np.float32) / 255.0
    return torch.from_numpy(x).unsqueeze(1)


def _shift(x: torch.Tensor, g: torch.Generator, pad: int = 2) -> torch.Tensor:
    """Random translation by up to ``pad`` pixels (zero fill), one offset per batch row."""
    b, _, h, w = x.shape
    xp = torch.nn.functional.pad(x, (pad, pad, pad, pad))
    dy = torch.randint(0, 2 * pad + 1, (b,), generator=g)
    dx = torch.randint(0, 2 * pad + 1, (b,), generator=g)
    return torch.stack([xp[i, :, dy[i]:dy[i] + h, dx[i]:dx[i] + w] for i in range(b)])


def _shift_flip(x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    x = _shift(x, g)
    flip = torch.rand(x.shape[0], generator=g) < 0.5
    x[flip] = x[flip].flip(-1)
    return x


def _mnist_loader(name: str):
    def load(split: str) -> tuple[list[Item], np.ndarray]:
        from .. import data as D
        x, y = D.arrays(name, split)
        return [Item.from_array(img, "image", name=f"{name}_{split}_{i}") for i, img in enumerate(x)], \
            np.asarray(y, dtype=np.int64)
    return load


# ----------------------------------------------------------------- audio (FSDD, 8 kHz)

FSDD_RATE = 8000
FSDD_LEN = 8000


@lru_cache(maxsize=2)
def _fsdd(split: str) -> tuple[tuple[Item, ...], np.ndarray]:
    import soundfile as sf
    from .. import data as D
    items, labels = [], []
    for p in D.paths("fsdd", split):
        data, rate = sf.read(str(p), dtype="int16")
        items.append(Item.from_array(data, "audio", name=p.stem, sample_rate=int(rate)))
        labels.append(int(p.stem.split("_")[0]))
    return tuple(items), np.asarray(labels, dtype=np.int64)


def _fsdd_load(split: str) -> tuple[list[Item], np.ndarray]:
    items, y = _fsdd(split)
    return list(items), y


def _audio_tensor(arrays: Sequence[np.ndarray]) -> torch.Tensor:
    from ..models.classifiers import fix_length
    out = []
    for a in arrays:
        a = np.asarray(a)
        scale = 32768.0 if a.dtype == np.int16 else (2.0 ** 31 if a.dtype == np.int32 else 1.0)
        out.append(fix_length(a.astype(np.float32) / scale, FSDD_LEN))
    return torch.from_numpy(np.stack(out))


def _audio_aug(x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """Random circular shift by up to 0.1 s and gain 0.5-1.5 (the clip sits in zero padding)."""
    shifts = torch.randint(-800, 801, (x.shape[0],), generator=g)
    gains = 0.5 + torch.rand(x.shape[0], 1, generator=g)
    return torch.stack([torch.roll(x[i], int(s)) for i, s in enumerate(shifts)]) * gains


register_task(Task("mnist", "image", "image28", _mnist_loader("mnist"), _image_tensor, _shift,
                   "MNIST digits, 10k test images",
                   {"epochs": 3, "batch": 128, "lr": 3e-3}))
register_task(Task("fashion-mnist", "image", "image28", _mnist_loader("fashion-mnist"), _image_tensor,
                   _shift_flip, "Fashion-MNIST, 10k test images",
                   {"epochs": 5, "batch": 128, "lr": 3e-3}))
register_task(Task("fsdd", "audio", "logmel", _fsdd_load, _audio_tensor, _audio_aug,
                   "Free Spoken Digit Dataset, test = recordings 0-4 (300 clips)",
                   {"epochs": 20, "batch": 64, "lr": 3e-3}))


# ----------------------------------------------------------------- shipped classifiers

def load_classifier(task: Task | str):
    """The shipped classifier of a task, in eval mode (CodecError if its weights are missing)."""
    from ..weights import load_classifier as load
    t = get_task(task) if isinstance(task, str) else task
    return load(t.weights)


@torch.no_grad()
def predict(model, task: Task, arrays: Sequence[np.ndarray], batch: int = 500) -> np.ndarray:
    """Top-1 class of each array."""
    out = []
    for i in range(0, len(arrays), batch):
        out.append(model(task.to_tensor(arrays[i:i + batch])).argmax(1).numpy())
    return np.concatenate(out) if out else np.zeros(0, dtype=np.int64)
