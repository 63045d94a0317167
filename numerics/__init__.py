"""Numerical kernels: arrays in, arrays out. Knows nothing of theorems or verdicts."""
