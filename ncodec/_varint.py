"""LEB128 unsigned varints: the container's compact integer encoding."""
from __future__ import annotations

from .errors import FormatError, TruncatedError


def encode_uvarint(value: int) -> bytes:
    """Encode a non-negative int as LEB128 (7 bits per byte, high bit = more)."""
    if value < 0:
        raise ValueError("uvarint must be non-negative")
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def decode_uvarint(buf: bytes | memoryview, pos: int, limit: int | None = None) -> tuple[int, int]:
    """Decode a LEB128 varint at ``pos``; returns (value, new_pos). Rejects overlong (>10 byte) encodings."""
    end = len(buf) if limit is None else limit
    shift = 0
    value = 0
    for i in range(10):
        if pos >= end:
            raise TruncatedError("file ends inside a length field")
        byte = buf[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            if byte == 0 and i > 0:
                raise FormatError("non-canonical varint")
            return value, pos
        shift += 7
    raise FormatError("varint too long")
