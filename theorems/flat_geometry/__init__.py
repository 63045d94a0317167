"""The geometry of flat minima (Josz 2025, *On the geometry of flat minima*).

* :mod:`~theorems.flat_geometry.mathematics`: maximal variation and level-set distance with
  certified intervals (on :mod:`theorems.bounds`), the flatness preorder and its deciders;
* :mod:`~theorems.flat_geometry.conserved`: linear symmetries and conserved quantities;
* :mod:`~theorems.flat_geometry.kinds`: ``max-variation``, ``flatter``, ``conserved-quantity``;
* :mod:`~theorems.flat_geometry.experiments`: the toy function, Figure 1, matrix factorization
  and the flattening flow;
* :mod:`~theorems.flat_geometry.checks`: the registered checks.
"""

from __future__ import annotations

from theorems import lazy_exports

__getattr__, __all__ = lazy_exports("theorems.flat_geometry", {
    "mathematics": ("FlatnessBounds", "NORMALIZATIONS", "RULES", "decide_flatter",
                    "decide_max_variation", "is_flatter", "is_c2", "leading_order",
                    "level_set_distance", "max_variation", "normalize"),
    "conserved": ("cayley_orthogonal", "exact_balanced_minimizer", "linear_symmetries",
                  "matrix_factorization", "quadratic_conserved_quantities", "same_span"),
    "kinds": ("max_variation_claim", "flatter_claim", "conserved_quantity_claim", "PAPER"),
    "experiments": ("toy", "figure1_run", "factorization_loss", "factorization_hessian",
                    "balanced_minimizer", "trace_flattest_on_orbit", "flattening_flow",
                    "ray_distance"),
})
