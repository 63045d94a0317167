"""The statements of Wen, Li and Ma (2023) on P_xor as registered checks.

Exact (statements): Lemma 4.1 at the interpolators of every architecture, and the flattest
constructions (two layers with and without bias, Sim-LN, depth 3; d = 12 and 30) meeting their
trace bounds with their exact test errors, all evaluated in SymPy at the explicit weights with
every relu sign decided exactly (:mod:`theorems.xor_flatness.exact`). Training runs are
experiments (evidence).
"""

from __future__ import annotations

from verify.registry import check, lazy_import
from verify.verdict import Instances, Verdict

PAPER = "Wen, Li, Ma 2023 (Sharpness minimization on P_xor)"
np = lazy_import("numpy")
sp = lazy_import("sympy")
torch = lazy_import("torch")
W = lazy_import("theorems.xor_flatness.mathematics")
X_ = lazy_import("theorems.xor_flatness.exact")
exact = lazy_import("theorems.exact")


def _equal(checks: Instances, id: str, pairs) -> None:
    """The exact instance "each computed value equals the stated one" (Eq(value, stated))."""
    from theorems.facts.kinds import inequalities

    checks.claim(id, inequalities([f"Eq({a}, {b})" for a, b in pairs], id=id))


def _lemma_sides(checks: Instances, label: str, net, Xi, yi) -> tuple:
    """Exact instances at an interpolator: f(x_i) = y_i, Lemma 4.1 (Tr Hess L = (2/n) sum_i
    ||grad f(x_i)||^2) and the relu signs they rest on. Returns (Tr Hess L, the right side)."""
    hess, grads, residuals = X_.hessian_trace_sides(net, Xi, yi)
    _equal(checks, f"{label}: interpolates (f(x_i) = y_i, n = {len(yi)})",
           [(r + int(v), int(v)) for r, v in zip(residuals, yi)])
    _equal(checks, f"{label}: Lemma 4.1, Tr Hess L = (2/n) sum ||grad f(x_i)||^2 = {grads}",
           [(hess, grads)])
    checks.claim(f"{label}: the relu signs used", exact.signs_claim(
        net.sign_facts(), id=f"{label}: the signs of the pre-activations used"))
    return hess, grads


@check("xor.lemma41", paper=PAPER, statement="Lemma 4.1 (Tr Hess L = (2/n) sum ||grad f(x_i)||^2 "
       "at interpolators)", summary="d = 6, n = 10, exactly: at the interpolators of every "
       "architecture (the constructions, a random eps) the trace of the exact Hessian of the "
       "loss equals (2/n) sum ||grad f(x_i)||^2; at a rational Sim-LN initialization (off "
       "interpolation) it does not (the hypothesis matters)")
def lemma_4_1(seed: int) -> Verdict:
    rng = np.random.default_rng(seed)
    d, n = 6, 10
    Xi, yi = X_.xor_points(n, d, seed)
    eps = sp.Rational(int(rng.integers(1, 100)), 1000)
    half = sp.Rational(1, 2)
    cases = {
        f"bias, memorizing (eps = {eps})": X_.memorizing("bias", Xi, yi, eps),
        "bias, generalizing": X_.generalizing("bias", d),
        "no-bias, generalizing": X_.generalizing("no-bias", d),
        "sim-ln, memorizing": X_.memorizing("sim-ln", Xi, yi, half),
        "sim-ln, generalizing": X_.generalizing("sim-ln", d, eps=half),
        f"3-layer, memorizing (eps = {eps})": X_.memorizing("3-layer", Xi, yi, eps),
    }
    checks = Instances("exact Hessian trace of the loss (SymPy, relu signs in balls)")
    for name, net in cases.items():
        _lemma_sides(checks, name, net, Xi, yi)
    net = X_.random_net("sim-ln", d, 6, rng, eps=sp.Rational(1, 100))
    hess, grads, residuals = X_.hessian_trace_sides(net, Xi, yi)
    checks.claim("sim-ln off interpolation: Tr Hess L != (2/n) sum ||grad f(x_i)||^2",
                 exact.signs_claim([(hess - grads, "!="), (sum(r ** 2 for r in residuals), ">")],
                                   id="sim-ln at a rational initialization: the loss is "
                                      "positive and Lemma 4.1's identity fails"))
    return checks.verdict()


def _exact_instances(checks: Instances, label: str, net, Xi, yi, d: int, bound,
                     expected_error) -> None:
    """The exact trace and test error of an exact construction, with the signs of every
    pre-activation they rest on."""
    hess, _ = _lemma_sides(checks, label, net, Xi, yi)
    _equal(checks, f"{label}: Tr Hess L = {bound} (the lower bound)", [(hess, bound)])
    wrong, total, how = X_.cube_errors(net, d)
    _equal(checks, f"{label}: test error {wrong}/{total} = {expected_error} ({how})",
           [(sp.Rational(wrong, total), expected_error)])


