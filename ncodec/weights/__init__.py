"""Shipped weights: each ``<name>.<ext>`` file has a ``<name>.json`` manifest entry beside it
(sha256, data set, the exact command that trained it, its measured figures).

The one place that reads weight files and computes model ids: codecs, eval and benchmarks
call the loaders below (each sha-checked and cached); trainers only write (``write_manifest``).
"""
from __future__ import annotations

import hashlib
import json
from functools import lru_cache
from pathlib import Path

from ..errors import CodecError

WEIGHTS_DIR = Path(__file__).resolve().parent


def manifest() -> dict[str, dict]:
    """Every manifest entry, by weight name."""
    out = {}
    for f in sorted(WEIGHTS_DIR.glob("*.json")):
        entry = json.loads(f.read_text())
        out[entry.get("name", f.stem)] = entry
    return out


def weight_path(name: str) -> Path:
    """Path of a shipped weight file, checked against its manifest sha256."""
    entry = manifest().get(name)
    if entry is None:
        raise CodecError(f"no shipped weights named {name!r} (see ncodec/weights/*.json)")
    path = WEIGHTS_DIR / entry["file"]
    if not path.exists():
        raise CodecError(f"weights file missing: {path}")
    digest = file_sha256(path)
    if digest != entry["sha256"]:
        raise CodecError(f"weights {name!r} do not match their manifest sha256")
    return path


@lru_cache(maxsize=None)
def _sha(path: str, mtime: float, size: int) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def file_sha256(path: str | Path) -> str:
    """sha256 hex digest of a file (cached per path/mtime/size)."""
    p = Path(path)
    st = p.stat()
    return _sha(str(p), st.st_mtime, st.st_size)


def model_id(*names: str) -> bytes:
    """The 8-byte identity a learned codec stores in its files.

    One name: the sha256 prefix of that weight file (b"" when not installed). Several names
    (a codec that needs more than one file): sha256 prefix over their full digests.
    """
    m = manifest()
    if len(names) == 1:
        return bytes.fromhex(m[names[0]]["sha256"])[:8] if names[0] in m else b""
    h = hashlib.sha256()
    for n in names:
        h.update(bytes.fromhex(m[n]["sha256"]) if n in m else b"")
    return h.digest()[:8]


# ------------------------------------------------------------------ loaders (torch imported here, lazily)

@lru_cache(maxsize=None)
def load_wavelet(name: str):
    """A wavelet autoencoder in eval mode with its frozen integer tables (no compressai training state)."""
    import torch

    from ..models.wavelet import build
    blob = torch.load(weight_path(name), map_location="cpu", weights_only=False)
    model = build(blob["config"], frozen_prior=True)
    sd = blob["state_dict"]
    keep = {k: v for k, v in sd.items() if not k.startswith("entropy_bottleneck.")}
    for key in ("quantiles", "_quantized_cdf", "_offset", "_cdf_length"):
        keep[f"entropy_bottleneck.{key}"] = sd[f"entropy_bottleneck.{key}"]
        getattr(model.entropy_bottleneck, key).resize_(sd[f"entropy_bottleneck.{key}"].shape)
    model.load_state_dict(keep)
    model.requires_grad_(False)
    return model.eval()


@lru_cache(maxsize=None)
def load_flow(name: str):
    """An integer discrete flow in float64 eval mode."""
    import torch

    from ..models.flow import FlowConfig, IntFlow
    blob = torch.load(weight_path(name), map_location="cpu", weights_only=False)
    model = IntFlow(FlowConfig(**blob["config"]))
    model.load_state_dict(blob["state"])
    return model.double().eval()


@lru_cache(maxsize=None)
def load_hclt(name: str):
    """An HCLT circuit with float64 parameters."""
    from ..models.hclt import load_hclt as read_hclt
    return read_hclt(weight_path(name))


@lru_cache(maxsize=None)
def load_classifier(name: str):
    """A shipped downstream classifier in eval mode."""
    import torch

    from ..models.classifiers import build
    blob = torch.load(weight_path(name), map_location="cpu", weights_only=True)
    model = build(blob["arch"])
    model.load_state_dict(blob["state_dict"])
    return model.eval()


def write_manifest(name: str, file: str | Path, **fields) -> Path:
    """Create/replace ``<name>.json`` for a weight file in the weights folder (used by trainers)."""
    path = Path(file)
    entry = {"name": name, "file": path.name, "sha256": file_sha256(path), "bytes": path.stat().st_size}
    entry.update(fields)
    out = WEIGHTS_DIR / f"{name}.json"
    out.write_text(json.dumps(entry, indent=2, sort_keys=False) + "\n")
    return out
