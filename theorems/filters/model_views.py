"""The curvature views of a model certificate (``sharpflat certify-model --views ...``): what
users of PyHessian, curvlinops and loss-landscape look for, as evidence verdicts with their
data and plots.

* ``density``: the eigenvalue density of the Hessian by stochastic Lanczos quadrature (Ubaru,
  Chen and Saad 2017; Ghorbani, Krishnan and Xiao 2019), and of the Gauss-Newton and Fisher
  operators when those views are on;
* ``layers``: per-layer (per-module block) trace and top eigenvalue of the Hessian;
* ``ggn``, ``fisher``: trace and top eigenvalues of the generalized Gauss-Newton matrix and the
  empirical Fisher (:class:`numerics.curvature.GGNOperator`,
  :class:`numerics.curvature.EmpiricalFisherOperator`);
* ``landscape``: 1-D and 2-D filter-normalized loss landscapes (Li et al. 2018) with the
  model's flatness numbers (trace, lambda_max, the filter edge of the optimizer) on the same
  page.

Each view costs a bounded number of products or loss evaluations, set by its options (the
defaults keep a model of a few thousand parameters within seconds); none is computed unless
asked for. Every view is ``evidence``: numbers with their error statements, nothing decided.
"""

from __future__ import annotations

import math
from typing import Any, Iterable

import numpy as np

from verify.errors import UsageError
from verify.verdict import Verdict

#: the views, in the order they run
VIEWS = ("ggn", "fisher", "density", "layers", "landscape")
#: the defaults of the views' options (``view_options`` of ``certify_model``)
OPTIONS = {"density_runs": 5, "density_steps": 60, "layer_probes": 30,
           "landscape_points": 41, "landscape_grid": 21, "landscape_span": 1.0,
           "operator_probes": 60}
_GRID = 400          # points of a plotted density


def check_views(views: Any) -> tuple[str, ...]:
    """The views asked for, in :data:`VIEWS` order: a comma-separated string or an iterable
    of names; ``"all"`` is every view."""
    if isinstance(views, str):
        views = [v.strip() for v in views.split(",") if v.strip()]
    names = set(views or ())
    if "all" in names:
        names = set(VIEWS)
    unknown = sorted(names - set(VIEWS))
    if unknown:
        raise UsageError(f"unknown view(s) {', '.join(unknown)}; known: {', '.join(VIEWS)}, "
                         "all")
    return tuple(v for v in VIEWS if v in names)


def check_options(options: dict[str, Any]) -> dict[str, Any]:
    """The views' options (:data:`OPTIONS` with ``options`` over them), checked."""
    unknown = sorted(set(options) - set(OPTIONS))
    if unknown:
        raise UsageError(f"unknown view option(s) {', '.join(unknown)}; known: "
                         f"{', '.join(OPTIONS)}")
    opts = {**OPTIONS, **options}
    least = {"density_runs": 1, "density_steps": 2, "layer_probes": 2, "landscape_points": 3,
             "operator_probes": 6}
    for key, low in least.items():
        if not (isinstance(opts[key], int) and opts[key] >= low):
            raise UsageError(f"{key} must be an integer >= {low}, got {opts[key]!r}")
    if not (isinstance(opts["landscape_grid"], int) and (opts["landscape_grid"] == 0
                                                         or opts["landscape_grid"] >= 3)):
        raise UsageError(f"landscape_grid must be 0 (no 2-D landscape) or an integer >= 3, got "
                         f"{opts['landscape_grid']!r}")
    if not (isinstance(opts["landscape_span"], (int, float))
            and 0 < opts["landscape_span"] < math.inf):
        raise UsageError(f"landscape_span must be positive, got {opts['landscape_span']!r}")
    return opts


