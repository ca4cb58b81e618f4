"""Reading and writing media files as ``Item``s: images (Pillow), audio (soundfile), video
(PyAV or a folder of frames), .npy tensors and raw bytes. Knows nothing about codecs."""
from __future__ import annotations

import errno
import io as _io
import os
import signal
import stat
import tempfile
import threading
from contextlib import contextmanager
from fractions import Fraction
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np

from .errors import InputError, OutputError, OutputExistsError, UnsupportedInputError
from .item import DTYPES, Item, ItemMeta

IMAGE_EXT = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm", ".pnm", ".gif"}
AUDIO_EXT = {".wav", ".flac", ".ogg", ".aiff", ".aif"}
VIDEO_EXT = {".mp4", ".avi", ".mkv", ".mov", ".webm", ".m4v"}
DEFAULT_FRAME_RATE = Fraction(25)


def media_of_path(path: str | Path) -> str:
    """Media kind implied by a file name (or a folder of frames)."""
    p = Path(path)
    if p.is_dir():
        return "video"
    ext = p.suffix.lower()
    if ext in IMAGE_EXT:
        return "image"
    if ext in AUDIO_EXT:
        return "audio"
    if ext in VIDEO_EXT:
        return "video"
    if ext == ".npy":
        return "tensor"
    return "bytes"


# ------------------------------------------------------------------ readers

def image_from_bytes(raw: bytes, name: str = "") -> Item:
    """Decode an image file's bytes to (H, W) or (H, W, C) uint8/uint16."""
    from PIL import Image, UnidentifiedImageError
    if raw[:8] == b"\x89PNG\r\n\x1a\n" and len(raw) > 24 and raw[24] == 16:
        return _png16_from_bytes(raw, name)   # Pillow would cut 16-bit RGB(A) to 8 bits
    try:
        with Image.open(_io.BytesIO(raw)) as im:
            im.load()
            if im.mode in ("I;16", "I;16B", "I;16L"):
                arr = np.array(im, dtype=np.uint16)
            elif im.mode == "I":
                arr = np.array(im)
                if arr.min() < 0 or arr.max() > 65535:
                    raise UnsupportedInputError(f"32-bit integer image is not supported ({name})")
                arr = arr.astype(np.uint16)
            elif im.mode in ("L", "RGB", "RGBA"):
                arr = np.array(im)
            elif im.mode in ("LA",):
                arr = np.array(im.convert("RGBA"))
            else:
                arr = np.array(im.convert("RGBA" if "A" in im.mode or "transparency" in im.info else "RGB"))
    except (UnidentifiedImageError, OSError, SyntaxError) as exc:
        raise InputError(f"not a readable image ({name or 'input'}): {exc}") from exc
    return Item.from_array(arr, "image", name=name)


def _png16_from_bytes(raw: bytes, name: str = "") -> Item:
    """16-bit PNG (gray, gray+alpha, RGB, RGBA) to uint16 (H, W) / (H, W, 3|4) via imagecodecs."""
    import imagecodecs
    try:
        arr = imagecodecs.png_decode(raw)
    except Exception as exc:  # imagecodecs raises PngError / ValueError
        raise InputError(f"not a readable image ({name or 'input'}): {exc}") from exc
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[:, :, 0]
    elif arr.ndim == 3 and arr.shape[2] == 2:
        arr = np.concatenate([np.repeat(arr[:, :, :1], 3, axis=2), arr[:, :, 1:]], axis=2)
    return Item.from_array(arr.astype(np.uint16), "image", name=name)


def audio_from_bytes(raw: bytes, name: str = "") -> Item:
    """Decode an audio file to (samples,) or (samples, channels), keeping integer PCM as int16/int32."""
    import soundfile as sf
    try:
        info = sf.info(_io.BytesIO(raw))
        dtype = {"PCM_16": "int16", "PCM_24": "int32", "PCM_32": "int32", "PCM_U8": "int16",
                 "PCM_S8": "int16"}.get(info.subtype, "float32")
        data, rate = sf.read(_io.BytesIO(raw), dtype=dtype, always_2d=False)
    except Exception as exc:  # soundfile raises its own LibsndfileError / RuntimeError
        raise InputError(f"not a readable audio file ({name or 'input'}): {exc}") from exc
    return Item.from_array(data, "audio", name=name, sample_rate=int(rate))


