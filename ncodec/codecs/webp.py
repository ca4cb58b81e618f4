"""WebP via imagecodecs (libwebp): ``webp`` (lossy, quality 1..100) and ``webp-lossless``.

WebP codes 8-bit RGB(A) only: gray images are coded as RGB with equal channels and read back
as one channel; 16-bit images are refused.
"""
from __future__ import annotations

from typing import Any, Mapping

from .._lazy import lazy_import
from ..item import Item, ItemMeta
from ._bounded import decode_into
from ._image import channels_of, check_image, from_decoded, gray_to_rgb
from .base import Codec, Encoded, register

imagecodecs = lazy_import("imagecodecs")

MAX_SIDE = 16383
# libwebp's lossless presets (cwebp -z 0..9): level -> (method, quality), as WebPConfigLosslessPreset.
LOSSLESS_PRESETS = ((0, 0), (1, 20), (2, 25), (3, 30), (3, 50), (4, 50), (4, 75), (4, 90), (5, 90), (6, 100))


def _webp_channels(meta: ItemMeta) -> tuple[int, ...]:
    """Channel counts libwebp may return: RGB for gray and opaque RGBA, RGBA where alpha was kept."""
    return (3, 4) if channels_of(meta) in (1, 4) else (3,)


def _webp_input(item: Item):
    return gray_to_rgb(item.data) if channels_of(item.meta) == 1 else item.data


@register
class WebPLossless(Codec):
    name = "webp-lossless"
    native_suffix = ".webp"
    media = "image"
    lossless = True
    qualities = (0, 9)
    default_quality = 6
    description = "WebP lossless (libwebp), effort preset 0..9 like cwebp -z; 8-bit gray/RGB/RGBA"

    def check(self, item: Item) -> None:
        check_image(self, item, dtypes=("uint8",), max_side=MAX_SIDE)

    def encode(self, item: Item, quality: int, options: Mapping[str, Any]) -> Encoded:
        method, q = LOSSLESS_PRESETS[quality]
        return Encoded(imagecodecs.webp_encode(_webp_input(item), level=q, lossless=True, method=method, numthreads=1))

    def decode(self, payload: bytes, meta: ItemMeta, quality: int) -> Item:
        arr = decode_into(imagecodecs.webp_decode, payload, meta, _webp_channels(meta))
        return Item(from_decoded(arr, meta, exact_gray=True), meta)


@register
class WebP(Codec):
    name = "webp"
    native_suffix = ".webp"
    media = "image"
    lossless = False
    qualities = (1, 100)
    default_quality = 75
    sweep_qualities = (1, 5, 10, 25, 45, 65, 80, 92)
    description = "WebP lossy (libwebp, method 4), quality 1..100; 8-bit gray/RGB/RGBA"

    def check(self, item: Item) -> None:
        check_image(self, item, dtypes=("uint8",), max_side=MAX_SIDE)

    def encode(self, item: Item, quality: int, options: Mapping[str, Any]) -> Encoded:
        return Encoded(imagecodecs.webp_encode(_webp_input(item), level=quality, lossless=False, method=4, numthreads=1))

    def decode(self, payload: bytes, meta: ItemMeta, quality: int) -> Item:
        arr = decode_into(imagecodecs.webp_decode, payload, meta, _webp_channels(meta))
        return Item(from_decoded(arr, meta), meta)
