# %% [markdown]
# # Train your own codec
#
# A learned lossless codec is a probability model plus the shared entropy layer. In this
# notebook we build the smallest useful one for MNIST digits, end to end:
#
# 1. **model** — a table of 256-way logits, one row per *context*: the quantized values of the
#    four already-coded neighbours of a pixel (left, up-left, up, up-right);
# 2. **train** it for a few hundred steps with ncodec's one training loop
#    (`ncodec.train.loop.run_training`: checkpoints, resume, metrics log);
# 3. **save** the weights and register a `Codec` that turns the table into integer PMFs
#    (`ncodec.entropy.quantize_probs`) and codes pixels with `EntropyEncoder`;
# 4. **compress** with it from Python and from the `ncodec` command line.
#
# Everything is written to a temporary folder; nothing touches the shipped weights.

# %%
import io
import os
import subprocess
import sys
import tempfile
import time
import warnings
from contextlib import redirect_stderr
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch

import ncodec
from ncodec import data as D
from ncodec.train.loop import TrainConfig, gradient_step, run_training

%matplotlib inline
plt.rcParams.update({"figure.dpi": 72})
warnings.filterwarnings("ignore", message="IProgress not found")   # tqdm without ipywidgets
torch.set_num_threads(1)
work = Path(tempfile.mkdtemp(prefix="ncodec_train_"))
x_train, _ = D.arrays("mnist", "train")
x_test, _ = D.arrays("mnist", "test")
x_train, x_test = x_train[:20000], x_test[:100]
print("train", x_train.shape, "test", x_test.shape, "| scratch:", work)

# %% [markdown]
# ## 1. The model: contexts from causal neighbours
#
# The decoder rebuilds the image in raster order, so a pixel's probability may only depend on
# pixels before it. We quantize each of the four causal neighbours into 6 levels, which gives
# 6⁴ = 1296 contexts, and learn one 256-way distribution per context (332k parameters).
# The context function goes into a small module file, because the codec will need it too.

# %%
codec_file = work / "tinyctx.py"

# %%
%%writefile $codec_file
"""tinyctx: lossless 28x28 digits with a learned context table (a notebook example codec)."""
from pathlib import Path

import numpy as np

from ncodec.codecs import Codec, register, short_hash
from ncodec.codecs.base import Encoded
from ncodec.entropy import EntropyDecoder, EntropyEncoder, quantize_probs
from ncodec.errors import CodecError, UnsupportedInputError
from ncodec.item import Item, ItemMeta

EDGES = np.array([1, 32, 96, 160, 224])        # 6 levels per neighbour
LEVELS = len(EDGES) + 1
N_CTX = LEVELS ** 4


def level(v):
    """Quantize pixel values to LEVELS bins."""
    return np.searchsorted(EDGES, v, side="right")


def contexts(x: np.ndarray) -> np.ndarray:
    """(N, 28, 28) uint8 -> (N, 28, 28) context ids from the left, up-left, up, up-right neighbours."""
    p = np.pad(level(x), ((0, 0), (1, 0), (1, 1)))          # zero (= level 0) outside the image
    w, nw, n, ne = p[:, 1:, :-2], p[:, :-1, :-2], p[:, :-1, 1:-1], p[:, :-1, 2:]
    return ((w * LEVELS + nw) * LEVELS + n) * LEVELS + ne


def pixel_context(img: np.ndarray, i: int, j: int) -> int:
    """Context id of pixel (i, j) from the pixels already decoded in ``img``."""
    def at(a, b):
        return int(level(img[a, b])) if 0 <= a and 0 <= b < img.shape[1] else 0
    return ((at(i, j - 1) * LEVELS + at(i - 1, j - 1)) * LEVELS + at(i - 1, j)) * LEVELS + at(i - 1, j + 1)


