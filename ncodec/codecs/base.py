"""The Codec protocol and the registry every codec module adds itself to."""
from __future__ import annotations

import hashlib
import importlib
import pkgutil
from typing import ClassVar, Sequence

from ..errors import CodecError, UnknownCodecError, UnsupportedInputError
from ..item import Item, ItemMeta

_REGISTRY: dict[str, type["Codec"]] = {}
_INSTANCES: dict[str, "Codec"] = {}


class Codec:
    """A transform + probability model that turns an ``Item`` into payload bytes and back.

    Subclasses set the class attributes and implement ``encode``/``decode``; batched codecs
    override ``encode_batch``/``decode_batch``. The container adds header and checksums;
    codecs never parse files or write bytes to disk themselves.
    """

    name: ClassVar[str] = ""
    media: ClassVar[str] = ""
    lossless: ClassVar[bool] = False
    version: ClassVar[int] = 1
    qualities: ClassVar[tuple[int, int] | None] = None   # inclusive (lo, hi); None: no quality knob
    default_quality: ClassVar[int] = 0
    weights: ClassVar[tuple[str, ...]] = ()               # weight files it needs (see ncodec.weights)
    description: ClassVar[str] = ""

    # --- identity ---------------------------------------------------------------
    def model_id(self, quality: int) -> bytes:
        """8-byte identity of the weights used at ``quality`` (b"" for classical codecs)."""
        return b""

    def resolve_quality(self, quality: int | None) -> int:
        """Default or validate a quality level."""
        if self.qualities is None:
            if quality not in (None, 0):
                raise UnsupportedInputError(f"codec {self.name!r} has no quality levels")
            return 0
        q = self.default_quality if quality is None else int(quality)
        lo, hi = self.qualities
        if not lo <= q <= hi:
            raise UnsupportedInputError(f"codec {self.name!r} takes quality {lo}..{hi}, not {q}")
        return q

    # --- checks -----------------------------------------------------------------
    def check(self, item: Item) -> None:
        """Raise UnsupportedInputError if the item is outside what this codec handles."""
        if item.meta.media != self.media and not (self.media == "bytes"):
            raise UnsupportedInputError(
                f"codec {self.name!r} codes {self.media}, not {item.meta.media}")

    # --- coding -----------------------------------------------------------------
    def encode(self, item: Item, quality: int) -> bytes:
        """Payload bytes for one item."""
        raise NotImplementedError

    def decode(self, payload: bytes, meta: ItemMeta, quality: int) -> Item:
        """Item back from a payload and its stored metadata."""
        raise NotImplementedError

    def encode_batch(self, items: Sequence[Item], quality: int) -> list[bytes]:
        """Payloads for many items; each must decode on its own."""
        return [self.encode(it, quality) for it in items]

    def decode_batch(self, payloads: Sequence[bytes], metas: Sequence[ItemMeta], quality: int) -> list[Item]:
        """Items for many payloads."""
        return [self.decode(p, m, quality) for p, m in zip(payloads, metas)]

    def estimate_bits(self, item: Item, quality: int) -> float | None:
        """The model's ideal code length (-log2 P) in bits, where the codec has one."""
        return None


def register(cls: type[Codec]) -> type[Codec]:
    """Class decorator: make a codec available under ``cls.name``."""
    if not cls.name:
        raise ValueError("codec class needs a name")
    _REGISTRY[cls.name] = cls
    return cls


def _load_all() -> None:
    pkg = importlib.import_module("ncodec.codecs")
    for mod in pkgutil.iter_modules(pkg.__path__):
        if not mod.name.startswith("_") and mod.name != "base":
            importlib.import_module(f"ncodec.codecs.{mod.name}")


def available() -> dict[str, type[Codec]]:
    """All registered codec classes by name (imports every codec module once)."""
    if not getattr(available, "_loaded", False):
        _load_all()
        available._loaded = True  # type: ignore[attr-defined]
    return dict(sorted(_REGISTRY.items()))


def get_codec(name: str) -> Codec:
    """The (cached) instance of the codec registered as ``name``."""
    codecs = available()
    if name not in codecs:
        raise UnknownCodecError(f"unknown codec {name!r} (try: ncodec list)")
    if name not in _INSTANCES:
        _INSTANCES[name] = codecs[name]()
    return _INSTANCES[name]


def short_hash(*blobs: bytes) -> bytes:
    """8-byte sha256 prefix: the model identity stored in every file a learned codec writes."""
    h = hashlib.sha256()
    for b in blobs:
        h.update(b)
    return h.digest()[:8]


def payload_error(codec: str, exc: Exception) -> CodecError:
    """Wrap any failure while parsing a codec payload into one CodecError."""
    return CodecError(f"{codec}: payload cannot be decoded ({type(exc).__name__}: {exc})")
