"""A claim's stored form reads back to the same claim, for every field type of every kind.

The kernel re-derives every obligation from a claim's JSON form, so that form must mean exactly
what was decided: a claim built from Python objects (or a TOML table), written as JSON, and read
again as a TOML-style table gives the same JSON, and the kernel's own reading of it (its
statement's fields and defaults) accepts it. Open and half-open intervals, conditions with
constants, algebraic numbers and assumption tables included.
"""

from __future__ import annotations

import json

import pytest
import sympy as sp
from hypothesis import HealthCheck, assume, given, settings, strategies as st

from verify import kernel, registry
from verify.errors import InvalidClaim, UnparsableFormula
from verify.fields import claim_from_python, claim_from_table

NAMES = ("x", "y", "z", "w1", "theta")


def _numbers() -> st.SearchStrategy:
    rationals = st.fractions(max_denominator=50).filter(lambda q: abs(q) < 10**6).map(
        lambda q: sp.Rational(q.numerator, q.denominator))
    surds = st.tuples(st.integers(2, 30), st.integers(-5, 5)).map(
        lambda t: sp.Integer(t[1]) + sp.sqrt(t[0]))
    return st.one_of(rationals, surds, st.sampled_from([sp.pi, 2 ** sp.Rational(1, 3),
                                                       sp.Rational(-7, 3)]))


def _expressions(symbols: tuple) -> st.SearchStrategy:
    leaves = st.one_of(st.sampled_from(symbols), _numbers()) if symbols else _numbers()

    def extend(inner):
        return st.one_of(st.tuples(inner, inner).map(lambda t: t[0] + t[1]),
                         st.tuples(inner, inner).map(lambda t: t[0] * t[1]),
                         inner.map(sp.Abs), st.tuples(leaves, leaves).map(lambda t: sp.Max(*t)),
                         st.tuples(inner, st.integers(2, 3)).map(lambda t: t[0] ** t[1]),
                         leaves.map(lambda e: sp.sqrt(e ** 2 + 1)), leaves.map(sp.sin))
    return st.recursive(leaves, extend, max_leaves=4)


def _conditions(symbols: tuple) -> st.SearchStrategy:
    relations = st.tuples(_expressions(symbols), _expressions(symbols),
                          st.sampled_from([sp.StrictLessThan, sp.LessThan, sp.Eq, sp.Ne,
                                           sp.GreaterThan, sp.StrictGreaterThan])).map(
        lambda t: t[2](t[0], t[1], evaluate=False))

    def combine(inner):
        return st.one_of(st.tuples(inner, inner).map(lambda t: sp.And(*t, evaluate=False)),
                         st.tuples(inner, inner).map(lambda t: sp.Or(*t, evaluate=False)),
                         inner.map(lambda c: sp.Not(c, evaluate=False)))
    return st.recursive(relations, combine, max_leaves=3).map(str)


def _sets() -> st.SearchStrategy:
    intervals = st.tuples(_numbers(), _numbers(), st.booleans(), st.booleans()).filter(
        lambda t: bool(t[0] < t[1])).map(lambda t: sp.Interval(*t))
    finite = st.lists(_numbers(), min_size=1, max_size=3).map(lambda v: sp.FiniteSet(*v))
    return st.one_of(intervals, finite, st.tuples(intervals, finite).map(lambda t: sp.Union(*t)))


@st.composite
def field_value(draw, field, symbols: tuple):
    t = field.type
    if t == "formula":
        return draw(_expressions(symbols))
    if t == "formulas":
        return draw(st.lists(_expressions(symbols), min_size=1, max_size=3))
    if t == "number":
        value = draw(_numbers())
        if field.check in ("positive", "nonnegative"):
            value = abs(value) + sp.Rational(1, 7)
        elif field.check in ("unit-interval", "open-unit-interval"):
            value = sp.Rational(draw(st.integers(1, 98)), 99)
        return value
    if t == "point":
        return tuple(draw(_numbers()) for _ in symbols)
    if t == "numbers":
        return tuple(draw(st.lists(_numbers(), min_size=1, max_size=3)))
    if t == "set":
        return draw(_sets())
    if t == "norm":
        return draw(st.sampled_from(["2", "1", "inf"]))
    if t in ("choice", "method"):
        return draw(st.sampled_from(list(field.choices) or ["gd"]))
    if t == "string":
        return draw(st.text("abcxyz -_0123456789", min_size=1, max_size=12))
    if t == "bool":
        return draw(st.booleans())
    if t == "integer":
        return draw(st.integers(-100, 100))
    if t == "condition":
        return draw(_conditions(symbols))
    if t == "conditions":
        return draw(st.lists(_conditions(symbols), min_size=1, max_size=3))
    if t == "assumptions":
        if not symbols:
            return {}
        name = draw(st.sampled_from([s.name for s in symbols]))
        return {name: draw(st.sampled_from(["positive", "nonnegative", "negative", "real"]))}
    if t == "limit-value":
        return draw(st.one_of(st.sampled_from(["oo", "-oo"]), _numbers()))
    if t == "table":
        return draw(st.dictionaries(st.sampled_from(["k", "c", "tau"]), _numbers(),
                                    max_size=2))
    raise AssertionError(f"no strategy for field type {t}")


