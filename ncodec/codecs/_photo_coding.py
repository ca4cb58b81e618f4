"""Coding half of the ``flow`` codec's photo path: the interlaced integer flow
(``ncodec.models.interlace``) with per-image predictor fitting and context-classed tables.

Stream layout (one rANS stream, in decoding order):

1. the base pixel (8 bits per channel);
2. table choices: for every (level group, pass, channel) one bank index per activity class,
   the first as 8 bits, the rest as differences from the previous class;
3. per stage: for each channel a predictor mode (2 bits: the trained defaults, plain
   interpolation, or the image's own weights, which follow as one row per predictor bucket of
   16 bits each); then per chunk of rows and channel the folded errors grouped by activity
   class, each class with its chosen bank table.

The encoder fits a stage's weights by reweighted least squares (per bucket: smooth, textured,
edge) and sends them only where the estimated saving pays for them; it picks each class's table as the bank entry
that codes that class's errors in the fewest bits (an exact count). The decoder repeats the
same integer steps.
"""
from __future__ import annotations

from dataclasses import replace
from typing import Callable

import numpy as np

from ..entropy import EntropyDecoder, EntropyEncoder
from ..errors import CodecError
from ..models import interlace as il
from ..models.interlace import PhotoModel

TABLE_GROUPS = 4           # level groups with their own tables: levels 0, 1, 2 and the rest
MIN_FIT = 4096             # stages with fewer pixels never send weights
SMALL = 1024               # stages with fewer pixels use the trained defaults without trying others
EVAL_STRIDE = 4            # sample pixels the fixed predictor configurations are estimated on: 1 in 4
FIT_SAMPLE = 8192          # pixels (whole rows, evenly strided) a stage's fit looks at, about
CHUNK_PIXELS = 1 << 17     # pixels per working chunk of a stage (bounds memory on large photos)
BANK_BITS = 8              # bank index bits (the bank holds up to 256 tables)
FITTED = 2                 # stage mode: 0 trained defaults, 1 plain interpolation, 2 weights sent
_DELTA = 255
_DELTA_PMF = np.array([1 << max(0, 22 - 2 * abs(d)) for d in range(-_DELTA, _DELTA + 1)], dtype=np.int64)
BUCKET_EDGES, BUCKETS = il.BUCKET_EDGES, il.BUCKETS


def _group(level: int) -> int:
    return min(level, TABLE_GROUPS - 1)


def _order(img: np.ndarray) -> np.ndarray:
    """(H, W[, C]) uint8 -> (C, H, W) int32 in coding order (G, R, B for colour)."""
    x = img.reshape(img.shape[0], img.shape[1], -1).transpose(2, 0, 1).astype(np.int32)
    return x[[1, 0, 2]] if x.shape[0] == 3 else x


