"""The catalog of named toy functions: each typed once, as a SymPy expression with its facts.

A :class:`Toy` declares its expression, variables, a reference point and the facts the papers
or our derivations state (sharpness modulus, minimizers, where it comes from). Numeric forms
come from :meth:`Toy.numpy` (``lambdify``); nothing here is typed twice elsewhere.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import sympy as sp

from numerics.lambdify import numpy_function


@dataclass(frozen=True)
class Toy:
    name: str
    variables: tuple[sp.Symbol, ...]
    expr: sp.Expr
    point: tuple[sp.Expr, ...]
    facts: dict[str, Any] = field(default_factory=dict)
    source: str = ""

    def numpy(self) -> Callable[..., Any]:
        """f as a NumPy function of one array of shape (..., d)."""
        fn = numpy_function(self.variables, self.expr)
        return lambda x: fn(*[x[..., i] for i in range(len(self.variables))])


def _symbols(n: int, stem: str = "x") -> tuple[sp.Symbol, ...]:
    if n == 1:
        return (sp.Symbol(stem, real=True),)
    return tuple(sp.Symbol(f"{stem}{i + 1}", real=True) for i in range(n))


def abs_plus_square(alpha0: sp.Expr = sp.Integer(1)) -> Toy:
    """alpha0 |x| + x^2 on R: sharp at 0 with modulus alpha0 (the paper's first toy function)."""
    (x,) = _symbols(1)
    alpha0 = sp.nsimplify(alpha0)
    return Toy(f"abs_plus_square({alpha0})", (x,), alpha0 * sp.Abs(x) + x**2, (sp.Integer(0),),
               {"modulus": {"2": alpha0, "1": alpha0, "inf": alpha0}, "supercoercive": True,
                "convex": True,
                "tilt_minimizer": lambda xi: (xi - alpha0 * sp.sign(xi)) / 2},
               "Dominguez Corella, threshold remark [D]")


def rhombus() -> Toy:
    """max(|x1|, 2|x2|) + ||x||^2: sharp at 0 with modulus 2/sqrt(5) in the 2-norm."""
    x1, x2 = _symbols(2)
    return Toy("rhombus", (x1, x2), sp.Max(sp.Abs(x1), 2 * sp.Abs(x2)) + x1**2 + x2**2,
               (sp.Integer(0), sp.Integer(0)),
               {"modulus": {"2": 2 / sp.sqrt(5), "1": sp.Rational(2, 3), "inf": sp.Integer(1)},
                "supercoercive": True, "convex": True},
               "Dominguez Corella, toy function 2 (derived)")


def euclid_plus_square(n: int = 2) -> Toy:
    """||x||_2 + ||x||^2 on R^n: sharp at 0 with modulus 1 in the 2-norm."""
    xs = _symbols(n)
    r2 = sum(x**2 for x in xs)
    return Toy(f"euclid_plus_square({n})", xs, sp.sqrt(r2) + r2, (sp.Integer(0),) * n,
               {"modulus": {"2": sp.Integer(1)}, "supercoercive": True, "convex": True},
               "Dominguez Corella, toy function 3 (derived)")


def sqrt_abs() -> Toy:
    """|x|^(1/2) on R: tilt condition holds vacuously, Assumption 1 fails, not sharp."""
    (x,) = _symbols(1)
    return Toy("sqrt_abs", (x,), sp.sqrt(sp.Abs(x)), (sp.Integer(0),),
               {"modulus": {"2": sp.Integer(0), "1": sp.Integer(0), "inf": sp.Integer(0)},
                "supercoercive": False, "convex": False},
               "Dominguez Corella, counterexample [R]")


def scaled_norm(alpha0: sp.Expr = sp.Integer(1), n: int = 1) -> Toy:
    """alpha0 ||x||_2: positively homogeneous, so Assumption 1 fails."""
    xs = _symbols(n)
    norm = sp.Abs(xs[0]) if n == 1 else sp.sqrt(sum(x**2 for x in xs))
    return Toy(f"scaled_norm({alpha0}, {n})", xs, alpha0 * norm, (sp.Integer(0),) * n,
               {"modulus": {"2": sp.nsimplify(alpha0)}, "supercoercive": False, "convex": True},
               "Dominguez Corella, caution on Assumption 1 [D]")


def smooth_bowl(n: int = 2) -> Toy:
    """||x||^2 + sum x_i^4: smooth with a minimum at 0, hence never sharp."""
    xs = _symbols(n)
    return Toy(f"smooth_bowl({n})", xs, sum(x**2 + x**4 for x in xs), (sp.Integer(0),) * n,
               {"modulus": {"2": sp.Integer(0)}, "supercoercive": True, "convex": True},
               "Dominguez Corella, C^1 implies not sharp [D]")


SHARP_TOYS = (abs_plus_square(sp.Rational(3, 2)), rhombus(), euclid_plus_square(2), sqrt_abs())
