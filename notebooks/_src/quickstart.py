# %% [markdown]
# # ncodec quickstart
#
# ncodec turns an image, an audio clip, a video, a tensor or raw bytes into one `.ncz` file and
# back. Every codec — classical or learned — plugs into the same entropy layer and the same
# container, so the numbers below are always **real file sizes**: `8 * len(file)`, header and
# checksum included.
#
# This notebook uses the Python API (`ncodec.compress`, `ncodec.decompress`, `ncodec.open`) on
# one Kodak image, one spoken-digit recording and a batch of MNIST digits, then does the same
# from the command line. Everything is written to a temporary folder.

# %%
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

import ncodec
from ncodec.codecs.base import available
from ncodec import data as D

%matplotlib inline
plt.rcParams.update({"figure.dpi": 72, "image.interpolation": "nearest"})
work = Path(tempfile.mkdtemp(prefix="ncodec_quickstart_"))
print("ncodec", ncodec.__version__, "| data from", D.data_root())

# %% [markdown]
# ## Which codecs are there?
#
# Codecs register themselves by name; `ncodec list` on the command line prints the same table.

# %%
pd.DataFrame([{"codec": n, "media": c.media, "lossless": c.lossless,
               "quality": f"{c.qualities[0]}..{c.qualities[1]}" if c.qualities else "-",
               "description": c.description} for n, c in available().items()]).set_index("codec")

# %% [markdown]
# ## An image
#
# `ncodec.compress` reads a file (or takes an `ncodec.Item`), picks the default codec for its
# media kind unless you name one, and returns a `CompressResult`; with `output=` it also writes
# the `.ncz` file. Without a `quality` the default codec is lossless.

# %%
src = D.paths("kodak")[22]                       # kodim23.png, 768x512 RGB
res = ncodec.compress(src, output=work / "kodim23.ncz")
image = res.items[0]
h, w = image.meta.shape[:2]
ncz_bytes = (work / "kodim23.ncz").stat().st_size
print(f"{src.name}: {image.meta.shape} {image.meta.dtype}, raw {image.data.nbytes} B, "
      f"source PNG {src.stat().st_size} B")
print(f"codec {res.codec}: file {ncz_bytes} B = {8 * ncz_bytes / (h * w):.3f} bpp "
      f"(real bits, header included), encoded in {res.encode_s:.2f} s")

# %% [markdown]
# `ncodec.decompress` gives the `Item` back (a list of them for an archive). A lossless codec
# must reproduce every bit:

# %%
decoded = ncodec.decompress(work / "kodim23.ncz")
print(type(decoded).__name__, decoded.meta.shape, decoded.meta.dtype)
print("bit-exact:", decoded.same_data(image))
assert decoded.same_data(image)

# %% [markdown]
# Lossy coding trades bits for error. Here we pick a codec by name and a quality level and look
# at the rate, the PSNR and a crop next to the original.

# %%
def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """Peak signal-to-noise ratio of two uint8 arrays in dB."""
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else 10 * np.log10(255.0 ** 2 / mse)


rows, recon = [], []
for codec, q in [("jpeg", 20), ("webp", 30), ("avif", 40)]:
    r = ncodec.compress(src, codec=codec, quality=q)
    out = ncodec.decompress(r.data)                   # bytes work as well as paths
    recon.append(out.data)
    rows.append({"codec": r.codec, "quality": q, "bytes": len(r.data),
                 "bpp": 8 * len(r.data) / (h * w), "PSNR dB": psnr(out.data, image.data)})
pd.DataFrame(rows).round(3)

# %%
crop = (slice(160, 352), slice(280, 536))
fig, axes = plt.subplots(1, 1 + len(recon), figsize=(3.6 * (1 + len(recon)), 3.0))
axes[0].imshow(image.data[crop]); axes[0].set_title(f"original ({8 * ncz_bytes / (h * w):.2f} bpp lossless)", fontsize=9)
for ax, row, rec in zip(axes[1:], rows, recon):
    ax.imshow(rec[crop])
    ax.set_title(f"{row['codec']} q={row['quality']}: {row['bpp']:.3f} bpp, {row['PSNR dB']:.1f} dB", fontsize=9)
for ax in axes:
    ax.axis("off")
plt.tight_layout()

# %% [markdown]
# ## An audio clip
#
# One recording of the Free Spoken Digit Dataset (8 kHz, 16-bit mono). Rates for audio are in
# bits per sample; raw PCM is 16.

# %%
wav = D.paths("fsdd", "test")[0]
res_a = ncodec.compress(wav, output=work / "clip.ncz")
clip = res_a.items[0]
a_bytes = (work / "clip.ncz").stat().st_size
back_a = ncodec.decompress(work / "clip.ncz")
print(f"{wav.name}: {clip.meta.numel} samples at {clip.meta.sample_rate} Hz, WAV file {wav.stat().st_size} B")
print(f"codec {res_a.codec}: {a_bytes} B = {8 * a_bytes / clip.meta.numel:.2f} bits/sample, "
      f"bit-exact: {back_a.same_data(clip)}")
