"""Trainer ``wavelet``: closed-form start (wavelet packet + PCA), then variable-rate R-D fine-tuning.

``ncodec train wavelet --media image --data bsds500`` (BSDS500 train+val crops) or
``--media audio --data fsdd`` (FSDD train split). Each step draws a quality level per sample,
so one model learns every rung of the lambda ladder. The shared loop owns budgets, the LR
schedule (200 warmup steps, cosine to 5% of --lr over the run's progress), checkpoints and the
device; ``--export`` writes the weights (computed on CPU) once the run is finished.

Fine-tuning (``--init-from NAME|PATH``): start from existing wavelet weights (e.g. the shipped
``wavelet_audio``) instead of the closed-form start, keeping their architecture and quality ladder
(no extra low levels are added at export unless ``--extra-low-levels`` says so, so the codec's
q1-q10 keep meaning the same lambdas). The default run name is ``wavelet_<media>_ft``.

Machine-perceptual audio loss (``--feature-loss W``, audio only; issue 14 item 5). The batches become
whole FSDD train clips the way codec version 2 and the ``fsdd`` task see them: each clip scaled by
the codec's gain ``2**(e/8)`` (``gain_exponent``: about -20 dBFS RMS, peak <= 1) and centred in the
classifier's 1-s window (``fix_length``, 8000 samples; zero padded, or the middle cropped). The model
codes the window (replicate-padded to its block size like the codec); the reconstruction, cut to the
clip (the padding stays exact zeros, as when the task pads a decoded clip) and scaled back by the
inverse gain (what the decoder hands out), goes through the shipped FSDD classifier's own
differentiable front end (STFT -> log-mel -> per-utterance mean normalisation, ``LogMelNet.prepare``).
The classifier is a frozen copy (eval mode: BatchNorm running statistics, no dropout;
``requires_grad`` False), kept outside the model, so it is neither trained, checkpointed nor exported.

The feature distance F per clip comes from one classifier pass on each side (the clean side without
gradients), activations and logits alike, so both parts cost one pass:

* ``feat``: the deep-feature distance ``ncodec eval task`` reports (``feature_distance_from``:
  channel-normalised activations of each conv block, squared difference averaged over
  time-frequency positions, summed over the 4 blocks) -- a dense signal at every level;
* ``kl``: KL(softmax(clean logits) || softmax(reconstruction logits)) in nats -- what the decision
  itself needs, zero once the recogniser answers the same with the same confidence.

F = feat + kl joins the distortion: the loss per clip is ``lambda_q * (dist_scale * MSE + W * F) +
rate``, so W is in the units of ``dist_scale * MSE`` and every level keeps its own rate balance
(a plain ``W * F`` would dominate the low-lambda levels and flatten the ladder). MSE and rate are
per sample of the clip. Scale: on the shipped model at q5, F is about 2.2 (feat 1.7 + kl 0.5) and
``dist_scale * MSE`` about 0.06, so W = 0.03 makes the two distortion parts about equal. A 300-CPU-s
pilot with W = 0.03 is reported in docs/results/wavelet.md. ``--clip-batches`` uses these clip
batches without the feature term (the control run: how much comes from training on gain-normalised
clips alone).
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch

from ..models.wavelet import WaveletAE, WaveletConfig, build
from .. import data as D
from .export import add_export_args, export_name, command_line, export_dir, to_cpu, write_entry
from .loop import Loop, add_common_args, config_from_args, gradient_step
from .registry import register_trainer

IMAGE_LAMBDAS = [0.0009, 0.0018, 0.0035, 0.0067, 0.013, 0.025, 0.05, 0.1]
AUDIO_LAMBDAS = [0.5, 1.5, 4.0, 12.0, 35.0, 100.0, 300.0, 1000.0]
LOOP_DEFAULTS = dict(steps=20000, lr=3e-4, warmup=200, schedule="cosine", lr_floor=0.05)
FEATURE_TASK = "fsdd"      # the downstream task whose shipped classifier the feature loss uses
AUX_LR = 1e-3      # the entropy bottleneck's tail quantiles: own optimizer, constant LR (not scheduled)


def default_config(media: str) -> WaveletConfig:
    """The architecture shipped for ``media``."""
    if media == "image":
        return WaveletConfig(dims=2, in_ch=3, levels=3, vanishing=2, hidden=32, hyper=48, z_ch=32,
                             lambdas=list(IMAGE_LAMBDAS), dist_scale=255.0 ** 2, offset=0.5)
    # audio: waveform in [-1, 1]; distortion measured relative to a -20 dBFS reference power
    return WaveletConfig(dims=1, in_ch=1, levels=5, vanishing=4, hidden=48, hyper=48, z_ch=16,
                         lambdas=list(AUDIO_LAMBDAS), dist_scale=100.0, offset=0.0)


# ------------------------------------------------------------------ data
def load_images(split_names=("train", "val")) -> list[np.ndarray]:
    """BSDS500 images as uint8 (H, W, 3) arrays."""
    from PIL import Image
    out = []
    for split in split_names:
        for p in D.paths("bsds500", split):
            with Image.open(p) as im:
                out.append(np.array(im.convert("RGB")))
    return out


def load_audio(split: str = "train") -> np.ndarray:
    """All FSDD clips of a split concatenated into one float32 waveform in [-1, 1]."""
    import soundfile as sf
    parts = [sf.read(p, dtype="float32")[0] for p in D.paths("fsdd", split)]
    return np.concatenate(parts).astype(np.float32)


def load_clips(split: str = "train", limit: int | None = None, window: int | None = None
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """FSDD clips as the codec (version 2) and the ``fsdd`` task see them: ``(windows, inv_gains, spans)``,
    windows (N, window) float32 = each clip times its codec gain ``2**(e/8)``, centred in the
    classifier's window (default 8000 samples; ``fix_length``); ``inv_gains`` (N,) the factors that undo
    the gain; ``spans`` (N, 2) int the [start, end) of the clip inside its window (the rest is the
    zero padding the task adds after decoding). ``limit``: that many clips, evenly spaced (smoke tests)."""
    import soundfile as sf

    from ..codecs._wavelet_engine import gain_exponent
    from ..eval.tasks import FSDD_LEN
    from ..models.classifiers import fix_length
    window = window or FSDD_LEN
    paths = D.paths("fsdd", split)
    if limit:
        paths = [paths[i] for i in np.linspace(0, len(paths) - 1, min(limit, len(paths))).round().astype(int)]
    wins, inv, spans = [], [], []
    for p in paths:
        a = sf.read(p, dtype="float32")[0]
        a = a.mean(axis=1) if a.ndim > 1 else a
        e = gain_exponent(torch.from_numpy(a))
        wins.append(fix_length(a * np.float32(2.0 ** (e / 8)), window))
        inv.append(2.0 ** (-e / 8))
        s = max((window - len(a)) // 2, 0)
        spans.append((s, s + min(len(a), window)))
    return np.stack(wins).astype(np.float32), np.asarray(inv, dtype=np.float32), np.asarray(spans, dtype=np.int64)


class ClipSampler:
    """Random batches of whole clips (from ``load_clips``) on ``device``:
    (x (B, 1, W), inv_gain (B,), mask (B, W): 1 on the clip, 0 on its padding)."""

    def __init__(self, clips: tuple[np.ndarray, np.ndarray, np.ndarray], rng: np.random.Generator,
                 device: torch.device | str = "cpu") -> None:
        self.x = torch.from_numpy(clips[0]).to(device)
        self.inv = torch.from_numpy(clips[1]).to(device)
        self.spans = torch.from_numpy(clips[2]).to(device)
        self.rng = rng

    def __len__(self) -> int:
        return len(self.x)

    def batch(self, n: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        idx = torch.from_numpy(self.rng.integers(0, len(self.x), n)).to(self.x.device)
        t = torch.arange(self.x.shape[1], device=self.x.device)
        sp = self.spans[idx]
        mask = ((t >= sp[:, :1]) & (t < sp[:, 1:])).float()
        return self.x[idx][:, None, :], self.inv[idx], mask


def frozen_classifier(task: str = FEATURE_TASK, device: torch.device | str = "cpu") -> torch.nn.Module:
    """A private frozen copy of a task's shipped classifier (eval mode, no gradients to its weights);
    a copy, so the cached instance ``ncodec eval`` uses is never moved or changed."""
    import copy

    from ..eval.tasks import load_classifier
    clf = copy.deepcopy(load_classifier(task)).to(device).eval()
    clf.requires_grad_(False)
    return clf


def feature_terms(clf: torch.nn.Module, clean: torch.Tensor, recon: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per clip: (deep-feature distance, KL of the logits) of ``recon`` against ``clean`` (both
    (B, samples) waveforms in the classifier's units); gradients flow to ``recon`` only."""
    from ..models.classifiers import feature_distance_from
    with torch.no_grad():
        fa = clf.features(clean)
        la = clf.logits_from(fa[-1])
    fb = clf.features(recon)
    lb = clf.logits_from(fb[-1])
    feat = feature_distance_from(fa, fb)
    pa = torch.log_softmax(la, 1)
    kl = (pa.exp() * (pa - torch.log_softmax(lb, 1))).sum(1)
    return feat, kl


