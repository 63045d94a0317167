"""Sharpness minimization and generalization on P_xor (Wen, Li, Ma 2023, *Sharpness
Minimization Algorithms Do Not Only Minimize Sharpness To Achieve Better Generalization*; paper
numbering follows arXiv v2).

The closed-form lower bounds on the trace of the Hessian over interpolators (4 sqrt(d+1) with
bias, 4 sqrt(d) without, 2 for Sim-LN, 2D (d+1)^(1/D) at depth D), the explicit memorizing and
generalizing constructions that attain them (Theorem 4.1, Propositions 4.1, 4.2, 5.1, 5.2),
their test errors (exact enumeration of {-1,1}^d, or sampling with a Clopper-Pearson interval),
and a trace-minimizing penalty method. :mod:`theorems.xor_flatness.exact` evaluates the
constructions exactly (SymPy) for the registered checks.
"""

from __future__ import annotations

import math

import torch

from numerics.models import hypercube, mse, xor_data, xor_forward

DT = torch.float64

__all__ = ["DT", "flattest_interpolator", "generalizing_bias", "generalizing_no_bias",
           "generalizing_sim_ln", "memorizing_bias", "memorizing_deep", "memorizing_sim_ln",
           "test_error", "trace_lower_bound", "two_layer_trace"]


def trace_lower_bound(arch: str, d: int, *, depth: int = 2) -> float:
    """inf of Tr Hess L over interpolators of P_xor data (every |y_i| = 1, ||x_i||^2 = d):
    4 sqrt(d+1) (bias, eqs. 2-4), 4 sqrt(d) (no bias), 2 (Sim-LN, eps < sqrt(d+1), Lemma A.12),
    2 D (d+1)^(1/D) (depth-D MLP-Bias, Theorem 4.1)."""
    if arch == "bias" and depth == 2:
        return 4 * math.sqrt(d + 1)
    if arch == "no-bias":
        return 4 * math.sqrt(d)
    if arch == "sim-ln":
        return 2.0
    if arch in ("bias", "3-layer"):
        D = 3 if arch == "3-layer" else depth
        return 2 * D * (d + 1) ** (1 / D)
    raise ValueError(f"no closed-form bound for {arch!r}")


def memorizing_bias(X: torch.Tensor, y: torch.Tensor, eps: float = 1e-3) -> dict:
    """Theorem 4.1 / Proposition 4.1, 2 layers, width n: neuron i fires only on x_i
    (w_i = x_i/||x_i||, R_i = ||(x_i, 1)||)."""
    R = torch.sqrt((X * X).sum(1) + 1)
    w = X / torch.linalg.vector_norm(X, dim=1, keepdim=True)
    u = torch.sqrt(R * y.abs())
    return {"W1": u[:, None] * w / eps, "b1": u * (eps - (w * X).sum(1)) / eps,
            "W2": torch.sign(y) * torch.sqrt(y.abs() / R)}


def memorizing_deep(X: torch.Tensor, y: torch.Tensor, eps: float = 1e-3) -> dict:
    """Theorem 4.1 at depth 3 (bias only in the first layer), width n."""
    D = 3
    R = torch.sqrt((X * X).sum(1) + 1)
    w = X / torch.linalg.vector_norm(X, dim=1, keepdim=True)
    r = (R / y.abs()) ** (1 / D)
    u = y.abs() * r ** (D - 1)
    return {"W1": u[:, None] * w / eps, "b1": u * (eps - (w * X).sum(1)) / eps,
            "W2": torch.diag(1 / r), "W3": torch.sign(y) / r}


def _four_features(d: int, width: int, scale: float, bias: float | None, out: float) -> dict:
    """Neurons (i, j) with weight scale((-1)^i, (-1)^j, 0, ...), bias, output (-1)^(i+j) out;
    the other width - 4 neurons are zero."""
    W1 = torch.zeros(width, d, dtype=DT)
    W2 = torch.zeros(width, dtype=DT)
    b1 = torch.zeros(width, dtype=DT)
    for k, (i, j) in enumerate(((0, 0), (0, 1), (1, 0), (1, 1))):
        W1[k, 0], W1[k, 1] = scale * (-1) ** i, scale * (-1) ** j
        W2[k] = (-1) ** (i + j) * out
        b1[k] = bias if bias is not None else 0.0
    p = {"W1": W1, "W2": W2}
    if bias is not None:
        p["b1"] = b1
    return p


def generalizing_bias(d: int, width: int = 4) -> dict:
    """Proposition 4.2 (eq. 5) with r = (d+1)^(1/4) (the value that meets the bound)."""
    r = (d + 1) ** 0.25
    return _four_features(d, width, r, -r, 1 / r)


