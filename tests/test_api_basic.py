import numpy as np

import ncodec
from ncodec.item import Item


def test_stack_archive_round_trip(mnist_slice):
    res = ncodec.compress(Item.from_array(mnist_slice, "tensor"), codec="png", verify=True)
    arc = ncodec.open(res.data)
    assert len(arc) == len(mnist_slice) and arc.container.stack
    assert (arc[5].data == mnist_slice[5]).all()
    assert (ncodec.api.stack_items(arc.decode_all()) == mnist_slice).all()


def test_bytes_round_trip():
    raw = bytes(range(256)) * 10
    res = ncodec.compress(Item.from_bytes(raw))
    assert ncodec.decompress(res.data).data.tobytes() == raw


def test_names_are_unique_and_verify_reports():
    import pytest
    from ncodec.errors import LimitError
    items = [Item.from_array(np.full((2, 3), i, np.uint8), "image", name=n)
             for i, n in enumerate(["x.png", "x.png", "../x.png", "a/x.png"])]
    res = ncodec.compress(items, codec="png")
    assert ncodec.open(res.data).names == ["x.png", "x~2.png", "x~3.png", "a/x.png"]
    assert ncodec.api.verify_result(res).startswith("verified: decodes bit-exactly")
    lossy = ncodec.compress(Item.from_array(np.zeros((16, 16, 3), np.uint8), "image"), codec="webp")
    assert "reconstruction" in ncodec.api.verify_result(lossy)
    big = ncodec.compress(Item.from_array(np.zeros((100, 100), np.uint8), "image"), codec="png").data
    with pytest.raises(LimitError):
        ncodec.decompress(big, max_pixels=9999)
    with pytest.raises(LimitError):
        ncodec.decompress(big, max_bytes=9999)
    assert ncodec.decompress(big, max_pixels=10000).data.shape == (100, 100)


def test_iter_decoded_bounds_each_batch(mnist_slice):
    res = ncodec.compress(Item.from_array(mnist_slice[:10], "tensor"), codec="png")
    arc = ncodec.api.Archive(res.data, max_bytes=2000)          # two 784-byte records per batch
    got = list(arc.iter_decoded())
    assert len(got) == 10 and all((g.data == m).all() for g, m in zip(got, mnist_slice[:10]))
    import pytest
    from ncodec.errors import LimitError
    with pytest.raises(LimitError):
        arc.decode_all()