def _unorder(x: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    if x.shape[0] == 3:
        x = x[[1, 0, 2]]
    return np.ascontiguousarray(x.transpose(1, 2, 0)).astype(np.uint8).reshape(shape)


def _est_bits(sym: np.ndarray, cls: np.ndarray) -> float:
    """Estimated coded size of folded errors: a Laplace code per activity class, sized by the
    class's mean absolute error (how the tables will see them)."""
    if not sym.size:
        return 0.0
    n = np.bincount(cls, minlength=il.CLASSES)
    tot = np.bincount(cls, weights=np.abs(sym.astype(np.int32) - 128), minlength=il.CLASSES)
    used = n > 0
    mad = tot[used] / n[used] + 0.3
    return float((n[used] * np.log2(2 * np.e * mad)).sum())


def _buckets(cls: np.ndarray) -> np.ndarray:
    """Predictor bucket (uint8) of each pixel from its activity class."""
    return np.searchsorted(BUCKET_EDGES, cls, side="right").astype(np.uint8)


def _pick(preds: np.ndarray, bucket: np.ndarray) -> np.ndarray:
    """Each pixel's prediction from its bucket's row of ``preds`` (B, N)."""
    return np.take_along_axis(preds, bucket[None].astype(np.intp), axis=0)[0]


def _choose_weights(f: np.ndarray, tgt: np.ndarray, bases: list[np.ndarray], cls: np.ndarray,
                    scale: float = 1.0, fixed: int | None = None) -> tuple[np.ndarray, int, float, np.ndarray]:
    """Weights (B, k), mode, estimated bits and predictions of one channel of a stage, from (a
    sample of) its pixels: base ``fixed`` when given, else the cheapest of the ``bases`` (modes 0,
    1: nothing sent) and fitted rows (mode FITTED: sent, so their bits count; each bucket keeps a
    base row unless its fit pays). Bits are the sample's times ``scale`` (stage size / sample
    size). Encoder side only: the decoder reads the result."""
    bucket = _buckets(cls)
    if fixed is not None:
        pred = _pick(il.predict(f, bases[fixed]), bucket)
        return bases[fixed], fixed, scale * _est_bits(il.fold(tgt, pred), cls), pred
    order = np.argsort(bucket, kind="stable")
    fs, ts, cs = f[:, order], tgt[order], cls[order]
    ends = np.cumsum(np.bincount(bucket, minlength=BUCKETS))
    fit = tgt.size * scale >= MIN_FIT
    cost = np.zeros(len(bases) + 1)
    preds = np.empty((len(bases) + 1, tgt.size), dtype=np.int32)   # per mode, in bucket order
    rows = []
    for b in range(BUCKETS):
        sl = slice(int(ends[b - 1]) if b else 0, int(ends[b]))
        if sl.stop == sl.start:
            rows.append(bases[0][b])
            continue
        cand = [base[b] for base in bases]
        if fit and sl.stop - sl.start >= 64:
            cand.append(il.fit_weights(fs[:, sl], ts[sl]))
        p = il.predict(fs[:, sl], np.stack(cand))
        est = [_est_bits(il.fold(ts[sl], row), cs[sl]) for row in p]
        cost[:len(bases)] += est[:len(bases)]
        preds[:len(bases), sl] = p[:len(bases)]
        best = int(np.argmin(est))
        rows.append(cand[best])
        cost[len(bases)] += est[best]
        preds[len(bases), sl] = p[best]
    cost *= scale
    cost[len(bases)] += 16 * len(rows) * len(rows[0]) + 1
    mode = int(np.argmin(cost if fit else cost[:len(bases)]))
    pred = np.empty(tgt.size, dtype=np.int32)
    pred[order] = preds[mode]
    return (np.stack(rows) if mode == FITTED else bases[mode]), mode, float(cost[mode]), pred


def _class_slices(cls: np.ndarray) -> tuple[np.ndarray, list[tuple[int, slice]]]:
    """Pixel order grouped by class (stable) and the (class, slice) of each non-empty group."""
    order = np.argsort(cls, kind="stable")       # uint8 keys: numpy's radix sort
    counts = np.bincount(cls, minlength=il.CLASSES)
    ends = np.cumsum(counts)
    return order, [(k, slice(int(ends[k] - counts[k]), int(ends[k]))) for k in range(il.CLASSES) if counts[k]]


def _chunks(st: il.Stage) -> list[il.Stage]:
    """The stage cut into runs of whole rows of at most CHUNK_PIXELS pixels (shape-determined)."""
    per = max(1, CHUNK_PIXELS // max(1, len(st.cols)))
    return [replace(st, rows=st.rows[i:i + per]) for i in range(0, len(st.rows), per)]


def _sample(st: il.Stage) -> tuple[il.Stage, float]:
    """Evenly strided rows of a stage (about FIT_SAMPLE pixels) and the stage/sample size ratio."""
    stride = max(1, -(-st.count // FIT_SAMPLE))
    sub = replace(st, rows=st.rows[::stride])
    return sub, st.count / max(1, sub.count)


class _Walk:
    """The stage walk both sides share. It keeps the known pixels and their signed coding errors
    (which later stages read) and, per stage, calls ``begin(stage)`` once (the per-channel weights,
    and the per-channel (features, classes) of the whole stage when it already has them, else
    None) and
    ``code(chunk, ch, feats, cls, weights)`` per chunk and channel, which returns the chunk's
    true values and predictions; ``base()`` gives the first pixel."""

    def __init__(self, shape: tuple[int, int, int]) -> None:
        self.shape = shape
        # the walk's memory is three times the image's: values (uint8) and signed errors (int16)
        self.known = np.zeros(shape, dtype=np.uint8)
        self.signed = np.zeros(shape, dtype=np.int16)     # coding error (value - prediction) of known pixels

    def context(self, st: il.Stage, ch: int, errors: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """Features and activity classes of channel ``ch`` at a stage's (or chunk's) pixels."""
        f = il.features(self.known, self.signed, ch, st, errors)
        return f, il.activity(f, st.pass_name, errors)

    def run(self, base: Callable, begin: Callable, code: Callable) -> np.ndarray:
        c, h, w = self.shape
        self.known[:, 0, 0] = base()
        step = None
        for st in il.stages(h, w):
            if st.step != step:
                il.refresh(self.known, st.step)
                il.refresh(self.signed, st.step)
                step = st.step
            weights, cached = begin(st)
            parts = _chunks(st)
            for part in parts:
                errors: list[np.ndarray] = []
                grid = np.ix_(part.rows, part.cols)
                for ch in range(c):
                    if cached and len(parts) == 1:
                        f, cls = cached[ch]           # the encoder's choice already built them
                    else:
                        f, cls = self.context(part, ch, errors)
                    vals, pred = code(part, ch, f, cls, weights[ch])
                    self.known[ch][grid] = vals.reshape(len(part.rows), len(part.cols))
                    errors.append(vals - pred)
                    self.signed[ch][grid] = errors[-1].reshape(len(part.rows), len(part.cols))
        return self.known


def encode_photo(img: np.ndarray, model: PhotoModel) -> tuple[bytes, float]:
    """Payload and ideal bits of one (H, W) or (H, W, C) uint8 image."""
    x = _order(img)
    walk = _Walk(x.shape)
    # in stream order: ("header", per-channel (mode, weights)) per stage, then
    # ("errors", chunk, channel, symbols, classes) per chunk and channel
    records: list[tuple] = []

    def begin(st):
        # the channels' choices interact (a colour channel's features hold the earlier channels'
        # errors), so whole configurations are compared: all trained defaults, all interpolation,
        # and per channel the cheapest given the channels before it
        if st.count < SMALL:          # too few pixels for the choice to matter: trained defaults
            chosen = [(0, model.bases(st.level, st.pass_name, ch)[0]) for ch in range(x.shape[0])]
            records.append(("header", chosen))
            return [wts for _, wts in chosen], None
        sub, scale = _sample(st)
        grid = np.ix_(sub.rows, sub.cols)
        own = {}                      # per channel: features without error rows, own activity part
        for ch in range(x.shape[0]):
            f0 = il.features(walk.known, walk.signed, ch, sub, [])
            own[ch] = (f0, il.spread(f0, st.pass_name, 0), x[ch][grid].reshape(-1))
        k = len(il.OFFSETS[st.pass_name])
        best = None
        for fixed in (0, 1, None) if st.count >= MIN_FIT else (0, 1):
            # the fixed configurations are only estimated: every EVAL_STRIDE-th sample pixel will do
            stride = 1 if fixed is None else EVAL_STRIDE
            chosen, errors, bits, ctx = [], [], 0.0, []
            for ch in range(x.shape[0]):
                f0, sp, tgt = (a[..., ::stride] for a in own[ch])
                f = np.concatenate([f0[:k], np.stack(errors), f0[k:]]) if errors else f0
                cls = il.classes(sp, errors)
                wts, mode, est, pred = _choose_weights(f, tgt, model.bases(st.level, st.pass_name, ch), cls,
                                                       scale * own[ch][2].size / tgt.size, fixed)
                errors.append(tgt - pred)
                chosen.append((mode, wts))
                ctx.append((f, cls))
                bits += est
            if best is None or bits < best[0]:
                best = (bits, chosen, ctx, stride)
        records.append(("header", best[1]))
        full = sub.count == st.count
        return [wts for _, wts in best[1]], (best[2] if full and best[3] == 1 else None)

    def code(part, ch, f, cls, wts):
        tgt = x[ch][np.ix_(part.rows, part.cols)].reshape(-1)
        pred = _pick(il.predict(f, wts), _buckets(cls))
        records.append(("errors", part, ch, il.fold(tgt, pred), cls))
        return tgt, pred

    walk.run(lambda: x[:, 0, 0], begin, code)
    choice, ideal = _choose_tables([r[1:] for r in records if r[0] == "errors"], x.shape[0], model)
    enc = EntropyEncoder("ans", track_ideal=False)
    enc.encode_uniform(x[:, 0, 0], 8)
    _put_choices(enc, choice)
    for kind, *rec in records:
        if kind == "header":
            for mode, wts in rec[0]:
                enc.encode_uniform(np.array([mode]), 2)
                if mode == FITTED:
                    enc.encode_uniform(wts.reshape(-1) + (1 << 15), 16)
            continue
        part, ch, sym, cls = rec
        table = choice[(_group(part.level), part.pass_name, ch)]
        order, groups = _class_slices(cls)
        sym = sym[order]
        for k, sl in groups:
            enc.encode(sym[sl], model.bank[table[k]])
    return enc.finish(), ideal + 8 * x.shape[0]


def _choose_tables(records, c: int, model: PhotoModel) -> tuple[dict[tuple[int, str, int], np.ndarray], float]:
    """Per (group, pass, channel): the cheapest bank table for each activity class (exact bits);
    classes that never occur repeat the previous class's choice (free to signal). Also returns
    the errors' ideal bits under those tables (side information not included)."""
    hist: dict[tuple[int, str, int], np.ndarray] = {}
    for st, ch, sym, cls in records:
        key = (_group(st.level), st.pass_name, ch)
        hh = hist.setdefault(key, np.zeros(il.CLASSES * 256, dtype=np.int64))
        hh += np.bincount(cls.astype(np.int64) * 256 + sym, minlength=il.CLASSES * 256)
    choice, ideal = {}, 0.0
    for key in _choice_keys(c):
        hh = hist.get(key, np.zeros(il.CLASSES * 256, dtype=np.int64)).reshape(il.CLASSES, 256)
        bits = hh @ model.cost.T
        best = np.argmin(bits, axis=1)
        ideal += float(bits[np.arange(il.CLASSES), best].sum())
        prev = 0
        for k in range(il.CLASSES):
            if not hh[k].any():
                best[k] = prev
            prev = best[k]
        choice[key] = best.astype(np.int64)
    return choice, ideal


def _choice_keys(c: int) -> list[tuple[int, str, int]]:
    return sorted((g, p, ch) for g in range(TABLE_GROUPS) for p in il.PASSES for ch in range(c))


def _put_choices(enc: EntropyEncoder, choice) -> None:
    for key in sorted(choice):
        t = choice[key]
        enc.encode_uniform(t[:1], BANK_BITS)
        enc.encode(np.diff(t) + _DELTA, _DELTA_PMF)


def _get_choices(dec: EntropyDecoder, c: int, n_tables: int) -> dict[tuple[int, str, int], np.ndarray]:
    choice = {}
    for key in _choice_keys(c):
        first = dec.decode_uniform(1, BANK_BITS)
        t = np.cumsum(np.concatenate([first, dec.decode(_DELTA_PMF, il.CLASSES - 1).astype(np.int64) - _DELTA]))
        if t.min() < 0 or t.max() >= n_tables:
            raise CodecError("flow: table choice out of range (corrupt payload)")
        choice[key] = t
    return choice


def decode_photo(payload: bytes, shape: tuple[int, ...], model: PhotoModel) -> np.ndarray:
    """Inverse of ``encode_photo`` for an image of ``shape`` ((H, W) or (H, W, C))."""
    h, w = shape[:2]
    c = 1 if len(shape) == 2 else int(shape[2])
    dec = EntropyDecoder(payload, "ans")
    state: dict = {}

    def base():
        px = dec.decode_uniform(c, 8)
        state["choice"] = _get_choices(dec, c, len(model.bank))
        return px

    def begin(st):
        out = []
        for ch in range(c):
            bases = model.bases(st.level, st.pass_name, ch)
            mode = int(dec.decode_uniform(1, 2)[0])
            if mode == FITTED:
                wts = (dec.decode_uniform(bases[0].size, 16).astype(np.int64) - (1 << 15)).reshape(bases[0].shape)
            elif mode < len(bases):
                wts = bases[mode]
            else:
                raise CodecError("flow: unknown predictor mode (corrupt payload)")
            out.append(wts)
        return out, None

    def code(part, ch, f, cls, wts):
        pred = _pick(il.predict(f, wts), _buckets(cls))
        table = state["choice"][(_group(part.level), part.pass_name, ch)]
        order, groups = _class_slices(cls)
        sym = np.empty(cls.size, dtype=np.int32)
        for k, sl in groups:
            sym[order[sl]] = dec.decode(model.bank[table[k]], sl.stop - sl.start)
        return il.unfold(sym, pred), pred

    return _unorder(_Walk((c, h, w)).run(base, begin, code), shape)