def feature_rd_loss(model: WaveletAE, clf: torch.nn.Module | None, x: torch.Tensor, inv_gain: torch.Tensor,
                    mask: torch.Tensor, q: torch.Tensor, weight: float,
                    mse_weight: float = 1.0) -> tuple[torch.Tensor, dict]:
    """Loss on a clip batch (see the module docstring): mean of
    lambda_q * (mse_weight * dist_scale * MSE + weight * F) + rate. ``clf`` None (or weight 0): the plain
    R-D loss on the clips. The reconstruction is cut to
    the clip (``mask``: the padding is exact zeros, as when the task pads a decoded clip); MSE and
    rate are per sample of the clip."""
    cfg = model.cfg
    n = x.shape[-1]
    out = model(model.pad(x), q)
    x_hat = out["x_hat"][..., :n] * mask[:, None]
    length = mask.sum(1).clamp_min(1.0)
    mse = (x_hat - x).pow(2).flatten(1).sum(1) / length
    bits = out["y_bits"].flatten(1).sum(1) + out["z_bits"].flatten(1).sum(1)
    rate = bits / length
    lam = torch.tensor(cfg.lambdas, dtype=torch.float32, device=x.device)[q]
    dist = mse_weight * cfg.dist_scale * mse
    m = {"rate": float(rate.mean().detach()), "mse": float(mse.mean().detach())}
    if clf is not None and weight > 0:
        g = inv_gain.view(-1, 1)
        feat, kl = feature_terms(clf, x[:, 0] * g, x_hat[:, 0] * g)
        dist = dist + weight * (feat + kl)
        m = {"feat": float(feat.mean().detach()), "kl": float(kl.mean().detach()), **m}
    loss = (lam * dist + rate).mean()
    return loss, m


