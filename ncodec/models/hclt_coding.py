"""Coding-time HCLT math: exact-integer conditionals in DFS order (no entropy coding here).

Why integers: encoder and decoder must build bit-identical tables whatever their batch sizes.
Every matrix product here multiplies a message renormalised to <= 2**20 by a table of integers
<= 2**26 over K <= 64 states, so every partial sum is an integer below 2**53: float64 BLAS is then
exact in any summation order, and all other ops are element-wise IEEE ops. The conditionals are
thus batch-, thread- and BLAS-invariant; the codec (``ncodec.codecs.hclt``) turns them into integer
tables with the shared float->int step and codes them with the batched rANS of ``ncodec.entropy``.

Each pixel is coded as two 16-ary symbols (high nibble, then low nibble given the high one): an
exact chain-rule split of the same 256-way conditional that makes tables 8x smaller to build.
"""
from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass

import numpy as np

from .hclt import HCLT, TreeIndex

MSG_BITS = 20          # messages are rescaled to integers in [0, 2**MSG_BITS] before each product
TAB_BITS = 26          # emission / transition probabilities as integers of 2**TAB_BITS
NIB = 16               # pixel = high nibble * 16 + low nibble


def _renorm(a: np.ndarray) -> np.ndarray:
    """Columns of ``a`` (K, B) scaled by a power of two so their max lies in [2**(MSG_BITS-1), 2**MSG_BITS), rounded.

    Works in place: ``a`` must be a temporary the caller owns. Messages are kept state-major,
    one column per item, so reductions and products run along the long batch axis. Power-of-two
    scaling is exact, and the rounding is element-wise IEEE: batch-invariant.
    """
    _, e = np.frexp(a.max(axis=0))
    np.multiply(a, np.ldexp(1.0, MSG_BITS - e), out=a)
    return np.rint(a, out=a)


def _lo_tables(emit_lo: np.ndarray, d: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """(16, B) low-nibble tables: column b is ``emit_lo[hi[b]] @ d[:, b]``, one product per high nibble present.

    ``emit_lo`` is one node's (16 high, 16 low, K) block. Grouping the columns by their high
    nibble turns B tiny products into at most 16 small ones; every sum is exact (see the module
    docstring), so the grouping cannot change a value.
    """
    cnt = np.bincount(hi, minlength=NIB)
    present = np.flatnonzero(cnt)
    if len(present) == 1:
        return emit_lo[present[0]] @ d
    perm = np.argsort(hi.astype(np.uint8), kind="stable")             # radix sort of small keys
    ds = np.take(d, perm, axis=1)
    grouped = np.empty((NIB, d.shape[1]))
    ends = np.cumsum(cnt)
    for h in present:
        a, b = ends[h] - cnt[h], ends[h]
        np.matmul(emit_lo[h], ds[:, a:b], out=grouped[:, a:b])
    back = np.empty_like(perm)
    back[perm] = np.arange(len(perm))
    return np.take(grouped, back, axis=1)


@dataclass
class CodingTables:
    """Integer circuit parameters and the DFS schedule shared by encoder and decoder.

    All tables are integer-valued float64 laid out for state-major (K, B) messages.
    """

    order: np.ndarray            # (D,) coding order (DFS pre-order)
    parent: np.ndarray           # (D,)
    closes: list[list[int]]      # closes[t]: nodes whose subtree is complete after step t (deepest first)
    emit: np.ndarray             # (D, K, V) [i, state, pixel value]
    emit_lo: np.ndarray          # (D, 16, 16, K) [i, high nibble, low nibble, state]
    emit_hi: np.ndarray          # (D, 16, K) sums over each high nibble
    trans: np.ndarray            # (D, K, K) [i, parent state, child state]
    trans_t: np.ndarray          # (D, K, K) [i, child state, parent state]
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
        d = emit.shape[0]
        emit_hi = np.ascontiguousarray(emit.reshape(d, k, NIB, NIB).sum(axis=3).transpose(0, 2, 1))
        emit_lo = np.ascontiguousarray(emit.reshape(d, k, NIB, NIB).transpose(0, 2, 3, 1))
        tree = model.tree
        return cls(tree.dfs_order(), tree.parent.copy(), _closes(tree), emit, emit_lo, emit_hi,
                   trans, np.ascontiguousarray(trans.transpose(0, 2, 1)), prior)

    def walk(self, batch: int) -> Generator[np.ndarray, np.ndarray, None]:
        """Generator over the 2*D coding steps: yields float tables (B, 16); send back the coded symbols (B,) ints.

        The tables are (B, 16) views of state-major (16, B) arrays; their values do not depend on
        the batch, the thread count or the BLAS in use.
        """
        delta: dict[int, np.ndarray] = {}
        msg: dict[int, np.ndarray] = {}
        for t, i in enumerate(self.order):
            i = int(i)
            p = int(self.parent[i])
            if p < 0:
                d = np.repeat(self.prior[:, None], batch, axis=1)
            else:
                d = _renorm(self.trans_t[i] @ _renorm(delta[p] * msg[p]))
            delta[i] = d
            hi = yield (self.emit_hi[i] @ d).T                                  # (B, 16)
            lo = yield _lo_tables(self.emit_lo[i], d, hi).T                     # (B, 16)
            msg[i] = np.take(self.emit[i], hi * NIB + lo, axis=1, mode="clip")   # (K, B)
            for j in self.closes[t]:
                pj = int(self.parent[j])
                if pj >= 0:
                    u = self.trans[j] @ _renorm(msg[j])                          # (K parent, B); msg[j] is done
                    msg[pj] = _renorm(np.multiply(msg[pj], u, out=u))
                del msg[j], delta[j]


def _closes(tree: TreeIndex) -> list[list[int]]:
    """For each DFS step, the nodes whose subtree it completes: the leaf itself, then every ancestor
    whose last child just completed (deepest first)."""
    children = tree.children()
    closes: list[list[int]] = []
    for i in tree.dfs_order():
        done = []
        node = int(i)
        if not children[node]:
            while True:
                done.append(node)
                p = int(tree.parent[node])
                if p < 0 or children[p][-1] != node:
                    break
                node = p
        closes.append(done)
    return closes


def symbols_of(x: np.ndarray, order: np.ndarray) -> np.ndarray:
    """(B, D) pixel values -> (B, 2D) nibble symbols in coding order."""
    xo = np.asarray(x, dtype=np.int64)[:, order]
    out = np.empty((xo.shape[0], 2 * xo.shape[1]), dtype=np.int64)
    out[:, 0::2] = xo >> 4
    out[:, 1::2] = xo & 15
    return out
