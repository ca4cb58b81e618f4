"""Evaluation: metrics, rate-distortion sweeps, BD-rate, plots, downstream-task accuracy."""
