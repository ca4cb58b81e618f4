"""The Codec contract and the registry every codec module adds itself to.

A codec is a class whose attributes describe it (name, media, lossless flag, quality levels,
options, weights) and whose methods turn ``Item``s into payload bytes and back. The registry
reads the attributes without importing torch: codec modules import heavy libraries (torch,
imagecodecs, PyAV) inside the methods that need them, so ``ncodec list`` and the classical
codecs start fast. See ``docs/adding_a_codec.md``.
"""
from __future__ import annotations

import hashlib
import importlib
import pkgutil
from dataclasses import dataclass, field
from typing import Any, ClassVar, Mapping, Sequence

from ..errors import CodecError, ModelMismatchError, OptionError, UnknownCodecError, UnsupportedInputError
from ..item import Item, ItemMeta

_REGISTRY: dict[str, type["Codec"]] = {}
_INSTANCES: dict[str, "Codec"] = {}

_BOOL_WORDS = {"1": True, "true": True, "yes": True, "on": True,
               "0": False, "false": False, "no": False, "off": False}


@dataclass(frozen=True)
class Option:
    """One encoder setting a codec declares: ``-O name=value`` on the CLI, ``options={name: value}`` in Python.

    ``type`` is int, float, str or bool; ``choices`` (optional) restricts the value; ``default``
    None means "not set" (the codec picks, e.g. no time budget).
    """

    name: str
    type: type
    default: Any
    help: str
    choices: tuple | None = None

    def parse(self, codec: str, value: Any) -> Any:
        """Convert a CLI string (or check a Python value) into this option's type."""
        if value is None:
            return None
        try:
            if self.type is bool:
                v = _BOOL_WORDS[str(value).strip().lower()] if isinstance(value, str) else bool(value)
            elif isinstance(value, str):
                v = self.type(value.strip())
            elif self.type is float and isinstance(value, (int, float)) and not isinstance(value, bool):
                v = float(value)
            elif self.type is int and isinstance(value, int) and not isinstance(value, bool):
                v = int(value)
            elif self.type is str and isinstance(value, str):
                v = value
            else:
                raise TypeError(type(value).__name__)
        except (ValueError, TypeError, KeyError):
            raise OptionError(f"{codec}: option {self.name} takes a {self.type.__name__}, "
                              f"not {value!r}") from None
        if self.choices is not None and v not in self.choices:
            raise OptionError(f"{codec}: option {self.name} must be one of "
                              f"{', '.join(map(str, self.choices))}, not {v!r}")
        return v

    def describe(self) -> str:
        """One line for ``ncodec list CODEC``: name=type (default), choices, help."""
        kind = "|".join(map(str, self.choices)) if self.choices else self.type.__name__
        return f"{self.name}={kind} (default {self.default}): {self.help}"


# What a record's content check covers (``Codec.check_source()``); see ``container.content_check``.
CHECK_DATA = "data"                      # the exact decoded bytes, equal to the input (lossless codecs)
CHECK_RECONSTRUCTION = "reconstruction"  # the decoded bytes, made at encode time by decoding once (classical lossy)
CHECK_SYMBOLS = "symbols"                # bytes the codec derives from its entropy-decoded integer symbols
CHECK_KEY = "check"                      # Item.extra key under which a "symbols" decoder returns them


@dataclass
class Encoded:
    """What ``encode`` returns per item: the payload and the model's ideal code length.

    ``ideal_bits`` is -log2 P of the coded symbols under the integer tables the coder used
    (plus any fixed side bits the codec stores), or None for codecs without a model (classical).
    ``info`` carries what the encode measured that is not part of the file (fitting steps and
    seconds of an overfitted codec): it travels with the result, never through codec state.
    """

    payload: bytes
    ideal_bits: float | None = None
    info: dict = field(default_factory=dict)     # codec-specific measurements (e.g. fit steps), for reports
    # Only for codecs whose ``content_check`` is "symbols": bytes standing for the integer symbols
    # the entropy coder coded (the symbols or a digest of them, e.g. quantized latents or weights).
    # The decoder returns the same bytes in ``item.extra[CHECK_KEY]``; the container stores a short
    # hash of them with the record's metadata and the API compares it after decoding.
    check: bytes | None = None


