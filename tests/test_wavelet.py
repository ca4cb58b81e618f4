"""wavelet codec: exact packet transform, codec == model test-time forward (bit-exact latents,
batch-size independent), damaged payloads refused, CLI round trip on speech."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from ncodec.codecs import get_codec
from ncodec.codecs._wavelet_engine import engine, from_tensor, to_tensor
from ncodec.errors import CodecError, NcodecError, UnsupportedInputError
from ncodec.eval.metrics import snr
from ncodec.io import read_item
from ncodec.item import Item
from ncodec.models.wavelet import WaveletPacket, daubechies, packet_filters
from ncodec import data as D


@pytest.mark.parametrize("vanishing", [1, 2, 4])
def test_daubechies_filters_orthonormal(vanishing):
    h = daubechies(vanishing)
    assert len(h) == 2 * vanishing
    assert abs(h.sum() - np.sqrt(2)) < 1e-12
    for k in range(vanishing):   # orthonormal to its own even shifts
        assert abs(np.dot(h[:len(h) - 2 * k], h[2 * k:]) - (1.0 if k == 0 else 0.0)) < 1e-10
    f = packet_filters(2, vanishing)
    assert np.allclose(f @ f.T, np.eye(4)) if vanishing == 1 else f.shape[0] == 4


@pytest.mark.parametrize("dims,shape,levels,vanishing", [
    (2, (2, 3, 37, 23), 2, 2), (2, (1, 1, 5, 3), 2, 4), (2, (1, 3, 1, 1), 2, 2),
    (1, (2, 1, 1001), 4, 4), (1, (1, 1, 7), 3, 2)])
def test_packet_transform_invertible_odd_sizes(dims, shape, levels, vanishing):
    """Pad (replicate) to the block size, transform, invert, crop: error < 1e-4; energy kept."""
    x = torch.rand(*shape, dtype=torch.float64)
    wpt = WaveletPacket(dims, levels, vanishing)
    b = 2 ** levels
    pads = []
    for s in reversed(shape[2:]):
        pads += [0, (-s) % b]
    xp = torch.nn.functional.pad(x, pads, mode="replicate")
    y = wpt(xp)
    assert y.shape[1] == shape[1] * 2 ** (dims * levels)
    assert abs(float(y.norm() - xp.norm())) < 1e-8 * float(xp.norm()) + 1e-10    # orthogonal
    back = wpt.inverse(y)[(slice(None), slice(None)) + tuple(slice(0, s) for s in shape[2:])]
    assert float((back - x).abs().max()) < 1e-4
    y32 = wpt(xp.float())
    assert float((wpt.inverse(y32).double() - xp).abs().max()) < 1e-4


def _kodak_crops() -> list[Item]:
    img = read_item(D.paths("kodak")[0]).data
    return [Item.from_array(np.ascontiguousarray(img[100:165, 200:297]), "image"),
            Item.from_array(np.ascontiguousarray(img[300:365, 400:497]), "image")]


def _fsdd_clips() -> list[Item]:
    a = read_item(D.paths("fsdd", "test")[0])
    b = read_item(D.paths("fsdd", "test")[1])
    n = min(a.data.shape[0], b.data.shape[0], 3001)
    return [Item.from_array(a.data[:n], "audio", sample_rate=8000),
            Item.from_array(b.data[:n], "audio", sample_rate=8000)]


@pytest.mark.parametrize("media", ["image", "audio"])
def test_codec_matches_forward_across_batch_sizes(media):
    """Decoded output == model's test-time forward on a batch of 2 (same integer latents);
    payloads do not depend on how items are batched."""
    codec = get_codec("wavelet")
    items = _kodak_crops() if media == "image" else _fsdd_clips()
    q = 3
    eng = engine(media)
    model = eng.model
    x = torch.cat([to_tensor(it) for it in items])
    with torch.no_grad():
        out = model(model.pad(x), torch.full((2,), q - 1))
    batch_payloads = [e.payload for e in codec.encode_batch(items, q, {})]
    single = [codec.encode(it, q, {}).payload for it in items]
    assert batch_payloads == single
    for i, it in enumerate(items):
        lat = model.encode_latents(model.pad(to_tensor(it)), torch.tensor([q - 1]))
        assert torch.equal(lat["y_sym"][0], out["y_sym"][i])                   # bit-exact latents
        dec = codec.decode(single[i], it.meta, q)
        assert dec.data.shape == it.data.shape and dec.data.dtype == it.data.dtype
        crop = (slice(None), slice(None)) + tuple(slice(0, s) for s in x.shape[2:])
        with torch.no_grad():   # the same test-time forward on this item alone: identical output
            alone = model(model.pad(to_tensor(it)), torch.tensor([q - 1]))["x_hat"]
        block = codec._split(single[i], it.meta)[3]        # version-3 images: the fitted post-filter
        expect = _filtered(from_tensor(alone[crop], it.meta).data, block)
        assert np.array_equal(dec.data, expect)
        # batched float32 synthesis may differ in the last float bits: at most one output step
        ref = _filtered(from_tensor(out["x_hat"][i:i + 1][crop], it.meta).data, block)
        filtered = block is not None and block.filters
        if not filtered:                 # (through the post-filter, a changed tap may move a class)
            assert np.abs(dec.data.astype(np.int64) - ref.astype(np.int64)).max() <= 1
    decoded = codec.decode_batch(single, [it.meta for it in items], q)
    assert all(np.array_equal(a.data, codec.decode(p, it.meta, q).data)
               for a, p, it in zip(decoded, single, items))


def _filtered(a: np.ndarray, block) -> np.ndarray:
    from ncodec.codecs._postfilter import apply_filter
    return apply_filter(a if a.ndim == 3 else a[:, :, None], block).reshape(a.shape) if block is not None else a


def test_rate_control_ladder_monotone():
    """Higher quality levels spend more bits and give a smaller error on a Kodak crop."""
    codec = get_codec("wavelet")
    it = _kodak_crops()[0]
    sizes, errs = [], []
    for q in (1, 4, 8):
        p = codec.encode(it, q, {}).payload
        d = codec.decode(p, it.meta, q).data.astype(np.float64)
        sizes.append(len(p))
        errs.append(np.mean((d - it.data) ** 2))
    assert sizes[0] < sizes[1] < sizes[2]
    assert errs[0] > errs[1] > errs[2]


def test_damaged_payloads_refused():
    codec = get_codec("wavelet")
    it = _kodak_crops()[0]
    p = codec.encode(it, 4, {}).payload
    bad = [p[: len(p) // 2], p[:1], b"", bytearray(p)]
    bad[3][len(p) // 2] ^= 0x5A
    bad[3] = bytes(bad[3])
    for b in bad:
        with pytest.raises(CodecError):
            codec.decode(b, it.meta, 4)


def test_whole_file_damage_and_bad_input():
    from ncodec import api
    it = _kodak_crops()[0]
    data = api.compress_items([it], codec="wavelet", quality=2).data
    with pytest.raises(NcodecError):
        api.decompress_bytes(data[:-5])
    codec = get_codec("wavelet")
    with pytest.raises(UnsupportedInputError):
        codec.check(Item.from_array(np.zeros((8, 8, 4), np.uint8), "image"))
    with pytest.raises(UnsupportedInputError):
        codec.check(Item.from_array(np.zeros((100, 2), np.int16), "audio", sample_rate=8000))


def test_gray_and_tiny_images_round_trip():
    codec = get_codec("wavelet")
    for arr in (np.full((1, 1), 200, np.uint8), np.random.default_rng(0).integers(0, 255, (17, 9), dtype=np.uint8),
                np.zeros((3, 5, 1), np.uint8)):
        it = Item.from_array(arr, "image")
        dec = codec.decode(codec.encode(it, 8, {}).payload, it.meta, 8)
        assert dec.data.shape == arr.shape and dec.data.dtype == np.uint8


def test_cli_compress_speech(tmp_path, cli):
    wav = D.paths("fsdd", "test")[0]
    out = tmp_path / "s.ncz"
    r = cli("compress", str(wav), "-c", "wavelet", "-o", str(out))
    assert r.returncode == 0, r.stderr.decode()
    r = cli("decompress", str(out), "-o", str(tmp_path / "s.wav"))
    assert r.returncode == 0, r.stderr.decode()
    back = read_item(tmp_path / "s.wav")
    orig = read_item(wav)
    assert back.data.shape == orig.data.shape and back.meta.sample_rate == orig.meta.sample_rate
    # default level: 0.88 bits/sample at 10.8 dB on this clip (raw PCM is 16 bits/sample)
    assert out.stat().st_size * 8 / orig.data.shape[0] <= 1.0
    assert snr(orig.data.astype(np.float64), back.data.astype(np.float64)) >= 7.0


def test_decode_is_identical_under_1_and_2_threads():
    """The same payload decodes to the same bytes whatever torch's thread count (Kodak 256x256 crop)."""
    from ncodec.io import read_item as _read
    img = _read(D.paths("kodak")[2]).data[128:384, 128:384]
    it = Item.from_array(np.ascontiguousarray(img), "image")
    codec = get_codec("wavelet")
    payload = codec.encode(it, 6, {}).payload
    before = torch.get_num_threads()
    try:
        outs = []
        for n in (1, 2, 1):
            torch.set_num_threads(n)
            outs.append(codec.decode(payload, it.meta, 6).data)
    finally:
        torch.set_num_threads(before)
    assert np.array_equal(outs[0], outs[1]) and np.array_equal(outs[0], outs[2])
    assert torch.get_num_threads() == before


