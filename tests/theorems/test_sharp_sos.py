"""The SOS path of the sharpness deciders (theorems.sharp.sos_case, theorems.psatz) on the
nonconvex family with a known modulus, and SOS upper bounds of the maximal variation."""

import numpy as np
import pytest
import sympy as sp

from theorems import psatz
from theorems.flat_geometry.kinds import max_variation_claim
from theorems.sharp import deciders, sos_case
from theorems.sharp.nonconvex import nonconvex_sharp
from verify.verdict import Status

LOW, HIGH = sp.Rational(99, 100), sp.Rational(101, 100)


def known(dim, rotate=True, seed=0):
    return nonconvex_sharp(np.random.default_rng(seed), dim, rotate=rotate)


@pytest.mark.parametrize("dim, rotate", [(2, True), (3, True), (4, False), (5, True)])
def test_the_family_attains_its_modulus_at_its_argmin(dim, rotate):
    k = known(dim, rotate)
    problem = k.problem("2")
    for norm, alpha in k.modulus.items():
        p = k.problem(norm)
        ratio = (k.f.subs(dict(zip(k.variables, k.argmin))) - p.f_point) / \
            p.exact_norm(k.argmin)
        assert sp.nsimplify(ratio) == alpha
    X = problem.p + np.random.default_rng(1).standard_normal((4000, dim)) * \
        np.logspace(-3, 1, 4000)[:, None]
    for norm, alpha in k.modulus.items():
        assert np.min(k.problem(norm).ratios(X)) >= float(alpha) * (1 - 1e-9)
    # nonconvex: along the argmin direction f is concave on (0, s/3)
    g = sp.lambdify(k.variables, k.f)
    d = np.array([float(a - b) for a, b in zip(k.argmin, k.point)])   # length s
    at = [g(*(problem.p + t * d)) for t in (1 / 30, 1 / 4, (1 / 30 + 1 / 4) / 2)]
    assert at[2] > (at[0] + at[1]) / 2 + 1e-12


@pytest.mark.parametrize("dim, rotate, norm", [(2, True, "2"), (3, True, "2"), (4, True, "2"),
                                               (3, False, "1"), (3, False, "inf")])
def test_true_claims_are_proved_by_sos_and_false_ones_refuted(dim, rotate, norm):
    k = known(dim, rotate, seed=dim)
    alpha = k.modulus[norm]
    v = deciders.decide_sharp(k.problem(norm), alpha * LOW, budget=200_000)
    assert v.status is Status.PROVED, v.message
    assert v.certificate["kind"] == "sharp-sos" and "Positivstellensatz" in v.method
    w = deciders.decide_sharp(k.problem(norm), alpha * HIGH, budget=200_000)
    assert w.status is Status.REFUTED, w.message


@pytest.mark.slow
@pytest.mark.parametrize("dim", [5, 6])
def test_six_variables(dim):
    k = known(dim, True, seed=dim)
    alpha = k.modulus["2"]
    assert deciders.decide_sharp(k.problem("2"), alpha * LOW, budget=200_000).status is \
        Status.PROVED
    assert deciders.decide_sharp(k.problem("2"), alpha * HIGH, budget=200_000).status is \
        Status.REFUTED


def test_a_false_claim_gets_no_certificate_and_z3_only_proves_nothing_here():
    k = known(3, seed=3)
    out = sos_case.prove_sos(k.problem("2"), k.modulus["2"] * HIGH)
    assert out.answer == "unknown" and out.certificate is None
    with sos_case.use_sos(False):
        v = deciders.decide_sharp(k.problem("2"), k.modulus["2"] * LOW, budget=50_000)
    assert v.status is not Status.PROVED or v.certificate["kind"] != "sharp-sos"