def video_from_path(path: str | Path) -> Item:
    """Decode a video file (PyAV) or a folder of image frames to (T, H, W, 3) uint8 RGB."""
    p = Path(path)
    if p.is_dir():
        files = sorted(f for f in p.iterdir() if f.suffix.lower() in IMAGE_EXT)
        if not files:
            raise InputError(f"folder has no image frames ({p})")
        frames = [image_from_bytes(f.read_bytes(), f.name).data for f in files]
        if any(f.shape != frames[0].shape for f in frames):
            raise UnsupportedInputError(f"frames in {p} differ in size")
        arr = np.stack([f if f.ndim == 3 else np.repeat(f[..., None], 3, -1) for f in frames])[..., :3]
        return Item.from_array(arr.astype(np.uint8), "video", name=p.name, frame_rate=DEFAULT_FRAME_RATE)
    import av
    try:
        with av.open(str(p)) as container:
            stream = container.streams.video[0]
            rate = stream.average_rate or stream.guessed_rate or DEFAULT_FRAME_RATE
            frames = [f.to_ndarray(format="rgb24") for f in container.decode(stream)]
    except (av.error.FFmpegError, IndexError, OSError) as exc:
        raise InputError(f"not a readable video ({p}): {exc}") from exc
    if not frames:
        raise InputError(f"video has no frames ({p})")
    return Item.from_array(np.stack(frames), "video", name=p.name, frame_rate=Fraction(rate))


def read_bytes(path: str | Path) -> bytes:
    """A file's bytes; a missing file, a folder or an unreadable file is one InputError line."""
    p = Path(path)
    try:
        return p.read_bytes()
    except FileNotFoundError as exc:
        raise InputError(f"no such file ({p})") from exc
    except IsADirectoryError as exc:
        raise InputError(f"is a folder ({p})") from exc
    except OSError as exc:
        raise InputError(f"cannot read ({p}): {exc.strerror or exc}") from exc


def read_item(path: str | Path, raw: bytes | None = None, media: str | None = None) -> Item:
    """Read one input file (or the given bytes, e.g. stdin) into an Item of the implied media kind."""
    p = Path(path)
    kind = media or media_of_path(p)
    if kind == "video":
        if raw is not None:
            with tempfile.NamedTemporaryFile(suffix=p.suffix or ".mp4") as tmp:
                tmp.write(raw)
                tmp.flush()
                return video_from_path(tmp.name)
        if not p.exists():
            raise InputError(f"no such file or folder ({p})")
        return video_from_path(p)
    if raw is None:
        raw = read_bytes(p)
    name = p.name
    if kind == "image":
        return image_from_bytes(raw, name)
    if kind == "audio":
        return audio_from_bytes(raw, name)
    if kind == "tensor":
        try:
            arr = np.load(_io.BytesIO(raw), allow_pickle=False)
        except Exception as exc:
            raise InputError(f"not a readable .npy file ({name}): {exc}") from exc
        return tensor_item(arr, name)
    return Item.from_bytes(raw, name)


def tensor_item(arr: np.ndarray, name: str = "") -> Item:
    """A tensor Item holding exactly ``arr``'s values: native byte order (a big-endian .npy is
    byte-swapped to the same values), C order, 0-d arrays kept 0-d; dtypes the format cannot
    store (complex, strings, objects, records, datetimes) are refused."""
    if not isinstance(arr, np.ndarray):
        raise InputError(f"not a plain array ({name})")
    if arr.dtype.name not in DTYPES:
        raise UnsupportedInputError(f"tensor dtype {arr.dtype} is not supported ({name}); "
                                    f"supported: {', '.join(DTYPES)}")
    if arr.dtype.str[0] == (">" if np.little_endian else "<"):
        arr = arr.astype(arr.dtype.newbyteorder("="))
    arr = np.array(arr, order="C", copy=not arr.flags.c_contiguous) if arr.ndim else np.array(arr)
    return Item(arr, ItemMeta(media="tensor", shape=arr.shape, dtype=arr.dtype.name), name=name)


