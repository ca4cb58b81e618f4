"""JPEG XL via imagecodecs (libjxl): ``jpegxl-lossless`` (effort 1..9) and lossy ``jpegxl`` (quality 1..100).

Gray, RGB and RGBA at 8 or 16 bits. The lossy quality maps to libjxl's Butteraugli distance
the way ``cjxl -q`` does, at effort 7.
"""
from __future__ import annotations

from typing import Any, Mapping

from .._lazy import lazy_import
from ..item import Item, ItemMeta
from ._bounded import decode_into
from ._image import channels_of, check_image, restore_shape, to_codec_layout
from .base import Codec, Encoded, register

imagecodecs = lazy_import("imagecodecs")


def quality_to_distance(q: int) -> float:
    """cjxl's mapping from a 1..100 quality to a Butteraugli distance (100 -> 0.1, 90 -> 1.0)."""
    if q >= 30:
        return 0.1 + (100 - q) * 0.09
    return 6.4 + 2.5 ** ((30 - q) / 5.0) / 6.25


@register
class JPEGXLLossless(Codec):
    name = "jpegxl-lossless"
    native_suffix = ".jxl"
    media = "image"
    lossless = True
    qualities = (1, 9)
    default_quality = 7
    description = "JPEG XL lossless (libjxl modular), quality = effort 1..9; gray/RGB/RGBA 8/16-bit"

    def check(self, item: Item) -> None:
        check_image(self, item)

    def encode(self, item: Item, quality: int, options: Mapping[str, Any]) -> Encoded:
        return Encoded(imagecodecs.jpegxl_encode(to_codec_layout(item.data), lossless=True, effort=quality, numthreads=1))

    def decode(self, payload: bytes, meta: ItemMeta, quality: int) -> Item:
        return Item(restore_shape(_decode(payload, meta), meta), meta)


def _decode(payload: bytes, meta: ItemMeta):
    """First frame only (index 0), into an array of the header's size."""
    return decode_into(imagecodecs.jpegxl_decode, payload, meta, (channels_of(meta),), index=0, numthreads=1)


@register
class JPEGXL(Codec):
    name = "jpegxl"
    native_suffix = ".jxl"
    media = "image"
    lossless = False
    qualities = (1, 100)
    default_quality = 75
    sweep_qualities = (15, 30, 50, 70, 85, 95)
    description = "JPEG XL lossy (libjxl VarDCT, effort 7), quality 1..100 as cjxl -q; gray/RGB/RGBA 8/16-bit"

    def check(self, item: Item) -> None:
        check_image(self, item)

    def encode(self, item: Item, quality: int, options: Mapping[str, Any]) -> Encoded:
        return Encoded(imagecodecs.jpegxl_encode(to_codec_layout(item.data), distance=quality_to_distance(quality),
                                                 effort=7, numthreads=1))

    def decode(self, payload: bytes, meta: ItemMeta, quality: int) -> Item:
        return Item(restore_shape(_decode(payload, meta), meta), meta)
