"""Self-contained exact facts: the certificates of the instances of registered checks.

Each certificate states its own fact (the check's code gives it its meaning):

* ``zero`` ``{expr, variables, assume?, point?}``: proved when ``expr`` is identically zero
  (exact expansion, else SymPy's simplification to 0, in both cases confirmed by ball
  evaluations containing 0 at rational points); refuted when it does not vanish at the
  rational ``point`` (a ball that excludes 0). ``nonzero`` states the opposite.
* ``sign`` ``{expr, relation}``: a constant compared with 0 (``<``, ``<=``, ``>``, ``>=``,
  ``==``, ``!=``): strict relations by a ball on the right side of 0, equalities exactly;
  proved when the relation holds, refuted when it fails.
* ``signs`` ``{facts}``: many ``[constant, relation]`` pairs, each established as for ``sign``.
* ``same-span`` ``{found, expected, variables}``: two lists of polynomials span the same space
  over Q (exact ranks); proved when they do, refuted when they do not.
* ``smt-unsat`` ``{texts}``: proved when z3 and cvc5 both answer unsat on every text.
* ``limit`` ``{expr, variable, to, value}``: the limit recomputed by SymPy equals ``value``
  exactly, and the expression at a far point is close to it (ball arithmetic).
"""

from __future__ import annotations

from typing import Any, Mapping

import sympy as sp

from verify.kernel import checker, require
from verify.kernel.balls import arb_eval
from verify.kernel.smt import confirm_unsat

_ASSUMPTIONS = ("real", "positive", "nonnegative", "negative", "integer")


def symbols_of(cert: Mapping) -> tuple[sp.Symbol, ...]:
    """The certificate's variables as SymPy symbols with their stated assumptions."""
    assume = cert.get("assume") or {}
    out = []
    for name in cert.get("variables") or []:
        kind = assume.get(name, "real")
        if kind not in _ASSUMPTIONS:
            raise ValueError(f"unknown assumption {kind!r}")
        out.append(sp.Symbol(name, **{kind: True}))
    return tuple(out)


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


@checker("zero", "nonzero")
def _zero(claim: Mapping, status: str, cert: Mapping) -> tuple[bool, str]:
    """``zero`` states the expression vanishes identically, ``nonzero`` that it does not: the
    identity proves one and refutes the other, a rational point does the opposite."""
    variables = symbols_of(cert)
    expr = parse(cert["expr"], variables)
    if cert["kind"] == "nonzero":
        status = {"proved": "refuted", "refuted": "proved"}.get(status, status)
    if status == "proved":
        return require(identically_zero(expr), f"{cert['expr']} is not shown to vanish")
    point = cert.get("point")
    if status != "refuted" or point is None:
        return False, "zero: a refutation needs the point where the expression does not vanish"
    values = {s: parse_constant(v) for s, v in zip(variables, point)}
    if len(values) != len(variables) or not all(v.is_Rational for v in values.values()):
        return False, "zero: the point must give every variable a rational value"
    ball = arb_eval(expr, values)
    return require(not ball.contains(0), f"{cert['expr']} may vanish at {point}")


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


@checker("sign")
def _sign(claim: Mapping, status: str, cert: Mapping) -> tuple[bool, str]:
    value = parse_constant(cert["expr"])
    relation = cert["relation"]
    if relation not in _NEGATION:
        return False, f"unknown relation {relation!r}"
    wanted = relation if status in ("proved", "certified") else _NEGATION[relation]
    return require(sign_holds(value, wanted), f"{cert['expr']} {wanted} 0 is not established")


@checker("signs")
def _signs(claim: Mapping, status: str, cert: Mapping) -> tuple[bool, str]:
    """Many constants and their relations to 0, all of which must hold (a proof)."""
    facts = cert.get("facts")
    if status != "proved" or not isinstance(facts, list) or not facts:
        return False, "signs proves, with its facts"
    for expr, relation in facts:
        if relation not in _NEGATION or not sign_holds(parse_constant(expr), relation):
            return False, f"{expr} {relation} 0 is not established"
    return True, ""


def same_span(found: list, expected: list, variables: tuple) -> bool:
    """Do two lists of polynomials span the same space over Q? (exact ranks of their
    coefficient matrices)"""
    monos = sorted({m for e in found + expected for m in sp.Poly(e, *variables).monoms()})

    def row(e):
        p = sp.Poly(e, *variables)
        return [p.coeff_monomial(m) for m in monos]

    F, E = sp.Matrix([row(e) for e in found]), sp.Matrix([row(e) for e in expected])
    return F.rank() == E.rank() == sp.Matrix.vstack(F, E).rank()


@checker("same-span")
def _same_span(claim: Mapping, status: str, cert: Mapping) -> tuple[bool, str]:
    variables = symbols_of(cert)
    found = [parse(e, variables) for e in cert["found"]]
    expected = [parse(e, variables) for e in cert["expected"]]
    if not found or not expected:
        return False, "same-span compares two nonempty lists"
    same = same_span(found, expected, variables)
    return require(same == (status == "proved"), "the spans are not as stated")


@checker("smt-unsat")
def _smt(claim: Mapping, status: str, cert: Mapping) -> tuple[bool, str]:
    texts = cert.get("texts")
    if status != "proved" or not isinstance(texts, list) or not texts:
        return False, "smt-unsat proves, with its texts"
    return confirm_unsat(texts)


@checker("limit")
def _limit(claim: Mapping, status: str, cert: Mapping) -> tuple[bool, str]:
    variables = symbols_of(cert)
    expr = parse(cert["expr"], variables)
    (t,) = [v for v in variables if v.name == cert["variable"]]
    to = {"0+": (0, "+"), "0-": (0, "-"), "oo": (sp.oo, "-"), "-oo": (-sp.oo, "+")}
    target, direction = to[cert["to"]]
    value = parse_constant(cert["value"]) if cert["value"] not in ("oo", "-oo") else (
        sp.oo if cert["value"] == "oo" else -sp.oo)
    computed = sp.limit(expr, t, target, direction)
    if value in (sp.oo, -sp.oo):
        same = computed == value
    else:
        same = computed.is_finite is not False and identically_zero(computed - value)
    if not same:
        return False, f"the limit is {computed}, not {cert['value']}"
    if len(variables) == 1 and value not in (sp.oo, -sp.oo):
        probe = {sp.oo: sp.Integer(10**12), -sp.oo: -sp.Integer(10**12)}.get(
            target, target + (sp.Rational(1, 10**12) if direction == "+" else
                              -sp.Rational(1, 10**12)))
        try:
            far = arb_eval(expr, {t: probe}) - arb_eval(value)
        except (ValueError, ZeroDivisionError):
            return True, ""
        if not abs(far) < 1e-3 * (1 + abs(float(value))):
            return False, "the expression is not near the limit at a far point"
    return require(status == "proved", "a limit proves")