# ------------------------------------------------------------------ writers

def item_to_bytes(item: Item, suffix: str) -> bytes:
    """Serialise an item in the file format its suffix names (PNG for images by default)."""
    suffix = suffix.lower()
    m = item.meta.media
    if m == "bytes":
        return item.data.tobytes()
    if m == "tensor" or suffix == ".npy":
        buf = _io.BytesIO()
        np.save(buf, item.data, allow_pickle=False)
        return buf.getvalue()
    if m == "image":
        from PIL import Image
        arr = item.data
        fmt = {".jpg": "JPEG", ".jpeg": "JPEG", ".bmp": "BMP", ".tif": "TIFF", ".tiff": "TIFF",
               ".webp": "WEBP", ".ppm": "PPM", ".pgm": "PPM"}.get(suffix, "PNG")
        if arr.dtype == np.uint16 and fmt == "PNG":
            import imagecodecs   # Pillow has no 16-bit RGB(A) mode; imagecodecs' PNG keeps every layout
            return imagecodecs.png_encode(arr, level=9)
        if arr.dtype == np.uint16 and arr.ndim == 3:
            raise UnsupportedInputError(f"16-bit colour images can only be written as .png, not {suffix}")
        im = Image.fromarray(arr)
        buf = _io.BytesIO()
        im.save(buf, format=fmt, **({"lossless": True} if fmt == "WEBP" else {}))
        return buf.getvalue()
    if m == "audio":
        import soundfile as sf
        fmt = {".flac": "FLAC", ".ogg": "OGG"}.get(suffix, "WAV")
        dt = item.meta.dtype
        # int32 whose low byte is zero everywhere is 24-bit PCM (how 24-bit files are read): write 24-bit
        pcm24 = dt == "int32" and not (item.data & 0xFF).any()
        subtype = {"int16": "PCM_16", "int32": "PCM_24" if pcm24 else "PCM_32",
                   "float32": "FLOAT", "float64": "DOUBLE"}.get(dt, "FLOAT")
        if fmt == "FLAC" and subtype not in ("PCM_16", "PCM_24"):
            raise UnsupportedInputError(f"{dt} audio{' wider than 24 bits' if dt == 'int32' else ''} cannot be "
                                        f"written as FLAC without loss; write .wav")
        if fmt == "OGG":
            subtype = "VORBIS"
        buf = _io.BytesIO()
        sf.write(buf, item.data, item.meta.sample_rate, format=fmt, subtype=subtype)
        return buf.getvalue()
    raise ValueError(f"cannot serialise {m} as {suffix}")


def default_suffix(item: Item) -> str:
    """File suffix used when writing an item without an explicit name."""
    return {"image": ".png", "audio": ".wav", "video": "", "tensor": ".npy", "bytes": ".bin"}[item.meta.media]


def write_video_frames(item: Item, folder: str | Path, force: bool = False) -> Path:
    """Write a video item as PNG frames f0001.png… into a new folder (built aside, then renamed)."""
    import shutil
    folder = Path(folder)
    if folder.exists() or folder.is_symlink():
        if not force:
            raise OutputExistsError(f"output exists, use -f to overwrite ({folder})")
        if not folder.is_dir() or folder.is_symlink():
            raise OutputError(f"output exists and is not a folder ({folder})")
    parent = _output_parent(folder)
    try:
        tmp = Path(tempfile.mkdtemp(prefix=".ncodec-", dir=parent))
    except OSError as exc:
        raise _output_error(exc, folder) from exc
    try:
        os.chmod(tmp, 0o777 & ~_umask())
        for i, frame in enumerate(item.data, 1):
            sub = Item.from_array(frame, "image")
            (tmp / f"f{i:04d}.png").write_bytes(item_to_bytes(sub, ".png"))
        if folder.exists():
            shutil.rmtree(folder)
        os.replace(tmp, folder)
    except BaseException as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        if isinstance(exc, OSError):
            raise _output_error(exc, folder) from exc
        raise
    return folder


