"""PNG via imagecodecs: the classical lossless image baseline (gray, RGB, RGBA, 8/16-bit)."""
from __future__ import annotations

from typing import Any, Mapping

from .._lazy import lazy_import
from ..item import Item, ItemMeta
from ._bounded import decode_into
from ._image import check_image, restore_shape  # noqa: F401  (re-exported for older imports)
from .base import Codec, Encoded, register

imagecodecs = lazy_import("imagecodecs")


@register
class PNG(Codec):
    name = "png"
    native_suffix = ".png"
    media = "image"
    lossless = True
    description = "PNG (zlib level 9), lossless"

    def check(self, item: Item) -> None:
        check_image(self, item)

    def encode(self, item: Item, quality: int, options: Mapping[str, Any]) -> Encoded:
        return Encoded(png_bytes(item.data, 9))

    def decode(self, payload: bytes, meta: ItemMeta, quality: int) -> Item:
        c = 1 if len(meta.shape) == 2 else int(meta.shape[2])
        return Item(restore_shape(decode_into(imagecodecs.png_decode, payload, meta, (c,)), meta), meta)


def png_bytes(d, level: int) -> bytes:
    """A PNG file of the array ``d`` at zlib ``level``."""
    # an explicit output size: imagecodecs' own estimate is too small for tall narrow noise (N x 1)
    rows = d.shape[0] * (1 + d.nbytes // max(d.shape[0], 1))
    return imagecodecs.png_encode(d, level=level, out=rows + rows // 64 + 65536)
