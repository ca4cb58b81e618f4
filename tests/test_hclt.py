"""HCLT circuit + codec: exact marginals, normalisation, batch-invariant lossless round trips, model identity."""
from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from ncodec import api, container
from ncodec.codecs import get_codec
from ncodec.errors import NcodecError, CodecError, ModelMismatchError, UnsupportedInputError
from ncodec.item import Item
from ncodec.models.hclt import HCLT, TreeIndex, chow_liu_tree, load_hclt, mutual_information, save_hclt
from ncodec.codecs.hclt import CODE_PREC, coded_freqs, decode_pixels, encode_pixels
from ncodec.models.hclt_coding import CodingTables


def random_hclt(parent, k, v, seed=0) -> HCLT:
    g = torch.Generator().manual_seed(seed)
    d = len(parent)
    return HCLT(np.asarray(parent), k, v,
                log_emit=torch.log_softmax(2 * torch.randn(d, v, k, generator=g, dtype=torch.float64), 1),
                log_trans=torch.log_softmax(2 * torch.randn(d, k, k, generator=g, dtype=torch.float64), 2),
                log_prior=torch.log_softmax(torch.randn(k, generator=g, dtype=torch.float64), 0),
                dtype=torch.float64)


TINY_PARENT = [2, 2, -1, 1]          # 4 variables: root 2 -> {0, 1}, 1 -> 3


def brute_force_logp(m: HCLT, x) -> float:
    """log P(x) by enumerating every latent assignment."""
    e, t, p = (torch.exp(a).numpy() for a in (m.log_emit, m.log_trans, m.log_prior))
    tot = 0.0
    for z in itertools.product(range(m.num_latents), repeat=m.num_vars):
        pr = 1.0
        for i in range(m.num_vars):
            par = m.tree.parent[i]
            pr *= (p[z[i]] if par < 0 else t[i, z[par], z[i]]) * e[i, x[i], z[i]]
        tot += pr
    return float(np.log(tot))


def test_tiny_circuit_matches_brute_force_and_is_normalised():
    m = random_hclt(TINY_PARENT, 2, 3)
    xs = torch.tensor(list(itertools.product(range(3), repeat=4)))
    ll = m.log_likelihood(xs)
    assert abs(float(torch.logsumexp(ll, 0))) < 1e-10           # sums to one over all 81 inputs
    for r in (0, 17, 80):
        assert abs(float(ll[r]) - brute_force_logp(m, xs[r].tolist())) < 1e-10


def test_marginals_are_consistent():
    m = random_hclt([-1, 0, 0, 1, 1, 2], 3, 4, seed=1)
    xs = torch.tensor(list(itertools.product(range(4), repeat=6)))
    ll = m.log_likelihood(xs)
    for j in range(6):
        keep = xs[:, j] == 0
        mask = torch.ones(len(xs), 6, dtype=torch.bool)
        mask[:, j] = False
        marg = m.log_likelihood(xs[keep], mask[keep])
        # summing the joint over x_j's values equals the marginal without x_j
        summed = torch.logsumexp(ll.reshape([4] * 6).movedim(j, 0), 0).reshape(-1)
        assert torch.allclose(marg, summed, atol=1e-10)
    # no evidence at all: probability one
    assert abs(float(m.log_likelihood(xs[:1], torch.zeros(1, 6, dtype=torch.bool))[0])) < 1e-12


def test_chow_liu_tree_is_a_spanning_tree():
    rng = np.random.default_rng(0)
    a = rng.integers(0, 256, (300, 1))
    x = np.concatenate([a, (a + rng.integers(0, 8, (300, 1))) % 256, rng.integers(0, 256, (300, 6))], 1)
    mi = mutual_information(x, bins=4)
    parent = chow_liu_tree(mi)
    tree = TreeIndex.build(parent)
    assert (parent < 0).sum() == 1 and sum(len(lv) for lv in tree.levels) == 8
    assert parent[1] == 0 or parent[0] == 1                     # the dependent pair is linked
    order = tree.dfs_order()
    assert sorted(order.tolist()) == list(range(8))
    pos = np.argsort(order)
    assert all(pos[parent[i]] < pos[i] for i in range(8) if parent[i] >= 0)


@pytest.fixture(scope="module")
def coder_model():
    return random_hclt([-1, 0, 0, 1, 1, 2, 5, 5, 0, 8], 5, 256, seed=3)


def test_coded_conditionals_multiply_to_the_joint(coder_model):
    tables = CodingTables.from_model(coder_model)
    x = np.random.default_rng(1).integers(0, 256, (40, 10))
    freq, _ = coded_freqs(tables, x)
    coded = -np.log2(freq / 2.0 ** CODE_PREC).sum(1)
    exact = -coder_model.log_likelihood(torch.from_numpy(x)).numpy() / np.log(2)
    assert np.allclose(coded, exact, rtol=1e-3, atol=0.05)


