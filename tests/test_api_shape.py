"""The Python API's one result shape and its guide: ``decompress`` returns a ``Decoded`` (a sequence of
Items with the file's header) for single items, archives and stacks alike; ``help(ncodec)`` and the
docstrings say how to use it. Also the CLI's stdin/stdout and ``-q``-on-a-lossless-default notes."""
from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
import pytest

import ncodec
from ncodec.errors import InputError, QualityWarning
from ncodec.item import Item


def test_decompress_is_one_shape_for_single_items_archives_and_stacks(mnist_slice):
    a = np.random.default_rng(0).integers(0, 255, (20, 30, 3), dtype=np.uint8)
    single = ncodec.decompress(ncodec.compress(a, codec="png").data)
    assert isinstance(single, ncodec.Decoded) and isinstance(single, Sequence)
    assert len(single) == 1 and not single.is_archive and single.codec == "png"
    assert np.array_equal(single[0].data, a) and np.array_equal(single.data, a)     # convenience: the only item
    assert single.meta == single[0].meta and [it.meta.shape for it in single] == [(20, 30, 3)]
    items = [Item.from_array(mnist_slice[i], "image", name=f"d{i}.png") for i in range(3)]
    arc = ncodec.decompress(ncodec.compress(items, codec="png").data)
    assert isinstance(arc, ncodec.Decoded) and len(arc) == 3 and arc.names == ["d0.png", "d1.png", "d2.png"]
    assert [it.name for it in arc] == arc.names and np.array_equal(arc[-1].data, mnist_slice[2])
    assert len(arc[1:]) == 2
    with pytest.raises(InputError, match="holds 3 records"):
        arc.data
    stack = ncodec.decompress(ncodec.compress(mnist_slice[:5], codec="png").data)
    assert stack.is_stack and len(stack) == 5 and np.array_equal(stack.data, mnist_slice[:5])
    assert "Decoded(codec='png'" in repr(stack) and stack.info()["records"] == 5


def test_help_reads_as_a_guide():
    doc = ncodec.__doc__
    for words in ("ncodec.compress(", "ncodec.decompress(", "quality", "options=", "weights", "codec=",
                  "media=", "CompressAI", "ncodec list"):
        assert words in doc, words
    for fn in (ncodec.compress, ncodec.compress_items, ncodec.decompress, ncodec.open):
        assert "Returns" in fn.__doc__ or "returns" in fn.__doc__.lower(), fn.__name__
    assert "quality" in ncodec.compress.__doc__ and "options" in ncodec.compress.__doc__
    assert "Decoded" in ncodec.decompress.__doc__


def test_quality_on_a_lossless_default_warns(tmp_path, cli):
    x = np.random.default_rng(0).standard_normal((50, 4)).astype(np.float32)
    with pytest.warns(QualityWarning, match="zstd"):
        res = ncodec.compress(x, quality=6)
    assert res.codec == "zstd" and np.array_equal(ncodec.decompress(res.data).data, x)
    with warnings.catch_warnings():
        warnings.simplefilter("error", QualityWarning)
        ncodec.compress(x, codec="zstd", quality=6)                    # asked for by name: no note
    np.save(tmp_path / "f.npy", x)
    r = cli("compress", str(tmp_path / "f.npy"), "-q", "6")
    assert r.returncode == 0 and b"ncodec: warning: tensor has no lossy codec" in r.stderr
    r = cli("compress", str(tmp_path / "f.npy"), "-q", "6", "-o", str(tmp_path / "g.ncz"), "--quiet")
    assert r.returncode == 0 and r.stderr == b""


def test_stdin_goes_to_stdout_when_piped(tmp_path, cli):
    a = np.random.default_rng(0).integers(0, 255, (16, 16, 3), dtype=np.uint8)
    from PIL import Image
    Image.fromarray(a).save(tmp_path / "x.png")
    r = cli("compress", "-", "-c", "png", stdin=(tmp_path / "x.png").read_bytes())
    assert r.returncode == 0, r.stderr.decode()
    assert r.stdout[:4] and np.array_equal(ncodec.decompress(r.stdout).data, a)
    assert b"stdin -> stdout" in r.stderr


def test_stdin_refuses_a_terminal_stdout(tmp_path):
    import os
    import subprocess
    import sys
    from pathlib import Path
    a = np.zeros((8, 8), np.uint8)
    from PIL import Image
    Image.fromarray(a).save(tmp_path / "x.png")
    master, slave = os.openpty()
    try:
        with open(tmp_path / "x.png", "rb") as f:
            r = subprocess.run([sys.executable, "-m", "ncodec", "compress", "-"], stdin=f, stdout=slave,
                               stderr=subprocess.PIPE, timeout=60,
                               env=dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1])))
    finally:
        os.close(slave)
        os.close(master)
    assert r.returncode == 2 and b"refusing to write compressed data to a terminal" in r.stderr
