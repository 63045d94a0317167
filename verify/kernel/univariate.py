"""An exact decision procedure for formulas in one real variable (cylindrical decomposition of
the line), the kernel's ``exact`` route wherever a statement reduces to one variable.

A formula is a SymPy boolean (And, Or, Not, Implies, Equivalent, true, false) of relations
(``<``, ``<=``, ``>``, ``>=``, ``==``, ``!=``) between expressions in one variable ``t`` built from
rationals, real algebraic constants (``sqrt(5)``, ``2**(1/3)``, ...), +, *, integer powers and
division, ``Abs``, ``Max``, ``Min`` and ``sign``. :func:`decide` answers whether it holds at
*every* real t where its expressions are defined:

1. the kinks are split into pieces (the conditions of the pieces are relations too), so every
   relation compares a rational function g = num/den with 0;
2. every numerator and denominator is a polynomial with coefficients in Q(theta) (SymPy's
   primitive element of the constants); its real roots are among those of its norm
   N(t) = Res_y(m(y), G(t, y)) (m the minimal polynomial of theta, G the coefficients written in
   theta), a polynomial with rational coefficients, factored into irreducibles over Q whose real
   roots SymPy isolates in intervals with rational ends;
3. between two consecutive roots no numerator or denominator changes sign, so the formula is
   decided at every root and at one rational point of every gap (and beyond the extremes); at a
   root of an irreducible F the sign of a rational polynomial Q is 0 iff F divides Q, and is
   otherwise read off at a rational point once the isolating interval holds no root of Q
   (Sturm counts); with irrational coefficients the sign is read from ball arithmetic on the
   refined interval, and a ball that keeps containing 0 is settled by the minimal polynomial of
   the value (SymPy), which is x exactly when the value is 0.

Everything is exact (rationals, exact polynomial algebra, Sturm sequences, minimal polynomials,
balls that contain the true values), so a ``True`` is a proof and a ``False`` comes with the
point where the formula fails. Expressions outside the class (``sqrt(t)``, ``exp``, ``pi``) raise
:class:`Unsupported`; the caller then uses another route.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Callable, Sequence

import flint
import sympy as sp

from verify.kernel import checker, require
from verify.kernel.balls import arb_compile

_X = sp.Symbol("_minpoly_x")
#: bisection steps spent on separating a value from 0 before the exact minimal polynomial
REFINE_STEPS = 200
PRECISIONS = (212, 1024, 4096)


class Unsupported(ValueError):
    """The formula is outside the class this procedure decides."""


_KINKS = (sp.Abs, sp.Max, sp.Min, sp.sign)
_RELATIONS = {sp.StrictLessThan: lambda s: s < 0, sp.LessThan: lambda s: s <= 0,
              sp.StrictGreaterThan: lambda s: s > 0, sp.GreaterThan: lambda s: s >= 0,
              sp.Eq: lambda s: s == 0, sp.Ne: lambda s: s != 0}


# --------------------------------------------------------------------------------------------
# formulas
# --------------------------------------------------------------------------------------------

def lower(formula: Any) -> Any:
    """The formula with every relation written as ``g rel 0`` with g free of kinks (each kinked
    relation becomes the disjunction over the pieces of g: their condition and the relation)."""
    from verify.kernel.smt import pieces

    if formula is sp.true or formula is True:
        return sp.true
    if formula is sp.false or formula is False:
        return sp.false
    if isinstance(formula, sp.Not):
        return sp.Not(lower(formula.args[0]), evaluate=False)
    if isinstance(formula, (sp.And, sp.Or, sp.Implies, sp.Equivalent)):
        return type(formula)(*[lower(a) for a in formula.args], evaluate=False)
    relation = type(formula)
    if relation not in _RELATIONS:
        raise Unsupported(f"{formula} is not a relation or a boolean combination of relations")
    g = sp.expand(formula.lhs - formula.rhs) if not formula.has(*_KINKS) else \
        formula.lhs - formula.rhs
    if not g.has(*_KINKS):
        return relation(g, 0, evaluate=False)
    options = []
    for piece, cond in pieces(g):
        options.append(sp.And(lower(cond), relation(sp.expand(piece), 0, evaluate=False),
                              evaluate=False))
    return sp.Or(*options, evaluate=False)


def relations(formula: Any) -> list:
    """The relations of a lowered formula."""
    if formula in (sp.true, sp.false):
        return []
    if type(formula) in _RELATIONS:
        return [formula]
    return [r for a in formula.args for r in relations(a)]


def evaluate(formula: Any, sign_of: Callable[[Any], int | None]) -> bool | None:
    """The truth of a lowered formula given the sign of each relation's left side (None when
    that expression is undefined at the point: the point is outside the domain)."""
    if formula is sp.true:
        return True
    if formula is sp.false:
        return False
    relation = _RELATIONS.get(type(formula))
    if relation is not None:
        s = sign_of(formula.lhs)
        return None if s is None else relation(s)
    values = [evaluate(a, sign_of) for a in formula.args]
    if any(v is None for v in values):
        return None
    if isinstance(formula, sp.Not):
        return not values[0]
    if isinstance(formula, sp.And):
        return all(values)
    if isinstance(formula, sp.Or):
        return any(values)
    if isinstance(formula, sp.Implies):
        return (not values[0]) or values[1]
    if isinstance(formula, sp.Equivalent):
        return all(values) or not any(values)
    raise Unsupported(f"cannot evaluate {type(formula).__name__}")


# --------------------------------------------------------------------------------------------
# real algebraic numbers
# --------------------------------------------------------------------------------------------

@dataclass
class Root:
    """A real root of the irreducible rational polynomial ``poly``, isolated in [lo, hi]."""

    poly: sp.Poly
    lo: Fraction
    hi: Fraction

    @property
    def rational(self) -> bool:
        return self.lo == self.hi

    def refine(self) -> None:
        if self.rational:
            return
        mid = (self.lo + self.hi) / 2
        at_mid = _qeval(self.poly, mid)
        if at_mid == 0:
            self.lo = self.hi = mid
        elif (_qeval(self.poly, self.lo) < 0) == (at_mid < 0):
            self.lo = mid
        else:
            self.hi = mid

    def sympy(self) -> sp.Expr:
        """The root as an exact SymPy number (a Rational or a CRootOf)."""
        if self.rational:
            return sp.Rational(self.lo.numerator, self.lo.denominator)
        below = self.poly.count_roots(None, _rat(self.lo))
        return sp.CRootOf(self.poly.as_expr(), int(below))

    def text(self) -> str:
        if self.rational:
            return str(self.lo)
        return f"the root of {self.poly.as_expr()} in [{self.lo}, {self.hi}]"


def _rat(q: Fraction) -> sp.Rational:
    return sp.Rational(q.numerator, q.denominator)


def _qeval(poly: sp.Poly, q: Fraction) -> Fraction:
    value = Fraction(0)
    for c in poly.all_coeffs():
        value = value * q + Fraction(int(c.p), int(c.q))
    return value


def _rational_poly(expr: sp.Expr, t: sp.Symbol) -> sp.Poly:
    """``expr`` as a polynomial in t over Q or over an algebraic field (raises Unsupported)."""
    try:
        poly = sp.Poly(expr, t)
    except sp.PolynomialError as exc:
        raise Unsupported(f"{expr} is not a polynomial in {t} ({exc})") from None
    if poly.domain.is_QQ or poly.domain.is_ZZ:
        return poly.set_domain(sp.QQ)
    if not all(c.is_number and not c.has(sp.pi, sp.E, sp.exp, sp.log)
               for c in poly.all_coeffs()):
        raise Unsupported(f"{expr} has coefficients that are not algebraic numbers")
    try:
        return sp.Poly(expr, t, extension=True)
    except (sp.PolynomialError, NotImplementedError, ValueError) as exc:
        raise Unsupported(f"{expr}: no algebraic field for its coefficients ({exc})") from None


def rational_norm(poly: sp.Poly, t: sp.Symbol) -> sp.Poly:
    """A rational polynomial whose roots include those of ``poly`` (itself over Q; over
    Q(theta) the resultant Res_y(m(y), G(t, y)))."""
    if poly.domain.is_QQ:
        return poly
    field = poly.domain
    y = sp.Symbol("_theta")
    q = field.dom.to_sympy
    minpoly = sp.Poly([q(c) for c in field.mod.to_list()], y, domain=sp.QQ)
    G = 0
    for k, c in enumerate(reversed(poly.rep.to_list())):
        coeffs = [q(v) for v in c.to_list()]
        G += sum(a * y ** (len(coeffs) - 1 - i) for i, a in enumerate(coeffs)) * t ** k
    N = sp.resultant(minpoly.as_expr(), sp.expand(G), y)
    out = sp.Poly(N, t, domain=sp.QQ)
    if out.is_zero:
        raise Unsupported(f"the norm of {poly.as_expr()} vanishes")
    return out


def real_roots(poly: sp.Poly) -> list[Root]:
    """The real roots of a nonzero rational polynomial, each of an irreducible factor."""
    out = []
    if poly.degree() <= 0:
        return out
    _, factors = sp.factor_list(poly.as_expr(), *poly.gens)
    for factor, _ in factors:
        F = sp.Poly(factor, *poly.gens, domain=sp.QQ).monic()
        if F.degree() <= 0:
            continue
        for (a, b), _ in F.intervals():
            out.append(Root(F, Fraction(int(sp.Rational(a).p), int(sp.Rational(a).q)),
                            Fraction(int(sp.Rational(b).p), int(sp.Rational(b).q))))
    return out


def _separate(roots: list[Root]) -> list[Root]:
    """Distinct roots, sorted, with pairwise disjoint isolating intervals."""
    unique: dict[tuple, Root] = {}
    for r in roots:
        key = (str(r.poly.as_expr()), r.lo, r.hi)
        unique.setdefault(key, r)
    out = sorted(unique.values(), key=lambda r: (r.lo, r.hi))
    while True:
        out.sort(key=lambda r: (r.lo, r.hi))
        clash = [(a, b) for a, b in zip(out, out[1:]) if a.hi >= b.lo]
        if not clash:
            return out
        for a, b in clash:
            if a.rational and b.rational and a.lo == b.lo:
                raise Unsupported("a root was isolated twice")     # never: deduplicated
            a.refine()
            b.refine()


# --------------------------------------------------------------------------------------------
# signs
# --------------------------------------------------------------------------------------------

def _number(value: Any) -> sp.Expr:
    """A SymPy number as it is; any other value read by the whitelisting parser."""
    from verify.formula import parse_number

    return value if isinstance(value, sp.Basic) else parse_number(value)


def constant_sign(value: sp.Expr) -> int:
    """The sign of a real algebraic constant, exactly (balls, then its minimal polynomial)."""
    value = _number(value)
    if value.is_Rational:
        return (int(value.p) > 0) - (int(value.p) < 0)
    ball = _ball(value, [], [], PRECISIONS[0])
    if not ball.contains(0):
        return 1 if ball > 0 else -1
    if sp.minimal_polynomial(value, _X) == _X:
        return 0
    for prec in PRECISIONS[1:]:
        ball = _ball(value, [], [], prec)
        if not ball.contains(0):
            return 1 if ball > 0 else -1
    raise Unsupported(f"the sign of {value} was not separated from 0")


def _ball(expr: sp.Expr, variables: Sequence[sp.Symbol], balls: Sequence[Any], prec: int
          ) -> Any:
    old = flint.ctx.prec
    flint.ctx.prec = prec
    try:
        fn = arb_compile(expr, list(variables))
        return fn([flint.arb(b) if not isinstance(b, flint.arb) else b for b in balls])
    finally:
        flint.ctx.prec = old


def _interval_ball(lo: Fraction, hi: Fraction) -> Any:
    a = flint.arb(flint.fmpq(lo.numerator, lo.denominator))
    b = flint.arb(flint.fmpq(hi.numerator, hi.denominator))
    return a.union(b)


class _Signs:
    """Signs of the relations' left sides at the sample points of the line."""

    def __init__(self, t: sp.Symbol):
        self.t = t
        self._polys: dict[sp.Expr, tuple[sp.Poly, sp.Poly]] = {}

    def parts(self, g: sp.Expr) -> tuple[sp.Poly, sp.Poly]:
        """Numerator and denominator of g as polynomials (over Q or an algebraic field)."""
        if g not in self._polys:
            num, den = sp.fraction(sp.together(g))
            self._polys[g] = (_rational_poly(sp.expand(num), self.t),
                              _rational_poly(sp.expand(den), self.t))
        return self._polys[g]

    def at_rational(self, g: sp.Expr, q: Fraction) -> int | None:
        num, den = self.parts(g)
        at = {self.t: _rat(q)}
        d = constant_sign(den.as_expr().subs(at))
        if d == 0:
            return None
        return constant_sign(num.as_expr().subs(at)) * d

    def at_root(self, g: sp.Expr, root: Root) -> int | None:
        if root.rational:
            return self.at_rational(g, root.lo)
        num, den = self.parts(g)
        d = self._poly_sign(den, root)
        if d == 0:
            return None
        return self._poly_sign(num, root) * d

    def _poly_sign(self, poly: sp.Poly, root: Root) -> int:
        if poly.domain.is_QQ:
            if poly.is_zero:
                return 0
            if poly.rem(root.poly.set_domain(poly.domain)).is_zero:
                return 0
            probe = Root(root.poly, root.lo, root.hi)
            while poly.count_roots(_rat(probe.lo), _rat(probe.hi)) > 0:
                probe.refine()
            return (lambda v: (v > 0) - (v < 0))(_qeval(poly, (probe.lo + probe.hi) / 2))
        probe = Root(root.poly, root.lo, root.hi)
        expr = poly.as_expr()
        for step in range(REFINE_STEPS):
            ball = _ball(expr, [self.t], [_interval_ball(probe.lo, probe.hi)], PRECISIONS[0])
            if not ball.contains(0):
                return 1 if ball > 0 else -1
            if step == 20 and sp.minimal_polynomial(expr.subs(self.t, root.sympy()), _X) == _X:
                return 0
            probe.refine()
        raise Unsupported(f"the sign of {expr} at {root.text()} was not separated from 0")


