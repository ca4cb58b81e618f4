"""``pack``: a data set (registry name, folder, .npy stack) -> ``ds/shard-NNNNN.ncz`` + index,
streaming, resumable, with the same bytes for any engine, worker count or interruption.

Records flow source -> engine (chunks of records encoded in workers) -> ``ShardBuilder``
(in record order) -> ``IndexWriter.commit`` per shard. A shard closes as soon as its payloads
reach ``shard_size`` bytes, so its boundaries depend only on the records, never on chunking
or timing; a resumed pack starts at the first record after the last committed shard.
"""
from __future__ import annotations

import json
import re
import sys
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from .. import container
from .._varint import encode_uvarint
from ..codecs import get_codec
from ..errors import InputError, OutputExistsError
from ..item import ItemMeta
from .encode import ChunkJob, EncodedChunk
from .engines import default_workers, run_chunks
from .index import (INDEX_DTYPE, IndexWriter, new_manifest, own_paths, read_manifest, shard_name)
from .sources import Source, open_source

DEFAULT_SHARD_SIZE = 256 * 1000 * 1000
CHUNK_TARGET_BYTES = 8 << 20          # raw input per chunk (auto chunk size)
MAX_CHUNK = 1024
_UNITS = {"": 1, "b": 1, "k": 1000, "kb": 1000, "m": 1000 ** 2, "mb": 1000 ** 2, "g": 1000 ** 3, "gb": 1000 ** 3,
          "kib": 1024, "mib": 1024 ** 2, "gib": 1024 ** 3}


def parse_size(text: str | int) -> int:
    """'256MB', '64k', '1GiB', 1000 -> bytes (decimal units; KiB/MiB/GiB binary)."""
    if isinstance(text, int):
        return text
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*", str(text))
    if not m or m.group(2).lower() not in _UNITS:
        raise InputError(f"not a size: {text!r} (e.g. 256MB, 64KiB, 1000000)")
    n = int(float(m.group(1)) * _UNITS[m.group(2).lower()])
    if n <= 0:
        raise InputError(f"shard size must be positive, not {text!r}")
    return n


@dataclass
class PackResult:
    """What a pack did: counts, sizes, time, and per-worker measurements."""

    root: Path
    records: int
    shards: int
    resumed_from: int
    encoded: int                    # records encoded by this call (0 when already complete)
    seconds: float
    input_bytes: int                # raw bytes of the records encoded by this call
    file_bytes: int                 # all shard bytes
    workers: dict = field(default_factory=dict)   # pid -> {"peak_rss_mb", "seconds", "chunks"}
    ideal_bits: float | None = None  # the model's ideal code length of the records encoded by this call


def payload_offsets(data: bytes, payloads: Sequence[bytes]) -> list[int]:
    """Byte offset of each payload inside a packed archive (payloads lie in order before the CRC).

    Checked against the bytes; if the container layout ever moves payloads, each is searched
    for backwards from the end instead, so the index stays right."""
    end = len(data) - 4
    offs = []
    for p in reversed(payloads):
        end -= len(p)
        offs.append(end)
    offs.reverse()
    if all(data[o:o + len(p)] == p for o, p in zip(offs, payloads)):
        return offs
    limit, out = len(data), []
    for p in reversed(payloads):
        o = data.rfind(p, 0, limit)
        if o < 0:
            raise RuntimeError("payload not found in the packed shard (container layout changed?)")
        out.append(o)
        limit = o                                   # the previous payload ends before this one
    return out[::-1]


