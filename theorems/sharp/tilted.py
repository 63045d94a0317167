"""Tilted problems argmin f - <xi, .>: a numerical cross-check of the sharpness deciders.

Below the sharpness modulus the minimizer of every tilted problem must stay at the point (the
derived equivalence of :mod:`theorems.sharp.deciders`); a solved tilted problem whose minimizer
moved, re-checked in ball arithmetic, would contradict a proof. Convex f are solved as conic
programs (cvxpy/Clarabel), the rest by multi-start Nelder-Mead.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import sympy as sp

from theorems.exact import arb_eval, rational_point
from theorems.sharp.problem import SharpProblem
from verify.errors import SolverFailure, UnsupportedFunction


def tilted_cross_check(problem: SharpProblem, radius: sp.Expr, *, seed: int = 0,
                       tilts: int = 8, margin: float = 0.05,
                       sides: tuple[str, ...] = ("below", "above"),
                       convex_only: bool = False) -> dict[str, Any] | None:
    """Solve argmin f - <xi, .> for tilts of dual norm (1 -/+ margin) * radius.

    Below the radius the minimizer must stay at the point; above it, it may move. Convex f
    (certified by cvxpy's DCP rules) are solved as conic programs with Clarabel; the rest by
    multi-start Nelder-Mead. This is a numerical cross-check of the exact decision, not a
    decider: its outcome is recorded in the evidence.

    A tilted problem counts as *moved* only when the point y it returned is re-checked in ball
    arithmetic: f(y) - <xi, y> < f(p) - <xi, p> with xi rounded to a rational tilt whose dual
    norm is still below the radius (so y violates sharpness with modulus ``radius``). A solver
    that fails, or a move that does not survive the re-check, is recorded (``solver_failures``,
    ``unverified``) and never counted. With ``convex_only`` it returns None when f is not
    certified convex.
    """
    from theorems.convex import tilted_argmin

    rng = np.random.default_rng(seed)
    d = problem.dim
    p = problem.p
    result: dict[str, Any] = {"below_moved": 0, "above_moved": 0, "tilts": tilts,
                              "solver": "cvxpy/Clarabel", "solver_failures": [],
                              "unverified": {"below": 0, "above": 0}}
    tol = 1e-5 * (1 + np.linalg.norm(p))
    for side, factor in (("below", 1 - margin), ("above", 1 + margin)):
        if side not in sides:
            continue
        moved = 0
        for _ in range(tilts):
            u = rng.standard_normal(d)
            dual = {"2": np.linalg.norm(u), "1": np.max(np.abs(u)), "inf": np.sum(np.abs(u))}
            xi = u / dual[problem.norm] * factor * float(radius)
            try:
                y, _ = tilted_argmin(problem.f, problem.variables, xi)
                candidates = [y] if np.linalg.norm(y - p) > tol else []
            except UnsupportedFunction:
                if convex_only:
                    return None
                result["solver"] = "multi-start Nelder-Mead"
                candidates = _nelder_mead_tilted(problem, xi, u, rng)
            except SolverFailure as exc:
                result["solver_failures"].append(f"{side}: {exc}")
                continue
            if not candidates:
                continue
            if any(tilt_beats_point(problem, y, xi) for y in candidates):
                moved += 1
            else:
                result["unverified"][side] += 1
        result[f"{side}_moved"] = moved
    failures = len(result["solver_failures"])
    result["summary"] = (f"tilted problems ({result['solver']}): {result['below_moved']}/"
                         f"{tilts} moved below the radius, {result['above_moved']}/{tilts} "
                         "above it (moves re-checked in ball arithmetic)"
                         + (f"; {failures} solves failed (not counted)" if failures else ""))
    return result


def _nelder_mead_tilted(problem: SharpProblem, xi: np.ndarray, u: np.ndarray,
                        rng: np.random.Generator) -> list[np.ndarray]:
    """Points found by multi-start Nelder-Mead with a lower tilted value than the point."""
    import warnings

    from scipy.optimize import minimize

    d, p = problem.dim, problem.p

    def tilted(x: np.ndarray) -> float:
        value = problem.fvalues(x[None, :])[0] - xi @ x
        return float(value) if np.isfinite(value) else 1e300

    base = tilted(p)
    found = []
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        for start in [p + 0.5 * rng.standard_normal(d) for _ in range(3)] + [p + 1e-3 * u]:
            res = minimize(tilted, start, method="Nelder-Mead",
                           options={"xatol": 1e-10, "fatol": 1e-13, "maxiter": 2000})
            if float(res.fun) < base - 1e-9 * (1 + abs(base)):
                found.append(np.asarray(res.x, dtype=float))
    return found


def tilt_beats_point(problem: SharpProblem, y: np.ndarray, xi: np.ndarray) -> bool:
    """True when a rational point near ``y`` and a rational tilt near ``xi`` satisfy
    f(y) - <xi, y> < f(p) - <xi, p> in ball arithmetic (the move is real, not round-off)."""
    try:
        xq = rational_point(xi, 10**12)
    except ValueError:
        return False
    for denominator in (10**6, 10**12, 10**16):
        try:
            yq = rational_point(y, denominator)
            if yq == tuple(problem.point):
                continue
            lin = sum(c * (a - b) for c, a, b in zip(xq, yq, problem.point))
            gap = arb_eval(problem.f.subs(dict(zip(problem.variables, yq))) - problem.f_point
                           - lin)
        except (ValueError, ZeroDivisionError):
            continue
        if gap < 0:
            return True
    return False
