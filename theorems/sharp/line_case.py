"""Sharpness of a function of one variable, decided exactly: the line case of
:func:`theorems.sharp.deciders.prove_sharp`.

"f(x) >= f(p) + m |x - p| for all real x" (every norm of R is |.|) is a formula in one variable;
the kernel's cylindrical decomposition of the line (:mod:`verify.kernel.univariate`) decides
it from the real roots of every polynomial piece of f (rational or algebraic coefficients, so
an irrational point or modulus is handled exactly). A proof is a ``sharp-univariate``
certificate (no solver: trust ``exact``); a failure gives a rational point near where the
inequality fails, re-checked in balls. Outside the class (fractional powers of x,
transcendental functions) the other routes are tried.
"""

from __future__ import annotations

import time
from typing import Any

import sympy as sp


def prove(problem: Any, m: sp.Expr) -> Any:
    """One variable: the kernel's exact decision of the line (no solver). None when f is
    outside its class (the other routes are tried), or when it fails only at an irrational
    point (the z3 route then looks for a rational violation)."""
    from theorems.sharp.deciders import SharpOutcome
    from theorems.sharp.problem import simplest_violation
    from verify.kernel import sharp as sharp_kernel
    from verify.kernel.univariate import Unsupported, decide

    t0 = time.perf_counter()
    try:
        formula, x = sharp_kernel.sharpness_formula(problem.claim(), m)
        result = decide(formula, x)
    except (Unsupported, ValueError, NotImplementedError):
        return None
    seconds = time.perf_counter() - t0
    if result.holds:
        return SharpOutcome("holds", "exact real roots of every piece: no x violates the "
                            "inequality", certificate={"kind": "sharp-univariate",
                                                       "modulus": str(m)},
                            seconds=seconds, method="exact real-root isolation (no solver)")
    if result.witness is not None:
        for _ in range(60):                 # near an irrational point: a rational one too
            if result.witness.hi - result.witness.lo < 1e-12:
                break
            result.witness.refine()
        mid = (result.witness.lo + result.witness.hi) / 2
        simple = simplest_violation(problem, [sp.Rational(mid.numerator, mid.denominator)], m)
        if simple is not None:
            return SharpOutcome("violated", "exact real roots; the point re-checked in ball "
                                "arithmetic", point=simple[0], gap=simple[1], seconds=seconds,
                                method="exact real-root isolation (no solver)")
    return None
