"""Hidden Chow-Liu Tree (HCLT) probabilistic circuit for discrete vectors (e.g. 784 pixels, 256 values).

A Chow-Liu tree over the observed variables (from pairwise mutual information) gets one hidden
categorical variable with K states per observed variable: P(z_root) prod P(z_i | z_parent(i))
prod P(x_i | z_i). Every query below is exact; a variable left out of the evidence is summed out
(its emission factor is 1). Liu, Mandt & Van den Broeck, ICLR 2022.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch


# ------------------------------------------------------------------ structure learning

def mutual_information(x: np.ndarray, bins: int = 4, values: int = 256) -> np.ndarray:
    """Pairwise mutual information (D, D) in nats of ``x`` (N, D) ints, on ``bins`` equal-width bins."""
    xb = (np.asarray(x, dtype=np.int64) * bins) // values                  # (N, D) in [0, bins)
    n, d = xb.shape
    onehot = np.zeros((n, d * bins), dtype=np.float32)
    onehot[np.arange(n)[:, None], np.arange(d)[None, :] * bins + xb] = 1.0
    t = torch.from_numpy(onehot)
    joint = (t.T @ t).numpy().astype(np.float64).reshape(d, bins, d, bins) + 0.01
    joint /= joint.sum(axis=(1, 3), keepdims=True)
    pa = joint.sum(axis=3, keepdims=True)
    pb = joint.sum(axis=1, keepdims=True)
    mi = (joint * (np.log(joint) - np.log(pa) - np.log(pb))).sum(axis=(1, 3))
    np.fill_diagonal(mi, 0.0)
    return mi


def chow_liu_tree(mi: np.ndarray) -> np.ndarray:
    """Maximum spanning tree of the MI graph, rooted at its centre; returns parent indices (-1 = root)."""
    from scipy.sparse.csgraph import breadth_first_order, minimum_spanning_tree

    d = mi.shape[0]
    w = mi.max() - mi + 1e-6                     # positive weights: scipy drops zeros as missing edges
    np.fill_diagonal(w, 0.0)
    mst = minimum_spanning_tree(w)
    und = (mst + mst.T).tocsr()
    # centre: the middle node of a longest path (two BFS sweeps) gives the shallowest rooting
    order, _ = breadth_first_order(und, 0, directed=False)
    far = order[-1]
    order, pred = breadth_first_order(und, far, directed=False)
    path = [order[-1]]
    while pred[path[-1]] >= 0:
        path.append(pred[path[-1]])
    root = int(path[len(path) // 2])
    _, pred = breadth_first_order(und, root, directed=False)
    parent = np.asarray(pred, dtype=np.int64)
    parent[root] = -1
    assert (parent >= 0).sum() == d - 1
    return parent


# ------------------------------------------------------------------ tree bookkeeping

@dataclass
class TreeIndex:
    """Levels of a rooted tree plus the index maps the batched passes need."""

    parent: np.ndarray            # (D,) parent index, -1 at the root
    root: int
    levels: list[np.ndarray]      # node ids by depth (levels[0] = [root])
    pos_in_level: np.ndarray      # (D,) position of each node inside its level
    depth: np.ndarray             # (D,)

    @classmethod
    def build(cls, parent: np.ndarray) -> "TreeIndex":
        parent = np.asarray(parent, dtype=np.int64)
        d = len(parent)
        roots = np.flatnonzero(parent < 0)
        if len(roots) != 1:
            raise ValueError("tree needs exactly one root")
        root = int(roots[0])
        children: list[list[int]] = [[] for _ in range(d)]
        for i, p in enumerate(parent):
            if p >= 0:
                children[p].append(i)
        depth = np.full(d, -1, dtype=np.int64)
        depth[root] = 0
        levels = [np.array([root], dtype=np.int64)]
        while True:
            nxt = [c for p in levels[-1] for c in children[p]]
            if not nxt:
                break
            arr = np.array(nxt, dtype=np.int64)
            depth[arr] = len(levels)
            levels.append(arr)
        if (depth < 0).any():
            raise ValueError("parent array is not a tree")
        pos = np.zeros(d, dtype=np.int64)
        for lv in levels:
            pos[lv] = np.arange(len(lv))
        return cls(parent, root, levels, pos, depth)

    def children(self) -> list[list[int]]:
        """Child lists in increasing node order."""
        ch: list[list[int]] = [[] for _ in range(len(self.parent))]
        for i, p in enumerate(self.parent):
            if p >= 0:
                ch[p].append(i)
        return ch

    def dfs_order(self) -> np.ndarray:
        """Pre-order (parent before children, each subtree contiguous): the coding order."""
        ch = self.children()
        out, stack = [], [self.root]
        while stack:
            v = stack.pop()
            out.append(v)
            stack.extend(reversed(ch[v]))
        return np.array(out, dtype=np.int64)


# ------------------------------------------------------------------ the circuit

class HCLT(torch.nn.Module):
    """HCLT with parameters stored as log-probabilities (float32 for training, float64 for coding).

    ``log_emit`` (D, V, K): log P(x_i = v | z_i = k); ``log_trans`` (D, K, K): log P(z_i = c | z_parent = p)
    indexed [i, p, c] (the root's row is unused); ``log_prior`` (K,): log P(z_root).
    """

    def __init__(self, parent: np.ndarray, num_latents: int, num_values: int = 256,
                 log_emit: torch.Tensor | None = None, log_trans: torch.Tensor | None = None,
                 log_prior: torch.Tensor | None = None, dtype: torch.dtype = torch.float32) -> None:
        super().__init__()
        self.tree = TreeIndex.build(parent)
        d, k, v = len(parent), num_latents, num_values
        self.num_vars, self.num_latents, self.num_values = d, k, v
        gen = torch.Generator().manual_seed(0)
        if log_emit is None:
            log_emit = torch.log_softmax(torch.randn(d, v, k, generator=gen, dtype=torch.float64), dim=1)
        if log_trans is None:
            log_trans = torch.log_softmax(0.5 * torch.randn(d, k, k, generator=gen, dtype=torch.float64), dim=2)
        if log_prior is None:
            log_prior = torch.full((k,), -float(np.log(k)), dtype=torch.float64)
        self.log_emit = torch.nn.Parameter(log_emit.to(dtype), requires_grad=False)
        self.log_trans = torch.nn.Parameter(log_trans.to(dtype), requires_grad=False)
        self.log_prior = torch.nn.Parameter(log_prior.to(dtype), requires_grad=False)
        self._bfs = torch.from_numpy(np.concatenate(self.tree.levels))
        self._sizes = [len(lv) for lv in self.tree.levels]
        self._parent_pos = [torch.from_numpy(self.tree.pos_in_level[self.tree.parent[lv]]) if i else None
                            for i, lv in enumerate(self.tree.levels)]

    # -- queries ---------------------------------------------------------------
    def log_likelihood(self, x: torch.Tensor, mask: torch.Tensor | None = None,
                       params: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None) -> torch.Tensor:
        """log P(x_obs) per row of ``x`` (B, D) ints; ``mask`` (B, D) bool marks observed variables (default all).

        ``params`` overrides (log_emit, log_trans, log_prior), e.g. leaves that collect EM flows.
        """
        le, lt, lp = params if params is not None else (self.log_emit, self.log_trans, self.log_prior)
        x = x.long()
        order = self._bfs.to(x.device)
        lm_all = le[order[None, :], x[:, order]]      # (B, D, K) log P(x_i | z_i), BFS order
        if mask is not None:
            lm_all = torch.where(mask[:, order, None], lm_all, torch.zeros((), dtype=lm_all.dtype))
        return self._upward(lm_all, lt, lp)

    def _upward(self, lm_all: torch.Tensor, lt: torch.Tensor, lp: torch.Tensor) -> torch.Tensor:
        """log P per row from the leaves' log-evidence (B, D, K) in BFS order: one pass up the tree."""
        b = lm_all.shape[0]
        order, sizes = self._bfs.to(lm_all.device), self._sizes
        # one gather / one exp for all nodes in BFS order, then split by level: keeps backward cheap
        lms = torch.split(lm_all, sizes, dim=1)
        trs = torch.split(torch.exp(lt[order]), sizes, dim=0)    # (n, K_parent, K_child) per level
        acc = None                                   # summed child log-messages for the current level
        for depth in range(len(sizes) - 1, -1, -1):
            lm = lms[depth]
            if acc is not None:
                lm = lm + acc
            if depth == 0:
                return torch.logsumexp(lm[:, 0, :] + lp, dim=-1)
            mx = lm.max(dim=-1, keepdim=True).values.detach()
            p = torch.exp(lm - mx)                    # (B, n, K_child)
            u = torch.bmm(p.transpose(0, 1), trs[depth].transpose(1, 2)).transpose(0, 1)   # (B, n, K_parent)
            lu = torch.log(u) + mx
            acc = torch.zeros(b, sizes[depth - 1], self.num_latents, dtype=lu.dtype, device=lu.device).index_add(
                1, self._parent_pos[depth].to(lu.device), lu)
        raise AssertionError("unreachable")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Alias of ``log_likelihood`` on fully observed rows."""
        return self.log_likelihood(x)

    def bits_per_dim(self, x: torch.Tensor, batch: int = 2000) -> float:
        """Mean -log2 P(x) / D over rows of ``x`` (evaluated in batches, no gradients)."""
        tot = 0.0
        with torch.no_grad():
            for i in range(0, len(x), batch):
                tot += float(-self.log_likelihood(x[i:i + batch]).double().sum())
        return tot / (len(x) * self.num_vars * np.log(2.0))

    # -- EM --------------------------------------------------------------------
    def em_flows(self, x: torch.Tensor, soften: float = 1.0
                 ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, float]:
        """Expected sufficient statistics (emission, transition, prior counts) of a batch, and its summed log-likelihood.

        The gradient of sum log P(x) w.r.t. a log-parameter is that parameter's expected count (its flow).
        ``soften`` < 1 is data softening (Liu and Van den Broeck 2021, "Tractable regularization of
        probabilistic circuits"): each observed pixel is taken as its value with probability ``soften``
        and any other value with the rest, spread evenly. Its leaf evidence is c + (soften - c) P(x_i | z)
        with c = (1 - soften) / (V - 1), so a leaf's flow splits exactly into (soften - c) P(x_i | z) / S
        at the observed value and c P(v | z) / S over every value v. The returned log-likelihood is
        that of the softened data.
        """
        leaves = [p.detach().clone().requires_grad_(True) for p in (self.log_emit, self.log_trans, self.log_prior)]
        if soften >= 1.0:
            ll = self.log_likelihood(x, params=tuple(leaves)).sum()
            ll.backward()
            return leaves[0].grad, leaves[1].grad, leaves[2].grad, float(ll.detach())
        x = x.long()
        order = self._bfs.to(x.device)
        c = (1.0 - soften) / (self.num_values - 1)
        xo = x[:, order]                                               # (B, D)
        p = torch.exp(self.log_emit.detach()[order[None, :], xo])     # (B, D, K) P(x_i | z)
        s = c + (soften - c) * p
        lm_all = torch.log(s).requires_grad_(True)
        ll = self._upward(lm_all, leaves[1], leaves[2]).sum()
        g, gt, gp = torch.autograd.grad(ll, (lm_all, leaves[1], leaves[2]))
        with torch.no_grad():
            d, v, k = self.log_emit.shape
            hard = (g * (soften - c) * p / s).reshape(-1, k)
            fe = torch.zeros(d * v, k, dtype=hard.dtype, device=x.device)
            fe.index_add_(0, (order[None, :] * v + xo).reshape(-1), hard)
            spread = torch.zeros(d, k, dtype=hard.dtype, device=x.device)
            spread[order] = (g * c / s).sum(dim=0)
            fe = fe.view(d, v, k) + spread[:, None, :] * torch.exp(self.log_emit.detach())
        return fe, gt, gp, float(ll.detach())

    @torch.no_grad()
    def em_update(self, flows: tuple[torch.Tensor, torch.Tensor, torch.Tensor], step: float,
                  pseudocount: float = 0.1) -> None:
        """Mini-batch EM: move parameters a fraction ``step`` toward the smoothed maximum-likelihood estimate."""
        fe, ft, fp = flows
        ce = fe.double() + pseudocount / self.num_values
        new_e = ce / ce.sum(dim=1, keepdim=True)
        ct = ft.double() + pseudocount / self.num_latents
        new_t = ct / ct.sum(dim=2, keepdim=True)
        cp = fp.double() + pseudocount / self.num_latents
        new_p = cp / cp.sum()
        for param, new in ((self.log_emit, new_e), (self.log_trans, new_t), (self.log_prior, new_p)):
            mixed = (1.0 - step) * torch.exp(param.double()) + step * new
            param.copy_(torch.log(mixed).to(param.dtype))


def init_emissions_from_data(x: np.ndarray, num_latents: int, num_values: int = 256,
                             seed: int = 0) -> torch.Tensor:
    """Initial log P(x_i | z_i): pixel histogram shaped by one soft value band per latent state (+ noise).

    Starting each state on its own intensity band makes the first E-step behave like a Chow-Liu tree on
    quantised values, which converges much faster than a random start.
    """
    x = np.asarray(x, dtype=np.int64)
    n, d = x.shape
    hist = np.bincount((np.arange(d)[None, :] * num_values + x).ravel(),
                       minlength=d * num_values).reshape(d, num_values).astype(np.float64)
    hist = (hist + 0.5) / (n + 0.5 * num_values)
    v = np.arange(num_values)[:, None]
    centres = (np.arange(num_latents) + 0.5) * num_values / num_latents
    sigma = num_values / num_latents
    band = np.exp(-0.5 * ((v - centres[None, :]) / sigma) ** 2) + 1e-3        # (V, K)
    rng = np.random.default_rng(seed)
    e = hist[:, :, None] * band[None] * rng.uniform(0.8, 1.2, size=(d, num_values, num_latents))
    e /= e.sum(axis=1, keepdims=True)
    return torch.from_numpy(np.log(e))


# ------------------------------------------------------------------ shipped weight files

_LOG_STEP = 1.0 / 16.0       # log-probability resolution of stored tables (nats): +2e-5 bit/dim on MNIST, -40% size vs 1/128


def _quantize_logp(t: torch.Tensor) -> np.ndarray:
    q = np.round(t.detach().double().numpy() / _LOG_STEP)
    return np.clip(q, -30.0 / _LOG_STEP, 0).astype(np.int16)


def save_hclt(model: HCLT, path, **meta) -> None:
    """Write the circuit as an .npz of int16 log-probabilities (1/16-nat steps, floor -30), lzma-packed.

    Stored tables are renormalised in float64 on load, so the loaded model is exactly normalised and
    every platform reconstructs bit-identical float64 parameters from the same integers.
    """
    import io
    import lzma

    buf = io.BytesIO()
    np.savez(buf, parent=model.tree.parent.astype(np.int16),
             num_latents=np.int64(model.num_latents), num_values=np.int64(model.num_values),
             log_emit=_quantize_logp(model.log_emit.transpose(1, 2)), log_trans=_quantize_logp(model.log_trans),
             log_prior=_quantize_logp(model.log_prior))
    with open(path, "wb") as f:
        f.write(lzma.compress(buf.getvalue(), preset=9 | lzma.PRESET_EXTREME))


def _renorm(q: np.ndarray, axis: int) -> torch.Tensor:
    lp = q.astype(np.float64) * _LOG_STEP
    lp = lp - lp.max(axis=axis, keepdims=True)
    lp = lp - np.log(np.exp(lp).sum(axis=axis, keepdims=True))
    return torch.from_numpy(lp)


def load_hclt(path, dtype: torch.dtype = torch.float64) -> HCLT:
    """Read a file written by ``save_hclt`` (normalised float64 parameters by default)."""
    import io
    import lzma

    with open(path, "rb") as f:
        raw = lzma.decompress(f.read())
    z = np.load(io.BytesIO(raw))
    return HCLT(z["parent"].astype(np.int64), int(z["num_latents"]), int(z["num_values"]),
                log_emit=_renorm(z["log_emit"], 2).transpose(1, 2).contiguous(), log_trans=_renorm(z["log_trans"], 2),
                log_prior=_renorm(z["log_prior"], 0), dtype=dtype)
