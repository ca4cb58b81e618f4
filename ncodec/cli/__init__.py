"""Command line: ``ncodec <command>``; each command lives in its own ``cmd_*.py`` module."""
