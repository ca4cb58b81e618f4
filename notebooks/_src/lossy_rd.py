# %% [markdown]
# # Rate–distortion on Kodak with `ncodec.eval`
#
# A rate–distortion (R-D) sweep codes every test image at several quality levels of each codec,
# **through the real file format** (compress → `.ncz` bytes → decompress), and records the rate
# from the file size (header included) and the distortion of the decoded image. From the curves
# we compute BD-rate (the average rate difference at equal quality) and look at crops coded at
# the same rate.
#
# The codecs: four classical ones and `wavelet`, ncodec's learned codec (a wavelet-packet
# autoencoder with a hyperprior, WaLLoC-style), with the weights that ship today.
#
# To keep this notebook to about a minute on two CPU cores it uses three Kodak images, each
# centre-cropped to 256×256. The full-size benchmark is `ncodec bench` / `ncodec eval`.

# %%
import time
import warnings

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch

import ncodec
from ncodec.eval.bd import bd_table
from ncodec.eval.metrics import psnr
from ncodec.eval.sweep import aggregate, codec_levels, curves, load_dataset, run_sweep
from ncodec.item import Item

%matplotlib inline
plt.rcParams.update({"figure.dpi": 72})
torch.set_num_threads(1)
warnings.filterwarnings("ignore", message="IProgress not found")   # tqdm without ipywidgets

CODECS = ["jpeg", "webp", "avif", "jpegxl", "wavelet"]
kodak = load_dataset("kodak")
picked = [kodak[i] for i in (3, 14, 22)]       # kodim04, kodim15, kodim23


def centre_crop(item: Item, size: int = 256) -> Item:
    """A size×size centre crop as a new image item (same name)."""
    h, w = item.data.shape[:2]
    t, l = (h - size) // 2, (w - size) // 2
    return Item.from_array(item.data[t:t + size, l:l + size].copy(), "image", name=item.name)


items = [centre_crop(it) for it in picked]
fig, axes = plt.subplots(1, len(items), figsize=(9, 3))
for ax, it in zip(axes, items):
    ax.imshow(it.data); ax.set_title(it.name); ax.axis("off")

# %% [markdown]
# ## The sweep
#
# `run_sweep` returns one row per image × codec × quality level. Each codec's quality knob means
# something different, so `codec_levels` picks levels spread over its useful range.

# %%
levels = {c: codec_levels(c) for c in CODECS}
print(levels)
t0 = time.perf_counter()
rows = run_sweep(items, CODECS, levels=levels, dataset="kodak-crops", workers=1, progress=False)
print(f"{len(rows)} encodes + decodes in {time.perf_counter() - t0:.1f} s, "
      f"errors: {sum(bool(r.get('error')) for r in rows)}")
pd.DataFrame(rows)[["item", "codec", "quality", "bits", "rate", "psnr", "ms_ssim", "enc_s"]].head(8).round(4)

# %% [markdown]
# `aggregate` turns rows into one point per codec and level: rate = total bits / total pixels,
# PSNR and MS-SSIM averaged over the images.

# %%
points = aggregate(rows)
pts = pd.DataFrame(points)[["codec", "quality", "rate", "psnr", "ms_ssim", "enc_ms", "dec_ms"]]
pts.round(3)

# %%
fig, axes = plt.subplots(1, 2, figsize=(11, 4))
for metric, ax in zip(["psnr", "ms_ssim"], axes):
    for codec, (r, q) in curves(points, metric).items():
        ax.plot(r, q, "o-", label=codec, ms=4)
    ax.set_xlabel("bits per pixel (real file bytes)")
    ax.set_ylabel({"psnr": "PSNR (dB)", "ms_ssim": "MS-SSIM"}[metric])
    ax.grid(alpha=0.3)
axes[0].legend()
fig.suptitle("R-D on 3 Kodak crops (256x256)")
plt.tight_layout()

# %% [markdown]
# ## BD-rate
#
# BD-rate against WebP: negative numbers mean fewer bits than WebP for the same quality
# (averaged over the overlapping quality range of the two curves).

# %%
table = []
for metric in ("psnr", "ms_ssim"):
    for row in bd_table(curves(points, metric), anchor="webp"):
        table.append({"codec": row["codec"], "metric": metric, "BD-rate vs webp (%)": row["bd_rate_pct"]})
pd.DataFrame(table).pivot(index="codec", columns="metric", values="BD-rate vs webp (%)").round(1)

