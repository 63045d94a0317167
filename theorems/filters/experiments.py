"""The edge of stability on real data, and the paper's comparison of optimizers, through the
implemented update maps.

Full-batch training of a small MLP on scikit-learn digits by the maps of
:mod:`numerics.updates`; the top Hessian eigenvalue (the curvature engine's Lanczos) rises to
the filter edge of the method, the supremum of its filter set, and hovers there
(:func:`edge_of_stability_run`). :func:`optimizer_comparison` trains the same network with GD,
SAM, USAM, Two-step USAM and Hessian USAM at matched step sizes over several seeds and reports
the top Hessian eigenvalues at the end against each method's filter edge, and the test
accuracy, with confidence intervals (Bolte, Le, Pauwels: the USAM variants reach smaller top
eigenvalues at similar accuracy).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import sympy as sp

from theorems.filters.mathematics import filter_set, make_map
from verify.errors import InvalidClaim


def edge_of_stability_run(method: str, alpha: float, rho: float | None = None, *,
                          beta: float | None = None, steps: int = 3000, every: int = 150,
                          samples: int = 500, width: int = 16, init_seed: int = 0
                          ) -> dict[str, Any]:
    """Full-batch training of a 64-width-10 tanh MLP on scikit-learn digits with half-MSE by the
    implemented update map; every ``every`` steps the top Hessian eigenvalue is computed by the
    curvature engine (Lanczos, residual and probabilistic upper bound recorded, float64) and set
    beside the filter edge of the method (the supremum of its filter set)."""
    import torch

    from numerics import models
    from numerics.curvature import HessianOperator

    inputs, targets = models.digits(samples)
    net = models.mlp((64, width, 10), seed=init_seed)
    loss, w = models.flat_loss(net, models.half_mse, inputs, targets)
    update_map = make_map(method, alpha, beta, rho)
    exact = [None if v is None else sp.Rational(str(v)) for v in (beta, rho)]
    edge = float(filter_set(method, sp.Rational(str(alpha)), *exact).sup)

    def grad_fn(v: torch.Tensor) -> torch.Tensor:
        v = v.detach().requires_grad_(True)
        return torch.autograd.grad(loss(v), v)[0]

    state = update_map.init(w)
    record: dict[str, list] = {"step": [], "lambda_max": [], "residual": [], "upper_bound": [],
                               "loss": []}
    for k in range(steps + 1):
        if k % every == 0:
            torch.nn.utils.vector_to_parameters(w.detach(), net.parameters())
            top = HessianOperator(net, models.half_mse, (inputs, targets)).top_eigenvalues(
                k=1, tol=1e-8, seed=k)
            record["step"].append(k)
            record["lambda_max"].append(top.values[0])
            record["residual"].append(top.residuals[0])
            record["upper_bound"].append(top.upper_bound)
            record["loss"].append(float(loss(w.detach())))
        w, state = update_map.update(w.detach(), state, grad_fn)
    return {"edge": edge, **record}


def edge_summary(run: dict[str, Any], band: float) -> tuple[bool, str, int]:
    """Whether the second half of the run stays within ``band`` (relative) of the edge, a
    message, and the number of eigenvalues compared."""
    late = np.array(run["lambda_max"][len(run["lambda_max"]) // 2:])
    rel = late / run["edge"] - 1
    ok = bool(np.all(np.abs(rel) <= band))
    message = (f"edge {run['edge']:.4f}; second half lambda_max in [{late.min():.4f}, "
               f"{late.max():.4f}] ({rel.min():+.2%} .. {rel.max():+.2%} of the edge; band "
               f"+/-{band:.0%})")
    return ok, message, len(late)


def edge_plot(run: dict[str, Any], title: str) -> dict[str, Any]:
    return {"title": f"{title}: top Hessian eigenvalue vs edge", "xlabel": "step",
            "ylabel": "lambda_max", "x": run["step"],
            "lines": {"lambda_max": run["lambda_max"], "edge": [run["edge"]] * len(run["step"])}}


# --------------------------------------------------------------------------------------------
# the paper's experiment: GD, SAM and the USAM variants on a feed-forward network
# --------------------------------------------------------------------------------------------

#: the paper's comparison: every method at the same step size alpha, the SAM-type ones at the
#: same radius rho (Bolte, Le, Pauwels, experiments on MLPs)
COMPARED = [("gd", False),
            ("sam", True),
            ("usam", True),
            ("two-step-usam", True),
            ("hessian-usam", True)]
#: the USAM variants whose top eigenvalues the paper reports smaller than GD's
USAM_VARIANTS = [name for name, _ in COMPARED if name.endswith("usam")]
#: "similar accuracy": mean test accuracies within this many percentage points of GD's
SIMILAR_ACCURACY = 2.0
#: how far above its filter edge a run's final top eigenvalue may lie: the filter bounds the
#: curvature at *limits* of the iterates (Theorem 2.1); runs at the edge of stability do not
#: converge, and their lambda_max oscillates around the edge
EDGE_BAND = 0.10


def digits_split(samples: int, test_fraction: float = 0.2, dtype: Any = None) -> tuple:
    """The first ``samples`` of scikit-learn's digits in a fixed shuffled order (seed 0),
    split into train and test: (X_train, Y_train, X_test, Y_test), one-hot targets."""
    import torch

    from numerics import models

    X, Y = models.digits(dtype=dtype or torch.float64)
    order = torch.randperm(X.shape[0], generator=torch.Generator().manual_seed(0))[:samples]
    X, Y = X[order], Y[order]
    n_test = max(1, int(round(samples * test_fraction)))
    return X[n_test:], Y[n_test:], X[:n_test], Y[:n_test]


def train_and_measure(method: str, alpha: float, rho: float | None, *, seed: int,
                      data: tuple, steps: int, width: int, k: int = 3, every: int = 0,
                      form: str = "A") -> dict[str, Any]:
    """Full-batch training of a 64-width-10 tanh MLP (half-MSE, init seed ``seed``) by the
    implemented map of ``method``, then the top ``k`` Hessian eigenvalues of the training loss
    (Lanczos: Rayleigh quotients, residuals, the probabilistic upper bound of lambda_max) and
    the train and test accuracies. ``every`` > 0 also records lambda_max along the way."""
    import time

    import torch

    from numerics import models
    from numerics.curvature import HessianOperator

    X, Y, X_test, Y_test = data
    net = models.mlp((X.shape[1], width, Y.shape[1]), seed=seed)
    loss, w = models.flat_loss(net, models.half_mse, X, Y)
    update_map = make_map(method, alpha, None, rho, form)

    def grad_fn(v: torch.Tensor) -> torch.Tensor:
        v = v.detach().requires_grad_(True)
        return torch.autograd.grad(loss(v), v)[0]

    def hvp_fn(x: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        x = x.detach().requires_grad_(True)
        g = torch.autograd.grad(loss(x), x, create_graph=True)[0]
        return torch.autograd.grad(g @ v.detach(), x)[0]

    def top(vector: torch.Tensor, count: int, tol: float, at: int) -> Any:
        torch.nn.utils.vector_to_parameters(vector.detach(), net.parameters())
        return HessianOperator(net, models.half_mse, (X, Y)).top_eigenvalues(
            k=count, tol=tol, seed=seed * 100003 + at)

    start = time.perf_counter()
    state = update_map.init(w)
    path: dict[str, list] = {"step": [], "lambda_max": []}
    diverged = False
    for step in range(steps):
        if every and step % every == 0:
            path["step"].append(step)
            path["lambda_max"].append(top(w, 1, 1e-4, step).values[0])
        w, state = update_map.update(w.detach(), state, grad_fn, hvp_fn=hvp_fn)
        if not bool(torch.isfinite(w).all()):
            diverged = True
            break
    record: dict[str, Any] = {"method": method, "seed": seed, "steps": steps,
                              "diverged": diverged}
    if not diverged:
        est = top(w, k, 1e-6, steps)
        record["grad_norm"] = float(grad_fn(w).norm())
        with torch.no_grad():
            record.update({
                "lambda": est.values, "residuals": est.residuals,
                "upper_bound": est.upper_bound, "lanczos_converged": est.converged,
                "train_loss": float(loss(w.detach())),
                "train_accuracy": float((net(X).argmax(1) == Y.argmax(1)).double().mean()),
                "test_accuracy": float((net(X_test).argmax(1) == Y_test.argmax(1))
                                       .double().mean())})
    if every:
        record["path"] = path
    record["seconds"] = time.perf_counter() - start
    return record


def mean_interval(values: list[float], confidence: float = 0.95) -> tuple[float, float, float]:
    """Mean and Student-t confidence interval of i.i.d. values (over seeds)."""
    from scipy import stats

    a = np.asarray(values, dtype=float)
    if a.size == 0:
        return float("nan"), float("nan"), float("nan")
    m = float(a.mean())
    if a.size == 1:
        return m, float("-inf"), float("inf")
    half = float(stats.t.ppf((1 + confidence) / 2, a.size - 1) * a.std(ddof=1) / np.sqrt(a.size))
    return m, m - half, m + half


def welch_interval(a: list[float], b: list[float], confidence: float = 0.95
                   ) -> tuple[float, float, float]:
    """mean(a) - mean(b) with Welch's t interval."""
    from scipy import stats

    x, y = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if x.size < 2 or y.size < 2:
        return float(x.mean() - y.mean()), float("-inf"), float("inf")
    vx, vy = x.var(ddof=1) / x.size, y.var(ddof=1) / y.size
    diff, se = float(x.mean() - y.mean()), float(np.sqrt(vx + vy))
    if se == 0:
        return diff, diff, diff
    df = (vx + vy) ** 2 / (vx**2 / (x.size - 1) + vy**2 / (y.size - 1))
    half = float(stats.t.ppf((1 + confidence) / 2, df) * se)
    return diff, diff - half, diff + half