def write_video_file(item: Item, path: str | Path, force: bool = False, crf: int = 0) -> Path:
    """Write a video item as a video file via PyAV (lossless x264 by default), atomically."""
    import av
    path = Path(path)

    def build(tmp_path: str) -> None:
        with av.open(tmp_path, "w", format=path.suffix.lstrip(".") or "mp4") as out:
            rate = item.meta.frame_rate or DEFAULT_FRAME_RATE
            if crf == 0:   # exact RGB: libx264rgb at qp 0 (yuv444p would round in the colour conversion)
                st = out.add_stream("libx264rgb", rate=rate)
                st.pix_fmt = "rgb24"
                st.options = {"qp": "0"}
            else:
                st = out.add_stream("libx264", rate=rate)
                st.pix_fmt = "yuv444p"
                st.options = {"crf": str(crf)}
            st.height, st.width = item.data.shape[1:3]
            for frame in item.data:
                for pkt in st.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(frame[..., :3]), format="rgb24")):
                    out.mux(pkt)
            for pkt in st.encode():
                out.mux(pkt)

    return atomic_write_with(path, build, force)


def _umask() -> int:
    """The process umask (read without changing it where /proc allows)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except OSError:
        pass
    with _UMASK_LOCK:
        old = os.umask(0o022)
        os.umask(old)
    return old


_UMASK_LOCK = threading.Lock()


def _output_error(exc: OSError, path: Path) -> OutputError:
    """One clear message for an OSError met while writing ``path``."""
    why = {errno.ENOSPC: "no space left on the device", errno.EDQUOT: "disk quota exceeded",
           errno.EACCES: "permission denied", errno.EPERM: "operation not permitted",
           errno.EROFS: "read-only file system", errno.ENOTDIR: "a path component is not a folder",
           errno.ENOENT: "cannot create a file there", errno.EISDIR: "is a folder",
           errno.ENAMETOOLONG: "name too long", errno.EPIPE: "broken pipe"}.get(exc.errno, exc.strerror or str(exc))
    return OutputError(f"cannot write {path}: {why}")


def _output_parent(path: Path) -> Path:
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.exists():
        raise OutputError(f"cannot write {path}: folder {parent} does not exist")
    if not parent.is_dir():
        raise OutputError(f"cannot write {path}: {parent} is not a folder")
    return parent


def _is_streamable(st: os.stat_result) -> bool:
    """Special files that take a stream of bytes and must never be replaced: FIFOs, character devices."""
    return stat.S_ISFIFO(st.st_mode) or stat.S_ISCHR(st.st_mode)


def same_file(a: str | Path, b: str | Path) -> bool:
    """True when both paths name the same file (after links: same device and inode)."""
    try:
        sa, sb = os.stat(a), os.stat(b)
    except OSError:
        return False
    return (sa.st_dev, sa.st_ino) == (sb.st_dev, sb.st_ino)


def check_output_not_input(output: str | Path, inputs: Sequence[str | Path]) -> None:
    """Refuse an output path that is one of the inputs (also through a symlink or hard link)."""
    if str(output) == "-":
        return
    for inp in inputs:
        if str(inp) != "-" and same_file(output, inp):
            raise OutputError(f"output {output} is the input {inp}: refusing to overwrite an input")


def _stream_into(path: Path, write) -> None:
    """Write into an existing FIFO or character device (never replacing it)."""
    try:
        with open(path, "wb") as f:
            write(f)
    except OSError as exc:
        raise _output_error(exc, path) from exc


def atomic_write_with(path: str | Path, build, force: bool = False) -> Path:
    """Run ``build(tmp_path)`` then rename the temp file onto ``path``; nothing partial is left behind.

    A symlink is written through (its target is replaced, the link kept). A FIFO or character
    device (``/dev/null``, a named pipe) is written into, never replaced; other special files and
    folders are refused. The new file gets the mode the umask allows (an overwritten file keeps
    its mode). OS failures (missing folder, permissions, disk full) become ``OutputError``.
    """
    path = Path(path)
    if path.is_symlink():
        path = Path(os.path.realpath(path))
    try:
        st = os.stat(path)
    except FileNotFoundError:
        st = None
    except OSError as exc:
        raise _output_error(exc, path) from exc
    if st is not None:
        if _is_streamable(st):
            return _stream_special(path, build)
        if stat.S_ISDIR(st.st_mode):
            raise OutputError(f"output is a folder ({path})")
        if not stat.S_ISREG(st.st_mode):
            raise OutputError(f"output is a special file that cannot take the data ({path})")
        if not force:
            raise OutputExistsError(f"output exists, use -f to overwrite ({path})")
    parent = _output_parent(path)
    mode = stat.S_IMODE(st.st_mode) if st is not None else 0o666 & ~_umask()
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name[:64]}.", suffix=(path.suffix or ".tmp")[:16], dir=parent)
    except OSError as exc:
        raise _output_error(exc, path) from exc
    os.close(fd)
    try:
        build(tmp)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException as exc:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        if isinstance(exc, OSError):
            raise _output_error(exc, path) from exc
        raise
    return path


def _stream_special(path: Path, build) -> Path:
    """Build into a private temp file, then stream its bytes into the special file ``path``."""
    fd, tmp = tempfile.mkstemp(prefix=".ncodec-", suffix=path.suffix or ".tmp")
    os.close(fd)
    try:
        build(tmp)

        def copy(f) -> None:
            with open(tmp, "rb") as src:
                while chunk := src.read(1 << 20):
                    f.write(chunk)
        _stream_into(path, copy)
    finally:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
    return path


def atomic_write(path: str | Path, data: bytes, force: bool = False) -> Path:
    """Write bytes to ``path`` via a temp file in the same folder + rename (or stream into a
    FIFO / character device; see ``atomic_write_with``)."""
    p = Path(path)
    real = Path(os.path.realpath(p)) if p.is_symlink() else p
    try:
        st = os.stat(real)
    except OSError:
        st = None
    if st is not None and _is_streamable(st):
        _stream_into(real, lambda f: f.write(data))
        return real

    def build(tmp: str) -> None:
        with open(tmp, "wb") as f:
            f.write(data)
    return atomic_write_with(path, build, force)


def write_stdout(data: bytes) -> None:
    """Write bytes to standard output; a full device or closed pipe becomes one clear error."""
    import sys
    try:
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
    except BrokenPipeError:
        raise
    except OSError as exc:
        raise _output_error(exc, Path("<stdout>")) from exc


def run_with_cleanup(fn, *args) -> int:
    """``fn(*args)`` under ``cleanup_on_signals``; a SIGTERM/SIGHUP becomes exit 143 with one line."""
    import sys
    try:
        with cleanup_on_signals():
            return fn(*args)
    except Terminated:
        print("ncodec: terminated", file=sys.stderr)
        return 143


class Terminated(KeyboardInterrupt):
    """SIGTERM / SIGHUP arrived: unwinds like Ctrl-C so partial outputs are cleaned up."""


@contextmanager
def cleanup_on_signals() -> Iterator[None]:
    """While active (main thread only), SIGTERM and SIGHUP raise ``Terminated`` so every
    ``except BaseException`` cleanup (temp files, partial folders) runs as for SIGINT."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):
        raise Terminated(signal.Signals(signum).name)

    old = {}
    for sig in (signal.SIGTERM, getattr(signal, "SIGHUP", None)):
        if sig is not None:
            try:
                old[sig] = signal.signal(sig, handler)
            except (ValueError, OSError):
                pass
    try:
        yield
    finally:
        for sig, h in old.items():
            signal.signal(sig, h)
