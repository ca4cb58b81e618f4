"""`inr` (per-image overfitted codec): round trip, deterministic decode under 1 and 2 threads,
damaged payloads and unknown options refused cleanly. Tiny images and few iterations keep it fast."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import ncodec
from ncodec.codecs import get_codec
from ncodec.errors import NcodecError, OptionError
from ncodec.item import Item


@pytest.fixture(scope="module")
def coded():
    y, x = np.mgrid[0:24, 0:32]
    img = np.stack([(y * 9) % 256, (x * 7) % 256, ((x + y) * 5) % 256], axis=2).astype(np.uint8)
    it = Item.from_array(img, "image")
    res = ncodec.compress(it, codec="inr", quality=4, options={"iterations": 40, "progress": False, "threads": 1})
    return it, res


def test_round_trip_shape_and_real_bits(coded):
    it, res = coded
    back = ncodec.decompress(res.data)
    assert back.data.shape == it.data.shape and back.data.dtype == np.uint8
    assert res.ideal_bits is not None and 0 < res.ideal_bits <= 8 * len(res.data)


def test_decode_identical_under_1_and_2_threads(coded):
    _, res = coded
    before = torch.get_num_threads()
    try:
        outs = []
        for n in (1, 2):
            torch.set_num_threads(n)
            outs.append(ncodec.decompress(res.data).data)
    finally:
        torch.set_num_threads(before)
    assert np.array_equal(outs[0], outs[1])


def test_damaged_payloads_and_bad_options_are_clean_errors(coded):
    it, res = coded
    codec = get_codec("inr")
    payload = ncodec.open(res.data).container.records[0].payload
    for bad in (b"", payload[:3], payload[: len(payload) // 2], bytes(len(payload))):
        with pytest.raises(NcodecError):
            codec.decode(bad, it.meta, 4)
    with pytest.raises(OptionError):
        ncodec.compress(it, codec="inr", options={"iteratons": 5})
