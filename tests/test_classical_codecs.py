"""Round trips of every classical codec on real files from ../shared/data, through the API.

Lossless codecs must be bit-exact on everything they accept and refuse the rest with
UnsupportedInputError; lossy ones must land in the quality range their settings imply.
"""
from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

import ncodec
from ncodec import container
from ncodec.api import compress_items, decompress_bytes
from ncodec.codecs import get_codec
from ncodec.eval.metrics import psnr
from ncodec.errors import CodecError, UnsupportedInputError
from ncodec.io import read_item
from ncodec.item import Item

LOSSLESS_IMAGE = ["png", "webp-lossless", "jpegxl-lossless"]
LOSSY_IMAGE = ["webp", "jpeg", "jpegxl", "avif"]
SIXTEEN_BIT = {"png", "jpegxl-lossless", "jpegxl"}
ALPHA = {"png", "webp-lossless", "jpegxl-lossless", "webp", "jpegxl", "avif"}


def _img(data) -> Item:
    return Item.from_array(np.ascontiguousarray(data), "image")


@pytest.fixture(scope="module")
def kodak_crop(data_dir) -> np.ndarray:
    return read_item(data_dir / "kodak" / "kodim23.png").data[100:196, 200:328]   # 96 x 128 RGB


@pytest.fixture(scope="module")
def image_set(kodak_crop, mnist_slice) -> dict[str, np.ndarray]:
    """Real pixels in every layout an image codec may meet (16-bit and alpha derived from Kodak)."""
    k = kodak_crop
    rng = np.random.default_rng(0)
    return {
        "rgb": k,
        "gray": np.ascontiguousarray(k[..., 1]),
        "gray_hw1": np.ascontiguousarray(k[..., 1:2]),
        "rgba": np.dstack([k, k[..., 2]]),                       # alpha from a real channel
        "rgba_opaque": np.dstack([k, np.full(k.shape[:2], 255, np.uint8)]),
        "gray16": k[..., 0].astype(np.uint16) * 257 + rng.integers(0, 2, k.shape[:2]).astype(np.uint16),
        "rgb16": k.astype(np.uint16) * 257 + rng.integers(0, 7, k.shape).astype(np.uint16),
        "odd": np.ascontiguousarray(k[:7, :5]),
        "mnist": mnist_slice[3],
        "constant": np.full((9, 13), 77, np.uint8),
    }


def _accepts(codec: str, name: str) -> bool:
    if "16" in name:
        return codec in SIXTEEN_BIT
    if name.startswith("rgba"):
        return codec in ALPHA
    return True


@pytest.mark.parametrize("codec", LOSSLESS_IMAGE)
def test_lossless_image_exact_or_refused(codec, image_set):
    c = get_codec(codec)
    for name, arr in image_set.items():
        item = _img(arr)
        if not _accepts(codec, name):
            with pytest.raises(UnsupportedInputError):
                compress_items([item], codec=codec)
            continue
        res = compress_items([item], codec=codec)
        back = ncodec.decompress(res.data)
        assert back.same_data(item), f"{codec} not exact on {name}"
        assert back.meta == item.meta
    assert c.lossless


@pytest.mark.parametrize("codec", LOSSY_IMAGE)
def test_lossy_image_quality(codec, image_set):
    c = get_codec(codec)
    for name, arr in image_set.items():
        item = _img(arr)
        if not _accepts(codec, name) or (codec == "jpeg" and name.startswith("rgba")):
            with pytest.raises(UnsupportedInputError):
                compress_items([item], codec=codec)
            continue
        back = ncodec.decompress(compress_items([item], codec=codec, quality=c.default_quality).data)
        assert back.data.shape == arr.shape and back.data.dtype == arr.dtype, name
        if arr.dtype == np.uint16:   # libjxl spends fewer bits per dB on 16-bit input at one distance
            assert psnr(arr, back.data, 65535.0) > 27.0, f"{codec} default quality on {name}"
        else:
            assert psnr(arr, back.data) > 30.0, f"{codec} default quality on {name}"