def view_verdicts(run: Any, views: Iterable[str], *, optimizer: str | None = None,
                  alpha: Any = None, beta: Any = None, rho: Any = None,
                  **options: Any) -> list[Verdict]:
    """The verdicts of the views asked for, on the stages ``run`` of a certificate."""
    opts = check_options(options)
    views = tuple(views)
    operators = {"hessian": run.op}
    out = []
    for name in ("ggn", "fisher"):
        if name in views:
            op = _guarded(run, name, out, lambda: _operator(run, name))
            if op is not None:
                operators[name] = op
                _guarded(run, name, out, lambda: operator_verdict(
                    run, name, op, opts["operator_probes"]))
    if "density" in views:
        _guarded(run, "density", out, lambda: density_verdict(
            run, operators, opts["density_runs"], opts["density_steps"]))
    if "layers" in views:
        _guarded(run, "layers", out, lambda: layers_verdict(run, opts["layer_probes"]))
    if "landscape" in views:
        _guarded(run, "landscape", out, lambda: landscape_verdict(
            run, optimizer, alpha, beta, rho, points=opts["landscape_points"],
            grid=opts["landscape_grid"], span=opts["landscape_span"]))
    return out


def _guarded(run: Any, part: str, out: list, compute: Any) -> Any:
    """``compute()``; a verdict it returns joins ``out``. A view the model does not allow
    (the operator or the direction refused: CurvatureError) becomes an inconclusive verdict
    with the reason, and the other views go on."""
    from numerics.curvature import CurvatureError

    try:
        result = compute()
    except (CurvatureError, UsageError) as exc:
        out.append(run.part(part).inconclusive("none", f"{part} view not computed: {exc}",
                                                **run.stamp()))
        return None
    if isinstance(result, Verdict):
        out.append(result)
    return result


def _operator(run: Any, which: str) -> Any:
    from numerics.curvature import OPERATORS, CurvatureError

    op = run.op
    try:
        return OPERATORS[which](op.model, op.loss_fn, op.data, params=op.names)
    except CurvatureError as exc:
        raise UsageError(f"{run.name}: {exc}") from exc


def operator_verdict(run: Any, which: str, op: Any, probes: int) -> Verdict:
    """Trace (Hutch++) and top eigenvalues of the GGN or empirical Fisher."""
    run.stage(f"{op.name}: trace ({probes} probes) and top eigenvalues")
    tr = op.trace(probes=probes, method="hutch++", seed=run.seed, confidence=run.confidence)
    top = op.top_eigenvalues(k=min(3, op.dim), seed=run.seed, confidence=run.confidence)
    from theorems.filters.model_certificate import percent

    pct = percent(run.confidence)
    message = (f"tr = {tr.value:.6g} ({pct} interval [{tr.lower:.6g}, {tr.upper:.6g}]); "
               f"lambda_max in [{top.lower_bound:.6g}, {top.upper_bound:.6g}] (upper w.p. "
               f"{pct}); top {len(top.values)}: "
               + ", ".join(f"{v:.6g} +/- {r:.1e}" for v, r in zip(top.values, top.residuals)))
    return run.part(which, operator=op.name, probes=probes).evidence(
        f"{op.name}: Hutch++ trace, Lanczos eigenvalues", message, sample_size=probes,
        evidence={"trace": tr.to_dict(), "top": top.to_dict()},
        bounds=(top.lower_bound, top.upper_bound), confidence=run.confidence, **run.stamp())


