"""``make demo``: compress and decompress real data with the shipped defaults and print what happened.

``python -m ncodec.demo --samples DIR`` instead writes the sample files the README's command
walkthrough uses (``photo.png``, ``speech.wav``, ``digits.npy``, ``frames/``), copied from the
shared data sets."""
from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np

from .api import compress_items, decompress_bytes, default_codec
from .bench._common import print_table
from .eval.metrics import psnr, rate_units, snr
from .errors import NcodecError
from .io import read_item
from .item import Item
from . import data as D


def _row(label: str, items: list[Item], codec: str | None, quality: int | None, out_dir: Path) -> dict:
    res = compress_items(items, codec=codec, quality=quality)
    path = out_dir / f"{label.replace(' ', '_')}.ncz"
    path.write_bytes(res.data)
    t0 = time.perf_counter()
    decoded = decompress_bytes(path.read_bytes())
    dec_s = time.perf_counter() - t0
    n, unit = rate_units(res.items, res.items[0].meta.media)
    exact = all(a.same_data(b) for a, b in zip(res.items, decoded))
    if exact:
        check = "bit-exact"
    elif res.items[0].meta.media == "image":
        check = f"PSNR {np.mean([psnr(a.data, b.data) for a, b in zip(res.items, decoded)]):.2f} dB"
    elif res.items[0].meta.media == "audio":
        check = f"SNR {snr(res.items[0].data, decoded[0].data):.2f} dB"
    else:
        check = "lossy"
    return {"input": label, "codec": f"{res.codec} q{res.quality}", "items": res.n_items,
            "in_bytes": res.input_bytes, "out_bytes": len(res.data),
            "rate": f"{8 * len(res.data) / n:.3f} {unit}", "enc_s": res.encode_s, "dec_s": dec_s,
            "round_trip": check}


def main() -> int:
    """Run the demo jobs on shared data; prints a table."""
    root = D.data_root()
    print(f"ncodec demo — data from {root}")
    jobs = []
    kodak = read_item(D.paths("kodak")[0])
    jobs.append(("kodim01 lossless", [kodak], None, None))
    try:
        lossy = default_codec("image", lossy=True)
        jobs.append(("kodim01 lossy", [kodak], lossy, None))
    except NcodecError:
        pass
    clip = read_item(D.paths("fsdd", "test")[0])
    jobs.append(("fsdd " + clip.name, [clip], None, None))
    try:
        jobs.append(("fsdd " + clip.name + " lossy", [clip], default_codec("audio", lossy=True), None))
    except NcodecError:
        pass
    digits, _ = D.arrays("mnist", "test")
    jobs.append(("mnist 100 digits", [Item.from_array(digits[:100], "tensor")], None, None))
    from .codecs.base import available
    if "hclt" in available():
        jobs.append(("mnist 100 digits hclt", [Item.from_array(digits[:100], "tensor")], "hclt", None))
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for label, items, codec, q in jobs:
            try:
                rows.append(_row(label, items, codec, q, Path(tmp)))
            except NcodecError as exc:
                rows.append({"input": label, "codec": codec, "round_trip": f"error: {exc}"})
    print_table(rows, ["input", "codec", "items", "in_bytes", "out_bytes", "rate", "enc_s", "dec_s", "round_trip"])
    print("\nEvery rate above is 8 x (file bytes, header included). Try: .venv/bin/ncodec list")
    return 0


def write_samples(folder: str | Path) -> list[Path]:
    """Write the README walkthrough's inputs into ``folder`` (created): a Kodak photo, an FSDD
    clip, 200 MNIST test digits as an (N, 28, 28) uint8 stack and 8 Bunny frames; existing files
    are left alone. Returns the paths."""
    import shutil
    out = Path(folder)
    (out / "frames").mkdir(parents=True, exist_ok=True)
    copies = [(D.paths("kodak")[22], out / "photo.png"), (D.paths("fsdd", "test")[0], out / "speech.wav")]
    copies += [(f, out / "frames" / f"{i:03d}.png") for i, f in enumerate(sorted(D.paths("bunny"))[:8])]
    made = []
    for src, dst in copies:
        if not dst.exists():
            shutil.copyfile(src, dst)
        made.append(dst)
    digits = out / "digits.npy"
    if not digits.exists():
        np.save(digits, np.ascontiguousarray(D.arrays("mnist", "test")[0][:200]))
    made.append(digits)
    return made


def _cli(argv: list[str] | None = None) -> int:
    import argparse
    p = argparse.ArgumentParser(prog="python -m ncodec.demo", description=__doc__.splitlines()[0])
    p.add_argument("--samples", metavar="DIR", help="write the README walkthrough's sample files into DIR")
    args = p.parse_args(argv)
    if args.samples:
        made = write_samples(args.samples)
        print(f"wrote {len(made)} sample files into {args.samples}: photo.png, speech.wav, digits.npy, frames/")
        return 0
    return main()


if __name__ == "__main__":
    raise SystemExit(_cli())
