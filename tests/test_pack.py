"""``ncodec pack`` / ``unpack`` / ``info ds/``: sharded .ncz data sets.

Kept small (a few hundred MNIST digits, a dozen generated images): the properties under test
are byte-identical shards (1 vs 2 workers, local vs Ray, interrupted + resumed vs straight
through), exact lossless round trips, and corruption reported with shard and record.
"""
from __future__ import annotations

import contextlib
import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ncodec.cli.main import main
from ncodec.data.engines import ray_available
from ncodec.data.pack import pack, parse_size
from ncodec.data.reader import DatasetReader
from ncodec.errors import ChecksumError, OutputExistsError

REPO = Path(__file__).resolve().parents[1]


def _files(root: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(root.iterdir()) if p.is_file()}


def _cli(*args: str) -> tuple[int, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(args))
    return code, out.getvalue() + err.getvalue()


@pytest.fixture(scope="module")
def image_folder(tmp_path_factory) -> Path:
    """12 RGB/gray PNGs of odd sizes in two class folders (one constant, one noise image)."""
    root = tmp_path_factory.mktemp("imgs")
    rng = np.random.default_rng(0)
    for k in range(12):
        cls = "cat" if k % 2 else "dog"
        h, w = 7 + 3 * k, 5 + 2 * k
        arr = rng.integers(0, 256, (h, w, 3) if k % 3 else (h, w), dtype=np.uint8)
        if k == 4:
            arr[:] = 77
        (root / cls).mkdir(exist_ok=True)
        Image.fromarray(arr).save(root / cls / f"im{k:02d}.png")
    return root


def test_parse_size():
    assert parse_size("256MB") == 256_000_000 and parse_size("64KiB") == 65536 and parse_size("100") == 100


def test_pack_unpack_round_trip_is_exact(image_folder, tmp_path):
    ds, out = tmp_path / "ds", tmp_path / "out"
    code, msg = _cli("pack", str(image_folder), "-o", str(ds), "-c", "png", "--shard-size", "1KB", "-j", "1",
                     "--quiet")
    assert code == 0, msg
    man = json.loads((ds / "manifest.json").read_text())
    n_shards = man["totals"]["shards"]
    assert man["complete"] and man["records_total"] == 12 and n_shards > 2
    assert man["classes"] == ["cat", "dog"]
    code, msg = _cli("unpack", str(ds), "-o", str(out), "--quiet")
    assert code == 0, msg
    for f in image_folder.rglob("*.png"):
        rel = f.relative_to(image_folder)
        assert np.array_equal(np.array(Image.open(f)), np.array(Image.open(out / rel))), rel
    labels = (out / "labels.csv").read_text().splitlines()
    assert labels[0] == "file,label,class" and "cat/im01.png,0,cat" in labels
    code, msg = _cli("info", str(ds))
    assert code == 0 and "12" in msg and f"{n_shards}/{n_shards} ok" in msg
    # every shard is an ordinary .ncz archive
    code, msg = _cli("decompress", str(ds / "shard-00000.ncz"), "-o", str(tmp_path / "s0"), "--quiet")
    assert code == 0, msg


def test_workers_and_refusals(tmp_path):
    """1 and 2 local workers give the same bytes; other settings in the same folder are refused."""
    a, b = tmp_path / "a", tmp_path / "b"
    pack(["mnist:test"], a, codec="png", shard_size="20KB", limit=600, workers=1, chunk=64, progress=False)
    pack(["mnist:test"], b, codec="png", shard_size="20KB", limit=600, workers=2, chunk=64, progress=False)
    assert _files(a) == _files(b) and len([n for n in _files(a) if n.startswith("shard-")]) > 3
    again = pack(["mnist:test"], a, codec="png", shard_size="20KB", limit=600, workers=1, chunk=64,
                 progress=False)
    assert again.encoded == 0 and _files(a) == _files(b)           # already complete: nothing redone
    with pytest.raises(OutputExistsError):
        pack(["mnist:test"], a, codec="webp-lossless", shard_size="20KB", limit=600, progress=False)
    rd = DatasetReader(a)
    it = rd.decode(123)
    from ncodec import data as D
    x, y = D.arrays("mnist", "test")
    assert np.array_equal(it.data, x[123]) and it.extra["label"] == y[123] and it.name == "mnist_test_00123"
    assert 8 * sum(s["bytes"] for s in rd.index.shards) / 600 <= rd.index.rows["bits"].mean() + 8 * 3


def test_resume_after_sigterm_gives_identical_shards(tmp_path):
    ref, ds = tmp_path / "ref", tmp_path / "ds"
    args = ["mnist:test", "-c", "jpegxl-lossless", "--shard-size", "30KB", "--limit", "3000", "--chunk", "50",
            "-j", "1", "--quiet"]
    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc = subprocess.Popen([sys.executable, "-m", "ncodec", "pack", *args, "-o", str(ds)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.time() + 120
        while time.time() < deadline and proc.poll() is None:
            try:
                if json.loads((ds / "manifest.json").read_text())["totals"]["shards"] >= 3:
                    break
            except (FileNotFoundError, json.JSONDecodeError, KeyError):
                pass
            time.sleep(0.01)
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    man = json.loads((ds / "manifest.json").read_text())
    assert not man["complete"], "the pack finished before it could be interrupted"
    assert not list(ds.glob(".*.tmp")), "a temp file was left behind"
    done = man["totals"]["shards"]
    res = pack(["mnist:test"], ds, codec="jpegxl-lossless", shard_size="30KB", limit=3000, chunk=50,
               workers=1, progress=False)
    assert res.resumed_from == man["committed"]["records"] > 0 and res.shards > done
    pack(["mnist:test"], ref, codec="jpegxl-lossless", shard_size="30KB", limit=3000, chunk=100, workers=1,
         progress=False)
    assert _files(ref) == _files(ds)


def test_corrupted_shard_reported_with_shard_and_record(tmp_path):
    ds = tmp_path / "ds"
    pack(["mnist:test"], ds, codec="png", shard_size="10KB", limit=200, workers=1, progress=False)
    rd = DatasetReader(ds)
    shard1 = rd.index.shards[1]
    victim = shard1["first"] + 5
    r = rd.index.record(victim)
    raw = bytearray((ds / shard1["file"]).read_bytes())
    raw[r.offset + r.length // 2] ^= 0x40
    (ds / shard1["file"]).write_bytes(bytes(raw))
    rd = DatasetReader(ds)
    with pytest.raises(ChecksumError) as ei:
        rd.decode(victim)
    assert ei.value.shard.endswith("shard-00001.ncz") and ei.value.record == 5 and ei.value.index == victim
    assert "shard-00001.ncz record 5" in str(ei.value)
    for i in range(len(rd)):                  # every other record, in this shard and the others, reads
        if i != victim:
            rd.decode(i)
    code, msg = _cli("info", str(ds))
    assert code == 3 and "shard-00001.ncz" in msg and "record 5 " in msg and "corrupt" in msg


@pytest.mark.skipif(not ray_available(), reason="ray[data] not installed (pip install 'ncodec[ray]')")
def test_ray_engine_gives_the_same_shards(tmp_path):
    a, b = tmp_path / "local", tmp_path / "ray"
    kw = dict(codec="png", shard_size="8KB", limit=160, chunk=16, progress=False)
    pack(["mnist:test"], a, workers=1, **kw)
    res = pack(["mnist:test"], b, engine="ray", workers=2, **kw)
    assert res.records == 160 and _files(a) == _files(b)
