"""Trainers register here (name -> add_args, run) so ``ncodec train NAME`` finds them.

The built-in trainers are listed by name and help without importing them (so ``ncodec --help``
and ``ncodec train --help`` stay cheap: no torch); a trainer's module is imported when it is used.
"""
from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass
from typing import Callable

_TRAINERS: dict[str, "Trainer"] = {}
_CORE = {"loop", "registry", "data", "export"}

# name -> (module, one-line help)
BUILTIN: dict[str, tuple[str, str]] = {
    "classifier": ("ncodec.train.classifiers", "downstream classifier for machine-perceptual metrics"),
    "flow": ("ncodec.train.flow", "integer discrete flow (lossless) on mnist / fashion-mnist / bsds500"),
    "flow-photo": ("ncodec.train.flow_photo", "whole-photo flow path: default predictors + table bank (bsds500)"),
    "hclt": ("ncodec.train.hclt", "HCLT probabilistic circuit (lossless MNIST / Fashion-MNIST), mini-batch EM"),
    "wavelet": ("ncodec.train.wavelet", "wavelet-packet autoencoder (images: bsds500, audio: fsdd)"),
}


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
        text = help or BUILTIN.get(name, ("", ""))[1]
        _TRAINERS[name] = Trainer(name, text, getattr(run, "add_args", lambda p: None), run)
        return run
    return deco


def trainer_help() -> dict[str, str]:
    """Name -> one-line help of every known trainer, without importing the built-in ones."""
    out = {name: text for name, (_, text) in BUILTIN.items()}
    out.update({name: t.help for name, t in _TRAINERS.items()})
    return dict(sorted(out.items()))


def trainers() -> dict[str, Trainer]:
    """All trainers (imports every module of ncodec.train once)."""
    pkg = importlib.import_module("ncodec.train")
    for mod in pkgutil.iter_modules(pkg.__path__):
        if mod.name not in _CORE and not mod.name.startswith("_"):
            importlib.import_module(f"ncodec.train.{mod.name}")
    return dict(sorted(_TRAINERS.items()))


def get_trainer(name: str) -> Trainer:
    """The trainer registered as ``name`` (importing only its module when it is a built-in one)."""
    if name in BUILTIN and name not in _TRAINERS:
        importlib.import_module(BUILTIN[name][0])
    t = _TRAINERS if name in _TRAINERS else trainers()
    if name not in t:
        from ..errors import InputError
        raise InputError(f"no trainer named {name!r} (have: {', '.join(trainer_help()) or 'none'})")
    return t[name]
