"""theorems.flat_geometry: flatness functions with certified intervals, the preorder, symmetries
and conserved quantities (Josz)."""

import math
from fractions import Fraction

import numpy as np
import pytest
import sympy as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from theorems import flat_geometry as G
from theorems.exact import gradient
from verify import registry
from verify.errors import InvalidClaim
from verify.verdict import Claim, Status


def test_conserved_quantity_proved_and_refuted_with_an_exact_witness():

    f, vs, X, Y = G.matrix_factorization(2, 2, 1)
    q = sp.expand((X.T * X - Y.T * Y)[0, 0])
    assert G.conserved_quantity_claim(f, q, variables=vs, id="q").check().status \
        is Status.PROVED
    wrong = sp.expand((X.T * X + Y.T * Y)[0, 0])
    bad = G.conserved_quantity_claim(f, wrong, variables=vs, id="w").check()
    assert bad.status is Status.REFUTED
    point = dict(zip(vs, [sp.Rational(c) for c in bad.counterexample["point"]]))
    product = gradient(wrong, vs).dot(gradient(f, vs))
    assert product.subs(point) != 0


@settings(max_examples=6, deadline=None)
@given(st.integers(1, 3), st.integers(1, 3), st.integers(1, 2))
def test_discovery_reproduces_the_balancedness_of_matrix_factorization(m, n, k):
    f, vs, X, Y = G.matrix_factorization(m, n, k)
    found = G.quadratic_conserved_quantities(f, vs)
    C = X.T * X - Y.T * Y
    expected = [sp.expand(C[i, j]) for i in range(k) for j in range(i, k)]
    assert G.same_span(found, expected, vs)


def test_every_symmetry_generator_leaves_f_invariant_to_first_order():
    x, y, z = sp.symbols("x y z", real=True)
    f = (x * y - 1) ** 2 + z ** 2
    gens = G.linear_symmetries(f, (x, y, z))
    assert gens
    v = sp.Matrix([x, y, z])
    for A in gens:
        assert sp.expand(gradient(f, (x, y, z)).dot(A * v)) == 0


X, Y = sp.symbols("x y", real=True)
SMALL = st.integers(-4, 4).map(lambda v: sp.Rational(v, 2))


@settings(max_examples=12, deadline=None)
@given(st.lists(SMALL, min_size=3, max_size=3), st.integers(1, 15))
def test_max_variation_of_a_quadratic_contains_the_exact_value(h, r10):
    H = sp.Matrix([[h[0], h[1]], [h[1], h[2]]])
    v = sp.Matrix([X, Y])
    f = sp.expand((v.T * H * v)[0] / 2)
    r = sp.Rational(r10, 10)
    lam = max(max(sp.Poly(H.charpoly().as_expr()).real_roots()), 0)
    exact = float(sp.N(lam * r ** 2 / 2, 30))
    b = G.max_variation(f, (X, Y), (0, 0), r)
    assert b.lower <= exact <= b.upper
    assert b.width <= 1e-5 * max(exact, 1e-6) + 1e-11


@settings(max_examples=10, deadline=None)
@given(st.lists(st.integers(-3, 3), min_size=6, max_size=6), st.integers(1, 10))
def test_interval_of_a_two_variable_polynomial_contains_a_dense_grid_value(c, r10):
    f = c[0] * X ** 3 + c[1] * X * Y ** 2 + c[2] * Y ** 4 + c[3] * X * Y + c[4] * Y + c[5] * X
    point, r = (sp.Rational(1, 3), sp.Rational(-1, 2)), r10 / 10
    b = G.max_variation(f, (X, Y), point, sp.Rational(r10, 10))
    fn = sp.lambdify([(X, Y)], f, "numpy")
    rho, th = np.meshgrid(np.linspace(0, r, 200), np.linspace(0, 2 * np.pi, 720))
    pts = np.stack([1 / 3 + rho * np.cos(th), -0.5 + rho * np.sin(th)])
    grid = float(np.max(fn(pts) - fn(np.array([1 / 3, -0.5]))))
    assert b.lower - 1e-12 <= b.upper
    assert grid <= b.upper + 1e-12               # the grid value is a value of f in the ball
    assert b.lower >= grid - 1e-3 * max(1.0, abs(grid))   # and the witness is not far below


@pytest.mark.parametrize("norm, expected", [("inf", 1), ("1", sp.Rational(1, 4)),
                                            ("2", sp.Rational(1, 2))])
