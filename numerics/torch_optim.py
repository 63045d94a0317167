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
  compute the loss themselves;
* :meth:`MapOptimizer.from_method` builds the wrapper of any declared map by name: a built-in
  (``"usam"``, ``"adam"``) or a user's ``"file.py:name"`` (the file is imported in this
  process, like any module of the user's). Maps that need an oracle besides the gradient
  (``hvp_fn``: Hessian USAM, Penalty SAM) are refused: the closure gives gradients only.
"""

from __future__ import annotations

from typing import Any, Callable

import torch

from numerics import updates
from numerics.updates import UpdateMap


class MapOptimizer(torch.optim.Optimizer):
    """Runs an :class:`~numerics.updates.UpdateMap` on the flattened parameters."""

    def __init__(self, params: Any, update_map: UpdateMap):
        super().__init__(params, {})
        self.update_map = update_map
        self._map_state = None

    @classmethod
    def from_method(cls, params: Any, method: str, *, form: str = "A", **hyper: Any
                    ) -> "MapOptimizer":
        """The wrapper of a declared map: a built-in name or ``"file.py:name"``, with its
        hyperparameters (checked against the declaration)."""
        declared = updates.load_method(method)
        missing = [o for o in declared.oracles if o != "grad_fn"]
        if missing:
            raise ValueError(f"{declared.name} needs the oracle(s) {missing}, which a "
                             "closure cannot give; run its map on flat parameter vectors with "
                             "numerics.updates.run and exact Hessian-vector products instead")
        return cls(params, updates.build(declared, form=form, **hyper))

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


class SAM(MapOptimizer):
    """SAM (``normalize=True``) or USAM as a ``torch.optim.Optimizer``: ``step(closure)`` runs
    the map :func:`numerics.updates.sam` / :func:`numerics.updates.usam`; the two-call form
    ``first_step`` (ascend to x + the step of :func:`numerics.updates.sam_perturbation`, from
    the gradients the caller computed at x) and ``second_step`` (return to x and descend with
    the gradients computed at the perturbed point) uses the same perturbation."""

    def __init__(self, params: Any, alpha: float, rho: float, normalize: bool = True,
                 eps: float = 1e-12):
        update_map = (updates.sam(alpha, rho, eps=eps) if normalize
                      else updates.usam(alpha, rho))
        super().__init__(params, update_map)
        self.alpha, self.rho, self.normalize, self.eps = alpha, rho, normalize, eps
        self._origin: torch.Tensor | None = None

    def _grads(self) -> torch.Tensor:
        return torch.cat([(p.grad if p.grad is not None else torch.zeros_like(p))
                          .detach().reshape(-1) for p in self._params()])

    @torch.no_grad()
    def first_step(self) -> None:
        x = self._flat()
        step = updates.sam_perturbation(self._grads(), self.rho, normalized=self.normalize,
                                        eps=self.eps)
        self._origin = x
        self._load(x + step)

    @torch.no_grad()
    def second_step(self) -> None:
        if self._origin is None:
            raise RuntimeError("second_step needs a first_step before it")
        self._load(self._origin - self.alpha * self._grads())
        self._origin = None
