"""numerics.updates and theorems.filters: one map per optimizer, filters derived from it."""

import numpy as np
import pytest
import sympy as sp
import torch
from hypothesis import HealthCheck, assume, given, settings, strategies as st

from numerics import updates
from theorems import filters as F
from verify import strategies
from verify.errors import InvalidClaim
from verify.verdict import Status

R = sp.Rational


def test_filter_sets_reproduce_theory_table():
    for (method, form), expected in F.TABLE.items():
        S = F.filter_set(method, form=form, **F.hyper(method))
        got = sorted(float(b) for b in S.boundary)
        assert np.allclose(got, sorted(expected), rtol=1e-3, atol=1e-3), (method, form, S)


def test_symbolic_equivalence_and_a_negative_control():
    from verify.kernel.smt import SmtEncoder, solve

    def equivalent(cond, closed):
        enc = SmtEncoder((F.LAM, F.ALPHA, F.BETA, F.RHO))
        ranges = [enc.boolean(F.ALPHA > 0), enc.boolean(F.BETA >= 0), enc.boolean(F.BETA < 1),
                  enc.boolean(F.RHO > 0)]
        differ = sp.Or(sp.And(cond, sp.Not(closed)), sp.And(closed, sp.Not(cond)))
        return solve(enc.script(ranges + [enc.boolean(differ)]), "z3",
                     rlimit=50_000_000).result

    assert equivalent(F.filter_condition("nesterov"), F.closed_form("nesterov")) == "unsat"
    wrong = sp.And(F.LAM >= 0, F.LAM <= 2 * (1 + F.BETA) / F.ALPHA)  # the heavy-ball bound
    assert equivalent(F.filter_condition("nesterov"), wrong) == "sat"


def test_filter_set_claims():
    ok = F.filter_set_claim("gd", 0.1, equals="Interval(0, 20)", contains=[20, 0],
                            excludes=["20 + 1/1000", -1], id="a").check()
    assert ok.status is Status.PROVED
    bad = F.filter_set_claim("nesterov", 0.1, beta=0.9, equals=sp.Interval(0, 14), id="b").check()
    assert bad.status is Status.REFUTED and "95/7" in bad.counterexample["filter_set"]
    with pytest.raises(InvalidClaim, match="takes no beta"):
        F.filter_set_claim("gd", 0.1, beta=0.5, contains=[1], id="c")
    with pytest.raises(InvalidClaim, match=r"must be in \[0, 1\)"):
        F.filter_set_claim("heavy-ball", 0.1, beta=1.5, contains=[1], id="d")
    # rho = 0 is plain gradient descent, a valid USAM
    v = F.filter_set_claim("usam", 0.1, rho=0, equals="Interval(0, 20)", id="e").check()
    assert v.status is Status.PROVED, v.message


def test_a_curvature_outside_the_filter_set_refutes_contains():
    """Regression: SymPy's ``false`` from ``S.contains`` was neither a failure nor an unknown,
    so ``contains = [100]`` with the filter set [0, 8] came out proved."""
    v = F.filter_set_claim("gd", 0.25, contains=[100], id="out").check()
    assert v.status is Status.REFUTED, v.message
    assert v.counterexample["lambda"] == "100"
    # one member and one non-member: the claim is a conjunction, so it is refuted
    v = F.filter_set_claim("gd", 0.25, contains=[1, 100], id="mixed").check()
    assert v.status is Status.REFUTED
    v = F.filter_set_claim("gd", 0.25, excludes=[4], id="in").check()
    assert v.status is Status.REFUTED
    v = F.filter_set_claim("gd", 0.25, contains=[8], excludes=[9], id="edge").check()
    assert v.status is Status.PROVED


def test_stable_point_claims_exact_and_enclosed():
    x, y = sp.symbols("x y", real=True)
    usam = F.stable_point_claim("usam", -15 * x**2, (0,), 0.1, rho=0.05, id="u").check()
    assert usam.status is Status.PROVED  # USAM is stable at a maximum (x -> -x/2)
    gd = F.stable_point_claim("gd", -15 * x**2, (0,), 0.1, id="g").check()
    assert gd.status is Status.REFUTED and gd.counterexample["eigenvalue"].startswith("4")
    on_manifold = F.stable_point_claim("gd", (x * y - 1)**2, ("2**(1/6)", "2**(-1/6)"), 0.1,
                                       variables=(x, y), id="m").check()
    assert on_manifold.status is Status.CERTIFIED  # eigenvalue exactly 1 along the manifold
    sharp_min = F.stable_point_claim("gd", (x * y - 1)**2, (2, R(1, 2)), 0.4, variables=(x, y),
                                     id="s").check()
    assert sharp_min.status is Status.REFUTED  # lambda_max = 8.5 > 2/alpha = 5


