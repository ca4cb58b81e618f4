"""Codec ``flow``: lossless images with integer discrete flows, coded with the shared rANS layer.

- 28x28 grayscale images (digits) use a learned multi-scale flow (ncodec.models.flow) with the
  MNIST (quality 1) or Fashion-MNIST (quality 2) weights (coding in ``_flow_coding``, imported
  on first use so listing codecs never imports torch).
- Photos (RGB, or grayscale of any other size) use the interlaced integer flow
  (ncodec.models.interlace, coding in ``_photo_coding``): the whole image at once, coarse to
  fine, every pixel predicted from coded pixels on all sides (across what would be tile
  borders), predictors fitted per photo where they pay, integer-exact on both sides.

Every photo is also coded as PNG (the guard, ``Flow._guarded``: zlib level 6, and level 9 too
whenever PNG could win), and when the PNG bytes are fewer, the record holds the PNG instead, so
no photo codes worse than the ``png`` codec (+1 byte). A photo payload is one mode
byte (1: PNG, 2: interlaced flow) and the data; digit payloads have no mode byte (the flow beats
PNG by ~2x on digits; a byte each would cost 0.01 bit/dim).

Older files still decode, told apart by their model id: version 1 (RGB in independent 32x32
flow tiles, no mode byte) and version 2 (mode byte 0: tiles, 1: PNG).
"""
from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np

from ..errors import CodecError, UnsupportedInputError
from ..item import Item, ItemMeta
from .base import Codec, Encoded, Option, payload_error, register, short_hash

GRAY_WEIGHTS = {1: "flow_mnist", 2: "flow_fashion"}
PHOTO_WEIGHTS = "flow_photo"                      # the 32x32-tile flow of versions 1 and 2
INTERLACE_WEIGHTS = "flow_photo_interlace"        # the whole-photo flow of version 3
DECODE_TILES = 1024      # tiles per decode call (memory bound only; results do not depend on it)
MODE_FLOW, MODE_PNG, MODE_INTERLACE = 0, 1, 2
GUARD_TAG = b"flow v2: mode byte + PNG guard"
INTERLACE_TAG = b"flow v3: whole photos by the interlaced flow"
GUARD_NEAR = 0.74         # flow above this fraction of PNG level 6: level 9 might beat it, so it is tried
TILE_MAX_PIXELS = 1 << 15   # default decode cap for the slow tile flow of old files (~6k px/s)


