"""The one timed round trip: compress items through the real file format, decompress the bytes,
and measure rate (real bits = 8 x file bytes), wall and CPU seconds and distortion.

``roundtrip(items, codec, quality, options)`` gives one row; sweeps, downstream-task evals and
every benchmark build on it (``code`` + ``trip_row`` when they also need the decoded items, e.g.
to classify them; ``combine`` to add rows of one item each, e.g. one file per image).
A list of items is coded as one archive (many small items such as MNIST digits), one item as
a single-record file.
"""
from __future__ import annotations

import resource
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence, TypeVar

from ..item import Item
from .metrics import distortion, mean_distortion, rate_units

T = TypeVar("T")
# Fields that say what was coded (taken from the first row when rows are combined).
IDENTITY = ("codec", "quality", "media", "rate_unit", "model_id", "codec_version")
# Fields that add up over rows (None in any row makes the sum None: e.g. no ideal bits).
TOTALS = ("n", "units", "bits", "payload_bits", "ideal_bits", "files_bits",
          "enc_s", "enc_cpu_s", "dec_s", "dec_cpu_s")


def timed(fn: Callable[[], T]) -> tuple[T, float, float]:
    """``fn()`` with its wall seconds and this process's CPU seconds (``time.process_time``,
    all threads): CPU time stays comparable on a shared, loaded machine, wall time does not."""
    t0, c0 = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - t0, time.process_time() - c0


def cpu_seconds() -> float:
    """User + system CPU seconds of this process and its finished children (pool workers):
    the cost of a whole run, sweeps in worker processes included."""
    a, b = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return a.ru_utime + a.ru_stime + b.ru_utime + b.ru_stime


@dataclass
class Trip:
    """One coded file and what came back: the inputs the codec saw, the decoded items, times."""

    data: bytes
    originals: list[Item]
    decoded: list[Item]
    codec: str
    quality: int
    payload_bytes: int
    model_id: bytes
    codec_version: int
    enc_s: float | None
    enc_cpu_s: float | None
    dec_s: float
    dec_cpu_s: float
    ideal_bits: float | None = None
    per_item: list[dict] = field(default_factory=list)

    def totals(self) -> dict:
        """The additive fields of this file (see ``TOTALS``)."""
        units, _ = rate_units(self.originals)
        return {"n": len(self.originals), "units": units, "bits": 8 * len(self.data),
                "payload_bits": 8 * self.payload_bytes, "ideal_bits": self.ideal_bits,
                "files_bits": split_file_bits(self.data) if len(self.originals) > 1 else 8 * len(self.data),
                "enc_s": self.enc_s, "enc_cpu_s": self.enc_cpu_s, "dec_s": self.dec_s, "dec_cpu_s": self.dec_cpu_s}


def decode_file(data: bytes, originals: Sequence[Item], enc_s: float | None = None,
                enc_cpu_s: float | None = None, ideal_bits: float | None = None,
                measure: bool = True) -> Trip:
    """Decode an .ncz file (timed: parsing, checks and decoding) and compare it with the items it
    was made from; for files made elsewhere (e.g. a cached fit), the encode time is given."""
    (c, decoded), dec_s, dec_cpu = timed(lambda: _open_and_decode(data, originals))
    trip = Trip(data=data, originals=list(originals), decoded=decoded, codec=c.codec, quality=int(c.quality),
                payload_bytes=c.payload_bytes, model_id=c.model_id, codec_version=int(c.codec_version),
                enc_s=enc_s, enc_cpu_s=enc_cpu_s, dec_s=dec_s, dec_cpu_s=dec_cpu, ideal_bits=ideal_bits)
    if len(decoded) != len(trip.originals):
        trip.per_item = [{"exact": False, "error": f"{len(decoded)} records decoded for {len(originals)} items"}]
    elif measure:
        trip.per_item = [distortion(a, b) for a, b in zip(trip.originals, decoded)]
    return trip


def _open_and_decode(data: bytes, originals: Sequence[Item]):
    """What ``decompress_bytes`` does (parse, check, decode all records), keeping the header.

    The decode limits are sized to the items just coded (a measured file is trusted: the default
    limits exist for files from elsewhere, e.g. flow's 32k-pixel cap on junk payloads)."""
    from .. import api
    from .. import limits as L
    px = max([L.DEFAULT_MAX_PIXELS] + [L.pixels_of(it.meta) for it in originals])
    nbytes = max(L.DEFAULT_MAX_BYTES, sum(it.data.nbytes for it in originals))
    arc = api.open(data, max_pixels=px, max_bytes=nbytes)
    return arc.container, arc.decode_all()


