"""The statements of Bolte, Le and Pauwels, *Convergence of optimizers implies eigenvalues
filtering at equilibrium*, as registered checks (named after the statement they reproduce).

The statement checks carry certificates (filter sets at numeric hyperparameters decided by
exact real roots, exact multipliers and spectral radii; with symbolic hyperparameters, SMT texts
that z3 and cvc5 both find unsatisfiable); the runs on functions and on data are experiments.
"""

from __future__ import annotations

from typing import Any

from verify.registry import check, lazy_import
from verify.verdict import Instances, Status, Verdict

PAPER = "Bolte, Le, Pauwels"
np = lazy_import("numpy")
sp = lazy_import("sympy")
M = lazy_import("theorems.filters.mathematics")
exact = lazy_import("theorems.exact")

def _method_forms() -> list[tuple[str, str]]:
    """Every optimizer with a filter, in each of its declared forms."""
    from numerics.updates import FILTER_METHODS, OPTIMIZERS

    return [(name, form) for name in FILTER_METHODS
            for form in (OPTIMIZERS[name].forms or ("A",))]


METHOD_FORMS = _method_forms()


def hyper(method: str, alpha: Any = None, beta: Any = None, rho: Any = None) -> dict[str, Any]:
    """The hyperparameters ``method`` declares, at the values of the paper's table."""
    from numerics.updates import OPTIMIZERS

    values = {"alpha": alpha if alpha is not None else sp.Rational(1, 10),
              "beta": beta if beta is not None else sp.Rational(9, 10),
              "rho": rho if rho is not None else sp.Rational(1, 20)}
    return {h.name: values[h.name] for h in OPTIMIZERS[method].hyper}


def _label(method: str, form: str) -> str:
    from numerics.updates import OPTIMIZERS

    return f"{method} ({form})" if OPTIMIZERS[method].forms else method


@check("filters.symbolic", paper=PAPER, statement="Propositions 3.1, 3.4 (the filters of "
       "the implemented maps)", summary="the filter derived from each implemented map equals "
       "the closed form for symbolic alpha > 0, 0 <= beta < 1, rho > 0 (z3 and cvc5)",
       smoke={"methods": 2})
def propositions_3_1_3_4(seed: int, methods: int | None = None) -> Verdict:
    checks = Instances("z3 and cvc5: equivalence of semialgebraic conditions")
    lam, alpha, beta, rho = sp.symbols("lam alpha beta rho", real=True)
    plain = {M.LAM: lam, M.ALPHA: alpha, M.BETA: beta, M.RHO: rho}
    for method, form in METHOD_FORMS[:methods]:
        cond = M.filter_condition(method, form=form).xreplace(plain)
        closed = M.closed_form(method, form).xreplace(plain)
        checks.claim(_label(method, form),
                     exact.forall_claim(sp.Equivalent(cond, closed, evaluate=False),
                                        (lam, alpha, beta, rho),
                                        hypotheses=[alpha > 0, beta >= 0, beta < 1, rho > 0],
                                        id=f"{_label(method, form)}: derived condition <=> "
                                           "closed form"))
    return checks.verdict()


TABLE = {("gd", "A"): [0, 20], ("heavy-ball", "A"): [0, 38], ("nesterov", "A"): [0, 13.5714],
         ("usam", "A"): [-32.3607, -20, 0, 12.3607], ("usam-heavy-ball", "A"):
         [-39.326, -20, 0, 19.326], ("two-step-usam", "A"): [0, 10.874],
         ("hessian-usam", "A"): [-20, 0, 9.311], ("two-step-usam", "B"): [-20, 0, 9.311],
         ("hessian-usam", "B"): [-32.3607, -20, 0, 12.3607]}


@check("filters.table", paper=PAPER, statement="threshold table of the filters",
       summary="exact filter sets at alpha = 0.1, beta = 0.9, rho = 0.05 (proved exactly by "
               "real roots) reproduce the table (1e-3)", smoke={"methods": 2})
def threshold_table(seed: int, methods: int | None = None) -> Verdict:
    from theorems.filters.kinds import filter_set_claim

    checks = Instances("exact sets vs the table")
    for (method, form), expected in list(TABLE.items())[:methods]:
        h = hyper(method)
        S = M.filter_set(method, form=form, **h)
        label = _label(method, form)
        claim = filter_set_claim(method, form=form, equals=S, id=f"{label} filter set", **h)
        checks.claim(f"{label}: the filter set is {S}", claim, seed=seed)
        bounds = sorted(S.boundary, key=float)
        if len(bounds) != len(expected):
            checks.inconclusive(f"{label}: boundary", f"{len(bounds)} boundary points, the "
                                f"table has {len(expected)}")
            continue
        for b, e in zip(bounds, sorted(expected)):
            e_exact = sp.Rational(str(e))
            tol = sp.Rational(1, 1000) * max(1, abs(e_exact))
            checks.claim(f"{label}: boundary {b} ~ {e}",
                         exact.sign_claim(sp.Abs(b - e_exact) - tol, "<=",
                                          id=f"{label}: |{b} - {e}| <= {tol}"))
    return checks.verdict()


