"""Exact facts: the instances of the papers' checks, each a formal claim whose fields are the
fact (:mod:`verify.kernel.statements`). The kernel re-derives each obligation from the claim;
the certificates carry at most a witness.

* ``identically-zero`` ``{variables, assume?, expr}``: expr = 0 identically. ``exact-zero`` proves it
  (exact expansion, else SymPy's simplification to 0, both confirmed by balls that contain 0 at
  rational points); ``nonzero-point`` ``{point}`` refutes it (a ball excluding 0 at a rational
  point that respects the assumed signs).
* ``inequalities`` ``{conditions}``: relations between constants. ``exact-sign`` decides it:
  each side's difference is separated from 0 by a ball, or shown 0 exactly (its minimal
  polynomial is x); refuted with ``{index}``, the condition that fails.
* ``forall`` ``{variables, assume?, hypotheses, conclusion}``: every real point satisfying the
  hypotheses satisfies the conclusion. ``real-roots`` proves it in one variable exactly
  (:mod:`verify.kernel.univariate`); ``smt-agreement`` proves it when z3 and cvc5 both refute
  the kernel's own SMT-LIB2 text of "hypotheses and not conclusion" (tier ``solvers``);
  ``counterexample-point`` ``{point}`` refutes it at a rational point, decided exactly.
* ``same-span`` ``{variables, found, expected}``: exact ranks over Q (``exact-rank``).
* ``limit-equals`` ``{variables, assume?, expr, variable, to, value}``: SymPy's limit recomputed and
  compared exactly, and the expression checked near the limit point in balls
  (``sympy-limit``).
"""

from __future__ import annotations

from typing import Any, Mapping

import sympy as sp

from verify.kernel import checker, require
from verify.kernel.balls import arb_eval

#: the signs a variable of a fact may be assumed to have
ASSUMPTIONS = ("real", "positive", "nonnegative", "negative", "integer")


def assumed_symbols(claim: Mapping) -> tuple[sp.Symbol, ...]:
    """The claim's variables as SymPy symbols with the signs its ``assume`` table states."""
    from verify.formula import make_symbols

    assume = claim.get("assume") or {}
    if not isinstance(assume, Mapping):
        raise ValueError("assume: a table variable -> sign")
    names = [s.name for s in make_symbols(claim.get("variables") or ())]
    unknown = set(assume) - set(names)
    if unknown:
        raise ValueError(f"assume names {sorted(unknown)}, which are not variables")
    out = []
    for name in names:
        kind = assume.get(name, "real")
        if kind not in ASSUMPTIONS:
            raise ValueError(f"unknown assumption {kind!r} (one of {', '.join(ASSUMPTIONS)})")
        out.append(sp.Symbol(name, **{kind: True}))
    return tuple(out)


def condition(text: Any, variables: tuple = ()) -> Any:
    from verify.formula import parse_condition

    return parse_condition(text, variables, what="condition")


def parse(text: str, variables: tuple = (), *, evaluate_extrema: bool = True) -> sp.Expr:
    from verify.formula import parse_formula

    return parse_formula(text, variables, what="certificate",
                         evaluate_extrema=evaluate_extrema)


def parse_constant(text: Any) -> sp.Expr:
    from verify.formula import parse_number

    return parse_number(text, what="certificate number")


def identically_zero(expr: sp.Expr) -> bool:
    """True only when ``expr`` is zero: exact expansion (rational functions) or SymPy's
    simplification, confirmed at rational points by balls that contain 0."""
    if not expr.free_symbols:                 # a constant: a ball without 0 settles it fast
        try:
            if not arb_eval(expr).contains(0):
                return False
        except (ValueError, ZeroDivisionError):
            pass
    zero = sp.expand(expr) == 0 or sp.cancel(sp.together(expr)) == 0
    if not zero:
        simplified = sp.simplify(expr)
        zero = simplified == 0 or simplified.is_zero is True
    if not zero:
        return False
    symbols = sorted(expr.free_symbols, key=lambda s: s.name)
    for k in (1, 2):
        point = {s: sp.Rational(k * (i + 2), 3 + i) for i, s in enumerate(symbols)}
        try:
            ball = arb_eval(expr, point)
        except (ValueError, ZeroDivisionError):
            continue
        if not ball.contains(0):
            return False
    return True


