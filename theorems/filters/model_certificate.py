"""Certificates about a trained model: curvature numbers turned into verdicts.

``certify_model`` reports, for the loss of a PyTorch model at its current parameters:

* ``model.critical-point``: loss and gradient norm (is it near a critical point?);
* ``model.trace``: tr(H) with a confidence interval (Hutchinson or Hutch++);
* ``model.top-eigenvalues``: the top eigenvalues with residuals, lambda_max between its Rayleigh
  lower bound and a probabilistic upper bound, and lambda_min likewise (from -H);
* ``model.filter`` (with an optimizer): whether the Hessian spectrum is consistent with the
  optimizer's eigenvalue filter (``theorems.filters.filter_set``, derived from the implemented
  update map), i.e. whether the optimizer can be linearly stable at this point (Bolte, Le and
  Pauwels).

The file convention of ``sharpflat certify-model FILE.py`` is in
:func:`verify.loaders.load_model_file`. Every decided verdict carries a certificate from which
the kernel re-derives its bound (:mod:`verify.kernel.estimates`).
"""

from __future__ import annotations

import math
from fractions import Fraction
from typing import Any, Callable

import sympy as sp

from numerics.updates import OPTIMIZERS
from verify.errors import InvalidClaim, NoFilter, UsageError
from verify.verdict import Assumption, Decision, Verdict

KIND = "model-certificate"


def certify_model(model: Any, loss_fn: Any, data: Any, *, name: str = "model",
                  params: Any = None, optimizer: str | None = None, alpha: Any = None,
                  beta: Any = None, rho: Any = None, hyper: dict[str, Any] | None = None,
                  device: str = "cpu", probes: int = 100,
                  trace_method: str = "hutch++", k: int = 3, confidence: float = 0.95,
                  grad_tol: float = 1e-3, flat_rtol: float = 1e-3, seed: int = 0,
                  progress: Callable[[str], None] | None = None) -> list[Verdict]:
    """The verdicts of a model certificate (see the module docstring). ``optimizer`` is a
    built-in name or a user's ``"file.py:name"`` (its other hyperparameters in ``hyper``).
    ``progress(stage)`` is called as each stage begins (the command line reports them)."""
    import torch

    stage = progress or (lambda name: None)

    from numerics.curvature import CurvatureError, HessianOperator

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
    if device == "cuda" and not torch.cuda.is_available():
        raise UsageError("--device cuda was asked for, but torch sees no CUDA device")
    stage(f"Hessian operator on {device}")
    model = model.to(device)
    data = _to_device(data, device)
    try:
        op = HessianOperator(model, loss_fn, data, params=params)
    except CurvatureError as exc:
        raise UsageError(f"{name}: {exc}") from exc
    claim = {"kind": KIND, "model": name, "parameters": op.dim, "examples": op.num_examples,
             "dtype": str(op.dtype), "device": device, "confidence": confidence}

    def part(which: str, **extra: Any) -> Decision:
        return Decision({**claim, "id": f"{name}.{which}", "part": which, **extra})

    verdicts = []
    stage(f"loss and gradient ({op.dim} parameters, {op.num_examples} examples)")
    loss = op.loss()
    g = op.gradient()
    gnorm = float(g.norm())
    if not (math.isfinite(loss) and math.isfinite(gnorm)):
        return [part("critical-point").inconclusive(
            "loss and gradient", f"the loss ({loss}) or its gradient norm ({gnorm}) is not "
            "finite: nothing to certify")]
    near = gnorm <= grad_tol
    message = (f"loss {loss:.6g}, ||grad|| = {gnorm:.3g} " + ("<=" if near else ">")
               + f" {grad_tol:g}" + ("" if near else ": not near a critical point, so the "
                                     "curvature below is not that of a minimum"))
    d = part("critical-point", grad_tol=grad_tol)
    common = dict(evidence={"loss": loss, "grad_norm": gnorm}, bounds=(gnorm, gnorm))
    verdicts.append(d.evidence("loss and gradient in the model's dtype", message,
                               sample_size=op.num_examples, **common) if near else
                    d.inconclusive("loss and gradient in the model's dtype", message, **common))

    stage(f"trace ({trace_method}, {probes} probes)")
    tr = op.trace(probes=probes, method=trace_method, seed=seed, confidence=confidence)
    verdicts.append(part("trace", probes=probes, method=trace_method).evidence(
        f"{trace_method} trace, {probes} Rademacher probes",
        f"tr(H) = {tr.value:.6g}, {confidence:.0%} interval [{tr.lower:.6g}, {tr.upper:.6g}] "
        f"({tr.interval})", sample_size=probes, evidence=tr.to_dict(),
        bounds=(tr.lower, tr.upper), confidence=confidence))

    stage(f"top {min(k, op.dim)} eigenvalues (Lanczos)")
    top = op.top_eigenvalues(k=min(k, op.dim), seed=seed, confidence=confidence)
    stage("lambda_min (Lanczos on -H)")
    # lambda_min from -H, run until its probabilistic bound resolves the flat band
    bottom = (-op).top_eigenvalues(k=1, seed=seed + 1, confidence=confidence,
                                   bound_rtol=flat_rtol, max_steps=max(300, 2 * k))
    lam_min = -bottom.values[0]
    lam_min_low = -bottom.upper_bound
    both = 1 - 2 * (1 - confidence)
    d = part("top-eigenvalues", k=k)
    message = (f"lambda_max in [{top.lower_bound:.6g}, {top.upper_bound:.6g}] (lower: Rayleigh "
               f"quotient; upper: with probability >= {confidence:.0%}); top {len(top.values)}: "
               + ", ".join(f"{v:.6g} +/- {r:.1e}" for v, r in zip(top.values, top.residuals))
               + f"; lambda_min ~ {lam_min:.6g} (>= {lam_min_low:.6g} w.p. {confidence:.0%})")
    common = dict(evidence={"top": top.to_dict(), "bottom": {**bottom.to_dict(),
                                                             "lambda_min": lam_min}},
                  bounds=(top.lower_bound, top.upper_bound))
    method = ("Lanczos with full reorthogonalization; Rayleigh quotients, residuals; "
              "Kuczynski-Wozniakowski bound")
    if top.converged and math.isfinite(top.upper_bound):
        verdicts.append(d.certified(method, message, certificate=kw_certificate(top, op.dim),
                                    confidence=confidence, **common))
    else:
        verdicts.append(d.inconclusive(method, message, **common))

    if optimizer is not None:
        stage(f"eigenvalue filter of {optimizer}")
        verdicts.append(_filter_verdict(
            part, optimizer, {"alpha": alpha, "beta": beta, "rho": rho, **(hyper or {})}, top,
            bottom, near, gnorm, both, op, flat_rtol, op.dim))
    return verdicts


