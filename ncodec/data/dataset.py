"""``NczDataset``: a packed data set folder as a ``torch.utils.data.Dataset``.

Random access by record number; records are decoded lazily, in whichever process asks (each
DataLoader worker opens the shard files and loads the codec once, on its first record);
labels come from the index without decoding. Every record is checked (payload CRC32, content
check); a damaged one raises an ``ncodec.errors`` exception naming its shard file and record,
and every other record still reads.

``decode`` chooses what a sample is:
- ``"array"`` (default): the decoded array (H, W[, C]) / (samples[, ch]) as stored;
- ``"item"``: the decoded ``Item`` (array + metadata + name);
- ``"latents"``: the codec's dequantized latents (C, *latent spatial) float32 without its
  synthesis transform (codecs with ``decode_latents``: ``wavelet``): learning from compressed
  data skips the synthesis transform.

Samples of varying size (BSDS500 photos, FSDD clips and their latents) need a ``transform``
that crops/pads them, or a ``collate_fn`` that keeps a list, before a DataLoader can batch them.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch.utils.data

from ..errors import InputError
from .reader import DatasetReader

DECODE_MODES = ("array", "item", "latents")


class NczDataset(torch.utils.data.Dataset):
    """Samples ``(x, label)`` (or ``x`` where the records have no labels, or ``labels=False``)."""

    def __init__(self, root: str | Path, transform: Callable[[Any], Any] | None = None,
                 target_transform: Callable[[int], Any] | None = None, decode: str = "array",
                 labels: bool | None = None, verify: bool = True) -> None:
        if decode not in DECODE_MODES:
            raise InputError(f"decode must be one of {', '.join(DECODE_MODES)}, not {decode!r}")
        self.reader = DatasetReader(root, verify=verify)
        if not self.reader.index.complete:
            raise InputError(f"{root}: the pack is unfinished; rerun ncodec pack to resume it")
        if decode == "latents" and not hasattr(self.reader.codec, "decode_latents"):
            raise InputError(f"codec {self.reader.index.params['codec']!r} has no latent decoding "
                             "(decode='latents' needs e.g. wavelet)")
        self.transform = transform
        self.target_transform = target_transform
        self.decode = decode
        self._labels = self.reader.index.labels()
        has = bool(len(self._labels)) and bool((self._labels >= 0).all())
        self.with_labels = has if labels is None else bool(labels)
        if self.with_labels and not has:
            raise InputError(f"{root}: not every record has a label")

    def __len__(self) -> int:
        return len(self.reader)

    @property
    def labels(self) -> np.ndarray:
        """Every record's label (-1 where none), read from the index: no decoding."""
        return self._labels

    @property
    def classes(self) -> list[str]:
        """Class names of folder labels (empty for numeric labels)."""
        return self.reader.index.classes

    @property
    def codec(self) -> str:
        """Name of the codec the records were packed with."""
        return str(self.reader.index.params["codec"])

    def name(self, i: int) -> str:
        """Stored name of record ``i``."""
        return self.reader.index.name(i)

    def __getitem__(self, i: int) -> Any:
        n = len(self)
        if not -n <= i < n:
            raise IndexError(f"record {i} out of range (0..{n - 1})")
        i %= n
        if self.decode == "latents":
            x: Any = self.reader.decode_latents(i)
        else:
            item = self.reader.decode(i)
            x = item if self.decode == "item" else item.data
        if self.transform is not None:
            x = self.transform(x)
        if not self.with_labels:
            return x
        y: Any = int(self._labels[i])
        if self.target_transform is not None:
            y = self.target_transform(y)
        return x, y
