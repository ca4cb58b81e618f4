"""wavelet audio fine-tune with the machine-perceptual loss (issue 14 item 5): a few steps from the
shipped weights on a handful of clips, the feature term reported and finite, the frozen FSDD
classifier untouched and not exported, the exported weights decode a clip."""
from __future__ import annotations

import json

import numpy as np
import torch

from ncodec import data as D


def test_feature_loss_fine_tune_exports_decodable_weights(tmp_path, monkeypatch, capsys, data_dir):
    from ncodec import api
    from ncodec.cli.main import main
    from ncodec.eval.tasks import load_classifier
    from ncodec.io import read_item
    from ncodec.weights import WEIGHTS_DIR

    monkeypatch.setenv("NCODEC_HOME", str(tmp_path / "home"))
    shipped_before = {p.name: p.stat().st_mtime_ns for p in WEIGHTS_DIR.iterdir()}
    clf = load_classifier("fsdd")
    clf_before = {k: v.clone() for k, v in clf.state_dict().items()}
    ck = tmp_path / "ck"
    argv = ["train", "wavelet", "--media", "audio", "--init-from", "wavelet_audio", "--feature-loss", "0.03",
            "--mse-weight", "0.5",
            "--steps", "3", "--batch", "3", "--data-limit", "6", "--threads", "1", "--device", "cpu",
            "--ckpt-dir", str(ck), "--export", "--quiet"]
    assert main(argv) == 0
    assert "finished at step 3/3" in capsys.readouterr().out

    last = json.loads((ck / "summary.json").read_text())["last"]
    for key in ("feat", "kl", "rate", "mse", "loss"):
        assert np.isfinite(last[key]), (key, last)
    assert last["feat"] > 0 and last["kl"] >= 0
    logged = [json.loads(line) for line in (ck / "metrics.jsonl").read_text().splitlines() if line.strip()]
    assert logged and all("feat" in str(row) for row in logged)

    # the classifier stayed frozen (same weights, eval mode) and nothing went into the shipped folder
    assert all(torch.equal(v, clf_before[k]) for k, v in clf.state_dict().items()) and not clf.training
    assert {p.name: p.stat().st_mtime_ns for p in WEIGHTS_DIR.iterdir()} == shipped_before

    # exported into the user folder, same format and ladder as the shipped audio weights, no classifier
    out = tmp_path / "home" / "weights"
    entry = json.loads((out / "wavelet_audio_ft_user.json").read_text())
    assert entry["init_from"] == "wavelet_audio" and entry["feature_loss"] == 0.03 and entry["steps"] == 3
    assert entry["mse_weight"] == 0.5
    blob = torch.load(out / "wavelet_audio_ft_user.pt", map_location="cpu", weights_only=False)
    ref = torch.load(WEIGHTS_DIR / "wavelet_audio.pt", map_location="cpu", weights_only=False)
    assert blob["config"] == ref["config"] and len(blob["config"]["lambdas"]) == 10
    assert set(blob["state_dict"]) == set(ref["state_dict"])

    clip = read_item(D.paths("fsdd", "test")[0])
    res = api.compress(clip, codec="wavelet", quality=5, options={"weights": "wavelet_audio_ft_user"})
    back = api.decompress(res.data)[0]
    assert back.data.shape == clip.data.shape and back.data.dtype == clip.data.dtype
    assert np.abs(back.data.astype(np.int64)).max() > 0


def test_feature_loss_is_audio_only(tmp_path, monkeypatch, capsys):
    from ncodec.cli.main import main

    monkeypatch.setenv("NCODEC_HOME", str(tmp_path / "home"))
    assert main(["train", "wavelet", "--media", "image", "--feature-loss", "1", "--steps", "1",
                 "--ckpt-dir", str(tmp_path / "ck"), "--quiet"]) != 0
    assert "--feature-loss and --clip-batches are for --media audio" in capsys.readouterr().err
    assert not (tmp_path / "ck").exists()
