"""Random access to the records of a packed data set: payload bytes by (offset, length) from the
index, decoded by the codec, each checked on the way (payload CRC32 before decoding, the
container's content check after), so a damaged record is an error naming its shard and
record, never wrong data.

Nothing here imports torch; ``NczDataset`` (torch) and ``unpack``/``info`` build on it. A reader
opens shard files lazily, once per process (safe across fork and spawn), and reads only the
bytes of the records asked for: memory does not grow with shard size.
"""
from __future__ import annotations

import hashlib
import os
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from .. import container
from .. import limits as L
from ..codecs import get_codec
from ..codecs.base import CHECK_KEY, CHECK_SYMBOLS, Codec, payload_error
from ..errors import (ChecksumError, CodecError, FormatError, IntegrityError, ModelMismatchError,
                      NcodecError, TruncatedError, UnsupportedVersionError)
from ..item import Item
from .index import DatasetIndex, Record


def record_error(cls: type[NcodecError], idx: DatasetIndex, rec: Record, what: str) -> NcodecError:
    """An error about one record that names its shard file and record, with the numbers attached
    (``.shard`` path, ``.shard_index``, ``.record`` inside the shard, ``.index`` in the data set)."""
    k = rec.shard
    local = rec.index - idx.first_of_shard(k)
    path = idx.shard_path(k)
    exc = cls(f"{path} record {local} (data set record {rec.index}, {rec.name!r}): {what}")
    exc.shard, exc.shard_index, exc.record, exc.index = str(path), k, local, rec.index  # type: ignore[attr-defined]
    return exc


