"""Symmetries and conserved quantities of gradient flows (Josz, and the balancedness of matrix
factorization).

Why symmetric generators give conserved quantities: if grad f(x) . A x = 0 for every x (f is
invariant under x -> exp(tA) x) and A is symmetric, then q(x) = x^T A x / 2 has grad q = A x, so
along the gradient flow x' = -grad f(x), dq/dt = -(A x) . grad f(x) = 0.
"""

from __future__ import annotations

from typing import Sequence

import sympy as sp

from theorems.exact import gradient
from verify.errors import InvalidClaim
from verify.kernel.facts import same_span

__all__ = ["cayley_orthogonal", "exact_balanced_minimizer", "linear_symmetries",
           "matrix_factorization", "quadratic_conserved_quantities", "same_span"]


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


# --------------------------------------------------------------------------------------------
# matrix factorization with exact data (rational SVDs)
# --------------------------------------------------------------------------------------------

def cayley_orthogonal(S: sp.Matrix) -> sp.Matrix:
    """The rational orthogonal matrix (I - S)(I + S)^-1 of a rational skew-symmetric S."""
    if S != -S.T:
        raise InvalidClaim("the Cayley transform needs a skew-symmetric matrix")
    eye = sp.eye(S.rows)
    return (eye - S) * (eye + S).inv()


def exact_balanced_minimizer(U: sp.Matrix, s: Sequence[sp.Expr], V: sp.Matrix, k: int,
                             Q: sp.Matrix) -> tuple[sp.Matrix, sp.Matrix, sp.Matrix]:
    """M = U_r diag(s)^2 V_r^T (U, V orthogonal, r = len(s) <= k) and its balanced global
    minimizer X = [U_r diag(s), 0] Q, Y = [V_r diag(s), 0] Q of ||X Y^T - M||^2 / 2 (the
    explicit form, exactly: singular values s_i^2 with square roots s_i)."""
    r = len(s)
    if r > k:
        raise InvalidClaim(f"rank {r} exceeds k = {k}")
    root = sp.zeros(r, k)
    for i, si in enumerate(s):
        root[i, i] = si
    X = U[:, :r] * root * Q
    Y = V[:, :r] * root * Q
    M = U[:, :r] * sp.diag(*[si ** 2 for si in s]) * V[:, :r].T
    return M, X, Y
