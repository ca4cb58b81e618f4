"""Seeded fuzzing of every codec through the public API, shared by ``tests/test_fuzz_payloads.py``
(CI-sized) and ``benchmarks/fuzz.py`` (``make fuzz``, long runs).

Each case is a hostile variant of a small real ``.ncz`` file, always with a valid file
checksum (the container is repacked, or its CRC recomputed), so only the parser's own checks,
the decoders' size checks and the per-record content checks stand between it and the output:

- ``payload``: one record's payload mutated (bit flips, byte values, truncation, insertion,
  deletion, duplication, zero/0xFF runs, splices, random bytes), stored content checks kept;
- ``header``: header fields changed (shape, dtype, media, rates, quality, codec name, names,
  records dropped/swapped, raw header bytes);
- ``shape``: hostile declared sizes: huge header shapes, size fields inside payloads maxed
  out (zstd content size, PNG IHDR, FLAC STREAMINFO, WebP dimensions, packet counts), odd rates;
- ``limit``: header shapes at the default decode limit, with the real or a junk payload: the
  most work a small file can ask of a decoder (slow for the learned codecs: few in CI).

Outcomes per case: ``clean`` (an ``NcodecError``), ``same`` (accepted, decodes to exactly what
the unmutated file decodes to: a mutation of bytes nobody reads, a name), ``wrong`` (accepted
with other data: the failure this suite exists to find), ``crash`` (any other exception, or the
worker died), ``memory`` (a MemoryError, under the worker's address-space cap), ``hang`` (no
answer within the parent's timeout). Every case reports its wall time and its peak RSS growth
(``VmHWM`` reset per case through ``/proc/self/clear_refs``).

Cases run in worker subprocesses under ``RLIMIT_AS`` (baseline + ``mem_cap_mb``); the parent
reads one JSON line per case and restarts a worker after a crash or a hang.
"""
from __future__ import annotations

import json
import os
import select
import struct
import subprocess
import sys
import time
import zlib
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
KINDS = ("payload", "header", "shape", "limit")
OUTCOMES = ("clean", "same", "wrong", "crash", "memory", "hang")
TIME_GOAL_S = 10.0
MEM_GOAL_MB = 512.0
HEAVY_CODECS = {"flow", "wavelet", "nerv", "hnerv", "hclt", "inr"}

CLASSICAL_IMAGE = ("png", "webp-lossless", "webp", "jpegxl-lossless", "jpegxl", "avif", "jpeg")
CODECS = CLASSICAL_IMAGE + ("flac", "opus", "x264", "x264-lossless", "x265", "zstd",
                            "hclt", "flow", "wavelet", "nerv", "hnerv", "inr")


# ------------------------------------------------------------------ samples

