"""Deciding flat-minimum claims (Ahn, Jadbabaie, Sra, Definitions 2 and 3).

* Definition 2 (no ``eps``): the gradient must vanish exactly (else refuted), the exact Hessian
  be PSD (else refuted with a negative direction); d Phi at the point is the orthogonal
  projector P onto ker Hess f when the minima form a Morse-Bott manifold (Assumption 1),
  verified exactly for weighted sums of squares vanishing at the point with a full-rank
  residual Jacobian, or when Hess f is positive definite; then P grad tr-bar = 0 proves and a
  non-zero tangential gradient refutes, each with a certificate the kernel re-derives. Without
  an exact Assumption 1, P is compared with a finite-difference d Phi: evidence at best.
* Definition 3 (``eps``, ``eps2``, ``first``): Phi(x) by the gradient flow at two tolerances,
  d Phi by central differences at two steps: evidence when the values clear the thresholds by
  more than those differences; a numerical violation is inconclusive (an ODE integration is not
  a re-checkable disproof).
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import sympy as sp

from numerics import flows
from theorems.escape.mathematics import (manifold_assumption, normalized_trace,
                                         numeric_oracles, tangent_projector)
from theorems.exact import gradient
from verify.errors import InvalidClaim
from verify.verdict import Assumption, Decision, Verdict

FIRST_CONDITIONS = ("distance", "value", "gradient")
ASSUMPTION = "minima near x form a manifold with tangent space ker Hess f (Assumption 1)"


def decide_flat_minimum(claim: dict[str, Any], f: sp.Expr, variables: Sequence[sp.Symbol],
                        point: Sequence[sp.Expr], *, eps: Any = None, eps2: Any = None,
                        first: str = "distance") -> Verdict:
    """Is ``point`` a flat local minimum (Definition 2), or, with ``eps``/``eps2``, an
    (eps, eps2)-flat local minimum (Definition 3, first condition ``first``)?"""
    if first not in FIRST_CONDITIONS:
        raise InvalidClaim(f"first must be one of {FIRST_CONDITIONS}, got {first!r}")
    variables = tuple(variables)
    if len(point) != len(variables):
        raise InvalidClaim(f"point has {len(point)} coordinates, f has {len(variables)} "
                           "variables")
    smooth = not f.has(sp.Abs, sp.Max, sp.Min, sp.sign)
    if not smooth:
        raise InvalidClaim(f"f = {f} has kinks (Abs/Max/Min/sign): flat minima are defined "
                           "through the Hessian of a C^2 function")
    d = Decision(claim)
    if eps is None and eps2 is None:
        return _flat_exact(d, f, variables, list(point))
    return _flat_numeric(d, f, variables, point, 0.0 if eps is None else float(eps),
                         0.0 if eps2 is None else float(eps2), first)


def _zero_status(vector: sp.Matrix) -> tuple[bool | None, int | None]:
    """(True, None) if every entry is exactly zero, (False, i) if entry i is exactly non-zero,
    (None, None) if SymPy cannot tell (never decided by the shape of an expression)."""
    states = [sp.simplify(c).is_zero for c in vector]
    for i, s in enumerate(states):
        if s is False:
            return False, i
    return (True, None) if all(s is True for s in states) else (None, None)


def _negative_direction(H: sp.Matrix) -> sp.Matrix:
    """A rational candidate for a direction of negative curvature (checked exactly by the
    caller): a negative diagonal entry's unit vector, else the rounded bottom eigenvector."""
    for i in range(H.rows):
        if H[i, i].is_negative:
            return sp.eye(H.rows)[:, i]
    _, V = np.linalg.eigh(np.array(H.tolist(), dtype=float))
    return sp.Matrix([sp.Rational(round(float(c), 6)).limit_denominator(10 ** 6)
                      for c in V[:, 0]])