class Sampler:
    """Random crops (images, with flips) or windows (audio) as float tensors on ``device``.

    Positions and flips come from the NumPy generator ``rng`` (the same batches on every device);
    the pixels / samples themselves are kept on the device.
    """

    def __init__(self, media: str, data, crop: int, rng: np.random.Generator,
                 device: torch.device | str = "cpu") -> None:
        self.media, self.crop, self.rng, self.device = media, crop, rng, torch.device(device)
        if media == "audio":
            self.data = torch.from_numpy(np.asarray(data, dtype=np.float32)).to(self.device)
        else:
            self.data = [torch.from_numpy(np.ascontiguousarray(a)).to(self.device) for a in data]

    def batch(self, n: int) -> torch.Tensor:
        r, c = self.rng, self.crop
        if self.media == "audio":
            starts = r.integers(0, len(self.data) - c, n)
            return torch.stack([self.data[s:s + c] for s in starts])[:, None, :]
        out = []
        for _ in range(n):
            img = self.data[r.integers(len(self.data))]
            h, w = img.shape[:2]
            i, j = r.integers(0, h - c + 1), r.integers(0, w - c + 1)
            a = img[i:i + c, j:j + c]
            if r.random() < 0.5:
                a = a.flip(1)
            if r.random() < 0.5:
                a = a.permute(1, 0, 2)
            out.append(a)
        x = torch.stack(out).float() / 255.0
        return x.permute(0, 3, 1, 2).contiguous()