@pytest.mark.parametrize("method, form", F.METHOD_FORMS)
@settings(max_examples=12, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(data=st.data())
def test_converges_iff_spectrum_inside_filter(method, form, data):
    """On f = x^T H x / 2 with a prescribed spectrum, the implemented optimizer converges iff
    every eigenvalue lies in filter_set (margins 0.3 both sides; zero eigenvalues included)."""
    hyper = data.draw(strategies.filter_hyperparameters(method))
    S = F.filter_set(method, form=form, **hyper)
    eigs, inside = data.draw(strategies.quadratic_spectra(S, margin=0.3))
    # a margin in lambda is not a margin in the spectral radius (near lambda = -1/rho the
    # Hessian-USAM multiplier is 1 + O((1 + rho lambda)^2)): skip spectra within 0.5% of 1
    m_sym = F.eigen_matrix(updates.make(method, form=form, **hyper))
    radii = [max(abs(np.linalg.eigvals(np.array(m_sym.subs(F.LAM, sp.Float(v)), dtype=float))))
             for v in eigs]
    assume(all(abs(r - 1) > 5e-3 or v == 0 for r, v in zip(radii, eigs)))
    d = len(eigs)
    Q, _ = np.linalg.qr(np.random.default_rng(len(eigs)).standard_normal((d, d)))
    H = Q @ np.diag(eigs) @ Q.T
    m = updates.make(method, form=form, **{k: float(v) for k, v in hyper.items()})
    x0 = Q @ np.ones(d)
    with np.errstate(all="ignore"):
        x, state = x0, m.init(x0)
        for _ in range(6000):
            prev = x
            x, state = m.update(x, state, lambda v: H @ v, hvp_fn=lambda y, v: H @ v)
            if not np.all(np.isfinite(x)) or np.linalg.norm(x) > 1e8:
                break
    diverged = not np.all(np.isfinite(x)) or np.linalg.norm(x) > 1e6
    settled = (not diverged) and np.linalg.norm(x - prev) < 1e-7
    if inside:
        assert settled, (method, form, hyper, eigs, S)
    else:
        assert diverged, (method, form, hyper, eigs, S)


def test_stable_manifold_series_is_invariant_to_its_order():
    x, y = sp.symbols("x y", real=True)
    f = 25 * x**2 / 2 + 5 * y**2 / 2 + x * y**2
    manifold = F.stable_manifold(updates.gd(R(1, 10)), f, (x, y), order=6)
    h, s = manifold["h"], manifold["s"]
    G = manifold["map"]
    for q in (R(1, 100), R(1, 50)):
        point = {x: h.subs(s, q), y: q}
        image = [g.subs(point, simultaneous=True) for g in G]
        residual = abs(image[0] - h.subs(s, image[1]))
        assert residual < 10 * q**7  # the truncation error is O(s^7)
    result = F.manifold_experiment(manifold)
    assert result["closest_on_manifold"] < 1e-3 * result["closest_off_manifold"]
    assert result["random_starts_converged"] == 0


def test_gd_hovers_at_the_edge_of_stability_on_digits():
    """Full-batch GD on a digits MLP: lambda_max rises to 2/alpha and, after the transient
    (first half of the run), stays within 3% of it."""
    run = F.edge_of_stability_run("gd", 0.15, steps=2100, every=150)
    assert run["edge"] == pytest.approx(2 / 0.15)
    assert run["lambda_max"][0] < 0.9 * run["edge"]  # it starts well below the edge
    late = np.array(run["lambda_max"][len(run["lambda_max"]) // 2:])
    assert np.all(np.abs(late / run["edge"] - 1) <= 0.03), run["lambda_max"]
    assert run["loss"][-1] < run["loss"][0]


def test_a_filter_set_with_an_isolated_point_is_proved_from_its_printed_form():
    """Regression: Hessian USAM (A) at alpha = 1/10, rho = 1/20 has the filter set
    {-20} u [0, l+]; SymPy prints the point as {-20}, which the claim parser rejected, so the
    exact set could not be claimed (the verdict was an error)."""
    S = F.filter_set("hessian-usam", form="A", alpha=R(1, 10), rho=R(1, 20))
    assert S.contains(-20) is sp.true and S.contains(-19) is sp.false
    claim = F.filter_set_claim("hessian-usam", form="A", alpha=R(1, 10), rho=R(1, 20),
                               equals=str(S), id="hessian-usam-A")
    assert claim.check().status is Status.PROVED
