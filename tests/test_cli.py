"""``ncodec`` as a user runs it: compress/decompress/info/list, stdin/stdout, --verify, -f,
and one-line errors with a non-zero exit and no partial output left behind.

A subprocess costs several seconds of start-up on a loaded machine (torch comes in with the
learned codecs), so the end-to-end subprocess calls are few (stdin/stdout, a missing file, a
corrupted file); the other commands run the same entry point, ``ncodec.cli.main.main``, in-process.
"""
from __future__ import annotations

import io
import json
import os
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from ncodec.cli.main import main
from ncodec.io import read_item

from conftest import run_cli

CLASSICAL = ["avif", "flac", "jpeg", "jpegxl", "jpegxl-lossless", "opus", "png", "webp", "webp-lossless",
             "x264", "x264-lossless", "x265", "zstd"]


class _Result:
    """What a CLI run left: exit code and the bytes written to stdout/stderr (like CompletedProcess)."""

    def __init__(self, returncode: int, stdout: bytes, stderr: bytes) -> None:
        self.returncode, self.stdout, self.stderr = returncode, stdout, stderr


class _KeepOpen(io.BytesIO):
    """A BytesIO that outlives the TextIOWrapper around it (which closes it when collected)."""

    def close(self) -> None:
        pass


def run_inproc(*args: str, cwd: Path | None = None, stdin: bytes = b"", check: bool = False) -> _Result:
    """Run ``ncodec ARGS`` through the real entry point in this process, with byte-level stdio."""
    old = (sys.stdin, sys.stdout, sys.stderr, os.getcwd())
    out, err = _KeepOpen(), _KeepOpen()
    sys.stdin = io.TextIOWrapper(io.BytesIO(stdin))
    sys.stdout, sys.stderr = io.TextIOWrapper(out, write_through=True), io.TextIOWrapper(err, write_through=True)
    try:
        if cwd is not None:
            os.chdir(cwd)
        try:
            code = main(list(args))
        except SystemExit as exc:          # argparse usage errors
            code = int(exc.code or 0)
        sys.stdout.flush()
        sys.stderr.flush()
    finally:
        sys.stdin, sys.stdout, sys.stderr = old[:3]
        os.chdir(old[3])
    res = _Result(code, out.getvalue(), err.getvalue())
    if check and code != 0:
        raise AssertionError(res.stderr.decode())
    return res


