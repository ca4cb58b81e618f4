"""Chained lanes (ncodec.entropy.lanes): layout helpers and a round trip through the batched rANS."""
from __future__ import annotations

import numpy as np
import pytest

from ncodec.entropy import BatchedAnsDecoder, ans_encode, lanes
from ncodec.errors import CodecError


def test_to_lanes_places_message_i_in_lane_i_mod_l():
    rows = np.arange(7 * 3).reshape(7, 3)
    per_lane, counts = lanes.to_lanes(rows, 3)
    assert counts.tolist() == [9, 6, 6]
    assert per_lane[0].tolist() == [0, 1, 2, 9, 10, 11, 18, 19, 20]
    assert per_lane[2, :6].tolist() == [6, 7, 8, 15, 16, 17]
    assert lanes.round_sizes(7, 3) == [3, 3, 1] and lanes.round_sizes(0, 0) == []


def test_join_split_round_trip_and_refusals():
    parts = [b"abc", b"", b"x" * 300, b"tail"]
    buf = lanes.join(parts)
    assert lanes.split(buf, 4) == parts
    for bad in (buf[:2], b"\xff\xff\xff", b"\x80"):
        with pytest.raises(CodecError):
            lanes.split(bad, 4)
    assert lanes.split(b"", 0) == []
    with pytest.raises(CodecError):
        lanes.split(b"x", 0)


def test_chained_messages_decode_in_rounds():
    rng = np.random.default_rng(1)
    n, steps, lanes_n, prec = 11, 5, 4, 8
    pmf = rng.integers(1, 40, (n, steps, 4))
    pmf = (pmf * (1 << prec) // pmf.sum(-1, keepdims=True))
    pmf[..., 0] += (1 << prec) - pmf.sum(-1)
    sym = rng.integers(0, 4, (n, steps))
    cdf = np.concatenate([np.zeros((n, steps, 1), int), np.cumsum(pmf, -1)], -1)
    freq = np.take_along_axis(pmf, sym[..., None], -1)[..., 0]
    start = np.take_along_axis(cdf, sym[..., None], -1)[..., 0]
    fl, counts = lanes.to_lanes(freq, lanes_n)
    sl, _ = lanes.to_lanes(start, lanes_n)
    streams = ans_encode(fl, sl, prec, counts)
    dec = BatchedAnsDecoder(lanes.split(lanes.join(streams), lanes_n), prec, counts)
    got = np.zeros_like(sym)
    for r, size in enumerate(lanes.round_sizes(n, lanes_n)):
        for s in range(steps):
            tab = np.full((lanes_n, 4), 1 << (prec - 2))
            tab[:size] = pmf[r * lanes_n:r * lanes_n + size, s]
            got[r * lanes_n:r * lanes_n + size, s] = dec.decode(tab)[:size]
    dec.finish()
    assert np.array_equal(got, sym)