def pca_basis(model: WaveletAE, sampler: Sampler, n_batches: int = 40, bs: int = 16) -> tuple[np.ndarray, np.ndarray]:
    """Rows: eigenvectors of the packet-coefficient covariance, largest variance first (the KLT); and their stds."""
    c = model.cfg.channels
    cov = np.zeros((c, c))
    count = 0
    with torch.no_grad():
        for _ in range(n_batches):
            w = model.wpt(sampler.batch(bs).double() - model.cfg.offset)
            flat = w.transpose(0, 1).reshape(c, -1)
            cov += (flat @ flat.T).cpu().numpy()
            count += flat.shape[1]
    cov /= count
    vals, vecs = np.linalg.eigh(cov)
    order = np.argsort(vals)[::-1]
    basis = vecs[:, order].T
    # sign convention: largest entry of each row positive (reproducible)
    basis *= np.sign(basis[np.arange(c), np.abs(basis).argmax(1)])[:, None]
    return basis, np.sqrt(np.maximum(vals[order], 0.0))


def rd_loss(model: WaveletAE, x: torch.Tensor, q: torch.Tensor) -> tuple[torch.Tensor, dict]:
    """lambda_q * dist_scale * MSE + bits per pixel (images) / per sample (audio), averaged over the batch."""
    out = model(x, q)
    cfg = model.cfg
    per_item_px = float(np.prod(x.shape[2:]))
    mse = (out["x_hat"] - x).pow(2).flatten(1).mean(1)
    bits = out["y_bits"].flatten(1).sum(1) + out["z_bits"].flatten(1).sum(1)
    rate = bits / per_item_px
    lam = torch.tensor(cfg.lambdas, dtype=torch.float32, device=x.device)[q]
    loss = (lam * cfg.dist_scale * mse + rate).mean()
    return loss, {"rate": float(rate.mean().detach()), "mse": float(mse.mean().detach())}


# ------------------------------------------------------------------ export
def export(model: WaveletAE, path: Path, command: str, extra: dict, n_low: int = 0) -> Path:
    """Write ``path`` (<name>.pt: config + state dict with CDF tables) and its manifest, computed on CPU;
    ``n_low`` extrapolated quality levels are added below the trained ladder (see extend_ladder)."""
    model = to_cpu(model)
    eb = model.entropy_bottleneck
    # the tail quantiles only depend on the prior's own parameters: finish fitting them (cheap)
    aux_opt = torch.optim.Adam([eb.quantiles], lr=1e-2)
    from tqdm.auto import tqdm
    for _ in tqdm(range(3000), desc="export: prior tails", leave=False, disable=None):   # terminal only
        aux_opt.zero_grad(set_to_none=True)
        aux = eb.loss()
        aux.backward()
        aux_opt.step()
    model.eval()
    eb.update(force=True)
    model = extend_ladder(model, n_low).eval()
    sd = {k: v.detach().clone() for k, v in model.state_dict().items()}
    torch.save({"config": model.cfg.to_dict(), "state_dict": sd}, path)
    write_entry(path.stem, path, codec="wavelet", media="image" if model.cfg.dims == 2 else "audio", dataset=extra.pop("dataset", ""), command=command, **extra)
    return path