class Codec:
    """A transform + probability model that turns an ``Item`` into payload bytes and back.

    Subclasses set the class attributes and implement ``encode``/``decode``; batched codecs
    override ``encode_batch``/``decode_batch``. The container adds header and checksums;
    codecs never parse files or write bytes to disk themselves.
    """

    name: ClassVar[str] = ""
    media: ClassVar[str | tuple[str, ...]] = ""          # one kind, a tuple, or "bytes" for any
    lossless: ClassVar[bool] = False
    version: ClassVar[int] = 1
    qualities: ClassVar[tuple[int, int] | None] = None   # inclusive (lo, hi); None: no quality knob
    default_quality: ClassVar[int] = 0
    sweep_qualities: ClassVar[tuple[int, ...] | None] = None   # levels R-D sweeps use (None: all)
    options: ClassVar[tuple[Option, ...]] = ()
    weights: ClassVar[tuple[str, ...]] = ()               # weight files it needs (see ncodec.weights)
    description: ClassVar[str] = ""
    native_suffix: ClassVar[str | None] = None            # the payload is a standard file of this type
    # Per-record content check (container version 2), verified by the API after every decode:
    #   None -> "data" for lossless codecs (hash of the exact decoded bytes == the input, no
    #   extra encode work), "reconstruction" for lossy ones (the API decodes each payload once
    #   at encode time and hashes what came out); "symbols" -> the codec supplies the bytes
    #   (``Encoded.check`` when encoding, ``item.extra[CHECK_KEY]`` when decoding), for learned
    #   codecs whose float synthesis may differ by +-1 across machines while the coded integers
    #   may not. A mismatch raises ``IntegrityError``.
    content_check: ClassVar[str | None] = None
    # Default decode limit on pixels (or audio samples) per record, by media kind, for codecs
    # that decode slowly or with much memory per pixel; an explicit limit overrides it (ncodec.limits).
    decode_max_pixels: ClassVar[Mapping[str, int]] = {}

    # --- description (class level: no instance, no heavy import) --------------------
    @classmethod
    def media_kinds(cls) -> tuple[str, ...]:
        """The media kinds this codec accepts (("bytes",) means any)."""
        return cls.media if isinstance(cls.media, tuple) else (cls.media,)

    @classmethod
    def codes(cls, media: str) -> bool:
        """True when the codec accepts items of ``media``."""
        kinds = cls.media_kinds()
        return media in kinds or "bytes" in kinds

    @classmethod
    def check_source(cls) -> str:
        """What this codec's content check covers: "data", "reconstruction" or "symbols"."""
        return cls.content_check or (CHECK_DATA if cls.lossless else CHECK_RECONSTRUCTION)

    @classmethod
    def sweep_levels(cls) -> list[int]:
        """Quality levels a rate-distortion sweep visits."""
        if cls.sweep_qualities is not None:
            return list(cls.sweep_qualities)
        if cls.qualities is None:
            return [0]
        lo, hi = cls.qualities
        return list(range(lo, hi + 1))

    @classmethod
    def resolve_options(cls, options: Mapping[str, Any] | None) -> dict[str, Any]:
        """Every declared option with its value (given or default); unknown names are refused."""
        declared = {o.name: o for o in cls.options}
        given = dict(options or {})
        unknown = sorted(set(given) - set(declared))
        if unknown:
            have = ", ".join(declared) or "none"
            raise OptionError(f"codec {cls.name!r} has no option {unknown[0]!r} (options: {have})")
        return {n: (o.parse(cls.name, given[n]) if n in given else o.default) for n, o in declared.items()}

    # --- identity ---------------------------------------------------------------
    def model_id(self, quality: int) -> bytes:
        """8-byte identity of the weights used at ``quality`` (b"" for classical codecs)."""
        return b""

    def bind(self, options: Mapping[str, Any]) -> "Codec":
        """The codec configured by encoder options that change its identity (e.g. ``weights``): a
        learned codec with selectable weights returns an instance bound to them; others ``self``."""
        return self

    def for_media(self, media: str) -> "Codec":
        """The codec that codes items of ``media``, for codecs whose weights (and so model id) depend
        on it (``wavelet``: image and audio weights); others ``self``. Called after ``bind``."""
        return self

    def for_model(self, model_id: bytes, quality: int) -> "Codec":
        """The codec instance that decodes files made with ``model_id`` (stored in the file):
        ``self`` for the installed default, a bound instance for other installed weights, else
        ``ModelMismatchError`` naming the missing id."""
        expected = self.model_id(quality)
        if expected != model_id:
            raise ModelMismatchError(
                f"file was made with other {self.name} weights (file {model_id.hex() or 'none'}, "
                f"installed {expected.hex() or 'none'}; ncodec list --weights)")
        return self

    def for_version(self, version: int) -> "Codec":
        """The codec instance that decodes payloads written by codec version ``version`` (stored in
        the file): ``self`` unless a codec's payload layout changed between versions."""
        return self

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
        if not self.codes(item.meta.media):
            raise UnsupportedInputError(
                f"codec {self.name!r} codes {'/'.join(self.media_kinds())}, not {item.meta.media}")

    # --- native streams ------------------------------------------------------------
    def native(self, payload: bytes) -> bytes:
        """The payload as a standard file (``native_suffix``) for ``ncodec extract``: for most
        classical codecs the payload already is one; packet codecs join their packets."""
        if self.native_suffix is None:
            from ..errors import UnsupportedInputError
            raise UnsupportedInputError(f"codec {self.name!r} has no standard file format to extract")
        return bytes(payload)

    # --- coding -----------------------------------------------------------------
    def encode(self, item: Item, quality: int, options: Mapping[str, Any]) -> Encoded:
        """Payload and ideal bits for one item; ``options`` are already resolved."""
        raise NotImplementedError

    def decode(self, payload: bytes, meta: ItemMeta, quality: int) -> Item:
        """Item back from a payload and its stored metadata.

        ``meta`` has passed the decode limits (``ncodec.limits``) before this is called; a
        decoder checks every size its payload declares against ``meta`` (or, for working
        arrays, ``limits.check_alloc``) before it allocates for it.
        """
        raise NotImplementedError

    def encode_batch(self, items: Sequence[Item], quality: int, options: Mapping[str, Any]) -> list[Encoded]:
        """One ``Encoded`` per item; each payload must decode on its own."""
        return [self.encode(it, quality, options) for it in items]

    def decode_batch(self, payloads: Sequence[bytes], metas: Sequence[ItemMeta], quality: int) -> list[Item]:
        """Items for many payloads."""
        return [self.decode(p, m, quality) for p, m in zip(payloads, metas)]


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
    """All registered codec classes by name (imports every codec module once; none imports torch)."""
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


