"""Container robustness through the public API (ncodec.open / ncodec.decompress).

Every single-bit flip and every truncation of a small real archive is rejected with the
right error class (never a crash, a hang or wrong output); unknown versions, unknown codecs
and files made with other model weights are refused.
"""
from __future__ import annotations

import struct
import zlib

import numpy as np
import pytest

import ncodec
from ncodec import container
from ncodec.codecs import base
from ncodec.errors import (ChecksumError, CodecError, FormatError, ModelMismatchError, NcodecError,
                           TruncatedError, UnknownCodecError, UnsupportedVersionError)
from ncodec.item import Item, ItemMeta


@pytest.fixture(scope="module")
def archive(mnist_slice) -> bytes:
    """Three real MNIST digits as named PNG records: a small archive (~800 bytes)."""
    items = [Item.from_array(mnist_slice[i], "image", name=f"digit{i}.png") for i in range(3)]
    return ncodec.compress(items, codec="png").data


def _open_all(data: bytes):
    arc = ncodec.open(data)
    return arc.decode_all()


def _recrc(buf: bytearray) -> bytes:
    buf[-4:] = struct.pack("<I", zlib.crc32(bytes(buf[:-4])))
    return bytes(buf)


def test_archive_round_trips(archive, mnist_slice):
    items = ncodec.decompress(archive)
    assert [it.name for it in items] == ["digit0.png", "digit1.png", "digit2.png"]
    assert all((it.data == mnist_slice[i]).all() for i, it in enumerate(items))


def test_every_bit_flip_rejected(archive):
    """Magic -> FormatError; version byte -> UnsupportedVersionError (newer) or ChecksumError; rest -> ChecksumError."""
    for i in range(len(archive)):
        for bit in range(8):
            bad = bytearray(archive)
            bad[i] ^= 1 << bit
            with pytest.raises(FormatError) as info:
                _open_all(bytes(bad))
            if i < 3:
                expected = FormatError
            elif i == 3:
                expected = UnsupportedVersionError if bad[3] > container.FORMAT_VERSION else ChecksumError
            else:
                expected = ChecksumError
            assert type(info.value) is expected, (i, bit, info.value)
            with pytest.raises(FormatError):
                ncodec.decompress(bytes(bad))


def test_every_truncation_rejected(archive):
    for n in range(len(archive)):
        with pytest.raises(FormatError) as info:
            _open_all(archive[:n])
        expected = FormatError if n < 3 else (TruncatedError if n < 10 else ChecksumError)
        assert type(info.value) is expected, (n, info.value)
    with pytest.raises(ChecksumError):
        _open_all(archive + b"\0")


def test_flips_behind_a_valid_checksum_never_crash(archive, mnist_slice):
    """With the CRC patched up, the parser's own checks must catch every header flip (or decode it sanely)."""
    c = container.unpack(archive)
    header_end = len(archive) - 4 - c.payload_bytes
    for i in range(header_end):
        for bit in range(8):
            bad = bytearray(archive)
            bad[i] ^= 1 << bit
            try:
                items = _open_all(_recrc(bad))
            except NcodecError:
                continue
            # accepted: must be a consistent decode (e.g. a flipped name character or quality)
            assert len(items) == 3
            for it, ref in zip(items, mnist_slice[:3]):
                assert it.data.shape == it.meta.shape
    # payload flips behind a valid CRC: PNG's own chunk CRCs turn them into CodecError
    for i in range(header_end, len(archive) - 4, 7):
        bad = bytearray(archive)
        bad[i] ^= 0x10
        try:
            items = _open_all(_recrc(bad))
        except NcodecError:
            continue
        assert all(it.data.shape == (28, 28) for it in items)


def test_unknown_future_version_refused(archive):
    for version in (container.FORMAT_VERSION + 1, 9, 255):
        bad = bytearray(archive)
        bad[3] = version
        with pytest.raises(UnsupportedVersionError):
            ncodec.open(bytes(bad))                  # stale CRC: the version is still what it reports
        with pytest.raises(UnsupportedVersionError):
            ncodec.open(_recrc(bad))


def test_unknown_flags_refused(archive):
    bad = bytearray(archive)
    bad[4] |= 0x80
    with pytest.raises(FormatError):
        ncodec.open(_recrc(bad))


def test_newer_codec_version_and_unknown_codec_refused(archive):
    c = container.unpack(archive)
    c.codec_version = base.get_codec("png").version + 1
    with pytest.raises(UnsupportedVersionError):
        ncodec.open(container.pack(c))
    c.codec_version = 1
    c.codec = "no-such-codec"
    with pytest.raises(UnknownCodecError):
        ncodec.decompress(container.pack(c))