@check("filters.grid", paper=PAPER, statement="filters on a grid of hyperparameters",
       summary="spectral radii of the implemented numpy steps (finite differences) agree with "
               "the exact sets on a dense grid of curvatures", nature="experiment",
       smoke={"points": 101})
def spectral_radius_grid(seed: int, points: int = 2001) -> Verdict:
    checks = Instances("numeric spectral radius vs exact sets")
    grid = np.linspace(-40, 60, points)
    settings = [dict(alpha=sp.Rational(1, 10), beta=sp.Rational(9, 10), rho=sp.Rational(1, 20)),
                dict(alpha=sp.Rational(1, 4), beta=sp.Rational(1, 2), rho=sp.Rational(1, 5))]
    for method, form in METHOD_FORMS:
        for setting in settings:
            h = hyper(method, **setting)
            S = M.filter_set(method, form=form, **h)
            update_map = M.make_map(method, form=form, **{k: float(v) for k, v in h.items()})
            radius = np.max(np.abs(np.linalg.eigvals(M.quadratic_jacobians(update_map, grid))),
                            axis=1)
            inside = M.float_membership(S, grid)
            bounds = np.array([float(b) for b in S.boundary])
            near = np.min(np.abs(grid[:, None] - bounds[None, :]), axis=1) < 1e-4 * np.maximum(
                1, np.abs(grid))
            disagree = (radius <= 1 + 1e-7) != inside
            mismatches = int(np.sum(disagree & ~near))
            checks.observed(f"{method} ({form}) at {', '.join(f'{k}={v}' for k, v in h.items())}",
                            mismatches == 0,
                            f"{grid.size} curvatures agree ({int(np.sum(disagree & near))} "
                            "disagreements within 1e-4 of a boundary point)" if not mismatches
                            else f"{mismatches} grid points disagree away from the boundary",
                            sample_size=grid.size,
                            method="finite differences of the implemented step")
    return checks.verdict()


@check("filters.convergence", paper=PAPER, statement="Theorem 2.1 (convergence implies filtering)",
       summary="runs of GD, HB, Nesterov and USAM variants from 300 random starts on "
               "(x1 x2 - 1)^2 and a sum of products converge only where the filter allows, "
               "and rho(Jac) <= 1 at every limit", nature="experiment",
       smoke={"starts": 20, "steps": 300})
def theorem_2_1_runs(seed: int, starts: int = 300, steps: int = 3000) -> Verdict:
    rng = np.random.default_rng(seed)
    checks = Instances("converged runs vs filter")
    cases = [("gd", dict(alpha=0.1)), ("gd", dict(alpha=0.4)),
             ("heavy-ball", dict(alpha=0.1, beta=0.5)), ("nesterov", dict(alpha=0.1, beta=0.5)),
             ("usam", dict(alpha=0.1, rho=0.05)),
             ("usam-heavy-ball", dict(alpha=0.05, beta=0.5, rho=0.05)),
             ("two-step-usam", dict(alpha=0.1, rho=0.05)),
             ("hessian-usam", dict(alpha=0.1, rho=0.05))]
    for fname, grad_fn, dim in (("(x1 x2 - 1)^2", M.hyperbola_grad, 2),
                                ("sum of products, n=2", M.products_grad, 4)):
        X0 = rng.uniform(-3, 3, size=(starts, dim))
        for method, h in cases:
            S = M.filter_set(method, **{k: sp.Rational(str(v)) for k, v in h.items()})
            top = float(S.sup)
            update_map = M.make_map(method, **h)
            X, converged = M.run_batch(update_map, grad_fn, X0, steps,
                                       hvp_fn=M.batched_hvp(grad_fn))
            lam_max, radii = [], []
            for x in X[converged]:
                H = M.numeric_hessian(grad_fn, x)
                lam_max.append(float(np.max(np.linalg.eigvalsh(H))))
                J = M.step_jacobian(update_map, grad_fn, x, hvp_fn=M.batched_hvp(grad_fn))
                radii.append(float(max(abs(np.linalg.eigvals(J)))))
            bad = [v for v in lam_max if v > top + 1e-4] + [v for v in radii if v > 1 + 1e-4]
            summary = (f"{int(converged.sum())}/{starts} converged; lambda_max at limits in "
                       f"[{min(lam_max, default=float('nan')):.4g}, "
                       f"{max(lam_max, default=float('nan')):.4g}] <= {top:.6g}; max rho(Jac) "
                       f"{max(radii, default=float('nan')):.6g}")
            checks.observed(f"{method} {h} on {fname}", not bad, summary if not bad else
                            "a converged run violates the filter (a single run cannot refute "
                            "an almost-everywhere statement): " + summary, sample_size=starts,
                            method="runs from random starts",
                            evidence={"converged": int(converged.sum()),
                                      "lambda_max": lam_max[:50], "threshold": top})
    return checks.verdict()


