"""ncodec.io: every media kind reads back exactly what was written, with its rates, and bad
inputs or existing outputs give the documented errors (nothing partial left behind)."""
from __future__ import annotations

import io
from fractions import Fraction

import numpy as np
import pytest
import soundfile as sf
from PIL import Image

from ncodec.cli.common import sniff_media
from ncodec.errors import InputError, OutputExistsError
from ncodec.io import (atomic_write, atomic_write_with, image_from_bytes, item_to_bytes, media_of_path,
                       read_item, video_from_path, write_video_file, write_video_frames)
from ncodec.item import Item


@pytest.fixture(scope="module")
def photo(data_dir) -> np.ndarray:
    return np.array(Image.open(data_dir / "kodak" / "kodim03.png"))[:40, :56]


def test_media_of_path(tmp_path):
    assert media_of_path("a.PNG") == "image" and media_of_path("x.jpeg") == "image"
    assert media_of_path("s.wav") == "audio" and media_of_path("s.flac") == "audio"
    assert media_of_path("v.mp4") == "video" and media_of_path(tmp_path) == "video"
    assert media_of_path("t.npy") == "tensor" and media_of_path("notes.txt") == "bytes"


def test_image_layouts_round_trip(photo, tmp_path):
    rng = np.random.default_rng(0)
    cases = {"rgb": photo, "gray": photo[..., 0].copy(), "rgba": np.dstack([photo, photo[..., 1]]),
             "gray16": photo[..., 2].astype(np.uint16) * 257 + rng.integers(0, 3, photo.shape[:2]).astype(np.uint16),
             "rgb16": photo.astype(np.uint16) * 257 + rng.integers(0, 3, photo.shape).astype(np.uint16),
             "rgba16": np.dstack([photo, photo[..., :1]]).astype(np.uint16) * 255}
    for name, arr in cases.items():
        raw = item_to_bytes(Item.from_array(arr, "image"), ".png")
        (tmp_path / f"{name}.png").write_bytes(raw)
        back = read_item(tmp_path / f"{name}.png")
        assert back.meta.media == "image" and back.data.dtype == arr.dtype and np.array_equal(back.data, arr), name
        assert back.name == f"{name}.png"


def test_image_modes_normalised(photo):
    buf = io.BytesIO()
    Image.fromarray(photo[..., 0]).convert("LA").save(buf, format="PNG")
    assert image_from_bytes(buf.getvalue()).data.shape == photo.shape[:2] + (4,)
    buf = io.BytesIO()
    Image.fromarray(photo).convert("P").save(buf, format="PNG")
    assert image_from_bytes(buf.getvalue()).data.shape == photo.shape


