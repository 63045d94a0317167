"""Ball arithmetic for the kernel (and for every decider): SymPy expressions evaluated at
rational points, or over boxes, in python-flint ``arb`` balls that contain the true value
whatever round-off did. Comparisons of balls (``ball < 0``) are True only when certain.

Supported: rationals, ``pi``, ``E``, +, *, integer and rational powers, ``Abs``, ``Max``,
``Min``, ``sign`` (the ball [-1, 1] where the sign is undecided), ``Heaviside`` ([0, 1] where
undecided: the derivative SymPy gives for Max/Min, which also encloses the Clarke gradient at
a kink), ``exp``, ``log``, ``sin``, ``cos``, ``tan``, ``tanh``, ``sinh``, ``cosh``, ``atan``.
Anything else raises ValueError.
"""

from __future__ import annotations

import math
import numbers
from fractions import Fraction
from typing import Any, Callable, Mapping, Sequence

import flint
import sympy as sp

ARB_PRECISION = 212  # bits


def to_fmpq(q: Any) -> flint.fmpq:
    """An exact python-flint rational from a Fraction, int or SymPy rational."""
    if isinstance(q, Fraction):
        return flint.fmpq(q.numerator, q.denominator)
    q = sp.Rational(q)
    return flint.fmpq(int(q.p), int(q.q))


def _is_rational(v: Any) -> bool:
    """An int, a Fraction, a NumPy integer or a SymPy rational (never text: nothing here
    parses strings)."""
    if isinstance(v, bool):
        return False
    return isinstance(v, numbers.Rational) or (isinstance(v, sp.Basic) and bool(v.is_Rational))


def arb_eval(expr: sp.Basic, point: Mapping[sp.Symbol, Any] | None = None) -> flint.arb:
    """Enclose the value of ``expr`` at a rational ``point`` in a ball.

    Raises ValueError where the expression is undefined at the point (or the ball cannot tell,
    e.g. a fractional power of a ball that contains negative numbers).
    """
    old = flint.ctx.prec
    flint.ctx.prec = ARB_PRECISION
    try:
        point = dict(point or {})
        balls = [flint.arb(to_fmpq(v)) if _is_rational(v) else arb_eval(v)
                 for v in point.values()]           # an exact constant: its own ball
        out = arb_compile(expr, list(point))(balls)
        if not out.is_finite():
            raise ValueError(f"{expr} is not finite at {dict(point or {})}")
        return out
    finally:
        flint.ctx.prec = old


_ARB_FUNCS = {sp.exp: "exp", sp.log: "log", sp.sin: "sin", sp.cos: "cos", sp.tan: "tan",
              sp.tanh: "tanh", sp.sinh: "sinh", sp.cosh: "cosh", sp.atan: "atan"}


def arb_compile(expr: sp.Basic, variables: Sequence[sp.Symbol]) -> Callable[[Sequence[flint.arb]], flint.arb]:
    """Compile ``expr`` once into a function of a list of balls (one per variable, in order)
    returning a ball that contains every value of ``expr`` over those balls (interval
    arithmetic). Raises ValueError where the expression is undefined or the ball cannot tell."""
    index = {s: i for i, s in enumerate(variables)}
    return _compile(expr, index)


def _even_power(b: flint.arb, n: int) -> flint.arb:
    """b**n for even n, tight when the ball contains 0 (arb would return a symmetric ball)."""
    lo, hi = abs(b.lower()), abs(b.upper())
    top = (lo.max(hi)) ** n
    if b.contains(0):
        return flint.arb(0).union(top)
    return ((lo.min(hi)) ** n).union(top)


