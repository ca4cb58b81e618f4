"""Evaluation: metrics vs hand-computed values, BD-rate known values, sweeps (rows, errors, merge),
downstream-task rows, report/plot rendering, shipped classifiers, the eval CLI."""
from __future__ import annotations

import json
import math
import time
import zlib

import numpy as np
import pytest

from ncodec.codecs import base
from ncodec.errors import CodecError
from ncodec.eval import bd, metrics, sweep
from ncodec.item import Item, ItemMeta


# ------------------------------------------------------------------ a tiny fake lossy codec

class _Quant(base.Codec):
    """Uniform quantiser + zlib; quality = step size. Raises on 13-row images (to test error rows)."""

    name = "test-quant"
    media = "image"
    qualities = (1, 128)
    default_quality = 8

    def encode(self, item: Item, quality: int, options) -> base.Encoded:
        if item.data.shape[0] == 13:
            raise CodecError("test-quant refuses 13-row images")
        return base.Encoded(zlib.compress((item.data // quality).astype(np.uint8).tobytes(), 9))

    def decode(self, payload: bytes, meta: ItemMeta, quality: int) -> Item:
        q = np.frombuffer(zlib.decompress(payload), np.uint8).reshape(meta.shape).astype(np.int32)
        rec = q * quality + (quality // 2 if quality > 1 else 0)
        return Item(np.clip(rec, 0, 255).astype(np.uint8), meta)


@pytest.fixture
def quant():
    base.available()
    base._REGISTRY[_Quant.name] = _Quant
    yield _Quant.name
    base._REGISTRY.pop(_Quant.name, None)
    base._INSTANCES.pop(_Quant.name, None)


def _img(h: int, w: int, seed: int, name: str) -> Item:
    rng = np.random.default_rng(seed)
    base_img = np.add.outer(np.arange(h), np.arange(w)) * 3 % 256
    arr = np.clip(base_img + rng.integers(-10, 10, (h, w)), 0, 255).astype(np.uint8)
    return Item.from_array(arr, "image", name=name)


# ------------------------------------------------------------------ metrics

def test_psnr_snr_hand_values():
    a = np.zeros((4, 4), np.uint8)
    b = np.ones((4, 4), np.uint8)                      # MSE 1
    assert metrics.psnr(a, b) == pytest.approx(20 * math.log10(255))
    c = a.copy()
    c[0, 0] = 8                                        # MSE 64/16 = 4
    assert metrics.psnr(a, c) == pytest.approx(10 * math.log10(255 ** 2 / 4))
    assert metrics.psnr(a.astype(np.uint16), b.astype(np.uint16)) == pytest.approx(20 * math.log10(65535))
    assert metrics.psnr(a, a) == math.inf
    s = np.array([3, -4, 3, -4], np.int16)             # power 12.5
    n = s + np.array([1, 1, -1, -1], np.int16)         # error power 1
    assert metrics.snr(s, n) == pytest.approx(10 * math.log10(12.5))


def test_psnr_of_known_mse_and_peaks():
    rng = np.random.default_rng(5)
    a = rng.integers(0, 200, (8, 8)).astype(np.uint8)
    b = (a.astype(np.int16) + np.where(rng.random((8, 8)) < 0.5, 3, -3)).astype(np.uint8)   # MSE exactly 9
    assert metrics.mse(a, b) == 9.0
    assert metrics.psnr(a, b) == pytest.approx(10 * math.log10(255 ** 2 / 9))
    assert metrics.psnr(a, b, peak=1.0) == pytest.approx(10 * math.log10(1 / 9))
    pcm = np.array([100, -100, 100, -100], np.int16)
    assert metrics.psnr(pcm, pcm + 1) == pytest.approx(20 * math.log10(32768))       # int16 full scale
    with pytest.raises(ValueError):
        metrics.psnr(a, b[:4])


def test_segmental_snr_hand_value():
    a = np.array([2, 2, 2, 2, 1, 1, 1, 1, 0, 0, 0, 0], np.int16)
    b = a.copy()
    b[:4] = 3                                          # segment 1: power 16 / error 4 -> 6.02 dB
    b[8:] = 1                                          # segment 3: silence + error -> clipped to -10 dB
    # segment 2 is exact -> clipped to 35 dB
    assert metrics.seg_snr(a, b, frame=4) == pytest.approx((10 * math.log10(4) + 35 - 10) / 3)
    assert metrics.seg_snr(a, b, frame=4) != pytest.approx(metrics.snr(a, b))
    assert math.isnan(metrics.seg_snr(a[:3], b[:3], frame=4))                          # shorter than a segment
    assert metrics.seg_snr(a[:8], b[:8], frame=4) == pytest.approx((10 * math.log10(4) + 35) / 2)  # tail dropped


def test_rate_units_per_media_kind():
    img = Item.from_array(np.zeros((6, 5, 3), np.uint8), "image")
    assert metrics.rate_units([img, img]) == (60, "bpp")          # pixels, not sub-pixels
    assert metrics.rate_units(img) == (30, "bpp")
    vid = Item.from_array(np.zeros((4, 6, 5, 3), np.uint8), "video")
    assert metrics.rate_units(vid) == (120, "bpp")
    stereo = Item.from_array(np.zeros((100, 2), np.int16), "audio", sample_rate=8000)
    assert metrics.rate_units(stereo) == (200, "bits/sample")
    ten = Item.from_array(np.zeros((3, 4, 5), np.float32), "tensor")
    assert metrics.rate_units(ten) == (60, "bits/element")
    assert metrics.rate_units([ten], media="image") == (12, "bpp")
    from ncodec.cli.common import rate_text
    assert rate_text(120, [img]) == "4 bpp"


def test_mean_distortion_skips_exact_items():
    parts = [{"exact": True, "psnr": math.inf, "ms_ssim": 1.0}, {"exact": False, "psnr": 30.0, "ms_ssim": 0.9},
             {"exact": False, "psnr": 40.0, "ms_ssim": 0.8}]
    m = metrics.mean_distortion(parts)
    assert m["psnr"] == pytest.approx(35.0) and m["ms_ssim"] == pytest.approx(0.9) and m["exact_items"] == 1
    assert metrics.mean_distortion(parts[:1])["psnr"] == math.inf
    # rows of several items weigh by item count; JSON rows store an exact PSNR as None
    rows = [{"n": 3, "exact_items": 1, "psnr": 30.0}, {"n": 1, "exact": False, "psnr": 40.0},
            {"n": 1, "exact": True, "psnr": None}]
    m = metrics.mean_distortion(rows)
    assert m["psnr"] == pytest.approx((2 * 30.0 + 40.0) / 3) and m["exact_items"] == 2
    assert "snr" not in m


def test_ms_ssim_hand_value_and_window():
    # Constant images: contrast-structure = 1 at every scale, so MS-SSIM = luminance ** w5.
    a = np.full((192, 192), 100, np.uint8)
    b = np.full((192, 192), 120, np.uint8)
    c1 = (0.01 * 255) ** 2
    lum = (2 * 100 * 120 + c1) / (100 ** 2 + 120 ** 2 + c1)
    assert metrics.ms_ssim(a, b) == pytest.approx(lum ** 0.1333, rel=1e-4)
    rgb = np.stack([a, a, a], -1)
    assert metrics.ms_ssim(rgb, rgb) == pytest.approx(1.0, abs=1e-6)
    assert metrics.mssim_window(512, 768) == 11
    assert metrics.mssim_window(64, 64) == 3
    assert metrics.mssim_window(28, 28) is None
    assert metrics.ms_ssim(np.zeros((28, 28), np.uint8), np.ones((28, 28), np.uint8)) is None
    noisy = np.clip(a.astype(int) + np.random.default_rng(0).integers(-20, 21, a.shape), 0, 255).astype(np.uint8)
    assert 0.0 < metrics.ms_ssim(a.copy(), noisy) < 1.0


# ------------------------------------------------------------------ BD-rate

RATES = [0.2, 0.4, 0.8, 1.6]
PSNRS = [28.0, 31.0, 33.5, 36.0]


def test_bd_known_values():
    assert bd.bd_rate(RATES, PSNRS, RATES, PSNRS) == pytest.approx(0.0, abs=1e-9)
    half = [r / 2 for r in RATES]
    assert bd.bd_rate(RATES, PSNRS, half, PSNRS) == pytest.approx(-50.0, abs=1e-6)
    assert bd.bd_rate(RATES, PSNRS, [r * 2 for r in RATES], PSNRS) == pytest.approx(100.0, abs=1e-6)
    assert bd.bd_quality(RATES, PSNRS, RATES, [p + 1.0 for p in PSNRS]) == pytest.approx(1.0, abs=1e-9)
    assert math.isnan(bd.bd_rate(RATES, PSNRS, RATES[:1], PSNRS[:1]))
    assert math.isnan(bd.bd_rate(RATES, PSNRS, RATES, [p + 20 for p in PSNRS]))     # no quality overlap


def test_bd_unsorted_curves_and_table():
    rt, qt = [1.5, 0.25, 0.5, 0.9], [35.0, 28.4, 30.9, 33.0]
    assert bd.bd_rate(RATES, PSNRS, rt, qt) == pytest.approx(bd.bd_rate(RATES, PSNRS, sorted(rt), sorted(qt)))
    assert 10 < bd.bd_rate(RATES, PSNRS, rt, qt) < 40       # the test curve needs more bits for the same PSNR
    r, q = bd.monotone_curve([0.4, 0.2, 0.3, 0.8], [31, 28, 27, 33])   # (0.3, 27) is dominated
    assert list(r) == [0.2, 0.4, 0.8] and list(q) == [28, 31, 33]
    half = [x / 2 for x in RATES]
    rows = bd.bd_table({"a": (RATES, PSNRS), "b": (half, PSNRS)}, "a")
    assert [round(x["bd_rate_pct"], 6) for x in rows] == [0.0, -50.0]


# ------------------------------------------------------------------ the round trip

class _Slow(base.Codec):
    """Lossless identity codec that burns ~40 ms of CPU encoding and sleeps 60 ms decoding."""

    name = "test-slow"
    media = "image"
    lossless = True

    def encode(self, item: Item, quality: int, options) -> base.Encoded:
        t0 = time.process_time()
        while time.process_time() - t0 < 0.04:
            pass
        return base.Encoded(item.data.tobytes(), ideal_bits=8.0 * item.data.size)

    def decode(self, payload: bytes, meta: ItemMeta, quality: int) -> Item:
        time.sleep(0.06)
        return Item(np.frombuffer(payload, np.uint8).reshape(meta.shape).copy(), meta)


@pytest.fixture
def slow():
    base.available()
    base._REGISTRY[_Slow.name] = _Slow
    yield _Slow.name
    base._REGISTRY.pop(_Slow.name, None)
    base._INSTANCES.pop(_Slow.name, None)


def test_roundtrip_row_lossless(slow):
    from ncodec.eval.roundtrip import code, roundtrip, trip_row
    item = _img(24, 20, 0, "a.png")
    trip = code(item, slow)
    row = trip_row(trip)
    assert row["bits"] == 8 * len(trip.data) and row["payload_bits"] == 8 * 24 * 20 < row["bits"]
    assert row["ideal_bits"] == 8.0 * 24 * 20 and row["rate"] == pytest.approx(row["bits"] / 480)
    assert row["exact"] and row["psnr"] == math.inf and row["n"] == 1 and row["codec"] == slow
    assert row["enc_cpu_s"] >= 0.035 and row["enc_s"] >= row["enc_cpu_s"] * 0.9   # CPU time of the encode
    assert row["dec_s"] >= 0.055 and row["dec_cpu_s"] < 0.04                       # sleeping costs no CPU
    again = roundtrip(item, "zstd")
    from ncodec import api
    assert again["bits"] == 8 * len(api.compress_items([item], codec="zstd").data) and again["psnr"] == math.inf
    assert again["ideal_bits"] is None and again["enc_cpu_s"] is not None and again["dec_cpu_s"] is not None


def test_roundtrip_archive_of_many_items(quant):
    from ncodec import api
    from ncodec.eval.roundtrip import code, combine, roundtrip, trip_row
    items = [_img(20, 20, i, f"m{i}") for i in range(3)]
    trip = code(items, quant, 16)
    row = trip_row(trip)
    assert len(api.open(trip.data)) == 3 and row["n"] == 3 and row["units"] == 3 * 400
    assert row["bits"] == 8 * len(trip.data) < row["files_bits"]           # one archive beats 3 files
    decoded = api.decompress_bytes(trip.data)
    assert row["psnr"] == pytest.approx(np.mean([metrics.psnr(a.data, b.data) for a, b in zip(items, decoded)]))
    assert not row["exact"] and row["exact_items"] == 0
    # one file per item, added up: same distortion, more bits
    singles = [roundtrip(it, quant, 16) for it in items]
    total = combine(singles)
    assert total["bits"] == sum(r["bits"] for r in singles) == row["files_bits"]
    assert total["psnr"] == pytest.approx(row["psnr"]) and total["rate"] == pytest.approx(total["bits"] / 1200)


# ------------------------------------------------------------------ sweeps

def test_sweep_rows_errors_and_merge(quant, tmp_path):
    from ncodec import api
    items = [_img(24, 20, 0, "a.png"), _img(40, 36, 1, "b.png")]
    rows = sweep.run_sweep(items, [quant, "zstd"], {quant: [1, 16], "zstd": [1, 3]}, dataset="toy",
                           workers=1, progress=False)
    assert len(rows) == 2 * 2 * 2
    assert {(r["codec"], r["quality"], r["item"]) for r in rows} == \
        {(c, q, n) for c, qs in ((quant, (1, 16)), ("zstd", (1, 3))) for q in qs for n in ("a.png", "b.png")}
    for r in rows:
        assert r["error"] is None
        file = api.compress_items([items[r["index"]]], codec=r["codec"], quality=r["quality"], archive=False).data
        assert r["bits"] == 8 * len(file) and r["payload_bits"] < r["bits"]
        assert r["rate"] == pytest.approx(r["bits"] / r["units"]) and r["rate_unit"] == "bpp"
        assert r["enc_s"] >= 0 and r["dec_s"] >= 0 and r["enc_cpu_s"] >= 0 and r["dec_cpu_s"] >= 0
    by = {(r["codec"], r["quality"], r["item"]): r for r in rows}
    assert by[("zstd", 3, "a.png")]["exact"] and by[(quant, 1, "a.png")]["exact"]
    lossy = by[(quant, 16, "b.png")]
    assert not lossy["exact"] and 20 < lossy["psnr"] < 45 and 0 < lossy["ms_ssim"] < 1   # 36 px: window 3
    assert by[(quant, 16, "a.png")]["ms_ssim"] is None                                   # 20 px: too small
    assert lossy["bits"] < by[(quant, 1, "b.png")]["bits"]

    # one failing item is an error row, not a crash
    bad = sweep.run_sweep([items[0], _img(13, 20, 2, "bad.png")], [quant, "no-such-codec"], {quant: [4]},
                          dataset="toy", workers=1, progress=False)
    errs = {r["item"]: r["error"] for r in bad if r["codec"] == quant}
    assert errs["a.png"] is None and "13-row" in errs["bad.png"]
    assert all("unknown codec" in r["error"] for r in bad if r["codec"] == "no-such-codec")
    pts = sweep.aggregate(bad)
    q4 = next(p for p in pts if p["codec"] == quant)
    assert q4["items"] == 1 and q4["errors"] == 1

    # results merge across runs; a rerun replaces rows with the same key
    out = tmp_path / "r.json"
    sweep.save_results(out, rows)
    sweep.save_results(out, bad)
    merged = sweep.load_results(out)["rows"]
    assert len(merged) == len(rows) + len(bad)
    sweep.save_results(out, bad)
    assert len(sweep.load_results(out)["rows"]) == len(merged)
    assert (tmp_path / "r.csv").read_text().count("\n") == len(merged) + 1
    # rows measured with other weights of the same codec are replaced as a whole curve
    v1 = [dict(r, model_id="aa") for r in rows if r["codec"] == quant]
    v2 = [dict(v1[0], model_id="bb")]
    kept = sweep.merge_rows(v1 + [r for r in rows if r["codec"] == "zstd"], v2)
    assert [r["model_id"] for r in kept if r["codec"] == quant] == ["bb"] and len(kept) == 1 + 4


def test_sweep_batches_code_one_archive_per_row():
    from ncodec import api
    items = [_img(16, 16, i, f"d{i}") for i in range(5)]
    rows = sweep.run_sweep(items, ["zstd"], {"zstd": [3]}, dataset="toy", workers=1, progress=False, batch=2,
                           keep_names=False)
    assert [(r["item"], r["n"]) for r in rows] == [("batch0", 2), ("batch1", 2), ("batch2", 1)]
    first = api.compress_items(items[:2], codec="zstd", quality=3, archive=True, keep_names=False).data
    assert rows[0]["bits"] == 8 * len(first) and all(r["exact"] for r in rows)
    pt = sweep.aggregate(rows)[0]
    assert pt["items"] == 3 and pt["n"] == 5 and pt["exact_items"] == 5
    assert pt["rate"] == pytest.approx(sum(r["bits"] for r in rows) / (5 * 256))


def test_sweep_process_pool_matches_serial():
    items = [_img(16, 16, 3, "p.png"), _img(20, 16, 4, "q.png")]
    serial = sweep.run_sweep(items, ["zstd"], {"zstd": [1, 5]}, workers=1, progress=False)
    pooled = sweep.run_sweep(items, ["zstd"], {"zstd": [1, 5]}, workers=2, progress=False)
    assert [(r["item"], r["quality"], r["bits"]) for r in serial] == \
        [(r["item"], r["quality"], r["bits"]) for r in pooled]


def test_codec_levels_defaults(quant):
    assert sweep.codec_levels("png") == [0]
    assert sweep.codec_levels("zstd") == [base.get_codec("zstd").default_quality]   # lossless: effort knob
    assert sweep.codec_levels("zstd", [2, 9]) == [2, 9]
    lv = sweep.codec_levels(quant)
    assert len(lv) == 6 and lv == sorted(set(lv)) and 1 < lv[0] and lv[-1] < 128


# ------------------------------------------------------------------ downstream tasks + report

def _task_rows():
    base_row = {"kind": "task", "dataset": "toy", "item": "*", "n": 100, "subset": "all", "rate_unit": "bpp",
                "clean_accuracy": 0.95}
    acc = {(1, 0.3): 0.70, (2, 0.6): 0.945, (3, 1.2): 0.93, (4, 2.0): 0.95}
    rows = [dict(base_row, codec="original", quality=0, rate=8.0, accuracy=0.95, feat_dist=0.0)]
    rows += [dict(base_row, codec="c1", quality=q, rate=r, accuracy=a, feat_dist=1 / q, acc_drop_pts=100 * (0.95 - a))
             for (q, r), a in acc.items()]
    return rows


def test_lowest_rate_within_one_point():
    from ncodec.eval.downstream import lowest_rate_within
    low = lowest_rate_within(_task_rows())
    assert len(low) == 1 and low[0]["codec"] == "c1"
    # q2 is within 1 pt but q3 (higher rate) drops 2 pts: accuracy must *stay* within, so q3's next level wins
    assert low[0]["min_rate"] == 2.0 and low[0]["quality"] == 4


def test_task_eval_rows_with_fake_codec(quant):
    import torch
    from ncodec.eval.downstream import run_task_eval
    from ncodec.models.classifiers import build
    torch.manual_seed(0)
    model = build("image28").eval()
    rows = run_task_eval("mnist", [quant], {quant: [1, 64]}, limit=40, workers=1, progress=False, model=model)
    by = {(r["codec"], r["quality"]): r for r in rows}
    clean = by[("original", 0)]["accuracy"]
    exact = by[(quant, 1)]
    assert exact["accuracy"] == clean and exact["feat_dist"] == pytest.approx(0.0, abs=1e-9)
    assert exact["exact"] == 40 and exact["n"] == 40
    coarse = by[(quant, 64)]
    assert coarse["feat_dist"] > 0 and coarse["bits"] < exact["bits"] and coarse["rate"] == coarse["bits"] / (40 * 784)


def test_report_and_plots_render(quant, tmp_path):
    from ncodec.eval.report import render
    items = [_img(24, 20, 0, "a.png"), _img(40, 36, 1, "b.png")]
    rows = sweep.run_sweep(items, [quant, "zstd"], {quant: [2, 8, 32], "zstd": [1, 3]}, dataset="toy",
                           workers=1, progress=False)
    out = sweep.save_results(tmp_path / "res.json", rows + _task_rows())
    md = render(sweep.load_results(out), tmp_path / "res.md", anchor=quant)
    text = md.read_text()
    assert "## Rate–distortion: toy" in text and "## Downstream task: toy" in text
    assert "BD-rate against **test-quant**" in text and "within 1 point" in text
    assert (tmp_path / "res_rd_toy.png").stat().st_size > 1000 and (tmp_path / "res_task_toy.png").exists()
    assert "](res_rd_toy.png)" in text


# ------------------------------------------------------------------ shipped classifiers

@pytest.mark.parametrize("task,floor", [("mnist", 0.97), ("fashion-mnist", 0.85), ("fsdd", 0.9)])
def test_shipped_classifier_loads_and_classifies(task, floor):
    from ncodec.eval.downstream import classify, subset
    from ncodec.eval.tasks import get_task, load_classifier
    from ncodec.weights import manifest
    t = get_task(task)
    entry = manifest().get(t.weights)
    assert entry is not None, f"{t.weights} is not shipped"
    assert "command" in entry and entry["clean_test_accuracy"] > floor
    model = load_classifier(t)
    items, labels = t.load("test")
    idx = subset(len(items), 300, seed=1)
    pred, dist = classify(model, t, [items[i].data for i in idx], [items[i].data for i in idx])
    assert np.mean(pred == labels[idx]) > floor
    assert np.allclose(dist, 0.0, atol=1e-6)


# ------------------------------------------------------------------ CLI

def test_cli_rd_bd_report(tmp_path, capsys):
    from PIL import Image
    from ncodec.cli.main import main
    d = tmp_path / "imgs"
    d.mkdir()
    for i in range(2):
        Image.fromarray(_img(48, 40, i, "x").data).save(d / f"im{i}.png")
    res = tmp_path / "r.json"
    assert main(["eval", "rd", "--codec", "zstd,png", "--data", str(d), "--levels", "zstd=1,5", "--workers", "1",
                 "--quiet", "--out", str(res)]) == 0
    assert "wrote" in capsys.readouterr().out
    rows = json.loads(res.read_text())["rows"]
    assert len(rows) == 2 * 3 and all(r["exact"] for r in rows)
    assert main(["eval", "bd", str(res), "--anchor", "webp"]) == 0
    assert "skipped" in capsys.readouterr().out
    assert main(["eval", "report", str(res), "-o", str(tmp_path / "rep.md")]) == 0
    assert (tmp_path / "rep.md").read_text().startswith("# ncodec evaluation")
    capsys.readouterr()
    assert main(["eval", "bd", str(tmp_path / "missing.json")]) == 2
    assert capsys.readouterr().err.startswith("ncodec: error:")
    assert main(["eval", "rd", "--codec", "zstd", "--data", "no-such-set"]) == 2


def test_sweep_options_reach_the_codec_and_label_rows():
    """``-O [CODEC:]KEY=VALUE`` reaches the codec (weights chosen by name) and labels its rows; a bad
    option is an error row, not a crash."""
    from ncodec import data as D
    from ncodec.cli.cmd_eval import codec_options
    from ncodec.errors import InputError
    assert codec_options(["hclt:weights=hclt_mnist", "threads=1"], ["hclt", "zstd"]) == {
        "hclt": {"weights": "hclt_mnist", "threads": "1"}, "zstd": {"threads": "1"}}
    with pytest.raises(InputError):
        codec_options(["webp:x=1"], ["hclt"])
    digits = [Item.from_array(a, "image", name=f"d{i}") for i, a in enumerate(D.arrays("mnist", "test")[0][:3])]
    rows = sweep.run_sweep(digits, ["hclt"], {"hclt": [1]}, workers=1, progress=False,
                           options={"hclt": {"weights": "hclt_mnist"}})
    assert {r["codec"] for r in rows} == {"hclt[weights=hclt_mnist]"} and not any(r["error"] for r in rows)
    bad = sweep.run_sweep(digits[:1], ["hclt"], {"hclt": [1]}, workers=1, progress=False,
                          options={"hclt": {"weights": "no_such_weights"}})
    assert bad[0]["error"]
