"""The SOS kernel (verify.kernel.sos): exact PSD tests, the Psatz identity, the lifted and
polar statements it derives from a claim, and the rejection of every kind of tampering."""

import copy
import itertools
from fractions import Fraction

import flint
import numpy as np
import pytest
import sympy as sp

from theorems.sharp import deciders, sos_case
from theorems.sharp.nonconvex import nonconvex_sharp
from verify import kernel
from verify.errors import UnsupportedFunction
from verify.kernel import sos as K
from verify.kernel.geometry import BallProblem
from verify.verdict import Status
from kernel_edits import recheck

x, y = sp.symbols("x y", real=True)


def q(v) -> flint.fmpq:
    v = Fraction(v)
    return flint.fmpq(v.numerator, v.denominator)


# --------------------------------------------------------------------------------------------
# exact PSD and the identity
# --------------------------------------------------------------------------------------------

def test_psd_agrees_with_principal_minors_on_random_rational_matrices():
    rng = np.random.default_rng(0)
    for trial in range(60):
        n = int(rng.integers(1, 6))
        rank = int(rng.integers(0, n + 1))
        B = sp.Matrix(n, rank, [sp.Rational(int(rng.integers(-4, 5)), int(rng.integers(1, 4)))
                                for _ in range(n * rank)])
        A = B * B.T if rank else sp.zeros(n, n)
        if trial % 3 == 0:     # perturb a diagonal entry down: often indefinite
            A[0, 0] -= sp.Rational(1, int(rng.integers(1, 5)))
        # PSD iff every principal minor is >= 0 (exact determinants, an independent test)
        want = all(A.extract(list(S), list(S)).det() >= 0 for k in range(1, n + 1)
                   for S in itertools.combinations(range(n), k))
        assert K.psd([[q(str(A[i, j])) for j in range(n)] for i in range(n)]) == want, A


def test_psd_rejects_a_zero_pivot_above_a_nonzero_entry():
    assert not K.psd([[q(0), q(1)], [q(1), q(5)]])
    assert K.psd([[q(0), q(0)], [q(0), q(5)]])
    assert not K.psd([[q(1), q(2)], [q(2), q(3)]])


ONE_VAR = {(2,): q(2)}                   # p = 2 x^2


def test_check_psatz_accepts_a_true_identity_and_rejects_tampering():
    good = {"blocks": [{"gens": [], "basis": [[1]], "gram": [["2"]]}], "multipliers": []}
    assert K.check_psatz(ONE_VAR, [], [], good, 1) == (True, "")
    wrong_entry = copy.deepcopy(good)
    wrong_entry["blocks"][0]["gram"] = [["3"]]
    assert not K.check_psatz(ONE_VAR, [], [], wrong_entry, 1)[0]
    wrong_basis = copy.deepcopy(good)
    wrong_basis["blocks"][0]["basis"] = [[0]]
    assert not K.check_psatz(ONE_VAR, [], [], wrong_basis, 1)[0]
    # the identity holds (3 x^2 - x^2) but a Gram matrix is not PSD
    split = {"blocks": [{"gens": [], "basis": [[1]], "gram": [["3"]]},
                        {"gens": [], "basis": [[1]], "gram": [["-1"]]}], "multipliers": []}
    ok, why = K.check_psatz(ONE_VAR, [], [], split, 1)
    assert not ok and "positive semidefinite" in why
    floats = {"blocks": [{"gens": [], "basis": [[1]], "gram": [[2.0]]}], "multipliers": []}
    with pytest.raises(TypeError):
        K.check_psatz(ONE_VAR, [], [], floats, 1)


def test_check_psatz_with_generators_and_multipliers():
    # 1 - x^2 >= 0 on {1 - x^2 >= 0} ... as 1 * (1 - x^2); and x^2 - y^2 = 0 used by a multiplier
    p = {(0, 0): q(1), (0, 2): q(-1)}                        # 1 - y^2
    g = [{(0, 0): q(1), (2, 0): q(-1)}]                      # 1 - x^2 >= 0
    h = [{(2, 0): q(1), (0, 2): q(-1)}]                      # x^2 - y^2 = 0
    cert = {"blocks": [{"gens": [0], "basis": [[0, 0]], "gram": [["1"]]}],
            "multipliers": [{"h": 0, "coeffs": [[[0, 0], "1"]]}]}
    assert K.check_psatz(p, g, h, cert, 2) == (True, "")
    bad = copy.deepcopy(cert)
    bad["multipliers"][0]["coeffs"] = [[[0, 0], "2"]]
    assert not K.check_psatz(p, g, h, bad, 2)[0]
    bad = copy.deepcopy(cert)
    bad["multipliers"][0]["h"] = 1
    assert not K.check_psatz(p, g, h, bad, 2)[0]
    bad = copy.deepcopy(cert)
    bad["blocks"][0]["gens"] = [1]
    assert not K.check_psatz(p, g, h, bad, 2)[0]


