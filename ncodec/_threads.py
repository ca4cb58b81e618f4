"""Thread limits shared by codecs: BLAS for loops of many small exact products, torch for models
whose decoded bytes must not depend on the caller's thread count."""
from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator


def one_blas_thread():
    """Context holding BLAS to one thread. The products inside coding loops (hclt's walk, the photo
    flow's predictors) are small, and a multi-threaded BLAS spends ~2-3x the CPU time on them
    spinning (hclt walk measured 672 -> 1973 images per CPU-second). Values cannot change: those
    products are exact integer arithmetic in floating point, whatever the thread count."""
    from threadpoolctl import threadpool_limits
    return threadpool_limits(limits=1, user_api="blas")


@contextmanager
def one_torch_thread() -> Iterator[None]:
    """Run torch on one intra-op thread, whatever the caller's setting, and restore it after: how a
    convolution splits its sums across threads changes the last float bits (so +-1 in a few rounded
    outputs); and per CPU-second one thread is the fastest (item-level parallelism comes from workers)."""
    import torch
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)
