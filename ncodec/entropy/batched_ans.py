"""Batched lock-step rANS: B independent streams, one vectorised step per symbol position.

Autoregressive decoders (circuits, ARMs) compute the table of step s from the symbols of steps
< s, for every item of a batch at once. This coder matches that shape: step s codes one symbol
per stream with that stream's own integer table, so a batch of B items costs S vectorised steps
instead of B*S scalar ones, and every stream is still an independent payload.

Coder: rANS with a 64-bit state and 32-bit words, tables of ``precision`` bits (1..32). Each
stream starts at state 0, so short messages pay no start-up cost. Stream b codes positions
0 .. lengths[b]-1 (streams of different lengths run in the same lock-step loop; a stream past
its end is left alone). Payload layout (``docs/format.md``, "Batched rANS streams"):

    words   4 bytes each, little-endian, in the order the decoder reads them
    state   the final encoder state, little-endian, trailing zero bytes dropped;
            a state of 0 is written as one zero byte, so no payload is empty

Decoding checks what a stream can hold before allocating (at most one word per symbol, a state
of at most 8 bytes and at least 5 behind any word, canonical bytes), that every word it reads is
one the encoder could have written, and that the stream ends cleanly (state 0, every word read);
any failure is a ``CodecError``. A payload that passes is exactly the encoding of the symbols it
decoded to (re-encoding gives the same bytes). The code has no redundancy (that is what starting
at state 0 buys), so some damaged payloads are valid streams of other symbols: detecting those is
the job of a content hash above this layer.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from ..errors import CodecError

_WORD_BITS = np.uint64(32)
_WORD_MASK = np.uint64(0xFFFFFFFF)
_LOW = np.uint64(1 << 32)             # decoder states below this take one word
MAX_PRECISION = 32                    # the 64-bit state holds two 32-bit words: tables of at most 32 bits


def _check_precision(precision: int) -> int:
    p = int(precision)
    if not 1 <= p <= MAX_PRECISION:
        raise ValueError(f"batched rANS tables need a precision of 1..{MAX_PRECISION} bits, not {precision}")
    return p


def _lengths(lengths: int | Sequence[int] | np.ndarray | None, batch: int, steps: int) -> np.ndarray:
    """Per-stream symbol counts as an int64 (B,) array (default: every stream has ``steps``)."""
    if lengths is None:
        return np.full(batch, steps, dtype=np.int64)
    n = np.broadcast_to(np.asarray(lengths, dtype=np.int64), (batch,)).copy()
    if (n < 0).any() or (n > steps).any():
        raise ValueError(f"stream lengths must lie in 0..{steps}")
    return n


def _cumsum0(t: np.ndarray) -> np.ndarray:
    """Inclusive cumulative sums down axis 0 of an integer (K, B) array.

    A loop of K row additions: numpy's own accumulate along axis 0 is several times slower here.
    """
    out = np.empty(t.shape, dtype=np.int64)
    out[0] = t[0]
    for k in range(1, t.shape[0]):
        np.add(out[k - 1], t[k], out=out[k])
    return out


def freq_start(pmf: np.ndarray, symbols: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Frequencies and cumulative starts (B,) of ``symbols`` (B,) under integer PMFs (B, K)."""
    pt = np.asarray(pmf).T                                          # (K, B)
    sym = np.asarray(symbols, dtype=np.int64)
    cols = np.arange(len(sym))
    f = pt[sym, cols].astype(np.int64)
    return f, _cumsum0(pt)[sym, cols] - f


def _state_bytes(state: int) -> bytes:
    """The canonical bytes of a final state: significant bytes, little-endian; 0 -> one zero byte."""
    return int(state).to_bytes(8, "little").rstrip(b"\0") or b"\0"