class SelectableWeights:
    """Mixin for learned codecs whose weights ``-O weights=NAME|PATH`` selects: an instance is
    bound to one weights name (``bound``; None for the shipped default), ``bind`` resolves the
    option and ``installed`` finds the weights a file's model id names (user-trained included)."""

    def __init__(self, bound: str | None = None) -> None:
        self.bound = bound

    def bind(self, options: Mapping[str, Any]) -> "Codec":
        from ..weights import resolve
        ref = options.get("weights")
        return type(self)(resolve(ref, self.name)) if ref else self

    def installed(self, model_id: bytes) -> "Codec":
        """The instance bound to the installed weights with ``model_id``; ModelMismatchError naming
        the id when none is installed."""
        from ..weights import find_by_id
        name = find_by_id(self.name, model_id)
        if name is None:
            raise ModelMismatchError(f"file was made with {self.name} weights {model_id.hex() or 'none'}, which are "
                                     f"not installed (ncodec list --weights shows what is)")
        return type(self)(name)


def short_hash(*blobs: bytes) -> bytes:
    """8-byte sha256 prefix: the model identity stored in every file a learned codec writes."""
    h = hashlib.sha256()
    for b in blobs:
        h.update(b)
    return h.digest()[:8]


def payload_error(codec: str, exc: Exception) -> CodecError:
    """Wrap any failure while parsing a codec payload into one CodecError."""
    return CodecError(f"{codec}: payload cannot be decoded ({type(exc).__name__}: {exc})")


def parse_option_args(pairs: Sequence[str]) -> dict[str, str]:
    """``["steps=300", "lr=1e-3"]`` (CLI ``-O``) -> {"steps": "300", ...}; values are typed by the codec."""
    out: dict[str, str] = {}
    for p in pairs:
        key, sep, value = p.partition("=")
        if not sep or not key.strip():
            raise OptionError(f"option {p!r} is not KEY=VALUE")
        out[key.strip()] = value
    return out
