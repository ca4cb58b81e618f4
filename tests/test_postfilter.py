"""Per-image post-filter of wavelet version 3: exact integer filtering, block round trip and damage,
the filter actually helping at low rate, and version-2 payloads (no block) still decoding."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from ncodec.codecs import _postfilter as PF
from ncodec.codecs import get_codec
from ncodec.codecs._wavelet_engine import from_tensor, to_tensor
from ncodec.errors import CodecError
from ncodec.io import read_item
from ncodec.item import Item
from ncodec import data as D


def _reference(img: np.ndarray, block: PF.Block) -> np.ndarray:
    """The filters in plain int64 arithmetic (edge-extended), independent of apply_filter's convolution."""
    out = img.copy()
    h, w, ch = img.shape
    r, s = block.r, block.s
    cls = PF.classes_of(img, block.thresholds)
    for (k, c), coef in block.filters.items():
        p = np.pad(img[:, :, c].astype(np.int64), r, mode="edge")
        acc = coef[0] * p[r:r + h, r:r + w] + int(coef[-1]) + (1 << (s - 1))
        for (dy, dx), v in zip(PF._offsets(r), coef[1:]):
            acc += v * (p[r + dy:r + dy + h, r + dx:r + dx + w] + p[r - dy:r - dy + h, r - dx:r - dx + w])
        for o, v in zip([o for o in range(ch) if o != c], coef[1 + len(PF._offsets(r)):-1]):
            acc += v * img[:, :, o].astype(np.int64)
        out[:, :, c][cls == k] = np.clip(acc >> s, 0, 255)[cls == k]
    return out


@pytest.mark.parametrize("r,ch,n_cls", [(1, 3, 1), (2, 3, 4), (3, 3, 2), (2, 1, 3), (3, 1, 1)])
def test_filter_is_exact_integer_arithmetic(r, ch, n_cls):
    """apply_filter == an int64 reference, with coefficients as large as the exact range allows,
    several activity classes, and images that saturate (0/255 blocks), under 1 and 2 torch threads."""
    rng = np.random.default_rng(r * 10 + ch)
    img = rng.integers(0, 256, (37, 53, ch), dtype=np.uint8)
    img[:10, :10] = 255
    img[-8:, -12:] = 0
    n = PF._n_coeffs(r, ch)
    act = np.sort(PF.activity(img).ravel())
    block = PF.Block([int(act[len(act) * k // n_cls]) for k in range(1, n_cls)], r, 10, {})
    for k in range(n_cls):
        for c in range(ch):
            coef = rng.integers(-4000, 4000, n).astype(np.int64)
            coef[0] = 1 << 10
            while not PF.exact_range(coef, r):
                coef[1:-1] //= 2
            block.filters[(k, c)] = coef
    filters = block
    ref = _reference(img, filters)
    before = torch.get_num_threads()
    try:
        for t in (1, 2):
            torch.set_num_threads(t)
            assert np.array_equal(PF.apply_filter(img, filters), ref)
    finally:
        torch.set_num_threads(before)


def test_block_round_trip_and_damage():
    rng = np.random.default_rng(1)
    n = PF._n_coeffs(2, 3)
    block = PF.Block([17, 400, 4000, 5000, 9000], 2, 9, {(0, 0): rng.integers(-300, 300, n), (2, 2): rng.integers(-9, 9, n),
                                             (5, 1): rng.integers(-50, 50, n)})
    blk = PF.pack(block, 3)
    back, used = PF.unpack(blk + b"\xff" * 8, 3)
    assert used == len(blk) and sorted(back.filters) == sorted(block.filters)
    assert (back.thresholds, back.r, back.s) == (block.thresholds, 2, 9)
    assert all(np.array_equal(back.filters[k], block.filters[k]) for k in block.filters)
    empty, used = PF.unpack(PF.pack(PF.Block(), 3) + b"rest", 3)
    assert PF.pack(PF.Block(), 3) == b"\x00" and used == 1 and not empty.filters
    with pytest.raises(CodecError):
        PF.unpack(blk[:len(blk) // 2], 3)                  # truncated
    with pytest.raises(CodecError):
        PF.unpack(bytes([0b00000001]), 3)                   # no-filter byte with stray bits
    with pytest.raises(CodecError):
        PF.unpack(bytes([0b10001100, 0]), 3)                # radius 4
    with pytest.raises(CodecError):
        PF.unpack(bytes([0b10101000, 0]) + b"\x00" * 40, 3)   # an endless Exp-Golomb prefix


def test_large_blocks_round_trip():
    """A block far above typical size (8 classes x 3 channels of 7x7 filters with large taps, over
    1 kB) unpacks exactly: no valid block is refused for its length."""
    rng = np.random.default_rng(3)
    n = PF._n_coeffs(3, 3)
    filters = {}
    for k in range(8):
        for c in range(3):
            coef = rng.choice([-1, 1], n) * rng.integers(900, 1200, n)
            assert PF.exact_range(coef, 3)
            filters[(k, c)] = coef
    block = PF.Block([10, 20, 30, 40, 50, 60, 70], 3, 10, filters)
    blk = PF.pack(block, 3)
    assert len(blk) > 1024
    back, used = PF.unpack(blk + bytes(100), 3)
    assert used == len(blk) and all(np.array_equal(back.filters[k], filters[k]) for k in filters)


def _crop(size: int = 256) -> Item:
    img = read_item(D.paths("kodak")[2]).data[:size, :size]
    return Item.from_array(np.ascontiguousarray(img), "image")


def test_filter_pays_at_low_rate_and_version2_payloads_decode():
    """At q1 a 256x256 Kodak crop gets a filter block, which lowers the squared error by more than its
    bytes cost at the codec's lambda; the same latents without a block (a version-2 payload) still
    decode, through for_version(2), to the unfiltered synthesis."""
    it = _crop()
    codec = get_codec("wavelet").for_media("image")
    enc = codec.encode(it, 1, {})
    assert enc.info.get("postfilter", {}).get("bytes", 0) > 1, enc.info
    dec = codec.decode(enc.payload, it.meta, 1).data
    eng = codec._engine("image")
    core, _, _ = eng.encode(to_tensor(it), 0)
    plain = from_tensor(eng.decode(core, it.meta.shape[:2], 0), it.meta).data
    assert np.array_equal(codec.for_version(2).decode(core, it.meta, 1).data, plain)
    sse = [float(((a.astype(np.int64) - it.data) ** 2).sum()) for a in (plain, dec)]
    n_block = enc.info["postfilter"]["bytes"]
    assert sse[1] < sse[0]
    assert eng.cfg.lambdas[0] / 3 * (sse[0] - sse[1]) > 8 * n_block        # worth its bits
    with pytest.raises(CodecError):
        codec.decode(enc.payload[:3], it.meta, 1)
    fast = codec.encode(it, 1, {"postfilter": 0}).payload            # the option: an empty block
    assert fast == core[:2] + b"\x00" + core[2:]
    assert np.array_equal(codec.decode(fast, it.meta, 1).data, plain)


def test_filter_fit_declines_when_nothing_to_gain():
    """A decoded image equal to the original gets no filter (a 1-byte empty block)."""
    img = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    assert not PF.fit(img, img, 1.0).filters
