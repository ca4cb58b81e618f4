"""The README's runnable command blocks (fenced as ``sh``) run as written, in order, in a fresh folder,
then its Python API block in the same folder.

Each line runs through bash (so globs, pipes and redirections behave as in a terminal) with the
venv's ``ncodec`` and ``python`` first on PATH, a private ``NCODEC_HOME``, and stdin/stdout not a
terminal. Sample inputs come from ``python -m ncodec.demo --samples .``, the README's own first line.
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path


REPO = Path(__file__).resolve().parents[1]


def readme_commands(text: str) -> list[str]:
    """Every command line of the ``sh`` blocks, in order (blank lines and comment lines skipped)."""
    out = []
    for block in re.findall(r"^```sh\n(.*?)^```", text, flags=re.S | re.M):
        out += [line for line in block.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    return out


def readme_python(text: str) -> str:
    """The README's ``python`` block (the API walkthrough)."""
    blocks = re.findall(r"^```python\n(.*?)^```", text, flags=re.S | re.M)
    assert len(blocks) == 1
    return blocks[0]


def test_readme_has_runnable_blocks():
    cmds = readme_commands((REPO / "README.md").read_text())
    assert cmds[0].startswith("python -m ncodec.demo --samples")
    assert any(c.startswith("ncodec train") for c in cmds) and len(cmds) > 15


def test_readme_commands_run_in_order(tmp_path, data_dir):
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
               NCODEC_HOME=str(tmp_path / "home"), PYTHONPATH=str(REPO), NCODEC_DATA=str(data_dir))
    work = tmp_path / "work"
    work.mkdir()
    for cmd in readme_commands((REPO / "README.md").read_text()):
        r = subprocess.run(["bash", "-c", cmd], cwd=work, env=env, capture_output=True, stdin=subprocess.DEVNULL,
                           timeout=120)
        assert r.returncode == 0, f"README command failed ({r.returncode}): {cmd}\n{r.stderr.decode()[-2000:]}"
        assert b"internal error" not in r.stderr, cmd
    assert (work / "small.png").exists() and (work / "mine.npy").exists() and (work / "unpacked").is_dir()
    code = readme_python((REPO / "README.md").read_text())
    r = subprocess.run([sys.executable, "-c", code], cwd=work, env=env, capture_output=True, timeout=120)
    assert r.returncode == 0, f"README Python block failed:\n{r.stderr.decode()[-2000:]}"
