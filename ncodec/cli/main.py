"""Entry point: builds the parser from every ``cmd_*`` module and turns NcodecErrors into one-line messages."""
from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys

from ..errors import NcodecError

INTERNAL_ERROR_EXIT = 70


def build_parser() -> argparse.ArgumentParser:
    """The full ``ncodec`` parser; subcommands come from ``ncodec/cli/cmd_*.py`` modules."""
    parser = argparse.ArgumentParser(prog="ncodec", description="Neural data codec toolkit (.ncz files).")
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    pkg = importlib.import_module("ncodec.cli")
    for mod in sorted(pkgutil.iter_modules(pkg.__path__), key=lambda m: m.name):
        if mod.name.startswith("cmd_"):
            importlib.import_module(f"ncodec.cli.{mod.name}").register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one command; returns the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        code = args.func(args)
        return int(code or 0)
    except NcodecError as exc:
        if args.debug:
            raise
        print(f"ncodec: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("ncodec: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 141
    except Exception as exc:  # a bug, not a user error: still one line unless --debug
        if args.debug:
            raise
        print(f"ncodec: error: internal error: {type(exc).__name__}: {exc} (rerun with --debug)", file=sys.stderr)
        return INTERNAL_ERROR_EXIT


if __name__ == "__main__":
    sys.exit(main())
