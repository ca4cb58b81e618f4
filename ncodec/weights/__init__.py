"""Weights: each ``<name>.<ext>`` file has a ``<name>.json`` manifest entry beside it (sha256,
data set, the exact command that trained it, its measured figures, the codec it serves).

Two folders hold them: the shipped ones inside the package (never written by training) and
the user's (``user_dir()``: ``$NCODEC_HOME/weights``, else ``$XDG_DATA_HOME/ncodec/weights``,
else ``~/.local/share/ncodec/weights``), where ``ncodec train`` exports. A user entry cannot
shadow a shipped name. Files name their weights by model id, so a decoder finds user weights
by the id stored in the file (``find_by_id``).

The one place that reads weight files and computes model ids: codecs, eval and benchmarks
call the loaders below (each sha-checked and cached); trainers only write (``write_manifest``).
"""
from __future__ import annotations

import hashlib
import json
import os
from functools import lru_cache
from pathlib import Path

from ..errors import CodecError

WEIGHTS_DIR = Path(__file__).resolve().parent


def user_dir() -> Path:
    """The user's weights folder (where training exports; not created here)."""
    home = os.environ.get("NCODEC_HOME")
    if home:
        return Path(home) / "weights"
    xdg = os.environ.get("XDG_DATA_HOME")
    return (Path(xdg) if xdg else Path.home() / ".local" / "share") / "ncodec" / "weights"


def _read_folder(folder: Path, origin: str) -> dict[str, dict]:
    out = {}
    for f in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        try:
            entry = json.loads(f.read_text())
        except (OSError, json.JSONDecodeError):
            continue                       # not a manifest (or unreadable): ignored, never fatal
        if isinstance(entry, dict) and "file" in entry and "sha256" in entry:
            out[entry.get("name", f.stem)] = dict(entry, origin=origin, folder=str(folder))
    return out


def manifest() -> dict[str, dict]:
    """Every manifest entry by weight name: shipped ones, then the user's (which cannot shadow them).
    Each entry has ``origin`` ("shipped" or "user") and ``folder``."""
    out = _read_folder(WEIGHTS_DIR, "shipped")
    for name, entry in _read_folder(user_dir(), "user").items():
        out.setdefault(name, entry)
    return out


def find_by_id(codec: str, mid: bytes) -> str | None:
    """The installed weights of ``codec`` whose model id is ``mid`` (user-trained ones included, and
    weight files this process was given by path, so files it just made with them decode)."""
    for name, entry in {**manifest(), **_EXTRA}.items():
        if codec_of(entry, name) == codec and bytes.fromhex(entry["sha256"])[:8] == mid:
            return name
    return None


def names_for(codec: str) -> list[str]:
    """Installed weights names serving ``codec`` (shipped, user-trained, and given by path)."""
    return [n for n, e in {**manifest(), **_EXTRA}.items() if codec_of(e, n) == codec]


def codec_of(entry: dict, name: str) -> str:
    """The codec a manifest entry serves (its ``codec`` field, else the name's first word)."""
    return entry.get("codec") or name.split("_", 1)[0]


def resolve(ref: str, codec: str | None = None) -> str:
    """A weights reference from ``-O weights=...``: an installed name, or a path to a weight file or
    its manifest (registered under its name for this process); CodecError if neither, or if the
    weights serve another codec than ``codec`` (when given)."""
    if ref in manifest():
        name = ref
    else:
        p = Path(ref)
        js = p if p.suffix == ".json" else p.with_suffix(".json")
        if not js.is_file():
            raise CodecError(f"no weights {ref!r}: not an installed name (ncodec list --weights) "
                             f"nor a weight file with its .json")
        try:
            entry = json.loads(js.read_text())
        except (OSError, ValueError) as exc:
            raise CodecError(f"weights {ref!r}: unreadable manifest {js} ({exc})") from None
        if not isinstance(entry, dict) or "file" not in entry or "sha256" not in entry:
            raise CodecError(f"weights {ref!r}: {js} is not a weights manifest")
        name = entry.get("name", js.stem)
        _EXTRA[name] = dict(entry, origin="path", folder=str(js.parent.resolve()))
    serves = codec_of(_entry(name) or {}, name)
    if codec is not None and serves != codec:
        raise CodecError(f"weights {name!r} are {serves} weights, not {codec} weights")
    return name


_EXTRA: dict[str, dict] = {}


def _entry(name: str) -> dict | None:
    return _EXTRA.get(name) or manifest().get(name)


def weight_path(name: str) -> Path:
    """Path of an installed weight file (shipped or user), checked against its manifest sha256."""
    entry = _entry(name)
    if entry is None:
        raise CodecError(f"no weights named {name!r} installed (ncodec list --weights)")
    path = Path(entry["folder"]) / entry["file"]
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
    m = {**manifest(), **_EXTRA}
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
def load_photo_flow(name: str):
    """The whole-photo flow's shipped parts (table bank + default predictors), all integers."""
    from ..models.interlace import PhotoModel
    return PhotoModel.load(weight_path(name))


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
    """Create/replace ``<name>.json`` beside a weight file (used by trainers' exports)."""
    path = Path(file)
    entry = {"name": name, "file": path.name, "sha256": file_sha256(path), "bytes": path.stat().st_size}
    entry.update(fields)
    out = path.parent / f"{name}.json"
    out.write_text(json.dumps(entry, indent=2, sort_keys=False) + "\n")
    return out