# --------------------------------------------------------------------------------------------
# the statements
# --------------------------------------------------------------------------------------------

def test_abs_form_writes_max_and_min_with_abs_and_refuses_the_rest():
    e = K.abs_form(sp.Max(x, 2 * y, 0) + sp.Min(x, y))
    for a, b in ((1, 2), (-3, 1), (sp.Rational(1, 2), -5)):
        at = {x: a, y: b}
        assert e.subs(at) == (sp.Max(x, 2 * y, 0) + sp.Min(x, y)).subs(at)
    for bad in (sp.sqrt(x ** 2 + 1), sp.exp(x), x ** sp.Rational(1, 3), sp.pi * x):
        with pytest.raises(UnsupportedFunction):
            K.abs_form(bad)


def test_lift_splits_or_lifts_and_every_branch_reproduces_f():
    u = sp.symbols("_u0 _u1", real=True)
    F = sp.Abs(u[0] - u[1]) + 3 * sp.Abs(1 + u[0]) - sp.Abs(u[1] - u[0]) ** 3
    branches = K.lift(F, K._vanishes_at_zero(u))
    assert len(branches) == 2                    # |1 + u0| split, |u0 - u1| lifted once
    for b in branches:
        assert len(b.lifts) == 1 and len(b.conds) == 1
    rng = np.random.default_rng(1)
    for _ in range(20):
        at = {u[0]: sp.Rational(int(rng.integers(-9, 10)), 4),
              u[1]: sp.Rational(int(rng.integers(-9, 10)), 4)}
        value = F.subs(at)
        hits = []
        for b in branches:
            (s, A), = b.lifts
            sub = {**at, s: abs(A.subs(at))}
            if all(c.subs(sub) >= 0 for c in b.conds):
                hits.append(b.expr.subs(sub))
        assert hits and all(h == value for h in hits)


def family_claim(dim, norm="2", rotate=True, factor=sp.Rational(99, 100), seed=0):
    known = nonconvex_sharp(np.random.default_rng(seed), dim, rotate=rotate)
    m = known.modulus[norm] * factor
    return known, known.problem(norm).claim("sharp-minimizer", modulus=m), m


@pytest.mark.parametrize("norm, cases", [("2", 1), ("1", 1), ("inf", 6)])
def test_sharp_cases_of_the_family_are_lifted_not_split(norm, cases):
    _, claim, m = family_claim(3, norm, rotate=norm == "2")
    got = K.sharp_cases(claim, m)
    assert len(got) == cases
    c = got[0]
    assert "r" in c.names and sum(n.startswith("s") for n in c.names) == 3
    with pytest.raises(UnsupportedFunction):
        K.sharp_cases({**claim, "f": "sqrt(x1**2 + 1)"}, m)
    with pytest.raises(UnsupportedFunction):
        K.sharp_cases(claim, sp.sqrt(2))


