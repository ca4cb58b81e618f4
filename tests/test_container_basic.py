from fractions import Fraction

import pytest

from ncodec import container
from ncodec.errors import ChecksumError, FormatError, UnsupportedVersionError
from ncodec.item import ItemMeta


def _c(n=3, names=False, archive=True):
    metas = [ItemMeta("image", (28, 28)), ItemMeta("audio", (100,), "int16", sample_rate=8000),
             ItemMeta("video", (2, 4, 4, 3), frame_rate=Fraction(30000, 1001))]
    recs = [container.Record(bytes([i]) * (i * 7 + 1), metas[i % 3], f"r{i}" if names else "") for i in range(n)]
    return container.Container("png", 1, 0, recs, model_id=b"12345678", archive=archive)


def test_round_trip_fields():
    c = _c(5, names=True)
    back = container.unpack(container.pack(c))
    assert back.codec == "png" and back.model_id == b"12345678" and back.archive
    assert [r.payload for r in back.records] == [r.payload for r in c.records]
    assert [r.meta for r in back.records] == [r.meta for r in c.records]
    assert [r.name for r in back.records] == [r.name for r in c.records]


def test_single_item_overhead_small():
    rec = container.Record(b"x" * 100, ItemMeta("image", (28, 28)))
    data = container.pack(container.Container("hclt", 1, 0, [rec], model_id=b"abcdefgh"))
    assert len(data) - 100 <= 32


def test_archive_per_record_overhead():
    recs = [container.Record(b"y" * 120, ItemMeta("image", (28, 28))) for _ in range(1000)]
    data = container.pack(container.Container("hclt", 1, 0, recs, model_id=b"abcdefgh", archive=True))
    assert (len(data) - 120 * 1000) / 1000 <= 3


def test_future_version_refused():
    data = bytearray(container.pack(_c()))
    data[3] = 9
    with pytest.raises(UnsupportedVersionError):
        container.unpack(bytes(data))


def test_flip_and_truncate_rejected():
    data = container.pack(_c(3, names=True))
    for i in range(len(data)):
        for bit in (0, 7):
            bad = bytearray(data)
            bad[i] ^= 1 << bit
            with pytest.raises(FormatError):
                container.unpack(bytes(bad))
    for n in range(len(data)):
        with pytest.raises(FormatError):
            container.unpack(data[:n])
    with pytest.raises(ChecksumError):
        container.unpack(data[:-1] + bytes([data[-1] ^ 1]))
