"""Coding-time HCLT math: exact-integer conditionals in DFS order, and a batched multi-stream rANS.

Why integers: encoder and decoder must build bit-identical tables whatever their batch sizes.
Every matrix product here multiplies a message renormalised to <= 2**20 by a table of integers
<= 2**26 over K <= 64 states, so every partial sum is an integer below 2**53: float64 BLAS is then
exact in any summation order, and all other ops are element-wise IEEE ops. The conditionals are
thus batch-, thread- and BLAS-invariant before ``quantize_probs`` (the shared float->int step)
turns them into 16-bit tables.

Each pixel is coded as two 16-ary symbols (high nibble, then low nibble given the high one): an
exact chain-rule split of the same 256-way conditional that makes tables 8x smaller to build.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from ..entropy import quantize_probs
from ..errors import CodecError
from .hclt import HCLT

MSG_BITS = 20          # messages are rescaled to integers in [0, 2**MSG_BITS] before each product
TAB_BITS = 26          # emission / transition probabilities as integers of 2**TAB_BITS
NIB = 16               # pixel = high nibble * 16 + low nibble
CODE_PREC = 16         # bits of the coded tables: a rANS stream started at state 0 wastes up to about this
                       # many bits per record; 16 instead of 24 saves ~0.01 bit/dim on MNIST at +0.0002 model cost

# seconds spent in each stage (model math / float->int tables / rANS), for benchmark reports
TIMERS = {"model": 0.0, "quantize": 0.0, "rans": 0.0}


def _renorm(a: np.ndarray) -> np.ndarray:
    """Rows scaled by a power of two so their max lies in [2**(MSG_BITS-1), 2**MSG_BITS), rounded to integers.

    Power-of-two scaling is exact, and the rounding is element-wise IEEE: batch-invariant.
    """
    _, e = np.frexp(a.max(axis=1, keepdims=True))
    return np.rint(a * np.ldexp(1.0, MSG_BITS - e))


@dataclass
class CodingTables:
    """Integer circuit parameters and the DFS schedule shared by encoder and decoder."""

    order: np.ndarray            # (D,) coding order (DFS pre-order)
    parent: np.ndarray           # (D,)
    closes: list[list[int]]      # closes[t]: nodes whose subtree is complete after step t (deepest first)
    emit_t: np.ndarray           # (D, V, K) integer-valued float64: emission columns by pixel value
    emit_lo: np.ndarray          # (D, 16, K, 16) [i, high nibble, state, low nibble]
    emit_hi: np.ndarray          # (D, K, 16) sums over each high nibble
    trans: np.ndarray            # (D, K, K) [i, parent state, child state]
    prior: np.ndarray            # (K,)

    @classmethod
    def from_model(cls, model: HCLT) -> "CodingTables":
        k, v = model.num_latents, model.num_values
        if v != 256 or k > 64:
            raise ValueError("coding tables need 256 values and at most 64 latent states")
        scale = float(1 << TAB_BITS)
        emit = np.maximum(1.0, np.rint(np.exp(model.log_emit.detach().double().numpy()) * scale))
        emit = np.ascontiguousarray(emit.transpose(0, 2, 1))                   # (D, K, V)
        trans = np.maximum(1.0, np.rint(np.exp(model.log_trans.detach().double().numpy()) * scale))
        prior = np.maximum(1.0, np.rint(np.exp(model.log_prior.detach().double().numpy()) * float(1 << MSG_BITS)))
        emit_hi = emit.reshape(emit.shape[0], k, NIB, NIB).sum(axis=3)
        tree = model.tree
        order = tree.dfs_order()
        children = tree.children()
        closes: list[list[int]] = []
        for i in order:
            done = []
            node = int(i)
            if not children[node]:
                # a leaf completes itself, then every ancestor whose last child just completed
                while True:
                    done.append(node)
                    p = int(tree.parent[node])
                    if p < 0 or children[p][-1] != node:
                        break
                    node = p
            closes.append(done)
        emit_t = np.ascontiguousarray(emit.transpose(0, 2, 1))
        emit_lo = np.ascontiguousarray(emit.reshape(emit.shape[0], k, NIB, NIB).transpose(0, 2, 1, 3))
        return cls(order, tree.parent.copy(), closes, emit_t, emit_lo, emit_hi, trans, prior)

    def walk(self, batch: int):
        """Generator over the 2*D coding steps: yields float tables (B, 16); send back the coded symbols."""
        delta: dict[int, np.ndarray] = {}
        msg: dict[int, np.ndarray] = {}
        for t, i in enumerate(self.order):
            i = int(i)
            p = int(self.parent[i])
            if p < 0:
                d = np.broadcast_to(self.prior, (batch, len(self.prior))).copy()
            else:
                d = _renorm(_renorm(delta[p] * msg[p]) @ self.trans[i])
            delta[i] = d
            hi = yield d @ self.emit_hi[i]                                   # (B, 16)
            lo = yield np.matmul(d[:, None, :], self.emit_lo[i][hi])[:, 0, :]   # (B, 16)
            msg[i] = self.emit_t[i][hi * NIB + lo]                            # (B, K)
            for j in self.closes[t]:
                pj = int(self.parent[j])
                if pj >= 0:
                    u = _renorm(msg[j]) @ self.trans[j].T                     # (B, K parent)
                    msg[pj] = _renorm(msg[pj] * u)
                del msg[j], delta[j]


def symbols_of(x: np.ndarray, order: np.ndarray) -> np.ndarray:
    """(B, D) pixel values -> (B, 2D) nibble symbols in coding order."""
    xo = np.asarray(x, dtype=np.int64)[:, order]
    out = np.empty((xo.shape[0], 2 * xo.shape[1]), dtype=np.int64)
    out[:, 0::2] = xo >> 4
    out[:, 1::2] = xo & 15
    return out


def encode_tables(tables: CodingTables, x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(B, D) pixels -> symbols, their integer frequencies and cumulative starts (each (B, 2D)).

    Each step's (B, 16) table goes through ``quantize_probs`` on its own, exactly as the decoder
    sees it (small cache-resident calls; rows are independent so the result is the same either way).
    """
    syms = symbols_of(x, tables.order)
    b, n = syms.shape
    freq = np.empty((b, n), dtype=np.int64)
    start = np.empty((b, n), dtype=np.int64)
    rows = np.arange(b)
    tm = tq = 0.0
    t0 = time.perf_counter()
    gen = tables.walk(b)
    tab = next(gen)
    for s in range(n):
        t1 = time.perf_counter()
        pmf = quantize_probs(tab, CODE_PREC)
        tq += time.perf_counter() - t1
        sym = syms[:, s]
        freq[:, s] = pmf[rows, sym]
        cdf = np.cumsum(pmf, axis=1)
        start[:, s] = cdf[rows, sym] - freq[:, s]
        if s + 1 < n:
            tab = gen.send(sym)
    gen.close()
    TIMERS["model"] += time.perf_counter() - t0 - tq
    TIMERS["quantize"] += tq
    return syms, freq, start


