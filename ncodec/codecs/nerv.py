"""``nerv`` / ``hnerv``: video as an implicit neural representation with a real bitstream.

Encoding fits the network to the clip (``ncodec.models.nerv_fit``), prunes and quantizes it;
this module entropy-codes the result with the shared layer: per tensor a binary model for
the pruning mask (its count of kept weights stored), then the one-byte scale codes and the
quantized values, each with a per-tensor adaptive categorical model: the used symbol range
plus a compactly stored histogram (5-bit log counts over bins of 1..16 symbols, the bin size
picked by exact cost; or uniform when that is cheaper) made integer by ``quantize_probs``.
HNeRV embeddings are coded the same way. The payload holds everything the
decoder needs (architecture, every tensor, masks, embeddings, frame size).

Payload = version byte, kind byte, architecture varints, quantizer bits, stream length
(varint), then one rANS stream ending in a 16-bit sentinel.

Fitting knobs are codec options (CLI ``-O steps=300``, API ``options={"steps": 300}``):
steps, epochs, time_budget, batch, lr, seed, device, threads, progress.
"""
from __future__ import annotations

import time
from typing import Any, Mapping

import numpy as np

from .._varint import decode_uvarint, encode_uvarint
from ..entropy import EntropyDecoder, EntropyEncoder, ideal_bits, quantize_probs
from ..errors import CodecError, UnsupportedInputError
from ..item import Item, ItemMeta
from ..limits import check_alloc
from .base import CHECK_KEY, CHECK_SYMBOLS, Codec, Encoded, Option, payload_error, register

FORMAT_VERSION = 1
SENTINEL = 0xA5C3
HIST_BITS = 5                      # bits per log-quantized histogram entry
MAX_BIN_LOG = 4                    # histogram bins of up to 16 symbols
# quality % 3 -> (weight bits, prune ratio); quality // 3 -> preset S/M/L
STRENGTHS = ((4, 0.3), (5, 0.15), (6, 0.0))
PRESET_OF_Q = ("S", "M", "L")
_SQRT2 = 1.4142135623730951
MAX_CHANNELS = 4096
MAX_FRAMES = 1 << 20
MAX_PARAMS = 1 << 27


