"""`ncodec extract` writes the stored bitstream as a standard file that standard decoders read,
byte-identical to the payload; codecs without a standard format are refused."""
from __future__ import annotations

import io

import imagecodecs
import numpy as np
import pytest
import soundfile as sf

import ncodec
from ncodec.item import Item

RNG = np.random.default_rng(3)
IMG = np.repeat(np.repeat(RNG.integers(0, 255, (12, 10, 3), dtype=np.uint8), 4, 0), 4, 1)


@pytest.mark.parametrize("codec,quality,reader", [
    ("png", None, imagecodecs.png_decode), ("webp-lossless", None, imagecodecs.webp_decode),
    ("jpegxl-lossless", None, imagecodecs.jpegxl_decode), ("webp", 70, imagecodecs.webp_decode),
    ("jpeg", 80, imagecodecs.jpeg8_decode), ("avif", 60, imagecodecs.avif_decode)])
def test_image_bitstreams_extract_and_read(tmp_path, cli, codec, quality, reader):
    src = tmp_path / "in.ncz"
    res = ncodec.compress(Item.from_array(IMG, "image"), codec=codec, quality=quality, output=src)
    out = tmp_path / "out.bin"
    r = cli("extract", str(src), "-o", str(out))
    assert r.returncode == 0, r.stderr.decode()
    assert out.read_bytes() == ncodec.open(res.data).container.records[0].payload
    back = reader(out.read_bytes())
    assert back.shape[:2] == IMG.shape[:2]
    if ncodec.codecs.get_codec(codec).lossless:
        assert np.array_equal(back.reshape(IMG.shape), IMG)


def test_flac_and_archive_extract(tmp_path, cli):
    tone = (np.sin(np.arange(4000) / 7) * 9000).astype(np.int16)
    items = [Item.from_array(tone, "audio", name="a.wav", sample_rate=8000),
             Item.from_array(tone[::-1].copy(), "audio", name="b.wav", sample_rate=8000)]
    src = tmp_path / "s.ncz"
    src.write_bytes(ncodec.compress_items(items, codec="flac").data)
    r = cli("extract", str(src))
    assert r.returncode == 0, r.stderr.decode()
    folder = tmp_path / "s_native"
    assert sorted(p.name for p in folder.iterdir()) == ["a.flac", "b.flac"]
    data, rate = sf.read(io.BytesIO((folder / "a.flac").read_bytes()), dtype="int16")
    assert rate == 8000 and np.array_equal(data, tone)
    r = cli("extract", str(src))
    assert r.returncode == 2 and b"exists" in r.stderr


def test_codec_without_native_format_is_refused(tmp_path, cli):
    from ncodec import data as D
    x, _ = D.arrays("mnist", "test")
    src = tmp_path / "d.ncz"
    ncodec.compress(Item.from_array(x[0], "image"), codec="hclt", output=src)
    r = cli("extract", str(src))
    assert r.returncode == 5 and b"no standard file format" in r.stderr
    assert len(r.stderr.decode().strip().splitlines()) == 1


def test_lossy_decode_never_takes_the_original_name(tmp_path, cli):
    from PIL import Image
    Image.fromarray(IMG).save(tmp_path / "photo.png")
    before = (tmp_path / "photo.png").read_bytes()
    assert cli("compress", str(tmp_path / "photo.png"), "-c", "webp", "-q", "50").returncode == 0
    r = cli("decompress", str(tmp_path / "photo.png.ncz"), "-f")
    assert r.returncode == 0, r.stderr.decode()
    assert (tmp_path / "photo.png").read_bytes() == before          # the original is untouched
    assert (tmp_path / "photo.lossy.png").exists()
    (tmp_path / "photo.png").unlink()                                # original gone: the plain name is used
    assert cli("decompress", str(tmp_path / "photo.png.ncz")).returncode == 0
    assert (tmp_path / "photo.png").exists()