def _flat_exact(d: Decision, f: sp.Expr, variables: tuple, x: list) -> Verdict:
    at = dict(zip(variables, x))
    g = gradient(f, variables).subs(at).applyfunc(sp.simplify)
    zero, index = _zero_status(g)
    if zero is False:
        return d.refuted("exact gradient", f"grad f = {list(g)} != 0 at the point: not a "
                         "critical point, hence not a local minimum (Definition 2 needs x in X*)",
                         certificate={"kind": "nonzero-gradient", "index": index},
                         counterexample={"gradient": [str(c) for c in g]})
    if zero is None:
        return d.inconclusive("exact gradient", f"could not decide whether grad f = {list(g)} "
                              "vanishes")
    H = sp.hessian(f, variables).subs(at).applyfunc(sp.simplify)
    psd = H.is_positive_semidefinite
    if psd is not True:
        v = _negative_direction(H)
        curvature = sp.simplify(v.dot(H * v))
        if psd is False and (curvature < 0) is sp.true:
            return d.refuted("exact Hessian", "the Hessian has a negative direction: not a "
                             "local minimum", certificate={"kind": "negative-curvature",
                                                           "direction": [str(c) for c in v]},
                             counterexample={"direction": [str(c) for c in v],
                                             "curvature": str(curvature)})
        return d.inconclusive("exact Hessian", "could not decide whether the Hessian is "
                              "positive semidefinite, or find an exact negative direction")
    P = tangent_projector(H)
    tb = normalized_trace(f, variables)
    tangential = (P * gradient(tb, variables).subs(at)).applyfunc(sp.simplify)
    size = sp.sqrt(sum(c ** 2 for c in tangential))
    ev = {"tangent_dimension": len(H.nullspace()), "projector": str(P.tolist()),
          "tangential_grad_trbar": [str(c) for c in tangential], "norm": str(size),
          "norm_float": float(size)}
    holds, how = manifold_assumption(f, variables, at, H)
    assumption = Assumption(ASSUMPTION, holds, how)
    flat, index = _zero_status(tangential)
    if flat is None:
        return d.inconclusive("exact tangential gradient", "could not decide whether the "
                              f"tangential gradient of tr-bar {list(tangential)} vanishes",
                              evidence=ev, assumptions=[assumption])
    if holds:
        if flat:
            return d.proved("exact: d Phi = projector onto ker Hess f; P grad tr-bar = 0",
                            f"a flat local minimum: {how}; the tangential gradient of tr-bar "
                            "vanishes", certificate={"kind": "flat-exact"}, evidence=ev,
                            assumptions=[assumption])
        return d.refuted("exact: d Phi = projector onto ker Hess f",
                         f"not flat: ||d Phi grad tr-bar|| = {size} = {float(size):.6g} != 0 "
                         f"({how})", certificate={"kind": "tangential-gradient", "index": index},
                         counterexample={"tangential_grad_trbar": [str(c) for c in tangential],
                                         "norm": str(size)},
                         evidence=ev, assumptions=[assumption])
    # the manifold structure is not verified exactly: compare with the numerical d Phi
    orc = numeric_oracles(f, variables)
    xf = np.array([float(c) for c in x])
    J = flows.limit_map_jacobian(orc["grad"], xf)
    gap = float(np.abs(J - np.array(P.tolist(), dtype=float)).max())
    numeric = float(np.linalg.norm(J @ orc["grad_trbar"](xf)))
    ev.update({"finite_difference_dPhi": J.tolist(), "projector_gap": gap,
               "numeric_norm": numeric})
    if gap <= 1e-5 and flat:
        return d.evidence("exact tangential gradient; d Phi = projector checked numerically",
                          f"tangential gradient of tr-bar vanishes exactly; the projector "
                          f"matches finite-difference d Phi to {gap:.1e}; {how}",
                          sample_size=2 * len(xf), evidence=ev)
    if gap <= 1e-5 and not flat and numeric > 1e-3:
        # d Phi = P rests on finite differences of an ODE flow here: not a re-checkable disproof
        return d.inconclusive("exact tangential gradient, finite-difference d Phi",
                              f"numerically not flat, not re-checkable: ||P grad tr-bar|| = "
                              f"{float(size):.6g}, finite-difference d Phi gives {numeric:.6g}; "
                              f"Assumption 1 is not verified exactly ({how})",
                              evidence={**ev, "numerically_violated": True},
                              assumptions=[assumption])
    return d.inconclusive("exact tangential gradient vs finite-difference d Phi",
                          f"the projector onto ker Hess f and finite-difference d Phi differ by "
                          f"{gap:.1e}: the minima may not form a Morse-Bott manifold here",
                          evidence=ev, assumptions=[assumption])


def _flat_numeric(d: Decision, f: sp.Expr, variables: tuple, point: Sequence[Any], eps: float,
                  eps2: float, first: str) -> Verdict:
    orc = numeric_oracles(f, variables)
    x = np.array([float(p) for p in point])
    tight, loose = (flows.limit_map(orc["grad"], x, rtol=r, atol=r * 1e-2)
                    for r in (1e-12, 1e-9))
    if not tight.converged:
        return d.inconclusive("gradient flow", f"the gradient flow from the point did not "
                              f"converge (||grad|| = {tight.grad_norm:.2e} at t = "
                              f"{tight.time:.3g})", evidence={"grad_norm": tight.grad_norm})
    xs = tight.point
    first_value = {"distance": float(np.linalg.norm(x - xs)),
                   "value": orc["f"](x) - orc["f"](xs),
                   "gradient": float(np.linalg.norm(orc["grad"](x)))}[first]
    first_err = {"distance": float(np.linalg.norm(tight.point - loose.point)),
                 "value": abs(orc["f"](tight.point) - orc["f"](loose.point)),
                 "gradient": 1e-12 * max(1.0, first_value)}[first]
    J = flows.limit_map_jacobian(orc["grad"], xs)
    J2 = flows.limit_map_jacobian(orc["grad"], xs, h=2e-5)
    second = float(np.linalg.norm(J @ orc["grad_trbar"](xs)))
    second_err = abs(second - float(np.linalg.norm(J2 @ orc["grad_trbar"](xs)))) + 1e-9
    ev = {"phi": xs.tolist(), "first": first, "first_value": first_value,
          "first_error": first_err, "second_value": second, "second_error": second_err,
          "flow_time": tight.time, "rtol": tight.rtol}
    holds = first_value + first_err <= eps and second + second_err <= eps2
    fails = first_value - first_err > eps or second - second_err > eps2
    if holds:
        return d.evidence("gradient flow (LSODA) and finite-difference d Phi",
                          f"({eps:g}, {eps2:g})-flat: {first} {first_value:.3g} (+/- "
                          f"{first_err:.1e}), ||d Phi grad tr-bar|| = {second:.3g} (+/- "
                          f"{second_err:.1e}) at Phi(x) = {np.round(xs, 6).tolist()}",
                          sample_size=4 * len(x) + 2, evidence=ev)
    if fails:
        # a disproof by ODE integration and finite differences cannot be re-checked
        return d.inconclusive("gradient flow (LSODA) and finite-difference d Phi, two "
                              "tolerances", f"numerically not ({eps:g}, {eps2:g})-flat, not "
                              f"re-checkable: {first} {first_value:.3g}, ||d Phi grad tr-bar|| = "
                              f"{second:.3g} (differences between two tolerances "
                              f"{first_err:.1e}, {second_err:.1e}); an integration of the flow "
                              "cannot refute", evidence={**ev, "numerically_violated": True})
    return d.inconclusive("gradient flow and finite-difference d Phi",
                          "within numerical error of the thresholds", evidence=ev)
