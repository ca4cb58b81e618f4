# %% [markdown]
# # Lossless digits: circuits and flows against classical image codecs
#
# Learned lossless codecs code each pixel with the probability a model gives it; the better the
# model predicts, the fewer bits. Two learned codecs ship with weights for MNIST (quality 1) and
# Fashion-MNIST (quality 2):
#
# * `hclt` — a Hidden Chow-Liu Tree probabilistic circuit. It computes exact conditional
#   probabilities pixel by pixel, which the shared rANS layer turns into bits.
# * `flow` — an integer discrete flow: an invertible integer transform maps the image to latents
#   that a learned prior codes stage by stage.
#
# We code 100 test images of each data set as an archive (one independently decodable record per
# image) and compare with PNG, WebP lossless and JPEG XL lossless. Rates are **bits per
# dimension (bpd) from the real file**: `8 * len(file) / pixels`, container header and per-record
# index included.

# %%
import time

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch

import ncodec
from ncodec import data as D

%matplotlib inline
plt.rcParams.update({"figure.dpi": 72})
torch.set_num_threads(1)

N = 100
data = {name: D.arrays(name, "test")[0][:N] for name in ("mnist", "fashion-mnist")}
fig, axes = plt.subplots(2, 10, figsize=(8, 1.8))
for row, (name, x) in zip(axes, data.items()):
    for ax, img in zip(row, x):
        ax.imshow(img, cmap="gray"); ax.axis("off")
    row[0].set_title(name, fontsize=9, loc="left")

# %% [markdown]
# ## Rates and speed
#
# Every codec round-trips the whole batch through the file format; we check that decoding gives
# back every pixel. `ideal` is the model's own −log2 P (for codecs that have one): the gap to
# the real rate is what the entropy coder and the container cost.

# %%
CODECS = {  # name: quality per data set (None = the codec's default)
    "png": {"mnist": None, "fashion-mnist": None},
    "webp-lossless": {"mnist": 9, "fashion-mnist": 9},
    "jpegxl-lossless": {"mnist": 9, "fashion-mnist": 9},
    "hclt": {"mnist": 1, "fashion-mnist": 2},
    "flow": {"mnist": 1, "fashion-mnist": 2},
}
rows = []
for dset, x in data.items():
    stack = ncodec.Item.from_array(x, "tensor")
    for codec, qs in CODECS.items():
        ncodec.compress(ncodec.Item.from_array(x[:1], "tensor"), codec=codec, quality=qs[dset])  # warm-up: load weights
        t0 = time.perf_counter()
        res = ncodec.compress(stack, codec=codec, quality=qs[dset])
        t1 = time.perf_counter()
        back = ncodec.api.stack_items(ncodec.decompress(res.data))
        t2 = time.perf_counter()
        assert np.array_equal(back, x), f"{codec} is not lossless here!"
        rows.append({"data": dset, "codec": codec, "quality": res.quality, "file bytes": len(res.data),
                     "bpd (real file)": 8 * len(res.data) / x.size,
                     "bpd (ideal)": res.ideal_bits / x.size if res.ideal_bits else None,
                     "encode img/s": N / (t1 - t0), "decode img/s": N / (t2 - t1)})
table = pd.DataFrame(rows).set_index(["data", "codec"])
table.round(3)

# %%
fig, axes = plt.subplots(1, 2, figsize=(10, 3))
for ax, dset in zip(axes, data):
    t = table.loc[dset]
    ax.barh(t.index, t["bpd (real file)"], color=["tab:red" if c in ("hclt", "flow") else "tab:gray" for c in t.index])
    for i, v in enumerate(t["bpd (real file)"]):
        ax.text(v, i, f" {v:.2f}", va="center", fontsize=9)
    ax.set_title(f"{dset}: bits per dimension (lower is better)", fontsize=10)
    ax.set_xlim(0, 1.2 * t["bpd (real file)"].max())
plt.tight_layout()

# %% [markdown]
# ## What the model finds hard
#
# The circuit codes every pixel as two 16-ary symbols (high nibble, then low nibble) with exact
# conditionals in a fixed tree order (the flow codes latents, not pixels, so it has no such map).
# The integer frequency the coder used for each symbol gives that symbol's code length,
# −log2(freq / 2^precision), so we can paint the bits each pixel cost.
# These are the tables the real payload was coded with, so per image they add up to the
# payload size (up to the few bytes the rANS state flush costs).

# %%
from ncodec.codecs.hclt import CODE_PREC, WEIGHTS, coded_freqs, coding_tables


def pixel_bits(x: np.ndarray, quality: int) -> np.ndarray:
    """(N, 28, 28) code length in bits of every pixel under the hclt coding tables."""
    tables = coding_tables(WEIGHTS[quality])
    freq, _ = coded_freqs(tables, x.reshape(len(x), -1))
    step_bits = CODE_PREC - np.log2(freq)                       # (N, 2*784), coding order
    per_pixel = np.zeros((len(x), 784))
    per_pixel[:, tables.order] = step_bits[:, 0::2] + step_bits[:, 1::2]
    return per_pixel.reshape(-1, 28, 28)


bits = {"mnist": pixel_bits(data["mnist"], 1), "fashion-mnist": pixel_bits(data["fashion-mnist"], 2)}
arc = ncodec.open(ncodec.compress(ncodec.Item.from_array(data["mnist"][:1], "tensor"), codec="hclt").data)
payload_bytes = len(arc.container.records[0].payload)
print(f"digit 0: per-pixel bits sum to {bits['mnist'][0].sum() / 8:.1f} B; its coded payload is {payload_bytes} B")
assert abs(bits["mnist"][0].sum() / 8 - payload_bytes) < 16, "the map does not describe the real payload"

# %%
fig, axes = plt.subplots(2, 7, figsize=(12, 3.8))
for row, dset in zip(axes, data):
    vmax = np.percentile(bits[dset][:3], 99)
    im = row[0].imshow(bits[dset].mean(0), cmap="magma")
    row[0].set_title(f"{dset}\nmean bits/pixel", fontsize=9)
    plt.colorbar(im, ax=row[0], fraction=0.046)
    for j, ax in enumerate(row[1:]):
        i = j // 2
        if j % 2 == 0:
            ax.imshow(data[dset][i], cmap="gray"); ax.set_title("image", fontsize=9)
        else:
            ax.imshow(bits[dset][i], cmap="magma", vmin=0, vmax=vmax)
            ax.set_title(f"{bits[dset][i].sum() / 784:.2f} bpd", fontsize=9)
for ax in axes.flat:
    ax.axis("off")
plt.tight_layout()

# %% [markdown]
# For digits the bits go to the **edges of strokes**: the background is almost free (the model is
# sure it is black), the inside of a stroke is cheap, and the anti-aliased border, where the
# exact grey level is hard to predict, costs most. Garments have textured insides as well as
# edges, so Fashion-MNIST costs more than twice as many bits per image.