def kw_certificate(estimate: Any, dim: int) -> dict[str, Any]:
    """The raw numbers from which the kernel recomputes the probabilistic upper bound."""
    return {"kind": "kw-bound", "theta_max": estimate.ritz_max, "theta_min": estimate.ritz_min,
            "steps": estimate.steps, "breakdown": estimate.breakdown,
            "residual": estimate.residuals[0]}


def _filter_verdict(part: Any, optimizer: str, values: dict[str, Any], top: Any,
                    bottom: Any, near: bool, gnorm: float, confidence: float, op: Any,
                    flat_rtol: float, dim: int) -> Verdict:
    from theorems.filters.mathematics import filter_set, pin_method
    from theorems.filters.mathematics import label as method_label

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
        return d.inconclusive("none", f"no eigenvalue filter applies: {exc}")
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
                assumptions=[critical], evidence=ev)
    bounded = math.isfinite(up_max) and math.isfinite(lam_min_low)
    inside = bounded and sp.Complement(sp.Interval(_exact(lam_min_low), _exact(up_max)),
                                       flat_band).is_subset(S)
    message = (f"the spectrum lies in [{lam_min_low:.6g}, {up_max:.6g}] (probability >= "
               f"{confidence:.0%}); outside the flat band |lambda| <= {flat:.3g} it lies inside "
               f"the filter {S} of {method_label(optimizer)}")
    method = "probabilistic spectrum enclosure inside the exact filter set"
    if inside and near:
        return d.certified(method, message, confidence=confidence, assumptions=[critical],
                           certificate={"kind": "spectrum-in-filter",
                                        "top": kw_certificate(top, dim),
                                        "bottom": kw_certificate(bottom, dim)},
                           evidence=ev)
    if inside:
        return d.inconclusive(method, message + "; but the point is not near a critical point, "
                              "so linear stability does not apply", evidence=ev)
    return d.inconclusive("spectrum enclosure vs exact filter set",
                          f"the spectrum enclosure [{lam_min_low:.6g}, {up_max:.6g}] overlaps "
                          f"the boundary of the filter {S}: neither inside nor surely outside",
                          assumptions=[critical], evidence=ev)


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
