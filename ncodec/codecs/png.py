"""PNG via imagecodecs: the classical lossless image baseline (gray, RGB, RGBA, 8/16-bit)."""
from __future__ import annotations

import imagecodecs
import numpy as np

from ..errors import UnsupportedInputError
from ..item import Item, ItemMeta
from .base import Codec, register


def check_image(codec: Codec, item: Item, dtypes=("uint8", "uint16"), channels=(1, 3, 4)) -> None:
    """Shared image-input check: 2-D or 3-D array, allowed dtypes and channel counts."""
    Codec.check(codec, item)
    d = item.data
    if item.meta.dtype not in dtypes:
        raise UnsupportedInputError(f"{codec.name}: image dtype {item.meta.dtype} not supported (needs {'/'.join(dtypes)})")
    if d.ndim not in (2, 3) or (d.ndim == 3 and d.shape[2] not in channels) or min(d.shape[:2]) < 1:
        raise UnsupportedInputError(f"{codec.name}: image shape {d.shape} not supported")


def restore_shape(arr: np.ndarray, meta: ItemMeta) -> np.ndarray:
    """Classical decoders return (H, W, 1) or (H, W); bring the array back to the stored shape."""
    return np.ascontiguousarray(arr.reshape(meta.shape).astype(meta.dtype, copy=False))


@register
class PNG(Codec):
    name = "png"
    media = "image"
    lossless = True
    description = "PNG (zlib level 9), lossless"

    def check(self, item: Item) -> None:
        check_image(self, item)

    def encode(self, item: Item, quality: int) -> bytes:
        return imagecodecs.png_encode(item.data, level=9)

    def decode(self, payload: bytes, meta: ItemMeta, quality: int) -> Item:
        return Item(restore_shape(imagecodecs.png_decode(payload), meta), meta)