@pytest.mark.parametrize("codec", LOSSY_IMAGE)
def test_lossy_image_quality_knob_is_monotone(codec, kodak_crop):
    """Higher quality: more bytes and higher PSNR on a real photo crop."""
    c = get_codec(codec)
    item = _img(kodak_crop)
    lo, hi = 20, 90
    sizes, psnrs = [], []
    for q in (lo, hi):
        payload = c.encode(item, q, {}).payload
        sizes.append(len(payload))
        psnrs.append(psnr(kodak_crop, c.decode(payload, item.meta, q).data))
    assert sizes[0] < sizes[1] and psnrs[0] < psnrs[1], (sizes, psnrs)
    assert psnrs[0] > 24.0 and psnrs[1] > 34.0, psnrs


def test_image_codecs_on_mnist_archive(mnist_slice):
    """An (N, 28, 28) stack becomes N records that decode one by one, per codec."""
    stack = Item.from_array(mnist_slice[:16], "tensor")
    for codec in LOSSLESS_IMAGE + LOSSY_IMAGE:
        res = ncodec.compress(stack, codec=codec, verify=get_codec(codec).lossless)
        arc = ncodec.open(res.data)
        assert len(arc) == 16 and arc.container.stack
        one = arc[7].data
        if get_codec(codec).lossless:
            assert (one == mnist_slice[7]).all()
        else:
            assert one.shape == (28, 28) and psnr(mnist_slice[7], one) > 20.0, codec


def test_image_codec_refuses_other_media(data_dir):
    wav = read_item(sorted((data_dir / "fsdd").glob("0_*_0.wav"))[0])
    for codec in LOSSLESS_IMAGE + LOSSY_IMAGE:
        with pytest.raises(UnsupportedInputError):
            compress_items([wav], codec=codec)
    with pytest.raises(UnsupportedInputError):
        compress_items([_img(np.zeros((4, 4, 2), np.uint8))], codec="webp-lossless")
    with pytest.raises(UnsupportedInputError):
        compress_items([_img(np.zeros((4, 4), np.float32))], codec="png")


# ----------------------------------------------------------------- audio

@pytest.fixture(scope="module")
def fsdd_item(data_dir) -> Item:
    return read_item(data_dir / "fsdd" / "3_jackson_0.wav")


def _snr(ref: np.ndarray, test: np.ndarray) -> float:
    ref = ref.astype(np.float64)
    return 10 * np.log10(np.sum(ref ** 2) / max(np.sum((ref - test.astype(np.float64)) ** 2), 1e-12))


def test_flac_exact_on_fsdd(fsdd_item):
    back = ncodec.decompress(compress_items([fsdd_item], codec="flac").data)
    assert back.same_data(fsdd_item) and back.meta.sample_rate == 8000


def test_opus_round_trip_fsdd(fsdd_item):
    """8 kHz int16 speech: same rate, length and dtype back; rate follows the bitrate."""
    x = fsdd_item.data
    sizes = {}
    for kbps in (12, 64):
        res = compress_items([fsdd_item], codec="opus", quality=kbps)
        back = ncodec.decompress(res.data)
        assert back.meta == fsdd_item.meta and back.data.shape == x.shape and back.data.dtype == np.int16
        sizes[kbps] = len(res.data)
        seconds = len(x) / 8000
        assert 8 * len(res.data) / seconds < 1.6 * kbps * 1000 + 2000   # near the asked bitrate
        if kbps == 64:
            assert _snr(x, back.data) > 15.0                            # CELT mode: waveform-close
        else:
            assert np.corrcoef(x.astype(float), back.data.astype(float))[0, 1] > 0.8   # SILK: speech-close
    assert sizes[12] < sizes[64]


