"""``ncodec extract``: write the stored bitstream back as a standard file (WebP, PNG, JPEG, JPEG XL,
AVIF, FLAC, zstd, H.264/HEVC elementary stream), byte for byte — no decode and re-encode.

Codecs without a standard file format of their own (learned codecs, raw Opus packets) are refused.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path, PurePosixPath

from ..errors import OutputExistsError, UnsupportedInputError


def register(sub) -> None:
    p = sub.add_parser("extract", help="write the stored bitstream as a standard file (.webp, .jxl, .flac, ...)")
    p.add_argument("input", help=".ncz file")
    p.add_argument("-o", "--output", help="output file (one record) or folder (archive); default beside the input")
    p.add_argument("-f", "--force", action="store_true", help="overwrite existing outputs")
    p.add_argument("--quiet", action="store_true", help="no summary line")
    p.set_defaults(func=run)


def _native_name(name: str, fallback: str, suffix: str) -> str:
    """Stored name (or fallback) with its suffix replaced by the native one."""
    base = PurePosixPath(name or fallback)
    return str(base.with_suffix(suffix) if base.suffix else base.with_name(base.name + suffix))


def run(args: argparse.Namespace) -> int:
    from ..api import open as open_ncz
    from ..api import safe_name, unique_names
    from ..io import atomic_write, check_output_not_input, run_with_cleanup
    arc = open_ncz(args.input)
    codec, recs = arc.codec, arc.container.records
    if codec.native_suffix is None:
        raise UnsupportedInputError(f"codec {codec.name!r} has no standard file format to extract "
                                    "(use ncodec decompress)")
    src = Path(args.input)
    stem = src.name[:-4] if src.name.endswith(".ncz") else src.name + ".native"

    def write() -> int:
        if len(recs) == 1 and not arc.container.archive:
            out = Path(args.output or src.with_name(_native_name("", stem, codec.native_suffix)))
            check_output_not_input(out, [args.input])
            atomic_write(out, codec.native(recs[0].payload), force=args.force)
            written = [out]
        else:
            folder = Path(args.output or src.with_name(stem + "_native"))
            names = unique_names([_native_name(safe_name(r.name), f"record_{i:05d}", codec.native_suffix)
                                  for i, r in enumerate(recs)])
            targets = [folder / n for n in names]
            if not args.force and any(t.exists() for t in targets):
                raise OutputExistsError(f"output exists ({next(t for t in targets if t.exists())}); use -f")
            written = []
            for t, r in zip(targets, recs):
                t.parent.mkdir(parents=True, exist_ok=True)
                atomic_write(t, codec.native(r.payload), force=args.force)
                written.append(t)
        if not args.quiet:
            total = sum(w.stat().st_size for w in written if w.is_file())
            print(f"{args.input} -> {written[0] if len(written) == 1 else written[0].parent}: "
                  f"{len(written)} {codec.native_suffix} file(s), {total} B ({codec.name} bitstream, not re-encoded)",
                  file=sys.stderr)
        return 0

    return run_with_cleanup(write)
