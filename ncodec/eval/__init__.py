"""Evaluation, the only code in ncodec that measures: metrics (``metrics``), the timed round trip
through the real file format (``roundtrip``), rate-distortion sweeps (``sweep``), BD-rate (``bd``),
downstream-task accuracy (``downstream``), reports and plots. Benchmarks are configurations of it."""