def test_opus_resamples_and_keeps_stereo_float():
    sr = 44100
    t = np.arange(int(0.3 * sr)) / sr
    x = np.stack([0.4 * np.sin(2 * np.pi * 440 * t), 0.3 * np.sin(2 * np.pi * 1000 * t)], 1).astype(np.float32)
    item = Item.from_array(x, "audio", sample_rate=sr)
    back = ncodec.decompress(compress_items([item], codec="opus", quality=96).data)
    assert back.data.shape == x.shape and back.data.dtype == np.float32 and back.meta.sample_rate == sr
    assert _snr(x, back.data) > 20.0


def test_opus_refuses_bad_audio():
    with pytest.raises(UnsupportedInputError):
        compress_items([Item.from_array(np.zeros((100, 3), np.int16), "audio", sample_rate=8000)], codec="opus")
    with pytest.raises(UnsupportedInputError):
        compress_items([Item.from_array(np.zeros(100, np.int16), "audio", sample_rate=8000)], codec="opus",
                       quality=2)


# ----------------------------------------------------------------- video

@pytest.fixture(scope="module")
def bunny(data_dir) -> Item:
    frames = [read_item(data_dir / "video" / "bunny_320x180" / f"f{i:03d}.png").data for i in range(1, 5)]
    return Item.from_array(np.stack(frames), "video", frame_rate=Fraction(24))


def test_x264_lossless_exact(bunny):
    res = compress_items([bunny], codec="x264-lossless")
    back = ncodec.decompress(res.data)
    assert back.same_data(bunny) and back.meta.frame_rate == 24
    odd = Item.from_array(np.ascontiguousarray(bunny.data[:2, :33, :17]), "video", frame_rate=30)
    assert ncodec.decompress(compress_items([odd], codec="x264-lossless").data).same_data(odd)


@pytest.mark.parametrize("codec", ["x264", "x265"])
def test_lossy_video_crf(codec, bunny):
    """Lower CRF: more bytes and higher PSNR; default CRF above 30 dB on real frames."""
    c = get_codec(codec)
    out = {}
    for crf in (c.default_quality, 40):
        res = compress_items([bunny], codec=codec, quality=crf)
        back = ncodec.decompress(res.data)
        assert back.data.shape == bunny.data.shape
        out[crf] = (len(res.data), psnr(bunny.data, back.data))
    assert out[c.default_quality][0] > out[40][0] and out[c.default_quality][1] > out[40][1], out
    assert out[c.default_quality][1] > 30.0, out


def test_video_refuses_bad_shapes(bunny):
    for codec in ("x264", "x265", "x264-lossless"):
        with pytest.raises(UnsupportedInputError):
            compress_items([Item.from_array(bunny.data[..., :1].copy(), "video")], codec=codec)
        with pytest.raises(UnsupportedInputError):
            compress_items([Item.from_array(bunny.data[0], "image")], codec=codec)


# ----------------------------------------------------------------- malformed payloads

CODEC_SAMPLES = {
    "png": "img", "webp-lossless": "img", "jpegxl-lossless": "img", "webp": "img", "jpeg": "img",
    "jpegxl": "img", "avif": "img", "flac": "wav", "opus": "wav", "x264": "vid", "x265": "vid",
    "x264-lossless": "vid",
}


@pytest.mark.parametrize("codec", sorted(CODEC_SAMPLES))
def test_truncated_payload_is_codec_error(codec, kodak_crop, fsdd_item, bunny):
    """A payload cut short (behind a valid checksum) gives CodecError, never a crash or silent output."""
    item = {"img": _img(kodak_crop), "wav": fsdd_item, "vid": bunny}[CODEC_SAMPLES[codec]]
    c = container.unpack(compress_items([item], codec=codec).data)
    for cut in (0, 1, len(c.records[0].payload) // 2):
        rec = container.Record(c.records[0].payload[:cut], c.records[0].meta)
        bad = container.pack(container.Container(c.codec, c.codec_version, c.quality, [rec]))
        with pytest.raises(CodecError):
            decompress_bytes(bad)
