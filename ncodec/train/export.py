"""What every trainer's export shares: where weights go (``--export-dir``, default the shipped
ncodec/weights), the manifest entry beside them, and the command line recorded in it.

Exports are always computed on CPU (``to_cpu``), so a model trained on CUDA ships the same
float32/float64 tables and weights a CPU run would.
"""
from __future__ import annotations

import json
import shlex
from pathlib import Path

import torch


def add_export_args(p) -> None:
    """The ``--export-dir`` flag (tests and GPU runs export somewhere other than ncodec/weights)."""
    p.add_argument("--export-dir", default=None,
                   help="folder for exported weights + manifest (default: the shipped ncodec/weights)")


def export_dir(args) -> Path:
    """The folder exports go to (created)."""
    from ..weights import WEIGHTS_DIR
    out = Path(args.export_dir) if getattr(args, "export_dir", None) else WEIGHTS_DIR
    out.mkdir(parents=True, exist_ok=True)
    return out


def write_entry(name: str, file: Path, **fields) -> Path:
    """The manifest entry of an exported file: the shipped manifest when ``file`` is in ncodec/weights,
    else ``<name>.json`` beside the file (same fields), so a redirected export never touches the shipped ones."""
    from ..weights import WEIGHTS_DIR, file_sha256, write_manifest
    file = Path(file)
    if file.parent.resolve() == WEIGHTS_DIR.resolve():
        return write_manifest(name, file, **fields)
    entry = {"name": name, "file": file.name, "sha256": file_sha256(file), "bytes": file.stat().st_size, **fields}
    out = file.parent / f"{name}.json"
    out.write_text(json.dumps(entry, indent=2) + "\n")
    return out


def command_line(args, trainer: str) -> str:
    """The ``ncodec train NAME ...`` command that ran (set by the CLI; a plain default otherwise)."""
    argv = getattr(args, "argv", None)
    return f"ncodec train {trainer}" + (" " + shlex.join(argv) if argv else "")


def to_cpu(model: torch.nn.Module) -> torch.nn.Module:
    """The model on CPU in eval mode (exports are computed there, whatever device trained it)."""
    return model.to("cpu").eval()
