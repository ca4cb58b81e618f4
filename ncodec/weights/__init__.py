"""Shipped weights: each ``<name>.<ext>`` file has a ``<name>.json`` manifest entry beside it
(sha256, data set, the exact command that trained it, its measured figures)."""
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


def model_id(name: str) -> bytes:
    """The 8-byte identity a learned codec stores in its files: sha256 prefix of the weights."""
    return bytes.fromhex(manifest()[name]["sha256"])[:8] if name in manifest() else b""


def write_manifest(name: str, file: str | Path, **fields) -> Path:
    """Create/replace ``<name>.json`` for a weight file in the weights folder (used by trainers)."""
    path = Path(file)
    entry = {"name": name, "file": path.name, "sha256": file_sha256(path), "bytes": path.stat().st_size}
    entry.update(fields)
    out = WEIGHTS_DIR / f"{name}.json"
    out.write_text(json.dumps(entry, indent=2, sort_keys=False) + "\n")
    return out