def quality_plan(quality: int) -> tuple[str, int, float]:
    """Preset, weight bits and pruning ratio of a quality level 0..8."""
    bits, prune = STRENGTHS[quality % 3]
    return PRESET_OF_Q[quality // 3], bits, prune


# ------------------------------------------------------------------ tensor coding

def _hist_weights(codes: np.ndarray) -> np.ndarray:
    """Approximate counts 2**(h/2) - 1 of log-quantized histogram codes, exactly (no libm)."""
    h = np.asarray(codes, dtype=np.int64)
    base = np.ldexp(np.ones(len(h)), h // 2)
    return np.where(h % 2 == 1, base * _SQRT2, base) - 1.0


def _hist_codes(counts: np.ndarray) -> np.ndarray:
    c = np.asarray(counts, dtype=np.float64)
    h = np.where(c > 0, np.rint(2 * np.log2(1 + c)), 0)
    return np.clip(h, 0, (1 << HIST_BITS) - 1).astype(np.int64)


def _binary_pmf(n: int, ones: int) -> np.ndarray:
    return quantize_probs(np.array([n - ones, ones], dtype=np.float64))


def _binned_pmf(codes: np.ndarray, width: int, g: int) -> np.ndarray:
    """Integer PMF over ``width`` symbols from log-quantized counts of bins of 2**g symbols."""
    w = np.repeat(_hist_weights(codes) / float(1 << g), 1 << g)[:width]
    return quantize_probs(w)


def _choose_model(sym: np.ndarray, width: int) -> tuple[int, np.ndarray | None, np.ndarray]:
    """Cheapest model for symbols in [0, width), table cost included: kind 0 uniform,
    kind g+1 a stored log-histogram over bins of 2**g symbols (g = 0..MAX_BIN_LOG)."""
    best = (ideal_bits(sym, np.ones(width, dtype=np.int64)) if width > 1 else 0.0, 0, None,
            np.ones(width, dtype=np.int64))
    if width <= 2:
        return best[1], best[2], best[3]
    for g in range(MAX_BIN_LOG + 1):
        nb = -(-width // (1 << g))
        if nb < 2 and g > 0:
            break
        counts = np.bincount(sym >> g, minlength=nb)
        hc = _hist_codes(counts)
        pmf = _binned_pmf(hc, width, g)
        cost = ideal_bits(sym, pmf) + HIST_BITS * nb
        if cost < best[0]:
            best = (cost, g + 1, hc, pmf)
    return best[1], best[2], best[3]


def encode_symbols(enc: EntropyEncoder, sym: np.ndarray, nbits: int) -> None:
    """Code integers in [0, 2**nbits): their range, a model choice, its table, then the symbols."""
    sym = np.asarray(sym, dtype=np.int64).reshape(-1)
    if not sym.size:
        return
    lo, hi = int(sym.min()), int(sym.max())
    enc.encode_uniform(np.array([lo, hi]), nbits)
    width = hi - lo + 1
    kind, hc, pmf = _choose_model(sym - lo, width)
    enc.encode_uniform(np.array([kind]), 3)
    if kind:
        enc.encode_uniform(hc, HIST_BITS)
    if width > 1:
        enc.encode(sym - lo, pmf)


def decode_symbols(dec: EntropyDecoder, n: int, nbits: int) -> np.ndarray:
    """Inverse of ``encode_symbols`` for ``n`` symbols."""
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    lo, hi = (int(v) for v in dec.decode_uniform(2, nbits))
    if not 0 <= lo <= hi < (1 << nbits):
        raise CodecError("nerv: symbol range is invalid")
    width = hi - lo + 1
    kind = int(dec.decode_uniform(1, 3)[0])
    if kind > MAX_BIN_LOG + 1:
        raise CodecError("nerv: unknown symbol model")
    if kind:
        g = kind - 1
        pmf = _binned_pmf(dec.decode_uniform(-(-width // (1 << g)), HIST_BITS), width, g)
    else:
        pmf = np.ones(width, dtype=np.int64)
    if width == 1:
        return np.full(n, lo, dtype=np.int64)
    return dec.decode(pmf, n).astype(np.int64) + lo


def encode_qtensor(enc: EntropyEncoder, qt, ideal: dict | None = None) -> None:
    """Append one quantized tensor (mask, scale codes, values) to the stream."""
    from ..models.nerv_quant import n_scales, qmax_of
    n = int(np.prod(qt.shape))
    codes = np.asarray(qt.scale_codes, dtype=np.int64).reshape(-1)
    if codes.size != n_scales(qt.shape):
        raise CodecError("scale code count does not match the tensor shape")
    b0 = enc.ideal_bits
    has_mask = qt.mask is not None
    enc.encode_uniform(np.array([int(has_mask)]), 1)
    if has_mask:
        m = qt.mask.reshape(-1).astype(np.int64)
        ones = int(m.sum())
        enc.encode_uniform(np.array([ones]), 32)
        enc.encode(m, _binary_pmf(n, ones))
        vals = qt.q.reshape(-1)[m.astype(bool)]
    else:
        vals = qt.q.reshape(-1)
    b1 = enc.ideal_bits
    encode_symbols(enc, codes, 8)
    b2 = enc.ideal_bits
    encode_symbols(enc, vals.astype(np.int64) + qmax_of(qt.bits), qt.bits)
    if ideal is not None:
        ideal["mask"] = ideal.get("mask", 0.0) + (b1 - b0)
        ideal["scales"] = ideal.get("scales", 0.0) + (b2 - b1)
        ideal["values"] = ideal.get("values", 0.0) + (enc.ideal_bits - b2)


def decode_qtensor(dec: EntropyDecoder, shape: tuple[int, ...], bits: int):
    """Inverse of ``encode_qtensor`` for a tensor of known shape and bit depth."""
    from ..models.nerv_quant import QTensor, n_scales, qmax_of
    n = int(np.prod(shape))
    has_mask = bool(dec.decode_uniform(1, 1)[0])
    mask = None
    n_vals = n
    if has_mask:
        ones = int(dec.decode_uniform(1, 32)[0])
        if ones > n:
            raise CodecError("nerv: mask count exceeds the tensor size")
        mask = dec.decode(_binary_pmf(n, ones), n).astype(bool)
        if int(mask.sum()) != ones:
            raise CodecError("nerv: mask does not match its stored count")
        n_vals = ones
    codes = decode_symbols(dec, n_scales(shape), 8).astype(np.uint8)
    qm = qmax_of(bits)
    vals = decode_symbols(dec, n_vals, bits)
    if vals.size and vals.max() > 2 * qm:
        raise CodecError("nerv: value out of the quantizer's range")
    q = np.zeros(n, dtype=np.int32)
    if mask is not None:
        q[mask] = vals - qm
        mask = mask.reshape(shape)
    else:
        q[:] = vals - qm
    return QTensor(tuple(shape), q.reshape(shape), codes, bits, mask)


# ------------------------------------------------------------------ payload

def _param_shapes(cfg) -> list[tuple[str, tuple[int, ...]]]:
    from ..models.nerv import NervDecoder
    import torch
    with torch.device("meta"):
        dec = NervDecoder(cfg)
    return [(n, tuple(p.shape)) for n, p in dec.named_parameters()]


def pack_payload(comp, backend: str = "ans", ideal: dict | None = None) -> bytes:
    """Serialise a ``Compressed`` INR (config, weights, masks, embeddings) to payload bytes."""
    cfg = comp.cfg
    head = bytearray([FORMAT_VERSION, 0 if cfg.kind == "nerv" else 1])
    for v in (cfg.frames, cfg.height, cfg.width, len(cfg.strides), *cfg.strides, *cfg.channels,
              cfg.pe_levels, cfg.mlp_hidden, cfg.embed_dim, comp.bits,
              comp.embeddings.bits if comp.embeddings is not None else 0):
        head += encode_uvarint(int(v))
    enc = EntropyEncoder(backend)
    for name, shape in _param_shapes(cfg):
        qt = comp.weights[name]
        if tuple(qt.shape) != shape:
            raise CodecError(f"tensor {name} has shape {qt.shape}, config says {shape}")
        encode_qtensor(enc, qt, ideal)
    if cfg.kind == "hnerv":
        emb_ideal: dict = {}
        encode_qtensor(enc, comp.embeddings, emb_ideal)
        if ideal is not None:
            ideal["embeddings"] = float(sum(emb_ideal.values()))
    enc.encode_uniform(np.array([SENTINEL]), 16)
    stream = enc.finish()
    return bytes(head) + encode_uvarint(len(stream)) + stream


def unpack_payload(payload: bytes, backend: str = "ans", expect_shape: tuple[int, ...] | None = None):
    """Parse payload bytes back to (config, weights, embeddings, bits); CodecError on any damage.

    ``expect_shape`` (T, H, W, 3) from the container header is checked before any tensor is decoded.
    """
    from ..models.nerv import NervConfig, count_decoder_params
    if len(payload) < 2:
        raise CodecError("nerv: payload too short")
    if payload[0] != FORMAT_VERSION:
        raise CodecError(f"nerv: unknown payload format version {payload[0]}")
    if payload[1] not in (0, 1):
        raise CodecError("nerv: unknown network kind")
    kind = ("nerv", "hnerv")[payload[1]]
    pos = 2

    def rd(limit: int) -> int:
        nonlocal pos
        v, pos = decode_uvarint(payload, pos)
        if v > limit:
            raise CodecError("nerv: architecture field out of range")
        return v
    T, H, W = rd(MAX_FRAMES), rd(1 << 16), rd(1 << 16)
    n = rd(8)
    strides = [rd(8) for _ in range(n)]
    channels = [rd(MAX_CHANNELS) for _ in range(n + 1)]
    pe, hidden, emb, bits, emb_bits = rd(64), rd(MAX_CHANNELS), rd(MAX_CHANNELS), rd(8), rd(8)
    if min([T, H, W, pe, hidden, emb, *strides, *channels] or [0]) < 1 or not 2 <= bits <= 8:
        raise CodecError("nerv: architecture field out of range")
    if (kind == "hnerv") != (emb_bits >= 2):
        raise CodecError("nerv: embedding bit depth out of range")
    cfg = NervConfig(kind, T, H, W, tuple(strides), tuple(channels), pe, hidden, emb)
    if expect_shape is not None and tuple(expect_shape) != (T, H, W, 3):
        raise CodecError("nerv: payload frame size does not match the header")
    n_params = count_decoder_params(cfg)
    if n_params > MAX_PARAMS:
        raise CodecError("nerv: network too large")
    # decoding holds each tensor's symbols, mask, values and float weights: ~16 bytes per parameter
    check_alloc("nerv", f"a network of {n_params} parameters", 16 * n_params)
    if kind == "hnerv":
        check_alloc("nerv", "the embeddings", 16 * T * emb * cfg.base[0] * cfg.base[1])
    length = rd(1 << 40)
    if pos + length != len(payload):
        raise CodecError("nerv: payload length does not match its stream length field")
    dec = EntropyDecoder(payload[pos:], backend)
    weights = {name: decode_qtensor(dec, shape, bits) for name, shape in _param_shapes(cfg)}
    embeddings = None
    if kind == "hnerv":
        h0, w0 = cfg.base
        embeddings = decode_qtensor(dec, (T, emb, h0, w0), emb_bits)
    if int(dec.decode_uniform(1, 16)[0]) != SENTINEL:
        raise CodecError("nerv: stream check failed (payload damaged)")
    return cfg, weights, embeddings, bits


def symbol_digest(cfg, weights: dict, embeddings) -> bytes:
    """BLAKE2b digest of every entropy-coded integer of a network (per tensor in payload order:
    mask, scale codes, kept quantized values; then the embeddings): what the content check
    covers, so a desynchronised decode is caught while the float rendering may differ by +-1."""
    import hashlib
    h = hashlib.blake2b(digest_size=16, person=b"ncodec-nerv")

    def add(qt) -> None:
        q = np.asarray(qt.q).reshape(-1).astype("<i4")
        if qt.mask is not None:
            m = np.asarray(qt.mask).reshape(-1).astype(bool)
            h.update(b"m" + np.packbits(m).tobytes())
            q = q[m]
        else:
            h.update(b"a")
        h.update(np.asarray(qt.scale_codes).reshape(-1).astype("<i4").tobytes())
        h.update(q.tobytes())
    for name, _ in _param_shapes(cfg):
        add(weights[name])
    if embeddings is not None:
        add(embeddings)
    return h.digest()


def nerv_style_estimate_bits(comp) -> int:
    """The size a NeRV-style report would claim: Huffman code of the kept quantized weights
    (one code over all tensors; no masks, tables, scales or architecture), plus embeddings."""
    from ..models.nerv_quant import huffman_bits
    vals = [qt.q[qt.mask] if qt.mask is not None else qt.q.reshape(-1) for qt in comp.weights.values()]
    bits = huffman_bits(np.concatenate([v.reshape(-1) for v in vals]))
    if comp.embeddings is not None:
        bits += huffman_bits(comp.embeddings.q)
    return bits


# ------------------------------------------------------------------ codecs

def check_video(codec: Codec, item: Item) -> None:
    """(T, H, W, 3) uint8 video with frames at least 8x8."""
    Codec.check(codec, item)
    d = item.data
    if item.meta.dtype != "uint8" or d.ndim != 4 or d.shape[3] != 3:
        raise UnsupportedInputError(f"{codec.name}: needs (T, H, W, 3) uint8 video, got {d.shape} {item.meta.dtype}")
    if d.shape[1] < 8 or d.shape[2] < 8 or d.shape[1] > 8192 or d.shape[2] > 8192:
        raise UnsupportedInputError(f"{codec.name}: frame size {d.shape[1]}x{d.shape[2]} not supported (8..8192)")


FIT_OPTIONS = (
    Option("steps", int, None, "optimizer steps of the main fit (default: epochs x frames / batch)"),
    Option("epochs", int, 300, "epochs of the main fit when steps is not set"),
    Option("time_budget", float, None, "seconds for the whole encode (fit + fine-tunes); stops early"),
    Option("batch", int, 2, "frames per optimizer step"),
    Option("lr", float, 5e-3, "peak learning rate"),
    Option("seed", int, 0, "random seed (the encode is deterministic given it)"),
    Option("device", str, "auto", "where to fit", choices=("auto", "cpu", "cuda")),
    Option("threads", int, None, "torch threads while fitting (default: torch's)"),
    Option("progress", bool, True, "progress bar on a terminal"),
)


class _InrCodec(Codec):
    media = "video"
    lossless = False
    qualities = (0, 8)
    default_quality = 4
    options = FIT_OPTIONS
    kind = "nerv"
    content_check = CHECK_SYMBOLS          # the coded integers, not the float rendering
    decode_max_pixels = {"video": 1 << 23}  # T x H x W rendered per record by default (Bunny: 7.6 M)

    def check(self, item: Item) -> None:
        check_video(self, item)

    def encode(self, item: Item, quality: int, options: Mapping[str, Any]) -> Encoded:
        from ..models.nerv import make_config
        from ..models.nerv_fit import FitOptions, compress_state, fit
        self.check(item)
        preset, bits, prune = quality_plan(quality)
        frames = item.data
        T, H, W, _ = frames.shape
        opts = FitOptions(**{k: v for k, v in options.items() if v is not None})
        cfg = make_config(self.kind, T, H, W, preset)
        t0 = time.perf_counter()
        total = opts.time_budget
        deadline = None if total is None else t0 + total / (1 + 2 * opts.finetune_frac)
        state = fit(frames, cfg, opts, deadline)
        ft_steps = max(1, int(state.fit_steps * opts.finetune_frac))
        end = None if total is None else t0 + total
        comp = compress_state(state, frames, bits, prune, opts, ft_steps, end, render_frames=False)
        ideal: dict = {}
        payload = pack_payload(comp, ideal=ideal)
        info = {"fit_seconds": state.fit_seconds, "fit_steps": state.fit_steps,
                "compress_seconds": comp.seconds, "nerv_style_estimate_bits": nerv_style_estimate_bits(comp),
                "ideal_by_part": ideal}
        return Encoded(payload, float(sum(ideal.values())) if ideal else None, info,
                       check=symbol_digest(comp.cfg, comp.weights, comp.embeddings))

    def decode(self, payload: bytes, meta: ItemMeta, quality: int) -> Item:
        from ..models.nerv_fit import decoder_from_quantized, inputs_for, render
        try:
            if len(meta.shape) != 4:
                raise CodecError(f"{self.name}: header shape {meta.shape} is not a video")
            cfg, weights, emb, _ = unpack_payload(payload, expect_shape=meta.shape)
        except CodecError:
            raise
        except Exception as exc:
            raise payload_error(self.name, exc) from exc
        if cfg.kind != self.kind:
            raise CodecError(f"{self.name}: payload holds a {cfg.kind} network")
        if len(meta.shape) != 4 or tuple(meta.shape) != (cfg.frames, cfg.height, cfg.width, 3):
            raise CodecError(f"{self.name}: payload frame size does not match the header")
        frames = render(decoder_from_quantized(cfg, weights), inputs_for(cfg, emb))
        return Item(frames, meta, extra={CHECK_KEY: symbol_digest(cfg, weights, emb)})


@register
class Nerv(_InrCodec):
    name = "nerv"
    kind = "nerv"
    description = "NeRV implicit neural video (fit, prune, quantize, rANS-code the weights); q 0-8 = S/M/L x 4/5/6 bits"


@register
class Hnerv(_InrCodec):
    name = "hnerv"
    kind = "hnerv"
    description = "HNeRV: NeRV decoder fed by tiny coded per-frame embeddings from a ConvNeXt encoder; q 0-8"
