"""Entry point: builds the parser from the ``cmd_*`` modules and turns NcodecErrors into one-line messages.

Start-up is kept small: only the subcommand being run registers its full parser (and so imports
what it needs); the others appear in ``ncodec --help`` by name and one-line help only. Heavy
libraries (torch, scipy, matplotlib) are imported by the code that uses them, never here.
"""
from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys

from ..errors import NcodecError

INTERNAL_ERROR_EXIT = 70

# What each exit code means (ncodec.errors sets them); shown by ``ncodec --help``, documented in docs/safety.md.
EXIT_CODES = """exit codes:
  0    success
  1    other ncodec error
  2    usage: bad arguments, options (-O) or input file; output exists (use -f) or cannot be written
  3    not a readable .ncz file: bad magic, truncated, checksum mismatch, newer format or codec version
  4    codec error: the codec failed, a record fails its content check, unknown codec, or the
       file's model weights are not installed (ncodec list --weights)
  5    unsupported input: media kind, shape, dtype or values the codec does not handle
  6    --verify found decoded data that differs from the input
  7    over a decode limit (--max-pixels / --max-bytes)
  70   internal error (a bug: rerun with --debug and report it)
  130  interrupted (Ctrl-C)      141  output pipe closed
errors are one line on stderr (ncodec: error: ...); --debug shows the traceback."""


# Subcommands and their one-line help (the module ``cmd_<name>`` registers the full parser).
COMMANDS = {
    "compress": "compress files into an .ncz file",
    "decompress": "decode an .ncz file back to files",
    "info": "show what an .ncz file holds",
    "extract": "write the stored bitstream as a standard file (.webp, .jxl, .flac, ...)",
    "list": "list registered codecs, or show one codec's options",
    "train": "train a learned codec or a downstream model",
    "eval": "rate-distortion sweeps, BD-rate, downstream accuracy, reports",
    "bench": "run a benchmark (writes benchmarks/results/NAME.json)",
}
_ALL = object()


def _extra_commands() -> list[str]:
    """``cmd_*`` modules not in COMMANDS (added by later work) are registered in full."""
    pkg = importlib.import_module("ncodec.cli")
    return sorted(m.name[4:] for m in pkgutil.iter_modules(pkg.__path__)
                  if m.name.startswith("cmd_") and m.name[4:] not in COMMANDS)


def build_parser(only: object = _ALL) -> argparse.ArgumentParser:
    """The ``ncodec`` parser. ``only``: the one subcommand to register in full (None: none, just
    names and help for ``ncodec --help``); by default every subcommand in full (tests, docs)."""
    parser = argparse.ArgumentParser(prog="ncodec", description="Neural data codec toolkit (.ncz files).",
                                     epilog=EXIT_CODES, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in list(COMMANDS) + _extra_commands():
        if only is _ALL or only == name or name not in COMMANDS:
            importlib.import_module(f"ncodec.cli.cmd_{name.replace('-', '_')}").register(sub)
        else:
            sub.add_parser(name, help=COMMANDS[name])
    return parser


def _command_of(argv: list[str]) -> str | None:
    """The subcommand named on the command line (first word that is not an option), if known."""
    for a in argv:
        if not a.startswith("-"):
            return a if a in COMMANDS else None
    return None


def quiet_library_warnings() -> None:
    """Hide warnings that libraries (torch, compressai) raise about their own internals -- e.g.
    "torch.jit.script is deprecated", requires_grad copy hints -- which say nothing a user can act
    on; ``--debug`` keeps them."""
    import warnings
    for cat in (FutureWarning, DeprecationWarning, UserWarning):
        warnings.filterwarnings("ignore", category=cat, module=r"(torch|compressai|torchvision)(\.|$)")
    warnings.filterwarnings("ignore", message=r".*requires_grad.*")


def main(argv: list[str] | None = None) -> int:
    """Run one command; returns the process exit code."""
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(only=_command_of(argv))
    args = parser.parse_args(argv)
    if not args.debug:
        quiet_library_warnings()
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
