"""The whitelisted formula parser: exact values, and hostile input rejected unexecuted."""

import pytest
import sympy as sp
from hypothesis import given, settings, strategies as st

from verify.errors import UnparsableFormula
from verify.formula import make_symbols, parse_formula, parse_number, parse_set

x, y = make_symbols(["x", "y"])


def test_parses_the_documented_language():
    f = parse_formula("Max(Abs(x), 2*Abs(y)) + x**2 + y**2", (x, y))
    assert f == sp.Max(sp.Abs(x), 2 * sp.Abs(y)) + x**2 + y**2
    assert parse_formula("sqrt(Abs(x)) + exp(-x) * log(1 + x**2) - tanh(y)", (x, y)).has(sp.tanh)
    assert parse_formula("Min(sin(x), cos(y), 1/3)", (x, y)).has(sp.Min)


def test_decimals_are_exact():
    assert parse_formula("0.1*x", (x,)) == sp.Rational(1, 10) * x
    assert parse_number(0.1) == sp.Rational(1, 10)
    assert parse_number("2**(1/6)") == sp.Integer(2) ** sp.Rational(1, 6)
    assert parse_number("Rational(1, 3)") == sp.Rational(1, 3)


HOSTILE = [
    "__import__('os').system('touch {marker}')",
    "x.__class__.__bases__[0].__subclasses__()",
    "eval('1')", "exec('import os')", "open('{marker}', 'w')",
    "(lambda: 1)()", "[c for c in ()]", "x if x else y", "getattr(x, 'func')",
    "sp.Abs(x)", "Abs(x=1)", "Abs(*[x])", "x[0]", "x ^ 2", "'a' + 'b'", "x < y", "not x",
    "Max()", "Abs(x, y)", "z + 1", "__builtins__", "x; import os", "f'{{x}}'",
    "2**10**10", "9" * 500, "Abs(" * 100 + "x" + ")" * 100, "-" * 5000 + "x", "Rational(x, 2)",
]


@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_input_is_rejected_and_not_executed(text, tmp_path):
    marker = tmp_path / "pwned"
    with pytest.raises(UnparsableFormula):
        parse_formula(text.format(marker=marker), (x, y))
    assert not marker.exists()


def test_messages_name_the_problem():
    with pytest.raises(UnparsableFormula, match="unknown name 'z'"):
        parse_formula("z + x", (x,))
    with pytest.raises(UnparsableFormula, match=r"write '\*\*'"):
        parse_formula("x ^ 2", (x,))
    with pytest.raises(UnparsableFormula, match="not allowed"):
        parse_formula("__import__('os')", (x,))
    with pytest.raises(UnparsableFormula, match="reserved"):
        make_symbols(["sqrt"])
    with pytest.raises(UnparsableFormula, match="twice"):
        make_symbols(["a", "a"])


def test_numbers_must_be_finite_real_constants():
    for bad in ("x", "sqrt(-1)", "1/0", "log(0)", True, [1], float("nan"), float("inf")):
        with pytest.raises(UnparsableFormula):
            parse_number(bad)


def test_sets():
    assert parse_set("Interval(0, 8)") == sp.Interval(0, 8)
    assert parse_set("Union(Interval(0, 1, False, True), FiniteSet(3))") == sp.Union(
        sp.Interval.Ropen(0, 1), sp.FiniteSet(3))
    with pytest.raises(UnparsableFormula):
        parse_set("x + 1")
    with pytest.raises(UnparsableFormula):
        parse_formula("Interval(0, 1)", (x,))  # sets only where a set is expected
    # regression: SymPy prints FiniteSet(-20) as {-20}; the filter set of Hessian USAM (A)
    # (Union({-20}, Interval(0, ...))) could not be read back from a verdict's JSON
    cubic = sp.Union(sp.FiniteSet(-20), sp.Interval(0, sp.root(3, 3)))
    assert parse_set(str(cubic)) == cubic
    assert parse_set("{1, 2}") == sp.FiniteSet(1, 2)
    with pytest.raises(UnparsableFormula):
        parse_formula("{1, 2}", ())                  # a set display is a set, only where sets are


leaves = st.one_of(st.sampled_from([x, y]), st.integers(-20, 20).map(sp.Integer),
                   st.fractions(max_denominator=9).map(lambda q: sp.Rational(q.numerator,
                                                                              q.denominator)))


def _combine(children):
    pair = st.tuples(children, children)
    return st.one_of(
        pair.map(lambda ab: ab[0] + ab[1]), pair.map(lambda ab: ab[0] * ab[1]),
        children.map(sp.Abs), pair.map(lambda ab: sp.Max(*ab)), pair.map(lambda ab: sp.Min(*ab)),
        children.map(lambda a: a**2), children.map(sp.exp), children.map(sp.sin))


@settings(max_examples=150, deadline=None)
@given(st.recursive(leaves, _combine, max_leaves=8))
def test_printed_sympy_parses_back_to_itself(expr):
    """parse(str(e)) is the same function as e. SymPy's printing is not always a fixed point
    of its own auto-evaluation (Abs(Abs(2*x)) prints as 2*Abs(Abs(x)), which evaluates to
    2*Abs(x)), so equality is checked structurally or else exactly at rational points."""
    parsed = parse_formula(str(expr), (x, y))
    if parsed != expr:
        for point in ({x: sp.Rational(1, 3), y: sp.Rational(-7, 5)},
                      {x: sp.Rational(-2), y: sp.Rational(5, 2)}, {x: 0, y: sp.Rational(1, 7)}):
            gap = sp.N(parsed.subs(point) - expr.subs(point), 60)
            assert abs(complex(gap)) < 1e-45, (expr, parsed)
