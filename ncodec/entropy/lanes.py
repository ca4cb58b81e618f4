"""Chained lanes: many short messages in a few batched rANS streams (one flush per lane, not per message).

A batched rANS stream starts at state 0 and ends with its final state, so every stream pays a few
bytes beyond its information (about the table precision at the start, plus the state bytes at the
end). Coding each of N short messages (a 28x28 digit: ~120 bytes) as its own stream pays that N
times. Here message ``i`` goes to lane ``i % L`` as that lane's ``i // L``-th message, and each lane
is one stream holding its messages back to back: rANS carries the state from one message into the
next, so a lane pays the start/end cost once. The decoder still works in lock-step: round ``r``
decodes message ``r`` of every lane, and the lanes that have one form a prefix ``0 .. n_r - 1``.

Layout of the joined payload (``docs/format.md``, "Chained lanes"): the byte length of every lane
but the last as an unsigned LEB128 varint, then the lane payloads back to back (the last runs to
the end). The lane count is not stored: both sides derive it from the message count.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from .._varint import decode_uvarint, encode_uvarint
from ..errors import CodecError, NcodecError


def lane_count(messages: int, max_lanes: int) -> int:
    """Lanes used for ``messages`` messages: one per message up to ``max_lanes``."""
    return max(0, min(int(messages), int(max_lanes)))


def round_sizes(messages: int, lanes: int) -> list[int]:
    """Messages decoded in each lock-step round (lanes 0 .. size-1 take part in that round)."""
    if lanes <= 0:
        return []
    return [min(lanes, messages - r) for r in range(0, messages, lanes)]


def lane_messages(messages: int, lanes: int) -> np.ndarray:
    """How many messages each of ``lanes`` lanes holds (lane j: messages j, j + L, ...), int64 (L,)."""
    j = np.arange(max(0, lanes), dtype=np.int64)
    return -(-(messages - j) // lanes) if lanes > 0 else j


def to_lanes(rows: np.ndarray, lanes: int) -> tuple[np.ndarray, np.ndarray]:
    """(N, S) per-message symbol data -> (L, R*S) per-lane data and each lane's symbol count.

    Message ``i`` fills lane ``i % L`` at round ``i // L``; positions past a lane's count hold
    ``rows``'s first value and must be ignored (``ans_encode``'s ``lengths`` does that).
    """
    n, s = rows.shape
    rounds = -(-n // lanes)
    padded = np.empty((rounds * lanes, s), dtype=rows.dtype)
    padded[:n] = rows
    padded[n:] = rows.flat[0] if rows.size else 0
    per_lane = padded.reshape(rounds, lanes, s).transpose(1, 0, 2).reshape(lanes, rounds * s)
    return np.ascontiguousarray(per_lane), lane_messages(n, lanes) * s


def join(payloads: Sequence[bytes]) -> bytes:
    """Lane payloads -> one byte string (lengths of all but the last, then the payloads)."""
    head = b"".join(encode_uvarint(len(p)) for p in payloads[:-1])
    return head + b"".join(payloads)


def split(buf: bytes, lanes: int) -> list[bytes]:
    """Inverse of ``join`` for ``lanes`` lanes; CodecError if the lengths do not fit the buffer."""
    if lanes <= 0:
        if buf:
            raise CodecError("lanes: bytes after an empty stack")
        return []
    pos, sizes = 0, []
    try:
        for _ in range(lanes - 1):
            size, pos = decode_uvarint(buf, pos)
            sizes.append(size)
    except NcodecError:
        raise CodecError("lanes: damaged lane table") from None
    if sum(sizes) > len(buf) - pos:
        raise CodecError("lanes: lane lengths exceed the payload")
    out = []
    for size in sizes:
        out.append(bytes(buf[pos:pos + size]))
        pos += size
    out.append(bytes(buf[pos:]))
    return out