def _one_line_error(proc, code: int | None = None) -> str:
    err = proc.stderr.decode()
    assert proc.returncode != 0, err
    if code is not None:
        assert proc.returncode == code, (proc.returncode, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("ncodec: error: "), err
    assert "Traceback" not in err
    return lines[0]


def _no_leftovers(folder: Path, allowed: set[str]) -> None:
    """Nothing but the expected files: no partial outputs, no temp files from atomic writes."""
    assert {p.name for p in folder.iterdir()} == allowed


@pytest.fixture(scope="module")
def workdir(tmp_path_factory, data_dir) -> Path:
    d = tmp_path_factory.mktemp("cli")
    shutil.copy(data_dir / "kodak" / "kodim23.png", d / "a.png")
    img = read_item(data_dir / "kodak" / "kodim05.png").data[:64, :96]
    from PIL import Image
    Image.fromarray(img).save(d / "b.png")
    shutil.copy(data_dir / "fsdd" / "7_theo_1.wav", d / "s.wav")
    return d


def test_list_shows_every_classical_codec():
    proc = run_inproc("list", "--json", check=True)
    rows = {r["name"]: r for r in json.loads(proc.stdout)}
    missing = [c for c in CLASSICAL if c not in rows]
    assert not missing, missing
    assert rows["webp-lossless"]["lossless"] and not rows["x265"]["lossless"]
    assert rows["opus"]["media"] == "audio" and rows["x264"]["media"] == "video"


def test_compress_archive_verify_info_decompress(workdir):
    out = workdir / "ab.ncz"
    proc = run_inproc("compress", "a.png", "b.png", "-c", "webp-lossless", "-o", str(out), "--verify",
                   cwd=workdir, check=True)
    summary = proc.stderr.decode().strip()
    assert "2 item(s)" in summary and "verified" in summary and "bpp" in summary, summary
    info = run_inproc("info", str(out), cwd=workdir, check=True).stdout.decode()
    assert "webp-lossless" in info and "a.png" in info and "b.png" in info and "checksum: ok" in info
    run_inproc("decompress", str(out), "-o", "back", cwd=workdir, check=True)
    for name in ("a.png", "b.png"):
        assert read_item(workdir / "back" / name).same_data(read_item(workdir / name))


def test_stdin_stdout_round_trip(workdir):
    raw = (workdir / "s.wav").read_bytes()
    ncz = run_cli("compress", "-", "-o", "-", "-c", "flac", "--verify", stdin=raw, check=True).stdout
    assert ncz[:3] == b"NCZ" and len(ncz) < len(raw)
    wav = run_inproc("decompress", "-", stdin=ncz, check=True).stdout
    a, ra = sf.read(io.BytesIO(raw), dtype="int16")
    b, rb = sf.read(io.BytesIO(wav), dtype="int16")
    assert ra == rb == 8000 and np.array_equal(a, b)


def test_refuses_overwrite_without_force(workdir):
    target = workdir / "exists.ncz"
    target.write_bytes(b"precious")
    line = _one_line_error(run_inproc("compress", "b.png", "-o", str(target), cwd=workdir), code=2)
    assert "-f" in line
    assert target.read_bytes() == b"precious"
    run_inproc("compress", "b.png", "-o", str(target), "-f", "-c", "png", "--quiet", cwd=workdir, check=True)
    assert target.read_bytes()[:3] == b"NCZ"


def test_missing_file_one_line(tmp_path):
    line = _one_line_error(run_cli("compress", "nope.png", cwd=tmp_path), code=2)
    assert "nope.png" in line
    _no_leftovers(tmp_path, set())


def test_non_image_to_image_codec(tmp_path, workdir):
    shutil.copy(workdir / "s.wav", tmp_path / "s.wav")
    line = _one_line_error(run_inproc("compress", "s.wav", "-c", "jpegxl-lossless", "-o", "x.ncz", cwd=tmp_path),
                           code=5)
    assert "image" in line
    _no_leftovers(tmp_path, {"s.wav"})


def test_text_named_png_is_refused(tmp_path):
    (tmp_path / "fake.png").write_text("this is not a picture\n")
    line = _one_line_error(run_inproc("compress", "fake.png", cwd=tmp_path), code=2)
    assert "fake.png" in line
    _no_leftovers(tmp_path, {"fake.png"})


def test_corrupted_ncz_one_line_no_output(tmp_path, workdir):
    good = run_inproc("compress", "-", "-o", "-", "-c", "png", stdin=(workdir / "b.png").read_bytes(), check=True).stdout
    bad = bytearray(good)
    bad[len(bad) // 2] ^= 0x04
    (tmp_path / "bad.ncz").write_bytes(bytes(bad))
    line = _one_line_error(run_cli("decompress", "bad.ncz", "-o", "out.png", cwd=tmp_path), code=3)
    assert "checksum" in line
    _no_leftovers(tmp_path, {"bad.ncz"})


# ------------------------------------------------------------------ reliability (issue 13)

def _wav(path: Path, data: np.ndarray, rate: int, subtype: str) -> None:
    sf.write(str(path), data, rate, subtype=subtype)


def test_flac_codes_24_bit_as_24_bit(tmp_path):
    rng = np.random.default_rng(3)
    full = rng.integers(-(1 << 23), 1 << 23, (500, 2))
    full[0, 0], full[1, 1] = (1 << 23) - 1, -(1 << 23)
    _wav(tmp_path / "full.wav", (full << 8).astype(np.int32), 48000, "PCM_24")
    _wav(tmp_path / "quiet.wav", (rng.integers(-50, 50, 300) << 8).astype(np.int32), 8000, "PCM_24")
    for name in ("full", "quiet"):
        run_inproc("compress", f"{name}.wav", "-o", f"{name}.ncz", "--verify", "--quiet", cwd=tmp_path, check=True)
        assert ncodec_info(tmp_path / f"{name}.ncz")["codec"] == "flac"
        run_inproc("decompress", f"{name}.ncz", "-o", f"{name}_back.wav", cwd=tmp_path, check=True)
        assert sf.info(str(tmp_path / f"{name}_back.wav")).subtype == "PCM_24"
        a, _ = sf.read(str(tmp_path / f"{name}.wav"), dtype="int32")
        b, _ = sf.read(str(tmp_path / f"{name}_back.wav"), dtype="int32")
        assert np.array_equal(a, b)


def ncodec_info(path: Path) -> dict:
    import ncodec
    return ncodec.open(path).info()


def test_empty_wav_in_a_flac_archive_reads_back(tmp_path):
    _wav(tmp_path / "empty.wav", np.zeros(0, np.int16), 8000, "PCM_16")
    _wav(tmp_path / "one.wav", np.arange(100, dtype=np.int16), 8000, "PCM_16")
    run_inproc("compress", "empty.wav", "one.wav", "-o", "a.ncz", "--quiet", cwd=tmp_path, check=True)
    proc = run_inproc("decompress", "a.ncz", "-o", "out", cwd=tmp_path, check=True)
    assert "(2 files)" in proc.stderr.decode()
    assert sf.read(str(tmp_path / "out" / "empty.wav"))[0].shape == (0,)


def test_npy_edge_cases(tmp_path):
    np.save(tmp_path / "be.npy", np.arange(10, dtype=">u2").reshape(2, 5))
    np.save(tmp_path / "zero_d.npy", np.array(3.25, dtype=np.float32))
    np.save(tmp_path / "nan.npy", np.array([1.0, np.nan, -np.nan, np.inf], dtype=np.float32))
    for name in ("be", "zero_d", "nan"):
        run_inproc("compress", f"{name}.npy", "-o", f"{name}.ncz", "--verify", "--quiet", cwd=tmp_path, check=True)
        run_inproc("decompress", f"{name}.ncz", "-o", f"{name}_back.npy", cwd=tmp_path, check=True)
        a, b = np.load(tmp_path / f"{name}.npy"), np.load(tmp_path / f"{name}_back.npy")
        assert a.shape == b.shape and np.array_equal(a.astype(a.dtype.newbyteorder("=")), b, equal_nan=True)
        assert a.astype(a.dtype.newbyteorder("=")).tobytes() == b.tobytes()
    np.save(tmp_path / "c.npy", np.ones(3, np.complex64))
    line = _one_line_error(run_inproc("compress", "c.npy", "-o", "c.ncz", cwd=tmp_path), 5)
    assert "complex64" in line
    _no_leftovers(tmp_path, {"be.npy", "be.ncz", "be_back.npy", "zero_d.npy", "zero_d.ncz", "zero_d_back.npy",
                             "nan.npy", "nan.ncz", "nan_back.npy", "c.npy"})


def test_png_on_tall_narrow_images(tmp_path):
    from PIL import Image
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (5000, 1)).astype(np.uint8)).save(tmp_path / "t.png")
    run_inproc("compress", "t.png", "-c", "png", "--verify", "--quiet", cwd=tmp_path, check=True)


