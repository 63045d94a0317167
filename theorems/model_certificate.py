"""Certificates about a trained model: curvature numbers turned into verdicts.

``certify_model`` reports, for the loss of a PyTorch model at its current parameters:

* ``model.critical-point``: loss and gradient norm (is it near a critical point?);
* ``model.trace``: tr(H) with a confidence interval (Hutchinson or Hutch++);
* ``model.top-eigenvalues``: the top eigenvalues with residuals, lambda_max between its Rayleigh
  lower bound and a probabilistic upper bound, and lambda_min likewise (from -H);
* ``model.filter`` (with an optimizer): whether the Hessian spectrum is consistent with the
  optimizer's eigenvalue filter (``theorems.filters.filter_set``, derived from the implemented
  update map), i.e. whether the optimizer can be linearly stable at this point (Bolte, Le and
  Pauwels; THEORY.md 5.3).

The file convention of ``sharpflat certify-model FILE.py`` is in :func:`load_model_file`.
"""

from __future__ import annotations

import math
import runpy
from pathlib import Path
from typing import Any

import sympy as sp

from verify.errors import InvalidClaim, UsageError
from verify.formula import parse_number
from verify.verdict import Assumption, Status, Verdict

OPTIMIZERS = ("gd", "heavy-ball", "nesterov", "usam", "usam-heavy-ball", "sam")
KIND = "model-certificate"


def load_model_file(path: str | Path) -> dict[str, Any]:
    """Run a Python model file and return its ``model``, ``loss_fn`` and ``data``.

    The file is ordinary Python (it is executed, as a conjecture script is) and must define:

    * ``model``: a ``torch.nn.Module`` at the parameters to certify (eval mode if it has
      BatchNorm or dropout);
    * ``loss_fn``: ``loss_fn(model(inputs), targets)`` -> scalar, averaging over the batch;
    * ``data``: one ``(inputs, targets)`` batch or a deterministic iterable of batches;

    and may define ``params`` (names of the parameters to certify) and ``name``.
    """
    path = Path(path)
    if not path.is_file():
        raise UsageError(f"model file {path} does not exist")
    if path.suffix != ".py":
        raise UsageError(f"model file {path} must be a Python file (.py)")
    try:
        namespace = runpy.run_path(str(path), run_name="sharpflat_model")
    except Exception as exc:  # the user's file failed: say where, keep the cause
        raise UsageError(f"running {path} failed: {type(exc).__name__}: {exc}") from exc
    missing = [n for n in ("model", "loss_fn", "data") if n not in namespace]
    if missing:
        raise UsageError(f"{path} must define model, loss_fn and data; missing: {missing}")
    return {"model": namespace["model"], "loss_fn": namespace["loss_fn"],
            "data": namespace["data"], "params": namespace.get("params"),
            "name": str(namespace.get("name", path.stem))}


