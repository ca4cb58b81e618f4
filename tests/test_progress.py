"""Progress bars: long steps show a tqdm bar on a terminal (a pseudo-terminal here), none when
stderr is piped, none with --quiet. Covers per-image fitting (``compress -c inr``) and the shared
training loop every trainer runs."""
from __future__ import annotations

import fcntl
import os
import select
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
BAR = b"%|"                       # tqdm's bar: "  40%|####      | 2/5 [...]"

LOOP_SCRIPT = """
import sys
from ncodec.train.loop import Loop, TrainConfig
cfg = TrainConfig(steps=4, ckpt_dir=sys.argv[1], quiet=sys.argv[2] == "quiet", log_every=1)
Loop(cfg, desc="tiny").run(lambda step: {"loss": 1.0 / (step + 1)})
"""


def _env() -> dict:
    return dict(os.environ, PYTHONPATH=str(REPO), TERM="xterm")


def run_in_pty(args: list[str], cwd: Path, timeout: float = 120) -> tuple[int, bytes]:
    """Run ``args`` with stdin/stdout/stderr on a pseudo-terminal (80x24); returns (exit code, output)."""
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
    proc = subprocess.Popen(args, stdin=slave, stdout=slave, stderr=slave, cwd=cwd, env=_env(), close_fds=True)
    os.close(slave)
    out = b""
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.5)
            if ready:
                try:
                    chunk = os.read(master, 65536)
                except OSError:            # EIO: the child closed the terminal
                    break
                if not chunk:
                    break
                out += chunk
            elif proc.poll() is not None:
                break
        else:
            proc.kill()
            pytest.fail(f"{args} did not finish in {timeout} s")
    finally:
        os.close(master)
    return proc.wait(timeout=30), out


def run_piped(args: list[str], cwd: Path) -> tuple[int, bytes]:
    r = subprocess.run(args, cwd=cwd, env=_env(), capture_output=True, stdin=subprocess.DEVNULL, timeout=120)
    return r.returncode, r.stdout + r.stderr


@pytest.fixture
def tiny_png(tmp_path, data_dir):
    from PIL import Image

    from ncodec import data as D
    from ncodec.io import read_item
    p = tmp_path / "tiny.png"
    Image.fromarray(np.ascontiguousarray(read_item(D.paths("kodak")[0]).data[:32, :32])).save(p)
    return p


def test_training_loop_bar_on_terminal_only(tmp_path):
    script = [sys.executable, "-c", LOOP_SCRIPT]
    code, out = run_in_pty(script + [str(tmp_path / "a"), "loud"], tmp_path)
    assert code == 0 and BAR in out and b"tiny" in out, out.decode(errors="replace")
    code, out = run_piped(script + [str(tmp_path / "b"), "loud"], tmp_path)
    assert code == 0 and BAR not in out and b"finished at step 4/4" in out, out.decode(errors="replace")
    code, out = run_in_pty(script + [str(tmp_path / "c"), "quiet"], tmp_path)
    assert code == 0 and BAR not in out, out.decode(errors="replace")


def test_fitting_bar_on_terminal_only(tmp_path, tiny_png):
    cmd = [sys.executable, "-m", "ncodec", "compress", str(tiny_png), "-c", "inr", "-O", "iterations=5", "-f"]
    code, out = run_in_pty(cmd + ["-o", str(tmp_path / "a.ncz")], tmp_path)
    assert code == 0 and BAR in out and b"fitting inr" in out, out.decode(errors="replace")
    code, out = run_piped(cmd + ["-o", str(tmp_path / "b.ncz")], tmp_path)
    assert code == 0 and BAR not in out and b"fitting inr" not in out, out.decode(errors="replace")
    code, out = run_in_pty(cmd + ["-o", str(tmp_path / "c.ncz"), "--quiet"], tmp_path)
    assert code == 0 and BAR not in out and out.strip() == b"", out.decode(errors="replace")
