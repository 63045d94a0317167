r"""Convex cone bounds: sharpness of a convex f from its directional derivative at the point.

Dominguez Corella, Definition 1: x-bar is a sharp minimizer with modulus m when
f(x) >= f(x-bar) + m ||x - x-bar|| for all x, and alpha* is the best such m. For a convex f
the difference quotient is nondecreasing along rays, so with sigma(h) = f'(x-bar; h)

    sharp with modulus m  <=>  sigma(h) >= m ||h|| for all h  <=>  m B_* inside the
    subdifferential,        alpha* = min over ||h|| = 1 of sigma(h),

B_* the dual unit ball. :mod:`verify.kernel.cone` recognises convexity by its own rules and
computes sigma exactly; this module finds the certificates it checks:

* norm ``inf``: +-m e_i in the subdifferential (2d small LPs, HiGHS, rounded to exact
  vertices); alpha* is the least of the LP values min sigma(h) on the facets h_i = +-1 of the
  cube;
* norm ``1``: one LP for an *affine* family of weights that puts m s in the subdifferential
  for every sign vector s (exact for separable and square zonotope structures), else the
  2^d vertices one by one (d <= :data:`MAX_VERTEX_DIM`); counterexamples from the LPs on the
  facets of the cross-polytope;
* norm ``2``: a degree-2 S-lemma certificate found by an SDP (Clarabel) and rounded; upper
  bounds from a subgradient search on the sphere, polished to the exact point of least norm
  of the face of the subdifferential it touches;
* any norm, last: z3 and cvc5 on the reduced claim sigma(h) >= m ||h|| (no quadratic terms,
  far fewer pieces than f), within :data:`REDUCED_BUDGET` resource units.

A violated cone inequality, sigma(h) < m ||h|| for an exact rational h, becomes a ``point``
counterexample p + t h (ball arithmetic). Nothing that does not verify exactly decides: a
failed solve, a rounding that does not check, a non-optimal status give None, and the caller
goes on with the general path (:mod:`theorems.sharp.deciders`).
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any, Sequence

import sympy as sp

from theorems.exact import Budget, arb_eval, arb_hi, arb_lo
from theorems.sharp.cone_case import (MAX_VERTEX_DIM, REDUCED_BUDGET, ConeCase, _frac, _q,
                                      _s, analyse)
from theorems.sharp.cone_lower import (_affine, _certificate, _reduced_smt, _vertices,
                                       prove_lower)
from theorems.sharp.cone_upper import quick_upper, upper
from theorems.sharp.problem import SharpProblem
from verify.kernel.facts import sign_holds
from verify.verdict import Decision, Verdict

# --------------------------------------------------------------------------------------------
# verdicts
# --------------------------------------------------------------------------------------------

def violation_point(problem: SharpProblem, h: Sequence[Fraction], m: sp.Expr
                    ) -> tuple[tuple[sp.Rational, ...], Any] | None:
    """A rational x = p + t h with f(x) < f(p) + m ||x - p|| in ball arithmetic, or None."""
    for k in range(0, 16):
        t = sp.Rational(1, 10**k)
        x = tuple(p + t * _q(c) for p, c in zip(problem.point, h))
        if not all(c.is_Rational for c in x):      # an irrational point: a rational x near it
            x = tuple(sp.nsimplify(sp.Float(sp.N(c, 40), 40), rational=True,
                                   tolerance=float(t) * 1e-6) for c in x)
        try:
            gap = problem.gap_ball(x, m)
        except (ValueError, ZeroDivisionError):
            continue
        if gap < 0:
            return x, gap
    return None


def _below(ratio: sp.Expr, m: sp.Expr) -> bool:
    return bool(arb_eval(ratio - m) < 0)


def _refute(d: Decision, problem: SharpProblem, h: tuple, ratio: sp.Expr, m: sp.Expr,
            ev: dict) -> Verdict | None:
    hit = violation_point(problem, h, m)
    if hit is None:
        return None
    x, gap = hit
    counter = {"x": [str(c) for c in x], "x_float": [float(c) for c in x],
               "direction": [_s(c) for c in h], "ratio_limit": str(ratio),
               "f(x) - f(point) - modulus*||x - point||": {"upper": arb_hi(gap),
                                                            "lower": arb_lo(gap)},
               "modulus": str(m), "rechecked_by": "python-flint ball arithmetic",
               "found_by": "convex cone bound"}
    return d.refuted("convex cone bound, re-checked in ball arithmetic",
                     f"f'(point; h) / ||h|| = {ratio} < {m} for h = {counter['direction']}: "
                     f"f(x) < f(point) + {m}*||x - point|| at x = {counter['x']}",
                     certificate={"kind": "point", "x": counter["x"]}, counterexample=counter,
                     evidence=ev)


def _rational_at_least(m: sp.Expr, norm: str) -> sp.Expr:
    """m itself when the proofs can use it, else the simplest rational just above m."""
    if m.is_Rational or (norm == "2" and sp.expand(m ** 2).is_Rational):
        return m
    from theorems.sharp.problem import simple_rational_beside

    return simple_rational_beside(m, +1, rel=1e-9)


def decide_sharp(problem: SharpProblem, m: sp.Expr, *, claim: dict, seed: int = 0
                 ) -> Verdict | None:
    """Decide f(x) >= f(p) + m ||x - p|| for all x for a convex f (Dominguez Corella,
    Definition 1) by the cone bound, or None when f is not recognised convex or nothing
    verified (the caller then uses the general path)."""
    case = analyse(problem)
    if case is None:
        return None
    d = Decision(claim)
    m = sp.nsimplify(m) if not isinstance(m, sp.Basic) else m
    ev: dict[str, Any] = {"norm": problem.norm, "method": "convex cone bound",
                          "sigma": case.cone.root.text([v.name for v in problem.variables])}

    def proved(cert: dict, how: str) -> Verdict:
        return d.proved(f"convex cone bound ({how})", f"f is convex and f'(point; h) >= "
                        f"{cert['modulus']}*||h||_{problem.norm} for all h, hence f(x) >= "
                        f"f(point) + {m}*||x - point|| for all x", certificate=cert,
                        evidence=ev)

    def refuted(found: tuple | None) -> Verdict | None:
        if found is None or not _below(found[1], m):
            return None
        ev["upper_ratio"] = float(found[1])
        return _refute(d, problem, found[0], found[1], m, ev)

    m_proof = _rational_at_least(m, problem.norm)
    polyhedral = case.cone.polyhedral
    facets_first = case.norm == "inf" or case.d == 1     # 2d facet LPs: a global minimum
    found = None
    if polyhedral and (facets_first or case.norm == "2"):   # cheap upper bounds first: a
        found = upper(case, seed=seed) if facets_first else quick_upper(case, seed=seed)
        v = refuted(found)                                 # false claim needs no proof
        if v is not None:
            return v
    cert = prove_lower(case, m_proof, vertices=False)
    if cert is not None:
        how = "affine, via the 1-norm" if "via" in cert else next(
            k for k in ("members", "affine", "slemma", "zero") if k in cert)
        return proved(cert, how)
    if polyhedral:
        if not facets_first:           # the 1-norm's MILP, the 2-norm's full sphere search
            found = upper(case, seed=seed)
            v = refuted(found)
            if v is not None:
                return v
        if found is not None and case.touching and sign_holds(found[1] - m, "=="):
            cert = prove_lower(case, m, touching=case.touching)   # m = alpha*: tight
            if cert is not None:
                return proved(cert, "tight slemma")
        if problem.norm == "1" and 1 < case.d <= MAX_VERTEX_DIM and m_proof.is_Rational:
            proof, found = _vertices(case, _frac(m_proof))
            cert = _certificate(case, m_proof, proof)
            if cert is not None:
                return proved(cert, "members")
            v = refuted(found)
            if v is not None:
                return v
    texts, h = _reduced_smt(case, m, Budget(REDUCED_BUDGET))
    cert = _certificate(case, m, None if texts is None else {"reduced-smt": texts})
    if cert is not None:
        return proved(cert, "z3 and cvc5 on the reduced claim")
    if h is not None:
        return refuted((h, case.ratio(h)))
    return None


def modulus(case: ConeCase, *, seed: int = 0) -> dict[str, Any] | None:
    """alpha* of a convex f (Definition 1): {"upper": (h, ratio), "lower": certificate or
    None, "exact": alpha* or None}; None when no upper bound was found."""
    if not case.cone.polyhedral:
        return None
    found = upper(case, seed=seed)
    if found is None:
        return None
    if case.norm == "1" and case.d > 1:
        aff = _affine(case, None)
        if aff is not None and found[1].is_Rational and aff[1] == _frac(found[1]):
            cert = _certificate(case, found[1], {"affine": aff[0]})
            if cert is not None:
                return {"upper": found, "lower": cert, "exact": found[1]}
        if case.d <= MAX_VERTEX_DIM:       # every orthant unless the MILP proved its optimum
            found = upper(case, seed=seed, exhaustive=True) or found
    out: dict[str, Any] = {"upper": found, "lower": None, "exact": None}
    if bool(arb_eval(found[1]) < 0):
        return out
    cert = prove_lower(case, found[1], touching=getattr(case, "touching", ()))
    if cert is not None:
        out["lower"], out["exact"] = cert, found[1]
    return out


def decide_modulus(problem: SharpProblem, value: sp.Expr, *, claim: dict, seed: int = 0
                   ) -> Verdict | None:
    """Decide alpha* = value for a convex f (Dominguez Corella, Definition 1), or None."""
    case = analyse(problem)
    if case is None:
        return None
    d = Decision(claim)
    value = sp.nsimplify(value) if not isinstance(value, sp.Basic) else value
    r = modulus(case, seed=seed)
    if r is None:
        return None
    h, ratio = r["upper"]
    ev = {"norm": problem.norm, "method": "convex cone bound", "upper": str(ratio),
          "exact": str(r["exact"]) if r["exact"] is not None else None}
    if r["exact"] is not None and sp.simplify(r["exact"] - value) == 0:
        cert = {**r["lower"], "upper": {"direction": [_s(c) for c in h]}}
        return d.proved("convex cone bound", f"alpha* = {value}: f'(point; h) >= "
                        f"{value}*||h|| for all h, with equality at h = "
                        f"{cert['upper']['direction']}", certificate=cert,
                        bounds=(float(value), float(value)), evidence=ev)
    if _below(ratio, value):
        return _refute(d, problem, h, ratio, value, ev)
    if r["exact"] is not None and bool(arb_eval(r["exact"] - value) > 0):
        return d.refuted("convex cone bound", f"alpha* = {r['exact']} > {value}",
                         certificate=r["lower"], counterexample={
                             "claimed": str(value), "proved_modulus": r["lower"]["modulus"]},
                         bounds=(float(r["exact"]), float(r["exact"])), evidence=ev)
    return None


def best_constant(problem: SharpProblem, *, seed: int = 0) -> Any:
    """alpha* with its certificates for a convex f (a ModulusResult), or None."""
    from theorems.sharp.deciders import ModulusResult

    case = analyse(problem)
    r = modulus(case, seed=seed) if case is not None else None
    if r is None or r["exact"] is None:
        return None
    h, ratio = r["upper"]
    exact = r["exact"]
    return ModulusResult(lower=arb_lo(arb_eval(exact)), upper=arb_hi(arb_eval(exact)),
                         exact=exact, lower_how="convex cone bound (proof that alpha* >= "
                         f"{exact})", upper_how=f"f'(point; h)/||h|| = {ratio} at h = "
                         f"{[_s(c) for c in h]}", witness={"direction": [_s(c) for c in h]},
                         evaluations=0, lower_value=exact, upper_value=ratio,
                         lower_certificate=r["lower"],
                         upper_certificate={"kind": "ray-limit",
                                            "direction": [_s(c) for c in h], "at": "0+",
                                            "limit": str(ratio)})
