"""Batched lock-step rANS (ncodec.entropy.batched_ans): round trips, batch invariance, layout, damaged input."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import torch

from ncodec.entropy import BatchedAnsDecoder, BatchedAnsEncoder, ans_encode, freq_start, quantize_probs
from ncodec.errors import CodecError


def random_case(rng: np.random.Generator, b: int, steps: int, k: int, prec: int, skew: float = 3.0):
    """Random per-stream, per-step PMFs (S, B, K) summing to 2**prec, symbols drawn from them (B, S)."""
    p = np.exp(skew * rng.standard_normal((steps, b, k)))
    pmf = quantize_probs(p, prec) if k > 1 else np.full((steps, b, 1), 1 << prec, np.int64)
    cum = np.cumsum(pmf, axis=2)
    u = rng.integers(0, 1 << prec, (steps, b, 1))
    syms = (cum <= u).sum(axis=2).T                            # (B, S), each drawn with probability pmf / 2**prec
    return pmf, syms


def encode_case(pmf: np.ndarray, syms: np.ndarray, prec: int, lengths=None) -> list[bytes]:
    enc = BatchedAnsEncoder(syms.shape[0], prec, lengths)
    for s in range(pmf.shape[0]):
        enc.push_pmf(pmf[s], syms[:, s])
    return enc.finish()


def decode_case(payloads: list[bytes], pmf: np.ndarray, prec: int, lengths) -> np.ndarray:
    dec = BatchedAnsDecoder(payloads, prec, lengths)
    out = np.stack([dec.decode(pmf[s]) for s in range(pmf.shape[0])], 1)
    dec.finish()
    return out


@pytest.mark.parametrize("k,prec", [(1, 16), (2, 12), (3, 8), (16, 16), (256, 24), (5, 32)])
@pytest.mark.parametrize("b", [1, 37, 600])
def test_round_trip_ragged_streams(k, prec, b):
    rng = np.random.default_rng(1000 * k + b)
    steps = 40
    lengths = rng.integers(0, steps + 1, b)
    lengths[0] = steps
    pmf, syms = random_case(rng, b, steps, k, prec)
    payloads = encode_case(pmf, syms, prec, lengths)
    assert all(len(p) > 0 for p in payloads)
    out = decode_case(payloads, pmf, prec, lengths)
    live = np.arange(steps)[None, :] < lengths[:, None]
    assert np.array_equal(out[live], syms[live])
    assert (out[~live] == -1).all()                             # streams past their end decode nothing
    # the whole-array form gives the same bytes
    fs = [freq_start(pmf[s], syms[:, s]) for s in range(steps)]
    assert ans_encode(np.stack([f for f, _ in fs], 1), np.stack([c for _, c in fs], 1), prec, lengths) == payloads


def test_ideal_length_is_reached():
    rng = np.random.default_rng(5)
    pmf, syms = random_case(rng, 64, 500, 16, 16)
    payloads = encode_case(pmf, syms, 16)
    fs = np.stack([freq_start(pmf[s], syms[:, s])[0] for s in range(500)], 1)
    ideal = (16 - np.log2(fs)).sum(1)
    real = 8 * np.array([len(p) for p in payloads])
    assert (real <= ideal + 64 + 8).all() and (real >= ideal - 16 - 8).all()


def test_batch_invariance_512():
    """512 streams coded together give the bytes each gives alone; decoding works in any grouping."""
    rng = np.random.default_rng(7)
    pmf, syms = random_case(rng, 512, 64, 16, 16)
    lengths = rng.integers(1, 65, 512)
    together = encode_case(pmf, syms, 16, lengths)
    alone = [encode_case(pmf[:, r:r + 1], syms[r:r + 1], 16, lengths[r:r + 1])[0] for r in range(512)]
    assert together == alone
    for r in (0, 100, 511):
        one = decode_case([together[r]], pmf[:, r:r + 1], 16, lengths[r:r + 1])[0]
        assert np.array_equal(one[:lengths[r]], syms[r, :lengths[r]])


def test_layout_words_then_canonical_state():
    # one symbol from state 0: state = start, written as its significant bytes
    assert ans_encode(np.array([[1]]), np.array([[5]]), 16) == [b"\x05"]
    assert ans_encode(np.array([[3]]), np.array([[0x1234]]), 16) == [b"\x34\x12"]
    # symbols of start 0 leave state 0: written as one zero byte, never as an empty payload
    assert ans_encode(np.full((2, 9), 7), np.zeros((2, 9), np.int64), 16) == [b"\0", b"\0"]
    # long streams: 4-byte words, then a state of 5..8 bytes whose last byte is non-zero
    rng = np.random.default_rng(3)
    pmf, syms = random_case(rng, 50, 300, 16, 16)
    for p in encode_case(pmf, syms, 16):
        assert len(p) >= 9 and p[-1] != 0


def test_encoder_refuses_bad_tables():
    with pytest.raises(ValueError):
        ans_encode(np.array([[0]]), np.array([[0]]), 16)           # zero frequency
    with pytest.raises(ValueError):
        ans_encode(np.array([[2]]), np.array([[(1 << 16) - 1]]), 16)   # past the total
    with pytest.raises(ValueError):
        ans_encode(np.array([[1]]), np.array([[0]]), 33)           # precision beyond the 64-bit state


@pytest.fixture(scope="module")
def coded():
    rng = np.random.default_rng(11)
    pmf, syms = random_case(rng, 40, 200, 16, 16, skew=2.0)
    return pmf, syms, encode_case(pmf, syms, 16)


def _decode_one(p: bytes, pmf: np.ndarray, steps: int) -> np.ndarray:
    return decode_case([p], pmf[:steps, :1], 16, steps)[0]


def test_empty_and_malformed_payloads_are_refused(coded):
    pmf, syms, payloads = coded
    good = payloads[0]
    bad = [b"", good + b"\0",                                        # empty; non-canonical state
           good[:-1] + b"\0" + good[-1:], bytes(4 * 201 + 5),           # too long for 200 symbols
           b"\x01\x00"]
    for p in bad:
        with pytest.raises(CodecError):
            _decode_one(p, pmf, 200)
    with pytest.raises(CodecError):
        BatchedAnsDecoder([good, bytes(10 ** 6)], 16, 200)          # refused before allocating
    dec = BatchedAnsDecoder([good], 16, 200)
    dec.decode(pmf[0, :1])
    with pytest.raises(CodecError):                                 # stopping early is not a clean end
        dec.finish()


def _reencode(pmf: np.ndarray, syms: np.ndarray) -> bytes:
    fs = [freq_start(pmf[s], syms[s:s + 1]) for s in range(len(syms))]
    return ans_encode(np.stack([f for f, _ in fs], 1), np.stack([c for _, c in fs], 1), 16)[0]


def test_corrupted_and_truncated_payloads_are_refused(coded):
    """Damage gives CodecError; the rare damaged payload that is accepted is exactly the stream of other symbols.

    The coder has no redundancy (streams start at state 0), so it cannot refuse a payload that is a
    valid stream of different symbols; a content hash above it catches those.
    """
    pmf, syms, payloads = coded
    rng = np.random.default_rng(0)
    tried = refused = 0
    for r, p in enumerate(payloads):
        tables = pmf[:, r:r + 1]
        assert np.array_equal(decode_case([p], tables, 16, 200)[0], syms[r])
        flips = []
        for pos, bit in zip(rng.integers(0, len(p), 3), rng.integers(0, 8, 3)):
            damaged = bytearray(p)
            damaged[pos] ^= 1 << int(bit)
            flips.append(bytes(damaged))
        for bad in flips + [p[:-1], p[1:], p[4:], p[:-4], p[:len(p) // 2]]:
            tried += 1
            try:
                out = decode_case([bad], tables, 16, 200)[0]
            except CodecError:
                refused += 1
                continue
            assert not np.array_equal(out, syms[r])
            assert _reencode(tables, out) == bad                     # a valid stream, just of other symbols
    assert refused >= 0.9 * tried


def test_decoding_does_not_depend_on_threads(coded):
    pmf, syms, payloads = coded
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = decode_case(payloads, pmf, 16, 200)
        torch.set_num_threads(2)
        two = decode_case(payloads, pmf, 16, 200)
    finally:
        torch.set_num_threads(before)
    with ThreadPoolExecutor(2) as pool:                             # two decoders running at once
        halves = list(pool.map(lambda s: decode_case(payloads[s:s + 20], pmf[:, s:s + 20], 16, 200), (0, 20)))
    assert np.array_equal(one, syms) and np.array_equal(two, syms)
    assert np.array_equal(np.concatenate(halves), syms)