@check("xor.flattest-constructions", paper=PAPER, statement="eqs. 2-4, Theorem 4.1, "
       "Propositions 4.1, 4.2, 5.1, 5.2, Lemma A.12", summary="d = 12 and 30, n = 100, exactly "
       "(SymPy at the explicit weights, every relu sign decided in balls): the memorizing and "
       "generalizing constructions (2-MLP with and without bias, Sim-LN, 3-layer) interpolate "
       "and their exact Hessian trace meets the bound (4 sqrt(d+1), 4 sqrt(d), 2, "
       "6 (d+1)^(1/3)); the memorizing ones err on exactly 1 - n/2^d of the cube, the "
       "generalizing ones on none (counted exactly, without enumerating 2^30 points)",
       smoke={"sizes": ((6, 10),)})
def flattest_constructions(seed: int, sizes: tuple = ((12, 100), (30, 100))) -> Verdict:
    checks = Instances("exact constructions (SymPy, relu signs in balls)")
    milli, half = sp.Rational(1, 1000), sp.Rational(1, 2)
    for d, n in sizes:
        Xi, yi = X_.xor_points(n, d, seed)
        memorized = 1 - sp.Rational(n, 2 ** d)
        for label, net, bound, err in (
                ("bias memorizing (Prop 4.1)", X_.memorizing("bias", Xi, yi, milli),
                 4 * sp.sqrt(d + 1), memorized),
                ("bias generalizing (Prop 4.2)", X_.generalizing("bias", d),
                 4 * sp.sqrt(d + 1), sp.Integer(0)),
                ("no-bias generalizing (4 neurons)", X_.generalizing("no-bias", d),
                 4 * sp.sqrt(d), sp.Integer(0)),
                ("sim-ln memorizing (Prop 5.1)", X_.memorizing("sim-ln", Xi, yi, half),
                 sp.Integer(2), memorized),
                ("sim-ln generalizing (Prop 5.2)", X_.generalizing("sim-ln", d, eps=half),
                 sp.Integer(2), sp.Integer(0)),
                ("3-layer memorizing (Thm 4.1, D = 3)", X_.memorizing("3-layer", Xi, yi, milli),
                 6 * sp.root(d + 1, 3), memorized)):
            _exact_instances(checks, f"{label}, d={d}, n={n}", net, Xi, yi, d, bound, err)
    return checks.verdict()


@check("xor.theorem31", paper=PAPER, statement="Theorem 3.1 (flattest 2-MLP-No-Bias "
       "interpolators generalize), as evidence", summary="d = 8, n = 96: over 4 random training "
       "sets, No-Bias near-interpolators (loss < 1e-3) found by a trace-minimizing penalty "
       "method have exact test error (all 256 points) below 5%; their trace / 4 sqrt(d) is "
       "reported (they are low-trace, not certified flattest); 2-MLP-Bias reported beside",
       nature="experiment", smoke={"sets": 1, "steps": 100})
def theorem_3_1(seed: int, sets: int = 4, steps: int = 1500) -> Verdict:
    from numerics.models import xor_data

    d, n, width = 8, 96, 16
    checks = Instances("trace-minimizing penalty method")
    rows = []
    for k in range(sets):
        X, y = xor_data(n, d, seed=seed * 100 + k, distinct=True)
        params, tr, loss = W.flattest_interpolator(X, y, "no-bias", width, seed=k, steps=steps)
        err = W.test_error(params, "no-bias", d)
        bound = W.trace_lower_bound("no-bias", d)
        rows.append({"set": k, "trace": tr, "bound": bound, "loss": loss,
                     "test_error": err["value"]})
        checks.observed(f"training set {k}", loss < 1e-3 and err["value"] < 0.05,
                        f"No-Bias: trace {tr:.5g} (bound {bound:.5g}, ratio {tr / bound:.4f}), "
                        f"train loss {loss:.1e}, exact test error {err['value']:.4f}",
                        sample_size=2 ** d, method="Adam on trace + 1e3 loss; exact enumeration")
    X, y = xor_data(n, d, seed=seed * 100, distinct=True)
    params, tr, loss = W.flattest_interpolator(X, y, "bias", width, seed=0, steps=steps)
    err = W.test_error(params, "bias", d)
    checks.observed("bias, same method (reported)", True, f"Bias: trace {tr:.5g} (bound "
                    f"{W.trace_lower_bound('bias', d):.5g}), loss {loss:.1e}, exact test error "
                    f"{err['value']:.4f}", sample_size=2 ** d, method="Adam on trace + 1e3 loss")
    return checks.verdict(evidence={"rows": rows})