@register
class Flow(Codec):
    name = "flow"
    media = "image"
    lossless = True
    version = 3              # 3: photos whole by the interlaced flow (2: mode byte + PNG guard)
    qualities = (1, 2)
    default_quality = 1
    weights = ("flow_mnist", "flow_fashion", "flow_photo", "flow_photo_interlace")
    description = ("integer discrete flows, lossless: 28x28 gray digits (q1 MNIST, q2 Fashion-MNIST "
                   "weights); photos of any size whole (interlaced flow, PNG guard)")
    options = (Option("weights", str, None, "the photo flow's defaults + table bank: a weights name (ncodec "
                                            "list --weights) or path, e.g. from ncodec train flow-photo; "
                                            "default: the shipped flow_photo_interlace"),)

    def __init__(self, bound: str | None = None, legacy: bool = False, variant: int | None = None) -> None:
        # bound: the photo weights chosen with -O weights= (None: the shipped ones);
        # variant: the file version this instance reads (1: no mode byte, 2: tiles + PNG guard,
        # 3: interlaced photos + PNG guard); ``legacy=True`` is the older spelling of variant 1
        self.bound = bound
        self.variant = 1 if legacy else (variant or 3)
        self.legacy = self.variant == 1
        if self.variant < 3:
            # the tile flow decodes near 6k pixels/s (and a junk payload as slowly as a real one):
            # the default cap (32768 px, e.g. 181 x 181) keeps a decode near 5 s; larger old
            # files need --max-pixels / max_pixels=
            self.decode_max_pixels = {"image": TILE_MAX_PIXELS}

    # --- model selection --------------------------------------------------------------
    def model_id(self, quality: int) -> bytes:
        """Id of the weights and of the payload layout a file was made with."""
        from ..weights import model_id
        v1 = short_hash(model_id(GRAY_WEIGHTS.get(quality, "")), model_id(PHOTO_WEIGHTS))
        if self.variant == 1:
            return v1
        v2 = short_hash(v1, GUARD_TAG)
        return v2 if self.variant == 2 else short_hash(v2, model_id(self._photo_weights()), INTERLACE_TAG)

    def _photo_weights(self) -> str:
        return self.bound or INTERLACE_WEIGHTS

    def bind(self, options: Mapping[str, Any]) -> "Flow":
        """The codec using ``-O weights=NAME|PATH`` for photos (the digit weights are unchanged)."""
        from ..weights import resolve
        ref = options.get("weights")
        return Flow(resolve(ref, self.name)) if ref else self

    def for_model(self, model_id: bytes, quality: int) -> "Flow":
        """The instance that decodes a file: this one, an older file version, or the installed photo
        weights (shipped, user-trained or given by path) whose identity the file names."""
        from ..weights import names_for
        if model_id == self.model_id(quality):
            return self
        for old in (1, 2):
            if self.variant != old and model_id == Flow(variant=old).model_id(quality):
                return Flow(variant=old)
        for name in names_for(self.name):
            if name in (*GRAY_WEIGHTS.values(), PHOTO_WEIGHTS):
                continue                  # the digit / tile weights are fixed parts of every id
            cand = Flow(name)
            if cand.model_id(quality) == model_id:
                return cand
        return Codec.for_model(self, model_id, quality)

    def _kind(self, shape: tuple[int, ...]) -> str:
        """"gray" (28x28 digits, the learned flow), "rgb" (tiles, old files) or "photo"."""
        gray = len(shape) == 2 or (len(shape) == 3 and shape[2] == 1)
        if gray and shape[0] == 28 and shape[1] == 28:
            return "gray"
        if not gray and not (len(shape) == 3 and shape[2] == 3):
            raise UnsupportedInputError(f"flow: image shape {shape} not supported (gray or RGB)")
        if self.variant < 3:
            if gray:
                raise UnsupportedInputError(
                    f"flow: grayscale images must be 28x28 (MNIST-like), got {shape[0]}x{shape[1]}")
            return "rgb"
        return "photo"

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
        digits = []
        for i, it in enumerate(items):
            self.check(it)
            if self._kind(tuple(it.data.shape)) == "photo":
                out[i] = self._encode_photo(it)
            else:
                digits.append(i)
        if not digits:
            return out
        sub = [items[i] for i in digits]
        for kind, (idx, tiles, counts) in self._split(sub, quality).items():
            idx = [digits[j] for j in idx]
            pays, ideal = _flow_coding().encode_tiles(self._model(kind, quality), np.concatenate(tiles), counts)
            for i, p, b in zip(idx, pays, ideal):
                guard = kind == "rgb" and not self.legacy
                out[i] = self._guarded(items[i], p, float(b)) if guard else Encoded(p, float(b))
        return out

    @staticmethod
    def _guarded(item: Item, flow_payload: bytes, ideal: float, mode: int = MODE_FLOW) -> Encoded:
        """Mode byte + the smaller of the flow payload and the item's PNG (the guard).

        The PNG is first made at zlib level 6 (1/2 to 1/5 of level 9's time; level 9 makes photos only
        ~1% smaller). Level 9 (the ``png`` codec's) is also tried whenever PNG could win: when level
        6 already beats the flow, or the flow is above GUARD_NEAR x level 6. Level 9 was never below 0.743x
        level 6 on any photo or synthetic image measured (flat, gradients, checkers, tiles, text,
        palettes; photos >= 0.967x), so the stored result is never above the ``png`` codec's file."""
        from .png import PNG, png_bytes
        png = png_bytes(item.data, 6)
        if len(png) < len(flow_payload) or len(flow_payload) > GUARD_NEAR * len(png):
            png9 = PNG().encode(item, 0, {}).payload
            png = png9 if len(png9) <= len(png) else png
        if len(png) < len(flow_payload):
            return Encoded(bytes([MODE_PNG]) + png, 8.0 * (len(png) + 1), info={"fallback": "png"})
        return Encoded(bytes([mode]) + flow_payload, ideal + 8.0)

    def _encode_photo(self, item: Item) -> Encoded:
        from .._threads import one_blas_thread
        from ..weights import load_photo_flow
        with one_blas_thread():
            payload, ideal = _photo_coding().encode_photo(item.data, load_photo_flow(self._photo_weights()))
        return self._guarded(item, payload, ideal, MODE_INTERLACE)

    def _decode_photo(self, payload: bytes, meta: ItemMeta) -> Item:
        from .._threads import one_blas_thread
        from ..limits import check_alloc
        from ..weights import load_photo_flow
        # the walk's signed-error planes (int16) are its largest array: refuse before allocating
        check_alloc(self.name, "the photo flow's working planes", 2 * int(np.prod(meta.shape)))
        try:
            with one_blas_thread():
                img = _photo_coding().decode_photo(payload, tuple(meta.shape), load_photo_flow(self._photo_weights()))
        except CodecError:
            raise
        except Exception as exc:
            raise payload_error(self.name, exc) from exc
        return Item(img, meta)

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
        """Strip the photo records' mode bytes; decode the PNG-guarded and (version 3) the
        interlaced ones into ``out`` at once."""
        from .png import PNG
        rest = []
        modes = (MODE_PNG, MODE_INTERLACE) if self.variant >= 3 else (MODE_FLOW, MODE_PNG)
        for i, (p, m) in enumerate(zip(payloads, metas)):
            if self._kind(tuple(m.shape)) == "gray":
                rest.append(bytes(p))
                continue
            if len(p) < 1 or p[0] not in modes:
                raise CodecError(f"flow: payload {i} has no valid mode byte (corrupted or truncated)")
            if p[0] == MODE_INTERLACE:
                out[i] = self._decode_photo(bytes(p[1:]), m)
            elif p[0] == MODE_PNG:
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


def _photo_coding():
    """The whole-photo coding half (numpy only), imported on first use."""
    from . import _photo_coding as mod
    return mod