def ans_encode(freq: np.ndarray, start: np.ndarray, precision: int,
               lengths: int | Sequence[int] | np.ndarray | None = None) -> list[bytes]:
    """Code row b's symbols, given as integer frequencies / cumulative starts (B, S), into its own payload.

    Only positions < lengths[b] of row b are coded (default: all S). Tables must satisfy
    1 <= freq and start + freq <= 2**precision; a ValueError says otherwise.
    """
    prec = _check_precision(precision)
    freq = np.asarray(freq)
    start = np.asarray(start)
    if freq.ndim != 2 or freq.shape != start.shape:
        raise ValueError("freq and start must be (B, S) arrays of the same shape")
    b, n = freq.shape
    count = _lengths(lengths, b, n)
    coded = np.arange(n)[:, None] < count[None, :]                 # (S, B)
    f64, c64 = freq.T.astype(np.int64), start.T.astype(np.int64)
    if (((f64 < 1) | (c64 < 0) | (f64 + c64 > (1 << prec))) & coded).any():
        raise ValueError(f"tables must have 1 <= freq and 0 <= start, start + freq <= 2**{prec}")
    fr = np.ascontiguousarray(np.where(coded, f64, 1), dtype=np.uint64)   # (S, B): one contiguous row per step
    st = np.ascontiguousarray(np.where(coded, c64, 0), dtype=np.uint64)
    x = np.zeros(b, dtype=np.uint64)
    em_stream: list[np.ndarray] = []
    em_word: list[np.ndarray] = []
    ragged = bool((count < n).any())
    shift, up = np.uint64(64 - prec), np.uint64(prec)
    for s in range(n - 1, -1, -1):                                  # rANS codes backwards
        f, c = fr[s], st[s]
        live = coded[s] if ragged else None
        flush = (x >> shift) >= f                                   # x >= f * 2**(64-prec): emit a word
        if live is not None:
            flush &= live
        if flush.any():
            idx = np.flatnonzero(flush)
            em_stream.append(idx)
            em_word.append((x[idx] & _WORD_MASK).astype(np.uint32))
            x[idx] >>= _WORD_BITS
        nxt = ((x // f) << up) + (x % f) + c
        x = nxt if live is None else np.where(live, nxt, x)
    return _assemble(x, em_stream, em_word)


def _assemble(x: np.ndarray, em_stream: list[np.ndarray], em_word: list[np.ndarray]) -> list[bytes]:
    """Per-stream payloads: emitted words in decoding order (last emitted first), then the state bytes."""
    b = len(x)
    if em_stream:
        es = np.concatenate(em_stream)
        wd = np.concatenate(em_word)
        order = np.argsort(es, kind="stable")
        es, wd = es[order], wd[order]
        bounds = np.searchsorted(es, np.arange(b + 1))
    else:
        wd = np.zeros(0, np.uint32)
        bounds = np.zeros(b + 1, dtype=np.int64)
    return [wd[bounds[r]:bounds[r + 1]][::-1].astype("<u4").tobytes() + _state_bytes(x[r]) for r in range(b)]


class BatchedAnsEncoder:
    """Collects one (B,) step at a time in coding order, then codes all B streams (rANS runs backwards).

    ``push`` takes frequencies and starts, ``push_pmf`` full integer PMFs (B, K) and the symbols;
    ``finish`` returns one payload per stream. ``lengths`` (int or (B,)) lets streams end early:
    entries of steps at or past a stream's length are ignored.
    """

    def __init__(self, batch: int, precision: int, lengths: int | Sequence[int] | np.ndarray | None = None) -> None:
        self.batch = int(batch)
        self.precision = _check_precision(precision)
        self.lengths = lengths
        self._freq: list[np.ndarray] = []
        self._start: list[np.ndarray] = []

    def push(self, freq: np.ndarray, start: np.ndarray) -> None:
        """Add the next step: each stream's symbol frequency and cumulative start (B,)."""
        f = np.asarray(freq, dtype=np.int64).reshape(-1)
        c = np.asarray(start, dtype=np.int64).reshape(-1)
        if f.shape != (self.batch,) or c.shape != (self.batch,):
            raise ValueError(f"each step needs ({self.batch},) frequencies and starts")
        self._freq.append(f)
        self._start.append(c)

    def push_pmf(self, pmf: np.ndarray, symbols: np.ndarray) -> None:
        """Add the next step from integer PMFs (B, K) summing to 2**precision and symbols (B,)."""
        self.push(*freq_start(pmf, symbols))

    def finish(self) -> list[bytes]:
        """One payload per stream."""
        if not self._freq:
            return ans_encode(np.zeros((self.batch, 0), np.int64), np.zeros((self.batch, 0), np.int64),
                              self.precision, self.lengths)
        return ans_encode(np.stack(self._freq, 1), np.stack(self._start, 1), self.precision, self.lengths)


class BatchedAnsDecoder:
    """Decodes B payloads of ``ans_encode`` in lock-step: one vectorised step per symbol position.

    ``lengths`` (int or (B,)) is how many symbols each stream holds, known to the caller (e.g. from
    the item's metadata); payloads that cannot hold them are refused before anything is allocated.
    Call ``decode`` once per position, then ``finish``.
    """

    def __init__(self, payloads: Sequence[bytes], precision: int,
                 lengths: int | Sequence[int] | np.ndarray) -> None:
        self.precision = _check_precision(precision)
        b = len(payloads)
        self.lengths = np.broadcast_to(np.asarray(lengths, dtype=np.int64), (b,)).copy()
        if (self.lengths < 0).any():
            raise ValueError("stream lengths must be >= 0")
        for p, n in zip(payloads, self.lengths):
            if len(p) > 4 * int(n) + 8:
                raise CodecError(f"rANS: payload of {len(p)} bytes is too long for {n} symbols")
        raw = [bytes(p) for p in payloads]
        self.nwords = np.zeros(b, dtype=np.int64)
        self.x = np.zeros(b, dtype=np.uint64)
        for r, p in enumerate(raw):
            self.nwords[r], self.x[r] = _parse(p, int(self.lengths[r]))
        self.words = np.zeros((b, max(1, int(self.nwords.max(initial=0)))), dtype=np.uint64)
        for r, p in enumerate(raw):
            if self.nwords[r]:
                self.words[r, :self.nwords[r]] = np.frombuffer(p, dtype="<u4", count=int(self.nwords[r]))
        self.ptr = np.zeros(b, dtype=np.int64)
        self.rows = np.arange(b)
        self.step = 0
        self._ragged = bool(b and (self.lengths != self.lengths.max()).any())
        self._mask = np.uint64((1 << self.precision) - 1)
        # the encoder emits a word only from states >= f * 2**(64-prec): a read word needs x >= f * 2**(32-prec)
        self._flush_shift = np.uint64(32 - self.precision)

    def decode(self, pmf: np.ndarray) -> np.ndarray:
        """Decode one symbol per stream with integer PMFs (B, K) summing to 2**precision.

        Streams already past their length return -1 and keep their state. Column-major (B, K)
        tables (views of (K, B) arrays) are the fast layout.
        """
        pt = np.asarray(pmf).T                                      # (K, B)
        if pt.ndim != 2 or pt.shape[1] != len(self.x) or pt.shape[0] < 1:
            raise ValueError(f"each step needs ({len(self.x)}, K) PMFs")
        cdf = _cumsum0(pt)
        if (cdf[-1] != (1 << self.precision)).any():
            raise ValueError(f"PMF rows must sum to 2**{self.precision}")
        slot = (self.x & self._mask).astype(np.int64)
        sym = (cdf[:-1] <= slot).sum(axis=0)
        f = pt[sym, self.rows].astype(np.int64)
        offset = slot - (cdf[sym, self.rows] - f)                  # position inside the symbol's interval
        x = f.astype(np.uint64) * (self.x >> np.uint64(self.precision)) + offset.astype(np.uint64)
        refill = (x < _LOW) & (self.ptr < self.nwords)
        if self._ragged:
            live = self.step < self.lengths
            x = np.where(live, x, self.x)
            sym = np.where(live, sym, -1)
            refill &= live
        if refill.any():
            idx = np.flatnonzero(refill)
            if (x[idx] < (f[idx].astype(np.uint64) << self._flush_shift)).any():
                raise CodecError("rANS: corrupt payload (a word where the encoder wrote none)")
            x[idx] = (x[idx] << _WORD_BITS) | self.words[idx, self.ptr[idx]]
            self.ptr[idx] += 1
        self.x = x
        self.step += 1
        return sym

    def finish(self) -> None:
        """Every stream must have decoded all its symbols, read all its words and be back at state 0."""
        if (self.step < self.lengths).any():
            raise CodecError("rANS: fewer symbols decoded than the streams hold")
        if (self.x != 0).any() or (self.ptr != self.nwords).any():
            raise CodecError("rANS: corrupt payload (stream did not end cleanly)")


def _parse(p: bytes, symbols: int) -> tuple[int, int]:
    """(word count, initial state) of one payload, or CodecError if it cannot be a stream of ``symbols``."""
    n = len(p)
    if n == 0:
        raise CodecError("rANS: empty payload")
    w = 0 if n <= 8 else (n - 5) // 4
    tail = p[4 * w:]
    if len(tail) > 8 or (w > 0 and len(tail) < 5):
        raise CodecError("rANS: payload has an invalid length")
    if w > symbols:
        raise CodecError(f"rANS: payload of {n} bytes is too long for {symbols} symbols")
    state = int.from_bytes(tail, "little")
    if _state_bytes(state) != tail:
        raise CodecError("rANS: payload does not end in a canonical state")
    return w, state