def test_the_norm_option_changes_the_ball(norm, expected):
    b = G.max_variation(X * Y, (X, Y), (0, 0), 1, norm=norm)
    assert b.lower <= float(expected) <= b.upper and b.width < 1e-5


def test_exact_1d_and_the_subdivision_agree_and_bracket_the_true_maximum():
    x = sp.Symbol("x", real=True)
    f = x ** 4 - 3 * x ** 2 + x
    exact = G.max_variation(f, (x,), (sp.Rational(1, 5),), sp.Rational(3, 2), method="exact-1d")
    sub = G.max_variation(f, (x,), (sp.Rational(1, 5),), sp.Rational(3, 2),
                          method="interval-subdivision")
    assert exact.method == "exact-1d" and exact.width < 1e-9
    assert max(exact.lower, sub.lower) <= min(exact.upper, sub.upper)


def test_taylor_bound_is_sound_and_tight_at_small_radius():
    vs = sp.symbols("a b c d", real=True)
    f = (vs[0] * vs[1] - 1) ** 2 + (vs[2] * vs[3] - 2) ** 2
    point = (1, 1, 1, 2)
    b = G.max_variation(f, vs, point, sp.Rational(1, 100), method="taylor")
    # lambda_max of the Hessian at the point is 2 * max(x^2 + y^2 over the pairs) = 10, so
    # f°/r^2 = 5 + O(r)
    assert abs(b.upper / 1e-4 - 5) < 0.1 and b.width < 0.05 * b.upper
    fn = sp.lambdify([vs], f, "numpy")
    u = np.random.default_rng(0).standard_normal((4, 20000))
    u *= 0.01 / np.linalg.norm(u, axis=0)
    sampled = float(np.max(fn(np.array(point, dtype=float)[:, None] + u)) - fn(np.array(point)))
    assert sampled <= b.upper


def test_level_set_distance_of_a_quadratic():
    b = G.level_set_distance(X ** 2 + 4 * Y ** 2, (X, Y), (0, 0), sp.Rational(1, 4))
    assert b.lower <= 0.25 <= b.upper and b.width < 1e-4


def test_flatter_decides_only_when_intervals_separate():
    f, vs = G.toy()
    assert G.is_flatter(f, vs, (0, 0), (1, 0), sp.Rational(1, 2)).status is Status.PROVED
    assert G.is_flatter(f, vs, (1, 0), (0, 0), sp.Rational(1, 2)).status is Status.REFUTED
    mirror = G.is_flatter(f, vs, (1, 0), (-1, 0), sp.Rational(1, 2))   # equal values: overlap
    assert mirror.status is Status.INCONCLUSIVE
    ratio = G.is_flatter(X ** 2 + 3 * Y ** 2 + X ** 2 * Y ** 2, (X, Y), (0, 0), (0, 0),
                      1, rule="ratio-limit")
    assert ratio.status is Status.PROVED     # reflexive
    steeper = G.is_flatter((X ** 2 - 1) ** 2 * (X + 2) ** 2 + Y ** 2, (X, Y), (-2, 0), (1, 0), 1,
                        rule="ratio-limit")
    # f''(-2) = 2 * 9 = 18 vs f''(1) = 8 * 9 = 72: (-2, 0) is flatter at leading order
    assert steeper.status is Status.PROVED
    assert G.is_flatter(f, vs, (0, 0), (2, 0), sp.Rational(1, 2),
                     rule="all-radii").status is Status.EVIDENCE


def test_max_variation_claims_through_the_registry_with_a_re_evaluated_witness():
    f, vs = G.toy()
    bad = registry.decide(Claim("max-variation", {"variables": vs, "f": f, "point": (2, 0),
                                                  "radius": sp.Rational(1, 2),
                                                  "at_most": sp.Rational(3, 10)}, id="c"))
    assert bad.status is Status.REFUTED
    witness = bad.certificate["lower"]                        # re-evaluated here, by hand
    if "u" in witness:
        u = [sp.Rational(c) for c in witness["u"]]
    else:                                                     # polar: radius, angle / pi
        rho, t = (sp.Rational(c) for c in witness["w"])
        u = [rho * sp.cos(sp.pi * t), rho * sp.sin(sp.pi * t)]
    assert sp.simplify(sum(c ** 2 for c in u) - sp.Rational(1, 4)) <= 0
    assert f.subs(dict(zip(vs, [2 + u[0], u[1]]))) - f.subs(dict(zip(vs, (2, 0)))) > \
        sp.Rational(3, 10)
    good = registry.decide(Claim("max-variation", {"variables": vs, "f": f, "point": (0, 0),
                                                   "radius": sp.Rational(1, 2),
                                                   "at_least": sp.Rational(1, 5)}, id="d"))
    assert good.status is Status.PROVED and good.bounds[0] >= 0.2