def test_batch_invariant_round_trip(coder_model):
    tables = CodingTables.from_model(coder_model)
    rng = np.random.default_rng(2)
    x = np.concatenate([rng.integers(0, 256, (30, 10)), np.zeros((1, 10), int), np.full((1, 10), 255)])
    batch = [e.payload for e in encode_pixels(tables, x)]
    singles = [encode_pixels(tables, x[r:r + 1])[0].payload for r in range(len(x))]
    assert batch == singles                                     # encode: batch 32 == batch 1
    assert batch[-2] == b"\0"                                   # all-zero symbols: state 0, written as one byte
    assert np.array_equal(decode_pixels(tables, batch), x)      # decode all at once
    parts = [decode_pixels(tables, batch[s:s + 7]) for s in range(0, len(x), 7)]
    assert np.array_equal(np.concatenate(parts), x)             # decode in other batch sizes
    damaged = bytearray(batch[0])
    damaged[0] ^= 0xFF
    for bad in (bytes(damaged), b"", batch[0][:-1], batch[0] + b"\0", bytes(7000)):
        with pytest.raises(CodecError):
            decode_pixels(tables, [batch[1], bad])


def test_weights_file_round_trip(tmp_path, coder_model):
    save_hclt(coder_model, tmp_path / "w.npz")
    back = load_hclt(tmp_path / "w.npz")
    assert np.array_equal(back.tree.parent, coder_model.tree.parent)
    assert torch.allclose(torch.logsumexp(back.log_emit, 1), torch.zeros(1, dtype=torch.float64), atol=1e-12)
    x = torch.from_numpy(np.random.default_rng(0).integers(0, 256, (20, 10)))
    # tables are stored at 1/16-nat resolution: a few tenths of a nat over 19 factors at most
    assert torch.allclose(back.log_likelihood(x), coder_model.log_likelihood(x), atol=0.5)


# ------------------------------------------------------------------ the shipped codec

def test_codec_round_trip_mnist_and_edge_images(mnist_slice):
    codec = get_codec("hclt")
    rng = np.random.default_rng(0)
    imgs = list(mnist_slice[:24]) + [np.zeros((28, 28), np.uint8), np.full((28, 28), 255, np.uint8),
                                     rng.integers(0, 256, (28, 28)).astype(np.uint8)]
    items = [Item.from_array(a, "image") for a in imgs]
    encoded = codec.encode_batch(items, 1, {"threads": 0})
    payloads = [e.payload for e in encoded]
    assert encoded[5] == codec.encode(items[5], 1, {"threads": 0})
    metas = [it.meta for it in items]
    whole = codec.decode_batch(payloads, metas, 1)
    ones = [codec.decode(payloads[-1], metas[-1], 1)]
    for a, b in zip(items, whole):
        assert a.same_data(b)
    for a, b in zip(items[-1:], ones):
        assert a.same_data(b)
    ideal = sum(e.ideal_bits for e in encoded[:24])
    real = 8 * sum(len(p) for p in payloads[:24])
    assert ideal <= real + 8 and real < ideal * 1.05 + 24 * 40
    with pytest.raises(CodecError):
        codec.decode(b"", metas[0], 1)                          # an empty payload is not an image


def test_codec_chunks_and_threads_do_not_change_bytes(mnist_slice, monkeypatch):
    import ncodec.codecs.hclt as hclt_codec
    codec = get_codec("hclt")
    items = [Item.from_array(a, "image") for a in mnist_slice[:27]]
    whole = [e.payload for e in codec.encode_batch(items, 1, {"threads": 1})]
    monkeypatch.setattr(hclt_codec, "CHUNK", 8)                 # several chunks, on 2 worker threads
    monkeypatch.setattr(hclt_codec, "MIN_SPLIT", 4)
    assert [e.payload for e in codec.encode_batch(items, 1, {"threads": 2})] == whole
    back = codec.decode_batch(whole, [it.meta for it in items], 1)
    assert all(a.same_data(b) for a, b in zip(items, back))


def test_api_archive_and_mismatch(mnist_slice):
    items = [Item.from_array(a, "image") for a in mnist_slice[:20]]
    res = api.compress_items(items, codec="hclt")               # separate images: one record each
    assert res.n_items == 20
    assert np.array_equal(api.open(res.data)[7].data, mnist_slice[7])     # one record alone
    c = container.unpack(res.data)
    c.model_id = bytes(8)                                       # as if made by other weights
    with pytest.raises(ModelMismatchError):
        api.decompress_bytes(container.pack(c))
    c.model_id = get_codec("hclt").model_id(2)                  # the Fashion-MNIST weights' identity:
    with pytest.raises(NcodecError):                            # installed, so they decode it -> a clean
        api.decompress_bytes(container.pack(c))                 # coding / content-check error, not garbage


