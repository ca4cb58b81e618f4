"""The in-memory unit every codec consumes and produces: an array (or bytes) plus the metadata to write it back."""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from fractions import Fraction

import numpy as np

MEDIA_KINDS = ("bytes", "image", "audio", "video", "tensor")

# dtype codes stored in the container (one byte); order is part of the format, append only.
DTYPES = ("uint8", "int8", "uint16", "int16", "uint32", "int32", "uint64", "int64",
          "float16", "float32", "float64", "bool")


@dataclass(frozen=True)
class ItemMeta:
    """What a decoder needs besides the payload: media kind, array shape/dtype and rates.

    Images are (H, W) or (H, W, C); audio is (samples,) or (samples, channels); video is
    (T, H, W, C); bytes are (n,) uint8.
    """

    media: str
    shape: tuple[int, ...]
    dtype: str = "uint8"
    sample_rate: int = 0
    frame_rate: Fraction = Fraction(0)

    def __post_init__(self) -> None:
        if self.media not in MEDIA_KINDS:
            raise ValueError(f"unknown media kind {self.media!r}")
        if self.dtype not in DTYPES:
            raise ValueError(f"unsupported dtype {self.dtype!r}")
        object.__setattr__(self, "shape", tuple(int(s) for s in self.shape))
        object.__setattr__(self, "frame_rate", Fraction(self.frame_rate))

    @property
    def numel(self) -> int:
        """Number of array elements (sub-pixels, samples, bytes)."""
        return int(np.prod(self.shape, dtype=np.int64)) if self.shape else 1

    def with_(self, **changes) -> "ItemMeta":
        """A copy with some fields changed."""
        return replace(self, **changes)


@dataclass
class Item:
    """An array with its metadata and an optional name (the file it came from)."""

    data: np.ndarray
    meta: ItemMeta
    name: str = ""
    extra: dict = field(default_factory=dict)

    @classmethod
    def from_array(cls, data: np.ndarray, media: str, name: str = "", sample_rate: int = 0,
                   frame_rate: Fraction | float | int = 0) -> "Item":
        """Wrap an array, deriving shape and dtype from it."""
        data = np.asarray(data)
        data = data if data.flags.c_contiguous else np.ascontiguousarray(data)   # keeps 0-d arrays 0-d
        meta = ItemMeta(media=media, shape=data.shape, dtype=data.dtype.name,
                        sample_rate=sample_rate, frame_rate=Fraction(frame_rate).limit_denominator(1001000))
        return cls(data=data, meta=meta, name=name)

    @classmethod
    def from_bytes(cls, raw: bytes, name: str = "") -> "Item":
        """Wrap raw bytes as a (n,) uint8 item."""
        return cls.from_array(np.frombuffer(raw, dtype=np.uint8), "bytes", name=name)

    def same_data(self, other: "Item") -> bool:
        """Bit-exact equality of array contents, shape and dtype."""
        return (self.data.shape == other.data.shape and self.data.dtype == other.data.dtype
                and np.array_equal(self.data, other.data))
