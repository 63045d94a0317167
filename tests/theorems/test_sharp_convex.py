"""The convex cone decider (theorems/sharp/convex_cone.py) on families with known alpha*.

Every expected modulus is derived here from the construction (see the comments), never
copied from an output. A claim at (1 - 1e-3) alpha* must be proved, one at (1 + 1e-3) alpha*
refuted, by the cone path; a nonconvex f never takes it.
"""

import numpy as np
import pytest
import sympy as sp
from hypothesis import given, settings, strategies as st

from theorems import sharp, toys
from theorems.exact import arb_eval
from theorems.sharp import convex_cone, families
from verify.verdict import Status

BELOW, ABOVE = sp.Rational(999, 1000), sp.Rational(1001, 1000)


def decide(known, norm, m):
    return sharp.decide_sharp(known.problem(norm), m)


def assert_cone_decides(known, norm, alpha):
    """Below alpha*: proved by a convex-cone certificate; above: refuted by a point where the
    inequality fails (re-evaluated here)."""
    v = decide(known, norm, alpha * BELOW)
    assert v.status is Status.PROVED, (known.f, norm, v.message)
    assert v.certificate["kind"] == "convex-cone" and "convex cone" in v.method
    w = decide(known, norm, alpha * ABOVE)
    assert w.status is Status.REFUTED, (known.f, norm, w.message)
    assert w.certificate["kind"] == "point" and "convex cone" in w.method
    x = [sp.Rational(c) for c in w.certificate["x"]]
    p = known.problem(norm)
    assert arb_eval(p.f.xreplace(dict(zip(p.variables, x))) - p.f_point
                    - alpha * ABOVE * p.exact_norm(x)) < 0


# --------------------------------------------------------------------------------------------
# families with known alpha*
# --------------------------------------------------------------------------------------------

def weights_for(dim, seed):
    rng = np.random.default_rng(seed)
    return [sp.Rational(int(rng.integers(1, 9)), int(rng.integers(1, 4))) for _ in range(dim)]


def point_for(dim, seed):
    rng = np.random.default_rng(seed + 100)
    return [sp.Rational(int(rng.integers(-3, 4)), int(rng.integers(1, 3))) for _ in range(dim)]


@pytest.mark.parametrize("dim", [1, 2, 3, 5])
@pytest.mark.parametrize("norm", ["2", "1", "inf"])
def test_weighted_sum_of_abs_has_alpha_min_c_in_every_norm(dim, norm):
    # sigma(h) = sum c_i |u_i|, u = Q h, Q a signed permutation (an isometry of each norm):
    # sum c_i |u_i| >= min c ||u||_1 >= min c ||u||, equality at u = e_j (c_j = min c)
    c = weights_for(dim, dim)
    Q = families.signed_permutation(np.random.default_rng(dim), dim)
    known = families.weighted_abs(c, point_for(dim, dim), kind="sum", mixing=Q)
    assert_cone_decides(known, norm, min(c))


@pytest.mark.parametrize("dim", [1, 2, 3, 5])
@pytest.mark.parametrize("norm", ["2", "1", "inf"])
def test_weighted_max_of_abs(dim, norm):
    # t = max c_i |u_i| bounds |u_i| <= t / c_i: ||u||_inf <= t / min c, ||u||_1 <= t sum 1/c,
    # ||u||_2 <= t sqrt(sum c^-2), all with equality at |u_i| = t / c_i (or u = e_j for inf)
    c = weights_for(dim, 10 + dim)
    Q = families.signed_permutation(np.random.default_rng(10 + dim), dim)
    known = families.weighted_abs(c, point_for(dim, dim), kind="max", mixing=Q)
    alpha = {"inf": min(c), "1": 1 / sum(1 / w for w in c),
             "2": 1 / sp.sqrt(sum(1 / w ** 2 for w in c))}[norm]
    assert_cone_decides(known, norm, alpha)


@pytest.mark.parametrize("dim, kind", [(2, "sum"), (3, "max"), (4, "sum"), (4, "max")])
def test_householder_rotations_keep_the_2_norm_modulus(dim, kind):
    # H = I - 2 v v^T / v.v is orthogonal: ||H h||_2 = ||h||_2, so the 2-norm alpha* is that
    # of the unrotated function
    c = weights_for(dim, 20 + dim)
    v = [1, -2, 1, 1][:dim]
    H = families.householder(v)
    assert H * H.T == sp.eye(dim)
    known = families.weighted_abs(c, point_for(dim, dim), kind=kind, mixing=H, isometry="2")
    alpha = min(c) if kind == "sum" else 1 / sp.sqrt(sum(1 / w ** 2 for w in c))
    assert_cone_decides(known, "2", alpha)