def _table_verdict(rows: dict, *, scale: str, report_only: bool = False) -> Verdict:
    """Compare the measured outcome with the paper's summary table; a mismatch is inconclusive
    (never refuted), or only reported (``report_only``, the quick scale, where the paper's
    outcomes are not expected: they need the long schedules)."""
    from theorems.xor_flatness.experiments import SUMMARY

    checks = Instances("vectorized training over seeds")
    for name, r in rows.items():
        generalizes = r["test_error_mean"] < 0.05
        at_bound = abs(r["trace_over_bound"] - 1) < 0.05
        expected = SUMMARY.get(r["arch"], (None, None))[1] if r["method"] == "1-sam" else None
        msg = (f"trace {r['trace_mean']:.4g} +- {r['trace_sd']:.2g} (bound {r['bound']:.4g}, "
               f"ratio {r['trace_over_bound']:.3f}), test error {r['test_error_mean']:.3f} +- "
               f"{r['test_error_sd']:.3f}, max train loss {r['train_loss_max']:.1e}, "
               f"{r['epochs']} epochs, {len(r['curves']['trace'][-1])} seeds")
        if expected is None:
            ok, msg = True, msg + " (baseline, reported)"
        else:
            ok = generalizes == expected
            msg += (f"; paper: 1-SAM {'generalizes' if expected else 'does not generalize'}: "
                    + ("reproduced" if ok else f"not reproduced at {scale} scale"))
            ok = ok or report_only
        if r["method"] == "1-sam":
            msg += f"; reaches the bound within 5%: {at_bound}"
        checks.observed(name, ok, msg, sample_size=len(r["curves"]["trace"][-1]),
                        method="vectorized 1-SAM / GD+WD (numerics.sam_training)",
                        evidence={k: v for k, v in r.items() if k != "curves"})
    first = next(iter(rows.values()))
    plots = [{"title": f"P_xor, {what} over training ({scale})", "xlabel": "epoch",
              "ylabel": what, "x": first["curves"]["epoch"],
              "lines": {name: [float(np.mean(v)) for v in r["curves"][key]]
                        for name, r in rows.items()
                        if len(r["curves"]["epoch"]) == len(first["curves"]["epoch"])}}
             for what, key in (("test error", "test_error"), ("trace", "trace"))]
    table = [{"model / method": k, **{c: v for c, v in r.items() if c != "curves"}}
             for k, r in rows.items()]
    return checks.verdict(evidence={"plots": plots, "table": table})


@check("xor.reproduction", paper=PAPER, statement="Summary table (Figures 1, 4, 6), scaled "
       "down for CPU", summary="d = 10, n = 40, width 100, 2 seeds: 1-SAM for 20 epochs and "
       "GD + weight decay for 300 steps for each of No-Bias, Bias, Sim-LN; final trace against "
       "the bound and test error beside the paper's table (reported: the paper's outcomes need "
       "the long schedules of xor.reproduction-cpu)", nature="experiment",
       smoke={"epochs": 5, "width": 16})
def reproduction(seed: int, epochs: int | None = None, width: int = 100) -> Verdict:
    from theorems.xor_flatness.experiments import QUICK, reproduce

    rows = reproduce(QUICK, d=10, n=40, width=width, seeds=[seed, seed + 1], epoch_cap=epochs)
    return _table_verdict(rows, scale="quick CPU", report_only=True)


@check("xor.reproduction-cpu", paper=PAPER, statement="Summary table (Figures 1, 4, 6), scaled "
       "down for CPU", summary="d = 10, n = 40, width 100, 2 seeds: 1-SAM for 200 epochs and "
       "GD + weight decay for 2000 steps for each of No-Bias, Bias, Sim-LN; final trace "
       "against the bound and test error against the paper's table (a mismatch at this scale "
       "is inconclusive)", profile="full", nature="experiment")
def reproduction_cpu(seed: int) -> Verdict:
    from theorems.xor_flatness.experiments import CPU, reproduce

    rows = reproduce(CPU, d=10, n=40, width=100, seeds=[seed, seed + 1])
    return _table_verdict(rows, scale="CPU")


@check("xor.reproduction-full", paper=PAPER, statement="Summary table with the Table 2 "
       "settings (d = 30, n = 100, width 500)", summary="every Table 2 row of the main text, "
       "16 seeds vectorized on one GPU; epochs capped by SHARPFLAT_XOR_EPOCHS (default 20000)",
       profile="full", device="cuda", nature="experiment")
def reproduction_full(seed: int) -> Verdict:
    import os

    from theorems.xor_flatness.experiments import TABLE2, reproduce

    cap = int(os.environ.get("SHARPFLAT_XOR_EPOCHS", "20000"))
    rows = reproduce(TABLE2, d=30, n=100, width=500, seeds=list(range(seed, seed + 16)),
                     epoch_cap=cap, device="cuda")
    return _table_verdict(rows, scale=f"full (epochs capped at {cap})")