_RELATIONS = {"<": (lambda b: b < 0), "<=": (lambda b: b < 0), ">": (lambda b: b > 0),
              ">=": (lambda b: b > 0), "!=": (lambda b: not b.contains(0))}
_NEGATION = {"<": ">=", "<=": ">", ">": "<=", ">=": "<", "==": "!=", "!=": "=="}


def sign_holds(value: sp.Expr, relation: str) -> bool:
    """``value relation 0`` decided soundly: strict parts by balls, equality exactly."""
    if value.free_symbols:
        raise ValueError("a sign fact is about a constant")
    if relation == "==":
        return identically_zero(value)
    if relation in ("<=", ">="):             # strictly (balls, fast), else exactly zero
        try:
            ball = arb_eval(value)
        except (ValueError, ZeroDivisionError):
            if identically_zero(value):
                return True
            raise
        return bool(_RELATIONS[relation](ball)) or identically_zero(value)
    return bool(_RELATIONS[relation](arb_eval(value)))


def same_span(found: list, expected: list, variables: tuple) -> bool:
    """Do two lists of polynomials span the same space over Q? (exact ranks of their
    coefficient matrices)"""
    monos = sorted({m for e in found + expected for m in sp.Poly(e, *variables).monoms()})

    def row(e):
        p = sp.Poly(e, *variables)
        return [p.coeff_monomial(m) for m in monos]

    F, E = sp.Matrix([row(e) for e in found]), sp.Matrix([row(e) for e in expected])
    return F.rank() == E.rank() == sp.Matrix.vstack(F, E).rank()



# --------------------------------------------------------------------------------------------
# the fact kinds
# --------------------------------------------------------------------------------------------

def _point(claim: Mapping, values: Any, variables: tuple) -> dict:
    """A rational point for the claim's variables that respects their assumed signs."""
    if not isinstance(values, list) or len(values) != len(variables):
        raise ValueError(f"the point needs one value per variable ({len(variables)})")
    point = {}
    for v, text in zip(variables, values):
        q = parse_constant(text)
        if not q.is_Rational:
            raise ValueError("the point's coordinates are rationals")
        if (v.is_positive and not q > 0) or (v.is_nonnegative and not q >= 0) or \
                (v.is_negative and not q < 0) or (v.is_integer and not q.is_Integer):
            raise ValueError(f"{v} = {q} breaks the assumed sign of {v}")
        point[v] = q
    return point


@checker("exact-zero")
def _exact_zero(claim: Mapping, status: str, cert: Mapping) -> tuple[bool, str]:
    variables = assumed_symbols(claim)
    expr = parse(claim["expr"], variables)
    return require(status == "proved" and identically_zero(expr),
                   f"{claim['expr']} is not shown to vanish identically")


@checker("nonzero-point")
def _nonzero_point(claim: Mapping, status: str, cert: Mapping) -> tuple[bool, str]:
    variables = assumed_symbols(claim)
    expr = parse(claim["expr"], variables)
    point = _point(claim, cert.get("point"), variables)
    ball = arb_eval(expr, point)
    return require(status == "refuted" and not ball.contains(0),
                   f"{claim['expr']} may vanish at {cert.get('point')}")


def truth_of_constants(formula: Any) -> bool:
    """The truth of a condition without variables, exactly (raises when it cannot be told)."""
    from verify.kernel.univariate import constant_sign, evaluate, lower

    if formula.free_symbols:
        raise ValueError(f"{formula} has variables")
    value = evaluate(lower(formula), lambda g: constant_sign(g))
    if value is None:
        raise ValueError(f"{formula} is undefined")
    return value


@checker("exact-sign")
def _exact_sign(claim: Mapping, status: str, cert: Mapping) -> tuple[bool, str]:
    conditions = claim["conditions"]
    if not isinstance(conditions, list) or not conditions:
        return False, "inequalities: a non-empty list of conditions"
    if status == "proved":
        for text in conditions:
            if truth_of_constants(condition(text)) is not True:
                return False, f"{text} does not hold"
        return True, ""
    index = cert.get("index")
    if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < len(conditions):
        return False, "a refutation names the index of the condition that fails"
    return require(truth_of_constants(condition(conditions[index])) is False,
                   f"{conditions[index]} is not shown to fail")


def forall_parts(claim: Mapping) -> tuple[tuple, list, Any]:
    variables = assumed_symbols(claim)
    hyps = [condition(h, variables) for h in claim.get("hypotheses") or ()]
    return variables, hyps, condition(claim["conclusion"], variables)


