"""Eigenvalue filters of optimizers (Bolte, Le, Pauwels, *Convergence of optimizers implies
eigenvalues filtering at equilibrium*, arXiv 2510.09034).

* :mod:`~theorems.filters.mathematics`: filters derived from the implemented update maps,
  spectral radii, and the numerical companions of the checks;
* :mod:`~theorems.filters.deciders` and :mod:`~theorems.filters.kinds`: the ``filter-set`` and
  ``stable-point`` claim kinds;
* :mod:`~theorems.filters.manifolds`: local stable manifolds (the mechanism of Theorem 2.1);
* :mod:`~theorems.filters.compare`: filters side by side (``sharpflat filters``), whether two
  methods are the same map (Penalty SAM and Hessian USAM);
* :mod:`~theorems.filters.experiments`: the edge of stability on digits, and the paper's
  comparison of GD, SAM and the USAM variants;
* :mod:`~theorems.filters.model_certificate`: ``sharpflat certify-model``, and
  :mod:`~theorems.filters.model_views`, its optional curvature views;
* :mod:`~theorems.filters.checks`: the registered checks.
"""

from __future__ import annotations

from theorems import lazy_exports

__getattr__, __all__ = lazy_exports("theorems.filters", {
    "mathematics": ("ALPHA", "BETA", "RHO", "LAM", "MU", "closed_form", "eigen_matrix",
                    "filter_condition", "filter_set", "make_map", "member_of", "membership",
                    "method_matrix", "declared_hyper", "label", "pin_method", "condition_set",
                    "spectral_radius_le_one", "stability_condition", "sympy_oracles",
                    "update_jacobian", "quadratic_jacobians", "float_membership", "run_batch",
                    "batched_hvp", "numeric_hessian", "step_jacobian", "hyperbola_grad",
                    "products_grad"),
    "deciders": ("decide_filter_set", "decide_stable_point"),
    "kinds": ("filter_set_claim", "stable_point_claim", "PAPER"),
    "manifolds": ("stable_manifold", "manifold_experiment"),
    "experiments": ("edge_of_stability_run", "optimizer_comparison", "comparison_verdict"),
    "compare": ("filter_table", "inclusions", "compare_maps", "region_plot"),
    "checks": ("METHOD_FORMS", "TABLE", "hyper"),
})