@check("filters.usam-non-minima", paper=PAPER, statement="USAM converges to non-minima",
       summary="USAM converges to the maximum of -15x^2 and to the saddle of x^2 - 15y^2; GD, "
               "Two-step USAM (A) and Hessian USAM (A) do not (exact multipliers and spectral "
               "radii; the runs are filters.usam-runs)")
def usam_non_minima(seed: int) -> Verdict:
    from theorems.filters.kinds import stable_point_claim

    x, y = sp.symbols("x y", real=True)
    alpha, rho = sp.Rational(1, 10), sp.Rational(1, 20)
    checks = Instances("exact multipliers and spectral radii")
    expect = {("usam", "A"): True, ("gd", "A"): False, ("two-step-usam", "A"): False,
              ("hessian-usam", "A"): False, ("hessian-usam", "B"): True}
    for (method, form), stable in expect.items():
        h = {"rho": rho} if method != "gd" else {}
        multiplier = M.eigen_matrix(M.make_map(method, alpha, None, h.get("rho"), form),
                                    sp.Integer(-30))[0, 0]
        checks.claim(f"{method} ({form}) on -15x^2: x -> {multiplier} x",
                     exact.sign_claim(sp.Abs(multiplier) - 1, "<" if stable else ">=",
                                      id=f"{method} ({form}): |{multiplier}| "
                                         f"{'<' if stable else '>='} 1"))
        claim = stable_point_claim(method, x**2 - 15 * y**2, (0, 0), alpha, form=form,
                                   variables=(x, y), id=f"{method}-saddle", **h)
        checks.claim(f"{method} ({form}) stable at the saddle of x^2 - 15y^2: {stable}",
                     claim, Status.PROVED if stable else Status.REFUTED, seed=seed)
    return checks.verdict()


@check("filters.usam-runs", paper=PAPER, statement="USAM converges to non-minima (runs)",
       summary="100 runs from random starts in [-1, 1]^2 on x^2 - 15y^2 (alpha = 0.1, "
               "rho = 0.05): USAM reaches the saddle, GD does not", nature="experiment")
def usam_runs(seed: int) -> Verdict:
    from numerics import updates

    checks = Instances("runs from random starts")
    rng = np.random.default_rng(seed)
    X0 = rng.uniform(-1, 1, size=(100, 2))

    def grad(X):
        return np.stack([2 * X[:, 0], -30 * X[:, 1]], axis=1)

    X, conv = M.run_batch(updates.usam(0.1, 0.05), grad, X0, 400)
    _, conv_g = M.run_batch(updates.gd(0.1), grad, X0, 400)
    ok = bool(conv.all() and np.allclose(X, 0, atol=1e-9) and not conv_g.any())
    checks.observed("USAM runs reach the saddle, GD runs do not", ok,
                    f"USAM {int(conv.sum())}/100 at the saddle, GD {int(conv_g.sum())}/100",
                    sample_size=100, method="runs from random starts")
    return checks.verdict()


@check("filters.stable-manifold", paper=PAPER, statement="Theorem 2.1 (stable manifold "
       "mechanism)", summary="GD at a minimum sharper than 2/alpha and USAM at a stationary "
       "point with mixed filter membership: the local stable manifold (power series from the "
       "invariance equation) attracts, everything else escapes", nature="experiment")