def _photo(rng, h: int, w: int, c: int, dtype=np.uint8) -> np.ndarray:
    """Natural-ish content: smooth gradients + texture + a little noise."""
    yy, xx = np.mgrid[0:h, 0:w]
    base = np.stack([(np.sin(xx / 3.0 + k) + np.cos(yy / 4.0 - k)) for k in range(max(c, 1))], -1)
    top = 65535 if dtype == np.uint16 else 255
    a = (base - base.min()) / max(np.ptp(base), 1e-9) * 0.8 * top + rng.integers(0, max(top // 20, 2), base.shape)
    a = np.clip(a, 0, top).astype(dtype)
    return a[..., 0] if c == 1 else a


def _sample_items(codec: str):
    """[(items, quality, options)] for a codec: small inputs of its usual kinds."""
    from ncodec.item import Item
    rng = np.random.default_rng(7)
    img = lambda h, w, c, dt=np.uint8: Item.from_array(_photo(rng, h, w, c, dt), "image")  # noqa: E731
    if codec in CLASSICAL_IMAGE:
        out = [([img(12, 16, 3)], None, None), ([img(9, 7, 1)], None, None)]
        if codec not in ("jpeg",):
            out.append(([img(8, 6, 4)], None, None))
        if codec in ("png", "jpegxl-lossless", "jpegxl"):
            out.append(([img(7, 5, 1, np.uint16)], None, None))
        out.append(([img(10, 8, 3), img(6, 9, 3)], None, None))
        return out
    if codec == "flac":
        mono = Item.from_array(rng.integers(-3000, 3000, 300).astype(np.int16), "audio", sample_rate=8000)
        st = Item.from_array((rng.integers(-(1 << 22), 1 << 22, (200, 2)) << 8).astype(np.int32), "audio",
                             sample_rate=44100)
        two = [Item.from_array(rng.integers(-99, 99, 120).astype(np.int16), "audio", sample_rate=8000)
               for _ in range(2)]
        return [([mono], None, None), ([st], None, None), (two, None, None)]
    if codec == "opus":
        t = np.arange(480)
        mono = Item.from_array((np.sin(t / 5.0) * 8000).astype(np.int16), "audio", sample_rate=8000)
        st = Item.from_array(np.stack([np.sin(t / 7.0), np.cos(t / 9.0)], 1).astype(np.float32) * 0.3, "audio",
                             sample_rate=48000)
        return [([mono], 12, None), ([st], 32, None), ([mono, mono], 8, None)]
    if codec in ("x264", "x264-lossless", "x265"):
        v = lambda t: Item.from_array(np.stack([_photo(rng, 16, 16, 3) for _ in range(t)]), "video",  # noqa: E731
                                      frame_rate=25)
        return [([v(2)], None, None), ([v(1), v(2)], None, None)]
    if codec == "zstd":
        return [([Item.from_bytes(b"ncodec fuzz " * 20)], 3, None),
                ([Item.from_array(rng.normal(size=(3, 5)).astype(np.float32), "tensor")], 3, None),
                ([Item.from_array(np.arange(6, dtype=np.uint16).reshape(2, 3), "image")], 3, None),
                ([Item.from_bytes(b"a" * 10), Item.from_bytes(bytes(range(40)))], 3, None)]
    if codec == "hclt":
        digit = lambda: Item.from_array(_digit(rng), "image")  # noqa: E731
        stack = Item.from_array(np.stack([_digit(rng) for _ in range(5)]), "tensor")     # chained lanes
        return [([digit()], 1, None), ([digit(), digit()], 1, None), ([stack], 1, None)]
    if codec == "flow":
        return [([Item.from_array(_digit(rng), "image")], 1, None), ([img(20, 20, 3)], 1, None),
                ([Item.from_array(_digit(rng), "image"), Item.from_array(_digit(rng), "image")], 1, None)]
    if codec == "wavelet":
        aud = Item.from_array((np.sin(np.arange(600) / 6.0) * 6000).astype(np.int16), "audio", sample_rate=8000)
        return [([img(24, 24, 3)], 3, None), ([aud], 5, None), ([img(16, 16, 1), img(16, 12, 3)], 3, None)]
    if codec == "inr":       # a few fitting steps: the decoder and its checks are what is fuzzed
        opts = {"iterations": 4, "progress": False, "threads": 1, "device": "cpu"}
        return [([img(24, 20, 3)], 4, opts), ([img(16, 16, 1)], 6, opts), ([img(12, 16, 3), img(9, 7, 3)], 2, opts)]
    if codec in ("nerv", "hnerv"):
        clip = Item.from_array(np.stack([_photo(rng, 16, 16, 3) for _ in range(2)]), "video", frame_rate=25)
        opts = {"steps": 3, "progress": False, "threads": 1, "device": "cpu"}
        return [([clip], 0, opts)]
    raise KeyError(codec)


def _digit(rng) -> np.ndarray:
    a = np.zeros((28, 28), np.uint8)
    r0, c0 = rng.integers(4, 10, 2)
    a[r0:r0 + 14, c0:c0 + 3] = 255
    a[r0:r0 + 3, c0:c0 + 10] = rng.integers(150, 256)
    return a


_SAMPLES: dict[str, list[tuple[bytes, list[bytes]]]] = {}


def samples(codec: str) -> list[tuple[bytes, list[bytes]]]:
    """[(file bytes, reference decoded records)] for ``codec`` (built once per process)."""
    if codec not in _SAMPLES:
        import ncodec
        out = []
        for items, q, opts in _sample_items(codec):
            data = ncodec.compress_items(items, codec=codec, quality=q, options=opts,
                                         archive=len(items) > 1).data
            out.append((data, [_digest(it) for it in ncodec.decompress_bytes(data)]))
        _SAMPLES[codec] = out
    return _SAMPLES[codec]


def _digest(item) -> bytes:
    from ncodec.container import canonical_bytes
    a = item.data
    return f"{a.shape}|{a.dtype.name}|".encode() + bytes(canonical_bytes(a))   # data only: names are not content


# ------------------------------------------------------------------ mutations

def _pos(rng, n: int) -> int:
    """A position, biased to the first 64 bytes where most size and mode fields live."""
    if n <= 0:
        return 0
    return int(rng.integers(min(n, 64))) if rng.random() < 0.5 else int(rng.integers(n))


def mutate_bytes(buf: bytes, rng) -> tuple[bytes, str]:
    """One random mutation of ``buf``: (new bytes, what was done)."""
    b = bytearray(buf)
    n = len(b)
    op = int(rng.integers(11))
    if n == 0 and op not in (3, 5, 8):
        op = 8
    if op == 0:
        k = int(rng.integers(1, 5))
        for _ in range(k):
            i = _pos(rng, n)
            b[i] ^= 1 << int(rng.integers(8))
        return bytes(b), f"flip {k} bits"
    if op == 1:
        k = int(rng.integers(1, 9))
        for _ in range(k):
            b[_pos(rng, n)] = int(rng.integers(256))
        return bytes(b), f"set {k} bytes"
    if op == 2:
        cut = int(rng.integers(n))
        return bytes(b[:cut]), f"truncate to {cut}"
    if op == 3:
        k = int(rng.integers(1, 65))
        return bytes(b) + rng.integers(0, 256, k, dtype=np.uint8).tobytes(), f"append {k}"
    if op == 4:
        i = _pos(rng, n)
        k = int(rng.integers(1, max(2, min(64, n - i + 1))))
        return bytes(b[:i] + b[i + k:]), f"delete {k} at {i}"
    if op == 5:
        i = _pos(rng, n + 1)
        k = int(rng.integers(1, 33))
        return bytes(b[:i]) + rng.integers(0, 256, k, dtype=np.uint8).tobytes() + bytes(b[i:]), f"insert {k} at {i}"
    if op == 6:
        i = _pos(rng, n)
        k = int(rng.integers(1, 17))
        v = (0, 0xFF, 0x7F, 0x80)[int(rng.integers(4))]
        b[i:i + k] = bytes([v]) * len(b[i:i + k])
        return bytes(b), f"fill {k} x {v:#x} at {i}"
    if op == 7:
        i, j = _pos(rng, n), _pos(rng, n)
        k = int(rng.integers(1, 33))
        return bytes(b[:j] + b[i:i + k] + b[j:]), f"duplicate {k} from {i} to {j}"
    if op == 8:
        k = int(rng.integers(0, 2 * n + 2))
        return rng.integers(0, 256, k, dtype=np.uint8).tobytes(), f"random {k} bytes"
    if op == 9:
        i, j = sorted((_pos(rng, n), _pos(rng, n)))
        k = int(rng.integers(1, 17))
        if j >= i + k:
            b[i:i + k], b[j:j + k] = b[j:j + k], b[i:i + k]
        return bytes(b[:n + k]), f"swap {k} at {i},{j}"
    i = _pos(rng, n)   # op 10: a run of 0xFF (maxes out size fields)
    k = int(rng.integers(1, 5))
    b[i:i + k] = b"\xff" * len(b[i:i + k])
    return bytes(b), f"0xff x{k} at {i}"


def _recrc(buf: bytearray) -> bytes:
    buf[-4:] = struct.pack("<I", zlib.crc32(bytes(buf[:-4])))
    return bytes(buf)


def _repack(c) -> bytes:
    from ncodec import container
    return container.pack(c)


def payload_case(data: bytes, rng) -> tuple[bytes, str]:
    from ncodec import container
    c = container.unpack(data)
    r = int(rng.integers(len(c.records)))
    new, desc = mutate_bytes(c.records[r].payload, rng)
    c.records[r].payload = new
    return _repack(c), f"record {r}: {desc}"


def header_case(data: bytes, rng) -> tuple[bytes, str]:
    from ncodec import container
    from ncodec.codecs.base import available
    from ncodec.item import DTYPES, MEDIA_KINDS
    c = container.unpack(data)
    r = int(rng.integers(len(c.records)))
    m = c.records[r].meta
    op = int(rng.integers(10))
    try:
        if op == 0:
            shape = list(m.shape) or [1]
            i = int(rng.integers(len(shape)))
            shape[i] = max(0, shape[i] + int(rng.choice([-1, 1, 2, -2, 8])) if rng.random() < 0.6
                           else shape[i] * int(rng.choice([2, 3])))
            if rng.random() < 0.3 and len(shape) > 1:
                shape = shape[::-1]
            c.records[r].meta = m.with_(shape=tuple(shape))
            desc = f"shape {m.shape} -> {tuple(shape)}"
        elif op == 1:
            dt = DTYPES[int(rng.integers(len(DTYPES)))]
            c.records[r].meta = m.with_(dtype=dt)
            desc = f"dtype {m.dtype} -> {dt}"
        elif op == 2:
            media = MEDIA_KINDS[int(rng.integers(len(MEDIA_KINDS)))]
            c.records[r].meta = m.with_(media=media, sample_rate=m.sample_rate or 8000, frame_rate=m.frame_rate or 25)
            desc = f"media {m.media} -> {media}"
        elif op == 3:
            q = int(rng.integers(0, 120))
            c.quality = q
            desc = f"quality -> {q}"
        elif op == 4:
            names = sorted(available())
            other = names[int(rng.integers(len(names)))]
            c.codec = other
            desc = f"codec -> {other}"
        elif op == 5:
            c.records[r].meta = m.with_(sample_rate=int(rng.integers(0, 1 << 20)),
                                        frame_rate=int(rng.integers(0, 1000)))
            desc = "rates"
        elif op == 6:
            c.records[r].name = rng.choice(["../x", "a/b", "", "x" * 300, "n\0l", "é.png"])
            desc = "name"
        elif op == 7 and len(c.records) > 1:
            a, b = c.records[0], c.records[1]
            if rng.random() < 0.5:
                a.payload, b.payload = b.payload, a.payload
                desc = "payloads swapped"
            elif rng.random() < 0.5:
                c.records = c.records[:1]
                desc = "records: keep [0]"            # authentic records, moved: expected as such
            else:
                c.records = c.records + [c.records[0]]
                desc = "records: append a copy of [0]"
        else:
            # raw bytes of the header (CRC recomputed): the parser alone must cope
            raw = bytearray(data)
            end = len(data) - 4 - c.payload_bytes
            k = int(rng.integers(1, 4))
            for _ in range(k):
                i = int(rng.integers(3, max(4, end)))
                raw[i] = raw[i] ^ (1 << int(rng.integers(8))) if rng.random() < 0.5 else int(rng.integers(256))
            return _recrc(raw), f"raw header bytes x{k}"
        return _repack(c), desc
    except ValueError as exc:       # a field the writer itself refuses (e.g. an unknown media)
        return data, f"unrepresentable ({exc}); unchanged"


def _limit_dims(codec: str, m) -> tuple[int, ...]:
    """A shape for ``m``'s media at the default pixel limit of ``codec``."""
    from ncodec import limits as L
    from ncodec.codecs import get_codec
    lim = L.Limits().resolve(get_codec(codec), m.media)
    px = lim.max_pixels
    s = list(m.shape)
    if m.media == "image":
        h = int(np.sqrt(px))
        s[0], s[1] = h, px // h
    elif m.media == "video":
        t = max(1, min(s[0], 4))
        h = int(np.sqrt(px // t))
        s[0], s[1], s[2] = t, h, (px // t) // h
    elif s:
        s[0] = px
    while L.bytes_of(m.with_(shape=tuple(s))) > lim.max_bytes and s[0] > 1:
        s[0] = s[0] * 3 // 4
    return tuple(s)


def shape_case(codec: str, data: bytes, rng) -> tuple[bytes, str, bool]:
    """(file, description, heavy): heavy cases make a decoder do the most a small file allows."""
    from ncodec import container
    c = container.unpack(data)
    r = int(rng.integers(len(c.records)))
    rec = c.records[r]
    m = rec.meta
    op = int(rng.integers(4))
    if op == 0 and m.shape:
        shape = [int(d) * (1 << int(rng.integers(4, 24))) if rng.random() < 0.7 else int(rng.integers(1 << 20, 1 << 34))
                 for d in m.shape]
        rec.meta = m.with_(shape=tuple(shape))
        return _repack(c), f"huge shape {tuple(shape)}", False
    if op == 1:
        new, desc = _crafted_payload(codec, rec.payload, rng)
        rec.payload = new
        return _repack(c), desc, False
    if op == 2 and m.media == "audio":
        rec.meta = m.with_(sample_rate=int(rng.choice([1, 2, 7, 1 << 20, 767999])))
        return _repack(c), f"sample rate {rec.meta.sample_rate}", False
    b = bytearray(rec.payload)
    i = _pos(rng, len(b))
    k = int(rng.integers(1, 9))
    b[i:i + k] = b"\xff" * len(b[i:i + k])
    rec.payload = bytes(b)
    return _repack(c), f"payload 0xff x{k} at {i}", False


def _crafted_payload(codec: str, p: bytes, rng) -> tuple[bytes, str]:
    """A payload whose own size fields claim far more than the header (format-aware where simple)."""
    b = bytearray(p)
    if codec == "zstd" and len(b) > 6:
        if rng.random() < 0.5:
            b[4] &= 0x3F                     # no content size in the frame header
            b[4] &= ~0x20 & 0xFF
            return bytes(b[:5] + b"\x58" + b[6:]), "zstd frame without content size"
        fcs = bytes([0xE0]) + (1 << 40).to_bytes(8, "little")
        return b[:4] + fcs + bytes(b[6:]), "zstd content size 2^40"
    if codec == "png" and len(b) > 33 and b[12:16] == b"IHDR":
        b[16:20] = int(rng.choice([1 << 14, 1 << 20, 0x7FFFFFFF])).to_bytes(4, "big")
        b[20:24] = int(rng.choice([1 << 14, 1 << 20])).to_bytes(4, "big")
        b[29:33] = zlib.crc32(bytes(b[12:29])).to_bytes(4, "big")
        return bytes(b), "png IHDR huge"
    if codec == "flac" and len(b) > 26 and b[:4] == b"fLaC":
        v = int.from_bytes(b[18:26], "big")
        v = (v & ~((1 << 36) - 1)) | int(rng.choice([(1 << 36) - 1, 1 << 30, 0]))
        b[18:26] = v.to_bytes(8, "big")
        return bytes(b), "flac STREAMINFO total samples"
    if codec in ("webp", "webp-lossless") and len(b) > 30 and b[12:16] in (b"VP8L", b"VP8 "):
        if b[12:16] == b"VP8L":
            b[21:25] = b"\xff\xff\xff\x0f"
        else:
            b[26:30] = b"\xff\x3f\xff\x3f"
        return bytes(b), "webp dims 16383"
    if codec in ("opus", "x264", "x265", "x264-lossless"):
        from ncodec._varint import encode_uvarint
        n = int(rng.integers(1000, 60000))
        head = encode_uvarint(312) if codec == "opus" else b""
        pk = bytes([0xFC]) if codec == "opus" else b"\x00\x00\x00\x01\x09\x10"
        return head + encode_uvarint(n) + encode_uvarint(len(pk)) * n + pk * n, f"{n} tiny packets"
    return mutate_bytes(p, rng)


def limit_case(codec: str, data: bytes, rng) -> tuple[bytes, str]:
    """A record whose header shape sits at the codec's default decode limit (real or junk payload)."""
    from ncodec import container
    c = container.unpack(data)
    rec = c.records[int(rng.integers(len(c.records)))]
    rec.meta = rec.meta.with_(shape=_limit_dims(codec, rec.meta))
    junk = rng.random() < 0.5
    if junk:
        rec.payload = rng.integers(0, 256, max(len(rec.payload), 8), dtype=np.uint8).tobytes()
    return _repack(c), f"shape at the limit {rec.meta.shape}{', junk payload' if junk else ''}"


def make_case(codec: str, kind: str, seed: int, index: int) -> tuple[bytes, int, str, bool]:
    """Deterministic case ``index`` of ``kind`` for ``codec``: (file, sample index, description, heavy)."""
    rng = np.random.default_rng([seed, zlib.crc32(codec.encode()), KINDS.index(kind), index])
    smp = samples(codec)
    si = int(rng.integers(len(smp)))
    data = smp[si][0]
    case = _make(codec, kind, data, rng)
    return case[0], si, case[1], case[2]


def expected(codec: str, si: int, desc: str) -> list[bytes]:
    """What an accepted decode must give: the sample's records (as moved by a record edit)."""
    ref = samples(codec)[si][1]
    if desc == "records: keep [0]":
        return ref[:1]
    if desc == "records: append a copy of [0]":
        return ref + ref[:1]
    return ref


def _make(codec: str, kind: str, data: bytes, rng) -> tuple[bytes, str, bool]:
    if kind == "payload":
        new, desc = payload_case(data, rng)
        return new, desc, False
    if kind == "header":
        new, desc = header_case(data, rng)
        return new, desc, False
    if kind == "limit":
        new, desc = limit_case(codec, data, rng)
        return new, desc, True
    return shape_case(codec, data, rng)


# ------------------------------------------------------------------ running one case

def _status_kb(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def _reset_peak() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def run_case(codec: str, kind: str, seed: int, index: int) -> dict:
    """Decode one case as a user would (default limits) and classify what happened."""
    import ncodec
    from ncodec.errors import NcodecError
    data, si, desc, heavy = make_case(codec, kind, seed, index)
    ref = expected(codec, si, desc)
    if kind == "limit":
        import gc
        gc.collect()          # slow with torch loaded (~30 ms): only before the big cases
    _reset_peak()
    rss0 = _status_kb("VmRSS")
    t0 = time.perf_counter()
    err = ""
    try:
        out = ncodec.decompress_bytes(data)
        got = [_digest(it) for it in out]
        outcome = "same" if got == ref else "wrong"
        del out
    except NcodecError as exc:
        cause = exc.__cause__
        outcome = "memory" if isinstance(cause, MemoryError) else "clean"
        err = f"{type(exc).__name__}: {str(exc)[:160]}"
    except MemoryError as exc:
        outcome, err = "memory", f"MemoryError: {exc}"
    except Exception as exc:    # noqa: BLE001 - any other exception is what we count as a crash
        outcome, err = "crash", f"{type(exc).__name__}: {str(exc)[:160]}"
    dt = time.perf_counter() - t0
    peak = max(0, _status_kb("VmHWM") - rss0) / 1024
    return {"codec": codec, "kind": kind, "index": index, "outcome": outcome, "s": round(dt, 4),
            "mb": round(peak, 1), "heavy": heavy, "desc": desc, "err": err}


# ------------------------------------------------------------------ worker + driver

def worker(tasks: list, seed: int, mem_cap_mb: float) -> None:
    """Run ``tasks`` ([codec, kind, index] each), one JSON line per case on stdout, under an
    address-space cap set after warm-up (samples encoded, models loaded, one decode each)."""
    import resource
    codecs = sorted({t[0] for t in tasks})
    if any(c in HEAVY_CODECS for c in codecs):
        import torch
        torch.set_num_threads(1)
    for c in codecs:
        samples(c)
        import ncodec
        ncodec.decompress_bytes(samples(c)[0][0])
    if mem_cap_mb:
        vsz = _status_kb("VmSize") * 1024
        cap = int(vsz + mem_cap_mb * 1024 * 1024)
        resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    print(json.dumps({"ready": True}), flush=True)
    for codec, kind, i in tasks:
        print(json.dumps(run_case(codec, kind, seed, i)), flush=True)


def _spawn(tasks: list, seed: int, mem_cap_mb: float):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO), str(REPO / "tests")]),
               OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    cmd = [sys.executable, "-c",
           "import sys, json, fuzzlib; a = json.loads(sys.stdin.readline()); fuzzlib.worker(**a)"]
    import tempfile
    err = tempfile.TemporaryFile()
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err,
                            env=env, cwd=str(REPO))
    proc.errfile = err
    proc.stdin.write((json.dumps({"tasks": tasks, "seed": seed, "mem_cap_mb": mem_cap_mb}) + "\n").encode())
    proc.stdin.close()
    return proc


def _read_line(proc, timeout: float) -> str | None:
    """One line from the worker, None on timeout; '' at end of output."""
    fd = proc.stdout.fileno()
    buf = b""
    end = time.monotonic() + timeout
    while True:
        left = end - time.monotonic()
        if left <= 0:
            return None
        r, _, _ = select.select([fd], [], [], left)
        if not r:
            return None
        ch = os.read(fd, 1)
        if not ch or ch == b"\n":
            return buf.decode(errors="replace")
        buf += ch


def run_tasks(tasks: list, seed: int, hang_s: float = 60.0, mem_cap_mb: float = 1024.0,
              start_s: float = 600.0, progress=None) -> list[dict]:
    """Run ``tasks`` ([codec, kind, index] each) in worker subprocesses; one result dict per case.
    A worker that stops answering for ``hang_s`` is killed (that case: a hang), one that dies
    takes its case as a crash; either way a fresh worker continues with the next case."""
    results: list[dict] = []
    todo = [list(t) for t in tasks]
    while todo:
        proc = _spawn(todo, seed, mem_cap_mb)
        line = _read_line(proc, start_s)
        if not line or not line.startswith('{"ready"'):
            proc.kill()
            proc.wait()
            err = _stderr_tail(proc, 600)
            raise RuntimeError(f"fuzz worker did not start: {err}")
        while todo:
            codec, kind, i = todo[0]
            line = _read_line(proc, hang_s)
            if line is None or line == "":
                if line is None:
                    proc.kill()
                proc.wait()
                if line is None:
                    outcome, err = "hang", f"no answer in {hang_s:.0f} s"
                else:
                    tail = _stderr_tail(proc, 2000).strip().splitlines()[-1:] or [""]
                    outcome, err = "crash", f"worker died (rc {proc.returncode}): {tail[0][:160]}"
                results.append({"codec": codec, "kind": kind, "index": i, "outcome": outcome,
                                "s": hang_s if outcome == "hang" else 0.0, "mb": 0.0, "heavy": False,
                                "desc": make_case_desc(codec, kind, seed, i), "err": err})
                todo.pop(0)
                break
            results.append(json.loads(line))
            todo.pop(0)
            if progress is not None:
                progress(results[-1])
        else:
            proc.wait()
        proc.stdout.close()
        proc.errfile.close()
    return results


def _stderr_tail(proc, n: int) -> str:
    f = proc.errfile
    f.seek(0)
    return f.read().decode(errors="replace")[-n:]


def plan(counts: dict[str, dict[str, int]]) -> list:
    """Tasks ([codec, kind, index]) for ``counts`` {codec: {kind: n}}."""
    tasks = []
    for codec, kinds in counts.items():
        for kind, n in kinds.items():
            for i in range(n):
                tasks.append([codec, kind, i])
    return tasks


def make_case_desc(codec: str, kind: str, seed: int, index: int) -> str:
    try:
        return make_case(codec, kind, seed, index)[2]
    except Exception as exc:  # noqa: BLE001 - description only
        return f"(case not rebuilt here: {type(exc).__name__})"


def summarize(results: list[dict]) -> dict:
    """Per-codec counts: cases, outcome counts, slow cases (over the time goal), peak MB, max s."""
    out: dict[str, dict] = {}
    for r in results:
        s = out.setdefault(r["codec"], {"cases": 0, **{o: 0 for o in OUTCOMES}, "over_10s": 0,
                                        "peak_mb": 0.0, "max_s": 0.0, "by_kind": {}, "examples": []})
        s["cases"] += 1
        s[r["outcome"]] += 1
        s["over_10s"] += r["s"] > TIME_GOAL_S
        s["peak_mb"] = max(s["peak_mb"], r["mb"])
        s["max_s"] = max(s["max_s"], r["s"])
        k = s["by_kind"].setdefault(r["kind"], {o: 0 for o in OUTCOMES})
        k[r["outcome"]] += 1
        if r["outcome"] in ("wrong", "crash", "memory", "hang") or r["s"] > TIME_GOAL_S or r["mb"] > MEM_GOAL_MB:
            if len(s["examples"]) < 8:
                s["examples"].append({k2: r[k2] for k2 in ("kind", "index", "outcome", "s", "mb", "desc", "err")})
    return out
