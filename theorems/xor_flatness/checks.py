"""The statements of Wen, Li and Ma (2023) on P_xor as registered checks.

Exact: the two-layer constructions meet their trace bounds exactly (Lemma 4.1 evaluated in
SymPy at the explicit weights, every relu sign decided exactly) and the memorizing one errs on
exactly 1 - n/2^d of the hypercube; the rest (Sim-LN, depth 3, d = 30, training) is float64
evidence.
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


@check("xor.lemma41", paper=PAPER, statement="Lemma 4.1 (Tr Hess L = (2/n) sum ||grad f(x_i)||^2 "
       "at interpolators)", summary="d = 6, n = 10: at interpolators of every architecture (the "
       "constructions, with random choices) the identity equals the dense autodiff Hessian "
       "trace to 1e-8 relative; off interpolation it does not for Sim-LN (the hypothesis "
       "matters)")
def lemma_4_1(seed: int) -> Verdict:
    from numerics.curvature import HessianOperator, mse_trace_identity
    from numerics.models import XorMLP, mse, xor_data, xor_init

    rng = np.random.default_rng(seed)
    d, n, eps = 6, 10, 0.1
    X, y = xor_data(n, d, seed=seed, distinct=True)
    cases = {
        "bias, memorizing": ("bias", W.memorizing_bias(X, y, eps=float(rng.uniform(1e-3, 1e-1)))),
        "bias, generalizing": ("bias", W.generalizing_bias(d, width=6)),
        "no-bias, generalizing": ("no-bias", W.generalizing_no_bias(d, width=6)),
        "sim-ln, memorizing": ("sim-ln", W.memorizing_sim_ln(X, y, eps)),
        "sim-ln, generalizing": ("sim-ln", W.generalizing_sim_ln(d, eps, width=6)),
        "3-layer, memorizing": ("3-layer", W.memorizing_deep(X, y)),
    }
    checks = Instances("numerics.curvature (dense, identity)")
    for name, (arch, params) in cases.items():
        model = XorMLP(arch, params, eps=eps)
        ident = mse_trace_identity(model, X, y)
        dense = float(torch.trace(HessianOperator(model, mse, (X, y)).dense()))
        rel = abs(ident.value - dense) / max(abs(dense), 1e-12)
        checks.observed(name, rel < 1e-8 and ident.max_residual < 1e-10,
                        f"identity {ident.value:.12g}, dense trace {dense:.12g} (relative "
                        f"{rel:.1e}); max |f(x_i) - y_i| = {ident.max_residual:.1e}",
                        sample_size=1, method="float64 autodiff")
    model = XorMLP("sim-ln", xor_init("sim-ln", d, 6, seed=seed), eps=eps)  # not interpolating
    ident = mse_trace_identity(model, X, y)
    dense = float(torch.trace(HessianOperator(model, mse, (X, y)).dense()))
    checks.observed("sim-ln off interpolation (hypothesis removed)", True,
                    f"identity {ident.value:.8g} vs dense {dense:.8g} at max residual "
                    f"{ident.max_residual:.2g}: "
                    f"{'differ' if abs(ident.value - dense) > 1e-8 else 'agree'}",
                    sample_size=1, method="float64 autodiff")
    return checks.verdict()


def _exact_instances(checks: Instances, label: str, net, Xi, d: int, n: int, bias: bool,
                     bound, expected_error) -> None:
    """The exact trace and test error of an exact two-layer construction, with the signs of
    every pre-activation they rest on."""
    trace = X_.lemma41_trace(net, Xi, bias=bias)
    checks.claim(f"{label}: Lemma 4.1 trace = {bound}",
                 exact.sign_claim(trace - bound, "==", id=f"{label}: trace {trace} = {bound}"))
    wrong, total = X_.cube_errors(net, d)
    checks.claim(f"{label}: test error = {expected_error}",
                 exact.sign_claim(sp.Rational(wrong, total) - expected_error, "==",
                                  id=f"{label}: {wrong}/{total} = {expected_error}"))
    checks.claim(f"{label}: the relu signs used above",
                 exact.signs_claim(net.sign_facts(), id=f"{label}: relu signs"))


@check("xor.flattest-constructions", paper=PAPER, statement="eqs. 2-4, Theorem 4.1, "
       "Propositions 4.1, 4.2, 5.1, 5.2, Lemma A.12", summary="d = 12, n = 100 exactly (SymPy at "
       "the explicit weights, every relu sign decided): the two-layer memorizing and "
       "generalizing constructions meet 4 sqrt(d+1) and 4 sqrt(d), the memorizing one errs on "
       "exactly 1 - n/2^d of the cube, the generalizing ones on none; d = 30 and Sim-LN / depth "
       "3 in float64 (Clopper-Pearson intervals)", smoke={"sizes": ((6, 10),)})
def flattest_constructions(seed: int, sizes: tuple = ((12, 100), (30, 100))) -> Verdict:
    from numerics.curvature import mse_trace_identity
    from numerics.models import XorMLP, xor_data

    checks = Instances("constructions; Lemma 4.1 trace")
    for d, n in sizes:
        X, y = xor_data(n, d, seed=seed, distinct=True)
        if d <= 16:   # exact: the two-layer constructions in SymPy
            Xi, yi = X.numpy().astype(np.int64), y.numpy().astype(np.int64)
            for label, net, bias, bound, err in (
                    ("bias memorizing (Prop 4.1)",
                     X_.exact_memorizing_bias(Xi, yi, sp.Rational(1, 1000)), True,
                     4 * sp.sqrt(d + 1), 1 - sp.Rational(n, 2 ** d)),
                    ("bias generalizing (Prop 4.2)", X_.exact_generalizing(d, 8, bias=True),
                     True, 4 * sp.sqrt(d + 1), sp.Integer(0)),
                    ("no-bias generalizing (4 neurons)",
                     X_.exact_generalizing(d, 8, bias=False), False, 4 * sp.sqrt(d),
                     sp.Integer(0))):
                _exact_instances(checks, f"{label}, d={d}, n={n}", net, Xi, d, n, bias, bound,
                                 err)
        eps_ln = 0.5
        cases = [("sim-ln", "memorizing (Prop 5.1)", W.memorizing_sim_ln(X, y, eps_ln),
                  1 - n / 2 ** d),
                 ("sim-ln", "generalizing (Prop 5.2)", W.generalizing_sim_ln(d, eps_ln, 8), 0.0),
                 ("3-layer", "memorizing (Thm 4.1, D = 3)", W.memorizing_deep(X, y),
                  1 - n / 2 ** d)]
        if d > 16:
            cases = [("bias", "memorizing (Prop 4.1)", W.memorizing_bias(X, y), 1 - n / 2 ** d),
                     ("bias", "generalizing (Prop 4.2)", W.generalizing_bias(d, 8), 0.0),
                     ("no-bias", "generalizing (4 neurons)", W.generalizing_no_bias(d, 8),
                      0.0)] + cases
        for arch, what, params, expected in cases:
            model = XorMLP(arch, params, eps=eps_ln)
            ident = mse_trace_identity(model, X, y)
            bound = W.trace_lower_bound(arch, d)
            err = W.test_error(params, arch, d, eps=eps_ln, seed=seed)
            reach = abs(ident.value - bound) <= 1e-9 * bound
            err_ok = err["lower"] <= expected <= err["upper"] or \
                abs(err["value"] - expected) < 1e-12
            checks.observed(f"{arch} {what}, d={d}", reach and ident.max_residual < 1e-9 and
                            err_ok, f"trace {ident.value:.10g} vs bound {bound:.10g}; max "
                            f"residual {ident.max_residual:.1e}; test error {err['value']:.6g} "
                            f"in [{err['lower']:.4g}, {err['upper']:.4g}] ({err['method']}), "
                            f"expected {expected:.6g}", sample_size=err["count"],
                            method="float64 autodiff",
                            evidence={"trace": ident.value, "bound": bound, "test_error": err})
    return checks.verdict()


@check("xor.theorem31", paper=PAPER, statement="Theorem 3.1 (flattest 2-MLP-No-Bias "
       "interpolators generalize), as evidence", summary="d = 8, n = 96: over 4 random training "
       "sets, No-Bias near-interpolators (loss < 1e-3) found by a trace-minimizing penalty "
       "method have exact test error (all 256 points) below 5%; their trace / 4 sqrt(d) is "
       "reported (they are low-trace, not certified flattest); 2-MLP-Bias reported beside",
       smoke={"sets": 1, "steps": 100})
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


def _table_verdict(rows: dict, *, scale: str) -> Verdict:
    """Compare the measured outcome with the paper's summary table; a mismatch at a reduced
    scale is inconclusive (the paper's outcomes are for the full schedules), never refuted."""
    from theorems.xor_flatness.experiments import SUMMARY

    checks = Instances("vectorized training over seeds")
    for name, r in rows.items():
        generalizes = r["test_error_mean"] < 0.05
        at_bound = abs(r["trace_over_bound"] - 1) < 0.05
        expected = SUMMARY.get(r["arch"], (None, None))[1] if r["method"] == "1-sam" else None
        msg = (f"trace {r['trace_mean']:.4g} +- {r['trace_sd']:.2g} (bound {r['bound']:.4g}, "
               f"ratio {r['trace_over_bound']:.3f}), test error {r['test_error_mean']:.3f} +- "
               f"{r['test_error_sd']:.3f}, max train loss {r['train_loss_max']:.1e}, "
               f"{r['epochs']} epochs")
        if expected is None:
            ok, msg = True, msg + " (baseline, reported)"
        else:
            ok = generalizes == expected
            msg += (f"; paper: 1-SAM {'generalizes' if expected else 'does not generalize'}: "
                    + ("reproduced" if ok else f"not reproduced at {scale} scale"))
        if r["method"] == "1-sam":
            msg += f"; reaches the bound within 5%: {at_bound}"
        checks.observed(name, ok, msg, sample_size=1,
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
       "down for CPU", summary="d = 10, n = 40, width 100, 2 seeds: 1-SAM for 200 epochs and "
       "GD + weight decay for each of No-Bias, Bias, Sim-LN; final trace against the bound and "
       "test error against the paper's table (a mismatch at this scale is inconclusive)",
       smoke={"epochs": 5, "width": 16})
def reproduction(seed: int, epochs: int | None = None, width: int = 100) -> Verdict:
    from theorems.xor_flatness.experiments import QUICK, reproduce

    rows = reproduce(QUICK, d=10, n=40, width=width, seeds=[seed, seed + 1], epoch_cap=epochs)
    return _table_verdict(rows, scale="quick CPU")


@check("xor.reproduction-full", paper=PAPER, statement="Summary table with the Table 2 "
       "settings (d = 30, n = 100, width 500)", summary="every Table 2 row of the main text, "
       "16 seeds vectorized on one GPU; epochs capped by SHARPFLAT_XOR_EPOCHS (default 20000)",
       profile="full", device="cuda")
def reproduction_full(seed: int) -> Verdict:
    import os

    from theorems.xor_flatness.experiments import TABLE2, reproduce

    cap = int(os.environ.get("SHARPFLAT_XOR_EPOCHS", "20000"))
    rows = reproduce(TABLE2, d=30, n=100, width=500, seeds=list(range(seed, seed + 16)),
                     epoch_cap=cap, device="cuda")
    return _table_verdict(rows, scale=f"full (epochs capped at {cap})")
