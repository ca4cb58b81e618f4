"""``ncodec decompress``: an .ncz file -> the original file(s)."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..api import open as open_ncz, stack_items
from ..errors import InputError, OutputExistsError
from ..io import (VIDEO_EXT, atomic_write, default_suffix, item_to_bytes, write_video_file,
                  write_video_frames)
from ..item import Item
from .common import rate_text


def register(sub) -> None:
    p = sub.add_parser("decompress", help="decode an .ncz file back to files")
    p.add_argument("input", help=".ncz file or - for stdin")
    p.add_argument("-o", "--output", help="output file / folder (default from the input name; - for stdout)")
    p.add_argument("-f", "--force", action="store_true", help="overwrite the output")
    p.add_argument("--quiet", action="store_true", help="no summary line")
    p.set_defaults(func=run)


def _default_out(inp: str, item: Item, stored: str) -> Path:
    p = Path(inp)
    base = p.with_suffix("") if p.suffix == ".ncz" else Path(str(p) + ".out")
    if base.suffix:
        return base
    if stored:
        return base.with_name(stored)
    return base.with_suffix(default_suffix(item))


def _write_item(item: Item, out: Path, force: bool) -> None:
    if item.meta.media == "video":
        if out.suffix.lower() in VIDEO_EXT:
            write_video_file(item, out, force=force)
        else:
            write_video_frames(item, out, force=force)
        return
    atomic_write(out, item_to_bytes(item, out.suffix or default_suffix(item)), force=force)


def run(args: argparse.Namespace) -> int:
    import time
    if args.input == "-":
        data = sys.stdin.buffer.read()
        arc = open_ncz(data)
        if args.output is None:
            args.output = "-"
    else:
        arc = open_ncz(args.input)
    t0 = time.perf_counter()
    items = arc.decode_all()
    dt = time.perf_counter() - t0
    c = arc.container
    if args.output == "-":
        if c.archive and not c.stack:
            raise InputError("an archive of several files cannot go to stdout; give -o FOLDER")
        raw = (item_to_bytes(Item.from_array(stack_items(items), "tensor"), ".npy") if c.stack
               else item_to_bytes(items[0], default_suffix(items[0])))
        sys.stdout.buffer.write(raw)
        sys.stdout.buffer.flush()
        out_desc = "stdout"
    elif c.stack:
        out = Path(args.output) if args.output else Path(args.input).with_suffix("")
        if out.suffix != ".npy":
            out = out.with_name(out.name + ".npy") if not args.output else out
        atomic_write(out, item_to_bytes(Item.from_array(stack_items(items), "tensor"), ".npy"), force=args.force)
        out_desc = str(out)
    elif c.archive:
        folder = Path(args.output) if args.output else Path(args.input).with_suffix("")
        if folder.exists() and not folder.is_dir():
            raise OutputExistsError(f"output exists and is not a folder ({folder})")
        folder.mkdir(parents=True, exist_ok=True)
        width = len(str(len(items)))
        for i, it in enumerate(items):
            name = Path(it.name).name if it.name else f"record_{i:0{width}d}{default_suffix(it)}"
            _write_item(it, folder / name, args.force)
        out_desc = f"{folder}/ ({len(items)} files)"
    else:
        out = Path(args.output) if args.output else _default_out(args.input, items[0], items[0].name)
        _write_item(items[0], out, args.force)
        out_desc = str(out)
    if not args.quiet:
        print(f"{args.input} -> {out_desc}: {len(items)} item(s), {len(arc.data)} B, "
              f"{rate_text(8 * len(arc.data), items, items[0].meta.media)}, {c.codec} q={c.quality}, "
              f"{dt:.2f} s", file=sys.stderr)
    return 0
