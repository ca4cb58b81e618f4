"""The on-disk layout of a sharded data set (``ds/``), and the one code that reads and commits it.

```
ds/manifest.json    settings, totals and the committed length of every other file: the commit point
ds/shards.jsonl     one JSON line per completed shard (file, first record, records, bytes, sha256)
ds/index.bin        one fixed-width row per record (INDEX_DTYPE, little-endian), memory-mapped
ds/names.bin        record names, UTF-8, concatenated (a row holds offset + length)
ds/metas.jsonl      the distinct ItemMetas (media, shape, dtype, rates), one JSON line each
ds/shard-00000.ncz  ordinary .ncz archives (unnamed records; names live in the index)
```

A shard is committed in three steps: its bytes go to ``.shard-NNNNN.ncz.tmp``, are fsynced and
renamed; its shards.jsonl line, index rows, names and new metas are appended and fsynced; then
``manifest.json`` (small, constant size) is replaced atomically with the new committed lengths.
Only the manifest says what is complete: a reader or a resumed pack ignores (and truncates)
bytes beyond its ``committed`` lengths, and shard files beyond its shard count. See docs/scale.md for the format rationale.
"""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from ..errors import FormatError, InputError, UnsupportedVersionError
from ..item import ItemMeta

FORMAT = "ncz-dataset"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
SHARDS = "shards.jsonl"
INDEX = "index.bin"
NAMES = "names.bin"
METAS = "metas.jsonl"

# One row per record. offset/length locate the payload inside its shard file; bits is what the
# record costs in the shard (payload + its entry in the archive index: length varint, content
# check, meta index); crc is zlib.crc32 of the payload (finds a corrupted record before
# decoding); check is the record's container content check (``check_bytes`` wide, little-endian),
# compared after decoding exactly as an ordinary archive does.
INDEX_DTYPE = np.dtype([("shard", "<u4"), ("offset", "<u8"), ("length", "<u4"), ("meta", "<u4"),
                        ("label", "<i4"), ("bits", "<u4"), ("crc", "<u4"), ("check", "<u8"),
                        ("name_off", "<u8"), ("name_len", "<u2")])


def shard_name(k: int) -> str:
    """File name of shard ``k``."""
    return f"shard-{k:05d}.ncz"


def meta_to_json(m: ItemMeta) -> dict:
    """An ItemMeta as a small JSON object (rates only where they mean something)."""
    d: dict[str, Any] = {"media": m.media, "shape": list(m.shape), "dtype": m.dtype}
    if m.sample_rate:
        d["sample_rate"] = m.sample_rate
    if m.frame_rate:
        d["frame_rate"] = [m.frame_rate.numerator, m.frame_rate.denominator]
    return d


def meta_from_json(d: dict) -> ItemMeta:
    """Inverse of ``meta_to_json``."""
    fr = d.get("frame_rate") or [0, 1]
    return ItemMeta(media=d["media"], shape=tuple(d["shape"]), dtype=d["dtype"],
                    sample_rate=int(d.get("sample_rate", 0)), frame_rate=Fraction(fr[0], fr[1]))