class DatasetReader:
    """Decode records of a data set folder one at a time, checked; ``verify=False`` skips the checks.

    ``max_pixels`` / ``max_bytes`` are the decode limits per record (``ncodec.limits``; None: defaults)."""

    def __init__(self, root: str | Path, verify: bool = True, max_pixels: int | None = None,
                 max_bytes: int | None = None) -> None:
        self.index = DatasetIndex(root)
        self.verify = verify
        self.limits = L.Limits(max_pixels, max_bytes)
        self._codec: Codec | None = None
        self._fds: dict[int, int] = {}
        self._pid = os.getpid()

    def __len__(self) -> int:
        return len(self.index)

    def __getstate__(self) -> dict:          # pickled into DataLoader workers: no open files
        st = self.__dict__.copy()
        st["_fds"], st["_codec"] = {}, None
        st["index"] = str(self.index.root)
        return st

    def __setstate__(self, st: dict) -> None:
        st["index"] = DatasetIndex(st["index"])
        self.__dict__.update(st)

    # ------------------------------------------------------------------ codec
    @property
    def codec(self) -> Codec:
        """The codec of this data set (loaded once per process; version and model id checked)."""
        if self._codec is None:
            p = self.index.params
            c = get_codec(p["codec"])
            if p["codec_version"] > c.version:
                raise UnsupportedVersionError(f"data set needs {c.name} codec version {p['codec_version']}; "
                                              f"this ncodec has {c.version}")
            try:
                c = c.for_model(bytes.fromhex(p["model_id"]), p["quality"]).for_version(int(p["codec_version"]))
            except ModelMismatchError as exc:
                raise ModelMismatchError(f"{self.index.root}: {exc}") from exc
            except NcodecError:
                raise
            except Exception as exc:  # noqa: BLE001 - weights missing or unreadable
                raise CodecError(f"{c.name}: cannot load the model for quality {p['quality']}: {exc}") from exc
            self._codec = c
        return self._codec

    @property
    def quality(self) -> int:
        """The quality level every record was coded at."""
        return int(self.index.params["quality"])

    # ------------------------------------------------------------------ bytes
    def _fd(self, k: int) -> int:
        if os.getpid() != self._pid:          # forked worker: open our own descriptors
            self._fds, self._pid = {}, os.getpid()
        fd = self._fds.get(k)
        if fd is None:
            path = self.index.shard_path(k)
            try:
                fd = os.open(path, os.O_RDONLY)
            except FileNotFoundError:
                raise FormatError(f"{path}: shard file is missing (data set {self.index.root})") from None
            self._fds[k] = fd
        return fd

    def payload(self, i: int) -> bytes:
        """The payload of record ``i``, its CRC32 checked against the index."""
        rec = self.index.record(i)
        return self._payload(rec)

    def _payload(self, rec: Record) -> bytes:
        data = os.pread(self._fd(rec.shard), rec.length, rec.offset)
        if len(data) != rec.length:
            raise record_error(TruncatedError, self.index, rec, "shard ends before this record (truncated file)")
        if self.verify and zlib.crc32(data) != rec.crc:
            raise record_error(ChecksumError, self.index, rec, "payload checksum mismatch: the shard is corrupted")
        return data

    # ------------------------------------------------------------------ decode
    def decode(self, i: int) -> Item:
        """Record ``i`` decoded (named, labelled in ``extra["label"]``), its content check verified."""
        rec = self.index.record(i)
        payload = self._payload(rec)
        c = self.codec
        try:
            lim = self.limits.resolve(c, rec.meta.media)
            L.check_meta(rec.meta, lim, c.name)
            with L.using(lim):
                item = c.decode(payload, rec.meta, self.quality)
        except NcodecError as exc:
            raise record_error(type(exc), self.index, rec, str(exc)) from exc
        except Exception as exc:  # noqa: BLE001 - a codec parse failure is a CodecError
            raise record_error(CodecError, self.index, rec, str(payload_error(c.name, exc))) from exc
        if not isinstance(item.data, np.ndarray) or item.data.shape != rec.meta.shape \
                or item.data.dtype.name != rec.meta.dtype:
            raise record_error(CodecError, self.index, rec, "decoded shape/dtype differs from the index")
        symbols = item.extra.pop(CHECK_KEY, None)
        if self.verify and rec.check:
            # the same content check an ordinary archive verifies (api.Archive)
            if c.check_source() == CHECK_SYMBOLS:
                if not isinstance(symbols, (bytes, bytearray)):
                    raise record_error(CodecError, self.index, rec, "decoder returned no symbol check")
                got = container.content_check(rec.meta, bytes(symbols), len(rec.check))
            else:
                got = container.content_check(rec.meta, item.data, len(rec.check))
            if got != rec.check:
                raise record_error(IntegrityError, self.index, rec,
                                   "fails its content check: it decodes to other data than was written")
        item.meta, item.name = rec.meta, rec.name
        if rec.label >= 0:
            item.extra["label"] = rec.label
        return item

    def decode_latents(self, i: int) -> np.ndarray:
        """Record ``i`` as the codec's dequantized latents (no synthesis): codecs with ``decode_latents``."""
        rec = self.index.record(i)
        payload = self._payload(rec)
        c = self.codec
        fn = getattr(c, "decode_latents", None)
        if fn is None:
            raise CodecError(f"codec {c.name!r} has no latent decoding (decode='latents' needs e.g. wavelet)")
        try:
            return fn(payload, rec.meta, self.quality)
        except NcodecError as exc:
            raise record_error(type(exc), self.index, rec, str(exc)) from exc
        except Exception as exc:  # noqa: BLE001
            raise record_error(CodecError, self.index, rec, str(payload_error(c.name, exc))) from exc

    def close(self) -> None:
        """Close open shard files."""
        for fd in self._fds.values():
            try:
                os.close(fd)
            except OSError:
                pass
        self._fds = {}

    def __del__(self) -> None:
        if os.getpid() == getattr(self, "_pid", None):
            self.close()

    # ------------------------------------------------------------------ checks
    def check_shard(self, k: int, decode: bool = False) -> dict[str, Any]:
        """One shard's state: size and sha256 against the manifest, then (when they differ, or with
        ``decode``) every record's payload CRC, and with ``decode`` its content check too."""
        ent = self.index.shards[k]
        path = self.index.shard_path(k)
        out: dict[str, Any] = {"shard": k, "file": ent["file"], "records": ent["records"], "bytes": ent["bytes"],
                               "status": "ok", "bad_records": [], "detail": ""}
        if not path.is_file():
            out.update(status="missing", detail="file is missing")
            return out
        data = path.read_bytes()
        if len(data) == ent["bytes"] and hashlib.sha256(data).hexdigest() == ent["sha256"] and not decode:
            return out
        if len(data) != ent["bytes"]:
            out["detail"] = f"size {len(data)} B, manifest says {ent['bytes']} B"
        try:
            container.unpack(data)
        except NcodecError as exc:
            out["detail"] = "; ".join(x for x in (out["detail"], str(exc)) if x)
        first = ent["first"]
        for i in range(first, first + ent["records"]):
            try:
                self.decode(i) if decode else self.payload(i)
            except NcodecError as exc:
                out["bad_records"].append({"record": i - first, "index": i, "name": self.index.name(i),
                                           "error": f"{type(exc).__name__}: {str(exc).split(': ', 1)[-1]}"})
        if out["bad_records"] or out["detail"]:
            out["status"] = "corrupt"
            if not out["detail"]:
                out["detail"] = f"{len(out['bad_records'])} bad record(s)"
        return out

    def check(self, decode: bool = False) -> list[dict[str, Any]]:
        """``check_shard`` for every committed shard."""
        return [self.check_shard(k, decode) for k in range(len(self.index.shards))]