@checker("smt-agreement")
def _smt_agreement(claim: Mapping, status: str, cert: Mapping) -> tuple[bool, str]:
    """z3 and cvc5 both refute "hypotheses and not conclusion", on the kernel's own text."""
    from verify.kernel.smt import confirm_unsat

    if status != "proved":
        return False, "solver agreement proves"
    return confirm_unsat([forall_query(claim)])


def forall_query(claim: Mapping) -> str:
    """The SMT-LIB2 text of the negation of a ``forall`` claim."""
    from verify.kernel.smt import SmtEncoder

    variables, hyps, concl = forall_parts(claim)
    enc = SmtEncoder(variables)
    return enc.script([enc.boolean(h) for h in hyps] + [enc.boolean(sp.Not(concl))])


@checker("counterexample-point")
def _counterexample(claim: Mapping, status: str, cert: Mapping) -> tuple[bool, str]:
    variables, hyps, concl = forall_parts(claim)
    point = _point(claim, cert.get("point"), variables)
    plain = {v: point[v] for v in variables}
    if status != "refuted":
        return False, "a point refutes"
    for h in hyps:
        if truth_of_constants(h.xreplace(plain)) is not True:
            return False, f"the hypothesis {h} does not hold at the point"
    return require(truth_of_constants(concl.xreplace(plain)) is False,
                   "the conclusion is not shown to fail at the point")


@checker("exact-rank")
def _exact_rank(claim: Mapping, status: str, cert: Mapping) -> tuple[bool, str]:
    from verify.formula import make_symbols

    variables = make_symbols(claim["variables"])
    found = [parse(e, variables) for e in claim["found"]]
    expected = [parse(e, variables) for e in claim["expected"]]
    if not found or not expected:
        return False, "same-span compares two nonempty lists"
    same = same_span(found, expected, variables)
    return require(same == (status == "proved"), "the spans are not as stated")


_LIMIT_POINTS = {"0+": (0, "+"), "0-": (0, "-"), "oo": (sp.oo, "-"), "-oo": (-sp.oo, "+")}


def limit_value(text: Any) -> sp.Expr:
    if text in ("oo", "-oo"):
        return sp.oo if text == "oo" else -sp.oo
    return parse_constant(text)


@checker("sympy-limit")
def _sympy_limit(claim: Mapping, status: str, cert: Mapping) -> tuple[bool, str]:
    variables = assumed_symbols(claim)
    expr = parse(claim["expr"], variables)
    matches = [v for v in variables if v.name == claim["variable"]]
    if len(matches) != 1 or claim["to"] not in _LIMIT_POINTS:
        return False, "the limit's variable is one of the variables, `to` one of 0+, 0-, oo, -oo"
    (t,) = matches
    target, direction = _LIMIT_POINTS[claim["to"]]
    value = limit_value(claim["value"])
    computed = sp.limit(expr, t, target, direction)
    if computed.has(sp.Limit, sp.AccumBounds, sp.nan, sp.zoo) or computed.free_symbols - (
            set(variables) - {t}):
        return False, f"SymPy gives no definite limit ({computed})"
    infinite = computed in (sp.oo, -sp.oo)
    if infinite or value in (sp.oo, -sp.oo):
        same = computed == value
    else:
        same = identically_zero(computed - value)
    if not same and not infinite and value not in (sp.oo, -sp.oo) and not computed.free_symbols:
        differs = sign_holds(computed - value, "!=")
    else:
        differs = not same and (infinite or value in (sp.oo, -sp.oo))
    if status == "refuted":
        return require(differs, f"the limit {computed} is not shown to differ from {value}")
    if not same:
        return False, f"the limit is {computed}, not {claim['value']}"
    if len(variables) == 1 and not infinite:       # the expression near the point agrees
        probe = {sp.oo: sp.Integer(10**12), -sp.oo: -sp.Integer(10**12)}.get(
            target, target + (sp.Rational(1, 10**12) if direction == "+" else
                              -sp.Rational(1, 10**12)))
        try:
            far = arb_eval(expr, {t: probe}) - arb_eval(value)
        except (ValueError, ZeroDivisionError):
            return True, ""
        if not abs(far) < 1e-3 * (1 + abs(float(value))):
            return False, "the expression is not near the limit at a far point"
    return True, ""
