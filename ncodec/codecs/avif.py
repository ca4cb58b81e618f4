"""AVIF via imagecodecs (libavif + AV1 encoder): ``avif``, lossy, quality 1..100, speed 6.

8-bit gray, RGB and RGBA; gray is coded as RGB with equal channels (libavif's gray path
ignores the quality) and read back as the rounded channel mean. 16-bit input is refused.
"""
from __future__ import annotations

from typing import Any, Mapping

from .._lazy import lazy_import
from ..item import Item, ItemMeta
from ._bounded import decode_into
from ._image import channels_of, check_image, from_decoded, gray_to_rgb
from .base import Codec, Encoded, register

imagecodecs = lazy_import("imagecodecs")

SPEED = 6


@register
class AVIF(Codec):
    name = "avif"
    native_suffix = ".avif"
    media = "image"
    lossless = False
    qualities = (1, 100)
    default_quality = 60
    sweep_qualities = (20, 35, 50, 62, 75, 88)
    description = "AVIF (libavif, speed 6), quality 1..100; 8-bit gray/RGB/RGBA"

    def check(self, item: Item) -> None:
        check_image(self, item, dtypes=("uint8",), max_side=65536)

    def encode(self, item: Item, quality: int, options: Mapping[str, Any]) -> Encoded:
        data = gray_to_rgb(item.data) if channels_of(item.meta) == 1 else item.data
        return Encoded(imagecodecs.avif_encode(data, level=quality, speed=SPEED, numthreads=1))

    def decode(self, payload: bytes, meta: ItemMeta, quality: int) -> Item:
        chans = (3, 4) if channels_of(meta) in (1, 4) else (3,)
        arr = decode_into(imagecodecs.avif_decode, payload, meta, chans, index=0, numthreads=1)
        return Item(from_decoded(arr, meta), meta)
