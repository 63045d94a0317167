"""Small models and data of the papers' experiments (real data shipped with packages)."""

from __future__ import annotations

import torch


def digits(n: int | None = None, dtype: torch.dtype = torch.float64
           ) -> tuple[torch.Tensor, torch.Tensor]:
    """scikit-learn's bundled 8x8 digits: inputs scaled to [0, 1], one-hot targets."""
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    if n is not None:
        X, y = X[:n], y[:n]
    inputs = torch.tensor(X / 16.0, dtype=dtype)
    targets = torch.nn.functional.one_hot(torch.tensor(y), 10).to(dtype)
    return inputs, targets


def mlp(sizes: tuple[int, ...], activation: type[torch.nn.Module] = torch.nn.Tanh, *,
        seed: int = 0, dtype: torch.dtype = torch.float64) -> torch.nn.Sequential:
    """A fully connected network with the given layer sizes."""
    torch.manual_seed(seed)
    layers: list[torch.nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes, sizes[1:])):
        layers.append(torch.nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(activation())
    return torch.nn.Sequential(*layers).to(dtype)


def flat_loss(model: torch.nn.Module, loss: callable, inputs: torch.Tensor,
              targets: torch.Tensor):
    """loss(model(inputs), targets) as a function of one flat parameter vector, and the
    flat vector of the model's current parameters."""
    from torch.func import functional_call

    names = [name for name, _ in model.named_parameters()]
    shapes = [p.shape for p in model.parameters()]
    sizes = [p.numel() for p in model.parameters()]

    def fn(w: torch.Tensor) -> torch.Tensor:
        params, offset = {}, 0
        for name, shape, size in zip(names, shapes, sizes):
            params[name] = w[offset:offset + size].view(shape)
            offset += size
        return loss(functional_call(model, params, (inputs,)), targets)

    w0 = torch.cat([p.detach().reshape(-1) for p in model.parameters()])
    return fn, w0


def half_mse(outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """(1/2n) sum_i ||outputs_i - targets_i||^2."""
    return ((outputs - targets) ** 2).sum(dim=1).mean() / 2
