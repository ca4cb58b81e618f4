"""The train-and-use path on a fresh NCODEC_HOME, as subprocesses: train a tiny hclt, export it under
a new name into the user weights folder, compress with it by name, decompress by the model id
stored in the file, and confirm the shipped weights and an earlier file are untouched."""
from __future__ import annotations

import hashlib

import numpy as np

from ncodec import data as D
from ncodec import weights as W


def _shipped_digest() -> str:
    h = hashlib.sha256()
    for f in sorted(W.WEIGHTS_DIR.iterdir()):
        if f.is_file():
            h.update(f.name.encode() + f.read_bytes())
    return h.hexdigest()


def test_train_export_compress_decompress_by_model_id(tmp_path, cli, monkeypatch):
    home = tmp_path / "home"
    monkeypatch.setenv("NCODEC_HOME", str(home))
    before = _shipped_digest()
    digits = np.ascontiguousarray(D.arrays("mnist", "test")[0][:40])
    np.save(tmp_path / "d.npy", digits)
    r = cli("compress", str(tmp_path / "d.npy"), "-c", "hclt", "-o", str(tmp_path / "old.ncz"))
    assert r.returncode == 0, r.stderr.decode()

    r = cli("train", "hclt", "--data", "mnist", "--steps", "2", "--batch", "256", "--eval-n", "200",
            "--threads", "1", "--latents", "8", "--mi-samples", "1000", "--ckpt-dir", str(tmp_path / "ckpt"),
            "--name", "myhclt", "--quiet")
    assert r.returncode == 0, r.stderr.decode()
    assert (home / "weights" / "myhclt.npz").exists() and (home / "weights" / "myhclt.json").exists()
    r = cli("list", "--weights")
    assert b"myhclt" in r.stdout and b"user" in r.stdout

    r = cli("compress", str(tmp_path / "d.npy"), "-c", "hclt", "-O", "weights=myhclt", "-o", str(tmp_path / "mine.ncz"))
    assert r.returncode == 0, r.stderr.decode()
    r = cli("decompress", str(tmp_path / "mine.ncz"), "-o", str(tmp_path / "back.npy"))
    assert r.returncode == 0, r.stderr.decode()
    assert np.array_equal(np.load(tmp_path / "back.npy"), digits)

    # the earlier file (shipped weights) still decodes; the shipped folder is byte-for-byte unchanged
    r = cli("decompress", str(tmp_path / "old.ncz"), "-o", str(tmp_path / "old.npy"))
    assert r.returncode == 0 and np.array_equal(np.load(tmp_path / "old.npy"), digits)
    assert _shipped_digest() == before

    # without the user weights: one clear line naming the missing model id
    monkeypatch.setenv("NCODEC_HOME", str(tmp_path / "elsewhere"))
    r = cli("decompress", str(tmp_path / "mine.ncz"), "-o", str(tmp_path / "x.npy"))
    mid = W.model_id("hclt_mnist").hex()
    assert r.returncode == 4 and b"not installed" in r.stderr and mid.encode() not in r.stderr
    assert len(r.stderr.decode().strip().splitlines()) == 1


def test_user_export_never_takes_a_shipped_name(tmp_path, cli, monkeypatch):
    monkeypatch.setenv("NCODEC_HOME", str(tmp_path / "home"))
    r = cli("train", "hclt", "--data", "mnist", "--steps", "1", "--name", "hclt_mnist", "--latents", "4",
            "--mi-samples", "500", "--eval-n", "50", "--ckpt-dir", str(tmp_path / "c"), "--quiet")
    assert r.returncode == 2 and b"shipped weights name" in r.stderr
