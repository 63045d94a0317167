"""The radial route of the convex-minorant certificate and exact ratios at algebraic points.

f = g + t with g convex and sharp (a cone certificate) and t a function of r = ||x - p||_2:
the kernel recognises t as radial itself and decides t(r) + c r >= 0 for every r >= 0 in one
variable, so the slack c may be irrational (a dip -Min(||x - p||^2, w) needs c = sqrt(w)).
"""

from __future__ import annotations

import copy

import pytest
import sympy as sp

from theorems import sharp
from verify import kernel
from verify.kernel.minorant import radial_profile
from verify.kernel.sharp import exact_value

x1, x2 = sp.symbols("x1 x2", real=True)
R = sp.Symbol("r", positive=True)
W = sp.Rational(1, 8)
ALPHA = 1 - sp.sqrt(2) / 4                      # alpha_P - sqrt(w): in-radius 1, w = 1/8


@pytest.fixture(scope="module")
def dip():
    return sharp.polytope_function([[1, 0], [0, 1], [-1, -1]], [1, 2, 3], [1, -2],
                                   tail="dip", weight=W)


@pytest.mark.parametrize("expr, radial", [
    (-sp.Min((x1 - 1)**2 + (x2 + 2)**2, W), True),
    (sp.sqrt((x1 - 1)**2 + (x2 + 2)**2) * 3 - ((x1 - 1)**2 + (x2 + 2)**2)**2, True),
    (sp.Abs(x1 - 1) - (x1 - 1), False),          # equal to 0 on half the plane only
    ((x1 - 1)**2, False),
    (-sp.Min((x1 - 1)**2 + 2 * (x2 + 2)**2, W), False),
])
def test_radial_profile_recognises_functions_of_the_distance_only(expr, radial):
    phi = radial_profile(expr, (x1, x2), (1, -2), R)
    assert (phi is not None) is radial, phi
    if radial:                                   # the profile agrees with expr at points
        for point in ((2, -2), (1, 0), (sp.Rational(1, 3), sp.Rational(-5, 2))):
            r = sp.sqrt((point[0] - 1)**2 + (point[1] + 2)**2)
            value = expr.subs({x1: point[0], x2: point[1]}) - phi.subs(R, r)
            assert sp.simplify(value) == 0


def test_the_dip_is_proved_exactly_at_its_irrational_modulus(dip):
    assert sp.simplify(dip.modulus["2"] - ALPHA) == 0
    problem = dip.problem("2")
    v = sharp.decide_sharp(problem, ALPHA)
    assert v.status.value == "proved" and v.trust == "exact", v.message
    assert v.certificate["kind"] == "convex-minorant"
    assert v.certificate["gap"] == {"kind": "radial"}
    assert kernel.check(v.claim, "proved", v.certificate)[0]
    m = sharp.decide_modulus(problem, ALPHA)
    assert m.status.value == "proved" and m.trust == "exact", m.message
    assert m.certificate["upper"]["kind"] == "point-ratio"
    above = sharp.decide_sharp(problem, ALPHA * sp.Rational(1001, 1000))
    assert above.status.value == "refuted"


def test_a_radial_certificate_with_too_little_slack_or_a_non_radial_gap_fails(dip):
    problem = dip.problem("2")
    v = sharp.decide_sharp(problem, ALPHA)
    cert = v.certificate
    # the slack below sqrt(w): f - g + c r < 0 near r = sqrt(w); the claim is the same
    small = dict(copy.deepcopy(cert), slack=str(sp.sqrt(2) / 4 - sp.Rational(1, 10**6)),
                 modulus=str(ALPHA + sp.Rational(1, 10**6)))
    ok, why = kernel.check(dict(v.claim, modulus=str(ALPHA + sp.Rational(1, 10**6))),
                           "proved", small)
    assert not ok and "r" in why, why
    # an elliptic dip is not a function of ||x - p||: the radial gap is refused
    elliptic = str(dip.f).replace("(x2 + 2)**2", "2*(x2 + 2)**2")
    assert elliptic != str(dip.f)
    ok, why = kernel.check(dict(v.claim, f=elliptic), "proved", cert)
    assert not ok
    # an irrational slack needs the radial gap, not a Positivstellensatz one
    ok, why = kernel.check(v.claim, "proved", dict(cert, gap={"kind": "psatz", "cases": []}))
    assert not ok


def test_an_algebraic_point_ratio_cannot_refute_the_true_modulus(dip):
    m = sharp.decide_modulus(dip.problem("2"), ALPHA)
    upper = m.certificate["upper"]
    ok, _ = kernel.check(m.claim, "refuted", upper)           # ratio = alpha*, not below it
    assert not ok
    ok, _ = kernel.check(dict(m.claim, value=str(ALPHA + sp.Rational(1, 10**9))),
                         "refuted", upper)                     # but below a larger value
    assert ok


def test_exact_value_resolves_kinks_by_exact_signs():
    close = sp.Rational(1414213562373095, 10**15)              # below sqrt(2) by 5e-17
    assert exact_value(sp.Max(x1, close), {x1: sp.sqrt(2)}) == sp.sqrt(2)
    assert exact_value(sp.Min(x1, close), {x1: sp.sqrt(2)}) == close
    assert exact_value(sp.Abs(x1 - close), {x1: sp.sqrt(2)}) == sp.sqrt(2) - close
    with pytest.raises(ValueError):
        exact_value(x1 + x2, {x1: 1})
