"""Benchmarks: each module has ``main(argv) -> int`` that prints a table and writes JSON
under benchmarks/results/; ``benchmarks/NAME.py`` and ``ncodec bench NAME`` both call it."""