# ------------------------------------------------------------------ CLI entry
def add_args(p) -> None:
    p.add_argument("--media", choices=("image", "audio"), default="image")
    p.add_argument("--data", default=None, help="bsds500 (image) or fsdd (audio)")
    p.add_argument("--crop", type=int, default=None, help="crop side (image) / window samples (audio)")
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--export", action="store_true", help="export the weights when the run is finished")
    p.add_argument("--extra-low-levels", type=int, default=None,
                   help="quality levels added below the trained ladder at export by extrapolating the gains "
                        "(default: 2; 0 with --init-from, whose ladder already has them)")
    p.add_argument("--init-from", default=None, metavar="NAME|PATH",
                   help="fine-tune: start from these wavelet weights (installed name, e.g. wavelet_audio, or a "
                        ".pt with its .json) instead of the closed-form start; default run name wavelet_<media>_ft")
    p.add_argument("--feature-loss", type=float, default=0.0, metavar="W",
                   help="audio: add lambda_q * W * (feature distance + logit KL) of the frozen shipped FSDD "
                        "classifier between each clean clip and its reconstruction; batches become whole "
                        "gain-normalised clips in the classifier's 1-s window (default: 0, off)")
    p.add_argument("--mse-weight", type=float, default=1.0, metavar="M",
                   help="audio clip batches: scale of the MSE term beside --feature-loss (below 1 lets the "
                        "rate fall where the recogniser does not need the waveform; default 1)")
    p.add_argument("--clip-batches", action="store_true",
                   help="audio: train on those clip batches even without --feature-loss (control runs)")
    p.add_argument("--data-limit", type=int, default=None,
                   help="audio clip batches: use only this many training clips, evenly spaced (smoke tests)")
    p.add_argument("--export-only", action="store_true",
                   help="export the weights of the checkpoint in --ckpt-dir without training")
    p.add_argument("--closed-form-only", action="store_true", help="export the closed-form start (0 steps)")
    add_common_args(p, **LOOP_DEFAULTS)
    add_export_args(p)


def _check_data(media: str, data_name: str) -> None:
    if (media, data_name) not in (("image", "bsds500"), ("audio", "fsdd")):
        from ..errors import InputError
        raise InputError(f"wavelet trains images on bsds500 and audio on fsdd, not {media} on {data_name}")


def _fit_tails(model: WaveletAE, sampler: Sampler, aux_opt: torch.optim.Optimizer, n: int = 300) -> None:
    """Fit the entropy bottleneck's tail quantiles on real hyper-latents (the closed-form start has none)."""
    for _ in range(n):
        with torch.no_grad():
            z = model.h_a(model.analysis(model.pad(sampler.batch(4))))
        aux_opt.zero_grad(set_to_none=True)
        model.entropy_bottleneck(z)
        aux = model.entropy_bottleneck.loss()
        aux.backward()
        aux_opt.step()


def load_init(ref: str, media: str) -> WaveletAE:
    """A trainable model (compressai entropy bottleneck) holding the weights ``ref`` (an installed name or
    a weight-file path, sha-checked against its manifest), for ``--init-from``."""
    from ..errors import InputError
    from ..weights import resolve, weight_path
    path = weight_path(resolve(ref, codec="wavelet"))
    blob = torch.load(path, map_location="cpu", weights_only=False)
    model = build(blob["config"])
    if (model.cfg.dims == 2) != (media == "image"):
        raise InputError(f"--init-from {ref}: those are {'image' if model.cfg.dims == 2 else 'audio'} weights, "
                         f"not {media}")
    sd = blob["state_dict"]
    for key in ("_quantized_cdf", "_offset", "_cdf_length"):     # data-dependent buffer sizes
        getattr(model.entropy_bottleneck, key).resize_(sd[f"entropy_bottleneck.{key}"].shape)
    try:
        model.load_state_dict(sd)
    except RuntimeError as exc:
        raise InputError(f"--init-from {ref}: not a trainable wavelet export ({exc})") from None
    return model


