# %% [markdown]
# # Coding for machines: task accuracy vs rate
#
# Often the consumer of decoded data is a classifier, not a person. Then the question is not
# "how many dB" but "how many bits until the model starts making mistakes". `ncodec.eval`
# answers it with `run_task_eval`: it codes a task's test set at each quality level (archives of
# real file bytes), classifies the decoded data with a shipped classifier, and reports top-1
# accuracy next to rate and PSNR.
#
# Two tasks, each on a fixed random subset of its test set to stay within about a minute:
# Fashion-MNIST images (JPEG and WebP) and spoken digits from FSDD (Opus and ncodec's learned
# `wavelet` codec).

# %%
import warnings

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch

from ncodec.eval.downstream import lowest_rate_within, run_task_eval, subset
from ncodec.eval.tasks import get_task, load_classifier, predict

%matplotlib inline
plt.rcParams.update({"figure.dpi": 72})
warnings.filterwarnings("ignore", message="IProgress not found")   # tqdm without ipywidgets
torch.set_num_threads(1)
COLS = ["codec", "quality", "rate", "psnr", "accuracy", "acc_drop_pts", "feat_dist"]


def plot_task(rows: list[dict], unit: str, title: str) -> None:
    """Accuracy vs rate, PSNR vs rate and accuracy vs PSNR, one line per codec."""
    df = pd.DataFrame(rows)
    clean = df[df.codec == "original"].accuracy.iloc[0]
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.3))
    for codec, g in df[df.codec != "original"].groupby("codec"):
        g = g.sort_values("rate")
        axes[0].plot(g.rate, 100 * g.accuracy, "o-", ms=4, label=codec)
        axes[1].plot(g.rate, g.psnr, "o-", ms=4, label=codec)
        axes[2].plot(g.psnr, 100 * g.accuracy, "o-", ms=4, label=codec)
    for ax in (axes[0], axes[2]):
        ax.axhline(100 * clean, color="k", lw=0.8, ls="--", label="uncompressed")
        ax.set_ylabel("top-1 accuracy (%)")
    axes[0].set_xlabel(unit); axes[1].set_xlabel(unit); axes[1].set_ylabel("PSNR (dB)")
    axes[2].set_xlabel("PSNR (dB)")
    for ax in axes:
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.suptitle(title)
    plt.tight_layout()

# %% [markdown]
# ## Fashion-MNIST images
#
# Quality levels reach down to where the codecs fall apart, because that is where accuracy moves.

# %%
img_rows = run_task_eval("fashion-mnist", ["jpeg", "webp"], limit=200, workers=1, progress=False,
                         levels={"jpeg": [1, 3, 6, 12, 25, 60], "webp": [1, 3, 6, 15, 40, 80]})
pd.DataFrame(img_rows)[COLS].round(3)

# %%
plot_task(img_rows, "bits per pixel (real file bytes)", "Fashion-MNIST: 200 test images")

# %% [markdown]
# What the classifier sees at the lowest quality of each codec (a red label is a mistake):

# %%
import ncodec

task = get_task("fashion-mnist")
items, labels = task.load("test")
idx = subset(len(items), 200)[:8]
x = np.stack([items[i].data for i in idx])
model = load_classifier(task)
names = ["T-shirt", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag", "boot"]
versions = {"original": x}
for codec, q in [("jpeg", 1), ("webp", 1)]:
    res = ncodec.compress(ncodec.Item.from_array(x, "tensor"), codec=codec, quality=q)
    versions[f"{codec} q={q} ({8 * len(res.data) / x.size:.2f} bpp)"] = ncodec.api.stack_items(ncodec.decompress(res.data))
fig, axes = plt.subplots(len(versions), len(x), figsize=(10, 1.45 * len(versions)))
for row, (title, imgs) in zip(axes, versions.items()):
    pred = predict(model, task, list(imgs))
    for ax, img, p, y in zip(row, imgs, pred, labels[idx]):
        ax.imshow(img, cmap="gray", vmin=0, vmax=255); ax.axis("off")
        ax.set_title(names[p], fontsize=8, color="k" if p == y else "red")
    row[0].text(-4, 14, title, fontsize=8, ha="right", va="center")
plt.tight_layout()

# %% [markdown]
# ## Spoken digits (FSDD, 8 kHz)
#
# Opus is a perceptual codec built for speech: it gives up the exact waveform long before it
# gives up intelligibility. The learned `wavelet` codec is trained on a rate–distortion loss
# over the waveform. The classifier works on log-mel features, which care about what the ear
# hears more than about the waveform.

# %%
audio_rows = run_task_eval("fsdd", ["opus", "wavelet"], limit=60, workers=1, progress=False,
                           levels={"opus": [6, 8, 12, 24], "wavelet": [2, 5, 8, 10]})
pd.DataFrame(audio_rows)[COLS].round(3)

# %%
plot_task(audio_rows, "bits per sample (real file bytes)", "FSDD: 60 test recordings")

# %% [markdown]
# ## Where PSNR and accuracy disagree
#
# For each codec, the lowest rate from which accuracy stays within two points of the
# uncompressed accuracy, and the PSNR there. A PSNR target does not carry over between codecs
# or media: the rate a task needs has to be measured on the task. (The subsets are small: one
# image is 0.5 points here, one recording 1.7 points, so read differences of a point or two as
# noise; `ncodec eval` runs the full test sets.)

# %%
psnr_at = {(r["dataset"], r["codec"], r["quality"]): r.get("psnr") for r in img_rows + audio_rows}
summary = pd.DataFrame(lowest_rate_within(img_rows + audio_rows, tol_pts=2.0))
summary["psnr"] = [psnr_at.get((d, c, q)) for d, c, q in zip(summary.dataset, summary.codec, summary.quality)]
summary[["dataset", "codec", "clean_accuracy", "min_rate", "rate_unit", "quality", "accuracy", "psnr",
         "lowest_rate_swept", "accuracy_at_lowest"]].round(3)
