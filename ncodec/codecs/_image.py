"""Helpers shared by the classical image codecs: input checks, shape restoring, gray<->RGB."""
from __future__ import annotations

from typing import Sequence

import numpy as np

from ..errors import UnsupportedInputError
from ..item import Item, ItemMeta
from .base import Codec


def check_image(codec: Codec, item: Item, dtypes: Sequence[str] = ("uint8", "uint16"),
                channels: Sequence[int] = (1, 3, 4), max_side: int = 1 << 30) -> None:
    """Shared image-input check: 2-D or 3-D array, allowed dtypes, channel counts and size."""
    Codec.check(codec, item)
    d = item.data
    if item.meta.dtype not in dtypes:
        raise UnsupportedInputError(
            f"{codec.name}: image dtype {item.meta.dtype} not supported (needs {'/'.join(dtypes)})")
    if d.ndim not in (2, 3) or (d.ndim == 3 and d.shape[2] not in channels) or min(d.shape[:2]) < 1:
        raise UnsupportedInputError(f"{codec.name}: image shape {d.shape} not supported")
    if max(d.shape[:2]) > max_side:
        raise UnsupportedInputError(f"{codec.name}: image side {max(d.shape[:2])} exceeds {max_side}")


def channels_of(meta: ItemMeta) -> int:
    """Number of channels an image meta describes ((H, W) and (H, W, 1) count as 1)."""
    return 1 if len(meta.shape) == 2 else int(meta.shape[2])


def restore_shape(arr: np.ndarray, meta: ItemMeta) -> np.ndarray:
    """Classical decoders return (H, W, 1) or (H, W); bring the array back to the stored shape."""
    if arr.size != meta.numel:
        raise ValueError(f"decoded {arr.shape} does not match the stored shape {meta.shape}")
    return np.ascontiguousarray(arr.reshape(meta.shape).astype(meta.dtype, copy=False))


def gray_to_rgb(data: np.ndarray) -> np.ndarray:
    """(H, W) or (H, W, 1) -> (H, W, 3) by repeating the one channel (for RGB-only formats)."""
    g = data.reshape(data.shape[0], data.shape[1])
    return np.ascontiguousarray(np.repeat(g[:, :, None], 3, axis=2))


def to_codec_layout(data: np.ndarray) -> np.ndarray:
    """(H, W, 1) -> (H, W); others unchanged (what imagecodecs encoders expect)."""
    return data[:, :, 0] if data.ndim == 3 and data.shape[2] == 1 else np.ascontiguousarray(data)


def from_decoded(arr: np.ndarray, meta: ItemMeta, exact_gray: bool = False) -> np.ndarray:
    """Map a decoder's output back to the stored layout.

    Gray stored as RGB comes back as channel 0 (lossless: all channels equal) or the rounded
    channel mean (lossy); an RGBA image whose alpha was dropped because it was opaque gets it back.
    """
    c = channels_of(meta)
    if c == 1 and arr.ndim == 3 and arr.shape[2] >= 3:
        if exact_gray:
            arr = arr[:, :, 0]
        else:
            arr = np.round(arr[:, :, :3].astype(np.float32).mean(axis=2))
    elif c == 4 and arr.ndim == 3 and arr.shape[2] == 3:
        full = np.iinfo(np.dtype(meta.dtype)).max
        arr = np.concatenate([arr, np.full(arr.shape[:2] + (1,), full, dtype=arr.dtype)], axis=2)
    return restore_shape(arr, meta)