# ------------------------------------------------------------------ batched rANS (one stream per item)

_PREC = CODE_PREC
_MASK = np.uint64((1 << _PREC) - 1)
_L = np.uint64(1 << 32)


def rans_encode(freq: np.ndarray, start: np.ndarray) -> list[bytes]:
    """Code row b's symbols, given as integer frequencies / cumulative starts (B, S) of CODE_PREC-bit tables, into its own payload.

    rANS with a 64-bit state and 32-bit words, started at state 0 so short messages pay no start-up
    cost. Payload = emitted words in decoding order, then the final state's significant bytes.
    """
    t0 = time.perf_counter()
    b, n = freq.shape
    fr = np.ascontiguousarray(freq.T, dtype=np.uint64)             # (S, B): one contiguous row per step
    st = np.ascontiguousarray(start.T, dtype=np.uint64)
    x = np.zeros(b, dtype=np.uint64)
    em_stream, em_word = [], []
    for s in range(n - 1, -1, -1):
        f = fr[s]
        c = st[s]
        flush = x >= (f << np.uint64(64 - _PREC))                      # x >= f * 2**(64-prec): emit a word
        if flush.any():
            idx = np.flatnonzero(flush)
            em_stream.append(idx)
            em_word.append((x[idx] & np.uint64(0xFFFFFFFF)).astype(np.uint32))
            x[idx] >>= np.uint64(32)
        x = ((x // f) << np.uint64(_PREC)) + (x % f) + c
    out = []
    if em_stream:
        es = np.concatenate(em_stream)
        wd = np.concatenate(em_word)
        # words were emitted in reverse coding order; the decoder reads the last emitted first
        ordr = np.argsort(es, kind="stable")
        es, wd = es[ordr], wd[ordr]
        bounds = np.searchsorted(es, np.arange(b + 1))
    else:
        wd = np.zeros(0, np.uint32)
        bounds = np.zeros(b + 1, dtype=np.int64)
    for r in range(b):
        words = wd[bounds[r]:bounds[r + 1]][::-1]
        state = int(x[r]).to_bytes(8, "little").rstrip(b"\0")
        out.append(words.astype("<u4").tobytes() + state)
    TIMERS["rans"] += time.perf_counter() - t0
    return out


class RansDecoder:
    """Decodes many payloads of ``rans_encode`` in lock-step: one vectorised step per coded symbol."""

    def __init__(self, payloads: list[bytes]) -> None:
        b = len(payloads)
        nw = np.zeros(b, dtype=np.int64)
        states = np.zeros(b, dtype=np.uint64)
        for r, p in enumerate(payloads):
            n = len(p)
            w = 0 if n <= 8 else (n - 5) // 4
            nw[r] = w
            tail = p[4 * w:]
            if len(tail) > 8 or (w > 0 and len(tail) < 5):
                raise CodecError("hclt: payload has an invalid length")
            states[r] = int.from_bytes(tail, "little")
        self.words = np.zeros((b, max(1, int(nw.max()) if b else 1)), dtype=np.uint64)
        for r, p in enumerate(payloads):
            if nw[r]:
                self.words[r, :nw[r]] = np.frombuffer(p[:4 * nw[r]], dtype="<u4")
        self.nwords = nw
        self.ptr = np.zeros(b, dtype=np.int64)
        self.x = states
        self.rows = np.arange(b)

    def decode(self, pmf: np.ndarray) -> np.ndarray:
        """Decode one symbol per stream with per-stream integer PMFs (B, A)."""
        cdf = np.cumsum(pmf, axis=1)
        slot = (self.x & _MASK).astype(np.int64)
        sym = (cdf <= slot[:, None]).sum(axis=1)
        if (sym >= pmf.shape[1]).any():
            raise CodecError("hclt: corrupt payload (symbol out of range)")
        f = pmf[self.rows, sym].astype(np.uint64)
        start = (cdf[self.rows, sym] - pmf[self.rows, sym]).astype(np.uint64)
        x = f * (self.x >> np.uint64(_PREC)) + slot.astype(np.uint64) - start
        refill = (x < _L) & (self.ptr < self.nwords)
        if refill.any():
            idx = np.flatnonzero(refill)
            x[idx] = (x[idx] << np.uint64(32)) | self.words[idx, self.ptr[idx]]
            self.ptr[idx] += 1
        self.x = x
        return sym

    def check_done(self) -> None:
        """Every stream must end in state 0 with all words read, or the payload was damaged."""
        if (self.x != 0).any() or (self.ptr != self.nwords).any():
            raise CodecError("hclt: corrupt payload (stream did not end cleanly)")


def decode_pixels(tables: CodingTables, payloads: list[bytes]) -> np.ndarray:
    """Payloads -> (B, D) uint8 pixels in natural (not coding) order."""
    b = len(payloads)
    dec = RansDecoder(payloads)
    d = len(tables.order)
    out = np.empty((b, 2 * d), dtype=np.int64)
    tq = tr = 0.0
    t_start = time.perf_counter()
    gen = tables.walk(b)
    tab = next(gen)
    for s in range(2 * d):
        t0 = time.perf_counter()
        pmf = quantize_probs(tab, CODE_PREC)
        t1 = time.perf_counter()
        sym = dec.decode(pmf)
        tq += t1 - t0
        tr += time.perf_counter() - t1
        out[:, s] = sym
        if s + 1 < 2 * d:
            tab = gen.send(sym)
    gen.close()
    dec.check_done()
    TIMERS["model"] += time.perf_counter() - t_start - tq - tr
    TIMERS["quantize"] += tq
    TIMERS["rans"] += tr
    pix = np.empty((b, d), dtype=np.uint8)
    pix[:, tables.order] = (out[:, 0::2] * NIB + out[:, 1::2]).astype(np.uint8)
    return pix
