"""``Decoded``: what ``ncodec.decompress`` returns for every file, one item or many.

It is a sequence of ``Item``s (``len``, ``[i]``, slices, iteration) that also carries the file's
header (``codec``, ``quality``, ``names``, ``info()``, the parsed ``archive``). For the common
single-item file it forwards ``.data`` / ``.meta`` / ``.name`` / ``same_data`` to its only item,
and for a stacked archive (an (N, ...) array compressed as N image records, or as sub-stack records
for codecs that code whole stacks) ``.data`` is the joined
array again, so ``ncodec.decompress(blob).data`` gives back what ``ncodec.compress`` took.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Iterator, overload

import numpy as np

from .errors import InputError
from .item import Item, ItemMeta

if TYPE_CHECKING:
    from .api import Archive


class Decoded(Sequence):
    """Every record of a decoded ``.ncz`` file, in order, with the file's header."""

    def __init__(self, archive: "Archive", items: list[Item]) -> None:
        self.archive = archive          # the parsed file (header fields, record names, codec)
        self.items = list(items)        # the decoded records

    # ---------------------------------------------------------------- sequence
    def __len__(self) -> int:
        return len(self.items)

    @overload
    def __getitem__(self, i: int) -> Item: ...
    @overload
    def __getitem__(self, i: slice) -> list[Item]: ...

    def __getitem__(self, i):
        return self.items[i]

    def __iter__(self) -> Iterator[Item]:
        return iter(self.items)

    # ---------------------------------------------------------------- header
    @property
    def codec(self) -> str:
        """Name of the codec that wrote the file."""
        return self.archive.container.codec

    @property
    def quality(self) -> int:
        """The quality level stored in the file."""
        return self.archive.container.quality

    @property
    def names(self) -> list[str]:
        """Stored record names ('' where none was stored)."""
        return self.archive.names

    @property
    def is_archive(self) -> bool:
        """True for a file written as an archive of records (even one), False for a single-item file."""
        return bool(self.archive.container.archive)

    @property
    def is_stack(self) -> bool:
        """True when the records are the images of one (N, ...) array (``.data`` stacks them back)."""
        return bool(self.archive.container.stack)

    def info(self) -> dict:
        """Header fields, record table and sizes (what ``ncodec info`` prints)."""
        return self.archive.info()

    # ---------------------------------------------------------------- the only item
    def _only(self, what: str) -> Item:
        if len(self.items) != 1:
            raise InputError(f"this file holds {len(self.items)} records, so it has no single .{what}: "
                             f"index it (result[i].{what}) or iterate over it")
        return self.items[0]

    @property
    def data(self) -> np.ndarray:
        """The array of a single-item file, or the (N, ...) array of a stacked archive."""
        if self.is_stack:
            return stack_items(self.items)
        return self._only("data").data

    @property
    def meta(self) -> ItemMeta:
        """Metadata of the only record (single-item files)."""
        return self._only("meta").meta

    @property
    def name(self) -> str:
        """Stored name of the only record (single-item files)."""
        return self._only("name").name

    def same_data(self, other: Item) -> bool:
        """Bit-exact equality of the only record's array with ``other``'s (single-item files)."""
        return self._only("data").same_data(other)

    def __repr__(self) -> str:
        kinds = sorted({f"{it.meta.media} {'x'.join(map(str, it.meta.shape))} {it.meta.dtype}" for it in self.items})
        shown = ", ".join(kinds[:3]) + (", ..." if len(kinds) > 3 else "")
        return f"Decoded(codec={self.codec!r}, quality={self.quality}, {len(self.items)} item(s): {shown})"


def stack_items(items: Sequence[Item]) -> np.ndarray:
    """Join the decoded records of a stacked archive back into the (N, ...) array they came from:
    image records are stacked, sub-stack records (tensors, from codecs that code whole stacks) joined."""
    if items and all(it.meta.media == "tensor" for it in items):
        return np.concatenate([it.data for it in items])
    return np.stack([it.data for it in items])
