"""Certificates about a trained model: curvature numbers turned into verdicts.

``certify_model`` reports, for the loss of a PyTorch model at its current parameters:

* ``model.critical-point``: loss and gradient norm (is it near a critical point?);
* ``model.trace``: tr(H) with a confidence interval (Hutchinson or Hutch++);
* ``model.top-eigenvalues``: the top eigenvalues with residuals, lambda_max between its Rayleigh
  lower bound and a probabilistic upper bound, and lambda_min likewise (from -H);
* ``model.filter`` (with an optimizer): whether the Hessian spectrum is consistent with the
  optimizer's eigenvalue filter (``theorems.filters.filter_set``, derived from the implemented
  update map), i.e. whether the optimizer can be linearly stable at this point (Bolte, Le and
  Pauwels);
* ``model.lambda-max`` (with ``lambda_max_at_most``): lambda_max <= at_most, certified by the
  Kuczynski-Wozniakowski bound or refuted by a Rayleigh quotient above it;
* the optional curvature views of :mod:`theorems.filters.model_views` (``views``): spectral
  density, per-layer trace and top eigenvalue, Gauss-Newton and empirical Fisher operators,
  filter-normalized loss landscapes.

The file convention of ``sharpflat certify-model FILE.py`` is in
:func:`verify.loaders.load_model_file`. Every decided verdict carries a certificate from which
the kernel re-derives its bound (:mod:`verify.kernel.estimates`). Every verdict records the
seed and the seconds its stage took.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, Callable

import sympy as sp

from numerics.updates import OPTIMIZERS
from verify.errors import InvalidClaim, NoFilter, UsageError
from verify.verdict import Assumption, Decision, Verdict

KIND = "model-certificate"


@dataclass
class Stages:
    """The operator of one certificate run and what its stages share: the claim fields of
    every part, the seed, the confidence, progress and timing."""

    op: Any
    name: str
    claim: dict[str, Any]
    seed: int
    confidence: float
    progress: Callable[[str], None]
    began: float = field(default_factory=time.perf_counter)
    top: Any = None
    bottom: Any = None
    trace: Any = None
    near: bool = False
    gnorm: float = math.nan

    def stage(self, text: str) -> None:
        """A stage begins: tell the progress callback and start its clock."""
        self.progress(text)
        self.began = time.perf_counter()

    def step(self, text: str) -> None:
        """A step within the current stage (progress only; the stage's clock runs on)."""
        self.progress(text)

    def part(self, which: str, **extra: Any) -> Decision:
        return Decision({**self.claim, "id": f"{self.name}.{which}", "part": which, **extra})

    def stamp(self) -> dict[str, Any]:
        """The seed and the seconds since the stage began (every verdict records them)."""
        return {"seed": self.seed, "elapsed": time.perf_counter() - self.began}


def operator_for(model: Any, loss_fn: Any, data: Any, *, name: str, params: Any = None,
                 device: str = "cpu", which: str = "hessian") -> Any:
    """The curvature operator of a model (``which``: hessian, ggn or fisher) on ``device``;
    usage errors for what the operator refuses."""
    import torch

    from numerics.curvature import OPERATORS, CurvatureError

    if device == "cuda" and not torch.cuda.is_available():
        raise UsageError("--device cuda was asked for, but torch sees no CUDA device")
    model = model.to(device)
    data = _to_device(data, device)
    try:
        return OPERATORS[which](model, loss_fn, data, params=params)
    except CurvatureError as exc:
        raise UsageError(f"{name}: {exc}") from exc


def resolve_threads(threads: Any, op: Any, device: str) -> int | None:
    """The thread count a run uses: ``"auto"`` by the size of a product
    (:func:`numerics.threads.auto_threads`), ``None`` leaves torch's setting, else the
    number given."""
    from numerics.threads import auto_threads, check_threads

    try:
        threads = check_threads(threads)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    if threads == "auto":
        return None if op is None else auto_threads(op.dim, op.num_examples, device)
    return threads


def certify_model(model: Any, loss_fn: Any, data: Any, *, name: str = "model",
                  params: Any = None, optimizer: str | None = None, alpha: Any = None,
                  beta: Any = None, rho: Any = None, hyper: dict[str, Any] | None = None,
                  device: str = "cpu", probes: int = 100,
                  trace_method: str = "hutch++", k: int = 3, confidence: float = 0.95,
                  grad_tol: float = 1e-3, flat_rtol: float = 1e-3, seed: int = 0,
                  threads: int | str | None = "auto", views: Any = (),
                  lambda_max_at_most: Any = None, view_options: dict[str, Any] | None = None,
                  progress: Callable[[str], None] | None = None) -> list[Verdict]:
    """The verdicts of a model certificate (see the module docstring). ``optimizer`` is a
    built-in name or a user's ``"file.py:name"`` (its other hyperparameters in ``hyper``).
    ``progress(stage)`` is called as each stage begins (the command line reports them).
    ``threads``: torch's and the
    BLAS pools' threads during the run (``"auto"``: :func:`numerics.threads.auto_threads`;
    ``None``: as they are); ``views``: names of :data:`theorems.filters.model_views.VIEWS`,
    with ``view_options`` passed on to them."""
    from numerics.threads import limited
    from theorems.filters import model_views

    views = model_views.check_views(views)
    model_views.check_options(view_options or {})
    resolve_threads(threads, None, device)          # a bad value fails before any work
    optimizer = checked_optimizer(optimizer, alpha)
    run = open_stages(model, loss_fn, data, name=name, params=params, device=device,
                      seed=seed, confidence=confidence, progress=progress)
    with limited(resolve_threads(threads, run.op, device)):
        verdicts = [critical_point(run, grad_tol)]
        if not math.isfinite(run.gnorm):
            return verdicts
        verdicts.append(trace_verdict(run, probes, trace_method))
        verdicts.append(eigen_verdict(run, k, flat_rtol))
        if optimizer is not None:
            run.stage(f"eigenvalue filter of {optimizer}")
            verdicts.append(_filter_verdict(run, optimizer, {"alpha": alpha, "beta": beta,
                                                             "rho": rho, **(hyper or {})},
                                            flat_rtol))
        if lambda_max_at_most is not None:
            verdicts.append(lambda_max_verdict(run, lambda_max_at_most))
        verdicts += model_views.view_verdicts(run, views, optimizer=optimizer, alpha=alpha,
                                              beta=beta, rho=rho, **(view_options or {}))
    return verdicts


def open_stages(model: Any, loss_fn: Any, data: Any, *, name: str = "model", params: Any = None,
                device: str = "cpu", seed: int = 0, confidence: float = 0.95,
                progress: Callable[[str], None] | None = None) -> Stages:
    """The Hessian operator of a model and the shared state of the stages run on it."""
    if not 0 < confidence < 1:
        raise UsageError(f"confidence must lie in (0, 1), got {confidence}")
    stage = progress or (lambda name: None)
    stage(f"Hessian operator on {device}")
    op = operator_for(model, loss_fn, data, name=name, params=params, device=device)
    return Stages(op, name, {"kind": KIND, "model": name, "parameters": op.dim,
                             "examples": op.num_examples, "dtype": str(op.dtype),
                             "device": device, "confidence": confidence}, seed, confidence,
                  stage)


def checked_optimizer(optimizer: str | None, alpha: Any) -> str | None:
    """The optimizer of a filter part: a built-in name, or a user's ``"file.py:name"`` made
    absolute and pinned (usage errors for an unknown one, or a filtered one without alpha)."""
    if optimizer is not None and ":" not in optimizer and optimizer not in OPTIMIZERS:
        raise UsageError(f"unknown optimizer {optimizer!r}; known: {', '.join(OPTIMIZERS)}, "
                         "or FILE.py:NAME for an optimizer declared in a file")
    if optimizer is not None and ":" in optimizer:
        from pathlib import Path

        from theorems.filters.mathematics import pin_method

        where, _, method_name = optimizer.rpartition(":")
        optimizer = f"{Path(where).resolve()}:{method_name}"   # the claim says where it is
        try:
            pin_method(optimizer)
        except InvalidClaim as exc:
            raise UsageError(str(exc)) from None
    filtered = optimizer is not None and (":" in optimizer or OPTIMIZERS[optimizer].filter)
    if filtered and alpha is None:
        raise UsageError(f"--optimizer {optimizer} needs --alpha")
    return optimizer


def filter_verdict(run: Stages, optimizer: str, alpha: Any, beta: Any = None, rho: Any = None,
                   *, flat_rtol: float = 1e-3, grad_tol: float = 1e-3) -> Verdict:
    """The ``filter`` part alone (with the gradient and the extreme eigenvalues it rests on)."""
    optimizer = checked_optimizer(optimizer, alpha)
    if not math.isfinite(run.gnorm):
        point = critical_point(run, grad_tol)
        if not math.isfinite(run.gnorm):
            return run.part("filter", optimizer=optimizer).inconclusive(
                "none", point.message, **run.stamp())
    extreme_eigenvalues(run, 1, flat_rtol)
    run.stage(f"eigenvalue filter of {optimizer}")
    return _filter_verdict(run, optimizer, {"alpha": alpha, "beta": beta, "rho": rho},
                           flat_rtol)


def critical_point(run: Stages, grad_tol: float) -> Verdict:
    op = run.op
    run.stage(f"loss and gradient ({op.dim} parameters, {op.num_examples} examples)")
    loss = op.loss()
    g = op.gradient()
    gnorm = float(g.norm())
    run.gnorm = gnorm if math.isfinite(loss) else math.nan
    if not (math.isfinite(loss) and math.isfinite(gnorm)):
        return run.part("critical-point").inconclusive(
            "loss and gradient", f"the loss ({loss}) or its gradient norm ({gnorm}) is not "
            "finite: nothing to certify", **run.stamp())
    run.near = near = gnorm <= grad_tol
    message = (f"loss {loss:.6g}, ||grad|| = {gnorm:.3g} " + ("<=" if near else ">")
               + f" {grad_tol:g}" + ("" if near else ": not near a critical point, so the "
                                     "curvature below is not that of a minimum"))
    d = run.part("critical-point", grad_tol=grad_tol)
    import torch

    common = dict(evidence={"loss": loss, "grad_norm": gnorm,
                            "threads": torch.get_num_threads()},
                  bounds=(gnorm, gnorm), **run.stamp())
    return (d.evidence("loss and gradient in the model's dtype", message,
                       sample_size=op.num_examples, **common) if near else
            d.inconclusive("loss and gradient in the model's dtype", message, **common))


def trace_verdict(run: Stages, probes: int, trace_method: str) -> Verdict:
    run.stage(f"trace ({trace_method}, {probes} probes)")
    tr = run.trace = run.op.trace(probes=probes, method=trace_method, seed=run.seed,
                                  confidence=run.confidence)
    return run.part("trace", probes=probes, method=trace_method).evidence(
        f"{trace_method} trace, {probes} Rademacher probes",
        f"tr(H) = {tr.value:.6g}, {percent(run.confidence)} interval [{tr.lower:.6g}, "
        f"{tr.upper:.6g}] ({tr.interval})", sample_size=probes, evidence=tr.to_dict(),
        bounds=(tr.lower, tr.upper), confidence=run.confidence, **run.stamp())


def extreme_eigenvalues(run: Stages, k: int = 3, flat_rtol: float = 1e-3, *,
                        bottom: bool = True) -> None:
    """The top ``k`` eigenvalues and (with ``bottom``) lambda_min (Lanczos on -H, run until its
    probabilistic bound resolves the flat band), each once per run."""
    op = run.op
    if run.top is None or len(run.top.values) < min(k, op.dim):
        run.top = op.top_eigenvalues(k=min(k, op.dim), seed=run.seed,
                                     confidence=run.confidence)
    if bottom and run.bottom is None:
        run.step("lambda_min (Lanczos on -H)")
        run.bottom = (-op).top_eigenvalues(k=1, seed=run.seed + 1, confidence=run.confidence,
                                           bound_rtol=flat_rtol, max_steps=max(300, 2 * k))


def eigen_verdict(run: Stages, k: int, flat_rtol: float) -> Verdict:
    run.stage(f"top {min(k, run.op.dim)} eigenvalues (Lanczos)")
    extreme_eigenvalues(run, k, flat_rtol)
    top, bottom, confidence = run.top, run.bottom, run.confidence
    lam_min, lam_min_low = -bottom.values[0], -bottom.upper_bound
    d = run.part("top-eigenvalues", k=k)
    message = (f"lambda_max in [{top.lower_bound:.6g}, {top.upper_bound:.6g}] (lower: Rayleigh "
               f"quotient; upper: with probability >= {percent(confidence)}); top "
               f"{len(top.values)}: "
               + ", ".join(f"{v:.6g} +/- {r:.1e}" for v, r in zip(top.values, top.residuals))
               + f"; lambda_min ~ {lam_min:.6g} (>= {lam_min_low:.6g} w.p. "
               f"{percent(confidence)})")
    common = dict(evidence={"top": top.to_dict(), "bottom": {**bottom.to_dict(),
                                                             "lambda_min": lam_min}},
                  bounds=(top.lower_bound, top.upper_bound), **run.stamp())
    method = ("Lanczos with full reorthogonalization; Rayleigh quotients, residuals; "
              "Kuczynski-Wozniakowski bound")
    if top.converged and math.isfinite(top.upper_bound):
        return d.certified(method, message, certificate=kw_certificate(top, run.op.dim),
                           confidence=confidence, **common)
    return d.inconclusive(method, message, **common)


def lambda_max_verdict(run: Stages, at_most: Any) -> Verdict:
    """lambda_max(H) <= at_most: certified when the Kuczynski-Wozniakowski bound is at most
    at_most (probability >= the confidence), refuted when a Rayleigh quotient, re-checked by
    finite-difference products, exceeds it by more than the re-check tolerance."""
    from verify.kernel.estimates import RAYLEIGH_RECHECK_RTOL

    value = float(at_most)
    if not math.isfinite(value):
        raise UsageError(f"lambda_max at_most must be finite, got {at_most!r}")
    run.stage(f"lambda_max <= {value:g}")
    extreme_eigenvalues(run, 1, bottom=False)
    top, confidence = run.top, run.confidence
    d = run.part("lambda-max", at_most=value, confidence=confidence)
    rayleigh = top.values[0]
    ev = {"top": top.to_dict()}
    tol = RAYLEIGH_RECHECK_RTOL * abs(rayleigh)
    if rayleigh - tol > value:
        recheck = _recheck_rayleigh(run.op, top.vectors[0])
        if abs(recheck - rayleigh) <= tol:
            return d.refuted(
                "Rayleigh quotient above the bound, re-checked by finite differences",
                f"lambda_max >= v^T H v = {rayleigh:.8g} > {value:g} (re-checked: "
                f"{recheck:.8g}, tolerance {tol:.2g})",
                certificate={"kind": "rayleigh-above", "value": rayleigh, "recheck": recheck},
                counterexample={"rayleigh_quotient": rayleigh,
                                "rayleigh_rechecked_finite_differences": recheck,
                                "tolerance": tol},
                bounds=(rayleigh, top.upper_bound), evidence=ev, **run.stamp())
    upper = top.upper_bound
    method = "Lanczos, Kuczynski-Wozniakowski bound"
    message = (f"lambda_max in [{rayleigh:.8g}, {upper:.8g}] (upper: with probability >= "
               f"{percent(confidence)})")
    if math.isfinite(upper) and upper <= value:
        cert = {"kind": "kw-lambda-max", "theta_max": top.ritz_max, "theta_min": top.ritz_min,
                "steps": top.steps, "breakdown": top.breakdown, "residual": top.residuals[0],
                "upper": upper}
        return d.certified(method, message + f" <= {value:g}", certificate=cert,
                           confidence=confidence, bounds=(rayleigh, upper), evidence=ev,
                           **run.stamp())
    return d.inconclusive(method, message + f": {value:g} lies between the bounds",
                          bounds=(rayleigh, upper), evidence=ev, **run.stamp())


def percent(confidence: float) -> str:
    """A confidence as a percentage without float noise: 0.95 -> "95%", 0.999 -> "99.9%"."""
    return f"{100 * confidence:.6g}%"


def both_sides(confidence: float) -> float:
    """The confidence of two bounds that each hold with ``confidence``: 1 - 2 (1 - c),
    computed from c's decimal form (0.95 gives 0.9, not 0.8999999999999999)."""
    c = Fraction(repr(float(confidence)))
    return float(1 - 2 * (1 - c))


def kw_certificate(estimate: Any, dim: int) -> dict[str, Any]:
    """The raw numbers from which the kernel recomputes the probabilistic upper bound."""
    return {"kind": "kw-bound", "theta_max": estimate.ritz_max, "theta_min": estimate.ritz_min,
            "steps": estimate.steps, "breakdown": estimate.breakdown,
            "residual": estimate.residuals[0]}


def filter_edge(optimizer: str, alpha: Any, beta: Any = None, rho: Any = None) -> float | None:
    """The largest curvature in the optimizer's filter set (2/alpha for gradient descent), or
    None when the set is unbounded above or the optimizer has no filter."""
    from theorems.filters.mathematics import filter_set

    if optimizer is None or (":" not in optimizer and not OPTIMIZERS[optimizer].filter):
        return None
    try:
        S = filter_set(optimizer, _exact(alpha), _exact(beta), _exact(rho))
    except (NoFilter, InvalidClaim, ValueError):
        return None
    if S is sp.S.EmptySet:
        return None
    return float(S.sup) if S.sup.is_finite else None


def _filter_verdict(run: Stages, optimizer: str, values: dict[str, Any],
                    flat_rtol: float) -> Verdict:
    from theorems.filters.mathematics import filter_set, pin_method
    from theorems.filters.mathematics import label as method_label

    top, bottom, near, gnorm, op, dim = run.top, run.bottom, run.near, run.gnorm, run.op, \
        run.op.dim
    confidence = both_sides(run.confidence)
    stamp = run.stamp

    def part(which: str, **extra: Any) -> Decision:
        return run.part(which, **extra)

    exact = {k: _exact(v) for k, v in values.items() if v is not None}
    named = {k: str(v) for k, v in exact.items() if k in ("alpha", "beta", "rho")}
    others = {k: str(v) for k, v in exact.items() if k not in ("alpha", "beta", "rho")}
    given: dict[str, Any] = dict(named)
    if others:
        given["hyper"] = others
    if ":" in optimizer:
        given["optimizer_sha256"] = pin_method(optimizer)[2]
    lo_max, up_max = top.lower_bound, top.upper_bound
    lam_min, lam_min_low = -bottom.values[0], -bottom.upper_bound
    # flat directions: eigenvalues within flat = flat_rtol * |lambda_max| of zero are not resolved
    # (a near-critical point of an over-parameterized model has many, of either sign)
    flat = float(_exact(flat_rtol * max(abs(lo_max), abs(lam_min))))
    d = part("filter", optimizer=optimizer, flat_tolerance=flat, **given)
    try:
        S = filter_set(optimizer, exact.get("alpha"), exact.get("beta"), exact.get("rho"),
                       hyper={k: v for k, v in exact.items() if k not in ("alpha", "beta",
                                                                           "rho")} or None)
    except NoFilter as exc:
        return d.inconclusive("none", f"no eigenvalue filter applies: {exc}", **stamp())
    except (InvalidClaim, ValueError) as exc:
        raise UsageError(f"filter of {method_label(optimizer)}: {exc}") from exc
    critical = Assumption("near a critical point", near, f"||grad|| = {gnorm:.3g}")
    flat_band = sp.Interval(-_exact(flat), _exact(flat))
    ev = {"filter_set": str(S), "lambda_max": [lo_max, up_max],
          "lambda_min": [lam_min_low, lam_min], "flat_tolerance": flat}
    # an eigenvalue surely outside the filter: its residual interval misses the set
    for label, value, res, est in (("lambda_max", top.values[0], top.residuals[0], top),
                                   ("lambda_min", lam_min, bottom.residuals[0], bottom)):
        # the re-check is an independent product path (finite differences), accurate to about
        # 1e-3 relative even in float32; the claim is refuted only if the eigenvalue interval,
        # widened to that accuracy, misses the filter and the re-check lands inside it
        tol = max(res, 1e-3 * abs(value))
        ball = sp.Interval(_exact(value - tol), _exact(value + tol))
        if sp.Intersection(ball, sp.Union(S, flat_band)) is not sp.S.EmptySet:
            continue
        # the Rayleigh quotient under H itself (the bottom vector came from -H): directly
        # comparable with value, which is an eigenvalue estimate of H
        recheck = _recheck_rayleigh(op, est.vectors[0])
        if abs(recheck - value) <= tol:
            return d.refuted(
                "eigenvalue interval outside the exact filter set, re-checked",
                f"an eigenvalue of H lies in [{value - tol:.6g}, {value + tol:.6g}], outside "
                f"the filter {S} of {method_label(optimizer)}: the optimizer is not linearly "
                "stable here"
                + ("" if near else " (note: not near a critical point)"),
                certificate={"kind": "eigenvalue-outside-filter", "value": value, "tol": tol,
                             "residual": res, "recheck": recheck},
                counterexample={label: value, "interval": [value - tol, value + tol],
                                "rayleigh_rechecked_finite_differences": recheck},
                assumptions=[critical], evidence=ev, **stamp())
    bounded = math.isfinite(up_max) and math.isfinite(lam_min_low)
    inside = bounded and sp.Complement(sp.Interval(_exact(lam_min_low), _exact(up_max)),
                                       flat_band).is_subset(S)
    message = (f"the spectrum lies in [{lam_min_low:.6g}, {up_max:.6g}] (probability >= "
               f"{percent(confidence)}); outside the flat band |lambda| <= {flat:.3g} it lies inside "
               f"the filter {S} of {method_label(optimizer)}")
    method = "probabilistic spectrum enclosure inside the exact filter set"
    if inside and near:
        return d.certified(method, message, confidence=confidence, assumptions=[critical],
                           certificate={"kind": "spectrum-in-filter",
                                        "top": kw_certificate(top, dim),
                                        "bottom": kw_certificate(bottom, dim)},
                           evidence=ev, **stamp())
    if inside:
        return d.inconclusive(method, message + "; but the point is not near a critical point, "
                              "so linear stability does not apply", evidence=ev, **stamp())
    return d.inconclusive("spectrum enclosure vs exact filter set",
                          f"the spectrum enclosure [{lam_min_low:.6g}, {up_max:.6g}] overlaps "
                          f"the boundary of the filter {S}: neither inside nor surely outside",
                          assumptions=[critical], evidence=ev, **stamp())


def _exact(value: Any) -> Any:
    """Floats read exactly through their shortest repr (0.1 -> 1/10); None stays None; exact
    SymPy numbers stay as they are."""
    if value is None:
        return None
    if isinstance(value, sp.Basic):
        return value
    q = Fraction(repr(float(value)))
    return sp.Rational(q.numerator, q.denominator)


def _recheck_rayleigh(op: Any, vector: Any) -> float:
    """The Rayleigh quotient of ``vector`` under H, recomputed with finite-difference products
    (a path independent of the autodiff products that produced it)."""
    v = vector / vector.norm()
    return float(v @ op.using("finite-difference").matmat(v[None])[0])


def _to_device(data: Any, device: str) -> Any:
    import torch

    if isinstance(data, (tuple, list)) and len(data) == 2 and all(
            isinstance(t, torch.Tensor) for t in data):
        return tuple(t.to(device) for t in data)
    return data
