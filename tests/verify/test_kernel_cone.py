"""The convex-cone certificates of the kernel (verify/kernel/cone.py).

Convexity is recognised by the kernel's own rules (anything else is not convex for it), sigma =
f'(p; .) is exact, and every certificate kind accepts what holds and rejects an edited claim, a
flipped status and forged data.
"""

import json
from fractions import Fraction

import pytest
import sympy as sp
from hypothesis import given, settings, strategies as st

from theorems import sharp, toys
from verify import kernel
from verify.kernel import cone as K
from verify.verdict import Status
from kernel_edits import recheck

x, y, z = sp.symbols("x y z", real=True)


def claim_of(f, variables, point, norm="2", kind="sharp-minimizer", **fields):
    return {"kind": kind, "variables": [v.name for v in variables], "f": str(f),
            "point": [str(sp.nsimplify(c)) for c in point], "norm": norm,
            **{k: str(v) for k, v in fields.items()}}


# --------------------------------------------------------------------------------------------
# the rules
# --------------------------------------------------------------------------------------------

CONVEX = [
    sp.Abs(x) + y ** 2,
    sp.Max(sp.Abs(x), 2 * sp.Abs(y)) + x ** 2 + y ** 2,
    x ** 2 + x * y + y ** 2 + sp.Abs(x + y) + sp.Max(x, y, 0),       # PSD quadratic
    -sp.Min(x, -y) + (sp.Abs(x) + sp.Abs(y)) ** 3,                   # -Min(concave), power
    sp.sqrt(x ** 2 + y ** 2) + x,                                    # a norm
    sp.sqrt((x - y) ** 2 + 4) + sp.Max(x - 1, 2 - y),              # a norm, off its kink
    sp.Abs(x ** 2 + y ** 2 + 1) + (x + 2 * y) ** 4,                  # Abs of convex >= 0
    sp.Abs(sp.Min(-x ** 2, -1)),                                     # Abs of concave <= 0
    sp.Rational(3, 2) * sp.Max(sp.Abs(x - y), sp.Abs(x + y)) - sp.Rational(1, 2) * x,
]
NOT_RECOGNISED = [
    sp.Min(x ** 2, 1) + sp.Abs(y),          # capped: nonconvex
    x * y + sp.Abs(x),                      # indefinite quadratic
    -sp.Abs(x) + y ** 2,                    # concave part
    sp.Abs(x ** 2 - 1),                     # Abs of a convex function with both signs
    (x + y) ** 3,                           # odd power of an affine function
    sp.sqrt(x ** 2 - y ** 2 + 5),           # sqrt of an indefinite quadratic
    sp.sqrt(2) * sp.Abs(x),                 # an irrational coefficient
    sp.exp(x) + sp.Abs(y),                  # no rule for exp (convex, but not recognised)
    sp.Max(-x ** 2, y),                     # Max with a concave argument
]


@pytest.mark.parametrize("f", CONVEX, ids=str)
def test_convex_functions_are_recognised(f):
    _, cone = K.analyze(claim_of(f, (x, y), (0, 0)))
    assert len(cone.forms) >= 1


@pytest.mark.parametrize("f", NOT_RECOGNISED, ids=str)
def test_other_functions_are_not_convex_for_the_kernel(f):
    with pytest.raises(K.NotRecognised):
        K.analyze(claim_of(f, (x, y), (0, 0)))


def test_irrational_data_at_the_point_is_not_supported():
    with pytest.raises(K.NotRecognised):               # sqrt(2) at the point
        K.analyze(claim_of(sp.sqrt(x ** 2 + y ** 2 + 2), (x, y), (0, 0)))
    _, cone = K.analyze(claim_of(sp.sqrt(x ** 2 + y ** 2 + 9), (x, y), (4, 0)))   # 5
    assert cone.root.value((Fraction(1), Fraction(0))) == Fraction(4, 5)


def test_psd_is_exact():
    assert K.psd([[1, 1], [1, 1]]) and not K.psd([[1, 2], [2, 1]])
    assert not K.psd([[0, 1], [1, 5]])                     # zero pivot, nonzero row
    assert K.psd([[0, 0], [0, 0]]) and not K.psd([[Fraction(-1, 10**30)]])
    eps = Fraction(1, 10**20)
    assert not K.psd([[1, 1], [1, 1 - eps]]) and K.psd([[1, 1], [1, 1 + eps]])