assert back_a.same_data(clip)

# %% [markdown]
# A lossy audio codec at a low bit rate. Opus is a perceptual codec: it keeps what the ear hears,
# not the exact waveform, so its waveform SNR is modest even where it sounds fine.

# %%
r = ncodec.compress(wav, codec="opus", quality=12)   # Opus at 12 kbit/s
lossy_clip = ncodec.decompress(r.data)
x = clip.data.astype(np.float64)
y = lossy_clip.data.astype(np.float64)
snr = 10 * np.log10(np.sum(x ** 2) / np.sum((x - y) ** 2))
print(f"{r.codec} q={r.quality}: {len(r.data)} B = {8 * len(r.data) / clip.meta.numel:.2f} bits/sample, SNR {snr:.1f} dB")
t = np.arange(clip.meta.numel) / clip.meta.sample_rate
fig, ax = plt.subplots(figsize=(10, 2.6))
ax.plot(t, x, lw=0.6, label="original")
ax.plot(t, y, lw=0.6, alpha=0.7, label=f"{r.codec} decoded")
ax.set_xlabel("seconds"); ax.legend(loc="upper right"); plt.tight_layout()

# %% [markdown]
# ## A batch of digits: archives and random access
#
# Several items (here a list of 28x28 images) are stored as an **archive**: one record per image,
# each decodable on its own, with a few bytes of index per record.

# %%
digits, labels = D.arrays("mnist", "test")
batch = digits[:256]
res_d = ncodec.compress([ncodec.Item.from_array(a, "image") for a in batch], output=work / "digits.ncz")
d_bytes = (work / "digits.ncz").stat().st_size
print(f"{len(batch)} digits, codec {res_d.codec}: {d_bytes} B = "
      f"{8 * d_bytes / batch.size:.3f} bits per pixel (bpd), {d_bytes / len(batch):.1f} B per digit")

arc = ncodec.open(work / "digits.ncz")
info = arc.info()
print(f"{len(arc)} records, payload {info['payload_bytes']} B, container overhead "
      f"{info['overhead_bytes']} B ({info['overhead_bytes'] / len(arc):.2f} B per record)")

# %%
one = arc[7]                                  # decodes only record 7
all_back = ncodec.api.stack_items(arc.decode_all())
assert np.array_equal(one.data, batch[7]) and np.array_equal(all_back, batch)
fig, axes = plt.subplots(2, 12, figsize=(10, 2))
for i, ax in enumerate(axes.flat):
    ax.imshow(all_back[i], cmap="gray"); ax.set_title(str(labels[i]), fontsize=8); ax.axis("off")
plt.suptitle("decoded from the archive (bit-exact)", fontsize=10);

# %% [markdown]
# A whole `(N, 28, 28)` uint8 array goes to `hclt` (a probabilistic circuit trained on MNIST) as
# **one stack record**: its images share up to 1024 chained rANS streams, so there is no per-image
# index and no per-image stream flush. `.data` gives the array back; the file says which weights
# made it.

# %%
res_h = ncodec.compress(ncodec.Item.from_array(batch, "tensor"))
back_h = ncodec.decompress(res_h.data)
assert res_h.codec == "hclt" and len(back_h) == 1 and np.array_equal(back_h.data, batch)
print(f"hclt stack: {len(res_h.data)} B = {8 * len(res_h.data) / batch.size:.3f} bpd "
      f"(vs {res_d.codec}, one record per image: {8 * d_bytes / batch.size:.3f}), "
      f"model id {ncodec.open(res_h.data).info()['model_id']}")

# ## The same from the command line
#
# `ncodec compress / info / decompress` are thin wrappers over the same API. The helper below
# runs `python -m ncodec ...` (the `ncodec` script in the virtualenv) and stops on an error.

# %%
shutil.copy(src, work / "kodim23.png")
np.save(work / "digits.npy", batch)


def ncodec_cli(*args: str) -> None:
    """Run the ncodec CLI in the scratch folder, echo the command and its output, fail on error."""
    print("$ ncodec", " ".join(args))
    p = subprocess.run([sys.executable, "-m", "ncodec", *args], cwd=work, capture_output=True, text=True)
    print((p.stdout + p.stderr).rstrip())
    if p.returncode:
        raise RuntimeError(f"ncodec exited with {p.returncode}")


ncodec_cli("compress", "kodim23.png", "-o", "cli_image.ncz", "--verify", "-f")
ncodec_cli("compress", "digits.npy", "-o", "cli_digits.ncz", "--verify", "-f")

# %%
ncodec_cli("info", "cli_digits.ncz")

# %%
ncodec_cli("decompress", "cli_image.ncz", "-o", "roundtrip.png", "-f")
from PIL import Image
assert np.array_equal(np.array(Image.open(work / "roundtrip.png")), image.data)
print("the CLI round trip is bit-exact")

# %%
shutil.rmtree(work)
