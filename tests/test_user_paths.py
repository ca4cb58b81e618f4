"""The train-and-use path on a fresh NCODEC_HOME, as subprocesses: train a tiny hclt, export it under
a new name into the user weights folder, compress with it by name, decompress by the model id
stored in the file, and confirm the shipped weights and an earlier file are untouched."""
from __future__ import annotations

import hashlib

import numpy as np

from ncodec import data as D
from ncodec import weights as W


def _shipped_digest() -> str:
    h = hashlib.sha256()
    for f in sorted(W.WEIGHTS_DIR.iterdir()):
        if f.is_file():
            h.update(f.name.encode() + f.read_bytes())
    return h.hexdigest()


def test_train_export_compress_decompress_by_model_id(tmp_path, cli, monkeypatch):
    home = tmp_path / "home"
    monkeypatch.setenv("NCODEC_HOME", str(home))
    before = _shipped_digest()
    digits = np.ascontiguousarray(D.arrays("mnist", "test")[0][:40])
    np.save(tmp_path / "d.npy", digits)
    r = cli("compress", str(tmp_path / "d.npy"), "-c", "hclt", "-o", str(tmp_path / "old.ncz"))
    assert r.returncode == 0, r.stderr.decode()

    r = cli("train", "hclt", "--data", "mnist", "--steps", "2", "--batch", "256", "--eval-n", "200",
            "--threads", "1", "--latents", "8", "--mi-samples", "1000", "--ckpt-dir", str(tmp_path / "ckpt"),
            "--name", "myhclt", "--quiet")
    assert r.returncode == 0, r.stderr.decode()
    assert (home / "weights" / "myhclt.npz").exists() and (home / "weights" / "myhclt.json").exists()
    r = cli("list", "--weights")
    assert b"myhclt" in r.stdout and b"user" in r.stdout

    r = cli("compress", str(tmp_path / "d.npy"), "-c", "hclt", "-O", "weights=myhclt", "-o", str(tmp_path / "mine.ncz"))
    assert r.returncode == 0, r.stderr.decode()
    r = cli("decompress", str(tmp_path / "mine.ncz"), "-o", str(tmp_path / "back.npy"))
    assert r.returncode == 0, r.stderr.decode()
    assert np.array_equal(np.load(tmp_path / "back.npy"), digits)

    # the earlier file (shipped weights) still decodes; the shipped folder is byte-for-byte unchanged
    r = cli("decompress", str(tmp_path / "old.ncz"), "-o", str(tmp_path / "old.npy"))
    assert r.returncode == 0 and np.array_equal(np.load(tmp_path / "old.npy"), digits)
    assert _shipped_digest() == before

    # without the user weights: one clear line naming the missing model id
    monkeypatch.setenv("NCODEC_HOME", str(tmp_path / "elsewhere"))
    r = cli("decompress", str(tmp_path / "mine.ncz"), "-o", str(tmp_path / "x.npy"))
    mid = W.model_id("hclt_mnist").hex()
    assert r.returncode == 4 and b"not installed" in r.stderr and mid.encode() not in r.stderr
    assert len(r.stderr.decode().strip().splitlines()) == 1


def test_user_export_never_takes_a_shipped_name(tmp_path, cli, monkeypatch):
    monkeypatch.setenv("NCODEC_HOME", str(tmp_path / "home"))
    r = cli("train", "hclt", "--data", "mnist", "--steps", "1", "--name", "hclt_mnist", "--latents", "4",
            "--mi-samples", "500", "--eval-n", "50", "--ckpt-dir", str(tmp_path / "c"), "--quiet")
    assert r.returncode == 2 and b"shipped weights name" in r.stderr


# ------------------------------------------------------------------ wavelet: per-media ids, selectable weights

DATA = __import__("pathlib").Path(__file__).resolve().parent / "data"


def _wav(tmp_path):
    import shutil
    dst = tmp_path / "speech.wav"
    shutil.copy(D.paths("fsdd", "test")[0], dst)
    return dst


def _png(tmp_path):
    from PIL import Image

    from ncodec.io import read_item
    dst = tmp_path / "crop.png"
    Image.fromarray(np.ascontiguousarray(read_item(D.paths("kodak")[0]).data[:48, :64])).save(dst)
    return dst


def test_wavelet_image_and_audio_have_separate_model_ids(tmp_path):
    """Retrain-free: a file stores the id of its own media's weights, so retraining one leaves the other's files valid."""
    from ncodec import api
    from ncodec.codecs import get_codec
    c = get_codec("wavelet")
    assert c.for_media("image").model_id(5) == W.model_id("wavelet_image2")
    assert c.for_media("audio").model_id(5) == W.model_id("wavelet_audio")
    assert W.model_id("wavelet_image") != W.model_id("wavelet_audio")
    img = api.compress(_png(tmp_path), codec="wavelet").data
    aud = api.compress(_wav(tmp_path), codec="wavelet").data
    assert api.open(img).info()["model_id"] == W.model_id("wavelet_image2").hex()
    assert api.open(aud).info()["model_id"] == W.model_id("wavelet_audio").hex()


def test_wavelet_files_from_before_per_media_ids_still_decode():
    """Files written by codec version 1 (one id over both shipped files, no audio gain byte)."""
    from ncodec import api
    from ncodec.io import read_item
    img = api.decompress(DATA / "wavelet_v1_image.ncz")[0]
    src = read_item(D.paths("kodak")[0]).data[:48, :64].astype(np.float64)
    assert img.data.shape == (48, 64, 3) and np.mean((img.data - src) ** 2) < 200       # PSNR > 25 dB
    aud = api.decompress(DATA / "wavelet_v1_audio.ncz")[0]
    assert aud.data.shape == read_item(D.paths("fsdd", "test")[0]).data.shape


