"""Symmetries and conserved quantities (Josz, On the geometry of flat minima; THEORY.md 3.5).

Only this part of the paper is built so far: the ``conserved-quantity`` claim kind and the
discovery of linear symmetries with the quadratic conserved quantities they induce. The flatness
functions (maximal variation, level-set distance, the flatter preorder) are not built yet; their
claim kinds answer with an error naming this.

Why symmetric generators give conserved quantities: if grad f(x) . A x = 0 for every x (f is
invariant under x -> exp(tA) x) and A is symmetric, then q(x) = x^T A x / 2 has grad q = A x, so
along the gradient flow x' = -grad f(x), dq/dt = -(A x) . grad f(x) = 0.
"""

from __future__ import annotations

from typing import Sequence

import sympy as sp

from theorems._exact import gradient
from verify.errors import InvalidClaim
from verify.registry import check, decider
from verify.verdict import Claim, Status, Verdict, combine

PAPER = "Josz 2025 (On the geometry of flat minima)"


def decide_conserved_quantity(f: sp.Expr, q: sp.Expr, variables: Sequence[sp.Symbol], *,
                              id: str = "conserved-quantity") -> Verdict:
    """Is q constant along the gradient flow of f, i.e. <grad q, grad f> = 0 identically?
    Proved by simplification to zero; refuted with a rational point where the product is not
    zero (evaluated exactly)."""
    variables = tuple(variables)
    claim = {"f": str(f), "quantity": str(q), "variables": [str(v) for v in variables]}
    product = sp.expand(gradient(q, variables).dot(gradient(f, variables)))
    if sp.simplify(product) == 0:
        return Verdict(id=id, kind="conserved-quantity", status=Status.PROVED, claim=claim,
                       method="SymPy: <grad q, grad f> simplifies to 0",
                       message="q is conserved by the gradient flow of f")
    for point in _small_points(len(variables)):
        value = sp.simplify(product.subs(dict(zip(variables, point))))
        if value.is_zero is False:
            return Verdict(id=id, kind="conserved-quantity", status=Status.REFUTED, claim=claim,
                           method="exact evaluation at a rational point",
                           counterexample={"point": list(point), "product": value},
                           message=f"<grad q, grad f> = {value} at {list(point)}: q changes "
                                   "along the gradient flow")
    return Verdict(id=id, kind="conserved-quantity", status=Status.INCONCLUSIVE, claim=claim,
                   method="SymPy", message=f"<grad q, grad f> = {product} did not simplify to 0 "
                                           "and no rational witness was found")


def _small_points(d: int, count: int = 60):
    import itertools
    import random

    rng = random.Random(0)
    values = [sp.Integer(v) for v in (1, 2, -1, 3)] + [sp.Rational(1, 2), sp.Rational(-3, 2)]
    yield from itertools.islice(itertools.product(values[:3], repeat=d), 27)
    for _ in range(count):
        yield tuple(rng.choice(values) for _ in range(d))


@decider("conserved-quantity")
def decide_claim(claim: Claim, *, seed: int = 0, timeout: float | None = None) -> Verdict:
    p = claim.params
    return decide_conserved_quantity(p["f"], p["quantity"], p["variables"],
                                     id=claim.id or claim.kind)


def linear_symmetries(f: sp.Expr, variables: Sequence[sp.Symbol], *, symmetric: bool = False
                      ) -> list[sp.Matrix]:
    """A basis of the generators A of one-parameter linear symmetries x -> exp(tA) x of a
    polynomial f: the solutions of the linear equations grad f(x) . A x = 0 (every coefficient
    of the polynomial in x vanishes). ``symmetric=True`` restricts to symmetric A."""
    variables = tuple(variables)
    n = len(variables)
    if not f.is_polynomial(*variables):
        raise InvalidClaim(f"linear_symmetries needs a polynomial in {variables}, got {f}")
    entries = {}
    A = sp.zeros(n, n)
    for i in range(n):
        for j in range(n):
            if symmetric and j < i:
                A[i, j] = A[j, i]
                continue
            entries[(i, j)] = A[i, j] = sp.Symbol(f"a_{i}_{j}")
    x = sp.Matrix(variables)
    expr = sp.expand(gradient(f, variables).dot(A * x))
    eqs = sp.Poly(expr, *variables).coeffs() if expr != 0 else []
    unknowns = list(entries.values())
    M, _ = sp.linear_eq_to_matrix(eqs, unknowns) if eqs else (sp.zeros(0, len(unknowns)), None)
    basis = M.nullspace() if eqs else [sp.eye(len(unknowns))[:, k] for k in range(len(unknowns))]
    out = []
    for vec in basis:
        sub = dict(zip(unknowns, vec))
        out.append(A.subs(sub))
    return out