def test_the_polar_target_is_the_gap_divided_by_r():
    """r * target(r, v, s) = f(p + r v) - f(p) - m r exactly at points of the case's set
    (v on the unit circle, s = |A~| recovered from the equations s^2 = A~^2)."""
    known, claim, m = family_claim(2)
    (case,) = K.sharp_cases(claim, m)
    syms = sp.symbols(" ".join(case.names), real=True)
    by_name = dict(zip(case.names, syms))

    def expr(poly):
        return sum(sp.Rational(int(c.p), int(c.q)) * sp.Mul(*[s ** k for s, k in zip(syms, e)])
                   for e, c in poly.items())

    fp = known.f.subs(dict(zip(known.variables, known.point)))
    for t, vv in ((sp.Rational(1, 3), (sp.Rational(3, 5), sp.Rational(4, 5))),
                  (sp.Integer(2), (sp.Rational(-5, 13), sp.Rational(12, 13)))):
        env = {by_name["v0"]: vv[0], by_name["v1"]: vv[1], by_name["r"]: t}
        for h in case.hs[:-1]:                       # s_k^2 - A~_k^2, in order
            H = expr(h)
            s_k = next(s for s in syms if str(s).startswith("s") and H.has(s) and s not in env)
            env[s_k] = sp.sqrt(sp.expand(s_k ** 2 - H).subs(env))
        assert expr(case.hs[-1]).subs(env) == 0          # on the sphere
        assert all(expr(g).subs(env) >= 0 for g in case.gs)
        xpt = [p + t * w for p, w in zip(known.point, vv)]
        gap = known.f.subs(dict(zip(known.variables, xpt))) - fp - m * t
        assert t * expr(case.target).subs(env) == gap


# --------------------------------------------------------------------------------------------
# sharp-sos verdicts
# --------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def sos_verdict():
    known, claim, m = family_claim(3)
    v = deciders.decide_sharp(known.problem("2"), m, budget=200_000)
    assert v.status is Status.PROVED and v.certificate["kind"] == "sharp-sos"
    return v


def _first_block(v):
    return v.certificate["cases"][0]["blocks"]


def test_sharp_sos_verdict_rechecks_and_rejects_tampering(sos_verdict):
    v = sos_verdict
    assert recheck(v)[0]
    blocks = _first_block(v)
    k = max(range(len(blocks)), key=lambda i: len(blocks[i]["basis"]))
    gram = copy.deepcopy(blocks[k]["gram"])
    gram[0][0] = str(sp.Rational(gram[0][0]) + sp.Rational(1, 7))
    assert not recheck(v, **{f"certificate__cases__0__blocks__{k}__gram": gram})[0]
    basis = copy.deepcopy(blocks[k]["basis"])
    basis[0], basis[-1] = basis[-1], basis[0]
    assert not recheck(v, **{f"certificate__cases__0__blocks__{k}__basis": basis})[0]
    gens = list(blocks[k]["gens"]) + [0]
    assert not recheck(v, **{f"certificate__cases__0__blocks__{k}__gens": gens})[0]
    mults = copy.deepcopy(v.certificate["cases"][0]["multipliers"])
    mults[0]["coeffs"][0][1] = str(sp.Rational(mults[0]["coeffs"][0][1]) + 1)
    assert not recheck(v, certificate__cases__0__multipliers=mults)[0]
    assert not recheck(v, certificate__cases=[])[0]
    assert not recheck(v, certificate__modulus="1/1000")[0]          # below the claim's
    claim = v.claim
    assert not recheck(v, claim__modulus=str(sp.Rational(claim["modulus"]) * 2))[0]
    assert not recheck(v, claim__f=claim["f"] + " - x1**2")[0]
    assert not recheck(v, status="refuted")[0]


def test_a_non_psd_gram_matrix_with_a_true_identity_is_rejected(sos_verdict):
    """Move PSD mass between two blocks with the same basis and weight so that the identity
    still holds but one matrix gets a negative diagonal entry."""
    v = sos_verdict
    blocks = copy.deepcopy(_first_block(v))
    blocks.append({"gens": blocks[0]["gens"], "basis": blocks[0]["basis"],
                   "gram": [[("-1" if (i, j) == (0, 0) else "0") for j in range(i, n)]
                            for n in [len(blocks[0]["basis"])] for i in range(n)]})
    blocks[0]["gram"][0][0] = str(sp.Rational(blocks[0]["gram"][0][0]) + 1)
    case = K.sharp_cases(v.claim, sp.Rational(v.certificate["modulus"]))[0]
    ok, why = K.check_psatz(case.target, case.gs, case.hs,
                            {**v.certificate["cases"][0], "blocks": blocks}, len(case.names))
    assert not ok and "positive semidefinite" in why
    assert not recheck(v, certificate__cases__0__blocks=blocks)[0]


