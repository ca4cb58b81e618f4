"""Opus via PyAV (libopus): ``opus``, lossy audio, quality = bitrate in kbit/s (6..256).

Any sample rate: the signal is resampled to 48 kHz (polyphase, scipy) before libopus and
back to the original rate after decoding, then trimmed to the original length using the
encoder's pre-skip, so the decoded item has the input's rate, length, channels and dtype.
Packets are stored raw (no Ogg pages); 60 ms frames at <= 16 kbit/s, 20 ms above.
"""
from __future__ import annotations

from typing import Any, Mapping

from fractions import Fraction
from math import gcd

import numpy as np

from .._lazy import lazy_import
from ..errors import UnsupportedInputError
from ..item import Item, ItemMeta
from ..limits import check_alloc
from ._packets import pack_packets, unpack_packets
from .base import Codec, Encoded, register

av = lazy_import("av")

OPUS_RATE = 48000
MAX_RATIO = 4800      # largest up/down factor of the 48 kHz resampling (filter taps grow with it)
_SCALE = {"int16": 32768.0, "int32": 2147483648.0, "float32": 1.0, "float64": 1.0}


def _channels(meta: ItemMeta) -> int:
    return 1 if len(meta.shape) == 1 else int(meta.shape[1])


def _ratio_ok(rate: int) -> bool:
    """Resampling ``rate`` <-> 48 kHz needs a polyphase filter ~20 x max(up, down) taps long:
    rates sharing a large divisor with 48000 (all usual ones: 8000..768000) keep it small."""
    g = gcd(rate, OPUS_RATE)
    return max(rate // g, OPUS_RATE // g) <= MAX_RATIO


def _resample(x: np.ndarray, src: int, dst: int) -> np.ndarray:
    """(n, c) float32 from rate src to rate dst (identity when equal)."""
    if src == dst:
        return x
    from scipy.signal import resample_poly   # lazy: scipy.signal costs ~1 s to import
    g = gcd(src, dst)
    return resample_poly(x, dst // g, src // g, axis=0).astype(np.float32)


def _to_dtype(y: np.ndarray, dtype: str) -> np.ndarray:
    if dtype in ("float32", "float64"):
        return y.astype(dtype)
    info = np.iinfo(np.dtype(dtype))
    t = y.astype(np.float64)                # one float64 temporary, rounded and clipped in place
    t *= _SCALE[dtype]
    np.round(t, out=t)
    np.clip(t, info.min, info.max, out=t)
    return t.astype(dtype)


@register
class Opus(Codec):
    name = "opus"
    media = "audio"
    lossless = False
    qualities = (6, 256)
    default_quality = 32
    sweep_qualities = (6, 8, 12, 16, 24, 32)
    description = "Opus (libopus via PyAV), quality = kbit/s 6..256; any rate (resampled to 48 kHz), mono/stereo"

    def check(self, item: Item) -> None:
        super().check(item)
        m = item.meta
        if m.dtype not in _SCALE:
            raise UnsupportedInputError(f"opus codes int16/int32/float audio, not {m.dtype}")
        if len(m.shape) not in (1, 2) or _channels(m) not in (1, 2) or m.shape[0] < 1:
            raise UnsupportedInputError(f"opus codes mono or stereo audio, not shape {m.shape}")
        if not 1 <= m.sample_rate <= 768000:
            raise UnsupportedInputError(f"opus needs a sample rate in 1..768000 Hz, not {m.sample_rate}")
        if not _ratio_ok(m.sample_rate):
            raise UnsupportedInputError(f"opus: sample rate {m.sample_rate} Hz has no small resampling ratio "
                                        f"to 48 kHz (use a usual rate, e.g. 8000, 16000, 44100)")
        if m.dtype.startswith("float") and not np.isfinite(item.data).all():
            raise UnsupportedInputError("opus: audio contains NaN or infinity")

    def encode(self, item: Item, quality: int, options: Mapping[str, Any]) -> Encoded:
        m = item.meta
        ch = _channels(m)
        x = (item.data.astype(np.float64) / _SCALE[m.dtype]).astype(np.float32).reshape(m.shape[0], ch)
        x = _resample(x, m.sample_rate, OPUS_RATE)
        layout = "mono" if ch == 1 else "stereo"
        enc = av.CodecContext.create("libopus", "w")
        enc.sample_rate = OPUS_RATE
        enc.layout = layout
        enc.format = "flt"
        enc.bit_rate = int(quality) * 1000
        enc.time_base = Fraction(1, OPUS_RATE)
        enc.options = {"application": "audio", "vbr": "on",
                       "frame_duration": "60" if quality <= 16 else "20"}
        enc.open()
        pre_skip = int.from_bytes(bytes(enc.extradata)[10:12], "little") if enc.extradata else 312
        fs = enc.frame_size
        total = -(-(len(x) + pre_skip) // fs) * fs
        x = np.concatenate([x, np.zeros((total - len(x), ch), np.float32)])
        packets: list[bytes] = []
        for i in range(0, total, fs):
            frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(x[i:i + fs]).reshape(1, -1),
                                               format="flt", layout=layout)
            frame.sample_rate = OPUS_RATE
            frame.pts = i
            packets += [bytes(p) for p in enc.encode(frame)]
        packets += [bytes(p) for p in enc.encode(None)]
        return Encoded(pack_packets(packets, [pre_skip]))

    def decode(self, payload: bytes, meta: ItemMeta, quality: int) -> Item:
        if meta.dtype not in _SCALE or len(meta.shape) not in (1, 2) or _channels(meta) not in (1, 2):
            raise ValueError(f"stored metadata {meta.shape} {meta.dtype} is not mono/stereo audio")
        if not 1 <= meta.sample_rate <= 768000 or not _ratio_ok(meta.sample_rate):
            raise ValueError(f"stored sample rate {meta.sample_rate} is out of range")
        ch = _channels(meta)
        n48 = -(-meta.shape[0] * OPUS_RATE // meta.sample_rate)
        # every working array is about n48 (+ the encoder delay) samples: check before decoding
        check_alloc(self.name, "the 48 kHz signal", 16 * (n48 + 65536) * ch)
        (pre_skip,), packets = unpack_packets(payload, 1, max_packets=(n48 + 65536) // 120 + 16)
        if pre_skip > 65535:
            raise ValueError("opus pre-skip out of range")
        dec = av.CodecContext.create("libopus", "r")
        dec.sample_rate = OPUS_RATE
        dec.layout = "mono" if ch == 1 else "stereo"
        chunks = []
        have, need = 0, pre_skip + n48
        for p in packets:
            if have >= need:
                break                           # the rest is the encoder's flush: not needed
            for frame in dec.decode(av.Packet(p)):
                chunks.append(self._frame_array(frame, ch))
                have += len(chunks[-1])
        y = np.concatenate(chunks) if chunks else np.zeros((0, ch), np.float32)
        del chunks
        y = y[pre_skip:pre_skip + n48]
        if len(y) < n48:
            raise ValueError("opus stream is shorter than the stored length")
        y = _resample(y, OPUS_RATE, meta.sample_rate)[:meta.shape[0]]
        if len(y) < meta.shape[0]:
            y = np.concatenate([y, np.zeros((meta.shape[0] - len(y), ch), np.float32)])
        return Item(np.ascontiguousarray(_to_dtype(y, meta.dtype).reshape(meta.shape)), meta)

    @staticmethod
    def _frame_array(frame, ch: int) -> np.ndarray:
        a = frame.to_ndarray()
        fmt = frame.format.name
        scale = 32768.0 if fmt.startswith("s16") else (2147483648.0 if fmt.startswith("s32") else 1.0)
        a = a.astype(np.float32) / np.float32(scale)
        if frame.format.is_planar:
            return a.T.reshape(-1, ch)
        return a.reshape(-1, ch)
