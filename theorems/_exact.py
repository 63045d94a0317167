"""Exact and rigorous evaluation shared by the theorem modules.

* :class:`Z3Encoder` translates SymPy expressions built from polynomials, rational powers,
  ``Abs``, ``Max``, ``Min`` and ``sign`` into z3 real arithmetic (nlsat decides it exactly).
  ``Abs``/``Max``/``Min`` become case splits (``If``); a rational power ``b**(p/q)`` becomes an
  auxiliary ``s >= 0`` with ``s**q == b**p`` and the domain condition ``b >= 0`` (SymPy's real
  branch); ``1/b`` adds ``b != 0``. Anything else raises :class:`UnsupportedFunction`.
* :func:`arb_eval` evaluates a SymPy expression at a rational point in ball arithmetic
  (python-flint ``arb``): the true value lies in the returned ball, whatever round-off did.
  Comparisons of balls (``ball < 0``) are True only when certain.
"""

from __future__ import annotations

import math
from fractions import Fraction
from typing import Any, Callable, Mapping, Sequence

import flint
import sympy as sp
import z3

from verify.errors import UnsupportedFunction

ARB_PRECISION = 212  # bits


def gradient(f: sp.Expr, variables: Sequence[sp.Symbol]) -> sp.Matrix:
    """The column vector of partial derivatives of f."""
    return sp.Matrix([sp.diff(f, v) for v in variables])


# --------------------------------------------------------------------------------------------
# z3
# --------------------------------------------------------------------------------------------

class Z3Encoder:
    """SymPy -> z3 over the reals, collecting side constraints and domain conditions."""

    def __init__(self, variables: Sequence[sp.Symbol]):
        self.vars = {s: z3.Real(s.name) for s in variables}
        self.side: list[Any] = []     # definitions of auxiliary variables
        self.domain: list[Any] = []   # where the expression is defined (real branch)
        self._aux = 0
        self._cache: dict[sp.Basic, Any] = {}

    def fresh(self, stem: str = "aux") -> Any:
        self._aux += 1
        return z3.Real(f"_{stem}{self._aux}")

    def encode(self, expr: sp.Basic) -> Any:
        if expr in self._cache:
            return self._cache[expr]
        out = self._encode(expr)
        self._cache[expr] = out
        return out

    def _encode(self, e: sp.Basic) -> Any:
        if e.is_Symbol:
            if e not in self.vars:
                raise UnsupportedFunction(f"unknown symbol {e}")
            return self.vars[e]
        if e.is_Rational:
            return z3.RealVal(f"{e.p}/{e.q}")
        if e.is_Float:
            q = sp.Rational(e)
            return z3.RealVal(f"{q.p}/{q.q}")
        if e.is_Add:
            return z3.Sum([self.encode(a) for a in e.args])
        if e.is_Mul:
            return z3.Product([self.encode(a) for a in e.args])
        if e.is_Pow:
            return self._pow(e.base, e.exp)
        if isinstance(e, sp.Abs):
            a = self.encode(e.args[0])
            return z3.If(a >= 0, a, -a)
        if isinstance(e, (sp.Max, sp.Min)):
            args = [self.encode(a) for a in e.args]
            out = args[0]
            for a in args[1:]:
                out = z3.If(a >= out, a, out) if isinstance(e, sp.Max) else z3.If(a <= out, a,
                                                                                   out)
            return out
        if isinstance(e, sp.sign):
            a = self.encode(e.args[0])
            return z3.If(a > 0, z3.RealVal(1), z3.If(a < 0, z3.RealVal(-1), z3.RealVal(0)))
        raise UnsupportedFunction(f"z3 cannot encode {type(e).__name__} (in {e})")

    def _pow(self, base: sp.Basic, exp: sp.Basic) -> Any:
        if not exp.is_Rational:
            raise UnsupportedFunction(f"z3 cannot encode the power {base}**{exp}")
        b = self.encode(base)
        p, q = int(exp.p), int(exp.q)
        if q == 1:
            if p == 0:
                return z3.RealVal(1)
            power = _int_power(b, abs(p))
            if p > 0:
                return power
            self.domain.append(b != 0)
            return 1 / power
        s = self.fresh("root")
        self.domain.append(b >= 0)
        self.side += [s >= 0, _int_power(s, q) == b]
        power = _int_power(s, abs(p))
        if p > 0:
            return power
        self.domain.append(b != 0)
        return 1 / power

    def norm(self, diff: Sequence[sp.Basic], norm: str) -> Any:
        """||diff|| in the given norm ("2": auxiliary t >= 0 with t**2 = sum of squares)."""
        terms = [self.encode(d) for d in diff]
        if norm == "2":
            t = self.fresh("norm")
            self.side += [t >= 0, t * t == z3.Sum([a * a for a in terms])]
            return t
        absolute = [z3.If(a >= 0, a, -a) for a in terms]
        if norm == "1":
            return z3.Sum(absolute)
        if norm == "inf":
            out = absolute[0]
            for a in absolute[1:]:
                out = z3.If(a >= out, a, out)
            return out
        raise ValueError(f"unknown norm {norm!r}")


