"""The seams hold: networks never code, the registry and classical paths never import torch,
and codec modules keep heavy libraries out of their import-time code."""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

PKG = Path(__file__).resolve().parents[1] / "ncodec"
HEAVY = {"torch", "torchvision", "compressai", "scipy", "matplotlib", "pytorch_msssim"}


def _imports(path: Path, top_level_only: bool) -> set[str]:
    """Absolute module names a file imports (relative imports resolved against ncodec)."""
    tree = ast.parse(path.read_text())
    pkg = ".".join(path.relative_to(PKG.parent).with_suffix("").parts[:-1])
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    out = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = pkg.split(".")[: len(pkg.split(".")) - node.level + 1]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            out.add(mod)
            out |= {f"{mod}.{a.name}" for a in node.names}
    return out


def test_models_never_import_entropy_or_codecs():
    for f in sorted((PKG / "models").glob("*.py")):
        bad = {m for m in _imports(f, top_level_only=False)
               if m.startswith(("ncodec.entropy", "ncodec.codecs"))}
        assert not bad, f"{f.name} imports {sorted(bad)}"


def test_codec_modules_import_no_heavy_library_at_import_time():
    """The registry imports every public codec module: none may pull torch/scipy at import."""
    for f in sorted((PKG / "codecs").glob("*.py")):
        if f.name.startswith("_") and f.name not in ("_image.py", "_packets.py"):
            continue                      # implementation halves, imported when a codec codes
        heavy = {m for m in _imports(f, top_level_only=True) if m.split(".")[0] in HEAVY}
        assert not heavy, f"{f.name} imports {sorted(heavy)} at import time"


def _run(code: str) -> str:
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def test_list_and_classical_round_trip_never_import_torch(tmp_path):
    code = f"""
import sys, io, contextlib
import numpy as np
from ncodec.cli.main import main
with contextlib.redirect_stdout(io.StringIO()):
    assert main(["list"]) == 0
    assert main(["list", "wavelet"]) == 0
import ncodec
from ncodec.item import Item
img = Item.from_array(np.arange(48 * 40 * 3, dtype=np.uint8).reshape(48, 40, 3), "image")
for c in ("png", "webp", "zstd"):
    assert ncodec.decompress(ncodec.compress(img, codec=c).data).data.shape == img.data.shape
path = {str(tmp_path)!r} + "/x.ncz"
ncodec.compress(img, codec="webp", output=path)
with contextlib.redirect_stdout(io.StringIO()):
    assert main(["info", path]) == 0
print(sorted(m for m in {HEAVY!r} if m in sys.modules))
"""
    assert _run(code) == "[]"


def test_registry_reads_codec_attributes_without_instances():
    code = """
import sys
from ncodec.codecs import available
rows = {n: (c.media_kinds(), c.lossless, c.sweep_levels(), [o.name for o in c.options])
        for n, c in available().items()}
assert rows["wavelet"][0] == ("image", "audio"), rows["wavelet"]
assert "steps" in rows["nerv"][3] and rows["webp"][2][0] == 1
print("torch" in sys.modules)
"""
    assert _run(code) == "False"
