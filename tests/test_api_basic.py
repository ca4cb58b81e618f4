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