# --------------------------------------------------------------------------------------------
# the procedure
# --------------------------------------------------------------------------------------------

@dataclass
class Decision:
    """``holds``: the formula holds at every point of its domain; otherwise ``witness`` is a
    point where it fails (a Root: rational or algebraic)."""

    holds: bool
    witness: Root | None = None
    samples: int = 0


def decide(formula: Any, t: sp.Symbol) -> Decision:
    """Does ``formula`` (one free variable ``t``) hold at every real t where its expressions
    are defined? Raises Unsupported outside the class of the module docstring."""
    if formula.free_symbols - {t}:
        raise Unsupported(f"{formula} has more than the variable {t}")
    lowered = lower(formula)
    signs = _Signs(t)
    roots: list[Root] = []
    for rel in relations(lowered):
        for poly in signs.parts(rel.lhs):
            if not poly.is_zero:
                roots += real_roots(rational_norm(poly, t))
    roots = _separate(roots)
    samples: list[Root] = []
    if not roots:
        samples.append(Root(sp.Poly(t, t, domain=sp.QQ), Fraction(0), Fraction(0)))
    else:
        first = roots[0].lo - 1
        samples.append(_rational_root(first, t))
        for a, b in zip(roots, roots[1:]):
            samples.append(a)
            samples.append(_rational_root((a.hi + b.lo) / 2, t))
        samples.append(roots[-1])
        samples.append(_rational_root(roots[-1].hi + 1, t))
    for point in samples:
        value = evaluate(lowered, lambda g, p=point: signs.at_root(g, p))
        if value is False:
            return Decision(False, point, len(samples))
    return Decision(True, None, len(samples))