def test_stack_is_one_chained_lane_record(mnist_slice, monkeypatch):
    import ncodec.codecs.hclt as hclt_codec
    monkeypatch.setattr(hclt_codec, "LANES", 4)                 # 27 images: 7 rounds, the last one partial
    codec = get_codec("hclt")
    stack = Item.from_array(mnist_slice[:27], "tensor")
    enc = codec.encode_batch([stack], 1, {"threads": 1})[0]
    monkeypatch.setattr(hclt_codec, "CHUNK", 8)                 # model math on 2 threads: same bytes
    monkeypatch.setattr(hclt_codec, "MIN_SPLIT", 2)
    assert codec.encode_batch([stack], 1, {"threads": 2})[0].payload == enc.payload
    back = codec.decode_batch([enc.payload], [stack.meta], 1)[0]     # all lanes in one lock-step batch
    assert back.same_data(stack)
    monkeypatch.setattr(hclt_codec, "_workers", lambda threads: 1)
    assert codec.decode_batch([enc.payload], [stack.meta], 1)[0].same_data(stack)
    singles = codec.encode_batch([Item.from_array(a, "image") for a in mnist_slice[:27]], 1, {"threads": 1})
    # 4 streams instead of 27: the start/end cost of 23 streams (~15 bits each; the lane table costs 6 B)
    assert 8 * len(enc.payload) < 8 * sum(len(e.payload) for e in singles) - 23 * 8
    assert enc.ideal_bits == pytest.approx(sum(e.ideal_bits for e in singles))
    assert 8 * len(enc.payload) < enc.ideal_bits + 4 * 80
    for bad in (enc.payload[:-3], enc.payload[:2], b"\xff" * 3, enc.payload + b"\0"):
        with pytest.raises(CodecError):
            codec.decode_batch([bad], [stack.meta], 1)


def test_api_keeps_stacks_whole_and_splits_big_ones(mnist_slice, monkeypatch):
    import ncodec.codecs.hclt as hclt_codec
    res = api.compress_items([Item.from_array(mnist_slice[:20], "tensor")])    # default codec: hclt
    assert res.codec == "hclt" and res.n_items == 1
    out = api.decompress(res.data)
    assert not out.is_archive and np.array_equal(out.data, mnist_slice[:20])
    monkeypatch.setattr(hclt_codec.HCLTCodec, "stack_limit", 8)
    res = api.compress_items([Item.from_array(mnist_slice[:20, :, :, None], "tensor")], codec="hclt")
    out = api.decompress(res.data)
    assert res.n_items == 3 and out.is_stack and [len(it.data) for it in out] == [8, 8, 4]
    assert np.array_equal(out.data, mnist_slice[:20, :, :, None])


@pytest.mark.parametrize("arr", [np.zeros((28, 27), np.uint8), np.zeros((28, 28), np.uint16),
                                 np.zeros((28, 28, 3), np.uint8)])
def test_refuses_unsupported_images(arr):
    with pytest.raises(UnsupportedInputError):
        api.compress_items([Item.from_array(arr, "image")], codec="hclt")


def test_cli_compress_npy(tmp_path, mnist_slice):
    from ncodec.cli.main import main          # in-process: the subprocess path is covered by the CLI tests
    np.save(tmp_path / "digits.npy", mnist_slice[:3])
    assert main(["compress", str(tmp_path / "digits.npy"), "-c", "hclt", "-o", str(tmp_path / "d.ncz")]) == 0
    assert main(["decompress", str(tmp_path / "d.ncz"), "-o", str(tmp_path / "back.npy")]) == 0
    assert np.array_equal(np.load(tmp_path / "back.npy"), mnist_slice[:3])


def test_hostile_stack_headers_fail_fast(mnist_slice):
    import time
    from ncodec.item import ItemMeta
    codec = get_codec("hclt")
    enc = codec.encode_batch([Item.from_array(mnist_slice[:3], "tensor")], 1, {})[0]
    t0 = time.perf_counter()
    for n in (16384, 5000, 2):                      # more (or fewer) images than the payload holds
        meta = ItemMeta(media="tensor", dtype="uint8", shape=(n, 28, 28))
        with pytest.raises(CodecError):
            codec.decode_batch([enc.payload], [meta], 1)
    with pytest.raises(CodecError):
        codec.decode_batch([enc.payload], [ItemMeta(media="tensor", dtype="uint8", shape=(16385, 28, 28))], 1)
    assert time.perf_counter() - t0 < 10
