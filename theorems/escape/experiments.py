"""Escaping a memorizing minimum on scikit-learn digits (Ahn et al.'s ResNet-18 on CIFAR-10 experiment, scaled down).

A bad minimum is built by Liu et al.'s random-label recipe; then minibatch SGD, the randomly
smoothed perturbation (Algorithm 1) and the sharpness-aware perturbation (Algorithm 2) run
from it through the update maps of :mod:`numerics.updates`, with train/test accuracy and the
Hessian trace (Hutch++, :mod:`numerics.curvature`) recorded along the way.
"""

from __future__ import annotations

from typing import Any

from numerics import updates


def _accuracy(net: Any, X: Any, Y: Any) -> float:
    import torch

    with torch.no_grad():
        return float((net(X).argmax(1) == Y.argmax(1)).double().mean())


def bad_minimum(train: tuple, *, width: int = 256, copies: int = 2, seed: int = 0,
                steps: tuple[int, int] = (3000, 2000)) -> tuple[Any, dict[str, Any]]:
    """Liu et al.'s recipe, scaled down: fit ``copies`` noisy copies of the training inputs (10%
    of the pixels zeroed) with uniformly random labels, then the clean training set, both by
    full-batch Adam on half-MSE (Adam is our choice for speed; the recipe uses SGD)."""
    import torch

    from numerics import models

    X, Y = train
    gen = torch.Generator().manual_seed(seed)
    noisy = X.repeat(copies, 1) * (torch.rand(copies * len(X), X.shape[1], generator=gen)
                                   > 0.1).to(X.dtype)
    labels = torch.nn.functional.one_hot(torch.randint(0, 10, (len(noisy),), generator=gen),
                                         10).to(X.dtype)
    net = models.mlp((X.shape[1], width, 10), seed=seed, dtype=X.dtype)
    fit = _fit(net, noisy, labels, steps[0])
    _fit(net, X, Y, steps[1])
    return net, {"random_label_fit": fit}


def _fit(net: Any, X: Any, Y: Any, steps: int) -> float:
    """Full-batch Adam (lr 1e-2) on half-MSE; returns the training accuracy reached."""
    import torch

    from numerics import models

    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    for _ in range(steps):
        opt.zero_grad()
        models.half_mse(net(X), Y).backward()
        opt.step()
    return _accuracy(net, X, Y)


def escape_experiment(*, train_size: int = 400, steps: int = 3000, every: int = 300,
                      seed: int = 0, width: int = 256, fit_steps: tuple[int, int] = (3000, 2000)
                      ) -> dict[str, Any]:
    """From a memorizing minimum on scikit-learn digits, run minibatch SGD, randomly smoothed
    perturbation (Alg. 1) and sharpness-aware perturbation (Alg. 2, batch 1 and 32), all through
    the update maps of numerics.updates on the flat parameter vector (the perturbed step is taken
    at every step: eps0 = inf); record train/test accuracy and the Hessian trace of the
    half-MSE training loss (Hutch++, numerics.curvature) along the way."""
    import torch

    from numerics import models
    from numerics.curvature import CurvatureError, HessianOperator

    X, Y = models.digits(None, dtype=torch.float32)
    perm = torch.randperm(len(X), generator=torch.Generator().manual_seed(seed))
    tr, te = perm[:train_size], perm[train_size:]
    train, test = (X[tr], Y[tr]), (X[te], Y[te])
    net, info = bad_minimum(train, width=width, seed=seed, steps=fit_steps)
    clean = models.mlp((64, width, 10), seed=seed + 1, dtype=torch.float32)
    _fit(clean, *train, fit_steps[1])
    info.update({"bad_train": _accuracy(net, *train), "bad_test": _accuracy(net, *test),
                 "clean_train": _accuracy(clean, *train), "clean_test": _accuracy(clean, *test)})
    start = torch.nn.utils.parameters_to_vector(net.parameters()).detach()
    lr, inf = 0.01, float("inf")
    methods = {
        "SGD (batch 32)": (updates.gd(lr), 32),
        "RS (batch 32)": (updates.randomly_smoothed(lr, lr, 0.5, inf, seed=seed), 32),
        "SA (batch 32)": (updates.sharpness_aware_perturbation(lr, lr, 0.1, inf, 32, seed=seed),
                          32),
        "SA (batch 1)": (updates.sharpness_aware_perturbation(lr, lr, 0.1, inf, 1, seed=seed),
                         1),
    }
    curves: dict[str, dict[str, list]] = {}
    for name, (update_map, batch) in methods.items():
        w = start.clone()
        state = update_map.init(w)
        gen = torch.Generator().manual_seed(seed + 7)
        rec: dict[str, list] = {"step": [], "train": [], "test": [], "trace": []}
        for k in range(steps + 1):
            if k % every == 0:
                torch.nn.utils.vector_to_parameters(w, net.parameters())
                op = HessianOperator(net, models.half_mse, train)
                rec["step"].append(k)
                rec["train"].append(_accuracy(net, *train))
                rec["test"].append(_accuracy(net, *test))
                try:
                    rec["trace"].append(op.trace(probes=30, method="hutch++", seed=k).value)
                except CurvatureError:  # the run diverged: recorded, the verdict says so
                    rec["trace"].append(float("nan"))
            if k == steps:
                break
            idx = torch.randint(0, train_size, (batch,), generator=gen)
            xb, yb = train[0][idx], train[1][idx]
            loss, _ = models.flat_loss(net, models.half_mse, xb, yb)

            def grad_fn(v, loss=loss):
                v = v.detach().requires_grad_(True)
                return torch.autograd.grad(loss(v), v)[0]

            def component_grad_fn(v, i, xb=xb, yb=yb):
                single, _ = models.flat_loss(net, models.half_mse, xb[i:i + 1], yb[i:i + 1])
                v = v.detach().requires_grad_(True)
                return torch.autograd.grad(single(v), v)[0]

            w, state = update_map.update(w, state, grad_fn, component_grad_fn=component_grad_fn)
        curves[name] = rec
    return {"setup": info, "curves": curves}
