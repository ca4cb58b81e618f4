"""Import compressai entropy models' integer CDF tables so our coder (not compressai's) codes them."""
from __future__ import annotations

import numpy as np

from .indexed import IndexedTables


def _tables_from_cdfs(quantized_cdf, cdf_length, offset) -> IndexedTables:
    cdf = np.asarray(quantized_cdf.detach().cpu().numpy(), dtype=np.int64)
    lengths = np.asarray(cdf_length.detach().cpu().numpy(), dtype=np.int64).reshape(-1)
    offs = np.asarray(offset.detach().cpu().numpy(), dtype=np.int64).reshape(-1)
    pmfs = [np.diff(cdf[i, :lengths[i]]) for i in range(len(lengths))]
    return IndexedTables(pmfs, offs)


def tables_from_entropy_bottleneck(eb) -> tuple[IndexedTables, np.ndarray]:
    """Tables (one per channel) and the per-channel medians of an updated ``EntropyBottleneck``.

    Code a latent ``y`` of shape (N, C, ...) as ``round(y - median[c])`` with index ``c``.
    """
    if eb._quantized_cdf.numel() == 0:
        eb.update(force=True)
    medians = eb.quantiles[:, 0, 1].detach().cpu().numpy().astype(np.float64)
    return _tables_from_cdfs(eb._quantized_cdf, eb._cdf_length, eb._offset), medians


def tables_from_gaussian_conditional(gc) -> tuple[IndexedTables, np.ndarray]:
    """Tables (one per scale) and the scale table of an updated ``GaussianConditional``.

    Index a latent's scale with ``families.scale_indexes(scales, lower_bounds)`` where the
    returned array holds the compressai scale table.
    """
    if gc._quantized_cdf.numel() == 0:
        raise ValueError("GaussianConditional has no tables yet: call update_scale_table first")
    return (_tables_from_cdfs(gc._quantized_cdf, gc._cdf_length, gc._offset),
            gc.scale_table.detach().cpu().numpy().astype(np.float64))