def test_the_modulus_claim_accepts_a_sharp_sos_lower_bound(sos_verdict):
    """modulus-exact's lower part may be sharp-sos (kernel rule shared with sharp-smt)."""
    cert = sos_verdict.certificate
    claim = {**{k: v for k, v in sos_verdict.claim.items() if k != "modulus"},
             "kind": "sharpness-modulus", "value": cert["modulus"]}
    ok, why = kernel.check(claim, "refuted", cert)   # m' > v proved refutes alpha* = v
    assert not ok and "below" in why                  # m' = v: not strictly above
    claim["value"] = str(sp.Rational(cert["modulus"]) / 2)
    assert kernel.check(claim, "refuted", cert) == (True, "")


# --------------------------------------------------------------------------------------------
# sos upper bounds of the maximal variation
# --------------------------------------------------------------------------------------------

def test_ball_sos_bound_checks_exactly_and_rejects_a_lower_bound():
    from theorems import psatz

    f = x ** 2 - x ** 4 / 4 + x * y - sp.Abs(x - y) / 2
    p = BallProblem(f, (x, y), [sp.Integer(0), sp.Integer(0)], sp.Integer(1), "2")
    cert, _ = psatz.certify_ball(p, sp.Rational(11, 10))
    assert cert is not None and K.ball_sos_bound(p, cert) == sp.Rational(11, 10)
    with pytest.raises(ValueError):
        K.ball_sos_bound(p, {**cert, "bound": "1/2"})
    claim = {"kind": "max-variation", "variables": ["x", "y"], "f": str(f), "point": [0, 0],
             "radius": 1, "at_most": "11/10", "norm": "2"}
    full = {"kind": "max-variation-bounds", "upper": cert,
            "lower": {"kind": "witness", "u": ["0", "0"]}}
    assert kernel.check(claim, "proved", full) == (True, "")
    assert not kernel.check({**claim, "at_most": "109/100"}, "proved", full)[0]
    assert not kernel.check({**claim, "radius": 2}, "proved", full)[0]


# --------------------------------------------------------------------------------------------
# square roots in sharpness statements
# --------------------------------------------------------------------------------------------

X1, X2 = sp.symbols("x1 x2", real=True)
#: sqrt(x1^2 + x2^2) + x1^4 - x1^2/2: nonconvex, alpha* = 1 - 1/(3 sqrt 6) = 0.8639...
SQRT_F = sp.sqrt(X1**2 + X2**2) + (X1**2 - sp.Rational(1, 4))**2 - sp.Rational(1, 16)


def test_lift_roots_lifts_nonnegative_quadratics_and_refuses_the_rest():
    u = sp.symbols("_u0 _u1", real=True)
    F, roots = K.lift_roots(sp.sqrt(u[0]**2 + u[1]**2) + (1 + u[0]**2)**sp.Rational(3, 2), u)
    assert len(roots) == 2 and not F.has(sp.sqrt(u[0]**2 + u[1]**2))
    values = {u[0]: sp.Rational(1, 3), u[1]: sp.Rational(-2, 5)}
    lifted = F.xreplace({q: sp.sqrt(G.xreplace(values)) for q, G in roots}).xreplace(values)
    original = (sp.sqrt(u[0]**2 + u[1]**2) + (1 + u[0]**2)**sp.Rational(3, 2)).xreplace(values)
    assert sp.simplify(lifted - original) == 0
    for bad in (sp.sqrt(u[0]**2 - u[1]**2 + 1),        # negative somewhere
                sp.sqrt(u[0]**4 + 1),                   # quartic: not lifted
                sp.sqrt(sp.Abs(u[0]))):
        with pytest.raises(UnsupportedFunction):
            K.lift_roots(bad, u)


def test_a_sharpness_claim_with_a_euclidean_norm_gets_an_exact_sos_certificate():
    problem = deciders.SharpProblem(SQRT_F, (X1, X2), (0, 0), "2")
    outcome = sos_case.prove_sos(problem, sp.Rational(4, 5))
    assert outcome.answer == "holds", outcome.detail
    claim = problem.claim("sharp-minimizer", modulus=sp.Rational(4, 5))
    assert kernel.check(claim, "proved", outcome.certificate)[0]
    # the same certificate says nothing about a false modulus (alpha* < 0.87) or another f
    assert not kernel.check(dict(claim, modulus="9/10"), "proved", outcome.certificate)[0]
    other = dict(claim, f=str(SQRT_F - X2**2 / 10))
    assert not kernel.check(other, "proved", outcome.certificate)[0]