# sigma against the difference quotient: for f built from Abs, Max, affine and quadratic
# terms, f(p + t h) - f(p) = t sigma(h) + t^2 q(h) exactly once t is small (no kink crossed),
# so sigma(h) = 2 D(t) - D(2t) with D(t) = (f(p + t h) - f(p)) / t.

small = st.integers(-3, 3).map(sp.Integer)


@st.composite
def convex_pieces(draw):
    a = [draw(small) for _ in range(3)]
    b = [draw(small) for _ in range(3)]
    c = sp.Rational(draw(st.integers(1, 4)), draw(st.integers(1, 3)))
    lin = a[0] * x + a[1] * y + a[2] * z
    f = c * sp.Abs(lin + draw(small)) + sp.Max(b[0] * x - y, b[1] * y + z, b[2] * z - x)
    return f + (x - draw(small)) ** 2 + draw(st.integers(0, 2)) * (y + z) ** 2 + sp.Abs(z)


@settings(max_examples=40, deadline=None)
@given(f=convex_pieces(), p=st.tuples(small, small, small), h=st.tuples(small, small, small))
def test_sigma_is_the_directional_derivative(f, p, h):
    if not any(h):
        return
    _, cone = K.analyze(claim_of(f, (x, y, z), p))
    sigma = cone.root.value([Fraction(int(c)) for c in h])
    t = sp.Rational(1, 10**8)

    def quotient(s):
        point = dict(zip((x, y, z), [pi + s * hi for pi, hi in zip(p, h)]))
        return (f.subs(point) - f.subs(dict(zip((x, y, z), p)))) / s

    assert 2 * quotient(t) - quotient(2 * t) == sp.Rational(sigma.numerator, sigma.denominator)


# --------------------------------------------------------------------------------------------
# certificates: accepted when they hold, rejected when tampered with
# --------------------------------------------------------------------------------------------

RHOMBUS = toys.rhombus()


@pytest.fixture(scope="module")
def cone_verdicts():
    f, (a, b) = RHOMBUS.expr, RHOMBUS.variables
    out = {}
    for norm, alpha in RHOMBUS.facts["modulus"].items():
        out[norm] = sharp.sharp_minimizer(f, (0, 0), alpha * sp.Rational(999, 1000),
                                          norm=norm, id=f"p{norm}").check()
        out[f"modulus-{norm}"] = sharp.sharpness_modulus(f, (0, 0), alpha, norm=norm,
                                                         id=f"m{norm}").check()
    out["small"] = sharp.sharpness_modulus(f, (0, 0), "4/5", norm="inf", id="s").check()
    out["tilt"] = sharp.tilt_stable(f, (0, 0), "89/100", id="t").check()
    out["ball"] = sharp.sharp_minimizer(toys.euclid_plus_square(2).expr, (0, 0), "999/1000",
                                        variables=toys.euclid_plus_square(2).variables,
                                        norm="inf", id="b").check()
    return out


@pytest.mark.parametrize("norm, proof", [("inf", "members"), ("1", "affine"), ("2", "slemma")])
def test_cone_proofs_reject_edits(cone_verdicts, norm, proof):
    v = cone_verdicts[norm]
    assert v.status is Status.PROVED and v.certificate["kind"] == "convex-cone", v.message
    assert proof in v.certificate
    assert recheck(v)[0]
    alpha = RHOMBUS.facts["modulus"][norm]
    assert not recheck(v, claim__modulus=str(alpha * sp.Rational(1001, 1000)))[0]  # larger
    assert not recheck(v, claim__f="Max(Abs(x1), Abs(x2)) + x1**2 + x2**2")[0]  # other f
    assert not recheck(v, claim__f="Max(Abs(x1), 2*Abs(x2)) + Min(x1**2, 1)")[0]  # nonconvex
    assert not recheck(v, claim__point=["1", "0"])[0]
    assert not recheck(v, status="refuted", counterexample={"x": 1})[0]
    assert not recheck(v, certificate__modulus="1/2")[0]         # below the claim's modulus
    other = {"inf": "1", "1": "inf", "2": "inf"}[norm]
    assert not recheck(v, claim__norm=other)[0]                  # a proof for another norm