def fsync_dir(path: Path) -> None:
    """Make a rename inside ``path`` durable (no-op where folders cannot be opened)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_durable(path: Path, data: bytes) -> None:
    """Write ``data`` under a temp name, fsync, rename onto ``path``, fsync the folder."""
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)             # interrupted: no partial file is left behind
        raise
    fsync_dir(path.parent)


def is_dataset(path: str | Path) -> bool:
    """True for a folder holding a data set manifest."""
    return (Path(path) / MANIFEST).is_file()


def read_manifest(root: Path) -> dict:
    """The manifest of ``root`` (checked format and version)."""
    f = root / MANIFEST
    try:
        man = json.loads(f.read_text())
    except FileNotFoundError as exc:
        raise InputError(f"{root}: not a packed data set (no {MANIFEST})") from exc
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise FormatError(f"{f}: manifest is not valid JSON ({exc})") from exc
    if not isinstance(man, dict) or man.get("format") != FORMAT:
        raise FormatError(f"{f}: not an {FORMAT} manifest")
    if man.get("version") != FORMAT_VERSION:
        raise UnsupportedVersionError(f"{f}: data set format version {man.get('version')} "
                                      f"(this reader: {FORMAT_VERSION})")
    return man


def _read_committed(path: Path, n: int) -> bytes:
    with open(path, "rb") as f:
        data = f.read(n)
    if len(data) != n:
        raise FormatError(f"{path}: shorter ({len(data)} B) than the manifest's committed {n} B")
    return data


@dataclass
class Record:
    """One index row, readable: where the payload lives and what it holds."""

    index: int
    shard: int
    offset: int
    length: int
    meta: ItemMeta
    label: int
    bits: int
    crc: int
    check: bytes
    name: str


class DatasetIndex:
    """Read side of a data set folder: the manifest, the memory-mapped rows, names and metas."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        if not self.root.is_dir():
            raise InputError(f"{root}: no such folder")
        self.manifest = read_manifest(self.root)
        c = self.manifest["committed"]
        self.n = int(c["records"])
        if self.n:
            size = (self.root / INDEX).stat().st_size
            if size < self.n * INDEX_DTYPE.itemsize:
                raise FormatError(f"{self.root / INDEX}: shorter than the manifest's {self.n} records")
            self.rows = np.memmap(self.root / INDEX, dtype=INDEX_DTYPE, mode="r", shape=(self.n,))
        else:
            self.rows = np.zeros(0, dtype=INDEX_DTYPE)
        self._names_n = int(c["names_bytes"])
        self._names: bytes | None = None
        lines = _read_committed(self.root / METAS, int(c["metas_bytes"])).decode("utf-8").splitlines()
        self.metas = [meta_from_json(json.loads(s)) for s in lines]
        self.shards: list[dict] = read_shards(self.root, self.manifest)
        self.check_bytes = int(self.params.get("check_bytes", 0))

    def __len__(self) -> int:
        return self.n

    @property
    def params(self) -> dict:
        """Codec, quality, model id, options, sources and shard size of the pack."""
        return self.manifest["params"]

    @property
    def complete(self) -> bool:
        """True once every planned record is in a committed shard."""
        return bool(self.manifest.get("complete"))

    @property
    def classes(self) -> list[str]:
        """Class names for folder labels (empty for numeric labels)."""
        return list(self.manifest.get("classes") or [])

    def shard_path(self, k: int) -> Path:
        """Path of shard ``k``."""
        return self.root / self.shards[k]["file"]

    def name(self, i: int) -> str:
        """Stored name of record ``i``."""
        if self._names is None:
            self._names = _read_committed(self.root / NAMES, self._names_n) if self._names_n else b""
        r = self.rows[i]
        o = int(r["name_off"])
        return self._names[o:o + int(r["name_len"])].decode("utf-8")

    def record(self, i: int) -> Record:
        """Row ``i`` with its meta and name resolved."""
        if not 0 <= i < self.n:
            raise IndexError(f"record {i} out of range (0..{self.n - 1})")
        r = self.rows[i]
        return Record(index=i, shard=int(r["shard"]), offset=int(r["offset"]), length=int(r["length"]),
                      meta=self.metas[int(r["meta"])], label=int(r["label"]), bits=int(r["bits"]),
                      crc=int(r["crc"]), check=int(r["check"]).to_bytes(8, "little")[:self.check_bytes],
                      name=self.name(i))

    def labels(self) -> np.ndarray:
        """Every record's label (-1 where none), as int64."""
        return np.asarray(self.rows["label"], dtype=np.int64)

    def shard_of(self, i: int) -> int:
        """Shard number of record ``i``."""
        return int(self.rows[i]["shard"])

    def first_of_shard(self, k: int) -> int:
        """Index of the first record of shard ``k``."""
        return int(self.shards[k]["first"])


def read_shards(root: Path, manifest: dict) -> list[dict]:
    """The committed shard entries (``shards.jsonl`` up to the manifest's committed length)."""
    n = int(manifest["committed"]["shards_bytes"])
    raw = _read_committed(root / SHARDS, n) if n else b""
    out = [json.loads(s) for s in raw.decode("utf-8").splitlines()]
    if len(out) != int(manifest["totals"]["shards"]):
        raise FormatError(f"{root / SHARDS}: {len(out)} shard entries, the manifest says {manifest['totals']['shards']}")
    return out


