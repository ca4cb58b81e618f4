"""``ncodec compress``: files (or stdin) -> one .ncz file (single item or archive)."""
from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

from ..api import compress_items, input_name, verify_result
from ..codecs.base import get_codec, parse_option_args
from ..errors import InputError, NcodecWarning
from ..io import atomic_write, check_output_not_input, read_item, run_with_cleanup, write_stdout
from .common import rate_text, sniff_media


def register(sub) -> None:
    p = sub.add_parser("compress", help="compress files into an .ncz file")
    p.add_argument("inputs", nargs="+", help="input files, frame folders or - for stdin")
    p.add_argument("-o", "--output", help="output .ncz (default: INPUT.ncz; for stdin input, stdout "
                                          "unless it is a terminal; - for stdout)")
    p.add_argument("-c", "--codec", help="codec name (see ncodec list); default depends on the media")
    p.add_argument("-q", "--quality", type=int, help="quality level (implies the default lossy codec)")
    p.add_argument("-O", "--option", action="append", default=[], metavar="KEY=VALUE",
                   help="codec option (repeatable); ncodec list CODEC shows a codec's options")
    p.add_argument("-f", "--force", action="store_true", help="overwrite the output")
    p.add_argument("--verify", action="store_true",
                   help="decode again before reporting success: lossless codecs are compared byte for byte "
                        "with the input; lossy ones are checked to decode and match their content check")
    p.add_argument("--check-bytes", type=int, choices=(2, 4, 8), default=None,
                   help="content check bytes per record (default: 4 for one item, 2 per archive record)")
    p.add_argument("--media", choices=["image", "audio", "video", "tensor", "bytes"],
                   help="media kind of stdin input (default: guessed from its first bytes)")
    p.add_argument("--quiet", action="store_true", help="no summary line, warnings or progress bar")
    p.set_defaults(func=run)


def _input_size(path: str) -> int:
    """Bytes of an input file, or of every file under an input folder (frames)."""
    p = Path(path)
    if p.is_dir():
        return sum(f.stat().st_size for f in p.rglob("*") if f.is_file())
    try:
        return p.stat().st_size
    except OSError:
        return 0


def run(args: argparse.Namespace) -> int:
    return run_with_cleanup(_run, args)


def _run(args: argparse.Namespace) -> int:
    if args.output is None:
        if len(args.inputs) != 1:
            raise InputError("several inputs need -o OUTPUT")
        if args.inputs[0] == "-":                 # zstd-style: stdin goes to stdout, never to a terminal
            if sys.stdout.isatty():
                raise InputError("refusing to write compressed data to a terminal: redirect stdout or give -o FILE")
            args.output = "-"
        else:
            args.output = str(Path(args.inputs[0].rstrip("/"))) + ".ncz"
    check_output_not_input(args.output, args.inputs)
    items = []
    file_bytes = 0                       # size of what the user gave (files as stored, stdin as read)
    for inp in args.inputs:
        if inp == "-":
            raw = sys.stdin.buffer.read()
            file_bytes += len(raw)
            media = args.media or sniff_media(raw)
            items.append(read_item(Path("stdin"), raw=raw, media=media))
        else:
            file_bytes += _input_size(inp)
            it = read_item(inp, media=args.media)
            it.name = input_name(inp)
            items.append(it)
    options = parse_option_args(args.option)
    if args.quiet and args.codec and any(o.name == "progress" for o in get_codec(args.codec).options):
        options.setdefault("progress", "false")       # --quiet: no fitting progress bar either
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", NcodecWarning)
        res = compress_items(items, codec=args.codec, quality=args.quality,
                             options=options, check_bytes=args.check_bytes)
    if not args.quiet:                                 # one line each, as errors are
        for w in dict.fromkeys(str(w.message) for w in caught if issubclass(w.category, NcodecWarning)):
            print(f"ncodec: warning: {w}", file=sys.stderr)
    verified = verify_result(res) if args.verify else ""
    if args.output == "-":
        write_stdout(res.data)
    else:
        atomic_write(args.output, res.data, force=args.force)
    if not args.quiet:
        src = args.inputs[0] if len(args.inputs) == 1 else f"{len(args.inputs)} inputs"
        src = "stdin" if src == "-" else src
        dst = "stdout" if args.output == "-" else args.output
        media = res.items[0].meta.media
        extra = f", ideal {res.ideal_bits / 8:.0f} B" if res.ideal_bits else ""
        out = max(len(res.data), 1)
        print(f"{src} -> {dst}: {res.n_items} item(s), {file_bytes} B file ({res.input_bytes} B raw) "
              f"-> {len(res.data)} B ({file_bytes / out:.2f}x file, {res.input_bytes / out:.2f}x raw), "
              f"{rate_text(res.bits, res.items, media)}, "
              f"{res.codec} q={res.quality}{extra}, {res.encode_s:.2f} s"
              + (f"; {verified}" if verified else ""), file=sys.stderr)
    return 0
