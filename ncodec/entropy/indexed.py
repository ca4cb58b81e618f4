"""Indexed table sets: many integer PMFs, each symbol picks one by index (per channel, per scale).

This is the format compressai's entropy models use (one CDF per index, with an offset and a
final *overflow* bin), so tables imported from compressai and our own quantized
Gaussian/Laplace/logistic families share one coding path. Values outside a table's range
are coded as the overflow bin followed by an Elias-gamma code of the excess and its sign.
Symbols are grouped by index so every constriction call uses one shared table (fast).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .coder import EntropyDecoder, EntropyEncoder
from .tables import check_pmf

_BIT = np.array([1, 1], dtype=np.int64)


@dataclass
class IndexedTables:
    """``pmfs[i]`` is an int PMF over values ``offsets[i] + j`` for j < len-1; the last bin is overflow."""

    pmfs: list[np.ndarray]
    offsets: np.ndarray

    def __post_init__(self) -> None:
        self.pmfs = [check_pmf(p).astype(np.int64) for p in self.pmfs]
        self.offsets = np.asarray(self.offsets, dtype=np.int64)
        if len(self.pmfs) != len(self.offsets):
            raise ValueError("one offset per table")
        self.sizes = np.array([len(p) - 1 for p in self.pmfs], dtype=np.int64)

    def _split(self, values: np.ndarray, indexes: np.ndarray):
        v = np.asarray(values, dtype=np.int64).reshape(-1)
        idx = np.asarray(indexes, dtype=np.int64).reshape(-1)
        if v.shape != idx.shape:
            raise ValueError("values and indexes must have the same number of elements")
        if idx.size and (idx.min() < 0 or idx.max() >= len(self.pmfs)):
            raise ValueError("table index out of range")
        rel = v - self.offsets[idx]
        size = self.sizes[idx]
        over = (rel < 0) | (rel >= size)
        sym = np.where(over, size, rel)
        return v, idx, rel, size, over, sym

    def ideal_bits(self, values: np.ndarray, indexes: np.ndarray) -> float:
        """-sum log2 P of the in-range values plus the exact bits spent on overflow codes."""
        _, idx, rel, size, over, sym = self._split(values, indexes)
        bits = 0.0
        for i in np.unique(idx):
            sel = idx == i
            p = self.pmfs[i]
            bits -= float(np.log2(p[sym[sel]] / p.sum()).sum())
        excess = np.where(rel[over] < 0, -rel[over] - 1, rel[over] - size[over])
        bits += float((2 * np.floor(np.log2(excess + 1)) + 2).sum())
        return bits

    def encode(self, enc: EntropyEncoder, values: np.ndarray, indexes: np.ndarray) -> None:
        """Code integer ``values``, each with the table ``indexes`` names."""
        _, idx, rel, size, over, sym = self._split(values, indexes)
        order = np.argsort(idx, kind="stable")
        uniq, starts = np.unique(idx[order], return_index=True)
        bounds = list(starts) + [len(order)]
        for j, i in enumerate(uniq):
            enc.encode(sym[order[bounds[j]:bounds[j + 1]]], self.pmfs[i])
        if over.any():
            r = rel[over]
            neg = r < 0
            excess = np.where(neg, -r - 1, r - size[over])
            _encode_gamma(enc, excess + 1)
            enc.encode(neg.astype(np.int32), _BIT)

    def decode(self, dec: EntropyDecoder, indexes: np.ndarray) -> np.ndarray:
        """Inverse of ``encode`` given the same indexes; returns int64 values in index order."""
        idx = np.asarray(indexes, dtype=np.int64).reshape(-1)
        if idx.size and (idx.min() < 0 or idx.max() >= len(self.pmfs)):
            raise ValueError("table index out of range")
        order = np.argsort(idx, kind="stable")
        uniq, starts = np.unique(idx[order], return_index=True)
        bounds = list(starts) + [len(order)]
        sym = np.empty(idx.size, dtype=np.int64)
        for j, i in enumerate(uniq):
            sel = order[bounds[j]:bounds[j + 1]]
            sym[sel] = dec.decode(self.pmfs[i], len(sel))
        size = self.sizes[idx]
        over = sym == size
        vals = sym + self.offsets[idx]
        if over.any():
            excess = _decode_gamma(dec, int(over.sum())) - 1
            neg = dec.decode(_BIT, int(over.sum())).astype(bool)
            rel = np.where(neg, -excess - 1, excess + size[over])
            vals[over] = rel + self.offsets[idx[over]]
        return vals


def _encode_gamma(enc: EntropyEncoder, n: np.ndarray) -> None:
    """Elias-gamma code of positive ints: bit length in unary, then the bits below the top one."""
    n = np.asarray(n, dtype=np.int64)
    nb = np.floor(np.log2(n)).astype(np.int64)
    # correct floating point at powers of two
    nb = np.where((1 << (nb + 1)) <= n, nb + 1, nb)
    nb = np.where((1 << nb) > n, nb - 1, nb)
    maxb = int(nb.max()) if n.size else 0
    for b in range(maxb + 1):        # unary: for each element still "open", emit 1 if nb > b
        live = nb >= b
        enc.encode((nb[live] > b).astype(np.int32), _BIT)
    for b in range(maxb - 1, -1, -1):
        live = nb > b
        enc.encode(((n[live] >> b) & 1).astype(np.int32), _BIT)


def _decode_gamma(dec: EntropyDecoder, count: int) -> np.ndarray:
    nb = np.zeros(count, dtype=np.int64)
    live = np.ones(count, dtype=bool)
    b = 0
    while live.any():
        if b > 62:
            from ..errors import CodecError
            raise CodecError("entropy-coded payload is malformed (overflow code too long)")
        bits = dec.decode(_BIT, int(live.sum())).astype(bool)
        pos = np.flatnonzero(live)
        nb[pos[bits]] += 1
        live[pos[~bits]] = False
        b += 1
    n = np.ones(count, dtype=np.int64)
    maxb = int(nb.max()) if count else 0
    for b in range(maxb - 1, -1, -1):
        live = nb > b
        bits = dec.decode(_BIT, int(live.sum())).astype(np.int64)
        # top bit: set once when we first reach an element's highest position
        n[live] = np.where(nb[live] - 1 == b, (1 << (b + 1)) | (bits << b), n[live] | (bits << b))
    n[nb == 0] = 1
    return n