def stable_manifold_mechanism(seed: int) -> Verdict:
    from numerics import updates
    from theorems.filters.manifolds import manifold_experiment, stable_manifold

    x, y = sp.symbols("x y", real=True)
    cases = [("gd", updates.gd(sp.Rational(1, 10)), 25 * x**2 / 2 + 5 * y**2 / 2 + x * y**2),
             ("usam", updates.usam(sp.Rational(1, 10), sp.Rational(1, 20)),
              -5 * x**2 - 15 * y**2 + x * y**2)]
    checks = Instances("stable manifolds")
    for name, update_map, f in cases:
        manifold = stable_manifold(update_map, f, (x, y), order=8)
        result = manifold_experiment(manifold, seed=seed)
        # invariance residual should scale like s^(order+1): slope of log residual vs log s
        res = np.maximum(np.array(result["invariance_residuals"]), 1e-300)
        slope = float(np.polyfit(np.log(result["residual_s"]), np.log(res), 1)[0])
        ok = (result["closest_on_manifold"] < 1e-3 * result["closest_off_manifold"]
              and result["random_starts_converged"] == 0 and slope > 7.5)
        checks.observed(
            f"{name} on {f}: multipliers {manifold['mu']}", ok,
            f"h(s) = {sp.N(manifold['h'], 4)}; closest approach on/off the manifold "
            f"{result['closest_on_manifold']:.2e}/{result['closest_off_manifold']:.2e}; "
            f"{result['random_starts_converged']}/{result['random_starts']} random starts "
            f"converged; invariance residual ~ s^{slope:.1f}",
            sample_size=result["random_starts"],
            method="power series of the stable manifold + trajectories",
            evidence={**result, "h": str(manifold["h"])})
    return checks.verdict()


def _edge_check(settings: list, band: float, **kw: Any) -> Verdict:
    from theorems.filters.experiments import edge_of_stability_run, edge_plot, edge_summary

    checks = Instances("edge of stability")
    plots = []
    for method, alpha, beta, rho in settings:
        run = edge_of_stability_run(method, alpha, rho, beta=beta, **kw)
        label = f"{method} alpha={alpha}" + (f" beta={beta}" if beta else "") + \
            (f" rho={rho}" if rho else "")
        ok, message, count = edge_summary(run, band)
        checks.observed(label, ok, message, sample_size=count, evidence=run,
                        method="Lanczos top eigenvalue of a digits MLP along full-batch "
                               "training")
        plots.append(edge_plot(run, label))
    return checks.verdict(evidence={"plots": plots})


@check("filters.edge-of-stability", paper=PAPER, statement="edge of stability (experiments)",
       summary="full-batch GD and USAM on scikit-learn digits: the top Hessian eigenvalue rises "
               "to the filter edge (2/alpha; root of lambda(1 + rho lambda) = 2/alpha) and hovers "
               "there", nature="experiment", smoke={"steps": 150, "every": 75, "samples": 64})
def edge_of_stability(seed: int, steps: int = 3000, every: int = 150,
                      samples: int = 500) -> Verdict:
    return _edge_check([("gd", 0.15, None, None), ("usam", 0.1, None, 0.02)], band=0.03,
                       steps=steps, every=every, samples=samples)


@check("filters.edge-of-stability-full", paper=PAPER, statement="edge of stability (experiments)",
       profile="full", nature="experiment",
       summary="the edge of stability for GD at three step sizes, heavy ball, Nesterov and USAM on "
               "1000 scikit-learn digits (width 32): lambda_max rises to the filter edge of each "
               "method and hovers there")
def edge_of_stability_full(seed: int) -> Verdict:
    settings = [("gd", 0.1, None, None), ("gd", 0.2, None, None), ("gd", 0.3, None, None),
                ("heavy-ball", 0.15, 0.5, None), ("nesterov", 0.075, 0.5, None),
                ("usam", 0.1, None, 0.02)]
    return _edge_check(settings, band=0.05, samples=1000, width=32, steps=6000, every=300)


@check("filters.usam-variants", paper=PAPER, statement="experiments: the USAM variants against "
       "GD and SAM on feed-forward networks",
       summary="GD, SAM, USAM, Two-step USAM and Hessian USAM at matched alpha = 0.2, rho = 0.02 "
               "on 720 scikit-learn digits (4 seeds): top Hessian eigenvalues at the end against "
               "each filter edge and test accuracy with 95% intervals; whether the USAM variants "
               "end flatter than GD at similar accuracy", nature="experiment",
       smoke={"seeds": 2, "steps": 20, "samples": 120, "width": 8})
def usam_variants(seed: int, seeds: int = 4, steps: int = 800, samples: int = 900,
                  width: int = 16) -> Verdict:
    from theorems.filters.experiments import comparison_check

    return comparison_check(seed, seeds=seeds, steps=steps, samples=samples, width=width,
                            alpha=0.2, rho=0.02, every=steps // 10 if steps >= 100 else 0)


@check("filters.usam-variants-full", paper=PAPER, statement="experiments: the USAM variants "
       "against GD and SAM on feed-forward networks", profile="full", nature="experiment",
       summary="the same comparison on all 1797 scikit-learn digits (1438 train, 359 test), "
               "width 32, 2000 steps, 6 seeds")
def usam_variants_full(seed: int) -> Verdict:
    from theorems.filters.experiments import comparison_check

    return comparison_check(seed, seeds=6, steps=2000, samples=1797, width=32, alpha=0.2,
                            rho=0.02, every=125)
