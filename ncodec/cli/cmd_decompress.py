"""``ncodec decompress``: an .ncz file -> the original file(s)."""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path, PurePosixPath

from ..api import open as open_ncz, safe_name, stack_items, unique_names
from ..errors import InputError, OutputError, OutputExistsError
from ..io import (VIDEO_EXT, atomic_write, check_output_not_input, default_suffix, run_with_cleanup,
                  item_to_bytes, write_stdout, write_video_file, write_video_frames)
from ..item import Item
from .common import rate_text


def register(sub) -> None:
    p = sub.add_parser("decompress", help="decode an .ncz file back to files")
    p.add_argument("input", help=".ncz file or - for stdin")
    p.add_argument("-o", "--output", help="output file / folder (default from the input name; - for stdout)")
    p.add_argument("-f", "--force", action="store_true", help="overwrite the output")
    p.add_argument("--max-pixels", type=int, default=None, metavar="N",
                   help="decode limit: pixels (or audio samples) per record (default: 33554432, lower for "
                        "slow learned codecs)")
    p.add_argument("--max-bytes", type=int, default=None, metavar="N",
                   help="decode limit: decoded bytes per record / per batch (default: 134217728)")
    p.add_argument("--no-content-check", action="store_true",
                   help="do not verify the per-record content checks (e.g. a lossy file whose decoder "
                        "library differs from the writer's)")
    p.add_argument("--quiet", action="store_true", help="no summary line")
    p.set_defaults(func=run)


def _default_out(inp: str, item: Item, stored: str, lossy: bool = False) -> Path:
    """gzip-style default: strip ``.ncz`` (else add ``.out``). A lossy decode never takes the name
    of a file that exists (the original, most likely): it becomes ``NAME.lossy.EXT`` instead, so
    even ``-f`` cannot replace an original with an approximation by default."""
    p = Path(inp)
    base = p.with_suffix("") if p.suffix == ".ncz" else Path(str(p) + ".out")
    if not base.suffix:
        leaf = PurePosixPath(safe_name(stored)).name if stored else ""
        base = base.with_name(leaf) if leaf else base.with_suffix(default_suffix(item))
    if lossy and (base.exists() or base.is_symlink()):
        base = base.with_name(f"{base.stem}.lossy{base.suffix}")
    return base


def _write_item(item: Item, out: Path, force: bool) -> None:
    if item.meta.media == "video":
        if out.suffix.lower() in VIDEO_EXT:
            write_video_file(item, out, force=force)
        else:
            write_video_frames(item, out, force=force)
        return
    atomic_write(out, item_to_bytes(item, out.suffix or default_suffix(item)), force=force)


def _limit(v: int | None, flag: str) -> int | None:
    if v is not None and v < 1:
        raise InputError(f"{flag} must be a positive number")
    return v


def run(args: argparse.Namespace) -> int:
    return run_with_cleanup(_run, args)


def _archive_names(arc, items_meta) -> list[str]:
    """Safe, unique relative file names for every record (stored names, else record_N.ext)."""
    n = len(items_meta)
    width = len(str(n))
    names = []
    for i, (stored, meta_item) in enumerate(zip(arc.names, items_meta)):
        name = safe_name(stored) if stored else ""
        names.append(name or f"record_{i:0{width}d}{default_suffix(meta_item)}")
    return unique_names(names)


def _inside(folder: Path, target: Path) -> bool:
    real_folder = os.path.realpath(folder)
    return os.path.commonpath([real_folder, os.path.realpath(target.parent)]) == real_folder