def test_quiet_audio_keeps_its_snr():
    """Gain is normalised before coding (and stored): a clip at 1/20 of its level (-26 dB) keeps the
    SNR of the original at the default quality instead of collapsing to a near-silent file."""
    import warnings

    from ncodec import api
    orig = read_item(D.paths("fsdd", "test")[0]).data.astype(np.float64)
    out = {}
    for scale in (1.0, 0.05):
        x = np.round(orig * scale).astype(np.int16)
        with warnings.catch_warnings():
            warnings.simplefilter("error", api.LossyWarning)
            res = api.compress(x, codec="wavelet", media="audio", sample_rate=8000)
        back = api.open(res.data)[0].data.astype(np.float64)
        out[scale] = snr(x.astype(np.float64), back)
        assert abs(res.info[0]["snr_db"] - out[scale]) < 0.5          # the encoder's own estimate
    assert out[1.0] >= 7.0 and abs(out[0.05] - out[1.0]) < 2.0, out


def test_near_silent_decode_warns(tmp_path, cli):
    """Audio the codec cannot keep (white noise at the lowest level) is never handed back silently."""
    import warnings

    from ncodec import api
    noise = (np.random.default_rng(0).standard_normal(8000) * 3000).astype(np.int16)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = api.compress(noise, codec="wavelet", quality=1, media="audio", sample_rate=8000)
    assert res.warnings and any(issubclass(w.category, api.LossyWarning) for w in caught)
    import soundfile as sf
    sf.write(tmp_path / "noise.wav", noise, 8000, subtype="PCM_16")
    r = cli("compress", str(tmp_path / "noise.wav"), "-c", "wavelet", "-q", "1")
    assert r.returncode == 0 and b"ncodec: warning: wavelet: the decoded audio keeps only" in r.stderr