class IndexWriter:
    """Write side: creates or resumes a data set folder and commits one shard at a time."""

    def __init__(self, root: Path, manifest: dict) -> None:
        self.root = root
        self.manifest = manifest
        c = manifest["committed"]
        for fname, n in ((INDEX, c["records"] * INDEX_DTYPE.itemsize), (NAMES, c["names_bytes"]),
                         (METAS, c["metas_bytes"]), (SHARDS, c["shards_bytes"])):
            p = root / fname
            with open(p, "ab") as f:             # create if missing, then cut uncommitted bytes
                if f.tell() < n:
                    raise FormatError(f"{p}: shorter than the manifest says; the data set is damaged (use -f)")
                f.truncate(n)
        meta_lines = (root / METAS).read_bytes().decode("utf-8").splitlines()
        self.meta_ids = {meta_from_json(json.loads(s)): i for i, s in enumerate(meta_lines)}
        self.shards = read_shards(root, manifest)

    @property
    def records(self) -> int:
        """Records committed so far (where a resumed pack continues)."""
        return int(self.manifest["committed"]["records"])

    @property
    def n_shards(self) -> int:
        """Shards committed so far."""
        return len(self.shards)

    def meta_id(self, meta: ItemMeta, new: list[ItemMeta]) -> int:
        """Index of ``meta`` in the table, appending it to ``new`` (to be committed) if unseen."""
        i = self.meta_ids.get(meta)
        if i is None:
            i = self.meta_ids[meta] = len(self.meta_ids)
            new.append(meta)
        return i

    def commit(self, shard_bytes: bytes, rows: np.ndarray, names: Iterable[str],
               new_metas: list[ItemMeta], stats: dict) -> None:
        """Make one shard durable: shard file, then index rows/names/metas, then the manifest."""
        k = self.n_shards
        path = self.root / shard_name(k)
        write_durable(path, shard_bytes)
        c, tot = self.manifest["committed"], self.manifest["totals"]
        raw_names = b"".join(n.encode("utf-8") for n in names)
        meta_raw = b"".join((json.dumps(meta_to_json(m)) + "\n").encode() for m in new_metas)
        first = c["records"]
        entry = {"file": path.name, "first": first, "records": int(len(rows)), "bytes": len(shard_bytes),
                 "payload_bytes": int(rows["length"].sum()), "sha256": hashlib.sha256(shard_bytes).hexdigest(),
                 **stats}
        shard_raw = (json.dumps(entry) + "\n").encode()
        for fname, blob in ((INDEX, rows.astype(INDEX_DTYPE).tobytes()), (NAMES, raw_names), (METAS, meta_raw),
                            (SHARDS, shard_raw)):
            with open(self.root / fname, "ab") as f:
                f.write(blob)
                f.flush()
                os.fsync(f.fileno())
        self.shards.append(entry)
        c["records"] = first + int(len(rows))
        c["names_bytes"] += len(raw_names)
        c["metas_bytes"] += len(meta_raw)
        c["shards_bytes"] += len(shard_raw)
        tot["shards"] += 1
        for k in ("bytes", "payload_bytes", "input_bytes", "units"):
            tot[k] += int(entry.get(k, 0))
        self.save()

    def finish(self) -> None:
        """Mark the data set complete."""
        self.manifest["complete"] = True
        self.save()

    def save(self) -> None:
        """Replace the manifest atomically (the commit point)."""
        write_durable(self.root / MANIFEST, (json.dumps(self.manifest, indent=1) + "\n").encode())


def new_manifest(params: dict, total: int, classes: Iterable[str], extra: dict) -> dict:
    """A fresh manifest: nothing committed yet."""
    return {"format": FORMAT, "version": FORMAT_VERSION, "params": params, "records_total": int(total),
            "classes": list(classes), **extra, "complete": False,
            "committed": {"records": 0, "names_bytes": 0, "metas_bytes": 0, "shards_bytes": 0},
            "totals": {"shards": 0, "bytes": 0, "payload_bytes": 0, "input_bytes": 0, "units": 0}}


OWN_FILES = (MANIFEST, SHARDS, INDEX, NAMES, METAS)


def own_paths(root: Path) -> list[Path]:
    """The files a pack writes in ``root`` (and may remove on ``-f`` or resume): nothing else."""
    out = [root / f for f in OWN_FILES if (root / f).exists()]
    out += sorted(root.glob("shard-[0-9][0-9][0-9][0-9][0-9].ncz"))
    out += sorted(root.glob(".shard-[0-9][0-9][0-9][0-9][0-9].ncz.tmp"))
    out += [p for p in (root / f".{f}.tmp" for f in OWN_FILES) if p.exists()]
    return out
