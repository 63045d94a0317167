"""sharpflat from Python, on torch objects: certificates about a model as verdicts.

``import sharpflat`` gives these names (the ``sharpflat`` package re-exports this module)::

    import sharpflat
    verdicts = sharpflat.certify_model(model, loss_fn, (inputs, targets),
                                       optimizer="gd", alpha=0.05, views="density,layers")
    verdicts                         # in a notebook: a table, each verdict with its plots
    verdicts.to_json("cert.json")    # `sharpflat recheck cert.json` re-checks it

Functions that decide return a :class:`~verify.verdict.Verdict` (or :class:`Verdicts`, a list
of them): ``certify_model`` (every part of ``sharpflat certify-model``), ``curvature_bound``
(lambda_max <= at_most), ``filter_membership`` (the spectrum in an optimizer's eigenvalue
filter), ``lipschitz`` (the ``network-lipschitz`` decider on an ``nn.Sequential``). Functions
that measure return the numerics' own objects: ``hessian``, ``ggn``, ``empirical_fisher``
(curvature operators with ``trace``, ``top_eigenvalues``, ``spectral_density``, ``dense`` and
``as_linear_operator``), ``layer_curvature`` and ``loss_landscape``.

``data`` is one ``(inputs, targets)`` pair of tensors, or a re-iterable of such batches (a
``DataLoader`` without shuffling: every product must see the same data). ``loss_fn(outputs,
targets)`` averages over the batch, as torch's losses do by default. ``threads`` limits torch's
and the BLAS pools' CPU threads for the call and restores them after (``"auto"``: one thread
unless a product is large, see :mod:`numerics.threads`; ``None``: as they are).

Nothing here is stored in the results database: the verdicts are returned, and ``to_json``
writes what ``sharpflat recheck`` accepts. Verdicts with a decided status were re-checked by the
kernel when they were made, as everywhere in sharpflat.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterable, Sequence

from verify.verdict import Status, Verdict

__all__ = ["certify_model", "curvature_bound", "filter_membership", "lipschitz", "hessian",
           "ggn", "empirical_fisher", "layer_curvature", "loss_landscape", "recheck",
           "Verdict", "Verdicts", "Status"]


class Verdicts(list):
    """A list of verdicts that shows itself in a notebook and writes the JSON that
    ``sharpflat recheck`` reads."""

    def to_json(self, path: str | Path | None = None, **kw: Any) -> str:
        """``{"verdicts": [...]}`` as text; written to ``path`` too when given."""
        text = json.dumps({"verdicts": [v.to_dict() for v in self]}, allow_nan=False,
                          **({"indent": 1} | kw))
        if path is not None:
            Path(path).write_text(text + "\n", encoding="utf-8")
        return text

    def by_part(self) -> dict[str, Verdict]:
        """The verdicts by their part (``"trace"``, ``"filter"``, ...) or id."""
        return {str(v.claim.get("part") or v.id): v for v in self}

    def _repr_html_(self) -> str:
        from verify.report import verdicts_html

        return verdicts_html(self)

    def to_html(self, path: str | Path | None = None) -> str:
        """The self-contained HTML report of these verdicts (as ``sharpflat report`` writes
        for a stored run); written to ``path`` too when given."""
        from verify.report import render, standalone

        text = render(standalone(self), "html")
        if path is not None:
            Path(path).write_text(text, encoding="utf-8")
        return text


def _limited(threads: Any, op: Any, device: str) -> Any:
    from numerics.threads import limited
    from theorems.filters.model_certificate import resolve_threads

    return limited(resolve_threads(threads, op, device))


def certify_model(model: Any, loss_fn: Any, data: Any, *, optimizer: str | None = None,
                  alpha: Any = None, beta: Any = None, rho: Any = None, name: str = "model",
                  params: Sequence[str] | None = None, device: str = "cpu", probes: int = 99,
                  trace_method: str = "hutch++", k: int = 3, confidence: float = 0.95,
                  grad_tol: float = 1e-3, flat_rtol: float = 1e-3, seed: int = 0,
                  threads: int | str | None = "auto", views: str | Iterable[str] = (),
                  lambda_max_at_most: float | None = None,
                  progress: Any = None, **view_options: Any) -> Verdicts:
    """Every part of ``sharpflat certify-model`` (critical point, trace, top eigenvalues, the
    optimizer's filter, and the ``views``: ggn, fisher, density, layers, landscape, or all),
    with the command's defaults; ``view_options`` as in
    :data:`theorems.filters.model_views.OPTIONS` (e.g. ``landscape_grid=11``)."""
    from theorems.filters.model_certificate import certify_model as certify

    return Verdicts(certify(model, loss_fn, data, name=name, params=params,
                            optimizer=optimizer, alpha=alpha, beta=beta, rho=rho,
                            device=device, probes=probes, trace_method=trace_method, k=k,
                            confidence=confidence, grad_tol=grad_tol, flat_rtol=flat_rtol,
                            seed=seed, threads=threads, views=views,
                            lambda_max_at_most=lambda_max_at_most, view_options=view_options,
                            progress=progress))


def curvature_bound(model: Any, loss_fn: Any, data: Any, at_most: float, *,
                    name: str = "model", params: Sequence[str] | None = None,
                    device: str = "cpu", confidence: float = 0.95, seed: int = 0,
                    threads: int | str | None = "auto") -> Verdict:
    """lambda_max of the loss Hessian <= ``at_most``: *certified* (probability >= confidence,
    Kuczynski-Wozniakowski) when Lanczos bounds it below at_most, *refuted* when a Rayleigh
    quotient, re-checked by finite differences, exceeds it, *inconclusive* in between."""
    from theorems.filters.model_certificate import lambda_max_verdict, open_stages

    run = open_stages(model, loss_fn, data, name=name, params=params, device=device,
                      seed=seed, confidence=confidence)
    with _limited(threads, run.op, device):
        return lambda_max_verdict(run, at_most)


def filter_membership(model: Any, loss_fn: Any, data: Any, optimizer: str, alpha: Any, *,
                      beta: Any = None, rho: Any = None, name: str = "model",
                      params: Sequence[str] | None = None, device: str = "cpu",
                      confidence: float = 0.95, grad_tol: float = 1e-3,
                      flat_rtol: float = 1e-3, seed: int = 0,
                      threads: int | str | None = "auto") -> Verdict:
    """Is the Hessian spectrum inside the optimizer's eigenvalue filter (can the optimizer be
    linearly stable at these weights)? The ``filter`` part of a model certificate: certified,
    refuted by an eigenvalue outside the filter, or inconclusive."""
    from theorems.filters.model_certificate import filter_verdict, open_stages

    if alpha is None:
        from verify.errors import UsageError

        raise UsageError(f"optimizer {optimizer} needs alpha")
    run = open_stages(model, loss_fn, data, name=name, params=params, device=device,
                      seed=seed, confidence=confidence)
    with _limited(threads, run.op, device):
        return filter_verdict(run, optimizer, alpha, beta, rho, flat_rtol=flat_rtol,
                              grad_tol=grad_tol)


def lipschitz(model: Any, at_most: Any, *, name: str = "model", seed: int = 0,
              threads: int | None = None) -> Verdict:
    """||f(x) - f(y)||_2 <= at_most ||x - y||_2 for the network ``model`` (an
    ``nn.Sequential`` of the layers ``network-lipschitz`` supports), decided by the same
    decider as a ``network-lipschitz`` claim on its exact weights; the claim records their
    SHA-256. A string ``at_most`` is read exactly ("0.999" = 999/1000)."""
    from numerics.threads import check_threads, limited
    from theorems.networks import mathematics as networks

    net = networks.network_from_model(model, source=name)
    claim = networks.claim_for(net, at_most, id=f"{name}.lipschitz")
    with limited(check_threads(threads)):
        return networks.decide_lipschitz(net, claim.params["at_most"], claim=claim.describe(),
                                         seed=seed)


def _operator(which: str, model: Any, loss_fn: Any, data: Any, params: Any,
              device: str) -> Any:
    from theorems.filters.model_certificate import operator_for

    return operator_for(model, loss_fn, data, name="model", params=params, device=device,
                        which=which)


def hessian(model: Any, loss_fn: Any, data: Any, *, params: Sequence[str] | None = None,
            device: str = "cpu") -> Any:
    """The Hessian of the loss (:class:`numerics.curvature.HessianOperator`)."""
    return _operator("hessian", model, loss_fn, data, params, device)


def ggn(model: Any, loss_fn: Any, data: Any, *, params: Sequence[str] | None = None,
        device: str = "cpu") -> Any:
    """The generalized Gauss-Newton matrix (:class:`numerics.curvature.GGNOperator`)."""
    return _operator("ggn", model, loss_fn, data, params, device)


def empirical_fisher(model: Any, loss_fn: Any, data: Any, *,
                     params: Sequence[str] | None = None, device: str = "cpu") -> Any:
    """The empirical Fisher (:class:`numerics.curvature.EmpiricalFisherOperator`)."""
    return _operator("fisher", model, loss_fn, data, params, device)


def layer_curvature(model: Any, loss_fn: Any, data: Any, *, operator: str = "hessian",
                    by: str = "module", probes: int = 30, seed: int = 0,
                    threads: int | str | None = "auto") -> list[Any]:
    """Trace and top eigenvalue of each layer's diagonal block
    (:func:`numerics.curvature.block_curvature`) of the Hessian, ``"ggn"`` or ``"fisher"``."""
    from numerics.curvature import block_curvature

    op = _operator(operator, model, loss_fn, data, None, "cpu")
    with _limited(threads, op, "cpu"):
        return block_curvature(op, by=by, probes=probes, seed=seed)


def loss_landscape(model: Any, loss_fn: Any, data: Any, *, dims: int = 1, span: float = 1.0,
                   points: int | None = None, seed: int = 0,
                   threads: int | str | None = "auto") -> Any:
    """A filter-normalized loss landscape around the weights (Li et al. 2018): 1-D
    (:class:`numerics.landscape.Landscape1D`, 41 points by default) or 2-D
    (:class:`numerics.landscape.Landscape2D`, a 21 x 21 grid by default)."""
    from numerics.landscape import landscape_1d, landscape_2d

    if dims not in (1, 2):
        from verify.errors import UsageError

        raise UsageError(f"a landscape has 1 or 2 dimensions, got {dims}")
    op = _operator("hessian", model, loss_fn, data, None, "cpu")
    with _limited(threads, op, "cpu"):
        if dims == 1:
            return landscape_1d(op, span=span, points=points or 41, seed=seed)
        return landscape_2d(op, span=span, points=points or 21, seed=seed)


def recheck(verdicts: Verdict | Iterable[Verdict] | str | Path) -> list[tuple[str, str]]:
    """Re-check decided verdicts with the kernel, from their JSON form: a verdict, verdicts,
    or a JSON file (as ``sharpflat recheck`` reads). Returns (id, reason) per failure."""
    from verify import kernel

    if isinstance(verdicts, (str, Path)):
        data = json.loads(Path(verdicts).read_text(encoding="utf-8"))
        data = data["verdicts"] if isinstance(data, dict) and "verdicts" in data else data
        items = data if isinstance(data, list) else [data]
    else:
        items = [v.to_dict() for v in ([verdicts] if isinstance(verdicts, Verdict)
                                       else verdicts)]
    return kernel.recheck(items)