@register
class TinyCtx(Codec):
    name = "tinyctx"
    media = "image"
    lossless = True
    description = "example: learned context table, lossless 28x28 gray (weights: tinyctx.npz beside this file)"

    def _weights(self) -> Path:
        return Path(__file__).with_name("tinyctx.npz")

    def _tables(self) -> np.ndarray:
        """Integer PMF table (N_CTX, 256), the same for encoder and decoder."""
        path = self._weights()
        if getattr(self, "_cache", (None,))[0] != path.stat().st_mtime_ns:
            logits = np.load(path)["logits"].astype(np.float64)
            probs = np.exp(logits - logits.max(axis=1, keepdims=True))
            self._cache = (path.stat().st_mtime_ns, quantize_probs(probs))
        return self._cache[1]

    def model_id(self, quality: int) -> bytes:
        return short_hash(self._weights().read_bytes())

    def check(self, item: Item) -> None:
        Codec.check(self, item)
        if item.data.shape not in ((28, 28), (28, 28, 1)) or item.data.dtype != np.uint8:
            raise UnsupportedInputError("tinyctx: needs 28x28 uint8 grayscale images")

    def encode(self, item: Item, quality: int, options) -> Encoded:
        x = item.data.reshape(1, 28, 28)
        enc = EntropyEncoder()
        enc.encode(x.reshape(-1), self._tables()[contexts(x).reshape(-1)])
        return Encoded(enc.finish(), enc.ideal_bits)     # payload and its ideal bits, together

    def decode(self, payload: bytes, meta: ItemMeta, quality: int) -> Item:
        tables = self._tables()
        dec = EntropyDecoder(payload)
        img = np.zeros((28, 28), dtype=np.uint8)
        for i in range(28):
            for j in range(28):
                img[i, j] = dec.decode(tables[pixel_context(img, i, j)][None])[0]
        return Item(img.reshape(meta.shape), meta)

# %%
sys.path.insert(0, str(work))
import tinyctx

ctx_train = torch.from_numpy(tinyctx.contexts(x_train).reshape(len(x_train), -1))
pix_train = torch.from_numpy(x_train.reshape(len(x_train), -1).astype(np.int64))
print("contexts:", tinyctx.N_CTX, "| distinct contexts seen in training:", len(torch.unique(ctx_train)))

# %% [markdown]
# ## 2. Train it with the shared loop
#
# `run_training` calls our `step_fn(step)` until `cfg.steps`, logs metrics to
# `metrics.jsonl`, and checkpoints `state_fn()` so a run can stop and resume. The loss is the
# code length itself: cross-entropy in bits per pixel on a random batch of 128 digits.

# %%
class ContextTable(torch.nn.Module):
    """One row of 256 logits per context."""

    def __init__(self) -> None:
        super().__init__()
        self.logits = torch.nn.Parameter(torch.zeros(tinyctx.N_CTX, 256))

    def forward(self, ctx: torch.Tensor, pix: torch.Tensor) -> torch.Tensor:
        """log P(pixel | context) of each (context, pixel) pair."""
        return torch.log_softmax(self.logits, dim=-1)[ctx, pix]


model = ContextTable()
opt = torch.optim.Adam(model.parameters(), lr=0.2)
gen = torch.Generator().manual_seed(0)


def step_fn(step: int) -> dict:
    idx = torch.randint(0, len(pix_train), (128,), generator=gen)

    def loss_fn():
        logp = model(ctx_train[idx], pix_train[idx])
        bpd = -logp.mean() / np.log(2.0)
        return bpd, {"bpd": bpd.detach()}

    return gradient_step(model, opt, loss_fn)


def state_fn() -> dict:
    return {"model": model.state_dict(), "opt": opt.state_dict()}


def load_state_fn(state: dict) -> None:
    model.load_state_dict(state["model"])
    opt.load_state_dict(state["opt"])


def train(cfg: TrainConfig) -> dict:
    """run_training without its terminal progress bar (the metrics log has the same numbers)."""
    with redirect_stderr(io.StringIO()):
        return run_training(cfg, step_fn, state_fn, load_state_fn, desc="tinyctx")


cfg = TrainConfig(steps=300, ckpt_dir=str(work / "run"), ckpt_every=100, log_every=10, threads=1)
summary = train(cfg)
print({k: summary[k] for k in ("steps_done", "start_step", "finished")}, f"{summary['seconds']:.1f} s")

