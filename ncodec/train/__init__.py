"""The one training loop every learned codec reuses, plus the registry behind ``ncodec train NAME``.

Names are imported lazily so that listing trainers (``ncodec train --help``) does not import torch.
"""
from __future__ import annotations

import importlib

_EXPORTS = {"TrainConfig": "loop", "Loop": "loop", "Summary": "loop", "run_training": "loop",
            "gradient_step": "loop", "register_trainer": "registry", "trainers": "registry",
            "get_trainer": "registry", "trainer_help": "registry"}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
