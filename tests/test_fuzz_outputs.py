"""Special and hostile output paths: nothing the user owns is replaced or lost, every failure is one
line. FIFOs and character devices are written into (never renamed over), the input is never
the output (also through symlinks and hard links), missing folders, files used as folders,
/proc and full devices give ``OutputError``; SIGTERM cleans up like SIGINT; new files get the
umask's mode."""
from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

import ncodec
from ncodec.errors import OutputError, OutputExistsError
from ncodec.io import atomic_write, item_to_bytes
from ncodec.item import Item

from conftest import REPO
from test_cli import _one_line_error, run_inproc


@pytest.fixture
def work(tmp_path) -> Path:
    img = np.arange(12 * 10 * 3, dtype=np.uint8).reshape(12, 10, 3)
    (tmp_path / "d.png").write_bytes(item_to_bytes(Item.from_array(img, "image"), ".png"))
    return tmp_path


def test_fifo_is_written_into_not_replaced(work):
    fifo = work / "pipe"
    os.mkfifo(fifo)
    got = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_bytes()))
    reader.start()
    run_inproc("compress", "d.png", "-c", "png", "-o", "pipe", "-f", "--quiet", cwd=work, check=True)
    reader.join(10)
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)                 # still the FIFO
    assert got and ncodec.decompress(got[0]).data.shape == (12, 10, 3)
    assert sorted(os.listdir(work)) == ["d.png", "pipe"]         # no temp file left


def test_dev_null_and_dev_full(work):
    run_inproc("compress", "d.png", "-c", "png", "-o", "/dev/null", "--quiet", cwd=work, check=True)
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)
    if os.path.exists("/dev/full"):
        line = _one_line_error(run_inproc("compress", "d.png", "-c", "png", "-o", "/dev/full", "-f", cwd=work), 2)
        assert "no space" in line
        assert stat.S_ISCHR(os.stat("/dev/full").st_mode)


def test_stdout_to_a_full_device_is_one_line(work):
    if not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full")
    env = dict(os.environ, PYTHONPATH=str(REPO))
    with open("/dev/full", "wb") as full:
        proc = subprocess.run([sys.executable, "-m", "ncodec", "compress", "d.png", "-c", "png", "-o", "-"],
                              cwd=work, stdout=full, stderr=subprocess.PIPE, env=env, timeout=120)
    line = _one_line_error(proc, 2)
    assert "no space" in line


def test_output_is_never_the_input(work):
    (work / "link.png").symlink_to(work / "d.png")
    os.link(work / "d.png", work / "hard.png")
    before = (work / "d.png").read_bytes()
    for out in ("d.png", "link.png", "hard.png", "./d.png"):
        line = _one_line_error(run_inproc("compress", "d.png", "-c", "png", "-o", out, "-f", cwd=work), 2)
        assert "input" in line
    assert (work / "d.png").read_bytes() == before
    run_inproc("compress", "d.png", "-c", "png", "-o", "d.ncz", "--quiet", cwd=work, check=True)
    _one_line_error(run_inproc("decompress", "d.ncz", "-o", "d.ncz", "-f", cwd=work), 2)
    assert ncodec.open(work / "d.ncz")


@pytest.mark.parametrize("out", ["missing/x.ncz", "d.png/x.ncz", "/proc/ncodec-test.ncz", "/proc"])
def test_unwritable_outputs_are_one_line(work, out):
    line = _one_line_error(run_inproc("compress", "d.png", "-c", "png", "-o", out, "-f", cwd=work), 2)
    assert "cannot write" in line or "folder" in line
    assert sorted(os.listdir(work)) == ["d.png"]


def test_decompress_into_missing_or_bad_places(work):
    run_inproc("compress", "d.png", "-c", "png", "-o", "d.ncz", "--quiet", cwd=work, check=True)
    for out in ("missing/y.png", "d.png/y.png"):
        _one_line_error(run_inproc("decompress", "d.ncz", "-o", out, cwd=work), 2)
    items = [Item.from_array(np.zeros((2, 2), np.uint8), "image", name=f"{i}.png") for i in range(2)]
    (work / "a.ncz").write_bytes(ncodec.compress_items(items, codec="png").data)
    _one_line_error(run_inproc("decompress", "a.ncz", "-o", "d.png/sub", cwd=work), 2)
    assert sorted(os.listdir(work)) == ["a.ncz", "d.ncz", "d.png"]


def test_symlink_output_is_written_through(work):
    (work / "target.ncz").write_bytes(b"old")
    (work / "out.ncz").symlink_to("target.ncz")
    run_inproc("compress", "d.png", "-c", "png", "-o", "out.ncz", "-f", "--quiet", cwd=work, check=True)
    assert (work / "out.ncz").is_symlink() and (work / "target.ncz").read_bytes()[:3] == b"NCZ"


def test_new_files_follow_the_umask_and_overwrites_keep_their_mode(work):
    old = os.umask(0o027)
    try:
        atomic_write(work / "new.bin", b"x")
        assert stat.S_IMODE(os.stat(work / "new.bin").st_mode) == 0o640
        os.chmod(work / "new.bin", 0o604)
        atomic_write(work / "new.bin", b"y", force=True)
        assert stat.S_IMODE(os.stat(work / "new.bin").st_mode) == 0o604
    finally:
        os.umask(old)
    with pytest.raises(OutputExistsError):
        atomic_write(work / "new.bin", b"z")
    with pytest.raises(OutputError):
        atomic_write(work, b"z", force=True)                     # a folder is never replaced


def test_sigterm_cleans_up_like_sigint(tmp_path):
    """A decompress killed with SIGTERM mid-way leaves no temp files and no partial folder."""
    items = [Item.from_array(np.random.default_rng(i).integers(0, 255, (64, 64, 3)).astype(np.uint8), "image",
                             name=f"r{i:04d}.png") for i in range(400)]
    (tmp_path / "many.ncz").write_bytes(ncodec.compress_items(items, codec="png").data)
    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc = subprocess.Popen([sys.executable, "-m", "ncodec", "decompress", "many.ncz", "-o", "out"],
                            cwd=tmp_path, stderr=subprocess.PIPE, env=env)
    deadline = time.time() + 120
    while time.time() < deadline and not any((tmp_path / "out").glob("r*.png")):
        time.sleep(0.02)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    if proc.returncode == 0:
        pytest.skip("decompress finished before the signal arrived")
    assert proc.returncode == 143, err.decode()
    assert "terminated" in err.decode()
    assert sorted(os.listdir(tmp_path)) == ["many.ncz"]         # partial folder and temp files removed
