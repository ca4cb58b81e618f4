"""Codec ``flow``: lossless images with an integer discrete flow (ncodec.models.flow) whose
latents are coded stage by stage with the shared rANS layer (the coding lives in
``_flow_coding``, imported on first use so listing codecs never imports torch).

28x28 grayscale images use the MNIST (quality 1) or Fashion-MNIST (quality 2) weights; RGB
images of any size are coded in independent 32x32 tiles (edge-padded) by the photo model.
"""
from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np

from ..errors import CodecError, UnsupportedInputError
from ..item import Item, ItemMeta
from .base import Codec, Encoded, payload_error, register, short_hash

GRAY_WEIGHTS = {1: "flow_mnist", 2: "flow_fashion"}
PHOTO_WEIGHTS = "flow_photo"
DECODE_TILES = 1024      # tiles per decode call (memory bound only; results do not depend on it)


@register
class Flow(Codec):
    name = "flow"
    media = "image"
    lossless = True
    qualities = (1, 2)
    default_quality = 1
    weights = ("flow_mnist", "flow_fashion", "flow_photo")
    description = ("integer discrete flow, lossless: 28x28 gray (q1 MNIST, q2 Fashion-MNIST weights), "
                   "RGB in 32x32 tiles (photo weights)")
    # decoding runs near 6k pixels/s on this 2-core machine (and a junk payload decodes as long
    # as a real one): the default cap (32768 px, e.g. 181 x 181) keeps a decode near 5 s;
    # larger photos need --max-pixels / max_pixels= (code that decodes files it just made can
    # pass their size)
    decode_max_pixels = {"image": 1 << 15}

    # --- model selection --------------------------------------------------------------
    def model_id(self, quality: int) -> bytes:
        from ..weights import model_id
        return short_hash(model_id(GRAY_WEIGHTS.get(quality, "")), model_id(PHOTO_WEIGHTS))

    def _kind(self, shape: tuple[int, ...]) -> str:
        if len(shape) == 2 or (len(shape) == 3 and shape[2] == 1):
            if shape[0] == 28 and shape[1] == 28:
                return "gray"
            raise UnsupportedInputError(
                f"flow: grayscale images must be 28x28 (MNIST-like), got {shape[0]}x{shape[1]}")
        if len(shape) == 3 and shape[2] == 3:
            return "rgb"
        raise UnsupportedInputError(f"flow: image shape {shape} not supported (28x28 gray or RGB)")

    def check(self, item: Item) -> None:
        Codec.check(self, item)
        if item.meta.dtype != "uint8":
            raise UnsupportedInputError(f"flow: needs 8-bit images, not {item.meta.dtype}")
        if min(item.data.shape[:2]) < 1:
            raise UnsupportedInputError("flow: empty image")
        self._kind(tuple(item.data.shape))

    def _model(self, kind: str, quality: int):
        from ..weights import load_flow
        return load_flow(GRAY_WEIGHTS[quality] if kind == "gray" else PHOTO_WEIGHTS)

    def _split(self, items: Sequence[Item], quality: int):
        """Group items by model kind: {kind: (item indexes, tiles, tile counts)}."""
        groups: dict[str, tuple[list[int], list[np.ndarray], list[int]]] = {}
        for i, it in enumerate(items):
            self.check(it)
            kind = self._kind(tuple(it.data.shape))
            img = it.data.reshape(it.data.shape[0], it.data.shape[1], -1)
            s = self._model(kind, quality).cfg.size
            tiles, _, _ = _flow_coding().tile(img, s)
            g = groups.setdefault(kind, ([], [], []))
            g[0].append(i)
            g[1].append(tiles)
            g[2].append(len(tiles))
        return groups

    # --- coding -------------------------------------------------------------------------
    def encode_batch(self, items: Sequence[Item], quality: int, options: Mapping[str, Any]) -> list[Encoded]:
        out: list[Encoded] = [Encoded(b"")] * len(items)
        for kind, (idx, tiles, counts) in self._split(items, quality).items():
            pays, ideal = _flow_coding().encode_tiles(self._model(kind, quality), np.concatenate(tiles), counts)
            for i, p, b in zip(idx, pays, ideal):
                out[i] = Encoded(p, float(b))
        return out

    def encode(self, item: Item, quality: int, options: Mapping[str, Any]) -> Encoded:
        return self.encode_batch([item], quality, options)[0]

    def decode_batch(self, payloads: Sequence[bytes], metas: Sequence[ItemMeta], quality: int) -> list[Item]:
        out: list[Item | None] = [None] * len(payloads)
        groups: dict[str, list[int]] = {}
        for i, m in enumerate(metas):
            groups.setdefault(self._kind(tuple(m.shape)), []).append(i)
        for kind, idx in groups.items():
            model = self._model(kind, quality)
            s = model.cfg.size
            grids = {i: (-(-metas[i].shape[0] // s), -(-metas[i].shape[1] // s)) for i in idx}
            # records in groups of at most DECODE_TILES tiles: working memory stays bounded
            groups_i: list[list[int]] = [[]]
            n_tiles = 0
            for i in idx:
                c = grids[i][0] * grids[i][1]
                if groups_i[-1] and n_tiles + c > DECODE_TILES:
                    groups_i.append([])
                    n_tiles = 0
                groups_i[-1].append(i)
                n_tiles += c
            for part in groups_i:
                counts = [grids[i][0] * grids[i][1] for i in part]
                try:
                    tiles = _flow_coding().decode_tiles(model, [payloads[i] for i in part], counts)
                except CodecError:
                    raise
                except Exception as exc:
                    raise payload_error(self.name, exc) from exc
                for i, sl in zip(part, _flow_coding().record_slices(counts)):
                    m = metas[i]
                    gh, gw = grids[i]
                    img = _flow_coding().untile(tiles[sl], gh, gw, m.shape[0], m.shape[1]).astype(np.uint8)
                    out[i] = Item(np.ascontiguousarray(img.reshape(m.shape)), m)
        return out  # type: ignore[return-value]

    def decode(self, payload: bytes, meta: ItemMeta, quality: int) -> Item:
        return self.decode_batch([payload], [meta], quality)[0]


def _flow_coding():
    """The coding half (torch, scipy), imported on first use."""
    from . import _flow_coding as mod
    return mod