class _TinyLearned(base.Codec):
    """Test-only codec with weights: identity bytes, model id from a mutable 'weights' blob."""

    name = "test-tiny-learned"
    media = "bytes"
    lossless = True
    weights_blob = b"weights v1"

    def check(self, item: Item) -> None:
        return None

    def model_id(self, quality: int) -> bytes:
        return base.short_hash(self.weights_blob)

    def encode(self, item: Item, quality: int, options) -> base.Encoded:
        return base.Encoded(item.data.tobytes())

    def decode(self, payload: bytes, meta: ItemMeta, quality: int) -> Item:
        return Item(np.frombuffer(payload, np.uint8).copy(), meta)


@pytest.fixture
def tiny_codec():
    base.available()
    base.register(_TinyLearned)
    yield base.get_codec(_TinyLearned.name)
    base._REGISTRY.pop(_TinyLearned.name, None)
    base._INSTANCES.pop(_TinyLearned.name, None)


def test_wrong_model_hash_refused(tiny_codec):
    raw = b"hello ncodec" * 3
    data = ncodec.compress(Item.from_bytes(raw), codec=tiny_codec.name).data
    assert container.unpack(data).model_id == base.short_hash(b"weights v1")
    assert ncodec.decompress(data).data.tobytes() == raw
    tiny_codec.weights_blob = b"weights v2"          # other weights installed
    try:
        with pytest.raises(ModelMismatchError):
            ncodec.decompress(data)
        with pytest.raises(CodecError):                # ModelMismatchError is a CodecError for callers
            ncodec.open(data)
    finally:
        del tiny_codec.weights_blob
    # a model id on a file of a codec that has no weights is refused too
    c = container.unpack(ncodec.compress(Item.from_bytes(raw), codec="zstd").data)
    c.model_id = b"\x01" * 8
    with pytest.raises(ModelMismatchError):
        ncodec.open(container.pack(c))


def test_open_missing_file_is_input_error(tmp_path):
    with pytest.raises(NcodecError):
        ncodec.open(tmp_path / "nope.ncz")
    with pytest.raises(FormatError):
        ncodec.decompress(b"")
    with pytest.raises(FormatError):
        ncodec.decompress(b"PK\x03\x04 not ncz at all")


# ------------------------------------------------------------------ content checks (format version 2)

def test_every_record_carries_a_content_check(archive):
    c = container.unpack(archive)
    assert c.version == 2 and c.check_bytes == 2 and all(len(r.check) == 2 for r in c.records)
    single = container.unpack(ncodec.compress(Item.from_bytes(b"x" * 50), codec="zstd").data)
    assert single.check_bytes == 4
    for width in (2, 4, 8):
        data = ncodec.compress(Item.from_bytes(b"y" * 50), codec="zstd", check_bytes=width).data
        assert container.unpack(data).check_bytes == width
        assert ncodec.decompress(data).data.tobytes() == b"y" * 50


def test_version_1_files_still_decode(archive, mnist_slice):
    c = container.unpack(archive)
    for r in c.records:
        r.check = b""                                  # what a version 1 writer stored
    old = container.pack(c)
    assert old[3] == 1
    items = ncodec.decompress(old)
    assert all((it.data == mnist_slice[i]).all() for i, it in enumerate(items))
    assert ncodec.open(old).info()["content_check"].startswith("none")


def test_pack_refuses_mixed_or_odd_checks(archive):
    c = container.unpack(archive)
    c.records[0].check = b""
    with pytest.raises(ValueError):
        container.pack(c)
    c.records[0].check = b"abc"
    with pytest.raises(ValueError):
        container.pack(c)


def test_header_and_payload_changes_behind_a_valid_crc_are_integrity_errors(archive):
    from ncodec.errors import IntegrityError
    c = container.unpack(archive)
    c.records[1].meta = c.records[1].meta.with_(dtype="uint16", shape=(28, 14))   # same byte count
    with pytest.raises(CodecError):
        ncodec.decompress(container.pack(c))
    c = container.unpack(archive)
    c.records[0].payload, c.records[1].payload = c.records[1].payload, c.records[0].payload
    with pytest.raises(IntegrityError):
        ncodec.decompress(container.pack(c))
    raw = Item.from_array(np.arange(600, dtype=np.uint8), "bytes")
    c = container.unpack(ncodec.compress(raw, codec="zstd").data)
    c.records[0].meta = c.records[0].meta.with_(media="tensor")                      # same bytes, other meta
    with pytest.raises(IntegrityError):
        ncodec.decompress(container.pack(c))
    with pytest.raises(IntegrityError):           # the check covers what hclt would decode from nothing, too
        bad = container.unpack(ncodec.compress(Item.from_array(np.zeros(50, np.uint8), "bytes"), codec="zstd").data)
        bad.records[0].check = bytes(4)
        ncodec.decompress(container.pack(bad))


def test_version_2_without_check_width_refused(archive):
    bad = bytearray(archive)
    bad[4] &= ~container.CHECK_MASK & 0xFF
    with pytest.raises(FormatError):
        ncodec.open(_recrc(bad))