def test_forged_weights_are_rejected(cone_verdicts):
    v = cone_verdicts["inf"]
    members = [list(w) for w in v.certificate["members"]]
    forged = [list(w) for w in members]
    forged[0][0] = str(Fraction(forged[0][0]) + Fraction(1, 7))
    assert not recheck(v, certificate__members=forged)[0]
    negative = [list(w) for w in members]
    j = next(i for i, c in enumerate(negative[1]) if Fraction(c))
    negative[1][j] = str(-Fraction(negative[1][j]))
    assert not recheck(v, certificate__members=negative)[0]
    assert not recheck(v, certificate__members=members[:-1])[0]     # a vertex left out
    assert not recheck(v, certificate__members=[members[0]] * len(members))[0]
    w = cone_verdicts["1"]
    slopes = [list(s) for s in w.certificate["affine"]["slopes"]]
    slopes[0] = [str(2 * Fraction(c)) for c in slopes[0]]
    assert not recheck(w, certificate__affine__slopes=slopes)[0]
    base = ["0"] * len(w.certificate["affine"]["base"])
    assert not recheck(w, certificate__affine__base=base)[0]


def test_forged_slemma_multipliers_are_rejected(cone_verdicts):
    v = cone_verdicts["2"]
    proof = v.certificate["slemma"]
    assert proof["products"] or proof["equalities"]
    if proof["products"]:
        p, q, lam = proof["products"][0]
        bad = [[p, q, str(-Fraction(lam) - 1)]] + proof["products"][1:]
        assert not recheck(v, certificate__slemma__products=bad)[0]      # negative lambda
        assert not recheck(v, certificate__slemma__products=[[p, q, "1000"]] +
                           proof["products"][1:])[0]
        assert not recheck(v, certificate__slemma__products=[[99, q, lam]])[0]
    assert not recheck(v, certificate__slemma={"products": [], "equalities": []})[0]


def test_modulus_proofs_need_both_bounds(cone_verdicts):
    for norm, alpha in RHOMBUS.facts["modulus"].items():
        v = cone_verdicts[f"modulus-{norm}"]
        assert v.status is Status.PROVED and v.certificate["kind"] == "convex-cone", v.message
        assert recheck(v)[0]
        assert "upper" in v.certificate
        assert not recheck(v, claim__value=str(alpha * sp.Rational(99, 100)))[0]
        assert not recheck(v, claim__value=str(alpha * sp.Rational(101, 100)))[0]
        assert not recheck(v, certificate__upper__direction=["0", "1"])[0]  # ratio 2 there
        cert = {k: val for k, val in v.certificate.items() if k != "upper"}
        assert not recheck(v, certificate=cert)[0]
        assert not recheck(v, status="refuted", counterexample={"x": 1})[0]


def test_a_proved_larger_modulus_refutes_a_smaller_alpha(cone_verdicts):
    v = cone_verdicts["small"]                 # alpha*_inf = 1 > 4/5
    assert v.status is Status.REFUTED and v.certificate["kind"] == "convex-cone"
    assert recheck(v)[0]
    assert not recheck(v, claim__value="1")[0]
    assert not recheck(v, claim__value="2")[0]
    assert not recheck(v, status="proved")[0]


def test_tilt_claims_take_the_same_certificate(cone_verdicts):
    v = cone_verdicts["tilt"]
    assert v.status is Status.PROVED and v.certificate["kind"] == "convex-cone"
    assert recheck(v)[0]
    assert not recheck(v, claim__radius="9/10")[0]           # above 2/sqrt(5)


def test_reduced_smt_proofs_regenerate_their_texts(cone_verdicts):
    v = cone_verdicts["ball"]                  # ||x||_2 + ||x||^2 in the inf-norm: alpha* = 1
    assert v.status is Status.PROVED and "reduced-smt" in v.certificate, v.message
    assert recheck(v)[0]
    texts = list(v.certificate["reduced-smt"])
    assert not recheck(v, **{"certificate__reduced-smt": texts[1:]})[0]
    assert not recheck(v, claim__modulus="1001/1000")[0]


