"""The walkthrough in docs/adding_a_codec.md works: its example codec trains, installs its weights,
registers, round-trips MNIST through the API with options, and refuses what it should."""
from __future__ import annotations

import importlib.util
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

import ncodec
from ncodec import data as D
from ncodec import weights as W
from ncodec.codecs import base
from ncodec.errors import CodecError, ModelMismatchError, OptionError, UnsupportedInputError
from ncodec.item import Item

EXAMPLE = Path(__file__).resolve().parents[1] / "docs" / "examples" / "pixelprior.py"


@pytest.fixture(scope="module")
def pixelprior(tmp_path_factory):
    wdir = tmp_path_factory.mktemp("weights")
    for f in W.WEIGHTS_DIR.glob("*.json"):            # a private copy of the weights folder
        shutil.copy(f, wdir / f.name)
        entry = json.loads(f.read_text())
        src = W.WEIGHTS_DIR / entry["file"]
        if src.exists():
            (wdir / entry["file"]).symlink_to(src)
    old = W.WEIGHTS_DIR
    W.WEIGHTS_DIR = wdir
    spec = importlib.util.spec_from_file_location("pixelprior_example", EXAMPLE)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    x, _ = D.arrays("mnist", "train")
    path = mod.train_tables(x[:20000], wdir / "pixelprior_mnist.npz")
    W.write_manifest("pixelprior_mnist", path, dataset="mnist train[:20000]",
                     command="tests/test_adding_a_codec.py")
    yield mod
    W.WEIGHTS_DIR = old
    base._REGISTRY.pop("pixelprior", None)
    base._INSTANCES.pop("pixelprior", None)


def test_example_codec_round_trips_and_reports_ideal_bits(pixelprior):
    x, _ = D.arrays("mnist", "test")
    items = [Item.from_array(img, "image") for img in x[:200]]
    res = ncodec.compress_items(items, codec="pixelprior", options={"precision": 14})
    back = ncodec.decompress_bytes(res.data)
    assert all(a.same_data(b) for a, b in zip(items, back))
    bpd = 8 * len(res.data) / (200 * 784)
    assert bpd < 4.0, bpd                          # raw is 8; zstd on single digits ~2.6
    assert res.ideal_bits is not None and res.ideal_bits <= 8 * len(res.data)
    assert res.ideal_bits > 0.9 * 8 * sum(len(r.payload) for r in ncodec.open(res.data).container.records)


def test_example_codec_refuses_bad_options_input_and_payloads(pixelprior):
    img = Item.from_array(np.zeros((28, 28), np.uint8), "image")
    with pytest.raises(OptionError):
        ncodec.compress_items([img], codec="pixelprior", options={"precison": 14})
    with pytest.raises(OptionError):
        ncodec.compress_items([img], codec="pixelprior", options={"precision": 13})
    with pytest.raises(UnsupportedInputError):
        ncodec.compress_items([Item.from_array(np.zeros((27, 28), np.uint8), "image")], codec="pixelprior")
    codec = base.get_codec("pixelprior")
    with pytest.raises(CodecError):
        codec.decode(b"", img.meta, 0)
    with pytest.raises(CodecError):
        codec.decode(b"\x0d\x00\x00", img.meta, 0)


def test_example_codec_files_name_their_weights(pixelprior):
    img = Item.from_array(D.arrays("mnist", "test")[0][0], "image")
    data = ncodec.compress(img, codec="pixelprior").data
    assert ncodec.open(data).container.model_id == W.model_id("pixelprior_mnist") != b""
    c = ncodec.open(data).container
    c.model_id = b"\x00" * 8
    from ncodec import container
    with pytest.raises(ModelMismatchError):
        ncodec.open(container.pack(c))