@pytest.mark.parametrize("norm", ["2", "1", "inf"])
def test_a_linear_tilt_moves_the_box(norm):
    # f = sum c_i |x_i - p_i| + g.(x - p) + ||x - p||^2: the subdifferential at p is the box
    # g + prod [-c_i, c_i]; the largest ball of any norm centred at 0 inside it has radius
    # min (c_i - |g_i|) (the distance from 0 to the nearest face)
    c = [sp.Integer(2), sp.Rational(5, 2), sp.Integer(3)]
    g = [sp.Rational(1, 2), -sp.Integer(2), sp.Integer(0)]
    known = families.weighted_abs(c, [1, -1, sp.Rational(1, 3)], kind="sum", tilt=g)
    alpha = min(ci - abs(gi) for ci, gi in zip(c, g))
    assert alpha == sp.Rational(1, 2)
    assert_cone_decides(known, norm, alpha)


@pytest.mark.parametrize("norm", ["2", "1", "inf"])
def test_the_simplex_support_function(norm):
    # sigma = support function of P = {xi_i <= h_i, -sum xi_i <= h_0}: the largest r with
    # r B_* in P is min_j h_j / ||n_j||_primal (the support of B_* in direction n is ||n||)
    d, h = 3, [1, 2, sp.Rational(3, 2), sp.Rational(1, 2)]
    normals = [[1 if j == i else 0 for j in range(d)] for i in range(d)] + [[-1] * d]
    known = families.polytope_function(normals, h, [0, 1, -1], tail="square")
    primal = {"2": lambda n: sp.sqrt(sum(a ** 2 for a in n)), "1": lambda n: sum(map(abs, n)),
              "inf": lambda n: max(map(abs, n))}[norm]
    alpha = min(hj / primal(n) for n, hj in zip(normals, h))
    assert_cone_decides(known, norm, alpha)


def test_the_rhombus_in_all_norms_and_exactly_at_alpha():
    toy = toys.rhombus()
    for norm, alpha in toy.facts["modulus"].items():
        problem = sharp.SharpProblem(toy.expr, toy.variables, toy.point, norm)
        at = sharp.decide_sharp(problem, alpha)
        assert at.status is Status.PROVED and at.certificate["kind"] == "convex-cone", norm
        v = sharp.decide_modulus(problem, alpha)
        assert v.status is Status.PROVED and v.certificate["kind"] == "convex-cone", v.message
        for wrong in (alpha * BELOW, alpha * ABOVE):
            assert sharp.decide_modulus(problem, wrong).status is Status.REFUTED
        r = sharp.best_constant(problem)
        assert r.exact is not None and sp.simplify(r.exact - alpha) == 0
        assert r.lower_certificate["kind"] == "convex-cone"


def test_tilt_and_lipschitz_stability_take_the_cone_path():
    toy = toys.rhombus()
    alpha = toy.facts["modulus"]["2"]
    for make in (sharp.tilt_stable, sharp.lipschitz_stable):
        v = make(toy.expr, toy.point, alpha * BELOW, id="t").check()
        assert v.status is Status.PROVED and v.certificate["kind"] == "convex-cone"
        w = make(toy.expr, toy.point, alpha * ABOVE, id="u").check()
        assert w.status is Status.REFUTED and w.certificate["kind"] == "tilt"


def test_alpha_zero_and_a_point_that_is_not_a_minimizer():
    x, y = sp.symbols("x y", real=True)
    bowl = sharp.SharpProblem(x ** 2 + y ** 2, (x, y), (0, 0), "2")   # smooth: alpha* = 0
    assert sharp.decide_sharp(bowl, sp.Rational(1, 10**6)).status is Status.REFUTED
    v = sharp.decide_modulus(bowl, 0)
    assert v.status is Status.PROVED and "zero" in v.certificate
    slope = sharp.SharpProblem(x + y ** 2 + sp.Abs(y), (x, y), (0, 0), "inf")  # sigma = h1 +
    w = sharp.decide_sharp(slope, sp.Rational(1, 2))                       # |h2|: alpha* < 0
    assert w.status is Status.REFUTED and "convex cone" in w.method


def test_a_norm_term_is_handled_through_the_reduced_claim():
    # ||x||_2 + ||x||^2: sigma(h) = ||h||_2, so alpha*_2 = alpha*_inf = 1, alpha*_1 = 1/sqrt(2)
    toy = toys.euclid_plus_square(2)
    for norm, alpha in (("2", sp.Integer(1)), ("inf", sp.Integer(1)),
                        ("1", 1 / sp.sqrt(2))):
        problem = sharp.SharpProblem(toy.expr, toy.variables, toy.point, norm)
        v = sharp.decide_sharp(problem, alpha * BELOW)
        assert v.status is Status.PROVED and v.certificate["kind"] == "convex-cone", norm
        assert sharp.decide_sharp(problem, alpha * ABOVE).status is Status.REFUTED


