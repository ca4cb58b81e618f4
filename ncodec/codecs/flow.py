"""Codec ``flow``: lossless images with an integer discrete flow (ncodec.models.flow) whose
latents are coded stage by stage with the shared rANS layer (the coding lives in
``_flow_coding``, imported on first use so listing codecs never imports torch).

28x28 grayscale images use the MNIST (quality 1) or Fashion-MNIST (quality 2) weights; RGB
images of any size are coded in independent 32x32 tiles (edge-padded) by the photo model.

Codec version 2 adds a guard for RGB images: each is also coded as PNG (zlib level 9), and when
the PNG bytes are fewer than the flow's, the record holds the PNG instead, so no photo ever codes
worse than PNG (+1 byte). A version-2 RGB payload is one mode byte (0: flow, 1: PNG) and the data;
28x28 gray payloads are unchanged (the flow beats PNG by ~2x on digits; a byte each would cost
0.01 bit/dim). Version-1 files (no mode byte, told apart by their model id) still decode.
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
MODE_FLOW, MODE_PNG = 0, 1
GUARD_TAG = b"flow v2: mode byte + PNG guard"


@register
class Flow(Codec):
    name = "flow"
    media = "image"
    lossless = True
    version = 2              # 2: a mode byte per payload (flow or the PNG guard)
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

    def __init__(self, legacy: bool = False) -> None:
        self.legacy = legacy      # True: reads version-1 payloads (no mode byte)

    # --- model selection --------------------------------------------------------------
    def model_id(self, quality: int) -> bytes:
        """Id of the weights (and, from version 2, of the payload layout) a file was made with."""
        from ..weights import model_id
        v1 = short_hash(model_id(GRAY_WEIGHTS.get(quality, "")), model_id(PHOTO_WEIGHTS))
        return v1 if self.legacy else short_hash(v1, GUARD_TAG)

    def for_model(self, model_id: bytes, quality: int) -> "Flow":
        if not self.legacy and model_id == Flow(legacy=True).model_id(quality):
            return Flow(legacy=True)
        return Codec.for_model(self, model_id, quality)

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
                guard = kind == "rgb" and not self.legacy
                out[i] = self._guarded(items[i], p, float(b)) if guard else Encoded(p, float(b))
        return out

    @staticmethod
    def _guarded(item: Item, flow_payload: bytes, ideal: float) -> Encoded:
        """Mode byte + the smaller of the flow payload and the item's PNG (the guard)."""
        from .png import PNG
        png = PNG().encode(item, 0, {}).payload
        if len(png) < len(flow_payload):
            return Encoded(bytes([MODE_PNG]) + png, 8.0 * (len(png) + 1), info={"fallback": "png"})
        return Encoded(bytes([MODE_FLOW]) + flow_payload, ideal + 8.0)

    def encode(self, item: Item, quality: int, options: Mapping[str, Any]) -> Encoded:
        return self.encode_batch([item], quality, options)[0]

    def decode_batch(self, payloads: Sequence[bytes], metas: Sequence[ItemMeta], quality: int) -> list[Item]:
        out: list[Item | None] = [None] * len(payloads)
        groups: dict[str, list[int]] = {}
        if not self.legacy:
            payloads = self._unguard(payloads, metas, out)
        for i, m in enumerate(metas):
            if out[i] is None:
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

    def _unguard(self, payloads: Sequence[bytes], metas: Sequence[ItemMeta], out: list) -> list[bytes]:
        """Strip the RGB records' mode bytes; decode the PNG-guarded ones into ``out`` at once."""
        from .png import PNG
        rest = []
        for i, (p, m) in enumerate(zip(payloads, metas)):
            if self._kind(tuple(m.shape)) != "rgb":
                rest.append(bytes(p))
                continue
            if len(p) < 1 or p[0] not in (MODE_FLOW, MODE_PNG):
                raise CodecError(f"flow: payload {i} has no valid mode byte (corrupted or truncated)")
            if p[0] == MODE_PNG:
                try:
                    out[i] = PNG().decode(bytes(p[1:]), m, 0)
                except CodecError:
                    raise
                except Exception as exc:
                    raise payload_error(self.name, exc) from exc
            rest.append(bytes(p[1:]))
        return rest


def _flow_coding():
    """The coding half (torch, scipy), imported on first use."""
    from . import _flow_coding as mod
    return mod