def test_malformed_convex_cone_certificates_are_rejected_not_raised():
    claim = claim_of(sp.Abs(x) + y ** 2 + sp.Abs(y), (x, y), (0, 0), norm="inf", modulus="1")
    for cert in ({"kind": "convex-cone"}, {"kind": "convex-cone", "modulus": "1"},
                 {"kind": "convex-cone", "modulus": "1", "members": "none"},
                 {"kind": "convex-cone", "modulus": "1", "members": [["x"]] * 4},
                 {"kind": "convex-cone", "modulus": "1", "members": [[1.5]] * 4},
                 {"kind": "convex-cone", "modulus": "1", "zero": []},
                 {"kind": "convex-cone", "modulus": "-1", "members": []}):
        ok, reason = kernel.check(claim, "proved", cert)
        assert ok is False and reason
    bad = claim_of(sp.Min(x ** 2, 1) + sp.Abs(y), (x, y), (0, 0), norm="inf", modulus="1")
    ok, reason = kernel.check(bad, "proved", {"kind": "convex-cone", "modulus": "1",
                                              "members": []})
    assert not ok and "convex" in reason


# --------------------------------------------------------------------------------------------
# soundness of the rules: whatever the kernel calls convex is convex, and f >= f(p) + sigma
# --------------------------------------------------------------------------------------------

leaf = st.one_of(
    st.builds(lambda a, b, c: a * x + b * y + c, small, small, small),
    st.builds(lambda a, b: (x - a) ** 2 + (y - b) ** 2, small, small),
    st.builds(lambda a, b: (a * x + b * y) ** 2, small, small),
    st.just(x * y),                                          # indefinite: never convex
    st.builds(lambda a: -(x - a) ** 2, small),               # concave
)


def _combine(children):
    coeff = st.sampled_from([sp.Rational(-2), sp.Rational(-1, 2), sp.Rational(1, 3),
                             sp.Integer(2)])
    return st.one_of(
        st.builds(sp.Abs, children),
        st.builds(lambda a, b: sp.Max(a, b), children, children),
        st.builds(lambda a, b: sp.Min(a, b), children, children),
        st.builds(lambda a, b: a + b, children, children),
        st.builds(lambda c, a: c * a, coeff, children),
        st.builds(lambda a: a ** 2, children),
    )


expressions = st.recursive(leaf, _combine, max_leaves=6)
rational = st.builds(sp.Rational, st.integers(-9, 9), st.integers(1, 4))


@settings(max_examples=150, deadline=None)
@given(f=expressions, a=st.tuples(rational, rational), b=st.tuples(rational, rational),
       t=st.sampled_from([sp.Rational(1, 3), sp.Rational(2), sp.Rational(7)]))
def test_what_the_rules_call_convex_is_convex(f, a, b, t):
    # the rules are sound or the whole cone path is: a function they accept must satisfy
    # f((a + b)/2) <= (f(a) + f(b))/2 and f(a + t (b - a)) >= f(a) + t sigma_a(b - a) exactly
    try:
        _, cone = K.analyze(claim_of(f, (x, y), a))
    except (K.NotRecognised, ValueError, ZeroDivisionError):
        return

    def at(point):
        return f.xreplace(dict(zip((x, y), point)))

    mid = tuple((u + v) / 2 for u, v in zip(a, b))
    assert at(mid) <= (at(a) + at(b)) / 2, (f, a, b)
    h = tuple(v - u for u, v in zip(a, b))
    sigma = cone.root.value([Fraction(int(c.p), int(c.q)) for c in h])
    far = tuple(u + t * c for u, c in zip(a, h))
    assert at(far) >= at(a) + t * sp.Rational(sigma.numerator, sigma.denominator), (f, a, b)


# --------------------------------------------------------------------------------------------
# refutations and the other proofs under tampering
# --------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def refutations():
    f = RHOMBUS.expr
    out = {}
    for norm, alpha in RHOMBUS.facts["modulus"].items():
        out[norm] = sharp.sharp_minimizer(f, (0, 0), alpha * sp.Rational(1001, 1000),
                                          norm=norm, id=f"r{norm}").check()
    return out


