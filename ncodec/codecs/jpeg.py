"""Baseline JPEG via imagecodecs (libjpeg-turbo): ``jpeg``, quality 1..100, 8-bit gray or RGB.

Optimised Huffman tables, libjpeg's default 4:2:0 chroma subsampling for RGB. JPEG has no
alpha channel and no 16-bit baseline mode, so RGBA and 16-bit images are refused.
"""
from __future__ import annotations

from typing import Any, Mapping

from .._lazy import lazy_import
from ..item import Item, ItemMeta
from ._bounded import decode_into
from ._image import channels_of, check_image, restore_shape, to_codec_layout
from .base import Codec, Encoded, register

imagecodecs = lazy_import("imagecodecs")


@register
class JPEG(Codec):
    name = "jpeg"
    native_suffix = ".jpg"
    media = "image"
    lossless = False
    qualities = (1, 100)
    default_quality = 75
    sweep_qualities = (1, 5, 10, 25, 45, 65, 80, 92)
    description = "JPEG (libjpeg-turbo, optimised Huffman, 4:2:0), quality 1..100; 8-bit gray/RGB"

    def check(self, item: Item) -> None:
        check_image(self, item, dtypes=("uint8",), channels=(1, 3), max_side=65500)

    def encode(self, item: Item, quality: int, options: Mapping[str, Any]) -> Encoded:
        return Encoded(imagecodecs.jpeg8_encode(to_codec_layout(item.data), level=quality, optimize=True))

    def decode(self, payload: bytes, meta: ItemMeta, quality: int) -> Item:
        if not payload.endswith(b"\xff\xd9"):   # libjpeg decodes a cut stream silently, padding with gray
            raise ValueError("JPEG stream has no end-of-image marker (truncated)")
        if _progressive(payload):
            raise ValueError("progressive JPEG (this codec writes baseline only)")
        return Item(restore_shape(decode_into(imagecodecs.jpeg8_decode, payload, meta, (channels_of(meta),)), meta), meta)


def _progressive(payload: bytes) -> bool:
    """True when the first frame marker is not baseline/extended sequential (SOF0/SOF1)."""
    pos = 2
    while pos + 4 <= len(payload):
        if payload[pos] != 0xFF:
            return True
        marker = payload[pos + 1]
        if marker in (0xC0, 0xC1):
            return False
        if 0xC2 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            return True
        pos += 2 + int.from_bytes(payload[pos + 2:pos + 4], "big")
    return True
