# %% [markdown]
# # Video as a neural network: NeRV and the real size of its file
#
# An implicit neural representation (INR) stores a video as the weights of a network that maps
# a frame index to the frame. `nerv` fits such a network to the clip at encode time, prunes and
# quantizes it, and entropy-codes every tensor with the shared layer. The decoder just runs the
# network.
#
# Papers often report an INR's size as "parameters × bits" or as a Huffman code of the kept
# weights. The file also needs the pruning masks, the quantizer scales, the architecture and a
# container header. Here we fit a tiny NeRV to 8 small frames and compare the size of the real
# file with those estimates.
#
# The fit gets a 25-second budget on one CPU thread, so the quality is far below what a long
# GPU fit reaches (`ncodec bench inr_video`). The point here is the bookkeeping, not the
# quality.

# %%
import time

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch

import ncodec
from ncodec._varint import decode_uvarint
from ncodec.eval.metrics import psnr
from ncodec.io import read_item
from ncodec.models.nerv import count_decoder_params
from ncodec import data as D

%matplotlib inline
plt.rcParams.update({"figure.dpi": 72})
torch.set_num_threads(1)

clip = read_item(D.data_root() / "video" / "bunny_320x180").data[:8, ::2, ::2]   # 8 frames, 160x90
T, H, W, _ = clip.shape
video = ncodec.Item.from_array(np.ascontiguousarray(clip), "video", frame_rate=25)
print(f"clip {clip.shape}, raw {clip.nbytes} B")

# %% [markdown]
# ## Fit, compress, decode
#
# Fitting settings are codec options: `options={...}` here, `-O key=value` on the command line
# (`ncodec list nerv` shows them). What the fit measured comes back in `res.info`.

# %%
fit = {"time_budget": 25, "progress": False, "threads": 1, "seed": 0}
t0 = time.perf_counter()
res = ncodec.compress(video, codec="nerv", quality=4, options=fit)
enc_s = time.perf_counter() - t0
report = res.info[0]
decoded = ncodec.decompress(res.data).data
file_bytes = len(res.data)
print(f"nerv q={res.quality}: {file_bytes} B = {8 * file_bytes / (T * H * W):.3f} bpp, "
      f"PSNR {psnr(clip, decoded):.2f} dB; fit {report['fit_steps']} steps in {report['fit_seconds']:.1f} s, "
      f"encode {enc_s:.1f} s")

# %% [markdown]
# ## Where the bytes go
#
# The payload starts with a small header (format version, network kind, architecture and bit
# depths as varints, then the stream length); we split it there and use the ideal code lengths
# the encoder recorded for each part of the rANS stream. What the stream costs beyond them is
# the coder's overhead (final state flush and a 16-bit end marker).

# %%
arc = ncodec.open(res.data)
payload = arc.container.records[0].payload


def split_payload(payload: bytes) -> tuple[int, int]:
    """(header bytes, stream bytes): the stream length is the varint that points exactly at the end."""
    for p in range(2, len(payload)):              # after the format version and network kind bytes
        length, start = decode_uvarint(payload, p)
        if start + length == len(payload):
            return start, length
    raise ValueError("no stream length field found")


pos, stream_len = split_payload(payload)
ideal = report['ideal_by_part']
parts = {
    "container header + checksum": file_bytes - len(payload),
    "architecture + stream length": pos,
    "pruning masks": ideal["mask"] / 8,
    "quantizer scales": ideal["scales"] / 8,
    "weight values": ideal["values"] / 8,
    "coder overhead": stream_len - sum(ideal.values()) / 8,
}
breakdown = pd.DataFrame({"bytes": parts})
breakdown.loc["total (real file)"] = breakdown["bytes"].sum()
assert abs(breakdown.loc["total (real file)", "bytes"] - file_bytes) < 1e-6
breakdown["share %"] = 100 * breakdown["bytes"] / file_bytes
breakdown.round(1)

# %% [markdown]
# And what the usual estimates would have claimed for the same network:

# %%
from ncodec.codecs.nerv import unpack_payload

net_cfg, weights, _, bits = unpack_payload(payload)
params = count_decoder_params(net_cfg)
kept = sum(int(w.mask.sum()) if w.mask is not None else w.q.size for w in weights.values())
estimates = pd.DataFrame([
    {"size claimed by": "parameters x bits", "bytes": params * bits / 8},
    {"size claimed by": "kept (unpruned) weights x bits", "bytes": kept * bits / 8},
    {"size claimed by": "Huffman code of kept weights (NeRV-style)", "bytes": report['nerv_style_estimate_bits'] / 8},
    {"size claimed by": "real .ncz file", "bytes": file_bytes},
]).set_index("size claimed by")
estimates["vs real file"] = [f"{100 * (b / file_bytes - 1):+.0f}%" for b in estimates["bytes"]]
print(f"{params} parameters, {kept} kept after pruning, {bits}-bit weights")
estimates.round(0)

# %% [markdown]
# The pruning masks and the per-channel quantizer scales are part of what the decoder needs, yet
# a Huffman estimate over the kept weights leaves them out; "parameters × bits" ignores both the
# pruning and the entropy coding. Only the file size is the rate.

# %%
fig, ax = plt.subplots(figsize=(8, 2.4))
left = 0.0
for (name, b), color in zip(parts.items(), plt.cm.tab10.colors):
    ax.barh(["real file"], [b], left=left, color=color, label=name); left += b
ax.barh(["NeRV-style estimate"], [report['nerv_style_estimate_bits'] / 8], color="gray")
ax.set_xlabel("bytes"); ax.legend(fontsize=8, loc="center left", bbox_to_anchor=(1, 0.5))
plt.tight_layout()

# %% [markdown]
# ## Frames, next to H.264 at about the same size
#
# We search x264's CRF for the smallest value (best quality) whose file is no larger than the
# NeRV file.

# %%
def x264_at(max_bytes: int) -> tuple[int, bytes]:
    """Lowest CRF whose x264 .ncz file fits in ``max_bytes`` (bisection over CRF 0..51)."""
    lo, hi, best = 0, 51, None
    while lo <= hi:
        crf = (lo + hi) // 2
        data = ncodec.compress(video, codec="x264", quality=crf).data
        if len(data) <= max_bytes:
            best, hi = (crf, data), crf - 1
        else:
            lo = crf + 1
    return best


crf, x264_data = x264_at(file_bytes)
x264_frames = ncodec.decompress(x264_data).data
print(f"x264 crf={crf}: {len(x264_data)} B = {8 * len(x264_data) / (T * H * W):.3f} bpp, "
      f"PSNR {psnr(clip, x264_frames):.2f} dB")
fig, axes = plt.subplots(2, 3, figsize=(7.5, 3.2))
for row, t in zip(axes, (0, T - 1)):
    for ax, (title, frames) in zip(row, [("original", clip), (f"nerv ({file_bytes} B)", decoded),
                                         (f"x264 crf {crf} ({len(x264_data)} B)", x264_frames)]):
        ax.imshow(frames[t]); ax.set_title(f"{title}, frame {t}", fontsize=9); ax.axis("off")
plt.tight_layout()
