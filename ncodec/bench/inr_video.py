"""INR video benchmark: NeRV / HNeRV (3 sizes x 3 quantization strengths) against x264 / x265
(PyAV, several CRFs, presets medium and veryslow) on the same Bunny frames.

Rates are real .ncz file bytes, measured by ``ncodec.eval.roundtrip`` for every codec; next to
the NeRV files the size a NeRV-style report would claim (Huffman estimate of the kept quantized
weights only). Fits are cached per preset under runs/inr_video/ so the run resumes after an
interruption; the classical codecs are cheap and rerun in every run.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from ._common import print_table, results_dir, write_results

BUNNY = "video/bunny_320x180"
CLASSICAL_CRFS = {"x264": [23, 28, 33, 38, 43], "x265": [25, 30, 35, 40, 45]}
DEFAULT_PRESET = "medium"       # what the x264/x265 codecs use when they declare no preset option


def load_frames(n: int) -> np.ndarray:
    """The first ``n`` Bunny 320x180 frames as (T, H, W, 3) uint8."""
    from ..io import read_item
    from .. import data as D
    return read_item(D.data_root() / BUNNY).data[:n]


def _preset_options(codec: str, preset: str) -> dict | None:
    """Encoder options selecting ``preset``; None when the codec cannot be asked for it."""
    from ..codecs import get_codec
    if any(o.name == "preset" for o in get_codec(codec).options):
        return {"preset": preset}
    return {} if preset == DEFAULT_PRESET else None


def classical_rows(frames: np.ndarray, crfs: dict[str, list[int]], presets: list[str]) -> list[dict]:
    """x264 / x265 (yuv444p, one thread) at each CRF and preset, through ``eval.roundtrip``: real
    file bytes, PSNR / MS-SSIM over the clip, CPU seconds."""
    from ..eval.roundtrip import ratio, roundtrip
    from ..item import Item
    item = Item.from_array(frames, "video", frame_rate=25)
    rows = []
    for codec, levels in crfs.items():
        for preset in presets:
            opts = _preset_options(codec, preset)
            if opts is None:
                print(f"  {codec} declares no 'preset' option: {preset} skipped", flush=True)
                continue
            for crf in levels:
                r = roundtrip(item, codec, crf, options=opts)
                rows.append({"codec": codec, "config": f"{preset} crf{crf}", "bytes": r["bits"] // 8, "bpp": r["rate"],
                             "psnr": r["psnr"], "ms_ssim": r["ms_ssim"], "encode_s": r["enc_s"],
                             "enc_cpu_s": r["enc_cpu_s"], "dec_cpu_s": r["dec_cpu_s"],
                             "decode_fps": ratio(len(frames), r["dec_s"])})
                print(f"  {codec} {rows[-1]['config']}: {rows[-1]['bpp']:.4f} bpp {rows[-1]['psnr']:.2f} dB", flush=True)
    return rows


def inr_rows(frames: np.ndarray, kind: str, preset: str, epochs: int, cache: Path, lr: float,
             strengths: list[int] | None = None) -> list[dict]:
    """Fit one NeRV/HNeRV preset (cached), then code it at 3 strengths; rows with real bytes."""
    import torch
    from .. import container
    from ..api import CHECK_BYTES_SINGLE
    from ..codecs import get_codec
    from ..eval.metrics import psnr
    from ..eval.roundtrip import decode_file, trip_row
    from ..codecs.nerv import STRENGTHS, nerv_style_estimate_bits, pack_payload
    from ..item import Item
    from ..models.nerv import count_decoder_params, make_config
    from ..models.nerv_fit import FitOptions, compress_state, fit
    T, H, W, _ = frames.shape
    tag = f"{kind}_{preset}_t{T}_e{epochs}"
    sel = list(range(len(STRENGTHS))) if strengths is None else strengths
    done = cache / (f"{tag}.json" if strengths is None else f"{tag}.s{''.join(map(str, sel))}.json")
    if done.exists():
        return json.loads(done.read_text())
    codec = get_codec(kind)
    cfg = make_config(kind, T, H, W, preset)
    opts = FitOptions(epochs=epochs, lr=lr, device="cpu", progress=False, finetune_frac=0.1)
    ckpt = cache / f"{tag}.fit.pt"
    if ckpt.exists():
        state = torch.load(ckpt, weights_only=False)
    else:
        print(f"  fitting {tag}: {count_decoder_params(cfg)} decoder params, strides {cfg.strides}, "
              f"channels {cfg.channels}", flush=True)
        state = fit(frames, cfg, opts)
        torch.save(state, ckpt)
    ft_steps = max(1, int(state.fit_steps * opts.finetune_frac))
    item = Item.from_array(frames, "video", frame_rate=25)
    rows = []
    fit_cpu = getattr(state, "fit_cpu_seconds", 0.0) or _cpu_per_epoch(frames, cfg, opts) * epochs
    for i, (bits, prune) in enumerate(STRENGTHS):
        if i not in sel:
            continue
        q = "SML".index(preset) * 3 + i
        cpath = cache / f"{tag}.b{bits}p{prune:g}.comp.pt"
        if cpath.exists():     # fine-tuned + quantized network cached: only the entropy coding reruns
            comp = torch.load(cpath, weights_only=False)
        else:
            comp = compress_state(state, frames, bits, prune, opts, ft_steps)
            torch.save(comp, cpath)
        ideal: dict = {}
        payload = pack_payload(comp, ideal=ideal)
        check = container.content_check(item.meta, comp.frames, CHECK_BYTES_SINGLE)   # nerv: the reconstruction
        data = container.pack(container.Container(codec=codec.name, codec_version=codec.version, quality=q,
                                                  records=[container.Record(payload, item.meta, "", check)],
                                                  model_id=codec.model_id(q)))
        trip = decode_file(data, [item], ideal_bits=sum(ideal.values()))   # encoding = the (cached) fit above
        r = trip_row(trip)
        est = nerv_style_estimate_bits(comp)
        n_params = sum(qt.q.size for qt in comp.weights.values())
        kept = sum(int(qt.mask.sum()) if qt.mask is not None else qt.q.size for qt in comp.weights.values())
        row = {"codec": kind, "config": f"{preset} q{q} {bits}b prune{prune:g}", "preset": preset,
               "quality": q, "bits": bits, "prune": prune, "params": n_params, "kept_params": kept,
               "bytes": len(data), "bpp": r["rate"], "estimate_bpp": est / (T * H * W),
               "ideal_mask_bits": ideal.get("mask", 0.0), "ideal_value_bits": ideal.get("values", 0.0),
               "ideal_embedding_bits": ideal.get("embeddings", 0.0),
               "psnr": r["psnr"], "ms_ssim": r["ms_ssim"], "psnr_float": psnr(frames, _float_render(state)),
               "decode_exact": bool(np.array_equal(trip.decoded[0].data, comp.frames)),
               "fit_s": state.fit_seconds, "fit_cpu_s": fit_cpu, "fit_steps": state.fit_steps, "compress_s": comp.seconds,
               "epochs": epochs, "decode_fps": T / r["dec_s"], "dec_cpu_s": r["dec_cpu_s"]}
        rows.append(row)
        print(f"  {kind} {row['config']}: {row['bytes']} B {row['bpp']:.4f} bpp (estimate {row['estimate_bpp']:.4f}) "
              f"{row['psnr']:.2f} dB (float {row['psnr_float']:.2f}) exact={row['decode_exact']} "
              f"fit {row['fit_cpu_s']:.0f} CPU-s dec {row['decode_fps']:.1f} fps", flush=True)
    done.write_text(json.dumps(rows, indent=1))
    return rows


def _cpu_per_epoch(frames: np.ndarray, cfg, opts) -> float:
    """CPU seconds of one fitting epoch (3 epochs minus 1, so warm-up cancels), for fits cached
    before CPU time was recorded."""
    from dataclasses import replace
    from ..models.nerv_fit import fit
    fit(frames, cfg, replace(opts, epochs=1, steps=None))        # process-wide warm-up
    one = fit(frames, cfg, replace(opts, epochs=1, steps=None)).fit_cpu_seconds
    three = fit(frames, cfg, replace(opts, epochs=3, steps=None)).fit_cpu_seconds
    return max(three - one, 0.0) / 2


def _float_render(state) -> np.ndarray:
    from ..models.nerv_fit import render
    return render(state.decoder, state.inputs)


def plot(rows: list[dict], path: Path, frames: int) -> None:
    """R-D plot (bpp from real file bytes vs PSNR and MS-SSIM), one line per codec/config family."""
    import matplotlib
    import matplotlib.ticker
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.8))
    groups: dict[str, list[dict]] = {}
    for r in rows:
        if r["codec"] in ("nerv", "hnerv"):
            key = f"{r['codec']} (real file)"
            groups.setdefault(key, []).append(r)
            groups.setdefault(f"{r['codec']} (NeRV-style estimate)", []).append(
                {**r, "bpp": r["estimate_bpp"]})
        else:
            groups.setdefault(f"{r['codec']} {r['config'].split()[0]}", []).append(r)
    for key, rs in groups.items():
        rs = sorted(rs, key=lambda r: r["bpp"])
        est = "estimate" in key   # estimates: markers only (presets interleave, a line would zigzag)
        for ax, m in zip(axes, ("psnr", "ms_ssim")):
            ax.plot([r["bpp"] for r in rs], [r[m] for r in rs], linestyle="none" if est else "-",
                    marker="x" if est else "o", ms=5 if est else 3, label=key)
    for ax, m in zip(axes, ("PSNR (dB)", "MS-SSIM")):
        ax.set_xscale("log")
        ax.xaxis.set_major_formatter(matplotlib.ticker.FormatStrFormatter("%g"))
        ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        ax.set_xticks([0.02, 0.03, 0.05, 0.1, 0.2, 0.3])
        ax.set_xlabel("bits per pixel")
        ax.set_ylabel(m)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7)
    fig.suptitle(f"Bunny 320x180, first {frames} frames: INR (NeRV/HNeRV) vs x264/x265")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark (resumable); prints the table, writes JSON + PNG under benchmarks/results/."""
    ap = argparse.ArgumentParser(prog="ncodec bench inr_video", description=__doc__)
    ap.add_argument("--frames", type=int, default=32, help="first N Bunny frames (default 32)")
    ap.add_argument("--epochs", type=int, default=120, help="fitting epochs per preset")
    ap.add_argument("--lr", type=float, default=5e-3)
    ap.add_argument("--kinds", default="nerv,hnerv")
    ap.add_argument("--presets", default="S,M,L")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--cache", default="runs/inr_video")
    ap.add_argument("--no-classical", action="store_true")
    ap.add_argument("--strengths", default="", help="subset of quantization strengths, e.g. 1 (default: all 3)")
    ap.add_argument("--name", default="inr_video")
    args = ap.parse_args(argv)
    import torch
    torch.set_num_threads(args.threads)
    frames = load_frames(args.frames)
    cache = Path(args.cache)
    cache.mkdir(parents=True, exist_ok=True)
    rows: list[dict] = []
    if not args.no_classical:
        rows += classical_rows(frames, CLASSICAL_CRFS, ["medium", "veryslow"])   # cheap: rerun, never cached
    for preset in args.presets.split(","):
        for kind in args.kinds.split(","):
            rows += inr_rows(frames, kind, preset, args.epochs, cache, args.lr,
                             [int(c) for c in args.strengths] if args.strengths else None)
    cols = ["codec", "config", "bytes", "bpp", "estimate_bpp", "psnr", "ms_ssim", "decode_fps", "fit_cpu_s"]
    text = print_table(rows, cols, title=f"INR video, Bunny 320x180 first {len(frames)} frames (real file bytes)")
    out = write_results(args.name, rows, frames=len(frames), epochs=args.epochs, threads=args.threads,
                        data=BUNNY, table=text)
    png = results_dir() / f"{args.name}.png"
    plot(rows, png, len(frames))
    print(f"wrote {out} and {png}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