def density_verdict(run: Any, operators: dict[str, Any], runs: int, steps: int) -> Verdict:
    """Stochastic Lanczos quadrature of each operator: the nodes and weights as data, the
    Gaussian-smoothed density on a grid as a plot (log scale, as PyHessian draws it)."""
    data, curves, sigma_used = {}, {}, {}
    lo, hi = math.inf, -math.inf
    results = {}
    for i, (name, op) in enumerate(operators.items()):
        (run.step if i else run.stage)(f"eigenvalue density of the {op.name} ({runs} x {steps} Lanczos steps)")
        slq = op.spectral_density(runs=runs, steps=steps, seed=run.seed + 10 * i)
        results[name] = (op, slq)
        lo, hi = min(lo, float(slq.nodes.min())), max(hi, float(slq.nodes.max()))
    pad = 0.05 * max(hi - lo, 1e-12)
    grid = np.linspace(lo - pad, hi + pad, _GRID)
    for name, (op, slq) in results.items():
        dens, sigma = slq.density(grid, sigma=max(hi - lo, 1e-12) / 100)
        floor = max(float(dens.max()), 1e-300) * 1e-10
        curves[op.name] = np.maximum(dens, floor).tolist()
        sigma_used[name] = sigma
        data[name] = {"nodes": slq.nodes.tolist(), "weights": slq.weights.tolist(),
                      "runs": runs, "steps": int(slq.nodes.shape[1]), "matvecs": slq.matvecs,
                      "trace_estimate": slq.moment(1) * op.dim}
    traces = "; ".join(f"{operators[n].name}: SLQ trace {d['trace_estimate']:.6g}"
                       for n, d in data.items())
    message = (f"eigenvalue density of {', '.join(op.name for op in operators.values())} "
               f"from {runs} Rademacher starts x {steps} Lanczos steps, Gaussian smoothing "
               f"width {next(iter(sigma_used.values())):.3g}; {traces}")
    plot = {"title": "eigenvalue density (stochastic Lanczos quadrature)",
            "xlabel": "eigenvalue", "ylabel": "density", "x": grid.tolist(), "lines": curves,
            "logy": True}
    return run.part("density", runs=runs, steps=steps,
                    operators=list(operators)).evidence(
        "stochastic Lanczos quadrature (Ubaru, Chen, Saad 2017)", message,
        sample_size=runs, evidence={"operators": data, "sigma": sigma_used,
                                    "grid": grid.tolist(), "plots": [plot]}, **run.stamp())


def layers_verdict(run: Any, probes: int) -> Verdict:
    """Per-module block trace and top eigenvalue of the Hessian, as a table."""
    from numerics.curvature import block_curvature, parameter_blocks
    from theorems.filters.model_certificate import percent

    blocks = parameter_blocks(run.op, "module")
    run.stage(f"per-layer curvature ({len(blocks)} blocks, {probes} probes each)")
    rows = block_curvature(run.op, by="module", probes=probes, seed=run.seed,
                           confidence=run.confidence)
    total = sum(b.trace.value for b in rows)
    header = ["block", "parameters", "size", "trace", f"{percent(run.confidence)} interval",
              "share of the trace", "top eigenvalue", "residual"]
    table = [[b.name, ", ".join(b.parameters), b.size, f"{b.trace.value:.6g}",
              "exact" if b.trace.method == "exact" else
              f"[{b.trace.lower:.6g}, {b.trace.upper:.6g}]",
              f"{b.trace.value / total:.1%}" if total else "—", f"{b.top.values[0]:.6g}",
              f"{b.top.residuals[0]:.1e}"] for b in rows]
    worst = max(rows, key=lambda b: b.top.values[0])
    message = (f"{len(rows)} blocks; block traces sum to {total:.6g}; the largest block "
               f"eigenvalue is {worst.top.values[0]:.6g} ({worst.name})")
    return run.part("layers", probes=probes).evidence(
        "diagonal blocks: Hutchinson trace and Lanczos top eigenvalue per block", message,
        sample_size=probes, evidence={"blocks": [b.to_dict() for b in rows],
                                      "tables": [{"title": "per-layer curvature of the Hessian",
                                                  "header": header, "rows": table}]},
        **run.stamp())