def certify_model(model: Any, loss_fn: Any, data: Any, *, name: str = "model",
                  params: Any = None, optimizer: str | None = None, alpha: Any = None,
                  beta: Any = None, rho: Any = None, device: str = "cpu", probes: int = 100,
                  trace_method: str = "hutch++", k: int = 3, confidence: float = 0.95,
                  grad_tol: float = 1e-3, flat_rtol: float = 1e-3, seed: int = 0
                  ) -> list[Verdict]:
    """The verdicts of a model certificate (see the module docstring)."""
    import torch

    from numerics.curvature import CurvatureError, HessianOperator

    if optimizer is not None and optimizer not in OPTIMIZERS:
        raise UsageError(f"unknown optimizer {optimizer!r}; known: {', '.join(OPTIMIZERS)}")
    if optimizer is not None and alpha is None:
        raise UsageError(f"--optimizer {optimizer} needs --alpha")
    if device == "cuda" and not torch.cuda.is_available():
        raise UsageError("--device cuda was asked for, but torch sees no CUDA device")
    model = model.to(device)
    data = _to_device(data, device)
    try:
        op = HessianOperator(model, loss_fn, data, params=params)
    except CurvatureError as exc:
        raise UsageError(f"{name}: {exc}") from exc
    claim = {"model": name, "parameters": op.dim, "examples": op.num_examples,
             "dtype": str(op.dtype), "device": device}
    verdicts = []

    loss = op.loss()
    g = op.gradient()
    gnorm = float(g.norm())
    if not (math.isfinite(loss) and math.isfinite(gnorm)):
        return [Verdict(id=f"{name}.critical-point", kind=KIND, status=Status.INCONCLUSIVE,
                        method="loss and gradient", claim=claim,
                        message=f"the loss ({loss}) or its gradient norm ({gnorm}) is not "
                                "finite: nothing to certify")]
    near = gnorm <= grad_tol
    verdicts.append(Verdict(
        id=f"{name}.critical-point", kind=KIND,
        status=Status.EVIDENCE if near else Status.INCONCLUSIVE,
        method="loss and gradient in the model's dtype", claim={**claim, "grad_tol": grad_tol},
        message=f"loss {loss:.6g}, ||grad|| = {gnorm:.3g} "
                + ("<=" if near else ">") + f" {grad_tol:g}"
                + ("" if near else ": not near a critical point, so the curvature below is not "
                   "that of a minimum"),
        evidence={"loss": loss, "grad_norm": gnorm}, sample_size=op.num_examples,
        bounds=(gnorm, gnorm)))

    tr = op.trace(probes=probes, method=trace_method, seed=seed, confidence=confidence)
    verdicts.append(Verdict(
        id=f"{name}.trace", kind=KIND, status=Status.EVIDENCE,
        method=f"{trace_method} trace, {probes} Rademacher probes",
        claim={**claim, "probes": probes, "method": trace_method},
        message=f"tr(H) = {tr.value:.6g}, {confidence:.0%} interval [{tr.lower:.6g}, "
                f"{tr.upper:.6g}] ({tr.interval})",
        evidence=tr.to_dict(), bounds=(tr.lower, tr.upper), confidence=confidence,
        sample_size=probes))

    top = op.top_eigenvalues(k=min(k, op.dim), seed=seed, confidence=confidence)
    # lambda_min from -H, run until its probabilistic bound resolves the flat band
    bottom = (-op).top_eigenvalues(k=1, seed=seed + 1, confidence=confidence,
                                   bound_rtol=flat_rtol, max_steps=max(300, 2 * k))
    lam_min = -bottom.values[0]
    lam_min_low = -bottom.upper_bound
    both = 1 - 2 * (1 - confidence)
    verdicts.append(Verdict(
        id=f"{name}.top-eigenvalues", kind=KIND,
        status=Status.CERTIFIED if top.converged and math.isfinite(top.upper_bound)
        else Status.INCONCLUSIVE,
        method="Lanczos with full reorthogonalization; Rayleigh quotients, residuals; "
               "Kuczynski-Wozniakowski bound",
        claim={**claim, "k": k},
        message=f"lambda_max in [{top.lower_bound:.6g}, {top.upper_bound:.6g}] (lower: Rayleigh "
                f"quotient; upper: with probability >= {confidence:.0%}); top {len(top.values)}: "
                + ", ".join(f"{v:.6g} +/- {r:.1e}" for v, r in zip(top.values, top.residuals))
                + f"; lambda_min ~ {lam_min:.6g} (>= {lam_min_low:.6g} w.p. {confidence:.0%})",
        evidence={"top": top.to_dict(), "bottom": {**bottom.to_dict(), "lambda_min": lam_min}},
        bounds=(top.lower_bound, top.upper_bound), confidence=confidence))

    if optimizer is not None:
        verdicts.append(_filter_verdict(
            name, claim, optimizer, alpha, beta, rho, top, bottom, near, gnorm, both, op,
            flat_rtol))
    return verdicts


