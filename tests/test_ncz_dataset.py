"""``NczDataset``: random access, lazy decoding inside DataLoader workers, labels from the index,
transforms, latents of the wavelet codec, and a damaged shard that spoils only its own records."""
from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from ncodec import data as D  # noqa: E402
from ncodec.data import NczDataset  # noqa: E402
from ncodec.data.pack import pack  # noqa: E402
from ncodec.errors import ChecksumError, InputError  # noqa: E402

N = 240


@pytest.fixture(scope="module")
def mnist_ds(tmp_path_factory):
    root = tmp_path_factory.mktemp("ds") / "mnist"
    pack(["mnist:test"], root, codec="webp-lossless", shard_size="12KB", limit=N, workers=1, progress=False)
    return root


def test_random_access_labels_and_transform(mnist_ds):
    x, y = D.arrays("mnist", "test")
    ds = NczDataset(mnist_ds)
    assert len(ds) == N and ds.codec == "webp-lossless"
    for i in (0, 117, N - 1, -1):
        img, lab = ds[i]
        assert np.array_equal(img, x[i % N]) and lab == y[i % N]
    assert np.array_equal(ds.labels, y[:N])
    t = NczDataset(mnist_ds, transform=lambda a: torch.from_numpy(a).float().div(255)[None], labels=False)
    assert t[3].shape == (1, 28, 28) and float(t[3].max()) <= 1.0
    with pytest.raises(IndexError):
        ds[N]


@pytest.mark.parametrize("workers", [0, 2])
def test_dataloader_workers(mnist_ds, workers):
    x, y = D.arrays("mnist", "test")
    dl = torch.utils.data.DataLoader(NczDataset(mnist_ds), batch_size=32, num_workers=workers)
    imgs, labs = zip(*dl)
    assert np.array_equal(torch.cat(imgs).numpy(), x[:N]) and np.array_equal(torch.cat(labs).numpy(), y[:N])


def test_corrupted_shard_other_shards_still_read(mnist_ds, tmp_path):
    import shutil
    root = tmp_path / "copy"
    shutil.copytree(mnist_ds, root)
    ds = NczDataset(root)
    first = ds.reader.index.shards[2]["first"]
    r = ds.reader.index.record(first)
    f = root / ds.reader.index.shards[2]["file"]
    raw = bytearray(f.read_bytes())
    raw[r.offset] ^= 0xFF
    f.write_bytes(bytes(raw))
    ds = NczDataset(root)
    with pytest.raises(ChecksumError, match=r"shard-00002\.ncz record 0 "):
        ds[first]
    dl = torch.utils.data.DataLoader(ds, batch_size=16, num_workers=2,
                                     sampler=[i for i in range(len(ds)) if i != first])
    assert sum(len(b[0]) for b in dl) == len(ds) - 1


def test_latents_skip_the_synthesis(tmp_path):
    root = tmp_path / "wl"
    pack(["mnist:test"], root, codec="wavelet", quality=4, shard_size="2KB", limit=12, workers=1, progress=False)
    lat = NczDataset(root, decode="latents")
    z, lab = lat[5]
    assert z.dtype == np.float32 and z.ndim == 3 and lab == D.arrays("mnist", "test")[1][5]
    img, _ = NczDataset(root)[5]
    assert img.shape == (28, 28) and img.dtype == np.uint8
    dl = torch.utils.data.DataLoader(lat, batch_size=4, num_workers=2)
    assert torch.cat([b[0] for b in dl]).shape == (12, *z.shape)
    with pytest.raises(InputError):
        NczDataset(tmp_path / "nope")
