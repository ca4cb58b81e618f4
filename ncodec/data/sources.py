"""What ``ncodec pack`` reads: named data sets, folders of media files and ``.npy`` stacks, as one
indexable sequence of records that is read in slices (``read(start, stop)``), never whole.

A ``Source`` holds only references (paths, array names, counts), so it pickles cheaply into
pool workers and Ray actors, which read their own slices: memory stays bounded by the slice.

| DATA argument | records | label |
|---|---|---|
| ``mnist`` / ``mnist:test`` (any registry name, optional ``:split``; no split = every split) | one per image / clip | the set's label |
| a folder | every image/audio file below it, sorted by relative path | index of the first sub-folder (``classes`` in the manifest) when every file sits in one |
| ``stack.npy`` | one per row (images for (N,H,W[,C]) uint8/uint16, else tensors) | none |
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from ..errors import InputError
from ..item import Item

NO_LABEL = -1


class Part:
    """One DATA argument: ``count`` records, read in slices."""

    count: int = 0
    classes: tuple[str, ...] = ()

    def read(self, start: int, stop: int) -> list[Item]:
        """Items ``start..stop-1`` of this part, named, with ``extra["label"]`` where known."""
        raise NotImplementedError

    def describe(self) -> dict:
        """What identifies this part (a resumed pack must see the same)."""
        raise NotImplementedError


@dataclass
class ArrayPart(Part):
    """A split of MNIST / Fashion-MNIST (the registry's ``arrays``; loaded once per process)."""

    name: str
    split: str
    count: int = 0

    def __post_init__(self) -> None:
        from . import arrays
        if not self.count:
            self.count = len(arrays(self.name, self.split)[0])

    def read(self, start: int, stop: int) -> list[Item]:
        from . import arrays
        x, y = arrays(self.name, self.split)
        out = []
        for i in range(start, stop):
            it = Item.from_array(x[i], "image", name=f"{self.name}_{self.split}_{i:05d}")
            it.extra["label"] = int(y[i])
            out.append(it)
        return out

    def describe(self) -> dict:
        return {"kind": "dataset", "name": self.name, "split": self.split, "count": self.count}


@dataclass
class FilesPart(Part):
    """Media files (a folder, or a file-based registry set); names are paths relative to ``root``."""

    root: str
    files: list[str]
    labels: list[int] | None = None
    classes: tuple[str, ...] = ()
    label_of: str = ""               # "fsdd": the digit in the file name
    tag: str = ""                    # registry name, for describe()
    count: int = field(init=False, default=0)

    def __post_init__(self) -> None:
        self.count = len(self.files)

    def read(self, start: int, stop: int) -> list[Item]:
        from ..io import read_item
        out = []
        for i in range(start, stop):
            rel = self.files[i]
            it = read_item(Path(self.root) / rel)
            it.name = rel
            if self.labels is not None:
                it.extra["label"] = self.labels[i]
            elif self.label_of == "fsdd":
                from . import fsdd_label
                it.extra["label"] = fsdd_label(Path(rel))
            out.append(it)
        return out

    def describe(self) -> dict:
        return {"kind": self.tag or "folder", "root": self.root, "count": self.count,
                "first": self.files[0] if self.files else "", "last": self.files[-1] if self.files else "",
                "classes": list(self.classes)}


@dataclass
class NpyPart(Part):
    """Rows of a ``.npy`` stack, memory-mapped: image stacks become images, others tensors."""

    path: str
    count: int = 0
    image: bool = False

    def __post_init__(self) -> None:
        arr = self._array()
        if arr.ndim < 2:
            raise InputError(f"{self.path}: a .npy stack needs at least 2 dimensions (N, ...), not {arr.shape}")
        self.count = int(arr.shape[0])
        self.image = arr.dtype in (np.uint8, np.uint16) and (
            arr.ndim == 3 or (arr.ndim == 4 and arr.shape[-1] in (1, 3, 4)))

    def _array(self) -> np.ndarray:
        try:
            return np.load(self.path, mmap_mode="r", allow_pickle=False)
        except Exception as exc:  # noqa: BLE001 - any unreadable .npy is the user's input error
            raise InputError(f"not a readable .npy file ({self.path}): {exc}") from exc

    def read(self, start: int, stop: int) -> list[Item]:
        arr = self._array()
        stem = Path(self.path).stem
        out = []
        for i in range(start, stop):
            row = np.array(arr[i])
            if self.image and row.ndim == 3 and row.shape[-1] == 1:
                row = row[..., 0]
            out.append(Item.from_array(row, "image" if self.image else "tensor", name=f"{stem}_{i:06d}"))
        return out

    def describe(self) -> dict:
        st = Path(self.path).stat()
        return {"kind": "npy", "path": self.path, "count": self.count, "bytes": st.st_size}


def _media_files(root: Path) -> list[str]:
    """Image and audio files below ``root`` (relative POSIX paths, sorted; hidden files skipped)."""
    from ..io import AUDIO_EXT, IMAGE_EXT
    exts = IMAGE_EXT | AUDIO_EXT
    out = []
    for p in root.rglob("*"):
        rel = p.relative_to(root)
        if any(part.startswith(".") for part in rel.parts) or not p.is_file():
            continue
        if p.suffix.lower() in exts:
            out.append(rel.as_posix())
    return sorted(out)


def folder_part(root: Path) -> FilesPart:
    """A folder of media files; labels from first-level sub-folders when every file is in one."""
    files = _media_files(root)
    if not files:
        raise InputError(f"{root}: no image or audio files in this folder")
    labels, classes = None, ()
    if all("/" in f for f in files):
        classes = tuple(sorted({f.split("/", 1)[0] for f in files}))
        pos = {c: i for i, c in enumerate(classes)}
        labels = [pos[f.split("/", 1)[0]] for f in files]
    return FilesPart(root=str(root.resolve()), files=files, labels=labels, classes=classes)


def registry_parts(arg: str) -> list[Part]:
    """``name`` or ``name:split`` of the data registry -> one part per split."""
    from . import SPLITS, canonical, paths
    name, _, split = arg.partition(":")
    name = canonical(name)
    splits = [split] if split else list(SPLITS[name])
    parts: list[Part] = []
    for s in splits:
        if s not in SPLITS[name]:
            raise InputError(f"data set {name!r} has splits {', '.join(SPLITS[name])}, not {s!r}")
        if name in ("mnist", "fashion-mnist"):
            parts.append(ArrayPart(name, s))
            continue
        files = paths(name, s)
        if not files:
            raise InputError(f"data set {name!r} ({s}) has no files (is ../shared/data there?)")
        root = files[0].parent
        parts.append(FilesPart(root=str(root), files=[f.relative_to(root).as_posix() for f in files],
                               label_of="fsdd" if name == "fsdd" else "", tag=f"dataset:{name}:{s}"))
    return parts


class Source:
    """The DATA arguments of one pack, concatenated: ``len``, ``read(start, stop)``, ``describe``."""

    def __init__(self, parts: Sequence[Part]) -> None:
        self.parts = list(parts)
        self.offsets = np.cumsum([0] + [p.count for p in self.parts]).tolist()
        names = sorted({c for p in self.parts for c in p.classes})
        self.classes: tuple[str, ...] = tuple(names)

    def __len__(self) -> int:
        return int(self.offsets[-1])

    def read(self, start: int, stop: int) -> list[Item]:
        """Items ``start..stop-1`` across parts (labels remapped to the common class list)."""
        out: list[Item] = []
        for k, p in enumerate(self.parts):
            lo, hi = self.offsets[k], self.offsets[k + 1]
            a, b = max(start, lo), min(stop, hi)
            if a >= b:
                continue
            items = p.read(a - lo, b - lo)
            if p.classes and p.classes != self.classes:
                remap = [self.classes.index(c) for c in p.classes]
                for it in items:
                    it.extra["label"] = remap[it.extra["label"]]
            out += items
        return out

    def describe(self) -> list[dict]:
        """Per-part identity (kind, paths, counts) stored in the manifest."""
        return [p.describe() for p in self.parts]


def open_source(args: Sequence[str]) -> Source:
    """DATA arguments (registry names, folders, .npy files) -> one Source."""
    from . import ALIASES, SPLITS
    if not args:
        raise InputError("nothing to pack: give a data set name, a folder or a .npy file")
    parts: list[Part] = []
    for a in args:
        p = Path(a)
        if p.is_dir():
            parts.append(folder_part(p))
        elif p.suffix.lower() == ".npy" and p.is_file():
            parts.append(NpyPart(str(p.resolve())))
        elif a.partition(":")[0] in SPLITS or a.partition(":")[0] in ALIASES:
            parts += registry_parts(a)
        elif p.exists():
            raise InputError(f"{a}: pack takes folders, .npy stacks or data set names, not a single file")
        else:
            raise InputError(f"{a}: no such folder, .npy file or data set (data sets: {', '.join(SPLITS)})")
    src = Source(parts)
    if len(src) == 0:
        raise InputError("nothing to pack: the inputs hold no records")
    return src
