"""H.264 / HEVC via PyAV (libx264, libx265): ``x264`` and ``x265`` (lossy, quality = CRF,
preset medium, yuv444p) and ``x264-lossless`` (libx264rgb, qp 0: exact RGB).

Video items are (T, H, W, 3) uint8 RGB. Packets are stored raw (Annex B, no MP4/MKV box
overhead) with a varint length each; the decoder must return exactly T frames.
"""
from __future__ import annotations

from typing import Any, Mapping

from fractions import Fraction

import numpy as np

from .._lazy import lazy_import
from ..errors import UnsupportedInputError
from ..item import Item, ItemMeta
from ._packets import pack_packets, unpack_packets
from .base import Codec, Encoded, Option, register

av = lazy_import("av")


def _encode(frames: np.ndarray, codec: str, pix_fmt: str, options: dict, rate: Fraction) -> list[bytes]:
    enc = av.CodecContext.create(codec, "w")
    enc.height, enc.width = frames.shape[1:3]
    enc.pix_fmt = pix_fmt
    rate = rate or Fraction(25)
    enc.framerate = rate
    enc.time_base = 1 / rate
    enc.thread_count = 1
    enc.options = options
    packets: list[bytes] = []
    for i, f in enumerate(frames):
        vf = av.VideoFrame.from_ndarray(np.ascontiguousarray(f), format="rgb24")
        vf.pts = i
        packets += [bytes(p) for p in enc.encode(vf)]
    packets += [bytes(p) for p in enc.encode(None)]
    return packets


def _decode(packets: list[bytes], decoder: str, meta: ItemMeta) -> np.ndarray:
    if len(meta.shape) != 4 or meta.shape[3] != 3 or meta.dtype != "uint8":
        raise ValueError(f"stored metadata {meta.shape} {meta.dtype} is not (T, H, W, 3) uint8 video")
    t, h, w = (int(v) for v in meta.shape[:3])
    dec = av.CodecContext.create(decoder, "r")
    dec.thread_count = 1
    # the decoder refuses a stream whose frames are larger than the header's (plus its padding)
    dec.options = {"max_pixels": str((h + 256) * (w + 256))}
    arr = np.empty(meta.shape, dtype=np.uint8)
    n = 0

    def take(frames) -> None:
        nonlocal n
        for f in frames:
            if n >= t:
                raise ValueError(f"stream holds more than the header's {t} frames")
            if (f.height, f.width) != (h, w):
                raise ValueError(f"frame {f.width}x{f.height} differs from the header's {w}x{h}")
            arr[n] = f.to_ndarray(format="rgb24")
            n += 1
    for p in packets:
        take(dec.decode(av.Packet(p)))
    take(dec.decode(None))
    if n != t:
        raise ValueError(f"decoded {n} frames, header says {t}")
    return arr


PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow")


class _VideoCodec(Codec):
    options = (Option("preset", str, "medium", "x264/x265 speed preset (slower: smaller files)", choices=PRESETS),)
    media = "video"
    encoder = ""
    decoder = ""
    pix_fmt = "yuv444p"

    def check(self, item: Item) -> None:
        super().check(item)
        d = item.data
        if d.dtype != np.uint8 or d.ndim != 4 or d.shape[3] != 3 or min(d.shape[:3]) < 1:
            raise UnsupportedInputError(f"{self.name} codes (T, H, W, 3) uint8 RGB video, not {d.dtype} {d.shape}")
        if max(d.shape[1:3]) > 16384:
            raise UnsupportedInputError(f"{self.name}: frame side exceeds 16384")

    def encoder_options(self, quality: int, preset: str) -> dict:
        raise NotImplementedError

    def encode(self, item: Item, quality: int, options: Mapping[str, Any]) -> Encoded:
        settings = self.encoder_options(quality, options["preset"])
        return Encoded(pack_packets(_encode(item.data, self.encoder, self.pix_fmt, settings, item.meta.frame_rate)))

    def native(self, payload: bytes) -> bytes:
        """An Annex B elementary stream (``.h264`` / ``.hevc``): the packets back to back."""
        return b"".join(unpack_packets(payload)[1])

    def decode(self, payload: bytes, meta: ItemMeta, quality: int) -> Item:
        _, packets = unpack_packets(payload, max_packets=2 * int(meta.shape[0]) + 16 if meta.shape else 16)
        return Item(_decode(packets, self.decoder, meta), meta)


@register
class X264(_VideoCodec):
    name = "x264"
    native_suffix = ".h264"
    lossless = False
    qualities = (0, 51)
    default_quality = 23
    sweep_qualities = (18, 23, 28, 33, 38)
    encoder, decoder = "libx264", "h264"
    description = "H.264 (libx264 via PyAV), quality = CRF 0..51 (lower is better), preset medium, yuv444p"

    def encoder_options(self, quality: int, preset: str) -> dict:
        return {"crf": str(quality), "preset": preset}


@register
class X264Lossless(_VideoCodec):
    name = "x264-lossless"
    native_suffix = ".h264"
    lossless = True
    encoder, decoder = "libx264rgb", "h264"
    pix_fmt = "rgb24"
    description = "H.264 lossless RGB (libx264rgb, qp 0, preset medium), exact"

    def encoder_options(self, quality: int, preset: str) -> dict:
        return {"qp": "0", "preset": preset}


@register
class X265(_VideoCodec):
    name = "x265"
    native_suffix = ".hevc"
    lossless = False
    qualities = (0, 51)
    default_quality = 28
    sweep_qualities = (20, 25, 30, 35, 40)
    encoder, decoder = "libx265", "hevc"
    description = "HEVC (libx265 via PyAV), quality = CRF 0..51 (lower is better), preset medium, yuv444p"

    def encoder_options(self, quality: int, preset: str) -> dict:
        return {"crf": str(quality), "preset": preset, "x265-params": "log-level=error:pools=1:frame-threads=1"}
