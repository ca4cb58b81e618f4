"""``ncodec pack``: a data set, folder of media files or .npy stack -> sharded .ncz data set folder.

Import-light (the CLI registers this parser for every command): the work happens in
``ncodec.data.pack``, imported when the command runs.
"""
from __future__ import annotations

import argparse
import signal
import sys


def register(sub) -> None:
    p = sub.add_parser("pack", help="pack a data set into sharded .ncz files with an index (resumable)")
    p.add_argument("data", nargs="+", metavar="DATA",
                   help="data set name (mnist, fsdd, bsds500[:split], ...), folder of images/audio, or .npy stack")
    p.add_argument("-o", "--output", required=True, help="output folder (ds/)")
    p.add_argument("-c", "--codec", help="codec name (see ncodec list); default depends on the media")
    p.add_argument("-q", "--quality", type=int, help="quality level (implies the default lossy codec)")
    p.add_argument("-O", "--option", action="append", default=[], metavar="KEY=VALUE",
                   help="codec option (repeatable)")
    p.add_argument("--shard-size", default="256MB", help="close a shard when its payloads reach this (default 256MB)")
    p.add_argument("--engine", choices=["local", "ray"], default="local",
                   help="local process pool (default) or Ray Data (pip install 'ncodec[ray]')")
    p.add_argument("--ray-address", help="connect to this Ray cluster (default: start a local Ray)")
    p.add_argument("-j", "--workers", type=int, help="worker processes / Ray actors (default: up to 2)")
    p.add_argument("--chunk", type=int, help="records per unit of work (default: about 8 MB of input)")
    p.add_argument("--limit", type=int, help="pack only the first N records")
    p.add_argument("--verify", action="store_true", help="also decode lossless records and check they are exact")
    p.add_argument("-f", "--force", action="store_true", help="discard a previous pack in the output folder")
    p.add_argument("--quiet", action="store_true", help="no progress bar or summary")
    p.set_defaults(func=run)


def _terminate(signum, frame) -> None:  # noqa: ARG001 - signal handler signature
    raise KeyboardInterrupt          # unwinds: workers stopped, temp files removed, manifest intact


def run(args: argparse.Namespace) -> int:
    from ..codecs.base import parse_option_args
    from ..data.pack import pack
    signal.signal(signal.SIGTERM, _terminate)
    res = pack(args.data, args.output, codec=args.codec, quality=args.quality,
               options=parse_option_args(args.option), shard_size=args.shard_size, engine=args.engine,
               workers=args.workers, ray_address=args.ray_address,
               progress=False if args.quiet else None, chunk=args.chunk, force=args.force,
               verify=args.verify, limit=args.limit)
    if not args.quiet:
        rate = res.encoded / res.seconds if res.seconds else 0.0
        resumed = f", resumed at record {res.resumed_from}" if res.resumed_from else ""
        print(f"{' '.join(args.data)} -> {res.root}/: {res.records} records in {res.shards} shard(s), "
              f"{res.file_bytes} B{resumed}; encoded {res.encoded} in {res.seconds:.1f} s "
              f"({rate:.1f} rec/s, {res.input_bytes / max(res.seconds, 1e-9) / 1e6:.2f} MB/s in)",
              file=sys.stderr)
    return 0
