"""The edge of stability on real data, through the implemented update maps.

Full-batch training of a small MLP on scikit-learn digits by the maps of
:mod:`numerics.updates`; the top Hessian eigenvalue (the curvature engine's Lanczos) rises to
the filter edge of the method, the supremum of its filter set, and hovers there.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import sympy as sp

from theorems.filters.mathematics import filter_set, make_map


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
