"""``torch.optim.Optimizer`` wrappers over the update maps of :mod:`numerics.updates`.

The closure convention of SAM libraries: ``closure()`` zeroes the gradients, computes the loss,
calls ``backward()`` and returns the loss. The wrapper evaluates the gradient oracle of the map
by loading a flat parameter vector into the model and calling the closure, so SAM-type maps can
ask for gradients at perturbed points. Documented choices:

* the perturbation norm covers every parameter with ``requires_grad`` in the optimizer's
  parameter groups (one global norm, as in Foret et al. and davda54/sam);
* BatchNorm running statistics are updated by every closure call (put the model in eval mode,
  or use ``torch.func.replace_all_batch_norm_modules_``, when that is not wanted);
* ``first_step``/``second_step`` give the two-call form of SAM/USAM for training loops that
  compute the loss themselves.
"""

from __future__ import annotations

from typing import Any, Callable

import torch

from numerics.updates import UpdateMap


class MapOptimizer(torch.optim.Optimizer):
    """Runs an :class:`~numerics.updates.UpdateMap` on the flattened parameters."""

    def __init__(self, params: Any, update_map: UpdateMap):
        super().__init__(params, {})
        self.update_map = update_map
        self._map_state = None

    def _params(self) -> list[torch.Tensor]:
        return [p for g in self.param_groups for p in g["params"] if p.requires_grad]

    def _flat(self) -> torch.Tensor:
        return torch.cat([p.detach().reshape(-1) for p in self._params()])

    def _load(self, flat: torch.Tensor) -> None:
        offset = 0
        with torch.no_grad():
            for p in self._params():
                n = p.numel()
                p.copy_(flat[offset:offset + n].view_as(p))
                offset += n

    def _grad_at(self, closure: Callable[[], Any]) -> Callable[[torch.Tensor], torch.Tensor]:
        def grad_fn(flat: torch.Tensor) -> torch.Tensor:
            self._load(flat)
            with torch.enable_grad():
                closure()
            return torch.cat([(p.grad if p.grad is not None else torch.zeros_like(p))
                              .detach().reshape(-1) for p in self._params()])

        return grad_fn

    @torch.no_grad()
    def step(self, closure: Callable[[], Any] | None = None) -> Any:  # type: ignore[override]
        if closure is None:
            raise RuntimeError(f"{self.update_map.name} needs a closure that recomputes the loss"
                               " and calls backward()")
        x = self._flat()
        with torch.enable_grad():
            loss = closure()
        if self._map_state is None:
            self._map_state = self.update_map.init(x)
        new_x, self._map_state = self.update_map.update(x, self._map_state,
                                                        self._grad_at(closure))
        self._load(new_x)
        return loss


class SAM(torch.optim.Optimizer):
    """Two-call SAM/USAM: ``first_step`` ascends to x + rho g/||g|| (or x + rho g with
    ``normalize=False``), ``second_step`` returns to x and applies plain gradient descent with
    the gradient computed at the perturbed point. Matches ``numerics.updates.sam``/``usam``."""

    def __init__(self, params: Any, alpha: float, rho: float, normalize: bool = True,
                 eps: float = 1e-12):
        super().__init__(params, {"alpha": alpha, "rho": rho})
        self.normalize = normalize
        self.eps = eps

    @torch.no_grad()
    def first_step(self) -> None:
        params = [p for g in self.param_groups for p in g["params"] if p.grad is not None]
        norm = torch.linalg.vector_norm(torch.stack([p.grad.norm() for p in params]))
        for group in self.param_groups:
            scale = group["rho"] / (norm + self.eps) if self.normalize else group["rho"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                e = p.grad * scale
                p.add_(e)
                self.state[p]["e"] = e

    @torch.no_grad()
    def second_step(self) -> None:
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None or "e" not in self.state[p]:
                    continue
                p.sub_(self.state[p].pop("e"))
                p.add_(p.grad, alpha=-group["alpha"])

    def step(self, closure: Callable[[], Any] | None = None) -> Any:  # type: ignore[override]
        if closure is None:
            raise RuntimeError("SAM.step needs a closure; or call first_step/second_step")
        with torch.enable_grad():
            loss = closure()
        self.first_step()
        with torch.enable_grad():
            closure()
        self.second_step()
        return loss