def test_verify_says_what_was_checked(workdir, tmp_path):
    shutil.copy(workdir / "b.png", tmp_path / "b.png")
    lossy = run_inproc("compress", "b.png", "-c", "webp", "-o", "l.ncz", "--verify", cwd=tmp_path, check=True)
    assert "decodable" in lossy.stderr.decode() and "reconstruction" in lossy.stderr.decode()
    exact = run_inproc("compress", "b.png", "-c", "png", "-o", "e.ncz", "--verify", cwd=tmp_path, check=True)
    assert "bit-exactly" in exact.stderr.decode()


def test_decode_limits_are_one_line_and_overridable(tmp_path):
    import ncodec
    from ncodec.item import Item
    big = Item.from_array(np.zeros((300, 400), np.uint8), "image")
    (tmp_path / "big.ncz").write_bytes(ncodec.compress_items([big], codec="png").data)
    line = _one_line_error(run_inproc("decompress", "big.ncz", "-o", "x.png", "--max-pixels", "1000",
                                      cwd=tmp_path), 7)
    assert "--max-pixels" in line
    _one_line_error(run_inproc("decompress", "big.ncz", "-o", "x.png", "--max-bytes", "100", cwd=tmp_path), 7)
    run_inproc("decompress", "big.ncz", "-o", "x.png", "--max-pixels", "120000", cwd=tmp_path, check=True)
    info = run_inproc("info", "big.ncz", cwd=tmp_path, check=True).stdout.decode()
    assert "content_check: 4 bytes per record (data)" in info and "format_version: 2" in info


def test_corrupted_payload_behind_a_valid_crc_is_an_integrity_error(tmp_path):
    import struct
    import zlib

    import ncodec
    from ncodec import container
    from ncodec.item import Item
    item = Item.from_array(np.arange(4000, dtype=np.uint16), "tensor")
    c = container.unpack(ncodec.compress_items([item], codec="zstd").data)
    for i in range(20, 40):                       # raw literals of the zstd frame: decodes, but wrongly
        bad = bytearray(c.records[0].payload)
        bad[i] ^= 0x01
        c2 = container.unpack(container.pack(c))
        c2.records[0].payload = bytes(bad)
        data = bytearray(container.pack(c2))
        assert struct.unpack("<I", data[-4:])[0] == zlib.crc32(bytes(data[:-4]))
        (tmp_path / "bad.ncz").write_bytes(bytes(data))
        proc = run_inproc("decompress", "bad.ncz", "-o", "x.npy", cwd=tmp_path)
        _one_line_error(proc, 4)
    _no_leftovers(tmp_path, {"bad.ncz"})
