"""``ncodec compress``: files (or stdin) -> one .ncz file (single item or archive)."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..api import compress_items, verify_result
from ..codecs.base import parse_option_args
from ..errors import InputError
from ..io import atomic_write, read_item
from .common import rate_text, sniff_media


def register(sub) -> None:
    p = sub.add_parser("compress", help="compress files into an .ncz file")
    p.add_argument("inputs", nargs="+", help="input files, frame folders or - for stdin")
    p.add_argument("-o", "--output", help="output .ncz (default: INPUT.ncz; - for stdout)")
    p.add_argument("-c", "--codec", help="codec name (see ncodec list); default depends on the media")
    p.add_argument("-q", "--quality", type=int, help="quality level (implies the default lossy codec)")
    p.add_argument("-O", "--option", action="append", default=[], metavar="KEY=VALUE",
                   help="codec option (repeatable); ncodec list CODEC shows a codec's options")
    p.add_argument("-f", "--force", action="store_true", help="overwrite the output")
    p.add_argument("--verify", action="store_true", help="decode again and compare before reporting success")
    p.add_argument("--media", choices=["image", "audio", "video", "tensor", "bytes"],
                   help="media kind of stdin input (default: guessed from its first bytes)")
    p.add_argument("--quiet", action="store_true", help="no summary line")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    items = []
    for inp in args.inputs:
        if inp == "-":
            raw = sys.stdin.buffer.read()
            media = args.media or sniff_media(raw)
            items.append(read_item(Path("stdin"), raw=raw, media=media))
        else:
            items.append(read_item(inp, media=args.media))
    if args.output is None:
        if len(args.inputs) != 1 or args.inputs[0] == "-":
            raise InputError("several inputs or stdin need -o OUTPUT")
        args.output = str(Path(args.inputs[0].rstrip("/"))) + ".ncz"
    res = compress_items(items, codec=args.codec, quality=args.quality,
                         options=parse_option_args(args.option))
    if args.verify:
        verify_result(res)
    if args.output == "-":
        sys.stdout.buffer.write(res.data)
        sys.stdout.buffer.flush()
    else:
        atomic_write(args.output, res.data, force=args.force)
    if not args.quiet:
        src = args.inputs[0] if len(args.inputs) == 1 else f"{len(args.inputs)} inputs"
        media = res.items[0].meta.media
        extra = f", ideal {res.ideal_bits / 8:.0f} B" if res.ideal_bits else ""
        print(f"{src} -> {args.output}: {res.n_items} item(s), {res.input_bytes} B -> {len(res.data)} B "
              f"({res.input_bytes / max(len(res.data), 1):.2f}x), {rate_text(res.bits, res.items, media)}, "
              f"{res.codec} q={res.quality}{extra}, {res.encode_s:.2f} s"
              + (", verified" if args.verify else ""), file=sys.stderr)
    return 0