def _int_power(b: Any, n: int) -> Any:
    if n == 0:
        return z3.RealVal(1)
    out = b
    for _ in range(n - 1):
        out = out * b
    return out


def z3_value(model: Any, var: Any, digits: int = 40) -> sp.Rational:
    """A model value as an exact rational (an approximation for algebraic values)."""
    value = model.evaluate(var, model_completion=True)
    if isinstance(value, z3.AlgebraicNumRef):
        value = value.approx(digits)
    frac = value.as_fraction()
    return sp.Rational(frac.numerator, frac.denominator)


#: z3 resource units (``rlimit``) one query may use unless told otherwise: a deterministic
#: budget, so that an answer never depends on the machine's load
Z3_QUERY_RLIMIT = 2_000_000


class Z3Budget:
    """A deterministic budget of z3 resource units shared by the queries of one decision.

    z3 counts ``rlimit`` units in one counter per process; each query is given at most
    ``per_query`` units and at most what is left, and what it used (the counter's advance) is
    subtracted. The same queries in the same order use the same units on any machine.
    """

    def __init__(self, total: int, per_query: int = Z3_QUERY_RLIMIT):
        self.total = int(total)
        self.per_query = int(per_query)
        self.used = 0

    @property
    def left(self) -> int:
        return max(0, self.total - self.used)

    def next_limit(self) -> int:
        return min(self.per_query, self.left)


class Z3Model:
    """A model found in a query's own z3 context, read through variables of the encoder's."""

    def __init__(self, model: Any, ctx: Any):
        self._model, self._ctx = model, ctx

    def evaluate(self, var: Any, model_completion: bool = True) -> Any:
        return self._model.evaluate(z3.Real(var.decl().name(), self._ctx),
                                    model_completion=model_completion)

    def __str__(self) -> str:
        return str(self._model)


def z3_find(encoder: Z3Encoder, goals: Sequence[Any], *, rlimit: int = Z3_QUERY_RLIMIT,
            budget: Z3Budget | None = None) -> tuple[str, Any]:
    """Check ``goals`` together with the encoder's side and domain constraints.

    ``goals`` must be built (encoded) before the call, so that every auxiliary definition they
    need is already in the encoder. The query runs on its SMT-LIB2 text in a z3 context of its
    own, with at most ``rlimit`` z3 resource units (or what is left of ``budget``, which is
    charged with exactly what the query used): a deterministic limit, never wall-clock time.
    Returns ("sat", model) | ("unsat", None) | ("unknown", reason).
    """
    limit = rlimit if budget is None else budget.next_limit()
    if limit <= 0:
        return "unknown", "resource budget exhausted"
    text = smt2_text([*encoder.side, *encoder.domain, *goals])
    ctx = z3.Context()
    solver = z3.Solver(ctx=ctx)
    solver.set("rlimit", int(limit))
    solver.from_string(text)
    result = solver.check()
    stats = solver.statistics()
    used = int(stats.get_key_value("rlimit count")) if "rlimit count" in stats.keys() else 0
    if budget is not None:
        budget.used += min(used, limit)
    if result == z3.sat:
        return "sat", Z3Model(solver.model(), ctx)
    if result == z3.unsat:
        return "unsat", None
    return "unknown", solver.reason_unknown()


def smt2_text(assertions: Sequence[Any]) -> str:
    """The SMT-LIB2 text of a conjunction of z3 assertions (with its declarations)."""
    printer = z3.Solver()
    printer.add(*assertions)
    return printer.to_smt2()


