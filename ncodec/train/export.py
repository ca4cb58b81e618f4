"""What every trainer's export shares: where weights go (``--export-dir``, default the shipped
ncodec/weights), the manifest entry beside them, and the command line recorded in it.

Exports are always computed on CPU (``to_cpu``), so a model trained on CUDA ships the same
float32/float64 tables and weights a CPU run would.
"""
from __future__ import annotations

import shlex
from pathlib import Path

import torch


def add_export_args(p) -> None:
    """Where exports go: the user's weights folder by default (``ncodec.weights.user_dir``), never
    the shipped ones unless ``--ship`` (maintainers re-shipping a model)."""
    p.add_argument("--export-dir", default=None,
                   help="folder for exported weights + manifest (default: the user weights folder, "
                        "$NCODEC_HOME/weights or ~/.local/share/ncodec/weights)")
    p.add_argument("--name", default=None,
                   help="name of the exported weights (use them with -O weights=NAME); default: the "
                        "shipped name, with _user appended outside --ship")
    p.add_argument("--ship", action="store_true",
                   help="export into the package's shipped weights (maintainers only)")


def export_dir(args) -> Path:
    """The folder exports go to (created)."""
    from ..weights import WEIGHTS_DIR, user_dir
    if getattr(args, "export_dir", None):
        out = Path(args.export_dir)
    else:
        out = WEIGHTS_DIR if getattr(args, "ship", False) else user_dir()
    out.mkdir(parents=True, exist_ok=True)
    return out


def export_name(args, default: str) -> str:
    """The exported weights' name: ``--name``, else ``default`` (the shipped name) when shipping,
    else ``default + "_user"``. A user export never takes a shipped name (it would be shadowed)."""
    from ..errors import InputError
    from ..weights import WEIGHTS_DIR, manifest
    ship = getattr(args, "ship", False) or (getattr(args, "export_dir", None)
                                            and Path(args.export_dir).resolve() == WEIGHTS_DIR)
    name = getattr(args, "name", None) or (default if ship or getattr(args, "export_dir", None) else f"{default}_user")
    shipped = {n for n, e in manifest().items() if e.get("origin") == "shipped"}
    if not ship and getattr(args, "name", None) and name in shipped:
        raise InputError(f"--name {name} is a shipped weights name; pick another (or --ship to replace it)")
    if not name.replace("_", "").replace("-", "").isalnum():
        raise InputError(f"--name {name!r}: use letters, digits, '_' and '-'")
    return name


def write_entry(name: str, file: Path, **fields) -> Path:
    """The manifest entry ``<name>.json`` beside an exported file (shipped or user folder alike)."""
    from ..weights import write_manifest
    return write_manifest(name, Path(file), **fields)


def command_line(args, trainer: str) -> str:
    """The ``ncodec train NAME ...`` command that ran (set by the CLI; a plain default otherwise)."""
    argv = getattr(args, "argv", None)
    return f"ncodec train {trainer}" + (" " + shlex.join(argv) if argv else "")


def to_cpu(model: torch.nn.Module) -> torch.nn.Module:
    """The model on CPU in eval mode (exports are computed there, whatever device trained it)."""
    return model.to("cpu").eval()