def test_small_low_degree_problems_stay_with_z3():
    x1, x2 = sp.symbols("x1 x2", real=True)
    from theorems.sharp.problem import SharpProblem

    rhombus = SharpProblem(sp.Max(sp.Abs(x1), 2 * sp.Abs(x2)) + x1 ** 2 + x2 ** 2, (x1, x2),
                           (0, 0), "2")
    assert sos_case.z3_first(rhombus)
    assert not sos_case.z3_first(known(2).problem("2"))      # cubic pieces
    assert sos_case.piece_degree(sp.Abs(x1) ** 3 * x2 + sp.Max(x1, x2 ** 2)) == 4
    v = deciders.decide_sharp(rhombus, sp.Rational(89, 100), cone=False)   # convex: not the cone
    assert v.status is Status.PROVED and v.certificate["kind"] == "sharp-smt"


def test_irrational_modulus_uses_a_rational_above_it():
    k = known(2, seed=2)
    m = k.modulus["2"] * LOW - sp.sqrt(2) / 1000
    out = sos_case.prove_sos(k.problem("2"), m)
    assert out.answer == "holds" and sp.Rational(out.certificate["modulus"]) > m


@pytest.mark.parametrize("dim, norm", [(4, "2"), (3, "inf"), (3, "1")])
def test_max_variation_at_most_by_sos(dim, norm):
    xs = sp.symbols(f"x1:{dim + 1}", real=True)
    f = sum(v ** 2 for v in xs) - sum(v ** 4 for v in xs) / 4 + xs[0] * xs[1] * xs[-1] \
        - sp.Abs(xs[0] - xs[1]) / 2
    claim = max_variation_claim(f, [0] * dim, 1, at_most=sp.Rational(3 * dim, 2) + 1,
                                variables=xs, norm=norm, id="mv")
    v = claim.check()
    assert v.status is Status.PROVED, v.message
    if dim > 3 or norm != "1":      # the interval engine may win in low dimension
        assert v.certificate["upper"]["kind"] in ("sos", "enclosure")


def test_max_variation_sos_certificate_in_six_variables():
    xs = sp.symbols("x1:7", real=True)
    f = sum(v ** 2 for v in xs) - sum(v ** 4 for v in xs) / 4 + xs[0] * xs[1] * xs[5] \
        - sp.Abs(xs[0] - xs[1]) / 2
    v = max_variation_claim(f, [0] * 6, 1, at_most=sp.Rational(9, 8), variables=xs,
                            id="mv6").check()
    assert v.status is Status.PROVED and v.certificate["upper"]["kind"] == "sos"
    low = max_variation_claim(f, [0] * 6, 1, at_most=sp.Rational(1, 2), variables=xs,
                              id="mv6-low").check()
    assert low.status is Status.REFUTED


def test_profile_is_the_concave_envelope_with_the_sphere_raise():
    # target degrees per power of r: r^0: 1, r^1: none, r^2: 3, r^3: 4 (r is variable 0)
    target = {(0, 1): 1, (2, 3): 1, (3, 4): 1}
    assert psatz.profile(target, 0) == [3, 3, 3, 4]
    assert psatz.profile({(0, 3): 1}, None) == [4]


def test_the_benchmark_sweep_counts_wrong_decisions_and_decides_a_small_sweep():
    import importlib.util
    from pathlib import Path

    path = Path(__file__).parents[2] / "benchmarks" / "sos.py"
    spec = importlib.util.spec_from_file_location("sos_benchmark", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    fake = [{"dim": 2, "path": "sos", "want": "proved", "got": "refuted", "seconds": 1.0,
             "certificate": "point"},
            {"dim": 2, "path": "sos", "want": "refuted", "got": "refuted", "seconds": 3.0,
             "certificate": "point"}]
    row = bench.sweep_table(fake)[2]
    assert row.split("|")[4:6] == [" 1/2 ", " 1 "]
    rows = bench.sweep_rows([2], 1, sp.Rational(1, 100), 50_000)
    sos_rows = [r for r in rows if r["path"] == "sos"]
    assert len(rows) == 8 and all(r["got"] == r["want"] for r in sos_rows)
