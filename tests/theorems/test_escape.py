"""theorems.escape and numerics.flows against closed forms (Ahn, Jadbabaie, Sra)."""

import math

import numpy as np
import pytest
import sympy as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from numerics import flows
from theorems import escape as E
from theorems.exact import gradient
from verify.cli import ExitCode, main
from verify.formula import parse_number
from verify.verdict import Status


def flat(f, variables, point, **kw):
    """Decide the flat-minimum claim about ``point`` (Definition 2, or 3 with eps)."""
    return E.flat_minimum(f, point, variables=variables, id="flat", **kw).check()


def test_example1_flat_minima_and_the_closed_form_off_them():
    f, xs = E.example1()
    for pt in ((1, 1), (-1, -1)):
        assert flat(f, xs, pt).status is Status.PROVED
    for a in (sp.Integer(2), sp.Integer(3), sp.Rational(1, 4)):
        v = flat(f, xs, (a, 1 / a))
        assert v.status is Status.REFUTED
        closed = abs(2 * a ** 2 - 2 / a ** 2) / sp.sqrt(a ** 2 + a ** -2)
        assert sp.simplify(parse_number(v.counterexample["norm"]) - closed) == 0


def test_not_critical_and_saddle_points_are_refuted_and_strict_minima_proved():
    x, y = sp.symbols("x y", real=True)
    assert flat((x * y - 1) ** 2, (x, y), (1, 2)).status is Status.REFUTED
    saddle = flat(x ** 2 - y ** 2, (x, y), (0, 0))
    assert saddle.status is Status.REFUTED
    d = [parse_number(c) for c in saddle.counterexample["direction"]]
    assert d[0] ** 2 - d[1] ** 2 < 0
    assert flat(x ** 2 + 3 * y ** 2, (x, y), (0, 0)).status is Status.PROVED


def test_degenerate_minima_are_not_decided_exactly():
    """(x y - 1)^4 has the same minima, but its Hessian vanishes there (not Morse-Bott): the
    projector onto ker Hess f is the identity, unlike d Phi, so the decider must not prove."""
    f, xs = E.example1()
    v = flat(f ** 2, xs, (1, 1))
    assert v.status is Status.INCONCLUSIVE


@settings(max_examples=12, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 4), st.integers(1, 3), st.booleans(),
                          st.booleans()), min_size=1, max_size=3))
def test_products_flat_iff_balanced(factors):
    """f = sum_i (u_i v_i - s_i^2)^2: on X*, tr-bar ~ sum (u_i^2 + v_i^2), minimized along the
    hyperbola u v = s^2 at |u| = |v| = s; points (s c, s / c) are flat iff every c = 1."""
    targets, point = [], []
    for s, c, balanced, negative in factors:
        c = 1 if balanced else sp.Rational(c + 1, c)
        sign = -1 if negative else 1
        targets.append(sp.Integer(s) ** 2)
        point += [sign * s * c, sign * sp.Integer(s) / c]
    f, xs, _ = E.sum_of_products(len(factors), targets)
    v = flat(f, xs, point)
    assert v.status is (Status.PROVED if all(b for _, _, b, _ in factors) else Status.REFUTED)


def test_definition3_numeric_with_each_first_condition():
    f, xs = E.example1()
    for first in E.FIRST_CONDITIONS:
        near = flat(f, xs, (1.001, 1.0), eps=0.01, eps2=0.05, first=first)
        assert near.status is Status.EVIDENCE, near.message
    # Regression: a disproof by LSODA and finite differences used to be `refuted` although
    # nothing re-checks it; it is reported with its numbers and stays inconclusive
    far = flat(f, xs, (2.01, 0.5), eps=0.1, eps2=0.1)
    assert far.status is Status.INCONCLUSIVE
    assert far.evidence["numerically_violated"] is True
    assert far.evidence["second_value"] == pytest.approx(3.638, abs=0.05)
    assert "cannot refute" in far.message


def test_limit_map_of_a_singular_quadratic_is_the_kernel_projection():
    rng = np.random.default_rng(0)
    Q, _ = np.linalg.qr(rng.normal(size=(4, 4)))
    A = Q @ np.diag([3.0, 1.0, 0.0, 0.0]) @ Q.T
    x0 = rng.normal(size=4)
    phi = flows.limit_map(lambda x: A @ x, x0)
    K = Q[:, 2:]
    assert phi.converged
    assert np.allclose(phi.point, K @ K.T @ x0, atol=1e-9)
    assert np.allclose(flows.limit_map_jacobian(lambda x: A @ x, x0), K @ K.T, atol=1e-6)


def test_sphere_moments():
    g = sp.symbols("g1:4")
    d = 3
    assert E.sphere_expectation(g[0] ** 2, g) == sp.Rational(1, d)
    assert E.sphere_expectation(g[0] ** 4, g) == sp.Rational(3, d * (d + 2))
    assert E.sphere_expectation(g[0] ** 2 * g[1] ** 2, g) == sp.Rational(1, d * (d + 2))
    assert E.sphere_expectation(g[0] * g[1] + g[2] ** 3, g) == 0
    rng = np.random.default_rng(1)
    s = rng.standard_normal((200000, 3))
    s /= np.linalg.norm(s, axis=1, keepdims=True)
    mc = np.mean(s[:, 0] ** 2 * s[:, 1] ** 4)
    assert mc == pytest.approx(float(E.sphere_expectation(g[0] ** 2 * g[1] ** 4, g)), rel=0.02)