def _filter_verdict(name: str, claim: dict, optimizer: str, alpha: Any, beta: Any, rho: Any,
                    top: Any, bottom: Any, near: bool, gnorm: float, confidence: float,
                    op: Any, flat_rtol: float) -> Verdict:
    from theorems.filters import filter_set

    vid = f"{name}.filter"
    hyper = {"alpha": alpha, "beta": beta, "rho": rho}
    claim = {**claim, "optimizer": optimizer, **{k: v for k, v in hyper.items() if v is not None}}
    if optimizer == "sam":
        return Verdict(id=vid, kind=KIND, status=Status.INCONCLUSIVE, method="none", claim=claim,
                       message="normalized SAM's update x - alpha grad f(x + rho grad f/||grad "
                               "f||) is not differentiable at a critical point, so no eigenvalue "
                               "filter applies; use --optimizer usam for the unnormalized map")
    try:
        S = filter_set(optimizer, _exact(alpha), _exact(beta), _exact(rho))
    except (InvalidClaim, ValueError) as exc:
        raise UsageError(f"filter of {optimizer}: {exc}") from exc
    critical = Assumption("near a critical point", near, f"||grad|| = {gnorm:.3g}")
    lo_max, up_max = top.lower_bound, top.upper_bound
    lam_min, lam_min_low = -bottom.values[0], -bottom.upper_bound
    # flat directions: eigenvalues within flat = flat_rtol * |lambda_max| of zero are not resolved
    # (a near-critical point of an over-parameterized model has many, of either sign)
    flat = flat_rtol * max(abs(lo_max), abs(lam_min))
    flat_band = sp.Interval(_exact(-flat), _exact(flat))
    claim["flat_tolerance"] = flat
    ev = {"filter_set": str(S), "lambda_max": [lo_max, up_max],
          "lambda_min": [lam_min_low, lam_min], "flat_tolerance": flat}
    # an eigenvalue surely outside the filter: its residual interval misses the set
    for label, value, res in (("lambda_max", top.values[0], top.residuals[0]),
                              ("lambda_min", lam_min, bottom.residuals[0])):
        # the re-check is an independent product path (finite differences), accurate to about
        # 1e-3 relative even in float32; the claim is refuted only if the eigenvalue interval,
        # widened to that accuracy, misses the filter and the re-check lands inside it
        tol = max(res, 1e-3 * abs(value))
        ball = sp.Interval(_exact(value - tol), _exact(value + tol))
        if sp.Intersection(ball, sp.Union(S, flat_band)) is not sp.S.EmptySet:
            continue
        # the Rayleigh quotient under H itself (the bottom vector came from -H): directly
        # comparable with value, which is an eigenvalue estimate of H
        recheck = _recheck_rayleigh(op, top.vectors[0] if label == "lambda_max"
                                    else bottom.vectors[0])
        if abs(recheck - value) <= tol:
            return Verdict(
                id=vid, kind=KIND, status=Status.REFUTED, claim=claim, evidence=ev,
                method="eigenvalue interval outside the exact filter set, re-checked",
                message=f"an eigenvalue of H lies in [{value - tol:.6g}, {value + tol:.6g}], "
                        f"outside the filter {S} of {optimizer}: the optimizer is not linearly "
                        "stable here" + ("" if near else " (note: not near a critical point)"),
                counterexample={label: value, "interval": [value - tol, value + tol],
                                "rayleigh_rechecked_finite_differences": recheck},
                assumptions=[critical])
    bounded = math.isfinite(up_max) and math.isfinite(lam_min_low)
    if bounded and sp.Complement(sp.Interval(_exact(lam_min_low), _exact(up_max)),
                                 flat_band).is_subset(S):
        return Verdict(
            id=vid, kind=KIND, status=Status.CERTIFIED if near else Status.INCONCLUSIVE,
            claim=claim, evidence=ev, confidence=confidence if near else None,
            method="probabilistic spectrum enclosure inside the exact filter set",
            message=f"the spectrum lies in [{lam_min_low:.6g}, {up_max:.6g}] (probability >= "
                    f"{confidence:.0%}); outside the flat band |lambda| <= {flat:.3g} it lies "
                    f"inside the filter {S} of {optimizer}"
                    + ("" if near else "; but the point is not near a critical point, so "
                       "linear stability does not apply"),
            assumptions=[critical] if near else [])
    return Verdict(id=vid, kind=KIND, status=Status.INCONCLUSIVE, claim=claim, evidence=ev,
                   method="spectrum enclosure vs exact filter set", assumptions=[critical],
                   message=f"the spectrum enclosure [{lam_min_low:.6g}, {up_max:.6g}] overlaps "
                           f"the boundary of the filter {S}: neither inside nor surely outside")


def _exact(value: Any) -> Any:
    """Floats read exactly through their shortest repr (0.1 -> 1/10); None stays None."""
    return None if value is None else parse_number(float(value))


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