def _rational_root(q: Fraction, t: sp.Symbol) -> Root:
    return Root(sp.Poly(t - _rat(q), t, domain=sp.QQ), q, q)


def holds_at(formula: Any, t: sp.Symbol, value: sp.Expr) -> bool | None:
    """The formula at one exact point (None when an expression is undefined there)."""
    lowered = lower(formula)
    signs = _Signs(t)
    value = _number(value)
    if value.is_Rational:
        point = _rational_root(Fraction(int(value.p), int(value.q)), t)
        return evaluate(lowered, lambda g: signs.at_rational(g, point.lo))
    return evaluate(lowered, lambda g: constant_sign(g.subs(t, value)) if
                    constant_sign(sp.fraction(sp.together(g.subs(t, value)))[1]) != 0
                    else None)


# --------------------------------------------------------------------------------------------
# the forall claim in one variable
# --------------------------------------------------------------------------------------------

def forall_formula(claim: Any) -> tuple[Any, tuple[sp.Symbol, ...]]:
    """The formula "hypotheses imply conclusion" of a ``forall`` claim, over its variables
    (with their assumed signs as hypotheses)."""
    from verify.kernel.facts import assumed_symbols, condition

    variables = assumed_symbols(claim)
    hyps = [condition(h, variables) for h in claim.get("hypotheses") or ()]
    hyps += [_assumption(v) for v in variables]
    concl = condition(claim["conclusion"], variables)
    plain = {v: sp.Symbol(v.name, real=True) for v in variables}
    formula = sp.Implies(sp.And(*hyps), concl).xreplace(plain)
    return formula, tuple(plain[v] for v in variables)


def _assumption(v: sp.Symbol) -> Any:
    plain = sp.Symbol(v.name, real=True)
    if v.is_positive:
        return plain > 0
    if v.is_nonnegative:
        return plain >= 0
    if v.is_negative:
        return plain < 0
    return sp.true


@checker("real-roots")
def _check_real_roots(claim: Any, status: str, cert: Any) -> tuple[bool, str]:
    """A ``forall`` claim in at most one variable, decided both ways by :func:`decide` (no
    witness needed: the kernel recomputes the decomposition)."""
    formula, variables = forall_formula(claim)
    if len(variables) > 1:
        return False, "real-roots decides statements in one variable"
    if not variables:
        from verify.kernel.facts import truth_of_constants

        holds = truth_of_constants(formula)
    else:
        holds = decide(formula, variables[0]).holds
    return require(holds == (status == "proved"),
                   "the statement holds" if holds else "the statement fails somewhere")
