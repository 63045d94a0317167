"""Flat minima by the trace of the Hessian and the perturbed gradient methods that reach them
(Ahn, Jadbabaie, Sra, *How to Escape Sharp Minima with Random Perturbations*, ICML 2024).

* :mod:`~theorems.escape.mathematics`: tr-bar, the tangent projector, sphere integration,
  drifts and runs of Algorithms 1 and 2;
* :mod:`~theorems.escape.deciders` and :mod:`~theorems.escape.kinds`: ``flat-minimum``;
* :mod:`~theorems.escape.experiments`: escaping a memorizing minimum on digits;
* :mod:`~theorems.escape.checks`: the registered checks.
"""

from __future__ import annotations

from theorems import lazy_exports

__getattr__, __all__ = lazy_exports("theorems.escape", {
    "mathematics": ("example1", "example1_limit_map", "example1_limit_point",
                    "manifold_assumption", "normalized_trace", "numeric_oracles",
                    "perturbation_drifts", "residual_form", "run_perturbed", "smoothing_drift",
                    "sphere_expectation", "stationarity", "steps_to_flat", "sum_of_products",
                    "tangent_projector"),
    "deciders": ("FIRST_CONDITIONS", "decide_flat_minimum"),
    "kinds": ("flat_minimum", "PAPER"),
    "experiments": ("escape_experiment", "bad_minimum"),
})