def optimizer_comparison(*, alpha: float = 0.2, rho: float = 0.05, seeds: list[int],
                         steps: int = 800, samples: int = 900, width: int = 16,
                         every: int = 0) -> dict[str, Any]:
    """The paper's comparison on scikit-learn's digits: every method of :data:`COMPARED` from
    the same initializations (one per seed), its runs, its exact filter edge (the supremum of
    its filter set; None for normalized SAM, which has no filter) and the summaries over seeds
    (95% Student-t intervals)."""
    import time

    start = time.perf_counter()
    data = digits_split(samples)
    exact = {"alpha": sp.Rational(str(alpha)), "rho": sp.Rational(str(rho))}
    out: dict[str, Any] = {"alpha": alpha, "rho": rho, "seeds": list(seeds), "steps": steps,
                           "train": int(data[0].shape[0]), "test": int(data[2].shape[0]),
                           "width": width, "methods": {}}
    for method, perturbed in COMPARED:
        r = rho if perturbed else None
        try:
            S = filter_set(method, exact["alpha"], None, exact["rho"] if perturbed else None)
            edge: float | None = float(S.sup)
            edge_text = str(sp.nsimplify(S.sup)) if S.sup.is_Rational else f"{float(S.sup):.6g}"
        except InvalidClaim as exc:  # normalized SAM: no filter, say why
            edge, edge_text = None, str(exc)
        runs = [train_and_measure(method, alpha, r, seed=s, data=data, steps=steps,
                                  width=width, every=every if i == 0 else 0)
                for i, s in enumerate(seeds)]
        ok = [run for run in runs if not run["diverged"]]
        out["methods"][method] = {
            "edge": edge, "edge_text": edge_text, "runs": runs,
            "diverged": len(runs) - len(ok),
            "lambda_max": mean_interval([run["lambda"][0] for run in ok]),
            "upper_bound": max((run["upper_bound"] for run in ok), default=float("nan")),
            "test_accuracy": mean_interval([run["test_accuracy"] for run in ok]),
            "train_loss": mean_interval([run["train_loss"] for run in ok])}
    out["seconds"] = time.perf_counter() - start
    return out