# %% [markdown]
# ## What the artefacts look like at the same rate
#
# For each codec we search its quality knob for the highest level whose file stays within a
# target rate on one image (or take its lowest level when even that is above the target — the
# title says the rate it really got), then show the same zoomed region of every decoded image.

# %%
def at_rate(item: Item, codec: str, target_bpp: float) -> tuple[int, bytes]:
    """Highest quality level whose real file is at most ``target_bpp`` (bisection over the knob);
    the lowest level when none is that small."""
    lo, hi = ncodec.codecs.get_codec(codec).qualities
    best = None
    lowest = (lo, ncodec.compress_items([item], codec=codec, quality=lo, archive=False).data)
    while lo <= hi:
        q = (lo + hi) // 2
        data = ncodec.compress_items([item], codec=codec, quality=q, archive=False).data
        if 8 * len(data) / (item.data.shape[0] * item.data.shape[1]) <= target_bpp:
            best, lo = (q, data), q + 1
        else:
            hi = q - 1
    return best or lowest


TARGET = 0.3
img = items[1]                                 # kodim15: the painted eye
zoom = (slice(0, 128), slice(60, 188))
fig, axes = plt.subplots(1, 1 + len(CODECS), figsize=(2.6 * (1 + len(CODECS)), 3))
axes[0].imshow(img.data[zoom]); axes[0].set_title("original", fontsize=9)
for ax, codec in zip(axes[1:], CODECS):
    q, data = at_rate(img, codec, TARGET)
    dec = ncodec.decompress(data).data
    bpp = 8 * len(data) / (img.data.shape[0] * img.data.shape[1])
    ax.imshow(dec[zoom])
    ax.set_title(f"{codec} q={q}\n{bpp:.3f} bpp, {psnr(img.data, dec):.1f} dB", fontsize=9)
for ax in axes:
    ax.axis("off")
plt.tight_layout()

# %% [markdown]
# ## `inr`: a decoder fitted to one image
#
# `inr` (Cool-chic / C3 family) has no trained weights at all: encoding *fits* a tiny decoder
# (multi-resolution latent grids, an auto-regressive context model that predicts each latent's
# distribution, learned upsampling, a few-layer synthesis) to the one image for MSE + λ·rate,
# then quantizes the network and codes it with the latents: every byte is in the file. Quality
# is bought with encode time: `-O effort=fast|default|max` (400 / 2000 / 5000 iterations,
# about 0.05 CPU-s each per 256×256 pixels) or `-O iterations=N`. Decoding is exact fixed-point
# arithmetic, so a file decodes to the same pixels on every machine.
#
# To stay quick, this cell fits a 128×128 crop with `effort=fast` at three levels and puts it
# beside WebP and AVIF on the same crop; the full 256×256 benchmark (default effort, BD-rates,
# quality vs encode time) is `benchmarks/inr_image.py`, reported in `docs/results/inr.md`.

# %%
small = centre_crop(items[2], 128)             # kodim23
inr_pts = []
for q in (2, 4, 6):
    t0 = time.process_time()
    data = ncodec.compress_items([small], codec="inr", quality=q,
                                 options={"effort": "fast", "threads": 1, "progress": False}).data
    enc_s = time.process_time() - t0
    t0 = time.process_time()
    dec = ncodec.decompress(data).data
    dec_s = time.process_time() - t0
    inr_pts.append({"codec": "inr", "quality": q, "rate": 8 * len(data) / 128 ** 2,
                    "psnr": psnr(small.data, dec), "enc_cpu_s": enc_s, "dec_cpu_s": dec_s})
ref = aggregate(run_sweep([small], ["webp", "avif"], levels={c: codec_levels(c) for c in ("webp", "avif")},
                          dataset="kodak-crop-128", workers=1, progress=False))
fig, ax = plt.subplots(figsize=(6, 4))
for codec, (r, q) in curves(ref, "psnr").items():
    ax.plot(r, q, "o-", label=codec, ms=4)
ax.plot([p["rate"] for p in inr_pts], [p["psnr"] for p in inr_pts], "s-", color="C3", label="inr (effort=fast)")
ax.set(xlabel="bits per pixel (real file bytes)", ylabel="PSNR (dB)", title="kodim23, 128x128 crop")
ax.grid(alpha=0.3); ax.legend()
pd.DataFrame(inr_pts).round(3)