def generalizing_no_bias(d: int, width: int = 4) -> dict:
    """The 4-neuron No-Bias interpolator s(+-1, +-1, 0, ...), outputs +-1/(2s), s^2 = sqrt(d)/4."""
    s = math.sqrt(math.sqrt(d) / 4)
    return _four_features(d, width, s, None, 1 / (2 * s))


def memorizing_sim_ln(X: torch.Tensor, y: torch.Tensor, eps: float, delta: float = 0.5) -> dict:
    """Proposition 5.1: W1 = [2 eps x_i / delta], b1 = [2 eps (delta - d)/delta], W2 = [y_i]."""
    d = X.shape[1]
    return {"W1": 2 * eps * X / delta,
            "b1": torch.full((X.shape[0],), 2 * eps * (delta - d) / delta, dtype=X.dtype),
            "W2": y.clone()}


def generalizing_sim_ln(d: int, eps: float, width: int = 4) -> dict:
    """Proposition 5.2: 4 neurons 2 eps((-1)^i, (-1)^j, 0, ...), bias -2 eps, outputs +-1."""
    return _four_features(d, width, 2 * eps, -2 * eps, 1.0)


def test_error(params: dict, arch: str, d: int, *, eps: float = 1e-2,
               stats_inputs: torch.Tensor | None = None, samples: int = 200_000,
               seed: int = 0, confidence: float = 0.99, exhaustive_up_to: int = 16) -> dict:
    """Zero-one error on P_xor (an output of exactly 0 counts as an error): exact by
    enumerating the 2^d points for d <= ``exhaustive_up_to``, else a Clopper-Pearson interval
    over ``samples`` fresh points."""
    from scipy.stats import binomtest

    def errors(Xs):
        with torch.no_grad():
            f = xor_forward(params, Xs, arch, eps=eps, stats_inputs=stats_inputs)
        return int((f * Xs[:, 0] * Xs[:, 1] <= 0).sum())

    if d <= exhaustive_up_to:
        cube = hypercube(d)
        total = cube.shape[0]
        wrong = sum(errors(cube[i:i + 65536]) for i in range(0, total, 65536))
        return {"value": wrong / total, "lower": wrong / total, "upper": wrong / total,
                "method": f"exact: all 2^{d} points", "count": total}
    Xs, _ = xor_data(samples, d, seed=seed + 10_000)
    wrong = errors(Xs)
    ci = binomtest(wrong, samples).proportion_ci(confidence, method="exact")
    return {"value": wrong / samples, "lower": float(ci.low), "upper": float(ci.high),
            "method": f"{samples} samples, Clopper-Pearson {confidence}", "count": samples}


def two_layer_trace(params: dict, X: torch.Tensor) -> torch.Tensor:
    """(2/n) sum_i ||grad_theta f(x_i)||^2 in closed form for 2-MLP-Bias / No-Bias (eqs. 2-4):
    ||W2 * 1[W1'x_i' > 0]||^2 ||x_i'||^2 + ||relu(W1'x_i')||^2, x' = (x, 1) with a bias."""
    pre = X @ params["W1"].T
    sq = (X * X).sum(1)
    if "b1" in params:
        pre, sq = pre + params["b1"], sq + 1
    active = (pre > 0).to(X.dtype)
    per = ((params["W2"] * active) ** 2).sum(1) * sq + (torch.relu(pre) ** 2).sum(1)
    return 2 * per.mean()


def flattest_interpolator(X: torch.Tensor, y: torch.Tensor, arch: str, width: int, *,
                          seed: int = 0, steps: int = 1500, penalty: float = 1e3
                          ) -> tuple[dict, float, float]:
    """A trace-minimizing method for 2-MLP-Bias / No-Bias: Adam on Tr(theta) + penalty L(theta)
    with the closed-form Lemma 4.1 trace (:func:`two_layer_trace`), cosine learning rate, from
    the default initialization. Returns (params, trace, loss)."""
    from numerics.models import xor_init

    params = {k: v.clone().requires_grad_(True)
              for k, v in xor_init(arch, X.shape[1], width, seed=seed).items()}
    opt = torch.optim.Adam(list(params.values()), lr=3e-2)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    for _ in range(steps):
        opt.zero_grad()
        loss = mse(xor_forward(params, X, arch), y)
        (two_layer_trace(params, X) + penalty * loss).backward()
        opt.step()
        sched.step()
    with torch.no_grad():
        tr = float(two_layer_trace(params, X))
        loss = float(mse(xor_forward(params, X, arch), y))
    return {k: v.detach() for k, v in params.items()}, tr, loss
