"""Defaults follow the measurements: digit stacks go to the circuit codec, and `ncodec list` says so."""
from __future__ import annotations

import json

import numpy as np

import ncodec
from ncodec import data as D
from ncodec.item import Item


def test_digit_stack_defaults_to_hclt_and_beats_the_classical_default():
    x, _ = D.arrays("mnist", "test")
    stack = Item.from_array(np.ascontiguousarray(x[:200]), "tensor")
    res = ncodec.compress(stack)
    assert res.codec == "hclt"
    back = ncodec.decompress(res.data)
    assert np.array_equal(back.data, x[:200])        # one stack record (chained lanes)
    jxl = ncodec.compress(stack, codec="jpegxl-lossless")
    assert len(res.data) < 0.75 * len(jxl.data), (len(res.data), len(jxl.data))


def test_other_images_keep_the_classical_default():
    img = Item.from_array(np.zeros((28, 29), np.uint8), "image")
    assert ncodec.compress(img).codec == "jpegxl-lossless"


def test_list_marks_defaults(cli):
    r = cli("list", "--json")
    rows = {row["name"]: row for row in json.loads(r.stdout)}
    assert "28x28 digit stacks" in rows["hclt"]["default_for"]
    assert "audio lossless" in rows["flac"]["default_for"]
    assert rows["webp"]["default_for"] == []


def test_api_takes_arrays_and_bytes():
    import pytest
    from ncodec.errors import InputError
    a = np.random.default_rng(0).integers(0, 255, (30, 40, 3), dtype=np.uint8)
    res = ncodec.compress(a, codec="webp-lossless")
    assert np.array_equal(ncodec.decompress(res.data).data, a)
    assert ncodec.compress(a).codec == "jpegxl-lossless"            # guessed: an image
    assert ncodec.decompress(ncodec.compress(b"abc" * 50).data).data.tobytes() == b"abc" * 50
    tone = (np.sin(np.arange(8000) / 5) * 8000).astype(np.int16)
    res = ncodec.compress(tone, media="audio", sample_rate=8000)
    assert res.codec == "flac" and np.array_equal(ncodec.decompress(res.data).data, tone)
    with pytest.raises(InputError):
        ncodec.compress(tone, media="audio")
    with pytest.raises(InputError):
        ncodec.compress(3.5)


def test_summary_line_gives_ratio_against_the_input_file(tmp_path, cli):
    from PIL import Image
    rng = np.random.default_rng(1)
    img = np.repeat(np.repeat(rng.integers(0, 255, (16, 16, 3), dtype=np.uint8), 4, 0), 4, 1)
    Image.fromarray(img).save(tmp_path / "p.png")
    r = cli("compress", str(tmp_path / "p.png"), "-c", "webp", "-q", "50")
    line = r.stderr.decode()
    size = (tmp_path / "p.png").stat().st_size
    out = (tmp_path / "p.png.ncz").stat().st_size
    assert f"{size} B file ({img.nbytes} B raw)" in line and f"{size / out:.2f}x file" in line, line