class ShardBuilder:
    """Collects records in order and commits a shard whenever its payloads reach ``shard_size``."""

    def __init__(self, writer: IndexWriter, codec: str, codec_version: int, quality: int,
                 model_id: bytes, shard_size: int) -> None:
        self.w = writer
        self.codec, self.codec_version, self.quality, self.model_id = codec, codec_version, quality, model_id
        self.shard_size = shard_size
        self._reset()

    def _reset(self) -> None:
        self.payloads: list[bytes] = []
        self.metas: list[ItemMeta] = []
        self.checks: list[bytes] = []
        self.names: list[str] = []
        self.labels: list[int] = []
        self.bytes = 0

    def add_chunk(self, ch: EncodedChunk) -> None:
        """Append a chunk's records (in order), committing shards as they fill."""
        for k in range(len(ch.payloads)):
            name = ch.names[k]
            if len(name.encode("utf-8")) > 0xFFFF:
                raise InputError(f"record name too long ({name[:40]}...)")
            self.payloads.append(ch.payloads[k])
            self.metas.append(ch.metas[k])
            self.checks.append(ch.checks[k])
            self.names.append(name)
            self.labels.append(ch.labels[k])
            self.bytes += len(ch.payloads[k])
            if self.bytes >= self.shard_size:
                self.flush()

    def flush(self) -> None:
        """Commit the records collected so far as the next shard (nothing if none)."""
        if not self.payloads:
            return
        recs = [container.Record(p, m, "", ck) for p, m, ck in zip(self.payloads, self.metas, self.checks)]
        data = container.pack(container.Container(codec=self.codec, codec_version=self.codec_version,
                                                  quality=self.quality, records=recs, model_id=self.model_id,
                                                  archive=True))
        offs = payload_offsets(data, self.payloads)
        local = {m: i for i, m in enumerate(dict.fromkeys(self.metas))}
        many = len(local) > 1
        new_metas: list[ItemMeta] = []
        rows = np.zeros(len(recs), dtype=INDEX_DTYPE)
        name_off = self.w.manifest["committed"]["names_bytes"]
        for i, p in enumerate(self.payloads):
            ck = self.checks[i]
            entry = len(encode_uvarint(len(p))) + len(ck) + (len(encode_uvarint(local[self.metas[i]])) if many else 0)
            nlen = len(self.names[i].encode("utf-8"))
            rows[i] = (self.w.n_shards, offs[i], len(p), self.w.meta_id(self.metas[i], new_metas),
                       self.labels[i], 8 * (len(p) + entry), zlib.crc32(p), int.from_bytes(ck, "little"),
                       name_off, nlen)
            name_off += nlen
        stats = {"input_bytes": int(sum(m.numel * np.dtype(m.dtype).itemsize for m in self.metas)),
                 "units": int(sum(meta_units(m) for m in self.metas))}
        self.w.commit(data, rows, self.names, new_metas, stats)
        self._reset()


def meta_units(meta: ItemMeta) -> int:
    """Rate units of one record (pixels for images and video, samples for audio, elements)."""
    from types import SimpleNamespace

    from ..eval.metrics import rate_units
    return int(rate_units([SimpleNamespace(meta=meta)])[0])  # type: ignore[list-item]


