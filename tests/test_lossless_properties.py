"""Round-trip properties of every lossless codec (DESIGN rule 4) over hypothesis-generated inputs:
odd sizes, every supported dtype and layout, both byte orders, constant, gradient and noise
content. Whatever a lossless codec accepts comes back bit-exact through the real file format
(compress_items -> bytes -> decompress_bytes, content check included); what it cannot code
exactly it refuses with UnsupportedInputError. Seeded (derandomized) and CI-sized."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ncodec.api import compress_items, decompress_bytes
from ncodec.errors import UnsupportedInputError
from ncodec.item import DTYPES, Item

SETTINGS = dict(deadline=None, derandomize=True, suppress_health_check=list(HealthCheck),
                database=None)


def _content(draw, shape, dtype) -> np.ndarray:
    """Constant, gradient, noise or sparse content of ``shape`` / ``dtype`` (full value range)."""
    dt = np.dtype(dtype)
    kind = draw(st.sampled_from(["constant", "gradient", "noise", "sparse", "extremes"]))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    n = int(np.prod(shape, dtype=np.int64))
    if dt.kind == "b":
        return (rng.random(shape) < 0.3) if kind != "constant" else np.ones(shape, bool)
    if dt.kind == "f":
        info = np.finfo(dt)
        vals = {"constant": np.full(n, 1.5), "gradient": np.linspace(-3, 3, n),
                "noise": rng.normal(0, 1e3, n),
                "sparse": np.where(rng.random(n) < 0.1, rng.normal(size=n), 0.0),
                "extremes": rng.choice(np.array([info.max, info.min, np.inf, -np.inf, np.nan, -0.0, info.tiny]), n)}[kind]
        return vals.astype(dt).reshape(shape)
    info = np.iinfo(dt)
    lo, hi = int(info.min), int(info.max)
    if kind == "constant":
        v = draw(st.integers(lo, hi))
        return np.full(shape, v, dtype=dt)
    if kind == "gradient":
        step = (hi - lo) // max(n - 1, 1)
        return np.array([lo + i * step for i in range(n)], dtype=object).astype(dt).reshape(shape)
    if kind == "extremes":
        return rng.choice(np.array([lo, hi, 0, 1, hi - 1], dtype=object), n).astype(dt).reshape(shape)
    if kind == "sparse":
        return np.where(rng.random(n) < 0.1, rng.integers(lo, hi, n, endpoint=True, dtype=dt), 0).astype(dt).reshape(shape)
    return rng.integers(lo, hi, n, endpoint=True, dtype=dt).reshape(shape)


def _maybe_big_endian(draw, a: np.ndarray) -> np.ndarray:
    if a.dtype.itemsize > 1 and draw(st.booleans()):
        return a.astype(a.dtype.newbyteorder(">"))
    return a


def _round_trip(items: list[Item], codec: str, quality=None) -> None:
    try:
        res = compress_items(items, codec=codec, quality=quality)
    except UnsupportedInputError:
        return                                # refusing clearly is allowed; changing silently is not
    out = decompress_bytes(res.data, max_pixels=1 << 30, max_bytes=1 << 31)
    assert len(out) == len(items)
    for a, b in zip(items, out):
        want = a.data.astype(a.data.dtype.newbyteorder("="))
        assert b.data.shape == want.shape and b.data.dtype == want.dtype, (codec, b.data.shape, want.shape)
        assert b.data.tobytes() == np.ascontiguousarray(want).tobytes(), codec


@st.composite
def images(draw, dtypes=("uint8", "uint16"), channels=(1, 3, 4), max_side=40, min_side=1):
    h = draw(st.integers(min_side, max_side))
    w = draw(st.integers(min_side, max_side))
    c = draw(st.sampled_from(list(channels) + ([0] if 1 in channels else [])))   # 0: 2-D gray
    dtype = draw(st.sampled_from(dtypes))
    shape = (h, w) if c == 0 else (h, w, c)
    return Item.from_array(_maybe_big_endian(draw, _content(draw, shape, dtype)), "image")


@pytest.mark.parametrize("codec", ["png", "jpegxl-lossless"])
@settings(max_examples=80, **SETTINGS)
@given(data=st.data())
def test_image_codecs_round_trip(codec, data):
    item = data.draw(images())
    if data.draw(st.booleans()):                             # tall and narrow (N x 1) too
        arr = data.draw(images(max_side=1)).data
        item = Item.from_array(np.repeat(arr, data.draw(st.integers(1, 3000)), axis=0), "image")
    _round_trip([item], codec, 1 if codec == "jpegxl-lossless" else None)


@settings(max_examples=80, **SETTINGS)
@given(data=st.data())
def test_webp_lossless_round_trip(data):
    _round_trip([data.draw(images(dtypes=("uint8",)))], "webp-lossless", 2)


@st.composite
def audio(draw, kind: str, ch: int, max_len=3000):
    n = draw(st.integers(0, max_len))
    shape = (n,) if ch == 0 else (n, ch)
    if kind == "int16":
        a = _content(draw, shape, "int16")
    else:
        a = (_content(draw, shape, "int32") >> 8) << 8        # 24-bit samples as read from PCM_24 files
    rate = draw(st.sampled_from([1, 8000, 11025, 44100, 48000, 96000, 655350]))
    return Item.from_array(_maybe_big_endian(draw, a), "audio", sample_rate=rate)


@settings(max_examples=100, **SETTINGS)
@given(data=st.data())
def test_flac_round_trip(data):
    kind = data.draw(st.sampled_from(["int16", "pcm24"]))
    ch = data.draw(st.sampled_from([0, 1, 2, 3, 8]))          # 0: 1-D mono
    items = [data.draw(audio(kind, ch)) for _ in range(data.draw(st.integers(1, 3)))]
    _round_trip(items, "flac", data.draw(st.integers(0, 8)))


@st.composite
def tensors(draw):
    dtype = draw(st.sampled_from(DTYPES))
    ndim = draw(st.integers(0, 4))
    shape = tuple(draw(st.lists(st.integers(0, 7), min_size=ndim, max_size=ndim)))
    a = _maybe_big_endian(draw, _content(draw, shape, dtype))
    if a.ndim >= 2 and draw(st.booleans()):
        a = a.T                                              # Fortran order in, C order out
    return a


@settings(max_examples=150, **SETTINGS)
@given(data=st.data())
def test_zstd_round_trip_every_dtype_and_shape(data):
    from ncodec.io import tensor_item
    a = data.draw(tensors())
    item = tensor_item(np.asarray(a))
    assert item.data.shape == a.shape                        # 0-d stays 0-d, big-endian keeps its values
    _round_trip([item], "zstd", data.draw(st.sampled_from([1, 3, 19])))
    raw = Item.from_bytes(data.draw(st.binary(max_size=300)))
    _round_trip([raw], "zstd", 3)


@settings(max_examples=20, **SETTINGS)
@given(data=st.data())
def test_x264_lossless_round_trip(data):
    t = data.draw(st.integers(1, 3))
    h, w = data.draw(st.integers(1, 24)), data.draw(st.integers(1, 24))
    v = Item.from_array(_content(data.draw, (t, h, w, 3), "uint8"), "video", frame_rate=25)
    _round_trip([v], "x264-lossless")


@settings(max_examples=10, **SETTINGS)
@given(data=st.data())
def test_hclt_round_trip(data):
    imgs = [Item.from_array(_content(data.draw, (28, 28), "uint8"), "image") for _ in range(data.draw(st.integers(1, 3)))]
    _round_trip(imgs, "hclt", 1)


@settings(max_examples=6, **SETTINGS)
@given(data=st.data())
def test_flow_round_trip(data):
    kind = data.draw(st.sampled_from(["digit", "rgb", "gray"]))
    if kind == "digit":
        item = Item.from_array(_content(data.draw, (28, 28), "uint8"), "image")
    else:
        h, w = data.draw(st.integers(1, 40)), data.draw(st.integers(1, 40))
        shape = (h, w, 3) if kind == "rgb" else (h, w)
        item = Item.from_array(_content(data.draw, shape, "uint8"), "image")
    _round_trip([item], "flow", 1)