def run(args) -> int:
    """Train (and optionally export) the image or audio wavelet model."""
    media = args.media
    data_name = args.data or ("bsds500" if media == "image" else "fsdd")
    _check_data(media, data_name)
    weight = float(getattr(args, "feature_loss", 0.0) or 0.0)
    init_from = getattr(args, "init_from", None)
    clip_mode = media == "audio" and (weight > 0 or getattr(args, "clip_batches", False))
    if (weight or getattr(args, "clip_batches", False)) and media != "audio":
        from ..errors import InputError
        raise InputError("--feature-loss and --clip-batches are for --media audio (the FSDD classifier)")
    if weight < 0:
        from ..errors import InputError
        raise InputError(f"--feature-loss must be >= 0, not {weight}")
    if args.extra_low_levels is None:
        args.extra_low_levels = 0 if init_from else 2
    name = export_name(args, f"wavelet_{media}" + ("_ft" if init_from else ""))
    cfg = config_from_args(args, ckpt_dir=f"runs/{name}")
    loop = Loop(cfg, desc=f"wavelet-{media}")
    if args.export_only and not loop.ckpt_path.exists():       # before minutes of data loading
        from ..errors import InputError
        raise InputError(f"--export-only: no checkpoint at {loop.ckpt_path} (train first with --name {name}, "
                         f"or give the run's --ckpt-dir)")
    crop = args.crop or (128 if media == "image" else 4096)
    rng = np.random.default_rng(cfg.seed)
    t_load = time.time()
    model = (load_init(init_from, media) if init_from else build(default_config(media))).to(loop.device)
    clips, clf = None, None
    if clip_mode:
        clips = ClipSampler(load_clips("train", args.data_limit), rng, loop.device)
        data, what = clips.x, "clips"
        if weight > 0:
            clf = frozen_classifier(FEATURE_TASK, loop.device)
    else:
        data = load_images() if media == "image" else load_audio("train")
        what = "images" if media == "image" else "samples"
    sampler = None if clip_mode else Sampler(media, data, crop, rng, loop.device)
    loop.info(f"{media}: {len(data)} {what} loaded in {time.time() - t_load:.1f}s; "
              f"{sum(p.numel() for p in model.parameters())} parameters"
              + (f"; from {init_from}" if init_from else "") + (f"; feature loss W={weight:g}" if clf else ""))
    if not args.export_only and not init_from:
        model.init_closed_form(*pca_basis(model, sampler if sampler else _WindowView(clips)))
    main_params = [p for n, p in model.named_parameters() if not n.endswith(".quantiles")]
    aux_params = [p for n, p in model.named_parameters() if n.endswith(".quantiles")]
    opt = torch.optim.Adam(main_params, lr=cfg.lr)
    aux_opt = torch.optim.Adam(aux_params, lr=AUX_LR)
    n_levels = len(model.cfg.lambdas)
    state = {"model": model, "opt": opt, "aux_opt": aux_opt}

    mse_weight = float(getattr(args, "mse_weight", 1.0))

    def step_fn(step: int) -> dict:
        model.train()
        if clip_mode:
            x, inv_gain, mask = clips.batch(args.batch)
        else:
            x = sampler.batch(args.batch)
        q = torch.from_numpy(rng.integers(0, n_levels, args.batch)).to(loop.device)   # drawn after the batch
        loss = ((lambda: feature_rd_loss(model, clf, x, inv_gain, mask, q, weight, mse_weight)) if clip_mode
                else (lambda: rd_loss(model, x, q)))
        m = gradient_step(model, opt, loss, clip=1.0)
        aux_opt.zero_grad(set_to_none=True)
        aux = model.entropy_bottleneck.loss()
        aux.backward()
        aux_opt.step()
        m["aux"] = float(aux.detach())
        return m

    def state_fn() -> dict:
        return {"rng": rng.bit_generator.state}

    def load_state_fn(s: dict) -> None:
        rng.bit_generator.state = s["rng"]

    ckdir = Path(cfg.ckpt_dir)
    finished = False
    if args.export_only:
        from ..errors import InputError
        if not loop.load(state, load_state_fn=load_state_fn):
            raise InputError(f"--export-only: no checkpoint in {ckdir}")
        loop.info(f"exporting the checkpoint {loop.ckpt_path} (step {loop.budget.step})")
        finished = True
    elif args.closed_form_only:
        _fit_tails(model, sampler if sampler else _WindowView(clips), aux_opt)
        finished = True
    else:
        ckdir.mkdir(parents=True, exist_ok=True)
        (ckdir / "command.txt").write_text(command_line(args, "wavelet") + "\n")
        finished = loop.run(step_fn, state=state, optimizers=[opt], state_fn=state_fn,
                            load_state_fn=load_state_fn).finished
    if (args.export and finished) or args.export_only or args.closed_form_only:
        _export_run(args, model, loop, name, data_name)
    return 0