def _auto_chunk(source: Source, start: int, remaining: int, workers: int) -> int:
    """Records per chunk: about CHUNK_TARGET_BYTES of raw input, at most MAX_CHUNK, and small
    enough that every worker gets several chunks (chunking never changes the output bytes)."""
    first = source.read(start, start + 1)[0]
    n = CHUNK_TARGET_BYTES // max(first.data.nbytes, 1)
    n = min(n, MAX_CHUNK, -(-remaining // (4 * max(workers, 1))))
    return int(max(1, n))


def _same(a: Any, b: Any) -> bool:
    return json.loads(json.dumps(a)) == json.loads(json.dumps(b))


def open_output(root: Path, params: dict, total: int, classes: Sequence[str], extra: dict,
                force: bool) -> IndexWriter:
    """Create ``root`` as a new data set, or resume the unfinished pack there with the same settings.

    ``force`` discards a previous pack (only the files a pack writes; nothing else in the folder)."""
    if root.exists() and not root.is_dir():
        raise OutputExistsError(f"output exists and is not a folder ({root})")
    root.mkdir(parents=True, exist_ok=True)
    ours = own_paths(root)
    man = None
    if (root / "manifest.json").exists() and not force:
        man = read_manifest(root)
        if not _same(man["params"], params) or man["records_total"] != total:
            raise OutputExistsError(f"{root} holds a pack with other settings or inputs; use -f to start over "
                                    f"(it has codec {man['params'].get('codec')} q={man['params'].get('quality')}, "
                                    f"{man['records_total']} records)")
    elif ours and not force:
        raise OutputExistsError(f"{root} holds shard files but no manifest; use -f to start over")
    if man is None:
        for p in ours:
            p.unlink()
        w = IndexWriter(root, new_manifest(params, total, classes, extra))
        w.save()
        return w
    w = IndexWriter(root, man)
    listed = {s["file"] for s in w.shards}
    for p in ours:           # shards written after the last commit, and temp files: redone identically
        if (p.name.startswith("shard-") and p.name not in listed) or p.name.endswith(".tmp"):
            p.unlink()
    return w


def pack(inputs: Sequence[str] | Source, out: str | Path, codec: str | None = None, quality: int | None = None,
         options: Mapping[str, Any] | None = None, shard_size: int | str = DEFAULT_SHARD_SIZE,
         engine: str = "local", workers: int | None = None, ray_address: str | None = None,
         progress: bool | None = None, chunk: int | None = None, force: bool = False,
         verify: bool = False, limit: int | None = None, check_bytes: int = 2) -> PackResult:
    """Pack ``inputs`` into the data set folder ``out``; resumes an unfinished pack there.

    ``codec`` None picks the media's default (lossy when ``quality`` is given). ``verify``
    decodes every chunk again as a reader would (lossless: exactly the input). ``limit`` packs
    the first records only. ``chunk`` is records per unit of work (default: about 8 MB of input,
    at most 1024, at least 4 chunks per worker). ``check_bytes`` is the per-record content check
    width (2, 4 or 8; 2 keeps archive overhead near 3 bytes per record).
    """
    from ..api import default_codec
    t0 = time.perf_counter()
    source = inputs if isinstance(inputs, Source) else open_source(inputs)
    total = len(source) if limit is None else min(int(limit), len(source))
    if total <= 0:
        raise InputError("nothing to pack: --limit leaves no records")
    if chunk is not None and chunk < 1:
        raise InputError(f"chunk must be at least 1 record, not {chunk}")
    if check_bytes not in container.CHECK_CODES:
        raise InputError(f"check_bytes must be one of {sorted(container.CHECK_CODES)}, not {check_bytes}")
    first = source.read(0, 1)[0]
    name = codec or default_codec(first.meta.media, lossy=quality is not None)
    c = get_codec(name)
    q = c.resolve_quality(quality)
    opts = c.resolve_options(options)
    c = c.bind(opts).for_media(first.meta.media)
    c.check(first)
    size = parse_size(shard_size)
    model_id = c.model_id(q)
    params = {"codec": c.name, "codec_version": c.version, "quality": q, "model_id": model_id.hex(),
              "options": opts, "sources": source.describe(), "limit": limit, "shard_size": size,
              "check_bytes": check_bytes}
    root = Path(out)
    writer = open_output(root, params, total, source.classes,
                         {"media": first.meta.media, "lossless": c.lossless}, force)
    start = writer.records
    builder = ShardBuilder(writer, c.name, c.version, q, model_id, size)
    job = ChunkJob(source=source, codec=c.name, quality=q, options=opts, verify=verify, check_bytes=check_bytes)
    n_chunk = chunk or _auto_chunk(source, min(start, total - 1), total - start, workers or default_workers())
    spans = [(s, min(s + n_chunk, total)) for s in range(start, total, n_chunk)]
    from tqdm.auto import tqdm
    show = sys.stderr.isatty() if progress is None else progress
    bar = tqdm(total=total, initial=start, unit="rec", desc=f"pack {c.name}", disable=not show,
               dynamic_ncols=True, file=sys.stderr)
    workers_seen: dict[int, dict] = {}
    input_bytes = 0
    ideal: float | None = 0.0
    try:
        for ch in run_chunks(job, spans, engine=engine, workers=workers, address=ray_address):
            builder.add_chunk(ch)
            input_bytes += ch.input_bytes
            ideal = None if ideal is None or ch.ideal_bits is None else ideal + ch.ideal_bits
            st = ch.stats
            w = workers_seen.setdefault(st["pid"], {"peak_rss_mb": 0.0, "seconds": 0.0, "chunks": 0})
            w["peak_rss_mb"] = max(w["peak_rss_mb"], st["peak_rss_mb"])
            w["seconds"] += st["seconds"]
            w["chunks"] += 1
            bar.update(len(ch.payloads))
        builder.flush()
        if not writer.manifest["complete"]:
            writer.finish()
    finally:
        bar.close()
    tot = writer.manifest["totals"]
    return PackResult(root=root, records=writer.records, shards=tot["shards"], resumed_from=start,
                      encoded=total - start, seconds=time.perf_counter() - t0, input_bytes=input_bytes,
                      file_bytes=int(tot["bytes"]), workers=workers_seen,
                      ideal_bits=ideal if start < total else None)


__all__ = ["pack", "parse_size", "PackResult", "shard_name"]
