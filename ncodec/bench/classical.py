"""``ncodec bench classical``: real-file rates and speed of every lossless classical codec.

Data (test splits of ../shared/data): MNIST and Fashion-MNIST test (10k images each, as one
.ncz file per image and as one archive of 10k records), Kodak (24 images, bpp), FSDD test
(recordings 0-4, bits/sample), and the 132-frame Bunny clip (bpp). Every rate is
8 * len(file bytes), header included; the payload-only rate is shown beside it so the
container's overhead is visible. Writes benchmarks/results/classical.json (+ .png plot).
"""
from __future__ import annotations

import argparse
import time
from fractions import Fraction
from pathlib import Path
from typing import Sequence

import numpy as np

from .. import container
from ..api import compress_items, decompress_bytes
from ..codecs import available, get_codec
from ..codecs._image import psnr
from ..io import read_item
from ..item import Item
from .. import data as D
from ._common import print_table, results_dir, write_results

# Figures measured earlier on this machine (../shared/DESIGN.md, imagecodecs payloads, one run).
ANCHORS = {("kodak", "jpegxl-lossless"): 8.71, ("kodak", "webp-lossless"): 9.57, ("kodak", "png"): 13.37,
           ("mnist", "webp-lossless"): 2.05, ("mnist", "jpegxl-lossless"): 2.08, ("mnist", "png"): 2.63,
           ("fsdd", "flac"): 9.01}
LOSSLESS = {"image": ["png", "webp-lossless", "jpegxl-lossless", "zstd"], "audio": ["flac", "zstd"],
            "video": ["x264-lossless", "png-frames", "zstd"]}
# Slowest presets (cwebp -z 9, cjxl -e 9): cheap enough only on the 28x28 sets.
MAX_EFFORT = {"mnist": [("webp-lossless", 9), ("jpegxl-lossless", 9)],
              "fashion-mnist": [("webp-lossless", 9), ("jpegxl-lossless", 9)]}
LOSSY_VIDEO = {"x264": (18, 23, 28, 33), "x265": (20, 25, 30, 35)}   # CRF, preset medium, yuv444p
LOSSY_KODAK = {"jpeg": (10, 30, 50, 75, 90), "webp": (10, 30, 50, 75, 90), "jpegxl": (10, 30, 50, 75, 90),
               "avif": (20, 35, 50, 65, 80)}


def _units(items: Sequence[Item], media: str) -> tuple[int, str]:
    if media == "image":
        return sum(it.meta.shape[0] * it.meta.shape[1] for it in items), ("bpd" if items[0].data.ndim == 2 else "bpp")
    if media == "video":
        return sum(int(np.prod(it.meta.shape[:3])) for it in items), "bpp"
    return sum(it.meta.numel for it in items), "bits/sample"


def _single_file_bytes(archive: bytes) -> tuple[int, int]:
    """(sum of one-file-per-record sizes, sum of payload sizes) for the records of an archive."""
    c = container.unpack(archive)
    total = 0
    for r in c.records:
        total += len(container.pack(container.Container(c.codec, c.codec_version, c.quality,
                                                        [container.Record(r.payload, r.meta)], model_id=c.model_id)))
    return total, c.payload_bytes


def _frames_as_images(video: Item) -> list[Item]:
    return [Item.from_array(f, "image") for f in video.data]