# --------------------------------------------------------------------------------------------
# alpha* known exactly, worked out by hand (sigma = f'(p; .), alpha* = min sigma(h) / ||h||)
# --------------------------------------------------------------------------------------------

a, b, c = sp.symbols("a b c", real=True)
EXACT = [
    # sigma = ||h||_1: ||h||_1 >= ||h||_2 >= ||h||_inf with equality at e_1, so 1 in every norm
    ("sum|x_i|", sp.Abs(a) + sp.Abs(b) + sp.Abs(c), (a, b, c), (0, 0, 0),
     {"2": 1, "1": 1, "inf": 1}),
    # sigma = ||h||_inf: ratio 1 in inf; ||h||_inf / ||h||_2 >= 1/sqrt(3) and
    # ||h||_inf / ||h||_1 >= 1/3, both with equality at h = (1, 1, 1)
    ("max|x_i|", sp.Max(sp.Abs(a), sp.Abs(b), sp.Abs(c)), (a, b, c), (0, 0, 0),
     {"2": 1 / sp.sqrt(3), "1": sp.Rational(1, 3), "inf": 1}),
    # sigma = |h1| + 2|h2| >= ||h||_1 >= the other norms, equality at e_1: 1 in every norm
    ("|x|+2|y|", sp.Abs(a) + 2 * sp.Abs(b), (a, b), (0, 0), {"2": 1, "1": 1, "inf": 1}),
    # |h1 + h2| + |h1 - h2| = 2 ||h||_inf: 2 in inf, 2 / sqrt(2) = sqrt(2) in 2 (at (1, 1)),
    # 2 ||h||_inf / ||h||_1 >= 2/2 = 1 in 1 (at (1, 1))
    ("|x+y|+|x-y|", sp.Abs(a + b) + sp.Abs(a - b), (a, b), (0, 0),
     {"2": sp.sqrt(2), "1": 1, "inf": 2}),
    # the subdifferential is the triangle conv{(1,0), (0,1), (-1,-1)} = {x + y <= 1,
    # -2x + y <= 1, x - 2y <= 1}; the largest r B_* inside is min over facets of
    # 1 / ||normal||: normals (1,1), (-2,1), (1,-2) give 1/sqrt(5) (2), 1/3 (1), 1/2 (inf)
    ("max(x,y,-x-y)", sp.Max(a, b, -a - b), (a, b), (0, 0),
     {"2": 1 / sp.sqrt(5), "1": sp.Rational(1, 3), "inf": sp.Rational(1, 2)}),
    # subdifferential [-1/2, 3/2] x [-1, 1]: every ball centred at 0 stops at the face
    # xi_1 = -1/2, so 1/2 in every norm
    ("|x|+|y|+x/2", sp.Abs(a) + sp.Abs(b) + a / 2, (a, b), (0, 0),
     {"2": sp.Rational(1, 2), "1": sp.Rational(1, 2), "inf": sp.Rational(1, 2)}),
    # shifted to p = (1, -2), the square does not change sigma = |h1| + 3|h2|: 1 everywhere
    ("shifted", sp.Abs(a - 1) + 3 * sp.Abs(b + 2) + (a - 1) ** 2, (a, b), (1, -2),
     {"2": 1, "1": 1, "inf": 1}),
    # one variable: the subdifferential of 3|x| + x at 0 is [-3, 3] + 1 = [-2, 4], so 2
    ("3|x|+x", 3 * sp.Abs(a) + a, (a,), (0,), {"2": 2, "1": 2, "inf": 2}),
]


@pytest.mark.parametrize("name, f, variables, point, moduli", EXACT, ids=[e[0] for e in EXACT])
def test_exactly_known_alpha_in_every_norm(name, f, variables, point, moduli):
    for norm, alpha in moduli.items():
        alpha = sp.sympify(alpha)
        problem = sharp.SharpProblem(f, variables, point, norm)
        for m, want in ((alpha * BELOW, Status.PROVED), (alpha, Status.PROVED),
                        (alpha * ABOVE, Status.REFUTED)):
            v = sharp.decide_sharp(problem, m)
            assert v.status is want, (name, norm, m, v.message)
            assert "convex cone" in v.method, (name, norm, m, v.method)
        v = sharp.decide_modulus(problem, alpha)
        assert v.status is Status.PROVED and v.certificate["kind"] == "convex-cone", \
            (name, norm, v.message)
        assert "upper" in v.certificate
        for wrong in (alpha * BELOW, alpha * ABOVE):
            assert sharp.decide_modulus(problem, wrong).status is Status.REFUTED, (name, norm)


