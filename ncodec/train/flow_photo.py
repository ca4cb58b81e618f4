"""Trainer ``flow-photo``: the shipped parts of the flow codec's whole-photo path.

The interlaced integer flow (``ncodec.models.interlace``) fits its predictors per image when a
stage is large enough to pay for them; smaller stages (the coarse levels, small photos) use the
shipped defaults this trainer fits: least-squares weights per (level, pass, channel, bucket),
accumulated as normal equations over the training photos (two rounds, since a colour channel's
features include the earlier channels' errors, which depend on the weights). It also stores the
table bank (discretised generalised Gaussians) as integers, and reports the real coded size on
held-out photos. A CPU job of a few minutes: it needs no GPU.
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from .. import data as D
from ..entropy import quantize_probs
from ..models import interlace as il
from .export import add_export_args, command_line, export_dir, export_name, write_entry
from .registry import register_trainer

EXPORT_NAME = "flow_photo_interlace"


def gg_bank(shapes=(1.0, 1.3, 1.6, 2.0), scales: int = 64, lo: float = 0.05, hi: float = 120.0) -> np.ndarray:
    """A bank of discretised generalised-Gaussian PMFs over the folded errors (-128..127), one per
    (shape, scale); built once by the trainer and stored as integers with the weights."""
    e = np.abs(np.arange(-128, 128, dtype=np.float64))
    bs = np.exp(np.linspace(np.log(lo), np.log(hi), scales))
    rows = [np.exp(-(e[None, :] / bs[:, None]) ** beta) for beta in shapes]
    p = np.concatenate(rows)
    return quantize_probs(p / p.sum(axis=1, keepdims=True))


def _photos(split: str, limit: int) -> list[np.ndarray]:
    from PIL import Image
    paths = D.paths("bsds500", split)
    return [np.asarray(Image.open(p).convert("RGB")) for p in paths[:limit or None]]


def fit_defaults(images: list[np.ndarray], model: il.PhotoModel, progress: bool = True) -> dict:
    """Least-squares default weights from the stages of ``images`` coded with ``model``."""
    from tqdm import tqdm

    from ..codecs import _photo_coding as pc
    acc: dict[tuple, list] = {}

    for img in tqdm(images, desc="fit defaults", disable=not progress):
        x = pc._order(img)
        walk = pc._Walk(x.shape)

        def begin(st):
            return [model.default(st.level, st.pass_name, ch) for ch in range(x.shape[0])], None

        def code(part, ch, f, cls, wdef):
            tgt = x[ch][np.ix_(part.rows, part.cols)].reshape(-1)
            bucket = pc._buckets(cls)
            for b in range(il.BUCKETS):
                sel = bucket == b
                if sel.any():
                    a = acc.setdefault((min(part.level, il.WEIGHT_LEVELS - 1), part.pass_name, ch, b), [0.0, 0.0])
                    fs = f[:, sel]
                    a[0] = a[0] + fs @ fs.T
                    a[1] = a[1] + fs @ tgt[sel].astype(np.float64)
            # the earlier channels' errors later features see: those of the image's own fit, as
            # the encoder would code them (the fit's choice on the whole chunk)
            return tgt, pc._choose_weights(f, tgt, model.bases(part.level, part.pass_name, ch), cls)[3]

        walk.run(lambda: x[:, 0, 0], begin, code)
    weights = {}
    for (lev, p, ch), w in model.weights.items():
        w = w.copy()
        for b in range(il.BUCKETS):
            if (lev, p, ch, b) in acc:
                ata, atb = acc[(lev, p, ch, b)]
                sol = np.linalg.solve(ata + 1e-3 * np.eye(len(atb)), atb)
                w[b] = np.clip(np.round(sol * (1 << il.QBITS)), -il.WMAX, il.WMAX)
        weights[(lev, p, ch)] = w
    return weights


def measure(images: list[np.ndarray], model: il.PhotoModel) -> dict:
    """Real bits per sub-pixel (8 x payload bytes / values) over ``images``, and CPU seconds."""
    from ..codecs import _photo_coding as pc
    bits, values = 0, 0
    t0 = time.process_time()
    for img in images:
        payload, _ = pc.encode_photo(img, model)
        bits += 8 * len(payload)
        values += img.size
    return {"bpsp": round(bits / values, 4), "images": len(images), "cpu_s": round(time.process_time() - t0, 1)}


def add_args(p) -> None:
    p.add_argument("--train-images", type=int, default=0, help="BSDS500 train photos to fit on (0: all 200)")
    p.add_argument("--eval-images", type=int, default=0, help="BSDS500 val photos to report (0: all 100)")
    p.add_argument("--rounds", type=int, default=2, help="fitting rounds (each codes the photos with the last weights)")
    p.add_argument("--export", action="store_true", help="write the weights + manifest")
    add_export_args(p)


def run(args) -> int:
    from threadpoolctl import threadpool_limits
    t0, c0 = time.time(), time.process_time()
    with threadpool_limits(1):
        train = _photos("train", args.train_images)
        val = _photos("val", args.eval_images)
        model = il.PhotoModel(gg_bank(), il.interpolation_defaults())
        before = measure(val, model)
        print(f"untrained defaults: val {before['bpsp']} bits/sub-pixel", flush=True)
        for r in range(args.rounds):
            model = il.PhotoModel(model.bank, fit_defaults(train, model))
            print(f"round {r + 1}: fitted on {len(train)} photos", flush=True)
        after = measure(val, model)
    print(f"trained defaults: val {after['bpsp']} bits/sub-pixel ({after['images']} photos)", flush=True)
    if args.export:
        name = export_name(args, EXPORT_NAME)
        path = export_dir(args) / f"{name}.npz"
        model.save(path)
        write_entry(name, path, codec="flow", dataset="bsds500", command=command_line(args, "flow-photo"),
                    steps=args.rounds, cpu_seconds=round(time.process_time() - c0),
                    wall_seconds=round(time.time() - t0), device="cpu, 1 thread",
                    figures={"val_bpsp_real": after["bpsp"], "val_bpsp_untrained": before["bpsp"],
                             "val_images": after["images"], "train_images": len(train)})
        print(f"exported {name} to {path}", flush=True)
    return 0


run.add_args = add_args
register_trainer("flow-photo")(run)
