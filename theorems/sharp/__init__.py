"""Sharp minimizers, tilt stability and Lipschitz perturbations (Dominguez Corella).

Source: A. Dominguez Corella, *On the geometry of sharp minimizers* (poster 09/2024).
x-bar is a sharp minimizer of f with modulus alpha > 0 when f(x) >= f(x-bar) + alpha ||x - x-bar||
for **all** x; the best constant is alpha* = inf over x != x-bar of the ratio
(f(x) - f(x-bar)) / ||x - x-bar||.

The package, like every paper package of sharpflat:

* :mod:`~theorems.sharp.problem`: the mathematics (the problem, the ratio, exact limits);
* :mod:`~theorems.sharp.deciders`: proofs (z3 and cvc5), counterexamples, alpha*, stability;
* :mod:`~theorems.sharp.families`: functions whose modulus is known by construction;
* :mod:`~theorems.sharp.kinds`: the claim kinds and their Python constructors;
* :mod:`~theorems.sharp.checks`: the paper's statements as registered checks.

Names are re-exported lazily (``from theorems import sharp; sharp.best_constant``).
"""

from __future__ import annotations

from theorems import lazy_exports

__getattr__, __all__ = lazy_exports("theorems.sharp", {
    "problem": ("SharpProblem", "search_worst_ratio", "directional_limits", "NORMS",
                "simplest_violation"),
    "deciders": ("DEFAULT_BUDGET", "EVIDENCE_MARGIN", "ModulusResult", "SharpOutcome",
                 "assumption1", "best_constant", "decide_modulus", "decide_sharp",
                 "decide_stability", "prove_sharp", "sharpness_modulus_of",
                 "tilt_beats_point", "tilt_for", "tilted_cross_check"),
    "families": ("KnownSharp", "polytope_function", "random_polytope_function",
                 "random_piecewise_1d", "generated_family", "known_from_toy", "toys"),
    "kinds": ("sharp_minimizer", "sharpness_modulus", "tilt_stable", "lipschitz_stable",
              "CONSTRUCTORS", "PAPER"),
})
