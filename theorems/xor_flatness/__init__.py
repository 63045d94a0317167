"""Sharpness minimization and generalization on P_xor (Wen, Li, Ma 2023).

* :mod:`~theorems.xor_flatness.mathematics`: the trace bounds, the flattest constructions, test
  errors and a trace-minimizing penalty method;
* :mod:`~theorems.xor_flatness.exact`: the constructions evaluated exactly (Hessian trace of
  the loss, Lemma 4.1, test errors);
* :mod:`~theorems.xor_flatness.experiments`: the summary table by vectorized 1-SAM and GD+WD;
* :mod:`~theorems.xor_flatness.checks`: the registered checks. (This paper adds no claim
  kind: its statements are about networks trained on the paper's data.)
"""

from __future__ import annotations

from theorems import lazy_exports

__getattr__, __all__ = lazy_exports("theorems.xor_flatness", {
    "mathematics": ("DT", "flattest_interpolator", "generalizing_bias", "generalizing_no_bias",
                    "generalizing_sim_ln", "memorizing_bias", "memorizing_deep",
                    "memorizing_sim_ln", "test_error", "trace_lower_bound", "two_layer_trace"),
    "exact": ("ExactNet", "cube_errors", "generalizing", "hessian_trace_sides", "hypercube",
              "memorizing", "random_net", "xor_points"),
    "experiments": ("CPU", "QUICK", "TABLE2", "SUMMARY", "cpu_settings", "reproduce"),
})
