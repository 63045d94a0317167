"""Training many independent runs at once: 1-SAM and GD with weight decay on the P_xor networks
(Wen, Li, Ma 2023, Table 2), vectorized over seeds.

Each seed has its own parameters, initialization and epoch permutation; one step of all seeds
is one tensor program: :func:`torch.func.vmap` over the seeds of the update map
``numerics.updates.sam`` (or ``gd``) with a per-example :func:`torch.func.grad` oracle. Nothing
here re-implements SAM: the update is the library's single definition.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any

import torch
from torch.func import grad, vmap

from numerics import updates
from numerics.models import mse, xor_forward, xor_init, xor_param_shapes


class FlatLayout:
    """Names and shapes of a parameter dict, flattened to one vector per run."""

    def __init__(self, shapes: dict[str, tuple[int, ...]]):
        self.names = list(shapes)
        self.shapes = [tuple(s) for s in shapes.values()]
        self.sizes = [math.prod(s) for s in self.shapes]
        self.size = sum(self.sizes)

    def flatten(self, params: dict[str, torch.Tensor]) -> torch.Tensor:
        return torch.cat([params[n].reshape(-1) for n in self.names])

    def unflatten(self, w: torch.Tensor) -> dict[str, torch.Tensor]:
        out, offset = {}, 0
        for name, shape, size in zip(self.names, self.shapes, self.sizes):
            out[name] = w[offset:offset + size].view(shape)
            offset += size
        return out


@dataclass
class Schedule:
    """One phase of Table 2: ``method`` "1-sam" (batch 1) or "gd-wd" (full batch)."""

    method: str
    lr: float
    epochs: int
    rho: float = 0.0
    weight_decay: float = 0.0


@dataclass
class TrainResult:
    arch: str
    seeds: list[int]
    curves: dict[str, list] = field(default_factory=dict)   # epoch, loss, test_error, trace
    final: torch.Tensor | None = None                      # (seeds, P) parameters
    seed_steps: int = 0
    seconds: float = 0.0

    @property
    def seed_steps_per_second(self) -> float:
        return self.seed_steps / self.seconds if self.seconds else float("nan")


def trace_by_identity(layout: FlatLayout, W: torch.Tensor, X: torch.Tensor, arch: str, *,
                      eps: float, chunk: int | None = None) -> torch.Tensor:
    """(2/n) sum_i ||grad_theta f(x_i)||^2 for every run (Lemma 4.1; the Hessian trace of the
    MSE at interpolation, and the Gauss-Newton trace elsewhere) -> (seeds,)."""
    def out(w, x):
        return xor_forward(layout.unflatten(w), x[None], arch, eps=eps, stats_inputs=X)[0]

    per = vmap(vmap(grad(out), in_dims=(None, 0)), in_dims=(0, None), chunk_size=chunk)(W, X)
    return 2 * per.pow(2).sum(dim=-1).mean(dim=-1)


def zero_one_error(layout: FlatLayout, W: torch.Tensor, X: torch.Tensor, y: torch.Tensor,
                   arch: str, *, eps: float, stats_inputs: torch.Tensor) -> torch.Tensor:
    """Fraction of points with y f(x) <= 0 (output 0 counts as an error) for every run."""
    f = vmap(lambda w: xor_forward(layout.unflatten(w), X, arch, eps=eps,
                                   stats_inputs=stats_inputs))(W)
    return ((f * y) <= 0).to(X.dtype).mean(dim=-1)


def make_step(layout: FlatLayout, arch: str, X: torch.Tensor, y: torch.Tensor,
              phase: Schedule, eps: float):
    """The vectorized step: (W (seeds, P), idx (seeds,)) -> W."""
    if phase.method == "1-sam":
        sam = updates.sam(phase.lr, phase.rho)

        def loss_one(w, x, t):
            return (xor_forward(layout.unflatten(w), x[None], arch, eps=eps,
                                stats_inputs=X)[0] - t) ** 2

        def one(w, i):
            x, t = X[i], y[i]
            new, _ = sam.update(w, updates.EmptyState(), lambda v: grad(loss_one)(v, x, t))
            return new
        return vmap(one)
    if phase.method == "gd-wd":
        gd = updates.gd(phase.lr)

        def loss_full(w):
            return mse(xor_forward(layout.unflatten(w), X, arch, eps=eps, stats_inputs=X), y)

        def full(w, i):
            new, _ = gd.update(w, updates.EmptyState(),
                               lambda v: grad(loss_full)(v) + phase.weight_decay * v)
            return new
        return vmap(full)
    raise ValueError(f"unknown method {phase.method!r}; known: 1-sam, gd-wd")


def train(arch: str, X: torch.Tensor, y: torch.Tensor, phases: list[Schedule], *,
          seeds: list[int], width: int, eps: float = 1e-2, first_layer_scale: float = 1.0,
          X_test: torch.Tensor | None = None, y_test: torch.Tensor | None = None,
          record_every: int = 100, device: Any = None, compile: bool = False) -> TrainResult:
    """Train ``len(seeds)`` independent runs through the phases; record train loss, test error
    and the Lemma 4.1 trace every ``record_every`` epochs. An epoch is n batch-1 steps for 1-SAM
    (each run its own permutation) and one full-batch step for GD."""
    device = torch.device(device or "cpu")
    X, y = X.to(device), y.to(device)
    n, d = X.shape
    layout = FlatLayout(xor_param_shapes(arch, d, width))
    W = torch.stack([layout.flatten(xor_init(arch, d, width, seed=s,
                                             first_layer_scale=first_layer_scale,
                                             dtype=X.dtype)) for s in seeds]).to(device)
    S = len(seeds)
    g = torch.Generator(device=device).manual_seed(seeds[0] * 7919 + 1)
    res = TrainResult(arch, list(seeds), {"epoch": [], "loss": [], "test_error": [],
                                          "trace": []})

    def record(epoch):
        with torch.no_grad():
            f = vmap(lambda w: xor_forward(layout.unflatten(w), X, arch, eps=eps,
                                           stats_inputs=X))(W)
            res.curves["epoch"].append(epoch)
            res.curves["loss"].append(((f - y) ** 2).mean(dim=-1).cpu().tolist())
            res.curves["trace"].append(trace_by_identity(layout, W, X, arch, eps=eps)
                                       .cpu().tolist())
            if X_test is not None:
                res.curves["test_error"].append(
                    zero_one_error(layout, W, X_test.to(device), y_test.to(device), arch,
                                   eps=eps, stats_inputs=X).cpu().tolist())

    epoch = 0
    record(0)
    start = time.perf_counter()
    for phase in phases:
        step = make_step(layout, arch, X, y, phase, eps)
        if compile:
            step = torch.compile(step, mode="reduce-overhead", fullgraph=False)
        per_epoch = n if phase.method == "1-sam" else 1
        for _ in range(phase.epochs):
            order = torch.argsort(torch.rand(S, n, generator=g, device=device), dim=1)
            for t in range(per_epoch):
                W = step(W, order[:, t])
            res.seed_steps += S * per_epoch
            epoch += 1
            if epoch % record_every == 0:
                res.seconds += time.perf_counter() - start
                record(epoch)
                start = time.perf_counter()
    res.seconds += time.perf_counter() - start
    res.final = W
    return res


def plain_loop(arch: str, X: torch.Tensor, y: torch.Tensor, phase: Schedule, *, width: int,
               seed: int = 0, eps: float = 1e-2, steps: int = 1000) -> float:
    """The usual way, for the benchmark: one model, one optimizer (``MapOptimizer`` over the
    same SAM map), batch 1. Returns batch-1 SAM steps per second."""
    from numerics.models import XorMLP
    from numerics.torch_optim import MapOptimizer

    model = XorMLP(arch, xor_init(arch, X.shape[1], width, seed=seed, dtype=X.dtype), eps=eps,
                   stats_inputs=X).to(X.device)
    opt = MapOptimizer(model.parameters(), updates.sam(phase.lr, phase.rho))
    g = torch.Generator().manual_seed(seed)
    order = torch.randint(0, X.shape[0], (steps,), generator=g).tolist()
    start = time.perf_counter()
    for i in order:
        xi, yi = X[i:i + 1], y[i:i + 1]

        def closure():
            opt.zero_grad()
            loss = mse(model(xi), yi)
            loss.backward()
            return loss
        opt.step(closure)
    if X.is_cuda:
        torch.cuda.synchronize()
    return steps / (time.perf_counter() - start)
