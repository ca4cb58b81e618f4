"""PNG via imagecodecs: the classical lossless image baseline (gray, RGB, RGBA, 8/16-bit)."""
from __future__ import annotations

from typing import Any, Mapping

import imagecodecs

from ..item import Item, ItemMeta
from ._image import check_image, restore_shape  # noqa: F401  (re-exported for older imports)
from .base import Codec, Encoded, register


@register
class PNG(Codec):
    name = "png"
    media = "image"
    lossless = True
    description = "PNG (zlib level 9), lossless"

    def check(self, item: Item) -> None:
        check_image(self, item)

    def encode(self, item: Item, quality: int, options: Mapping[str, Any]) -> Encoded:
        return Encoded(imagecodecs.png_encode(item.data, level=9))

    def decode(self, payload: bytes, meta: ItemMeta, quality: int) -> Item:
        return Item(restore_shape(imagecodecs.png_decode(payload), meta), meta)