def test_wavelet_version2_image_files_decode_to_the_same_bytes():
    """An image file written by codec version 2 (the first image weights, no post-filter block; a
    96x128 Kodak crop at q3) decodes to exactly the bytes the version-2 decoder produced, through
    the separable packet transform and the guarded float32 hyper-synthesis of version 3."""
    from PIL import Image

    from ncodec import api
    got = api.decompress(DATA / "wavelet_v2_image.ncz")[0].data
    want = np.asarray(Image.open(DATA / "wavelet_v2_image_decoded.png"))
    assert api.open(DATA / "wavelet_v2_image.ncz").info()["codec_version"] == 2
    assert np.array_equal(got, want)


def test_wavelet_weights_by_name_path_and_errors(tmp_path, cli, monkeypatch):
    monkeypatch.setenv("NCODEC_HOME", str(tmp_path / "home"))
    wav, png = _wav(tmp_path), _png(tmp_path)
    r = cli("compress", str(wav), "-c", "wavelet", "-O", "weights=wavelet_audio", "-o", str(tmp_path / "a.ncz"))
    assert r.returncode == 0, r.stderr.decode()
    r = cli("decompress", str(tmp_path / "a.ncz"), "-o", str(tmp_path / "a.wav"))
    assert r.returncode == 0, r.stderr.decode()
    r = cli("compress", str(png), "-c", "wavelet", "-O", f"weights={W.WEIGHTS_DIR / 'wavelet_image.pt'}",
            "-o", str(tmp_path / "i.ncz"))
    assert r.returncode == 0, r.stderr.decode()
    for ref, code, words in (("nosuch", 4, b"no weights 'nosuch'"), ("hclt_mnist", 4, b"not wavelet weights"),
                             ("wavelet_audio", 5, b"code audio, not image")):
        r = cli("compress", str(png), "-c", "wavelet", "-O", f"weights={ref}", "-o", str(tmp_path / "x.ncz"))
        assert r.returncode == code and words in r.stderr, r.stderr.decode()
        assert len(r.stderr.decode().strip().splitlines()) == 1
        assert not (tmp_path / "x.ncz").exists()


def test_wavelet_user_weights_found_by_model_id(tmp_path, cli, monkeypatch):
    """Retrain-free stand-in for an export: perturbed shipped image weights installed as a user's."""
    import torch
    home = tmp_path / "home"
    monkeypatch.setenv("NCODEC_HOME", str(home))
    (home / "weights").mkdir(parents=True)
    blob = torch.load(W.WEIGHTS_DIR / "wavelet_image.pt", map_location="cpu", weights_only=False)
    blob["state_dict"]["s_lin.bias"] = blob["state_dict"]["s_lin.bias"] + 1e-3     # the synthesis only
    torch.save(blob, home / "weights" / "mywave.pt")
    W.write_manifest("mywave", home / "weights" / "mywave.pt", codec="wavelet", media="image")
    before = _shipped_digest()
    png = _png(tmp_path)
    r = cli("compress", str(png), "-c", "wavelet", "-O", "weights=mywave", "-o", str(tmp_path / "m.ncz"))
    assert r.returncode == 0, r.stderr.decode()
    r = cli("info", str(tmp_path / "m.ncz"))
    assert W.file_sha256(home / "weights" / "mywave.pt")[:16].encode() in r.stdout
    r = cli("decompress", str(tmp_path / "m.ncz"), "-o", str(tmp_path / "m.png"))
    assert r.returncode == 0, r.stderr.decode()
    assert _shipped_digest() == before
    monkeypatch.setenv("NCODEC_HOME", str(tmp_path / "elsewhere"))
    r = cli("decompress", str(tmp_path / "m.ncz"), "-o", str(tmp_path / "n.png"))
    assert r.returncode == 4 and b"not installed" in r.stderr, r.stderr.decode()
    assert len(r.stderr.decode().strip().splitlines()) == 1


def test_weights_given_by_path_decode_in_the_same_process(tmp_path, cli, monkeypatch):
    """A file made with -O weights=PATH decodes where the path was given (eval, --verify); elsewhere it
    needs the weights installed."""
    import torch
    from ncodec import api
    from ncodec.item import Item
    monkeypatch.setenv("NCODEC_HOME", str(tmp_path / "home"))
    blob = torch.load(W.WEIGHTS_DIR / "wavelet_image.pt", map_location="cpu", weights_only=False)
    blob["state_dict"]["s_lin.bias"] = blob["state_dict"]["s_lin.bias"] + 1e-3
    (tmp_path / "loose").mkdir()
    torch.save(blob, tmp_path / "loose" / "loosewave.pt")
    W.write_manifest("loosewave", tmp_path / "loose" / "loosewave.pt", codec="wavelet", media="image")
    img = np.random.default_rng(0).integers(0, 255, (32, 32, 3), dtype=np.uint8)
    res = api.compress_items([Item.from_array(img, "image")], codec="wavelet", quality=4,
                             options={"weights": str(tmp_path / "loose" / "loosewave.pt")})
    assert api.decompress(res.data).data.shape == img.shape
    (tmp_path / "f.ncz").write_bytes(res.data)
    r = cli("decompress", str(tmp_path / "f.ncz"), "-o", str(tmp_path / "f.png"))
    assert r.returncode == 4 and b"not installed" in r.stderr, r.stderr.decode()
