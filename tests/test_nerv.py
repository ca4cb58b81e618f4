"""NeRV / HNeRV codec: weight/mask/embedding coding round trips, exact rebuilt rendering,
a tiny clip end to end through the CLI, and damaged payloads refused cleanly."""
from __future__ import annotations


import numpy as np
import pytest
import torch

from ncodec import api, container
from ncodec.codecs import get_codec
from ncodec.codecs.nerv import decode_qtensor, encode_qtensor, pack_payload, unpack_payload
from ncodec.entropy import EntropyDecoder, EntropyEncoder
from ncodec.errors import CodecError, FormatError, NcodecError
from ncodec.item import Item
from ncodec.models.nerv import NervDecoder, make_config, plan_strides
from ncodec.models.nerv_fit import (FitOptions, FitState, compress_state, decoder_from_quantized,
                                    inputs_for, render)
from ncodec.models.nerv_quant import dequantize, quantize_array

torch.set_num_threads(1)


def synthetic_clip(t: int = 8, h: int = 36, w: int = 64, seed: int = 0) -> np.ndarray:
    """A smooth moving colour pattern (T, H, W, 3) uint8: learnable in a few steps."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    ph = rng.uniform(0, 2 * np.pi, 3)
    frames = []
    for i in range(t):
        chans = [np.sin(xx / w * 2 * np.pi + i * 0.3 + ph[c]) * np.cos(yy / h * np.pi + c) for c in range(3)]
        frames.append(np.stack(chans, -1))
    return np.clip(np.rint((np.stack(frames) * 0.45 + 0.5) * 255), 0, 255).astype(np.uint8)


def _roundtrip(qts, bits):
    enc = EntropyEncoder()
    for qt in qts:
        encode_qtensor(enc, qt)
    data = enc.finish()
    dec = EntropyDecoder(data)
    return [decode_qtensor(dec, qt.shape, bits) for qt in qts]


@pytest.mark.parametrize("bits", [2, 6, 8])
def test_qtensor_roundtrip_bit_exact(bits):
    rng = np.random.default_rng(bits)
    arrays = [rng.laplace(0, 0.1, (12, 5, 3, 3)), rng.normal(0, 1, (40,)), np.zeros((3, 4)),
              np.full((7,), 0.25), rng.normal(0, 1e-3, (1, 300)), rng.uniform(-2, 2, (2000, 2))]
    masks = [rng.random(a.shape) > 0.3 if a.ndim >= 2 else None for a in arrays]
    masks[2] = np.zeros((3, 4), dtype=bool)          # everything pruned
    masks[5] = np.ones((2000, 2), dtype=bool)        # nothing pruned but a mask present
    qts = [quantize_array(a, bits, m) for a, m in zip(arrays, masks)]
    back = _roundtrip(qts, bits)
    for a, b in zip(qts, back):
        assert np.array_equal(a.q, b.q)
        assert np.array_equal(a.scale_codes, b.scale_codes)
        assert (a.mask is None) == (b.mask is None)
        if a.mask is not None:
            assert np.array_equal(a.mask, b.mask)
        assert np.array_equal(a.dequantize(), dequantize(b.q, b.scale_codes, b.shape))


def test_quantization_error_bounded():
    rng = np.random.default_rng(1)
    w = rng.normal(0, 0.2, (16, 8, 3, 3)).astype(np.float32)
    for bits in (4, 6, 8):
        qt = quantize_array(w, bits)
        err = np.abs(qt.dequantize() - w).reshape(16, -1).max(axis=1)
        step = np.abs(w).reshape(16, -1).max(axis=1) / ((1 << (bits - 1)) - 1)
        assert np.all(err <= step * 2 ** (1 / 8) / 2 + 1e-7)   # half a (rounded-up) step


def test_plan_strides_pads_little():
    for h, w in [(180, 320), (36, 64), (360, 640), (576, 768), (97, 131)]:
        s = int(np.prod(plan_strides(h, w)))
        assert s >= 2 and (-(-h // s) * s) * (-(-w // s) * s) <= 1.1 * h * w or s == 2


def _random_state(kind: str, t: int = 6, h: int = 36, w: int = 64) -> FitState:
    torch.manual_seed(0)
    cfg = make_config(kind, t, h, w, "S")
    dec = NervDecoder(cfg).eval()
    if kind == "nerv":
        inputs = inputs_for(cfg, None)
    else:
        h0, w0 = cfg.base
        inputs = torch.randn(t, cfg.embed_dim, h0, w0)
    return FitState(cfg, dec, inputs)


@pytest.mark.parametrize("kind", ["nerv", "hnerv"])
def test_rebuilt_network_renders_identically(kind):
    st = _random_state(kind)
    frames = synthetic_clip(st.cfg.frames)
    opts = FitOptions(device="cpu", progress=False, batch=2)
    comp = compress_state(st, frames, bits=6, prune=0.3, opts=opts, ft_steps=2)
    assert any(qt.mask is not None for qt in comp.weights.values())
    payload = pack_payload(comp)
    cfg, weights, emb, bits = unpack_payload(payload)
    assert cfg == comp.cfg and bits == 6
    for name, qt in comp.weights.items():
        assert np.array_equal(qt.q, weights[name].q)
        assert np.array_equal(qt.scale_codes, weights[name].scale_codes)
    if kind == "hnerv":
        assert np.array_equal(emb.q, comp.embeddings.q)
    out = render(decoder_from_quantized(cfg, weights), inputs_for(cfg, emb))
    assert out.dtype == np.uint8 and out.shape == frames.shape
    assert np.array_equal(out, comp.frames)
    # and through the registered codec's decode
    item = get_codec(kind).decode(payload, Item.from_array(frames, "video").meta, 0)
    assert np.array_equal(item.data, comp.frames)


def test_damaged_payloads_refused():
    st = _random_state("hnerv")
    frames = synthetic_clip(st.cfg.frames)
    comp = compress_state(st, frames, bits=7, prune=0.2, opts=FitOptions(device="cpu", progress=False),
                          ft_steps=0)
    payload = pack_payload(comp)
    meta = Item.from_array(frames, "video").meta
    codec = get_codec("hnerv")
    for cut in (0, 1, 5, len(payload) // 2, len(payload) - 1):
        with pytest.raises(CodecError):
            codec.decode(payload[:cut], meta, 0)
    with pytest.raises(CodecError):
        codec.decode(payload + b"\x00", meta, 0)
    rng = np.random.default_rng(0)
    for pos in rng.choice(np.arange(len(payload) // 3, len(payload)), 6, replace=False):
        bad = bytearray(payload)
        bad[pos] ^= 0x5A
        with pytest.raises(CodecError):
            codec.decode(bytes(bad), meta, 0)
    with pytest.raises(CodecError):       # a NeRV decoder refuses an HNeRV payload
        get_codec("nerv").decode(payload, meta, 0)
    with pytest.raises(CodecError):       # header shape disagreeing with the payload
        codec.decode(payload, Item.from_array(frames[:-1], "video").meta, 0)
    # whole files: truncation and bit flips are caught by the container
    data = container.pack(container.Container(codec="hnerv", codec_version=1, quality=0,
                                              records=[container.Record(payload, meta, "")]))
    with pytest.raises(FormatError):
        api.decompress_bytes(data[: len(data) - 7])
    bad = bytearray(data)
    bad[len(data) // 2] ^= 1
    with pytest.raises(NcodecError):
        api.decompress_bytes(bytes(bad))


def test_tiny_clip_end_to_end_cli(tmp_path, cli):
    from PIL import Image
    frames = synthetic_clip(8, 36, 64)
    src = tmp_path / "clip"
    src.mkdir()
    for i, f in enumerate(frames):
        Image.fromarray(f).save(src / f"f{i:03d}.png")
    out = tmp_path / "clip.ncz"
    p = cli("compress", str(src), "-c", "nerv", "-q", "0", "-o", str(out),
            "-O", "steps=120", "-O", "threads=1", "-O", "device=cpu")
    assert p.returncode == 0, p.stderr.decode()
    dst = tmp_path / "back"
    p = cli("decompress", str(out), "-o", str(dst))
    assert p.returncode == 0, p.stderr.decode()
    p = cli("compress", str(src), "-c", "nerv", "-o", str(tmp_path / "x.ncz"), "-O", "stepz=3")
    assert p.returncode == 2 and b"no option 'stepz'" in p.stderr and b"Traceback" not in p.stderr
    assert len(p.stderr.decode().strip().splitlines()) == 1
    back = np.stack([np.array(Image.open(f)) for f in sorted(dst.iterdir())])
    assert back.shape == frames.shape and back.dtype == np.uint8
    arc = api.open(out)
    assert arc.container.codec == "nerv" and arc.container.records[0].meta.shape == frames.shape
    assert np.array_equal(arc.decode_all()[0].data, back)
    mse = np.mean((back.astype(float) - frames) ** 2)
    mse_const = np.mean((frames.mean(axis=(0, 1, 2)) - frames.astype(float)) ** 2)
    assert mse < 0.5 * mse_const          # the fit learned the clip, not just its mean colour
    with pytest.raises(FormatError):      # a truncated file is refused
        api.decompress_bytes(out.read_bytes()[:-10])


def test_refuses_non_video():
    from ncodec.errors import UnsupportedInputError
    codec = get_codec("nerv")
    with pytest.raises(UnsupportedInputError):
        codec.check(Item.from_array(np.zeros((8, 36, 64), np.uint8), "video"))
    with pytest.raises(UnsupportedInputError):
        codec.check(Item.from_array(np.zeros((36, 64, 3), np.uint8), "image"))
