"""Exact and rigorous tools shared by the theorem packages.

* Ball arithmetic (python-flint ``arb``) and SMT-LIB2 encodings are the kernel's own
  (:mod:`verify.kernel.balls`, :mod:`verify.kernel.smt`): deciders use the same trusted
  primitives the kernel re-checks with, so a certificate's text is the text that was solved.
* :class:`Budget` shares a deterministic budget of solver resource units (z3 ``rlimit``)
  between the queries of one decision: the same queries use the same units on any machine.
* :func:`zero_fact` and :func:`sign_fact` decide an exact fact and return its status with the
  self-contained certificate the kernel re-checks (used by the registered checks).
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any, Sequence

import sympy as sp

from verify.errors import InvalidClaim
from verify.kernel import smt
from verify.kernel.balls import (ARB_PRECISION, arb_compile, arb_eval, arb_hi, arb_lo,
                                 rational_point, to_fmpq)
from verify.kernel.facts import identically_zero, sign_holds
from verify.verdict import Status

__all__ = ["ARB_PRECISION", "Budget", "arb_compile", "arb_eval", "arb_hi", "arb_lo",
           "exact_number", "gradient", "rational_point", "sign_fact", "solve", "to_fmpq",
           "zero_fact"]

#: z3 resource units one query may use unless told otherwise
QUERY_RLIMIT = smt.Z3_RLIMIT


def gradient(f: sp.Expr, variables: Sequence[sp.Symbol]) -> sp.Matrix:
    """The column vector of partial derivatives of f."""
    return sp.Matrix([sp.diff(f, v) for v in variables])


def exact_number(value: Any, what: str = "number") -> sp.Expr:
    """A SymPy number from a SymPy number, an int or a Fraction (theorems receive parsed
    values; strings are read by the engine). A float is read exactly (its binary value)."""
    if isinstance(value, bool):
        raise InvalidClaim(f"{what}: expected a number, got a boolean")
    if isinstance(value, sp.Basic):
        expr = value
    elif isinstance(value, int):
        expr = sp.Integer(value)
    elif isinstance(value, Fraction):
        expr = sp.Rational(value.numerator, value.denominator)
    elif isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise InvalidClaim(f"{what}: non-finite value {value!r}")
        expr = sp.Rational(Fraction(value))
    else:
        raise InvalidClaim(f"{what}: expected a number, got {type(value).__name__} {value!r}")
    if expr.free_symbols or expr.has(sp.oo, -sp.oo, sp.zoo, sp.nan) or expr.is_real is False:
        raise InvalidClaim(f"{what}: {value!r} is not a finite real constant")
    return expr


class Budget:
    """A deterministic budget of z3 resource units shared by the queries of one decision.

    Each query gets at most ``per_query`` units and at most what is left; what it used (z3's
    own count in the query's fresh context) is charged. :meth:`share` hands a part to a
    sub-decision, charging this budget with what it uses.
    """

    def __init__(self, total: int, per_query: int = QUERY_RLIMIT,
                 parent: "Budget | None" = None):
        self.total = int(total)
        self.per_query = int(per_query)
        self._used = 0
        self._parent = parent

    @property
    def used(self) -> int:
        return self._used

    def charge(self, units: int) -> None:
        self._used += units
        if self._parent is not None:
            self._parent.charge(units)

    @property
    def left(self) -> int:
        return max(0, self.total - self._used)

    def share(self, units: int) -> "Budget":
        return Budget(min(units, self.left), self.per_query, parent=self)

    def next_limit(self) -> int:
        return min(self.per_query, self.left)


def solve(text: str, budget: Budget | None = None, rlimit: int = QUERY_RLIMIT) -> smt.Answer:
    """z3 on one SMT-LIB2 text within the budget (or ``rlimit``), charging what it used."""
    limit = budget.next_limit() if budget is not None else rlimit
    if limit <= 0:
        return smt.Answer("z3", "unknown", 0, 0, "resource budget exhausted")
    answer = smt.solve(text, "z3", rlimit=limit)
    if budget is not None:
        budget.charge(min(answer.used, limit))
    return answer


def zero_fact(expr: sp.Expr, variables: Sequence[sp.Symbol] = (), *,
              assume: dict[str, str] | None = None) -> tuple[Status, dict[str, Any] | None]:
    """Is ``expr`` identically zero? (PROVED, certificate), (REFUTED, certificate with a
    rational point where it does not vanish), or (INCONCLUSIVE, None)."""
    variables = tuple(variables) or tuple(sorted(expr.free_symbols, key=lambda s: s.name))
    cert = {"kind": "zero", "expr": str(expr), "variables": [v.name for v in variables]}
    if assume:
        cert["assume"] = dict(assume)
    elif any(v.is_positive for v in variables):
        cert["assume"] = {v.name: "positive" for v in variables if v.is_positive}
    if identically_zero(expr):
        return Status.PROVED, cert
    for k in range(1, 40):
        point = [sp.Rational((-1) ** i * (k + i), 2 + (k * (i + 3)) % 7) for i in
                 range(len(variables))]
        if cert.get("assume"):
            point = [abs(c) for c in point]
        try:
            ball = arb_eval(expr, dict(zip(variables, point)))
        except (ValueError, ZeroDivisionError):
            continue
        if not ball.contains(0):
            return Status.REFUTED, {**cert, "point": [str(c) for c in point]}
    return Status.INCONCLUSIVE, None


def nonzero_fact(expr: sp.Expr, variables: Sequence[sp.Symbol] = ()
                 ) -> tuple[Status, dict[str, Any] | None]:
    """Is ``expr`` not identically zero? (PROVED, certificate with a rational point where it
    does not vanish), (REFUTED, the certificate that it vanishes) or (INCONCLUSIVE, None)."""
    status, cert = zero_fact(expr, variables)
    if status is Status.REFUTED:
        return Status.PROVED, {**cert, "kind": "nonzero"}
    if status is Status.PROVED:
        return Status.REFUTED, {**cert, "kind": "nonzero"}
    return Status.INCONCLUSIVE, None


def equal_fact(a: sp.Expr, b: sp.Expr, variables: Sequence[sp.Symbol] = (), **kw: Any
               ) -> tuple[Status, dict[str, Any] | None]:
    """Is a == b identically? (see :func:`zero_fact`)."""
    return zero_fact(a - b, variables, **kw)


def sign_fact(value: sp.Expr, relation: str) -> tuple[Status, dict[str, Any] | None]:
    """Is the constant ``value relation 0``? (PROVED | REFUTED, certificate) or
    (INCONCLUSIVE, None) when neither can be established (a ball too wide, an exact zero
    that SymPy cannot see)."""
    negation = {"<": ">=", "<=": ">", ">": "<=", ">=": "<", "==": "!=", "!=": "=="}
    cert = {"kind": "sign", "expr": str(sp.sympify(value)), "relation": relation}
    try:
        if sign_holds(value, relation):
            return Status.PROVED, cert
        if sign_holds(value, negation[relation]):
            return Status.REFUTED, cert
    except (ValueError, ZeroDivisionError):
        pass
    return Status.INCONCLUSIVE, None


def signs_fact(facts: Sequence[tuple[str, str]]) -> tuple[Status, dict[str, Any] | None]:
    """Do all the constants (SymPy text) stand in their relations to 0? (PROVED, a ``signs``
    certificate) or (INCONCLUSIVE, None)."""
    from verify.kernel.facts import parse_constant

    if not facts:
        return Status.INCONCLUSIVE, None
    for expr, relation in facts:
        if not sign_holds(parse_constant(expr), relation):
            return Status.INCONCLUSIVE, None
    return Status.PROVED, {"kind": "signs", "facts": [list(f) for f in facts]}


def smt_fact(texts: Sequence[str]) -> tuple[Status, dict[str, Any] | None, str]:
    """Are the SMT-LIB2 texts all unsatisfiable (z3 and cvc5)? (PROVED, certificate, "") or
    (INCONCLUSIVE, None, the reason)."""
    ok, reason = smt.confirm_unsat(list(texts))
    if ok:
        return Status.PROVED, {"kind": "smt-unsat", "texts": list(texts)}, ""
    return Status.INCONCLUSIVE, None, reason