# %% [markdown]
# Stopping and resuming is the normal case on a shared machine: asking the same run for more
# steps continues from its checkpoint (`start_step` below) instead of starting over.

# %%
cfg.steps = 600
summary = train(cfg)
print({k: summary[k] for k in ("steps_done", "start_step", "finished")}, f"{summary['seconds']:.1f} s")
log = pd.read_json(work / "run" / "metrics.jsonl", lines=True)
ax = log.plot(x="step", y="bpd", figsize=(6, 2.6), legend=False, title="training loss (bits per pixel)")
ax.set_ylabel("bpd"); ax.grid(alpha=0.3)

# %% [markdown]
# ## 3. Save the weights and use the codec
#
# The codec reads its weights from `tinyctx.npz` beside its module; every file it writes stores
# the first 8 bytes of that file's sha256, so a file made with other weights is refused instead
# of being decoded into garbage.

# %%
weights = work / "tinyctx.npz"
np.savez(weights, logits=model.logits.detach().numpy())
print(f"weights: {weights.stat().st_size / 1024:.0f} KiB")

stack = ncodec.Item.from_array(x_test, "tensor")
rows = []
for codec in ["png", "webp-lossless", "tinyctx"]:
    ncodec.compress(ncodec.Item.from_array(x_test[:1], "tensor"), codec=codec)   # warm-up (imports, tables)
    t0 = time.perf_counter()
    res = ncodec.compress(stack, codec=codec, output=work / f"digits_{codec}.ncz")
    t1 = time.perf_counter()
    back = ncodec.api.stack_items(ncodec.decompress(work / f"digits_{codec}.ncz"))
    t2 = time.perf_counter()
    assert np.array_equal(back, x_test)
    rows.append({"codec": codec, "file bytes": len(res.data), "bpd (real file)": 8 * len(res.data) / x_test.size,
                 "bpd (ideal)": res.ideal_bits / x_test.size if res.ideal_bits else None,
                 "encode s": t1 - t0, "decode s": t2 - t1})
pd.DataFrame(rows).set_index("codec").round(3)

# %% [markdown]
# The gap between the real and the ideal rate is what the container (header, per-record index)
# and the coder cost; everything else is the model. Seconds of training on four neighbours
# already leave PNG and WebP far behind: digits are mostly black background and a few grey
# levels along the strokes, exactly what a context model captures. The decoder is slow because
# it decodes pixel by pixel in Python; the shipped codecs batch this work. Compare with the
# shipped learned codecs in `lossless.ipynb`.
#
# ## 4. From the command line
#
# The `ncodec` CLI finds codecs in the `ncodec.codecs` package. A codec that lives elsewhere
# only has to be imported before the CLI runs, so we start the same entry point with our module
# imported first:

# %%
np.save(work / "digits.npy", x_test)
env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(work), os.environ.get("PYTHONPATH", "")]))
launcher = "import sys, tinyctx; from ncodec.cli.main import main; sys.exit(main())"


def ncodec_cli(*args: str) -> None:
    """Run `ncodec ARGS` with tinyctx registered; echo the output and fail on a non-zero exit."""
    print("$ ncodec", " ".join(args))
    p = subprocess.run([sys.executable, "-c", launcher, *args], cwd=work, env=env, capture_output=True, text=True)
    print((p.stdout + p.stderr).rstrip())
    if p.returncode:
        raise RuntimeError(f"ncodec exited with {p.returncode}")


ncodec_cli("compress", "digits.npy", "-c", "tinyctx", "-o", "cli.ncz", "--verify", "-f")
ncodec_cli("decompress", "cli.ncz", "-o", "roundtrip.npy", "-f")
assert np.array_equal(np.load(work / "roundtrip.npy"), x_test)

# %% [markdown]
# Retrain the model (here: 100 more steps) and the old file no longer matches the weights:

# %%
cfg.steps = 700
train(cfg)
np.savez(weights, logits=model.logits.detach().numpy())
try:
    ncodec.decompress(work / "cli.ncz")
except ncodec.errors.ModelMismatchError as exc:
    print("refused:", exc)
else:
    raise AssertionError("a file made with other weights was decoded")

# %%
import shutil
shutil.rmtree(work)
