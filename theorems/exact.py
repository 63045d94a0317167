"""Exact and rigorous tools shared by the theorem packages.

* Ball arithmetic (python-flint ``arb``) and SMT-LIB2 encodings are the kernel's own
  (:mod:`verify.kernel.balls`, :mod:`verify.kernel.smt`): deciders use the same trusted
  primitives the kernel re-checks with, so a certificate's text is the text that was solved.
* :class:`Budget` shares a deterministic budget of solver resource units (z3 ``rlimit``)
  between the queries of one decision: the same queries use the same units on any machine.
* :func:`identity_claim`, :func:`sign_claim`, :func:`forall_claim`, ... build the exact facts
  of the registered checks as formal claims (kinds of :mod:`theorems.facts`), which the checks
  decide through :meth:`verify.verdict.Instances.claim`.
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
           "exact_number", "forall_claim", "gradient", "identity_claim", "limit_claim",
           "rational_point", "same_span_claim", "sign_claim", "signs_claim", "solve",
           "to_fmpq"]

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


# --------------------------------------------------------------------------------------------
# exact facts as claims (the instances of the registered checks)
# --------------------------------------------------------------------------------------------

_SIGN_WORDS = {"positive": "positive", "nonnegative": "nonnegative", "negative": "negative"}


def _assumptions(variables: Sequence[sp.Symbol]) -> dict[str, str] | None:
    out = {}
    for v in variables:
        if v.is_positive:
            out[v.name] = "positive"
        elif v.is_nonnegative:
            out[v.name] = "nonnegative"
        elif v.is_negative:
            out[v.name] = "negative"
    return out or None


def identity_claim(expr: sp.Expr, variables: Sequence[sp.Symbol] = (), *, id: str,
                   assume: dict[str, str] | None = None) -> Any:
    """The claim "expr = 0 identically" (kind ``identity``); the variables' signs come from
    ``assume`` or from the symbols' assumptions."""
    from theorems.facts.kinds import identity

    variables = tuple(variables) or tuple(sorted(expr.free_symbols, key=lambda s: s.name))
    return identity(expr, variables=[v.name for v in variables],
                    assume=assume if assume is not None else _assumptions(variables), id=id)


def condition_text(value: sp.Expr, relation: str) -> str:
    """The text of "value relation 0" (kept as written when parsed back)."""
    text = str(sp.sympify(value))
    if relation == "==":
        return f"Eq({text}, 0)"
    if relation == "!=":
        return f"Ne({text}, 0)"
    return f"{text} {relation} 0"


def sign_claim(value: sp.Expr, relation: str, *, id: str) -> Any:
    """The claim "value relation 0" for a constant (kind ``inequalities``)."""
    from theorems.facts.kinds import inequalities

    return inequalities([condition_text(value, relation)], id=id)


def signs_claim(facts: Sequence[tuple[Any, str]], *, id: str) -> Any:
    """The claim that every constant stands in its relation to 0 (kind ``inequalities``)."""
    from theorems.facts.kinds import inequalities

    return inequalities([condition_text(sp.sympify(e), r) for e, r in facts], id=id)


def forall_claim(conclusion: Any, variables: Sequence[sp.Symbol], *, id: str,
                 hypotheses: Sequence[Any] = (), assume: dict[str, str] | None = None) -> Any:
    """The claim "at every real point satisfying the hypotheses, the conclusion holds" (kind
    ``forall``); conditions are SymPy relations (unevaluated where SymPy would evaluate them)
    or text."""
    from theorems.facts.kinds import forall

    variables = tuple(variables)
    return forall(_text(conclusion), variables=[v.name for v in variables],
                  hypotheses=[_text(h) for h in hypotheses],
                  assume=assume if assume is not None else _assumptions(variables), id=id)


def _text(condition: Any) -> str:
    if isinstance(condition, str):
        return condition
    if isinstance(condition, sp.logic.boolalg.BooleanAtom):
        raise ValueError("SymPy already evaluated this condition; build it unevaluated")
    return str(condition)


def limit_claim(expr: sp.Expr, variable: sp.Symbol, to: str, value: Any,
                variables: Sequence[sp.Symbol], *, id: str) -> Any:
    """The claim "lim expr as variable -> to equals value" (kind ``limit``)."""
    from theorems.facts.kinds import limit

    variables = tuple(variables)
    value = value if value in ("oo", "-oo") else str(sp.sympify(value))
    return limit(str(expr), variable.name, to, value, variables=[v.name for v in variables],
                 assume=_assumptions(variables), id=id)


def same_span_claim(found: Sequence[sp.Expr], expected: Sequence[sp.Expr],
                    variables: Sequence[sp.Symbol], *, id: str) -> Any:
    """The claim that two lists of polynomials span the same space (kind ``same-span``)."""
    from theorems.facts.kinds import same_span

    return same_span([str(e) for e in found], [str(e) for e in expected],
                     variables=[v.name for v in variables], id=id)