def test_smoothing_identity_exact_for_a_quartic():
    f, xs = E.example1()
    drift, rho = E.smoothing_drift(f, xs)
    expected = gradient(f, xs) + rho ** 2 / 2 * gradient(E.normalized_trace(f, xs), xs)
    assert all(sp.expand(c) == 0 for c in drift - expected)


def test_sa_speedup_factors_are_d_and_d_over_n():
    rho = sp.Symbol("rho", positive=True)
    dr = E.perturbation_drifts(2, [2, sp.Rational(1, 2), 3, sp.Rational(1, 3)])
    assert sp.limit(dr["sa"] / dr["rs"], rho, 0) == 4
    assert sp.limit(dr["sa_full_batch"] / dr["rs"], rho, 0) == 2


def test_flat_minimum_claims_through_the_cli(tmp_path):
    path = tmp_path / "flat.toml"
    path.write_text('''
[[claim]]
id = "flat-11"
kind = "flat-minimum"
variables = ["x", "y"]
f = "(x*y - 1)**2"
point = [1, 1]

[[claim]]
id = "not-flat"
kind = "flat-minimum"
variables = ["x", "y"]
f = "(x*y - 1)**2"
point = [2, 0.5]

[[claim]]
id = "approx"
kind = "flat-minimum"
variables = ["x", "y"]
f = "(x*y - 1)**2"
point = [1.001, 1.0]
eps = 0.01
eps2 = 0.05
first = "value"
''')
    out = tmp_path / "v.json"
    code = main(["check", str(path), "--db", str(tmp_path / "r.db"), "--json", str(out),
                 "--quiet"])
    import json

    got = {v["id"]: v["status"] for v in json.loads(out.read_text())}
    assert got == {"flat-11": "proved", "not-flat": "refuted", "approx": "evidence"}
    assert code == ExitCode.REFUTED


def test_bad_flat_minimum_claims_are_errors_naming_the_field(tmp_path):
    """Regression: `eps = -1` was accepted and "refuted"; `f = "Abs(x)"` gave "TypeError:
    Cannot convert expression to float"."""
    from verify import loaders
    from verify.errors import InvalidClaim

    path = tmp_path / "bad.toml"
    path.write_text("".join(f'''
[[claim]]
id = "{item}"
kind = "flat-minimum"
variables = ["x"]
f = "{f}"
point = [0]
{extra}
''' for item, f, extra in (("neg", "x**2", "eps = -1"), ("kink", "Abs(x)", ""),
                            ("kink-eps", "Max(x, 0)**2 + x**2", "eps = 0.1"))))
    loaded = loaders.load(path)
    assert loaded.claims == []
    messages = {v.id: v.message for v in loaded.errors}
    assert "field 'eps': must be nonnegative, got -1" in messages["neg"]
    assert "field 'f': Abs(x) uses Abs" in messages["kink"] and "C^2" in messages["kink"]
    assert "uses Max" in messages["kink-eps"]
    with pytest.raises(InvalidClaim, match="eps"):
        E.flat_minimum("x**2", (0,), variables=["x"], eps=-1)
    with pytest.raises(InvalidClaim, match="uses Abs"):
        E.flat_minimum("Abs(x) + x**2", (0,), variables=["x"])


def test_irrational_points_are_decided_exactly():
    x, y = sp.symbols("x y", real=True)
    f = (x * y - 2) ** 2
    assert flat(f, (x, y), ("sqrt(2)", "sqrt(2)")).status is Status.PROVED
    v = flat(f, (x, y), ("2*sqrt(2)", "sqrt(2)/2"))
    assert v.status is Status.REFUTED
    # a float coordinate is read exactly (0.3333333 is not rounded to 1/3): not on X*
    assert flat((x * y - 1) ** 2, (x, y), (3, 0.3333333)).status \
        is Status.REFUTED


def test_the_closed_form_limit_map_of_example1_is_the_flow_limit():
    """Phi(x) = (a, 1/a) with a^2 - 1/a^2 = x1^2 - x2^2 (the conserved quantity) is the limit of
    the gradient flow (LSODA) from starts in the positive quadrant, on both sides of X*."""
    f, xs = E.example1()
    orc = E.numeric_oracles(f, xs)
    p1, p2 = sp.symbols("x1 x2", positive=True)
    phi, c = E.example1_limit_map(p1, p2)
    for start in ((0.3, 0.5), (2.5, 0.2), (3.0, 2.0), (0.7, 2.9)):
        closed = [float(e.subs({p1: start[0], p2: start[1]})) for e in phi]
        assert flows.limit_map(orc["grad"], np.array(start)).point == pytest.approx(closed,
                                                                                  rel=1e-8)
    a = E.example1_limit_point(c)[0]
    assert sp.simplify((a ** 2 - 1 / a ** 2 - c).subs({p1: 2, p2: 1})) == 0
