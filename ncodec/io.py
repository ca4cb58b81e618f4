"""Reading and writing media files as ``Item``s: images (Pillow), audio (soundfile), video
(PyAV or a folder of frames), .npy tensors and raw bytes. Knows nothing about codecs."""
from __future__ import annotations

import io as _io
import os
import tempfile
from fractions import Fraction
from pathlib import Path

import numpy as np

from .errors import InputError, OutputExistsError, UnsupportedInputError
from .item import Item

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
        try:
            raw = p.read_bytes()
        except FileNotFoundError as exc:
            raise InputError(f"no such file ({p})") from exc
        except IsADirectoryError as exc:
            raise InputError(f"is a folder ({p})") from exc
        except OSError as exc:
            raise InputError(f"cannot read ({p}): {exc.strerror}") from exc
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
        return Item.from_array(arr, "tensor", name=name)
    return Item.from_bytes(raw, name)


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
        subtype = {"int16": "PCM_16", "int32": "PCM_32" if fmt == "WAV" else "PCM_24",
                   "float32": "FLOAT", "float64": "DOUBLE"}.get(item.meta.dtype, "FLOAT")
        if fmt == "FLAC" and subtype in ("FLOAT", "DOUBLE", "PCM_32"):
            subtype = "PCM_24" if subtype == "PCM_32" else "PCM_16"
        buf = _io.BytesIO()
        sf.write(buf, item.data, item.meta.sample_rate, format=fmt, subtype=subtype)
        return buf.getvalue()
    raise ValueError(f"cannot serialise {m} as {suffix}")


def default_suffix(item: Item) -> str:
    """File suffix used when writing an item without an explicit name."""
    return {"image": ".png", "audio": ".wav", "video": "", "tensor": ".npy", "bytes": ".bin"}[item.meta.media]


def write_video_frames(item: Item, folder: str | Path, force: bool = False) -> Path:
    """Write a video item as PNG frames f0001.png… into a new folder (built aside, then renamed)."""
    folder = Path(folder)
    if folder.exists() and not force:
        raise OutputExistsError(f"output exists, use -f to overwrite ({folder})")
    tmp = Path(tempfile.mkdtemp(prefix=".ncodec-", dir=folder.parent if str(folder.parent) else "."))
    try:
        for i, frame in enumerate(item.data, 1):
            sub = Item.from_array(frame, "image")
            (tmp / f"f{i:04d}.png").write_bytes(item_to_bytes(sub, ".png"))
        if folder.exists():
            import shutil
            shutil.rmtree(folder)
        os.replace(tmp, folder)
    except BaseException:
        import shutil
        shutil.rmtree(tmp, ignore_errors=True)
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


def atomic_write_with(path: str | Path, build, force: bool = False) -> Path:
    """Run ``build(tmp_path)`` then rename the temp file onto ``path``; nothing partial is left behind."""
    path = Path(path)
    if path.exists() and not force:
        raise OutputExistsError(f"output exists, use -f to overwrite ({path})")
    parent = path.parent if str(path.parent) else Path(".")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=path.suffix or ".tmp", dir=parent)
    os.close(fd)
    try:
        build(tmp)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    return path


def atomic_write(path: str | Path, data: bytes, force: bool = False) -> Path:
    """Write bytes to ``path`` via a temp file in the same folder + rename."""
    def build(tmp: str) -> None:
        with open(tmp, "wb") as f:
            f.write(data)
    return atomic_write_with(path, build, force)