def test_audio_round_trip(data_dir, tmp_path):
    wav = read_item(data_dir / "fsdd" / "2_nicolas_3.wav")
    assert wav.meta.sample_rate == 8000 and wav.data.dtype == np.int16 and wav.data.ndim == 1
    for suffix in (".wav", ".flac"):
        (tmp_path / f"a{suffix}").write_bytes(item_to_bytes(wav, suffix))
        assert read_item(tmp_path / f"a{suffix}").same_data(wav)
    stereo = Item.from_array(np.stack([wav.data, -wav.data // 3], 1), "audio", sample_rate=22050)
    (tmp_path / "st.wav").write_bytes(item_to_bytes(stereo, ".wav"))
    back = read_item(tmp_path / "st.wav")
    assert back.same_data(stereo) and back.meta.sample_rate == 22050
    f32 = Item.from_array((wav.data / 40000.0).astype(np.float32), "audio", sample_rate=16000)
    (tmp_path / "f.wav").write_bytes(item_to_bytes(f32, ".wav"))
    assert read_item(tmp_path / "f.wav").same_data(f32)
    buf = io.BytesIO()
    sf.write(buf, (wav.data.astype(np.int32) << 16), 8000, format="WAV", subtype="PCM_24")
    (tmp_path / "p24.wav").write_bytes(buf.getvalue())
    p24 = read_item(tmp_path / "p24.wav")
    assert p24.data.dtype == np.int32 and np.array_equal(p24.data >> 16, wav.data)


def test_video_folder_and_file(data_dir, tmp_path):
    src = data_dir / "video" / "bunny_320x180"
    frames = np.stack([np.array(Image.open(src / f"f{i:03d}.png"))[:48, :64] for i in range(1, 4)])
    item = Item.from_array(frames, "video", frame_rate=Fraction(24))
    write_video_frames(item, tmp_path / "frames")
    back = video_from_path(tmp_path / "frames")
    assert np.array_equal(back.data, frames)
    write_video_file(item, tmp_path / "v.mp4")
    vid = read_item(tmp_path / "v.mp4")
    assert vid.meta.frame_rate == 24 and np.array_equal(vid.data, frames)   # lossless write: exact RGB
    with pytest.raises(OutputExistsError):
        write_video_file(item, tmp_path / "v.mp4")
    raw = (tmp_path / "v.mp4").read_bytes()
    assert np.array_equal(read_item("stdin.mp4", raw=raw, media="video").data, frames)


def test_tensor_and_bytes(tmp_path):
    arr = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    (tmp_path / "t.npy").write_bytes(item_to_bytes(Item.from_array(arr, "tensor"), ".npy"))
    t = read_item(tmp_path / "t.npy")
    assert t.meta.media == "tensor" and np.array_equal(t.data, arr) and t.data.dtype == np.float32
    (tmp_path / "b.bin").write_bytes(b"\x00\x01hello")
    b = read_item(tmp_path / "b.bin")
    assert b.meta.media == "bytes" and item_to_bytes(b, ".bin") == b"\x00\x01hello"


def test_bad_inputs(tmp_path):
    with pytest.raises(InputError):
        read_item(tmp_path / "missing.png")
    with pytest.raises(InputError):
        read_item(tmp_path, media="image")
    (tmp_path / "x.png").write_text("not an image")
    with pytest.raises(InputError):
        read_item(tmp_path / "x.png")
    (tmp_path / "x.wav").write_bytes(b"RIFF\x00\x00")
    with pytest.raises(InputError):
        read_item(tmp_path / "x.wav")
    (tmp_path / "x.npy").write_bytes(b"\x93NUMPY garbage")
    with pytest.raises(InputError):
        read_item(tmp_path / "x.npy")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError):
        read_item(tmp_path / "empty")


def test_atomic_write_never_leaves_partial_files(tmp_path):
    target = tmp_path / "out.bin"
    atomic_write(target, b"one")
    with pytest.raises(OutputExistsError):
        atomic_write(target, b"two")
    atomic_write(target, b"two", force=True)
    assert target.read_bytes() == b"two"

    def failing(tmp: str) -> None:
        with open(tmp, "wb") as f:
            f.write(b"half")
        raise RuntimeError("encoder died")

    with pytest.raises(RuntimeError):
        atomic_write_with(tmp_path / "new.bin", failing)
    with pytest.raises(RuntimeError):
        atomic_write_with(target, failing, force=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.bin"] and target.read_bytes() == b"two"


def test_sniff_media():
    png = item_to_bytes(Item.from_array(np.zeros((2, 2), np.uint8), "image"), ".png")
    wav = item_to_bytes(Item.from_array(np.zeros(8, np.int16), "audio", sample_rate=8000), ".wav")
    npy = item_to_bytes(Item.from_array(np.zeros(3), "tensor"), ".npy")
    assert [sniff_media(x) for x in (png, wav, npy, b"hello")] == ["image", "audio", "tensor", "bytes"]


def test_tensor_items_keep_values_shape_and_refuse_unsupported(tmp_path):
    from ncodec.errors import UnsupportedInputError
    from ncodec.io import tensor_item
    be = tensor_item(np.arange(6, dtype=">i4").reshape(2, 3))
    assert be.data.dtype == np.int32 and be.data.dtype.isnative and be.data.tolist() == [[0, 1, 2], [3, 4, 5]]
    assert tensor_item(np.array(2.5)).data.shape == ()
    f = tensor_item(np.arange(6.0).reshape(2, 3).T)
    assert f.data.flags.c_contiguous and f.data.tolist() == [[0, 3], [1, 4], [2, 5]]
    for bad in (np.ones(2, np.complex64), np.array(["a"]), np.array([1], dtype="datetime64[s]")):
        with pytest.raises(UnsupportedInputError):
            tensor_item(bad)
    np.save(tmp_path / "c.npy", np.ones(2, np.complex64))
    with pytest.raises(UnsupportedInputError):
        read_item(tmp_path / "c.npy")


def test_24_bit_audio_is_written_as_24_bit_and_flac_refuses_lossy_writes():
    from ncodec.errors import UnsupportedInputError
    a24 = Item.from_array((np.arange(-50, 50, dtype=np.int32) << 8), "audio", sample_rate=8000)
    for suffix in (".wav", ".flac"):
        assert sf.info(io.BytesIO(item_to_bytes(a24, suffix))).subtype == "PCM_24"
    a32 = Item.from_array(np.arange(-50, 50, dtype=np.int32) * 1000 + 1, "audio", sample_rate=8000)
    assert sf.info(io.BytesIO(item_to_bytes(a32, ".wav"))).subtype == "PCM_32"
    for it in (a32, Item.from_array(np.zeros(10, np.float32), "audio", sample_rate=8000)):
        with pytest.raises(UnsupportedInputError):
            item_to_bytes(it, ".flac")