def quadratic_conserved_quantities(f: sp.Expr, variables: Sequence[sp.Symbol]
                                   ) -> list[sp.Expr]:
    """x^T A x / 2 for each symmetric symmetry generator A of f (see the module docstring)."""
    x = sp.Matrix(variables)
    return [sp.expand((x.T * A * x)[0] / 2) for A in linear_symmetries(f, variables,
                                                                        symmetric=True)]


def matrix_factorization(m: int, n: int, k: int, M: sp.Matrix | None = None):
    """f(X, Y) = ||X Y^T - M||_F^2 / 2 with X m x k, Y n x k; returns (f, variables, X, Y)."""
    X = sp.Matrix(m, k, lambda i, j: sp.Symbol(f"X{i}{j}", real=True))
    Y = sp.Matrix(n, k, lambda i, j: sp.Symbol(f"Y{i}{j}", real=True))
    M = M if M is not None else sp.Matrix(m, n, lambda i, j: sp.Integer((i + 2 * j) % 3 + 1))
    R = X * Y.T - M
    f = sum(c ** 2 for c in R) / 2
    return f, tuple(X) + tuple(Y), X, Y


def _same_span(found: list[sp.Expr], expected: list[sp.Expr], variables: tuple) -> bool:
    """Do two lists of quadratic forms span the same space?"""
    monos = sorted({m for e in found + expected for m in sp.Poly(e, *variables).monoms()})

    def row(e):
        p = sp.Poly(e, *variables)
        return [p.coeff_monomial(m) for m in monos]

    F, E = sp.Matrix([row(e) for e in found]), sp.Matrix([row(e) for e in expected])
    return F.rank() == E.rank() == sp.Matrix.vstack(F, E).rank()


@check("geometry.conserved-quantities", paper=PAPER, statement="THEORY 3.5 (symmetries, "
       "conserved quantities)", summary="linear-symmetry discovery reproduces X^T X - Y^T Y for "
       "matrix factorization (several sizes) and the balancedness quantities of deep scalar "
       "products; each discovered quantity is proved conserved")
def check_conserved_quantities(seed: int) -> Verdict:
    parts = []
    for m, n, k in ((2, 2, 1), (2, 3, 2), (3, 2, 2)):
        f, vs, X, Y = matrix_factorization(m, n, k)
        found = quadratic_conserved_quantities(f, vs)
        C = X.T * X - Y.T * Y
        expected = [sp.expand(C[i, j]) for i in range(k) for j in range(i, k)]
        same = _same_span(found, expected, vs)
        proofs = [decide_conserved_quantity(f, q, vs).status for q in found]
        ok = same and all(s is Status.PROVED for s in proofs)
        parts.append(Verdict(
            id=f"matrix factorization {m}x{n}, k={k}", kind="instance",
            status=Status.PROVED if ok else Status.INCONCLUSIVE, method="SymPy linear algebra",
            message=f"{len(found)} quadratic conserved quantities found; span equal to the "
                    f"entries of X^T X - Y^T Y: {same}; each proved conserved: "
                    f"{all(s is Status.PROVED for s in proofs)}"))
    w = sp.symbols("w1:4", real=True)
    f = (w[0] * w[1] * w[2] - 2) ** 2
    found = quadratic_conserved_quantities(f, w)
    expected = [w[0] ** 2 - w[1] ** 2, w[1] ** 2 - w[2] ** 2]
    ok = _same_span(found, expected, w)
    parts.append(Verdict(id="deep scalar product w1 w2 w3", kind="instance",
                         status=Status.PROVED if ok else Status.INCONCLUSIVE,
                         method="SymPy linear algebra",
                         message=f"found {found}; span = {{w1^2 - w2^2, w2^2 - w3^2}}: {ok}"))
    return combine("x", "check", parts, method="symmetry discovery")
