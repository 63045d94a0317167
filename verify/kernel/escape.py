"""Kernel obligations of flat minima (Ahn, Jadbabaie, Sra, Definition 2).

A claim ``flat-minimum`` ``{variables, f, point}`` (no ``eps``: Definition 3 is numerical and is
never decided) says the point is a flat local minimum: grad f = 0, Hess f PSD, and the
tangential gradient of tr-bar = tr(Hess f)/d vanishes, P grad tr-bar = 0 with P = d Phi the
orthogonal projector onto ker Hess f, which is d Phi when the minima form a manifold with that
tangent space there (Assumption 1). The kernel recomputes each fact exactly with SymPy:

* ``flat-exact``: gradient identically zero, Hessian positive semidefinite (SymPy's exact test),
  Assumption 1 verified exactly (Hess f positive definite, or f a weighted sum of squares
  vanishing at the point with a full-rank residual Jacobian), P grad tr-bar identically zero.
  Proves.
* ``nonzero-gradient`` ``{index}``: that partial derivative does not vanish at the point.
* ``negative-curvature`` ``{direction}``: a rational v with v^T Hess f v < 0.
* ``tangential-gradient`` ``{index}``: Assumption 1 verified exactly, and that component of
  P grad tr-bar does not vanish. Each refutes.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import sympy as sp

from verify.kernel import checker, require
from verify.kernel.balls import arb_eval
from verify.kernel.facts import identically_zero, parse, parse_constant


def normalized_trace(f: sp.Expr, variables: Sequence[sp.Symbol]) -> sp.Expr:
    """tr(Hess f)/d (Ahn et al., Section 4.1)."""
    return sp.expand(sum(sp.diff(f, v, 2) for v in variables) / len(variables))


def residual_form(f: sp.Expr) -> list[tuple[sp.Expr, sp.Expr]] | None:
    """f as sum_j c_j r_j^2 with numeric c_j > 0, read off the expression tree, or None."""
    if isinstance(f, sp.Pow) and f.exp == 2:
        return [(sp.Integer(1), f.base)]
    if isinstance(f, sp.Mul):
        coeff, rest = f.as_coeff_Mul()
        if coeff.is_number and coeff > 0 and rest != f:
            inner = residual_form(rest)
            return None if inner is None else [(coeff * c, r) for c, r in inner]
        return None
    if isinstance(f, sp.Add):
        out = []
        for term in f.args:
            part = residual_form(term)
            if part is None:
                return None
            out += part
        return out
    return None


def tangent_projector(H: sp.Matrix) -> sp.Matrix:
    """The orthogonal projector onto ker H (exact). At a minimum x* of a Morse-Bott manifold of
    minima, d Phi(x*) is this projector: Phi is the identity along the manifold and contracts
    the normal directions, which span range H = (ker H)^perp."""
    N = H.nullspace()
    if not N:
        return sp.zeros(H.rows, H.rows)
    B = sp.Matrix.hstack(*N)
    return sp.simplify(B * (B.T * B).inv() * B.T)


def manifold_assumption(f: sp.Expr, variables: Sequence[sp.Symbol], at: Mapping, H: sp.Matrix
                        ) -> tuple[bool | None, str]:
    """Assumption 1 at the point, checked exactly where possible: Hess f positive definite (an
    isolated strict minimum), or f = sum c_j r_j^2 with c_j > 0, f(x) = 0 and a residual
    Jacobian of full row rank (the minima near x form a manifold with tangent space
    ker J = ker Hess f)."""
    if len(H.nullspace()) == 0:
        return True, "Hess f is positive definite: an isolated strict minimum"
    form = residual_form(f)
    if form is not None and identically_zero(f.subs(at)):
        J = sp.Matrix([[sp.diff(r, v) for v in variables] for _, r in form]).subs(at)
        if J.rank() == len(form):
            return True, (f"f = sum of {len(form)} weighted squares vanishing at x with "
                          "full-rank residual Jacobian")
        return None, "residual Jacobian is rank deficient at x"
    return None, "f is not recognized as a sum of squares vanishing at x"


class FlatProblem:
    """f, its gradient, Hessian and tr-bar at the point of a claim, exactly."""

    def __init__(self, claim: Mapping[str, Any]):
        from verify.formula import make_symbols

        if claim.get("eps") is not None or claim.get("eps2") is not None:
            raise ValueError("Definition 3 (eps) is numerical: the kernel decides only "
                             "Definition 2")
        self.variables = make_symbols(claim["variables"])
        self.f = parse(claim["f"], self.variables)
        self.at = dict(zip(self.variables, [parse_constant(c) for c in claim["point"]]))
        self.gradient = sp.Matrix([sp.diff(self.f, v) for v in self.variables]).subs(self.at)
        self.hessian = sp.hessian(self.f, self.variables).subs(self.at).applyfunc(sp.simplify)

    def tangential(self) -> sp.Matrix:
        tb = normalized_trace(self.f, self.variables)
        grad_tb = sp.Matrix([sp.diff(tb, v) for v in self.variables]).subs(self.at)
        return (tangent_projector(self.hessian) * grad_tb).applyfunc(sp.simplify)


def _nonzero(value: sp.Expr) -> bool:
    try:
        return not arb_eval(value).contains(0)
    except (ValueError, ZeroDivisionError):
        return False


@checker("flat-exact", "nonzero-gradient", "negative-curvature", "tangential-gradient")
def _check_flat(claim: Mapping, status: str, cert: Mapping) -> tuple[bool, str]:
    if claim.get("kind") != "flat-minimum":
        return False, "a flat-minimum certificate is about a flat-minimum claim"
    p = FlatProblem(claim)
    kind = cert["kind"]
    if kind == "flat-exact":
        if status != "proved":
            return False, "flat-exact proves"
        if not all(identically_zero(g) for g in p.gradient):
            return False, "the gradient is not shown to vanish"
        if p.hessian.is_positive_semidefinite is not True:
            return False, "the Hessian is not shown positive semidefinite"
        holds, how = manifold_assumption(p.f, p.variables, p.at, p.hessian)
        if holds is not True:
            return False, f"Assumption 1 is not verified ({how})"
        return require(all(identically_zero(c) for c in p.tangential()),
                       "the tangential gradient of tr-bar is not shown to vanish")
    if status != "refuted":
        return False, f"{kind} refutes"
    if kind == "nonzero-gradient":
        return require(_nonzero(p.gradient[int(cert["index"])]),
                       "that partial derivative is not shown nonzero")
    if kind == "negative-curvature":
        v = sp.Matrix([parse_constant(c) for c in cert["direction"]])
        if not all(c.is_Rational for c in v):
            return False, "the direction must be rational"
        curvature = (v.T * p.hessian * v)[0, 0]
        return require(bool(arb_eval(curvature) < 0), "v^T H v < 0 is not certain")
    holds, how = manifold_assumption(p.f, p.variables, p.at, p.hessian)
    if holds is not True or p.hessian.is_positive_semidefinite is not True or \
            not all(identically_zero(g) for g in p.gradient):
        return False, f"not a verified minimum on a manifold ({how})"
    return require(_nonzero(p.tangential()[int(cert["index"])]),
                   "that component of P grad tr-bar is not shown nonzero")