@pytest.mark.parametrize("kwargs", [{"rule": "sometimes"}, {"normalization": "r3"},
                                    {"norm": "3"}])
def test_bad_options_are_refused_with_a_message(kwargs):
    f, vs = G.toy()
    with pytest.raises(InvalidClaim):
        G.is_flatter(f, vs, (0, 0), (1, 0), 1, **kwargs)


def test_wrong_point_length_is_refused():
    f, vs = G.toy()
    with pytest.raises(InvalidClaim, match="coordinates"):
        G.max_variation(f, vs, (0, 0, 0), 1)


@settings(max_examples=5, deadline=None)
@given(st.integers(1, 4), st.integers(1, 4), st.integers(1, 3), st.integers(0, 2 ** 16))
def test_balanced_minimizers_of_random_factorizations(m, n, k, seed):
    rng = np.random.default_rng(seed)
    r = min(m, n, k)
    M = rng.standard_normal((m, r)) @ rng.standard_normal((r, n))
    Q, _ = np.linalg.qr(rng.standard_normal((k, k)))
    Xb, Yb = G.balanced_minimizer(M, k, Q)
    scale = max(1.0, np.abs(M).max())
    assert np.abs(Xb @ Yb.T - M).max() < 1e-10 * scale
    assert np.abs(Xb.T @ Xb - Yb.T @ Yb).max() < 1e-10 * scale
    H = G.factorization_hessian(Xb, Yb, M)
    s = np.linalg.svd(M, compute_uv=False)
    assert abs(np.linalg.eigvalsh(H)[-1] - 2 * s[0]) < 1e-9 * scale
    assert abs(np.trace(H) - (m * np.sum(Yb ** 2) + n * np.sum(Xb ** 2))) < 1e-9 * scale * m * n


def test_figure1_normalized_reading_drifts_and_plain_reading_overflows():
    run = G.figure1_run("normalized")
    assert abs(run[-1, 0] - 0.0440) < 5e-4 and abs(run[-1, 1] - 0.260) < 5e-4   # the paper's Figure 1
    plain = G.figure1_run("plain", steps=5)
    assert not np.all(np.isfinite(plain[-1])) or np.abs(plain[-1]).max() > 1e100


def test_max_variation_of_kinked_functions_is_bounded_not_an_error():
    """Regression: SymPy differentiates Max into Heaviside, which the ball-arithmetic compiler
    could not evaluate, so a max-variation claim with Max ended in an error."""
    # f = Max(x, y) + x^2 on the ball of radius 1/2: sup at (1/2, 0), f° = 3/4
    f = sp.Max(X, Y) + X ** 2
    b = G.max_variation(f, (X, Y), (0, 0), sp.Rational(1, 2))
    assert b.lower <= 0.75 <= b.upper and b.width < 1e-6
    claim = G.max_variation_claim(f, (0, 0), sp.Rational(1, 2), variables=(X, Y),
                                  at_most=sp.Rational(3, 4) + sp.Rational(1, 1000), id="m")
    v = claim.check()
    assert v.status is Status.PROVED, v.message
    claim = G.max_variation_claim(f, (0, 0), sp.Rational(1, 2), variables=(X, Y),
                                  at_most=sp.Rational(7, 10), id="m2")
    v = claim.check()
    assert v.status is Status.REFUTED, v.message
    # |x| + Min(x, y^2) on the unit circle is x + 1 - x^2 at x = (sqrt(5) - 1)/2: sqrt(5) - 1
    g = sp.Abs(X) + sp.Min(X, Y ** 2)
    value = float(sp.sqrt(5) - 1)
    b = G.max_variation(g, (X, Y), (0, 0), 1)
    assert b.lower <= value <= b.upper and b.width < 1e-5
    # a jump (sign) has no mean-value form; the natural interval extension still bounds it
    b = G.max_variation(sp.sign(X) * Y, (X, Y), (0, 0), 1)
    assert b.lower <= 1 <= b.upper and b.upper < 1 + 1e-6