def _export_run(args, model: WaveletAE, loop: Loop, name: str, data_name: str) -> Path:
    """Export the run's model with its manifest (the training command; for --export-only, the one
    recorded in the checkpoint folder first) into --export-dir."""
    command = command_line(args, "wavelet")
    prev = Path(loop.cfg.ckpt_dir) / "command.txt"
    if args.export_only and prev.exists():
        command = prev.read_text().strip() + " ; then: " + command
    b = loop.budget
    path = export(model, export_dir(args) / f"{name}.pt", command,
                  {"dataset": f"{data_name} {'train+val' if args.media == 'image' else 'train'}",
                   "steps": b.step, "train_wall_s": round(b.wall_s, 1), "train_cpu_s": round(b.cpu_s, 1),
                   "train_device": str(loop.device), "extrapolated_low_levels": args.extra_low_levels,
                   **({"init_from": args.init_from} if getattr(args, "init_from", None) else {}),
                   **({"feature_loss": args.feature_loss, "feature_task": FEATURE_TASK,
                       "mse_weight": getattr(args, "mse_weight", 1.0)}
                      if getattr(args, "feature_loss", 0) else {})},
                  n_low=args.extra_low_levels)
    print(f"exported {name} ({args.media}) to {path}; use it with -c wavelet -O weights={name}", flush=True)
    return path


class _WindowView:
    """``Sampler.batch`` over clip batches, for the closed-form start's PCA and tail fits (a fresh run
    with clip batches): whole clip windows (8000 samples: a multiple of the packet stride)."""

    def __init__(self, clips: ClipSampler) -> None:
        self.clips = clips

    def batch(self, n: int) -> torch.Tensor:
        return self.clips.batch(n)[0]


run.add_args = add_args
register_trainer("wavelet")(run)


def extend_ladder(model: WaveletAE, n_low: int) -> WaveletAE:
    """Add ``n_low`` quality levels below the trained ones by extrapolating the per-channel log gains
    one ladder step at a time (the level's FiLM rows are copied from the lowest trained level)."""
    if n_low <= 0:
        return model
    cfg = model.cfg
    with torch.no_grad():
        def grow(t: torch.Tensor, extrap: bool) -> torch.Tensor:
            step = (t[1] - t[0]) if extrap else torch.zeros_like(t[0])
            low = [t[0] - k * step for k in range(n_low, 0, -1)]
            return torch.cat([torch.stack(low), t])
        sd = model.state_dict()
        for k in list(sd):
            if k in ("log_gain", "log_igain"):
                sd[k] = grow(sd[k], True)
            elif k.endswith(".scale") or k.endswith(".shift"):
                sd[k] = grow(sd[k], False)
        ratio = cfg.lambdas[1] / cfg.lambdas[0]
        lam = [cfg.lambdas[0] / ratio ** k for k in range(n_low, 0, -1)] + list(cfg.lambdas)
        new_cfg = WaveletConfig(**{**cfg.to_dict(), "lambdas": lam})
        new = WaveletAE(new_cfg, frozen_prior=not hasattr(model.entropy_bottleneck, "_logits_cumulative"))
        for key in ("_quantized_cdf", "_offset", "_cdf_length"):     # data-dependent buffer sizes
            getattr(new.entropy_bottleneck, key).resize_(sd[f"entropy_bottleneck.{key}"].shape)
        new.load_state_dict(sd)
    return new