_RELATIONS = {sp.StrictLessThan: lambda a, b: a < b, sp.LessThan: lambda a, b: a <= b,
              sp.StrictGreaterThan: lambda a, b: a > b, sp.GreaterThan: lambda a, b: a >= b,
              sp.Eq: lambda a, b: a == b, sp.Ne: lambda a, b: a != b}


def encode_bool(encoder: Z3Encoder, cond: Any) -> Any:
    """A SymPy boolean (relations combined with And/Or/Not) as a z3 formula."""
    if cond is sp.true or cond is True:
        return z3.BoolVal(True)
    if cond is sp.false or cond is False:
        return z3.BoolVal(False)
    if isinstance(cond, sp.And):
        return z3.And(*[encode_bool(encoder, a) for a in cond.args])
    if isinstance(cond, sp.Or):
        return z3.Or(*[encode_bool(encoder, a) for a in cond.args])
    if isinstance(cond, sp.Not):
        return z3.Not(encode_bool(encoder, cond.args[0]))
    rel = _RELATIONS.get(type(cond))
    if rel is None:
        raise UnsupportedFunction(f"z3 cannot encode the condition {cond}")
    return rel(encoder.encode(cond.lhs), encoder.encode(cond.rhs))


MAX_PIECES = 512
_KINKS = (sp.Abs, sp.Max, sp.Min, sp.sign)


def pieces(expr: sp.Expr) -> list[tuple[sp.Expr, Any]]:
    """Case analysis on the kinks of ``expr``: pieces free of Abs/Max/Min/sign, each with the
    condition under which ``expr`` equals it. The conditions cover every x (they may overlap,
    which is harmless for the existential queries they serve).

    Raises UnsupportedFunction when there would be more than ``MAX_PIECES`` pieces.
    """
    node = next((a for a in sp.postorder_traversal(expr) if isinstance(a, _KINKS)), None)
    if node is None:
        return [(expr, sp.true)]
    args = node.args
    if isinstance(node, sp.Abs):
        branches = [(args[0], args[0] >= 0), (-args[0], args[0] < 0)]
    elif isinstance(node, sp.sign):
        branches = [(sp.Integer(1), args[0] > 0), (sp.Integer(-1), args[0] < 0),
                    (sp.Integer(0), sp.Eq(args[0], 0))]
    else:
        better = (lambda a, b: a >= b) if isinstance(node, sp.Max) else (lambda a, b: a <= b)
        branches = [(a, sp.And(*[better(a, b) for b in args if b is not a]))
                    for a in args]
    out: list[tuple[sp.Expr, Any]] = []
    for value, cond in branches:
        for piece, sub in pieces(expr.xreplace({node: value})):
            out.append((piece, sp.And(cond, sub)))
            if len(out) > MAX_PIECES:
                raise UnsupportedFunction(f"case split of {expr} gives over {MAX_PIECES} pieces")
    return out


# --------------------------------------------------------------------------------------------
# ball arithmetic
# --------------------------------------------------------------------------------------------

def _fmpq(q: Any) -> flint.fmpq:
    if isinstance(q, Fraction):
        return flint.fmpq(q.numerator, q.denominator)
    q = sp.Rational(q)
    return flint.fmpq(int(q.p), int(q.q))


def arb_eval(expr: sp.Basic, point: Mapping[sp.Symbol, Any] | None = None) -> flint.arb:
    """Enclose the value of ``expr`` at a rational ``point`` in a ball.

    Raises ValueError where the expression is undefined at the point (or the ball cannot tell,
    e.g. a fractional power of a ball that contains negative numbers).
    """
    old = flint.ctx.prec
    flint.ctx.prec = ARB_PRECISION
    try:
        point = dict(point or {})
        out = arb_compile(expr, list(point))([flint.arb(_fmpq(v)) for v in point.values()])
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
        c = _fmpq(sp.Rational(e))
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
    """A float that is certainly <= every number in the ball."""
    return math.nextafter(float(ball.lower()), -math.inf)


def arb_hi(ball: flint.arb) -> float:
    """A float that is certainly >= every number in the ball."""
    return math.nextafter(float(ball.upper()), math.inf)


def rational_point(values: Sequence[float], max_denominator: int = 10**12) -> tuple:
    """Rational approximations of float coordinates (for exact re-evaluation)."""
    out = []
    for v in values:
        if not math.isfinite(v):
            raise ValueError(f"non-finite coordinate {v}")
        out.append(sp.Rational(Fraction(v).limit_denominator(max_denominator)))
    return tuple(out)
