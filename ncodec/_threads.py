"""Thread limits shared by codecs whose inner loops are many small, exact BLAS products."""
from __future__ import annotations


def one_blas_thread():
    """Context holding BLAS to one thread. The products inside coding loops (hclt's walk, the photo
    flow's predictors) are small, and a multi-threaded BLAS spends ~2-3x the CPU time on them
    spinning (hclt walk measured 672 -> 1973 images per CPU-second). Values cannot change: those
    products are exact integer arithmetic in floating point, whatever the thread count."""
    from threadpoolctl import threadpool_limits
    return threadpool_limits(limits=1, user_api="blas")