def code(items: Item | Sequence[Item], codec: str, quality: int | None = None,
         options: Mapping[str, Any] | None = None, archive: bool | None = None, keep_names: bool = True,
         measure: bool = True) -> Trip:
    """Compress through ``ncodec.api`` (timed), decode the bytes (timed) and measure each item.

    A list of items becomes one archive; ``archive`` forces the choice (as in ``compress_items``).
    The originals are the items the codec coded (an (N, H, W) image stack counts as N images).
    """
    from .. import api
    its = [items] if isinstance(items, Item) else list(items)
    res, enc_s, enc_cpu = timed(lambda: api.compress_items(its, codec=codec, quality=quality, archive=archive,
                                                           keep_names=keep_names, options=options))
    return decode_file(res.data, res.items, enc_s, enc_cpu, res.ideal_bits, measure)


def trip_row(trips: Trip | Sequence[Trip]) -> dict:
    """One row for one or several files of one codec and quality: totals, rate, distortion means."""
    ts = [trips] if isinstance(trips, Trip) else list(trips)
    first = ts[0]
    originals = [it for t in ts for it in t.originals]
    per_item = [d for t in ts for d in t.per_item]
    row = dict(zip(IDENTITY, (first.codec, first.quality, originals[0].meta.media if originals else "",
                              rate_units(originals)[1], first.model_id.hex() or None, first.codec_version)))
    row.update(_sum(t.totals() for t in ts))
    row.update(mean_distortion(per_item))
    errors = [d["error"] for d in per_item if d.get("error")]
    row.update(exact=bool(per_item) and row["exact_items"] == row["n"] and not errors,
               error=errors[0] if errors else None)
    return _with_rates(row)


def roundtrip(items: Item | Sequence[Item], codec: str, quality: int | None = None,
              options: Mapping[str, Any] | None = None, archive: bool | None = None,
              keep_names: bool = True) -> dict:
    """Compress -> file bytes -> decompress, measured: one row with ``bits`` (8 x file bytes),
    ``payload_bits``, ``ideal_bits``, ``rate`` (bits per ``rate_unit``), wall and CPU seconds of
    encode and decode, ``exact`` and the distortion means (``metrics.distortion``)."""
    return trip_row(code(items, codec, quality, options, archive, keep_names))


def combine(rows: Sequence[Mapping]) -> dict:
    """Rows of one codec and quality added up (e.g. one file per item): summed bits, units and
    times, rates from the sums, distortion means weighted by item count."""
    rows = list(rows)
    out = {k: rows[0][k] for k in IDENTITY if rows and k in rows[0]}
    out.update(_sum(rows))
    out.update(mean_distortion(rows))
    out["exact"] = bool(rows) and out["exact_items"] == out["n"]
    return _with_rates(out)


def split_file_bits(data: bytes) -> int:
    """Real bits if every record of an archive were its own single-record file (same payloads,
    names, and the content check a single-item file gets)."""
    from .. import container
    from ..api import CHECK_BYTES_SINGLE
    c = container.unpack(data)
    check = bytes(CHECK_BYTES_SINGLE) if c.check_bytes else b""     # size only: the value does not matter
    return 8 * sum(len(container.pack(container.Container(c.codec, c.codec_version, c.quality,
                                                           [container.Record(r.payload, r.meta, r.name, check)],
                                                           model_id=c.model_id)))
                   for r in c.records)


def _sum(parts) -> dict:
    parts = list(parts)
    out: dict = {}
    for k in TOTALS:
        vals = [p.get(k) for p in parts]
        if k == "n":
            vals = [1 if v is None else v for v in vals]
        out[k] = None if not vals or any(v is None for v in vals) else sum(vals)
    return out


def ratio(num: float | None, den: float | None) -> float | None:
    """``num / den``, None when either is missing or ``den`` is 0: a rate (bits per unit) or a
    throughput (e.g. megapixels per CPU second)."""
    return num / den if num is not None and den else None


def _with_rates(row: dict) -> dict:
    """Add the rates: real bits, payload bits, ideal bits and one-file-per-item bits per unit."""
    for name, bits in (("rate", "bits"), ("payload_rate", "payload_bits"), ("ideal_rate", "ideal_bits"),
                       ("files_rate", "files_bits")):
        row[name] = ratio(row.get(bits), row.get("units"))
    return row
