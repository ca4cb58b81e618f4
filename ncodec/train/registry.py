"""Trainers register here (name -> add_args, run) so ``ncodec train NAME`` finds them."""
from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass
from typing import Callable

_TRAINERS: dict[str, "Trainer"] = {}
_CORE = {"loop", "registry", "data"}


@dataclass
class Trainer:
    """A named training job: how to add its CLI options and how to run it."""

    name: str
    help: str
    add_args: Callable
    run: Callable


def register_trainer(name: str, help: str = ""):
    """Decorator for a ``run(args)`` function; the function's ``add_args`` attribute adds options."""
    def deco(run):
        _TRAINERS[name] = Trainer(name, help, getattr(run, "add_args", lambda p: None), run)
        return run
    return deco


def trainers() -> dict[str, Trainer]:
    """All trainers (imports every module of ncodec.train once)."""
    pkg = importlib.import_module("ncodec.train")
    for mod in pkgutil.iter_modules(pkg.__path__):
        if mod.name not in _CORE and not mod.name.startswith("_"):
            importlib.import_module(f"ncodec.train.{mod.name}")
    return dict(sorted(_TRAINERS.items()))


def get_trainer(name: str) -> Trainer:
    """The trainer registered as ``name``."""
    t = trainers()
    if name not in t:
        from ..errors import InputError
        raise InputError(f"no trainer named {name!r} (have: {', '.join(t) or 'none'})")
    return t[name]