def _interval(t: tuple[float, float, float], digits: int = 4) -> str:
    return f"{t[0]:.{digits}g} [{t[1]:.{digits}g}, {t[2]:.{digits}g}]"


def comparison_verdict(result: dict[str, Any]) -> Any:
    """The verdict of :func:`optimizer_comparison`: for each method, lambda_max at the end
    against its filter edge; then the paper's claims (each USAM variant ends with a smaller top
    eigenvalue than GD, at a test accuracy within :data:`SIMILAR_ACCURACY` points; Hessian USAM
    improves accuracy more than Two-step USAM), each observed or not (a difference is a
    finding, reported as inconclusive, never a refutation)."""
    from verify.verdict import Instances

    checks = Instances("full-batch training, Lanczos at the end, Student-t intervals over seeds")
    methods = result["methods"]
    n = len(result["seeds"])
    scale = (f"{result['train']} train / {result['test']} test digits, 64-{result['width']}-10 "
             f"tanh MLP, half-MSE, {result['steps']} full-batch steps, alpha = "
             f"{result['alpha']}, rho = {result['rho']}, seeds {result['seeds']}")
    for method, m in methods.items():
        ok_runs = [r for r in m["runs"] if not r["diverged"]]
        lams = [r["lambda"][0] for r in ok_runs]
        acc = m["test_accuracy"]
        grads = [r["grad_norm"] for r in ok_runs]
        text = (f"lambda_max {_interval(m['lambda_max'])} (largest Lanczos residual "
                f"{max((r['residuals'][0] for r in ok_runs), default=float('nan')):.1e}, "
                f"probabilistic upper bound <= {m['upper_bound']:.4g}); test accuracy "
                f"{_interval(tuple(100 * v for v in acc), 3)} %")
        if m["diverged"]:
            text += f"; {m['diverged']}/{n} runs diverged"
        if m["edge"] is None:
            ok = not m["diverged"]
            text = f"no filter edge ({m['edge_text']}); " + text
        else:
            worst = max(lams, default=float("nan"))
            ok = not m["diverged"] and bool(lams) and worst <= m["edge"] * (1 + EDGE_BAND)
            text = (f"filter edge {m['edge']:.5g}; " + text + f"; lambda_max / edge in "
                    f"[{min(lams, default=float('nan')) / m['edge']:.3f}, "
                    f"{worst / m['edge']:.3f}] (at most {1 + EDGE_BAND:g}: {ok}; the runs "
                    f"end with ||grad f|| in [{min(grads, default=float('nan')):.2g}, "
                    f"{max(grads, default=float('nan')):.2g}]: the filter bounds limits, and "
                    "at the edge of stability lambda_max oscillates around the edge)")
        checks.observed(f"{method}: top eigenvalue at the end at or below the filter edge "
                        f"(+{EDGE_BAND:.0%})" if m["edge"] is not None else
                        f"{method}: top eigenvalue at the end", ok, text,
                        sample_size=len(ok_runs), method="Lanczos (residuals, "
                        "Kuczynski-Wozniakowski bound) after full-batch training",
                        evidence={"edge": m["edge"], "runs": m["runs"]})
    gd = methods["gd"]
    gd_acc = [r["test_accuracy"] for r in gd["runs"] if not r["diverged"]]
    findings = []
    for method in USAM_VARIANTS:
        m = methods[method]
        smaller = m["lambda_max"][2] < gd["lambda_max"][1]
        accs = [r["test_accuracy"] for r in m["runs"] if not r["diverged"]]
        diff = welch_interval(accs, gd_acc)
        similar = abs(100 * diff[0]) <= SIMILAR_ACCURACY
        ok = bool(smaller and similar and not m["diverged"])
        findings.append((method, ok))
        checks.observed(
            f"{method} vs gd: smaller top eigenvalue at similar accuracy", ok,
            f"lambda_max {_interval(m['lambda_max'])} vs gd {_interval(gd['lambda_max'])} "
            f"(intervals {'apart' if smaller else 'not apart'}); test accuracy difference "
            f"{_interval(tuple(100 * v for v in diff), 3)} points (similar: within "
            f"{SIMILAR_ACCURACY:g})", sample_size=n, method="95% Student-t / Welch intervals")
    hess = [r["test_accuracy"] for r in methods["hessian-usam"]["runs"] if not r["diverged"]]
    two = [r["test_accuracy"] for r in methods["two-step-usam"]["runs"] if not r["diverged"]]
    diff = welch_interval(hess, two)
    better = diff[1] > 0
    findings.append(("hessian-usam improves accuracy more than two-step-usam", better))
    checks.observed("hessian-usam improves accuracy more than two-step-usam", better,
                    f"test accuracy difference (hessian - two-step) "
                    f"{_interval(tuple(100 * v for v in diff), 3)} points: "
                    + ("above 0" if better else "not above 0 at 95%"),
                    sample_size=n, method="Welch interval over seeds")
    reproduced = [name for name, ok in findings if ok]
    missing = [name for name, ok in findings if not ok]
    message = (f"{scale}; {result['seconds']:.0f} s. "
               + ("The paper's claims reproduce at this scale" if not missing else
                  "At this scale the paper's claims reproduce for "
                  + (", ".join(reproduced) or "none") + "; not for " + ", ".join(missing)))
    plots = [_comparison_plot(methods, "lambda_max", "top Hessian eigenvalue at the end"),
             _comparison_plot(methods, "test_accuracy", "test accuracy")]
    path = [m for m in methods.values() if m["runs"] and m["runs"][0].get("path")]
    if path:
        plots.append({"title": "lambda_max along training (first seed)", "xlabel": "step",
                      "ylabel": "lambda_max", "x": path[0]["runs"][0]["path"]["step"],
                      "lines": {name: m["runs"][0]["path"]["lambda_max"]
                                for name, m in methods.items() if m["runs"][0].get("path")}})
    summary = {name: {"edge": m["edge"], "lambda_max": m["lambda_max"],
                      "test_accuracy": m["test_accuracy"], "diverged": m["diverged"]}
               for name, m in methods.items()}
    return checks.verdict(message=message, evidence={"plots": plots, "summary": summary,
                                                     "setup": {k: v for k, v in result.items()
                                                               if k != "methods"}})


def _comparison_plot(methods: dict[str, Any], key: str, title: str) -> dict[str, Any]:
    """Mean and interval per method (x: the methods in order), with the filter edges."""
    names = list(methods)
    lines = {"mean": [methods[n][key][0] for n in names],
             "95% low": [methods[n][key][1] for n in names],
             "95% high": [methods[n][key][2] for n in names]}
    if key == "lambda_max":
        lines["filter edge"] = [methods[n]["edge"] if methods[n]["edge"] is not None
                                else float("nan") for n in names]
    return {"title": f"{title} ({', '.join(f'{i}: {n}' for i, n in enumerate(names))})",
            "xlabel": "method", "ylabel": key, "x": list(range(len(names))), "lines": lines}


def comparison_check(seed: int, *, seeds: int, **scale: Any) -> Any:
    """Run :func:`optimizer_comparison` on one torch thread (a fixed order of float sums) with
    the initializations seed, seed + 1, ...; its verdict."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        result = optimizer_comparison(seeds=[seed + i for i in range(seeds)], **scale)
    finally:
        torch.set_num_threads(threads)
    return comparison_verdict(result)
