"""Where chunks are encoded: in this process, a local process pool (default), or Ray Data.

Every engine yields ``EncodedChunk``s in chunk order, so the writer downstream is the same and
the shards are the same. Memory is bounded: the local pool keeps at most ``2 * workers`` chunks
in flight; Ray Data streams with its own back-pressure.
"""
from __future__ import annotations

import logging
import pickle
from collections import deque
from contextlib import contextmanager
from typing import Iterator, Sequence

from ..errors import InputError
from .encode import ChunkEncoder, ChunkJob, EncodedChunk

ENGINES = ("local", "ray")
_WORKER: ChunkEncoder | BaseException | None = None


def default_workers() -> int:
    """At most 2 processes (the machine this was built for has 2 cores)."""
    import os
    return max(1, min(2, os.cpu_count() or 1))


def _single_thread() -> None:
    """One torch thread per worker: workers, not threads, use the cores."""
    import os
    import sys
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(1)
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = "1"                     # read by torch when a learned codec imports it


@contextmanager
def one_thread() -> Iterator[None]:
    """In-process encoding uses one torch thread too (threads fight over 2 cores and run a
    learned codec several times slower); the caller's setting is restored afterwards."""
    import os
    import sys
    saved = {v: os.environ.get(v) for v in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")}
    before = sys.modules["torch"].get_num_threads() if "torch" in sys.modules else None
    _single_thread()
    try:
        yield
    finally:
        for v, val in saved.items():
            if val is None:
                os.environ.pop(v, None)
            else:
                os.environ[v] = val
        if "torch" in sys.modules:
            sys.modules["torch"].set_num_threads(before or os.cpu_count() or 1)


def _init_worker(job: ChunkJob) -> None:
    global _WORKER
    import signal
    signal.signal(signal.SIGINT, signal.SIG_IGN)      # the parent handles Ctrl-C and stops the pool
    _single_thread()
    try:
        _WORKER = ChunkEncoder(job)
    except Exception as exc:  # noqa: BLE001 - a raising initializer makes Pool respawn forever:
        _WORKER = exc             # keep the error and raise it from the first job instead


def _work(span: tuple[int, int]) -> EncodedChunk:
    if isinstance(_WORKER, BaseException):
        raise _WORKER
    assert _WORKER is not None
    return _WORKER(*span)


def run_local(job: ChunkJob, spans: Sequence[tuple[int, int]], workers: int) -> Iterator[EncodedChunk]:
    """Chunks in order: in-process for one worker, else a spawn process pool with a bounded window."""
    if workers <= 1 or len(spans) <= 1:
        with one_thread():
            enc = ChunkEncoder(job)
            for s in spans:
                yield enc(*s)
        return
    import multiprocessing as mp
    pool = mp.get_context("spawn").Pool(workers, initializer=_init_worker, initargs=(job,))
    done = False
    try:
        pending: deque = deque()
        todo = iter(spans)
        for s in todo:
            pending.append(pool.apply_async(_work, (s,)))
            if len(pending) >= 2 * workers:
                break
        while pending:
            res = pending.popleft().get()
            nxt = next(todo, None)
            if nxt is not None:
                pending.append(pool.apply_async(_work, (nxt,)))
            yield res
        done = True
    finally:
        if done:
            pool.close()
        else:
            pool.terminate()                    # interrupted or failed: stop the workers now
        pool.join()


class RayEncoder:
    """Ray Data actor: builds one ChunkEncoder (loads the codec once) and encodes span batches."""

    def __init__(self, job_blob: bytes) -> None:
        _single_thread()
        self.enc = ChunkEncoder(pickle.loads(job_blob))

    def __call__(self, batch: dict) -> dict:
        import numpy as np
        blobs = [pickle.dumps(self.enc(int(s), int(e)), protocol=5)
                 for s, e in zip(batch["start"], batch["stop"])]
        return {"start": np.asarray(batch["start"]), "blob": np.array(blobs, dtype=object)}


def ray_available() -> bool:
    """True when ``ray[data]`` imports (the optional ``ncodec[ray]`` extra)."""
    try:
        import ray  # noqa: F401
        import ray.data  # noqa: F401
    except Exception:  # noqa: BLE001 - any import failure means: not usable here
        return False
    return True


def start_ray(workers: int, address: str | None = None) -> bool:
    """Connect to a cluster at ``address`` or start a local Ray with ``workers`` CPUs; True if
    this call started it (the caller then shuts it down)."""
    if not ray_available():
        raise InputError("--engine ray needs Ray: pip install 'ncodec[ray]' (ray[data])")
    import ray
    if ray.is_initialized():
        return False
    kw = dict(include_dashboard=False, log_to_driver=False, configure_logging=True,
              logging_level=logging.WARNING)
    if address:
        ray.init(address=address, **kw)
    else:
        ray.init(num_cpus=workers, **kw)
    return True


def run_ray(job: ChunkJob, spans: Sequence[tuple[int, int]], workers: int,
            address: str | None = None) -> Iterator[EncodedChunk]:
    """Chunks in order through Ray Data ``map_batches`` with ``workers`` stateful encoder actors."""
    started = start_ray(workers, address)
    try:
        import ray
        import ray.data
        import warnings
        with warnings.catch_warnings():           # Ray's own deprecated settings, not ours
            warnings.simplefilter("ignore", DeprecationWarning)
            ctx = ray.data.DataContext.get_current()
        ctx.execution_options.preserve_order = True
        ctx.enable_progress_bars = False
        for name in ("ray.data", "ray"):
            logging.getLogger(name).setLevel(logging.WARNING)
        ds = ray.data.from_items([{"start": s, "stop": e} for s, e in spans],
                                 override_num_blocks=max(1, len(spans)))
        ds = ds.map_batches(RayEncoder, fn_constructor_kwargs={"job_blob": pickle.dumps(job)},
                            batch_size=1, concurrency=workers, num_cpus=1, batch_format="numpy")
        for row in ds.iter_rows():
            yield pickle.loads(row["blob"])
    finally:
        if started:
            import ray
            ray.shutdown()


def run_chunks(job: ChunkJob, spans: Sequence[tuple[int, int]], engine: str = "local",
               workers: int | None = None, address: str | None = None) -> Iterator[EncodedChunk]:
    """Encoded chunks, in order, from the chosen engine."""
    workers = default_workers() if workers is None else max(1, int(workers))
    if engine == "local":
        return run_local(job, spans, workers)
    if engine == "ray":
        return run_ray(job, spans, workers, address)
    raise InputError(f"unknown engine {engine!r} (have: {', '.join(ENGINES)})")
