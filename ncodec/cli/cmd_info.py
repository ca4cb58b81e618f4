"""``ncodec info``: header fields, records, sizes and checksum status of an .ncz file."""
from __future__ import annotations

import argparse
import json

from ..api import open as open_ncz


def register(sub) -> None:
    p = sub.add_parser("info", help="show what an .ncz file holds")
    p.add_argument("input", help=".ncz file or packed data set folder")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--records", type=int, default=10, help="how many records to list (default 10)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path
    if Path(args.input).is_dir():            # a packed data set folder (ncodec pack)
        from ..data.info import run_info
        return run_info(args)
    info = open_ncz(args.input).info()
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    for key in ("source", "file_bytes", "format_version", "codec", "codec_version", "quality", "model_id",
                "lossless", "archive", "stack", "records", "payload_bytes", "overhead_bytes", "checksum",
                "content_check"):
        print(f"{key:>15}: {info[key]}")
    for i, it in enumerate(info["items"][: args.records]):
        rate = f", {it['sample_rate']} Hz" if it["media"] == "audio" else (
            f", {it['frame_rate']} fps" if it["media"] == "video" else "")
        print(f"  [{i}] {it['name'] or '-'}  {it['media']} {'x'.join(map(str, it['shape']))} {it['dtype']}{rate}  {it['bytes']} B")
    if len(info["items"]) > args.records:
        print(f"  ... {len(info['items']) - args.records} more")
    return 0
