"""``inr`` (overfitted neural image codec): round trips, R-D behaviour, exact decoding, checked input.

Tiny images and few fitting iterations keep the whole file well under a minute.
"""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import ncodec
from ncodec.codecs import available, get_codec
from ncodec.errors import CodecError, LimitError, OptionError
from ncodec.eval.metrics import psnr
from ncodec.item import Item, ItemMeta

REPO = Path(__file__).resolve().parents[1]
FAST = {"iterations": 30, "progress": False, "threads": 1}


def _photo(h: int = 32, w: int = 32) -> np.ndarray:
    """A small natural-image crop (Kodak) or, without the data, a smooth synthetic picture."""
    try:
        from ncodec import data as D
        from ncodec.io import read_item
        a = read_item(D.paths("kodak")[22]).data
        return np.ascontiguousarray(a[200:200 + h, 300:300 + w])
    except Exception:  # noqa: BLE001 - data not mounted: a smooth colour field with an edge
        yy, xx = np.mgrid[0:h, 0:w] / max(h, w)
        img = np.stack([0.3 + 0.5 * xx, 0.6 - 0.4 * yy, 0.5 + 0.3 * np.sin(6 * xx * yy)], -1)
        img[h // 3:, w // 2:] *= 0.5
        return (img * 255).round().astype(np.uint8)


@pytest.fixture(scope="module")
def coded():
    """One small RGB file coded at quality 4 with few iterations (shared by several tests)."""
    img = Item.from_array(_photo(), "image")
    res = ncodec.api.compress_items([img], codec="inr", quality=4, options=FAST)
    return img, res


def _payload(res) -> tuple[bytes, ItemMeta]:
    from ncodec import container
    c = container.unpack(res.data)
    return c.records[0].payload, c.records[0].meta


def test_registered_without_torch_and_listed():
    cls = available()["inr"]
    assert cls.media_kinds() == ("image",) and not cls.lossless
    assert {"preset", "effort", "iterations", "time_budget", "device", "seed"} <= {o.name for o in cls.options}
    assert len(range(cls.qualities[0], cls.qualities[1] + 1)) >= 6


def test_round_trip_shape_dtype_and_reported_reconstruction(coded):
    img, res = coded
    out = ncodec.decompress(res.data)
    assert out.data.shape == img.data.shape and out.data.dtype == np.uint8
    assert abs(psnr(img.data, out.data) - res.info[0]["psnr"]) < 1e-9      # decoder == encoder's picture
    assert res.ideal_bits is not None and res.ideal_bits <= 8 * len(res.data)


def test_gray_and_odd_sizes_round_trip():
    rgb = _photo(48, 40)
    gray = Item.from_array(rgb.mean(2).astype(np.uint8), "image")
    odd = Item.from_array(rgb[:13, :7], "image")
    for it in (gray, odd):
        res = ncodec.api.compress_items([it], codec="inr", quality=5, options={**FAST, "iterations": 10})
        out = ncodec.decompress(res.data)
        assert out.data.shape == it.data.shape and out.data.dtype == np.uint8


def test_rate_falls_and_psnr_rises_with_quality():
    """Low vs high lambda on a 32x32 photo crop, 300 iterations of the small preset: the high level
    must spend more bits and beat the low one; both must beat a flat (mean colour) picture."""
    a = _photo()
    img = Item.from_array(a, "image")
    opts = {**FAST, "iterations": 300, "preset": "small"}
    lo = ncodec.api.compress_items([img], codec="inr", quality=2, options=opts)
    hi = ncodec.api.compress_items([img], codec="inr", quality=7, options=opts)
    p_lo = psnr(a, ncodec.decompress(lo.data).data)
    p_hi = psnr(a, ncodec.decompress(hi.data).data)
    flat = psnr(a, np.broadcast_to(a.reshape(-1, 3).mean(0).round().astype(np.uint8), a.shape))
    assert len(hi.data) > len(lo.data)
    assert p_hi > p_lo + 3.0, (p_lo, p_hi)
    assert p_lo > flat + 3.0 and p_hi > flat + 10.0, (flat, p_lo, p_hi)


def test_encode_is_deterministic_given_the_seed(coded):
    img, res = coded
    again = ncodec.api.compress_items([img], codec="inr", quality=4, options=FAST)
    assert again.data == res.data
    other = ncodec.api.compress_items([img], codec="inr", quality=4, options={**FAST, "seed": 1})
    assert other.data != res.data


def test_archive_of_many_decodes_like_single_files(coded):
    """A batch (archive) of items encodes each payload as alone and decodes to the same pictures."""
    img, res = coded
    other = Item.from_array(_photo(24, 40), "image")
    arc = ncodec.api.compress_items([img, other], codec="inr", quality=4, options=FAST)
    outs = ncodec.decompress(arc.data)
    assert np.array_equal(outs[0].data, ncodec.decompress(res.data).data)
    assert outs[1].data.shape == (24, 40, 3)


_DECODE = """
import sys, hashlib
import numpy as np
import torch
torch.set_num_threads(int(sys.argv[1]))
from ncodec.codecs.inr import Inr
from ncodec.item import ItemMeta
payload = open(sys.argv[2], "rb").read()
out = Inr().decode(payload, ItemMeta("image", (32, 32, 3)), 4)
print(hashlib.sha256(out.data.tobytes()).hexdigest())
"""


def test_decode_identical_under_1_and_2_threads(coded, tmp_path):
    """Fresh processes with 1 and 2 BLAS/OpenMP/torch threads decode to the same bytes."""
    _, res = coded
    payload, _ = _payload(res)
    f = tmp_path / "p.bin"
    f.write_bytes(payload)
    digests = set()
    for n in (1, 2):
        env = dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS=str(n), OPENBLAS_NUM_THREADS=str(n),
                   MKL_NUM_THREADS=str(n))
        out = subprocess.run([sys.executable, "-c", _DECODE, str(n), str(f)], capture_output=True, text=True,
                             env=env, timeout=120)
        assert out.returncode == 0, out.stderr
        digests.add(out.stdout.strip())
    assert len(digests) == 1


