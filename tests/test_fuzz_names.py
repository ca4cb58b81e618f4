"""Record names are data nobody should trust: whatever an archive stores (``..``, absolute paths,
NUL, control characters, 300-character components, duplicates, a name that is another's
folder), names are made safe and unique, ``decompress`` writes every record inside the output
folder and reports exactly the files it wrote. Inputs with the same base name from different
folders keep their relative paths."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import ncodec
from ncodec import container
from ncodec.api import MAX_NAME_BYTES, input_name, safe_name, unique_names
from ncodec.item import Item

from test_cli import run_inproc

NASTY = st.one_of(
    st.text(max_size=40),
    st.sampled_from(["..", "../..", "/etc/passwd", "a/../../b", "./.", "", "/", "\x00", "a\x00b", "x" * 300,
                     "é" * 200, "a//b", "a\\..\\b", " ", "con", "d", "d/e", "d/e/f", "~", "-", "-rf"]),
    st.lists(st.sampled_from(["..", ".", "a", "", "b.png", "\n", "x" * 256]), max_size=6).map("/".join),
)
SETTINGS = dict(deadline=None, derandomize=True, database=None, suppress_health_check=list(HealthCheck))


@settings(max_examples=400, **SETTINGS)
@given(name=NASTY)
def test_safe_name_is_a_safe_relative_path(name):
    s = safe_name(name)
    assert safe_name(s) == s                                    # idempotent
    if not s:
        return
    assert not s.startswith("/") and "\x00" not in s
    parts = s.split("/")
    assert all(p not in ("", ".", "..") for p in parts)
    assert all(len(p.encode()) <= MAX_NAME_BYTES for p in parts)
    assert all(ord(ch) >= 32 and ord(ch) != 127 for ch in s)


@settings(max_examples=200, **SETTINGS)
@given(names=st.lists(NASTY, max_size=12))
def test_unique_names_are_unique_and_never_folders_of_each_other(names):
    safe = [safe_name(n) for n in names]
    out = unique_names(safe)
    assert out == unique_names(safe)                            # deterministic
    files = [n for n in out if n]
    assert len(set(files)) == len(files)
    folders = {"/".join(n.split("/")[:i]) for n in files for i in range(1, len(n.split("/")))}
    assert not folders & set(files)
    for a, b in zip(safe, out):                                 # first of each name keeps it
        if a and safe.count(a) == 1 and a not in folders:
            assert a == b


def test_input_names_keep_relative_paths():
    assert input_name("a/x.png") == "a/x.png" and input_name("./b/x.png") == "b/x.png"
    assert input_name("../up/x.png") == "x.png" and input_name("/abs/x.png") == "x.png"
    assert unique_names(["a/x.png", "b/x.png", "x.png", "x.png"]) == ["a/x.png", "b/x.png", "x.png", "x~2.png"]


def _hostile_archive(names: list[str]) -> bytes:
    items = [Item.from_array(np.full((3, 4), i, np.uint8), "image", name=f"r{i}.png") for i in range(len(names))]
    c = container.unpack(ncodec.compress_items(items, codec="png", archive=True).data)
    for r, n in zip(c.records, names):
        r.name = n
    return container.pack(c)


@settings(max_examples=25, **SETTINGS)
@given(names=st.lists(NASTY, min_size=1, max_size=8))
def test_decompress_writes_every_record_inside_the_folder(tmp_path_factory, names):
    tmp = tmp_path_factory.mktemp("names")
    (tmp / "in.ncz").write_bytes(_hostile_archive(names))
    before = set(os.listdir(tmp))
    proc = run_inproc("decompress", "in.ncz", "-o", "out", cwd=tmp)
    assert proc.returncode == 0, proc.stderr.decode()
    assert set(os.listdir(tmp)) == before | {"out"}           # nothing written beside the folder
    files = [p for p in (tmp / "out").rglob("*") if p.is_file()]
    assert len(files) == len(names)
    assert f"({len(names)} files)" in proc.stderr.decode()
    values = sorted(int(ncodec.io.read_item(p, media="image").data[0, 0]) for p in files)
    assert values == list(range(len(names)))                  # each record once, none lost
    for p in files:
        assert Path(os.path.realpath(p)).is_relative_to(os.path.realpath(tmp / "out"))


def test_same_base_names_from_two_folders(tmp_path):
    for d, v in (("a", 1), ("b", 2)):
        (tmp_path / d).mkdir()
        (tmp_path / d / "x.npy").write_bytes(ncodec.io.item_to_bytes(Item.from_array(np.full(3, v), "tensor"), ".npy"))
    run_inproc("compress", "a/x.npy", "b/x.npy", "-o", "all.ncz", cwd=tmp_path, check=True)
    assert ncodec.open(tmp_path / "all.ncz").names == ["a/x.npy", "b/x.npy"]
    proc = run_inproc("decompress", "all.ncz", "-o", "out", "-f", cwd=tmp_path, check=True)
    assert "(2 files)" in proc.stderr.decode()
    assert ncodec.io.read_item(tmp_path / "out" / "a" / "x.npy").data.tolist() == [1, 1, 1]
    assert ncodec.io.read_item(tmp_path / "out" / "b" / "x.npy").data.tolist() == [2, 2, 2]
    # a second decompress without -f refuses before writing anything
    (tmp_path / "out" / "b" / "x.npy").unlink()
    proc = run_inproc("decompress", "all.ncz", "-o", "out", cwd=tmp_path)
    assert proc.returncode == 2 and not (tmp_path / "out" / "b" / "x.npy").exists()


def test_symlink_inside_output_folder_is_not_followed_out(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "d").symlink_to(outside)
    (tmp_path / "in.ncz").write_bytes(_hostile_archive(["d/e.png"]))
    proc = run_inproc("decompress", "in.ncz", "-o", "out", "-f", cwd=tmp_path)
    assert proc.returncode != 0 and not list(outside.iterdir())