def _compile(e: sp.Basic, index: Mapping[sp.Symbol, int]) -> Callable:
    if e.is_Symbol:
        if e not in index:
            raise ValueError(f"no value for {e}")
        i = index[e]
        return lambda v: v[i]
    if e.is_Rational or e.is_Float:
        c = to_fmpq(sp.Rational(e))
        return lambda v: flint.arb(c)
    if e is sp.pi:
        return lambda v: flint.arb.pi()
    if e is sp.E:
        return lambda v: flint.arb(1).exp()
    if e.is_Add or e.is_Mul:
        parts = [_compile(a, index) for a in e.args]
        if e.is_Add:
            def add(v):
                out = flint.arb(0)
                for p in parts:
                    out += p(v)
                return out
            return add

        def mul(v):
            out = flint.arb(1)
            for p in parts:
                out *= p(v)
            return out
        return mul
    if e.is_Pow:
        base = _compile(e.base, index)
        if e.exp.is_Integer:
            n = int(e.exp)

            def ipow(v):
                b = base(v)
                if n < 0 and b.contains(0):
                    raise ValueError(f"division by a ball containing 0 in {e}")
                if n > 0 and n % 2 == 0:
                    return _even_power(b, n)
                return b ** n
            return ipow
        expo = _compile(e.exp, index)
        half = e.exp == sp.Rational(1, 2)
        positive = bool(e.exp.is_positive)

        def rpow(v):
            b = base(v)
            if half:
                if not b >= 0:
                    raise ValueError(f"sqrt of a ball not certainly >= 0 in {e}")
                return b.sqrt()
            if b.is_zero() and positive:
                return flint.arb(0)
            if not b > 0:
                raise ValueError(f"fractional power of a ball not certainly positive in {e}")
            return (expo(v) * b.log()).exp()
        return rpow
    if isinstance(e, sp.Abs):
        inner = _compile(e.args[0], index)
        return lambda v: abs(inner(v))
    if isinstance(e, (sp.Max, sp.Min)):
        parts = [_compile(a, index) for a in e.args]
        is_max = isinstance(e, sp.Max)

        def extreme(v):
            args = [p(v) for p in parts]
            out = args[0]
            for a in args[1:]:
                out = out.max(a) if is_max else out.min(a)
            return out
        return extreme
    if isinstance(e, sp.sign):
        inner = _compile(e.args[0], index)

        def sign(v):
            a = inner(v)
            if a > 0:
                return flint.arb(1)
            if a < 0:
                return flint.arb(-1)
            if a.is_zero():
                return flint.arb(0)
            return flint.arb(-1).union(flint.arb(1))  # every value sign takes on the ball
        return sign
    if isinstance(e, sp.Heaviside):
        # the derivative SymPy gives for Max/Min; enclosed by [0, 1] where the argument's sign
        # is undecided (whatever the convention at 0), which also encloses the Clarke
        # generalized gradient at a kink, so mean-value forms stay sound
        inner = _compile(e.args[0], index)

        def heaviside(v):
            a = inner(v)
            if a > 0:
                return flint.arb(1)
            if a < 0:
                return flint.arb(0)
            return flint.arb(0).union(flint.arb(1))
        return heaviside
    for func, name in _ARB_FUNCS.items():
        if isinstance(e, func):
            inner = _compile(e.args[0], index)

            def apply(v, name=name):
                arg = inner(v)
                if name == "log" and not arg > 0:
                    raise ValueError(f"log of a ball not certainly positive in {e}")
                return getattr(arg, name)()
            return apply
    raise ValueError(f"cannot evaluate {type(e).__name__} in ball arithmetic")


def arb_lo(ball: flint.arb) -> float:
    """A float that is certainly <= every number in the ball (the endpoint itself when the
    nearest float is already below it, e.g. an exact 0)."""
    end = ball.lower()
    value = float(end)
    return value if flint.arb(value) <= end else math.nextafter(value, -math.inf)


def arb_hi(ball: flint.arb) -> float:
    """A float that is certainly >= every number in the ball."""
    end = ball.upper()
    value = float(end)
    return value if flint.arb(value) >= end else math.nextafter(value, math.inf)


def rational_point(values: Sequence[float], max_denominator: int = 10**12) -> tuple:
    """Rational approximations of float coordinates (for exact re-evaluation)."""
    out = []
    for v in values:
        if not math.isfinite(v):
            raise ValueError(f"non-finite coordinate {v}")
        out.append(sp.Rational(Fraction(v).limit_denominator(max_denominator)))
    return tuple(out)