def test_tables_are_valid_integer_pmfs():
    from ncodec.codecs import _inr_engine as E
    from ncodec.models import inr_image as M
    t = E.latent_tables(3)
    assert t.shape == (M.N_SCALES, M.MEAN_FRACS, 15) and t.dtype.kind == "i"
    assert (t >= 1).all() and (t.sum(-1) == 1 << 24).all()
    # a narrow Laplace centred on 0 puts nearly all mass on 0; mean fraction bins shift it
    assert t[0, M.MEAN_FRACS // 2, 7] > (1 << 24) * 0.99
    assert t[-1, 0, 6] > t[-1, 0, 8]                       # mean just below the integer: lean left
    assert (E.weight_table(10, 4) == E.latent_tables(4)[10, 0]).sum() < 31   # zero-mean table differs


def test_damaged_and_truncated_payloads_raise_codec_error(coded):
    _, res = coded
    payload, meta = _payload(res)
    codec = get_codec("inr")
    rng = np.random.default_rng(0)
    cases = [payload[:n] for n in (0, 1, 2, 5, 9, 12, len(payload) // 2, len(payload) - 1)]
    for _ in range(24):
        b = bytearray(payload)
        i = int(rng.integers(len(b)))
        b[i] ^= 1 << int(rng.integers(8))
        cases.append(bytes(b))
    cases.append(payload + b"\x00\x01")
    t0 = time.perf_counter()
    for p in cases:
        try:
            out = codec.decode(p, meta, 4)
        except CodecError:
            continue
        assert out.data.shape == meta.shape          # a flip that still decodes must decode cleanly
    assert time.perf_counter() - t0 < 30


def test_unknown_option_and_bad_values_are_option_errors():
    img = Item.from_array(_photo(8, 8), "image")
    with pytest.raises(OptionError):
        ncodec.api.compress_items([img], codec="inr", quality=3, options={"steps": 10})
    with pytest.raises(OptionError):
        ncodec.api.compress_items([img], codec="inr", quality=3, options={"preset": "huge"})
    with pytest.raises(OptionError):
        ncodec.api.compress_items([img], codec="inr", quality=3, options={"effort": "slow"})


def test_declared_sizes_are_checked_before_allocating():
    from ncodec._varint import encode_uvarint
    codec = get_codec("inr")
    big = 60000
    head = bytes([1]) + b"".join(encode_uvarint(v) for v in (big, big, 3, 1, 7)) + bytes([5, 5, 5, 5, 5, 5, 4])
    t0 = time.perf_counter()
    with pytest.raises((CodecError, LimitError)):
        codec.decode(head + b"\x00" * 8, ItemMeta("image", (big, big, 3)), 4)
    with pytest.raises(CodecError):                   # header and container disagree
        codec.decode(head + b"\x00" * 8, ItemMeta("image", (32, 32, 3)), 4)
    assert time.perf_counter() - t0 < 2.0


def test_fixed_point_decoder_matches_float_model_closely(coded):
    """The exact integer decoder reproduces the float network within rounding (sanity of the mirror)."""
    import torch
    from ncodec.codecs import _inr_engine as E
    from ncodec.models import inr_image as M
    _, res = coded
    payload, meta = _payload(res)
    net, latents = E.unpack(payload, meta.shape)
    params = {}
    for name, _ in net.spec.param_shapes():
        kw, kb = net.steps[M.module_of(name)]
        params[name] = torch.tensor(net.ints[name] / 2.0 ** (kb if M.is_bias(name) else kw), dtype=torch.float64)
    lat = [torch.tensor(v[None, None], dtype=torch.float64) for v in latents]
    with torch.no_grad():
        x = M.synthesize_t(net.spec, params, M.upsample_t(net.spec, params, lat))[0].permute(1, 2, 0).numpy()
    ref = np.clip(np.round(x * 255), 0, 255)
    assert np.abs(ref - net.render(latents).astype(float)).max() <= 2


def test_cli_compress_fast(tmp_path):
    from PIL import Image
    src = tmp_path / "x.png"
    Image.fromarray(_photo(24, 24)).save(src)
    env = dict(os.environ, PYTHONPATH=str(REPO))
    out = subprocess.run([sys.executable, "-m", "ncodec", "compress", str(src), "-c", "inr", "-q", "3",
                          "-O", "effort=fast", "-O", "iterations=20", "-o", str(tmp_path / "x.ncz")],
                         capture_output=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr.decode()
    assert ncodec.decompress((tmp_path / "x.ncz").read_bytes()).data.shape == (24, 24, 3)


def test_auto_preset_grows_with_the_rate_and_mid_round_trips():
    """auto: small at q <= 4 and mid above (up to 512x512 pixels), medium for big images; a mid file
    round-trips with the decoder the header names."""
    from ncodec.codecs import _inr_engine as E
    assert E.pick_preset("auto", 256, 256, E.LAMBDAS[4]) == "small"
    assert E.pick_preset("auto", 256, 256, E.LAMBDAS[5]) == "mid"
    assert E.pick_preset("auto", 1024, 1024, E.LAMBDAS[2]) == "medium"
    assert E.pick_preset("large", 16, 16, E.LAMBDAS[8]) == "large"
    lam = [E.LAMBDAS[q] for q in range(1, 9)]
    assert all(a > b for a, b in zip(lam, lam[1:]))
    img = Item.from_array(_photo(16, 24), "image")
    res = ncodec.api.compress_items([img], codec="inr", quality=6, options={**FAST, "iterations": 8})
    assert res.info[0]["preset"] == "mid"
    dec = ncodec.decompress(res.data).data
    assert dec.shape == (16, 24, 3) and psnr(img.data, dec) == pytest.approx(res.info[0]["psnr"], abs=1e-3)


def test_fit_phases_and_warmup_candidates_keep_the_iteration_budget():
    from ncodec.models import inr_image as M
    img = _photo(16, 16)
    spec = M.InrSpec.for_image(16, 16, 3, "small")
    for kw in ({}, {"ste_frac": 0.2}, {"candidates": 3, "warmup": 4}):
        r = M.fit(img, spec, 0.005, M.FitOptions(iterations=24, progress=False, threads=1, device="cpu", **kw))
        assert r.iterations == 24
        assert all(np.array_equal(v, np.round(v)) for k, v in r.params.items() if k.startswith("latent."))