def bench_lossless(dataset: str, items: list[Item], codec: str, per_file: bool, quality: int | None = None) -> dict:
    """Encode all items into one archive (API path), decode it, and measure rates and speed."""
    name = codec
    if codec == "png-frames":                      # a video as one PNG per frame
        items, codec = [f for v in items for f in _frames_as_images(v)], "png"
    c = get_codec(codec)
    q = c.resolve_quality(quality)
    t0, c0 = time.perf_counter(), time.process_time()
    res = compress_items(items, codec=codec, quality=quality, archive=True, keep_names=False)
    enc_s, enc_cpu = time.perf_counter() - t0, time.process_time() - c0
    t0, c0 = time.perf_counter(), time.process_time()
    decoded = decompress_bytes(res.data)
    dec_s, dec_cpu = time.perf_counter() - t0, time.process_time() - c0
    exact = all(a.same_data(b) for a, b in zip(items, decoded)) and len(decoded) == len(items)
    n, unit = _units(items, items[0].meta.media)
    raw_bytes = sum(it.data.nbytes for it in items)
    row = {"dataset": dataset, "codec": name, "q": q, "items": len(items), "unit": unit,
           "archive_rate": 8 * len(res.data) / n, "archive_bytes": len(res.data)}
    files_bytes, payload_bytes = _single_file_bytes(res.data)
    row["payload_rate"] = 8 * payload_bytes / n
    if per_file:
        row["file_rate"] = 8 * files_bytes / n
        row["files_bytes"] = files_bytes
    # throughput from CPU time (codecs run on one thread): stable on a shared, loaded machine
    row.update({"enc_MBps": raw_bytes / enc_cpu / 1e6, "dec_MBps": raw_bytes / dec_cpu / 1e6,
                "enc_items_per_s": len(items) / enc_cpu, "dec_items_per_s": len(items) / dec_cpu,
                "enc_cpu_s": enc_cpu, "dec_cpu_s": dec_cpu, "enc_wall_s": enc_s, "dec_wall_s": dec_s, "exact": exact,
                "anchor": ANCHORS.get((dataset, name)) if quality is None else None})
    return row


def bench_lossy_kodak(items: list[Item], codec: str, qualities: Sequence[int]) -> list[dict]:
    """Rate (file bytes) and PSNR over Kodak at a few quality levels of a lossy image codec."""
    rows = []
    n = sum(it.meta.shape[0] * it.meta.shape[1] for it in items)
    for q in qualities:
        c0 = time.process_time()
        files = [compress_items([it], codec=codec, quality=q, keep_names=False).data for it in items]
        enc_s = time.process_time() - c0
        c0 = time.process_time()
        dec = [decompress_bytes(f)[0] for f in files]
        dec_s = time.process_time() - c0
        rows.append({"dataset": "kodak", "codec": codec, "q": q, "bpp": 8 * sum(map(len, files)) / n,
                     "psnr": float(np.mean([psnr(a.data, b.data) for a, b in zip(items, dec)])),
                     "enc_cpu_s": enc_s, "dec_cpu_s": dec_s})
    return rows


def bench_lossy_video(video: Item, codec: str, crfs: Sequence[int]) -> list[dict]:
    """Rate (file bytes) and PSNR (over all frames' pixels) of a lossy video codec at a few CRFs."""
    rows = []
    n = int(np.prod(video.meta.shape[:3]))
    for q in crfs:
        c0 = time.process_time()
        data = compress_items([video], codec=codec, quality=q, keep_names=False).data
        enc_s = time.process_time() - c0
        c0 = time.process_time()
        dec = decompress_bytes(data)[0]
        dec_s = time.process_time() - c0
        rows.append({"dataset": video.name, "codec": codec, "q": q, "bpp": 8 * len(data) / n,
                     "psnr": psnr(video.data, dec.data), "enc_cpu_s": enc_s, "dec_cpu_s": dec_s})
    return rows


def load_sets(limit: int | None, which: Sequence[str]) -> dict[str, tuple[list[Item], bool]]:
    """Data set name -> (items, whether one-file-per-item rates are reported)."""
    sets: dict[str, tuple[list[Item], bool]] = {}
    for name in ("mnist", "fashion-mnist"):
        if name in which:
            x, _ = D.arrays(name, "test")
            x = x[:limit] if limit else x
            sets[name] = ([Item.from_array(img, "image") for img in x], True)
    if "kodak" in which:
        paths = D.paths("kodak")[:limit] if limit else D.paths("kodak")
        sets["kodak"] = ([read_item(p) for p in paths], True)
    if "fsdd" in which:
        paths = D.paths("fsdd", "test")[:limit] if limit else D.paths("fsdd", "test")
        sets["fsdd"] = ([read_item(p) for p in paths], True)
    if "bunny" in which:
        folder = D.data_root() / "video" / "bunny_320x180"
        frames = sorted(folder.glob("f*.png"))[: (limit or 132)]
        arr = np.stack([read_item(f).data for f in frames])
        sets["bunny"] = ([Item.from_array(arr, "video", name="bunny_320x180", frame_rate=Fraction(25))], False)
    return sets