def test_the_trivial_lower_bound_of_a_concave_function_is_proved_exactly():
    """Regression: f° >= 0 always (y = x); for a negative definite quadratic the witness is the
    point itself and its value an exact 0, which the float conversion rounded down to -5e-324
    (below at_least = 0), so the kernel rejected a true claim."""
    x0, x1, x2 = sp.symbols("x0 x1 x2", real=True)
    f = -x0 ** 2 - x0 * x1 / 2 - 3 * x1 ** 2 / 4 + 3 * x1 * x2 / 2 - 3 * x2 ** 2 / 2
    assert (-sp.hessian(f, (x0, x1, x2))).is_positive_definite     # f is concave
    claim = G.max_variation_claim(f, (0, 0, 0), sp.Rational(3, 5), at_least=0,
                                  variables=(x0, x1, x2), id="concave")
    assert claim.check().status is Status.PROVED


@pytest.mark.parametrize("offset, want", [(sp.Rational(2, 10**7), Status.PROVED),
                                          (-sp.Rational(2, 10**7), Status.REFUTED)])
def test_a_threshold_closer_than_the_default_tolerance_is_still_decided(offset, want):
    """Regression: the subdivision stopped at its relative tolerance (1e-6) even when the
    interval still contained the claimed bound, so a true claim 1e-7 above f° was
    inconclusive. f = (x^2 + y^2)^2 + x on the unit ball at 0: f° = 2 (at y = (1, 0))."""
    X, Y = sp.symbols("X Y", real=True)
    f = (X ** 2 + Y ** 2) ** 2 + X
    claim = G.max_variation_claim(f, (0, 0), 1, at_most=2 + offset, variables=(X, Y),
                                  id="close")
    assert claim.check().status is want


@settings(max_examples=30, deadline=None)
@given(st.floats(min_value=-1e6, max_value=1e6, allow_nan=False).filter(lambda v: v != 0),
       st.integers(1, 9))
def test_decimal_rounding_is_outward_and_short(value, digits):
    """The claim bounds of the geometry checks: a float rounded up (down) to `digits`
    significant digits is an exact rational >= (<=) its exact binary value."""
    from theorems.flat_geometry.checks import _decimal

    up, down = _decimal(value, up=True, digits=digits), _decimal(value, up=False, digits=digits)
    exact = sp.Rational(Fraction(value))
    assert down <= exact <= up
    assert up - down <= sp.Rational(Fraction(abs(value))) * sp.Rational(2, 10 ** (digits - 1))


@pytest.mark.parametrize("m, n, k, s", [(3, 2, 2, (5, 1)), (2, 4, 3, (2,))])
def test_exact_balanced_minimizers_have_the_explicit_forms(m, n, k, s):
    """Rational orthogonal U, V, Q (Cayley transforms): X Y^T = M, X^T X = Y^T Y, and the Hessian
    of ||XY^T - M||^2/2 there has trace m||Y||^2 + n||X||^2 and largest eigenvalue 2 sigma_1."""
    def skew(d, shift):
        S = sp.zeros(d, d)
        for i in range(d):
            for j in range(i + 1, d):
                S[i, j] = sp.Rational(i + 2 * j + shift, 3)
                S[j, i] = -S[i, j]
        return S

    U, V, Q = (G.cayley_orthogonal(skew(d, t)) for t, d in enumerate((m, n, k)))
    assert U.T * U == sp.eye(m) and Q * Q.T == sp.eye(k)
    M, X, Y = G.exact_balanced_minimizer(U, [sp.Integer(v) for v in s], V, k, Q)
    assert X * Y.T == M and X.T * X == Y.T * Y
    f, vs, _, _ = G.matrix_factorization(m, n, k, M)
    H = np.array(sp.hessian(f, vs).xreplace(dict(zip(vs, list(X) + list(Y)))), dtype=float)
    assert np.trace(H) == pytest.approx(m * float(sum(c ** 2 for c in Y))
                                        + n * float(sum(c ** 2 for c in X)))
    assert np.linalg.eigvalsh(H)[-1] == pytest.approx(2 * s[0] ** 2)
    with pytest.raises(InvalidClaim):
        G.cayley_orthogonal(sp.Matrix([[0, 1], [1, 0]]))