@pytest.mark.parametrize("norm", ["2", "1", "inf"])
def test_cone_refutations_are_points_that_reject_edits(refutations, norm):
    # the direction h with sigma(h) < m ||h|| becomes a point p + t h, re-evaluated exactly
    v = refutations[norm]
    assert v.status is Status.REFUTED and v.certificate["kind"] == "point", v.message
    assert "convex cone" in v.method and v.counterexample["direction"]
    assert recheck(v)[0]
    xs = v.certificate["x"]
    assert not recheck(v, certificate__x=["0", "0"])[0]              # the point itself
    assert not recheck(v, certificate__x=[xs[1], xs[0]] if xs[0] != xs[1] else
                       [xs[0], str(-Fraction(xs[1]))])[0]           # another direction
    assert not recheck(v, certificate__x=[str(10 * Fraction(c)) for c in xs])[0]  # too far
    assert not recheck(v, claim__modulus="1/2")[0]                  # a true claim
    assert not recheck(v, claim__point=xs)[0]                       # x is the point now
    assert not recheck(v, claim__f="3*Abs(x1) + 3*Abs(x2)")[0]      # a sharper f
    assert not recheck(v, status="proved")[0]


def test_a_2_norm_proof_via_the_1_norm():
    # sigma = |h1| + 2|h2| >= ||h||_1 >= ||h||_2, so alpha*_2 >= 1 through the 1-norm's cube
    f = sp.Abs(x) + 2 * sp.Abs(y) + x ** 2
    v = sharp.sharp_minimizer(f, (0, 0), "999/1000", norm="2", id="v").check()
    assert v.status is Status.PROVED and v.certificate.get("via") == "1", v.message
    assert "affine" in v.certificate and recheck(v)[0]
    assert not recheck(v, claim__norm="inf")[0]                # via is for the 2-norm only
    assert not recheck(v, certificate__via="inf")[0]
    assert not recheck(v, certificate__modulus="1001/1000", claim__modulus="1001/1000")[0]
    slopes = [list(s) for s in v.certificate["affine"]["slopes"]]
    slopes[1] = [str(-Fraction(c)) for c in slopes[1]]
    assert not recheck(v, certificate__affine__slopes=slopes)[0]
    # Max(|x|, |y|): alpha*_1 = 1/2 < alpha*_2 = 1/sqrt(2): no cube proof of 3/5, so the
    # proof of 3/5 is an S-lemma certificate, and a via proof of it is rejected
    g = sp.Max(sp.Abs(x), sp.Abs(y))
    w = sharp.sharp_minimizer(g, (0, 0), "3/5", norm="2", id="w").check()
    assert w.status is Status.PROVED and "slemma" in w.certificate, w.message
    claim = json.loads(w.to_json())["claim"]
    base = ["1"] + ["0"] * 5
    forged = {"kind": "convex-cone", "modulus": "3/5", "via": "1",
              "affine": {"base": base, "slopes": [["0"] * 6, ["0"] * 6]}}
    assert not kernel.check(claim, "proved", forged)[0]


def test_forged_slemma_equality_multipliers_are_rejected(cone_verdicts):
    v = cone_verdicts["2"]
    proof = v.certificate["slemma"]
    if proof["equalities"]:
        k, nu = proof["equalities"][0]
        bad = [[k, str(Fraction(nu) + 1)]] + proof["equalities"][1:]
        assert not recheck(v, certificate__slemma__equalities=bad)[0]
        assert not recheck(v, certificate__slemma__equalities=[[99, nu]])[0]
    assert not recheck(v, certificate__slemma__products=[])[0] or not proof["products"]


def test_alpha_zero_certificates():
    # x^2 + y^2 is smooth at 0: its subdifferential is {0}, alpha* = 0 exactly
    f = x ** 2 + y ** 2
    v = sharp.sharpness_modulus(f, (0, 0), 0, norm="2", id="z").check()
    assert v.status is Status.PROVED and "zero" in v.certificate, v.message
    assert recheck(v)[0]
    assert not recheck(v, claim__f="x1**2 + x2**2 + x1")[0]     # gradient e_1: alpha* < 0
    assert not recheck(v, claim__value="1/10")[0]