KINDS = sorted(k for k, d in registry.kinds().items()
               if not any(f.type == "path" and f.required for f in d.fields))


@pytest.mark.parametrize("kind", KINDS)
@settings(max_examples=25, suppress_health_check=[HealthCheck.too_slow,
                                                  HealthCheck.filter_too_much])
@given(data=st.data())
def test_a_stored_claim_reads_back_to_the_same_claim(kind, data):
    declared = registry.kind(kind)
    count = data.draw(st.integers(1, 3))
    symbols = tuple(sp.Symbol(n, real=True) for n in NAMES[:count])
    values = {}
    for f in declared.fields:
        if f.name == "variables":
            values["variables"] = list(symbols)
        elif f.type == "path":
            continue
        elif f.required or data.draw(st.booleans()):
            values[f.name] = data.draw(field_value(f, symbols))
    if kind == "limit-equals":
        values["variable"] = symbols[0].name
    try:
        claim = claim_from_python(declared, values, id="c")
    except (InvalidClaim, UnparsableFormula):
        assume(False)
        return
    stored = json.loads(json.dumps(claim.describe()))

    def read(data):
        return claim_from_table(declared, {k: v for k, v in data.items() if k != "source"},
                                where="<json>")

    again = read(stored)
    second = json.loads(json.dumps(again.describe()))
    # what the stored text means is what reading it twice means (SymPy's evaluation may
    # shorten the text once, e.g. Abs(Abs(x)) -> Abs(x); never the object it denotes)
    assert read(second).params == again.params
    assert json.loads(json.dumps(read(second).describe())) == second
    assert {k: v for k, v in second.items() if k != "source"} == \
        {k: v for k, v in stored.items() if k != "source"} or _same_meaning(claim, again)
    statement, full = kernel.normalize(stored)          # the kernel reads it too
    assert set(full) - set(statement.fields) <= {"id", "kind", "source"}


def _same_meaning(built, read) -> bool:
    """The parameters of the claim as built and as read from its stored text denote the same
    objects (expressions equal at a few rational points, in balls; the rest equal)."""
    from verify.kernel.balls import arb_eval

    for key, value in built.params.items():
        other = read.params.get(key)
        if value == other:
            continue
        pairs = list(zip(value, other)) if isinstance(value, tuple) else [(value, other)]
        for a, b in pairs:
            if not (isinstance(a, sp.Expr) and isinstance(b, sp.Expr)):
                return False
            for k in (1, 2, 3):
                at = {s: sp.Rational(k + i, 3) for i, s in enumerate(sorted(
                    a.free_symbols | b.free_symbols, key=str))}
                if not arb_eval(a - b, at).contains(0):
                    return False
    return True


def test_half_open_intervals_read_back():
    """The red team's finding: Interval(0, 34/3, False, True) was stored as
    Interval.Ropen(0, 34/3), which the parser refused."""
    from theorems.filters.kinds import filter_set_claim

    claim = filter_set_claim("gd", sp.Rational(3, 17), equals="Interval(0, 34/3, False, True)",
                             id="open")
    stored = json.loads(json.dumps(claim.describe()))
    assert stored["equals"] == "Interval.Ropen(0, 34/3)"
    again = claim_from_table(registry.kind("filter-set"),
                             {k: v for k, v in stored.items() if k != "source"}, where="x")
    assert again.params["equals"] == sp.Interval.Ropen(0, sp.Rational(34, 3))
    verdict = claim.check()
    assert verdict.status.value == "refuted" and kernel.recheck([json.loads(
        verdict.to_json())]) == []
