"""SymPy -> cvxpy for convex functions, and tilted problems solved as conic programs.

:func:`to_cvxpy` maps sums, constant multiples, ``Abs``, ``Max``, ``Min``, even integer
powers, ``sqrt`` of a sum of squares of affine terms (a 2-norm) and ``exp`` to cvxpy atoms; the
result is used only when cvxpy's DCP analysis certifies it convex. Solver statuses other than
optimal are reported, never read as answers.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import sympy as sp

from verify.errors import SolverFailure, UnsupportedFunction


def to_cvxpy(expr: sp.Expr, variables: Sequence[sp.Symbol], x: Any) -> Any:
    import cvxpy as cp

    index = {v: i for i, v in enumerate(variables)}

    def conv(e: sp.Expr) -> Any:
        if e.is_Symbol:
            return x[index[e]]
        if e.is_number:
            value = complex(sp.N(e, 30))
            if abs(value.imag) > 0:
                raise UnsupportedFunction(f"complex constant {e}")
            return float(value.real)
        if e.is_Add:
            return sum((conv(a) for a in e.args[1:]), conv(e.args[0]))
        if e.is_Mul:
            consts = [a for a in e.args if a.is_number]
            rest = [a for a in e.args if not a.is_number]
            if len(rest) != 1:
                raise UnsupportedFunction(f"product of non-constants {e}")
            return float(sp.Mul(*consts)) * conv(rest[0])
        if e.is_Pow:
            base, exp = e.args
            if exp == sp.Rational(1, 2) and base.is_Add and all(
                    a.is_Pow and a.exp == 2 for a in base.args):
                return cp.norm(cp.hstack([conv(a.base) for a in base.args]), 2)
            if exp.is_Integer and int(exp) >= 2 and int(exp) % 2 == 0:
                return cp.power(conv(base), int(exp))
            if exp == 1:
                return conv(base)
            raise UnsupportedFunction(f"power {e}")
        if isinstance(e, sp.Abs):
            return cp.abs(conv(e.args[0]))
        if isinstance(e, sp.Max):
            return cp.max(cp.hstack([conv(a) for a in e.args]))
        if isinstance(e, sp.Min):
            return cp.min(cp.hstack([conv(a) for a in e.args]))
        if isinstance(e, sp.exp):
            return cp.exp(conv(e.args[0]))
        raise UnsupportedFunction(f"cvxpy conversion of {type(e).__name__}")

    return conv(expr)


def tilted_argmin(expr: sp.Expr, variables: Sequence[sp.Symbol], xi: np.ndarray
                  ) -> tuple[np.ndarray, float]:
    """argmin f(y) - <xi, y> for convex f by a conic program (Clarabel).

    Raises UnsupportedFunction when f is not certified convex (DCP) and SolverFailure when the
    solver does not end optimal (e.g. the tilted problem is unbounded)."""
    import cvxpy as cp

    x = cp.Variable(len(variables))
    objective = to_cvxpy(expr, variables, x) - xi @ x
    problem = cp.Problem(cp.Minimize(objective))
    if not problem.is_dcp():
        raise UnsupportedFunction("f is not DCP-convex")
    try:
        problem.solve(solver=cp.CLARABEL)
    except cp.error.SolverError as exc:
        raise SolverFailure(f"Clarabel failed: {exc}") from None
    if problem.status != cp.OPTIMAL:
        raise SolverFailure(f"solver status {problem.status}")
    return np.asarray(x.value, dtype=float), float(problem.value)
