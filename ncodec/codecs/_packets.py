"""Compact framing for codecs whose encoders emit a list of packets (Opus, x264, x265).

Layout: varint header fields, varint packet count, varint length of every packet, then the
packets back to back. No container (Ogg/MP4) overhead: the .ncz header already holds the metadata.
"""
from __future__ import annotations

from typing import Sequence

from .._varint import decode_uvarint, encode_uvarint


def pack_packets(packets: Sequence[bytes], fields: Sequence[int] = ()) -> bytes:
    """Serialise header integers + packets."""
    out = bytearray()
    for f in fields:
        out += encode_uvarint(int(f))
    out += encode_uvarint(len(packets))
    for p in packets:
        out += encode_uvarint(len(p))
    for p in packets:
        out += p
    return bytes(out)


def unpack_packets(payload: bytes, n_fields: int = 0, max_packets: int = 1 << 24) -> tuple[list[int], list[bytes]]:
    """Inverse of ``pack_packets``; raises ValueError (or a FormatError) on malformed payloads."""
    buf = memoryview(payload)
    pos = 0
    fields = []
    for _ in range(n_fields):
        v, pos = decode_uvarint(buf, pos)
        fields.append(v)
    n, pos = decode_uvarint(buf, pos)
    if n > min(max_packets, len(buf) - pos):
        raise ValueError("implausible packet count")
    lengths = []
    for _ in range(n):
        ln, pos = decode_uvarint(buf, pos)
        lengths.append(ln)
    if pos + sum(lengths) != len(buf):
        raise ValueError("packet lengths do not match the payload size")
    packets = []
    for ln in lengths:
        packets.append(bytes(buf[pos:pos + ln]))
        pos += ln
    return fields, packets