@pytest.mark.parametrize("known", [
    families.polytope_function([[1, 0], [0, 1], [-1, -1]], [1, 2, 3], [0, 0], tail="capped"),
    families.polytope_function([[1, 0], [0, 1], [-1, -1]], [1, 2, 3], [0, 0], tail="dip",
                               weight=sp.Rational(1, 16)),
    families.known_from_toy(toys.sqrt_abs()),
], ids=lambda k: k.name)
def test_a_nonconvex_f_is_not_sent_down_the_cone_path(known):
    problem = known.problem("2")
    assert convex_cone.analyse(problem) is None
    claim = problem.claim("sharp-minimizer", modulus=1)
    assert convex_cone.decide_sharp(problem, sp.Integer(1), claim=claim) is None
    assert convex_cone.decide_modulus(problem, sp.Integer(1), claim=claim) is None
    v = sharp.decide_sharp(problem, sp.Integer(10), budget=200_000)   # the general path
    assert "convex cone" not in v.method and (v.certificate or {}).get("kind") != \
        "convex-cone", v.method


def test_ten_variables():
    # sum_i c_i |x_i - p_i| + ||x - p||^2 in 10 variables: alpha* = min c in every norm
    c = [sp.Rational(k + 2, 3) for k in range(10)]
    known = families.weighted_abs(c, [sp.Rational(k, 2) for k in range(10)], kind="sum")
    for norm in ("inf", "1", "2"):
        assert_cone_decides(known, norm, min(c))


@pytest.mark.slow
@pytest.mark.parametrize("family", families.CONVEX_FAMILIES)
def test_ten_variable_families(family):
    known = families.random_convex_known(np.random.default_rng(3), 10, family)
    for norm, alpha in known.modulus.items():
        assert_cone_decides(known, norm, alpha)


# --------------------------------------------------------------------------------------------
# never wrong: random members of the families (derandomized by default, tests/conftest.py)
# --------------------------------------------------------------------------------------------

@settings(max_examples=12, deadline=None)
@given(seed=st.integers(0, 10**6), dim=st.integers(1, 4),
       family=st.sampled_from(families.CONVEX_FAMILIES),
       factor=st.sampled_from([sp.Rational(1, 2), BELOW, sp.Integer(1), ABOVE, 2]))
def test_claims_near_alpha_are_decided_the_right_way(seed, dim, family, factor):
    known = families.random_convex_known(np.random.default_rng(seed), dim, family)
    norm = sorted(known.modulus)[seed % len(known.modulus)]
    problem = known.problem(norm)
    v = convex_cone.decide_sharp(problem, known.modulus[norm] * factor,
                                 claim=problem.claim("sharp-minimizer",
                                                     modulus=known.modulus[norm] * factor))
    want = Status.PROVED if factor <= 1 else Status.REFUTED
    assert v is not None and v.status is want, (known.f, norm, factor)


# --------------------------------------------------------------------------------------------
# a failed solve or a rounding that does not verify decides nothing
# --------------------------------------------------------------------------------------------

def test_a_failed_solve_or_a_bad_rounding_decides_nothing(monkeypatch):
    from numerics import cone_programs as programs

    toy = toys.rhombus()
    alpha = toy.facts["modulus"]["2"]          # 2/sqrt(5) > alpha*_1 = 2/3: no cube proof
    problem = sharp.SharpProblem(toy.expr, toy.variables, toy.point, "2")
    m = alpha * BELOW
    claim = problem.claim("sharp-minimizer", modulus=m)
    assert convex_cone.decide_sharp(problem, m, claim=claim).status is Status.PROVED
    monkeypatch.setattr(convex_cone, "REDUCED_BUDGET", 1)       # no z3 fallback either
    real = programs.max_min_eigenvalue

    def shifted(*args, **kwargs):              # an SDP answer that is off by 1 everywhere
        status, y, t = real(*args, **kwargs)
        return status, None if y is None else y + 1.0, t

    monkeypatch.setattr(programs, "max_min_eigenvalue", shifted)
    assert convex_cone.decide_sharp(problem, m, claim=claim) is None
    monkeypatch.setattr(programs, "max_min_eigenvalue",
                        lambda *a, **k: (programs.FAILED, None, None))
    assert convex_cone.decide_sharp(problem, m, claim=claim) is None
    v = sharp.decide_sharp(problem, m, budget=100_000)           # the general path
    assert v.status is not Status.REFUTED and (v.certificate or {}).get("kind") != \
        "convex-cone"
    for norm in ("1", "inf"):                  # every LP fails: no weights, no directions
        monkeypatch.setattr(programs, "linear_program",
                            lambda *a, **k: programs.LPResult(programs.FAILED))
        p = sharp.SharpProblem(toy.expr, toy.variables, toy.point, norm)
        value = toy.facts["modulus"][norm]
        assert convex_cone.decide_sharp(p, value * BELOW, claim=p.claim(
            "sharp-minimizer", modulus=value * BELOW)) is None
        assert convex_cone.decide_modulus(p, value, claim=p.claim(
            "sharpness-modulus", value=value)) is None
