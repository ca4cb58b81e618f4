"""The unit of work of a pack: read a slice of the source and encode it (runs in pool workers and
Ray actors; each builds one ``ChunkEncoder`` and so loads the codec once).

A chunk's output does not depend on where the slice starts or which worker runs it: codecs
code every item on its own (the determinism rule), so shards come out byte-identical for any
number of workers and after a resume.
"""
from __future__ import annotations

import os
import resource
import time
from dataclasses import dataclass, field
from typing import Any

from ..codecs import get_codec
from ..errors import CodecError, NcodecError
from ..item import ItemMeta
from .sources import NO_LABEL, Source


@dataclass
class ChunkJob:
    """Everything a worker needs to encode slices of one pack (pickled once per worker)."""

    source: Source
    codec: str
    quality: int
    options: dict[str, Any]
    verify: bool = False          # decode every chunk again and check it (lossless: exact)
    check_bytes: int = 2          # per-record content check width in the shards (2, 4 or 8)


@dataclass
class EncodedChunk:
    """Records ``start..start+len-1``, encoded, with what the index stores about each."""

    start: int
    payloads: list[bytes]
    metas: list[ItemMeta]
    checks: list[bytes]           # the container content check of each record
    names: list[str]
    labels: list[int]
    input_bytes: int = 0
    ideal_bits: float | None = None
    stats: dict = field(default_factory=dict)     # worker pid, peak RSS, seconds


class ChunkEncoder:
    """Callable ``(start, stop) -> EncodedChunk`` holding one loaded codec.

    Encoding goes through the public ``compress_items`` (one archive per chunk), so every record
    gets the same content check an ordinary ``.ncz`` archive has; the chunk archive is then
    taken apart into records, which the writer regroups into shards."""

    def __init__(self, job: ChunkJob) -> None:
        self.job = job
        self.codec = get_codec(job.codec)
        self.codec.model_id(job.quality)         # load the weights now, once per worker

    def __call__(self, start: int, stop: int) -> EncodedChunk:
        from .. import container
        from ..api import compress_items, is_image_stack, verify_result
        t0 = time.perf_counter()
        c, q = self.codec, self.job.quality
        items = self.job.source.read(start, stop)
        for k, it in enumerate(items):
            try:
                c.check(it)
            except NcodecError as exc:
                raise type(exc)(f"record {start + k} ({it.name}): {exc}") from None
        if len(items) == 1 and is_image_stack(items[0]):
            raise CodecError(f"record {start} ({items[0].name}): a tensor shaped like an image stack "
                             f"cannot be one record of an image codec")
        res = compress_items(items, codec=c.name, quality=q, archive=True, keep_names=False,
                             options=self.job.options, check_bytes=self.job.check_bytes)
        if self.job.verify:
            verify_result(res)
        recs = container.unpack(res.data).records
        if len(recs) != len(items):
            raise CodecError(f"{c.name}: chunk at record {start} made {len(recs)} records for {len(items)} items")
        rss_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return EncodedChunk(
            start=start, payloads=[r.payload for r in recs], metas=[r.meta for r in recs],
            checks=[r.check for r in recs], names=[it.name for it in items],
            labels=[int(it.extra.get("label", NO_LABEL)) for it in items],
            input_bytes=int(sum(it.data.nbytes for it in items)), ideal_bits=res.ideal_bits,
            stats={"pid": os.getpid(), "peak_rss_mb": rss_kb / 1024.0, "seconds": time.perf_counter() - t0})