def _write_archive(arc, folder: Path, force: bool) -> int:
    """Write every record under ``folder``; all or nothing for files this run creates."""
    recs = arc.container.records
    names = _archive_names(arc, [Item(None, r.meta) for r in recs])
    targets = [folder / n for n in names]
    if folder.exists() and not folder.is_dir():
        raise OutputExistsError(f"output exists and is not a folder ({folder})")
    if not force:
        clash = [t for t in targets if t.exists() or t.is_symlink()]
        if clash:
            raise OutputExistsError(f"{len(clash)} output file(s) exist, e.g. {clash[0]}; use -f to overwrite")
    made_dirs: list[Path] = []
    written: list[Path] = []
    try:
        if not folder.exists():
            _mkdirs(folder, made_dirs)
        for t, it in zip(targets, arc.iter_decoded()):
            if not t.parent.exists():
                _mkdirs(t.parent, made_dirs)
            if not _inside(folder, t):
                raise OutputError(f"record name {t.relative_to(folder)} leads outside {folder} (a link); refusing")
            if not t.exists():
                written.append(t)          # before the write: a signal right after it still cleans it up
            _write_item(it, t, force)
    except BaseException:
        import shutil
        for t in reversed(written):
            if t.is_dir() and not t.is_symlink():
                shutil.rmtree(t, ignore_errors=True)
            else:
                try:
                    t.unlink()
                except OSError:
                    pass
        for d in reversed(made_dirs):
            try:
                d.rmdir()
            except OSError:
                pass
        raise
    return len(targets)


def _mkdirs(path: Path, made: list[Path]) -> None:
    """mkdir -p, remembering what it created; OS failures become OutputError."""
    todo = []
    p = path
    while not p.exists() and p != p.parent:
        todo.append(p)
        p = p.parent
    if p.exists() and not p.is_dir():
        raise OutputError(f"cannot create {path}: {p} is not a folder")
    for d in reversed(todo):
        try:
            d.mkdir()
        except FileExistsError:
            continue
        except OSError as exc:
            from ..io import _output_error
            raise _output_error(exc, d) from exc
        made.append(d)


def _run(args: argparse.Namespace) -> int:
    import time
    kw = dict(max_pixels=_limit(args.max_pixels, "--max-pixels"), max_bytes=_limit(args.max_bytes, "--max-bytes"),
              verify_checks=not args.no_content_check)
    if args.input == "-":
        data = sys.stdin.buffer.read()
        arc = open_ncz(data, **kw)
        if args.output is None:
            args.output = "-"
    else:
        arc = open_ncz(args.input, **kw)
        if args.output is not None:
            check_output_not_input(args.output, [args.input])
    c = arc.container
    t0 = time.perf_counter()
    if args.output == "-":
        if c.archive and not c.stack:
            raise InputError("an archive of several files cannot go to stdout; give -o FOLDER")
        items = arc.decode_all()
        dt = time.perf_counter() - t0
        raw = (item_to_bytes(Item.from_array(stack_items(items), "tensor"), ".npy") if c.stack
               else item_to_bytes(items[0], default_suffix(items[0])))
        write_stdout(raw)
        out_desc = "stdout"
        n_out = len(items)
    elif c.stack:
        items = arc.decode_all()
        dt = time.perf_counter() - t0
        out = Path(args.output) if args.output else Path(args.input).with_suffix("")
        if out.suffix != ".npy":
            out = out.with_name(out.name + ".npy") if not args.output else out
        if args.output is None:
            check_output_not_input(out, [args.input])
        atomic_write(out, item_to_bytes(Item.from_array(stack_items(items), "tensor"), ".npy"), force=args.force)
        out_desc = str(out)
        n_out = len(items)
    elif c.archive:
        folder = Path(args.output) if args.output else Path(args.input).with_suffix("")
        if args.output is None and Path(args.input).suffix != ".ncz":
            folder = Path(args.input + ".out")
        n_out = _write_archive(arc, folder, args.force)
        dt = time.perf_counter() - t0
        out_desc = f"{folder}/ ({n_out} files)"
    else:
        items = arc.decode_all()
        dt = time.perf_counter() - t0
        out = Path(args.output) if args.output else _default_out(args.input, items[0], items[0].name,
                                                                  lossy=not arc.codec.lossless)
        if args.output is None:
            check_output_not_input(out, [args.input])
        _write_item(items[0], out, args.force)
        out_desc = str(out)
        n_out = 1
    if not args.quiet:
        metas = [Item(None, r.meta) for r in c.records]   # rate units need only the metadata
        print(f"{args.input} -> {out_desc}: {n_out} item(s), {len(arc.data)} B, "
              f"{rate_text(8 * len(arc.data), metas, c.records[0].meta.media)}, {c.codec} q={c.quality}, "
              f"{dt:.2f} s", file=sys.stderr)
    return 0