def landscape_verdict(run: Any, optimizer: str | None, alpha: Any, beta: Any, rho: Any, *,
                      points: int, grid: int, span: float) -> Verdict:
    """1-D and 2-D filter-normalized landscapes, and the loss along the sharpest direction (the
    top Hessian eigenvector) against the parabolas of lambda_max and of the optimizer's filter
    edge, with the flatness numbers in a table beside them."""
    from numerics.landscape import landscape_1d, landscape_2d, loss_along
    from theorems.filters.model_certificate import extreme_eigenvalues, filter_edge

    run.stage(f"loss landscape (1-D: {points} points, 2-D: {grid} x {grid})")
    extreme_eigenvalues(run, 1, bottom=False)
    one = landscape_1d(run.op, span=span, points=points, seed=run.seed)
    two = landscape_2d(run.op, span=span, points=grid, seed=run.seed + 1) if grid else None
    lam = run.top.values[0]
    trace = run.trace
    edge = filter_edge(optimizer, alpha, beta, rho) if optimizer else None
    flat = {"lambda_max": lam, "lambda_max_upper": run.top.upper_bound,
            "trace": trace.value if trace is not None else None,
            "curvature_along_direction": one.curvature, "filter_edge": edge,
            "optimizer": optimizer}
    finite = [v for v in one.losses if math.isfinite(v)]
    a = np.array(one.alphas)
    quadratic = one.loss0 + one.slope * one.direction_norm * a \
        + 0.5 * one.curvature * one.direction_norm ** 2 * a ** 2
    model_name = f"quadratic model (d^T H d / |d|^2 = {one.curvature:.4g})"
    plots = [{"title": "1-D filter-normalized loss landscape", "xlabel": "a (theta + a d)",
              "ylabel": "loss", "x": one.alphas, "dashed": [model_name],
              "lines": {"loss along d": one.losses,
                        model_name: quadratic.tolist()}}]
    # the sharpest direction, over the distance where lambda_max's parabola rises by a quarter
    # of what the filter-normalized line rises
    rise = max(0.25 * (max(finite) - one.loss0), 1e-12)
    reach = math.sqrt(2 * rise / lam) if lam > 0 else span * one.direction_norm
    t = np.linspace(-reach, reach, points)
    v = run.top.vectors[0] / run.top.vectors[0].norm()
    sharp = loss_along(run.op, v, t)
    lines = {"loss along the top eigenvector": sharp,
             f"lambda_max = {lam:.4g}": (one.loss0 + 0.5 * lam * t ** 2).tolist()}
    if edge is not None:
        lines[f"filter edge of {optimizer} = {edge:.4g}"] = \
            (one.loss0 + 0.5 * edge * t ** 2).tolist()
    top_loss = max(v for v in sharp if math.isfinite(v))
    plots.append({"title": "loss along the sharpest direction", "xlabel": "t (theta + t v_max)",
                  "ylabel": "loss", "x": t.tolist(), "lines": lines,
                  "dashed": [name for name in lines if not name.startswith("loss")],
                  "ylim": [one.loss0 - 0.05 * (top_loss - one.loss0 + 1e-12),
                           one.loss0 + 1.3 * (top_loss - one.loss0) + 1e-12]})
    if two is not None:
        plots.append({"type": "contour", "title": "2-D filter-normalized loss landscape",
                      "xlabel": "a (d1)", "ylabel": "b (d2)", "x": two.alphas, "y": two.betas,
                      "z": two.losses})
    names = {"lambda_max": "lambda_max (Rayleigh quotient)",
             "lambda_max_upper": "lambda_max, upper bound", "trace": "trace of H",
             "curvature_along_direction": "curvature along d (d^T H d / |d|^2)",
             "filter_edge": f"filter edge of {optimizer} (largest stable curvature)"}
    table = [[label, f"{flat[key]:.6g}"] for key, label in names.items()
             if isinstance(flat.get(key), float)]
    edge_text = f", filter edge of {optimizer} {edge:.6g}" if edge is not None else ""
    trace_text = f", trace {trace.value:.6g}" if trace is not None else ""
    message = (f"loss {one.loss0:.6g} at the weights; along a filter-normalized direction it "
               f"rises to {max(finite):.6g} at |a| = {span:g}; lambda_max {lam:.6g}"
               f"{trace_text}{edge_text}")
    ev = {"one_d": one.to_dict(), "two_d": two.to_dict() if two is not None else None,
          "sharpest": {"t": t.tolist(), "losses": sharp}, "flatness": flat, "plots": plots,
          "tables": [{"title": "flatness numbers of the model", "header": ["number", "value"],
                      "rows": table}]}
    return run.part("landscape", points=points, grid=grid, span=span).evidence(
        "filter-normalized directions (Li et al. 2018)", message,
        sample_size=2 * points + grid * grid, evidence=ev, **run.stamp())
