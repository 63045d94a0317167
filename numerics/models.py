"""Small models and data of the papers' experiments (real data shipped with packages)."""

from __future__ import annotations

from typing import Any, Callable

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


def digits_classifier(sizes: tuple[int, ...] = (64, 32, 32, 10), *, steps: int = 150,
                      lr: float = 1e-2, seed: int = 0) -> torch.nn.Sequential:
    """A float32 ReLU MLP fitted to the 1797 digits (cross-entropy) by ``steps`` full-batch
    Adam steps from ``torch.manual_seed(seed)``, on one thread so that the float32 sums are
    taken in a fixed order (the same weights on every run of a machine); in eval mode."""
    def build() -> torch.nn.Sequential:
        mods: list[torch.nn.Module] = []
        for i, (a, b) in enumerate(zip(sizes, sizes[1:])):
            mods.append(torch.nn.Linear(a, b))
            if i < len(sizes) - 2:
                mods.append(torch.nn.ReLU())
        return torch.nn.Sequential(*mods)

    return _fit_digits(build, (64,), steps=steps, lr=lr, seed=seed)


def _fit_digits(build: Callable[[], torch.nn.Sequential], input_shape: tuple[int, ...], *,
                steps: int, lr: float, seed: int) -> torch.nn.Sequential:
    """``build()`` after ``torch.manual_seed(seed)``, fitted to the 1797 digits (inputs
    reshaped to ``input_shape``) by ``steps`` full-batch Adam steps on cross-entropy, on one
    thread (a fixed order of the float32 sums); in eval mode."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        torch.manual_seed(seed)
        inputs, targets = digits(dtype=torch.float32)
        inputs = inputs.reshape(-1, *input_shape)
        labels = targets.argmax(dim=1)
        net = build()
        opt = torch.optim.Adam(net.parameters(), lr=lr)
        loss_fn = torch.nn.CrossEntropyLoss()
        for _ in range(steps):
            opt.zero_grad()
            loss_fn(net(inputs), labels).backward()
            opt.step()
        return net.eval()
    finally:
        torch.set_num_threads(threads)


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


# --------------------------------------------------------------------------------------------
# Wen, Li and Ma (2023): P_xor and the 2-layer architectures (the paper's setup)
# --------------------------------------------------------------------------------------------

XOR_ARCHS = ("no-bias", "bias", "sim-ln", "sim-bn", "3-layer")


def xor_data(n: int, d: int, *, seed: int = 0, distinct: bool = False,
             dtype: torch.dtype = torch.float64, device: Any = None
             ) -> tuple[torch.Tensor, torch.Tensor]:
    """n points of P_xor: x uniform on {-1, 1}^d, y = x[1] x[2]. ``distinct=True`` samples
    without replacement (needs n <= 2^d)."""
    g = torch.Generator().manual_seed(seed)
    if distinct:
        if n > 2 ** min(d, 62):
            raise ValueError(f"cannot draw {n} distinct points from {{-1,1}}^{d}")
        rows: dict[tuple, None] = {}
        while len(rows) < n:
            x = torch.randint(0, 2, (n, d), generator=g)
            for r in x.tolist():
                rows.setdefault(tuple(r), None)
                if len(rows) == n:
                    break
        bits = torch.tensor(list(rows))
    else:
        bits = torch.randint(0, 2, (n, d), generator=g)
    X = (2 * bits - 1).to(dtype)
    return X.to(device), (X[:, 0] * X[:, 1]).to(device)


def hypercube(d: int, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """All 2^d points of {-1, 1}^d (d <= 20)."""
    if d > 20:
        raise ValueError("enumerating {-1,1}^d is limited to d <= 20; sample instead")
    idx = torch.arange(2 ** d)
    bits = (idx[:, None] >> torch.arange(d)) & 1
    return (2 * bits - 1).to(dtype)


def xor_param_shapes(arch: str, d: int, width: int) -> dict[str, tuple[int, ...]]:
    """Parameter names and shapes of an architecture (the output weight is a vector)."""
    if arch not in XOR_ARCHS:
        raise ValueError(f"unknown architecture {arch!r}; known: {XOR_ARCHS}")
    shapes: dict[str, tuple[int, ...]] = {"W1": (width, d)}
    if arch != "no-bias":
        shapes["b1"] = (width,)
    if arch == "sim-bn":
        shapes["gamma"] = (width,)
    if arch == "3-layer":
        shapes["W2"] = (width, width)
        shapes["W3"] = (width,)
    else:
        shapes["W2"] = (width,)
    return shapes


def xor_forward(params: dict[str, torch.Tensor], X: torch.Tensor, arch: str, *,
                eps: float = 1e-2, stats_inputs: torch.Tensor | None = None) -> torch.Tensor:
    """The network output on a batch X (batch, d) -> (batch,) (the paper's setup):

    * ``no-bias``: W2 relu(W1 x); ``bias``: W2 relu(W1 x + b1);
    * ``sim-ln``: W2 h / max(||h||, eps) with h = relu(W1 x + b1);
    * ``sim-bn``: W2 (gamma * h / rms_j), rms_j the root mean square of unit j over
      ``stats_inputs`` (the training inputs; no mean subtraction, no bias);
    * ``3-layer``: W3 relu(W2 relu(W1 x + b1)) (bias only in the first layer).
    """
    pre = X @ params["W1"].T
    if "b1" in params:
        pre = pre + params["b1"]
    h = torch.relu(pre)
    if arch == "sim-ln":
        h = h / torch.clamp(torch.linalg.vector_norm(h, dim=-1, keepdim=True), min=eps)
    elif arch == "sim-bn":
        if stats_inputs is None:
            raise ValueError("sim-bn needs stats_inputs (the training inputs)")
        hs = torch.relu(stats_inputs @ params["W1"].T + params["b1"])
        h = params["gamma"] * h / torch.sqrt((hs * hs).mean(dim=0))
    elif arch == "3-layer":
        return torch.relu(h @ params["W2"].T) @ params["W3"]
    return h @ params["W2"]


def xor_init(arch: str, d: int, width: int, *, seed: int = 0, first_layer_scale: float = 1.0,
             dtype: torch.dtype = torch.float64) -> dict[str, torch.Tensor]:
    """PyTorch's default Linear initialization U(-1/sqrt(fan_in), 1/sqrt(fan_in)); gamma = 1;
    the first layer (W1, b1) multiplied by ``first_layer_scale`` (1/100 in Figures 6a, 10b)."""
    g = torch.Generator().manual_seed(seed)
    out = {}
    for name, shape in xor_param_shapes(arch, d, width).items():
        if name == "gamma":
            out[name] = torch.ones(shape, dtype=dtype)
            continue
        fan_in = d if name in ("W1", "b1") else width
        t = (torch.rand(shape, generator=g, dtype=dtype) * 2 - 1) / fan_in ** 0.5
        out[name] = t * (first_layer_scale if name in ("W1", "b1") else 1.0)
    return out


class XorMLP(torch.nn.Module):
    """:func:`xor_forward` as a module (for the curvature engine); ``stats_inputs`` is kept as
    a buffer for Sim-BN."""

    def __init__(self, arch: str, params: dict[str, torch.Tensor], *, eps: float = 1e-2,
                 stats_inputs: torch.Tensor | None = None):
        super().__init__()
        self.arch, self.eps = arch, eps
        for name, value in params.items():
            setattr(self, name, torch.nn.Parameter(value.detach().clone()))
        self.register_buffer("stats_inputs", stats_inputs)

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        params = {n: p for n, p in self.named_parameters()}
        return xor_forward(params, X, self.arch, eps=self.eps, stats_inputs=self.stats_inputs)


def mse(outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """(1/n) sum_i (f(x_i) - y_i)^2 (Wen, Li, Ma: no 1/2)."""
    return ((outputs.reshape(targets.shape) - targets) ** 2).mean()


class Residual(torch.nn.Module):
    """A residual block x -> x + body(x) (``body`` maps its input shape to itself), in a form
    that :func:`numerics.lipschitz.network_layers` reads: put it in a ``torch.nn.Sequential``,
    followed by an activation for relu(x + g(x)). Its Lipschitz constant is at most
    1 + Lip(body)."""

    def __init__(self, body: torch.nn.Module):
        super().__init__()
        self.body = body

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


def digits_cnn(*, steps: int = 100, lr: float = 1e-2, seed: int = 0) -> torch.nn.Sequential:
    """A float32 CNN on the 8x8 digits (inputs (1, 8, 8)): Conv2d(1, 8, 3, padding=1) - ReLU -
    AvgPool2d(2) - Conv2d(8, 16, 3, padding=1) - ReLU - AvgPool2d(2) - Flatten - Linear(64,
    10), fitted by ``steps`` full-batch Adam steps (cross-entropy) from
    ``torch.manual_seed(seed)`` on one thread; in eval mode."""
    nn = torch.nn

    def build() -> torch.nn.Sequential:
        return nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.AvgPool2d(2),
                             nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(), nn.AvgPool2d(2),
                             nn.Flatten(), nn.Linear(64, 10))

    return _fit_digits(build, (1, 8, 8), steps=steps, lr=lr, seed=seed)
