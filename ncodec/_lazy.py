"""Deferred imports: a module object that loads on first attribute access.

Codec modules are imported whenever the registry is listed; the libraries behind them
(imagecodecs, PyAV, soundfile, constriction, scipy) are only loaded when a codec actually codes,
so ``ncodec list`` and a PNG compress start in a fraction of a second.
"""
from __future__ import annotations

import importlib.util
import sys
from types import ModuleType


def lazy_import(name: str) -> ModuleType:
    """``name`` as a module whose body runs on first attribute access (already-loaded modules as they are)."""
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.find_spec(name)
    if spec is None or spec.loader is None:
        raise ModuleNotFoundError(f"No module named {name!r}")
    loader = importlib.util.LazyLoader(spec.loader)
    spec.loader = loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    loader.exec_module(module)
    return module