def plot(rows: list[dict], path: Path) -> None:
    """Bar chart: payload and file rate of every codec per data set (one panel each)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    sets = list(dict.fromkeys(r["dataset"] for r in rows))
    fig, axes = plt.subplots(1, len(sets), figsize=(3.2 * len(sets), 3.4))
    axes = np.atleast_1d(axes)
    for ax, ds in zip(axes, sets):
        rs = [r for r in rows if r["dataset"] == ds]
        x = np.arange(len(rs))
        ax.bar(x - 0.2, [r["payload_rate"] for r in rs], 0.4, label="payload")
        ax.bar(x + 0.2, [r.get("file_rate", r["archive_rate"]) for r in rs], 0.4, label="file (.ncz)")
        for i, r in enumerate(rs):
            if r.get("anchor"):
                ax.plot([i - 0.4, i + 0.4], [r["anchor"]] * 2, "k--", lw=1)
        ax.set_xticks(x, [r["codec"] for r in rs], rotation=45, ha="right", fontsize=7)
        ax.set_title(f"{ds} ({rs[0]['unit']})", fontsize=9)
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; prints tables and writes benchmarks/results/classical.json."""
    ap = argparse.ArgumentParser(prog="ncodec bench classical", description=__doc__)
    ap.add_argument("--limit", type=int, help="only the first N items of every set (smoke runs)")
    ap.add_argument("--sets", default="mnist,fashion-mnist,kodak,fsdd,bunny")
    ap.add_argument("--max-effort", action="store_true",
                    help="also webp-lossless z9 and jpegxl-lossless e9 on MNIST / Fashion-MNIST (slow presets)")
    ap.add_argument("--lossy", action="store_true", help="also Kodak rate/PSNR points of the lossy image codecs")
    ap.add_argument("--out", default="classical", help="results name (benchmarks/results/NAME.json)")
    ap.add_argument("--no-plot", action="store_true")
    args = ap.parse_args(argv)
    from tqdm import tqdm
    try:
        import torch
        torch.set_num_threads(1)
    except ImportError:
        pass
    sets = load_sets(args.limit, args.sets.split(","))
    have = available()
    jobs = [(ds, c, None) for ds, (items, _) in sets.items() for c in LOSSLESS[items[0].meta.media]
            if c in have or c == "png-frames"]
    if args.max_effort:
        jobs += [(ds, c, q) for ds in sets for c, q in MAX_EFFORT.get(ds, [])]
    rows = []
    for ds, codec, q in tqdm(jobs, desc="lossless", unit="job"):
        items, per_file = sets[ds]
        rows.append(bench_lossless(ds, items, codec, per_file, q))
    cols = ["dataset", "codec", "q", "items", "unit", "file_rate", "archive_rate", "payload_rate", "anchor",
            "enc_MBps", "dec_MBps", "enc_items_per_s", "dec_items_per_s", "exact"]
    print_table(rows, cols, title="Lossless classical codecs (rates: 8 x file bytes / pixels or samples)")
    lossy_rows = []
    if args.lossy and "kodak" in sets:
        for codec, qs in tqdm(LOSSY_KODAK.items(), desc="lossy kodak", unit="codec"):
            lossy_rows += bench_lossy_kodak(sets["kodak"][0], codec, qs)
        print_table(lossy_rows, ["dataset", "codec", "q", "bpp", "psnr", "enc_cpu_s", "dec_cpu_s"],
                    title="Kodak lossy (mean PSNR over images; rate from the sum of file bytes)")
    if args.lossy and "bunny" in sets:
        video_rows = []
        for codec, crfs in tqdm(LOSSY_VIDEO.items(), desc="lossy video", unit="codec"):
            video_rows += bench_lossy_video(sets["bunny"][0][0], codec, crfs)
        print_table(video_rows, ["dataset", "codec", "q", "bpp", "psnr", "enc_cpu_s", "dec_cpu_s"],
                    title="Bunny lossy (q = CRF; PSNR over all frames)")
        lossy_rows += video_rows
    out = write_results(args.out, rows, lossy=lossy_rows, anchors={f"{k[0]}/{k[1]}": v for k, v in ANCHORS.items()},
                        notes="file_rate: one .ncz per item; archive_rate: one .ncz archive of all items; "
                              "payload_rate: codec bytes only; throughput = raw input bytes (items) per CPU second, "
                              "codecs on 1 thread (imagecodecs numthreads=1, x264/x265 threads=1)",
                        limit=args.limit)
    print(f"wrote {out}")
    if not args.no_plot:
        png = results_dir() / f"{args.out}.png"
        plot(rows, png)
        print(f"wrote {png}")
    return 0
