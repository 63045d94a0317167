"""The numerical companions of Josz's examples: the toy function, Figure 1's gradient descent,
matrix factorization (Hessians, balanced minimizers, the trace-flattest point of an orbit, the
flattening flow of the imbalance) and an independent ray estimate of level-set distances."""

from __future__ import annotations

import math
from typing import Any, Callable

import numpy as np
import sympy as sp

from verify.errors import InvalidClaim


def toy() -> tuple[sp.Expr, tuple[sp.Symbol, sp.Symbol]]:
    """f(x1, x2) = x2^2 + x1^2 x2^4: minimizers on the line x2 = 0 with equal Hessians."""
    x1, x2 = sp.symbols("x1 x2", real=True)
    return x2 ** 2 + x1 ** 2 * x2 ** 4, (x1, x2)


def ray_distance(f_num: Callable, x: np.ndarray, t: float, *, directions: int = 4096,
                 r_max: float = 10.0) -> float:
    """An independent numerical estimate of f̄(x, t) in 2-D (a check of the duality of f° and f̄): for each of
    ``directions`` rays, the first radius where f >= f(x) + t (a grid then bisection); the
    minimum over the rays."""
    fx = f_num(x)
    theta = np.linspace(0, 2 * np.pi, directions, endpoint=False)
    d = np.stack([np.cos(theta), np.sin(theta)])                      # (2, rays)
    grid = np.linspace(0, r_max, 2001)[1:]
    pts = x[:, None, None] + d[:, :, None] * grid[None, None, :]      # (2, rays, grid)
    with np.errstate(all="ignore"):
        reached = f_num(pts) >= fx + t
    has = reached.any(axis=1)
    if not has.any():
        return math.inf
    first = reached.argmax(axis=1)[has]
    d = d[:, has]
    hi = grid[first]
    lo = np.where(first > 0, grid[np.maximum(first - 1, 0)], 0.0)
    for _ in range(45):
        mid = (lo + hi) / 2
        up = f_num(x[:, None] + d * mid) >= fx + t
        lo, hi = np.where(up, lo, mid), np.where(up, mid, hi)
    return float(hi.min())


def figure1_run(reading: str = "normalized", *, steps: int = 1000, scale: float = 1.0,
                x0: tuple[float, float] = (3.2, 0.6)) -> np.ndarray:
    """Josz Figure 1: gradient descent on x2^2 + x1^2 x2^4 with alpha_k = scale (k+1)^(-1/6)
    from (3.2, 0.6). ``reading``: ``"normalized"`` (steps of length alpha_k) or ``"plain"``
    (x - alpha_k grad f). Returns the iterates (steps + 1, 2); non-finite rows end the run."""
    from numerics import updates
    from theorems.escape.mathematics import numeric_oracles

    if reading not in ("normalized", "plain"):
        raise InvalidClaim(f"reading must be 'normalized' or 'plain', got {reading!r}")
    f, vs = toy()
    grad = numeric_oracles(f, vs)["grad"]
    opt = updates.scheduled_gd(lambda k: scale * (k + 1) ** (-1 / 6),
                               normalized=reading == "normalized")
    x, state = np.array(x0, dtype=float), opt.init(None)
    out = [x]
    with np.errstate(all="ignore"):
        for _ in range(steps):
            x, state = opt.update(x, state, grad)
            out.append(x)
            if not np.all(np.isfinite(x)):
                break
    return np.array(out)


def factorization_loss(X: Any, Y: Any, M: Any) -> Any:
    """f(X, Y) = ||X Y^T - M||_F^2 / 2 for NumPy arrays or torch tensors (the paper's matrix factorization example)."""
    R = X @ Y.T - M
    return (R * R).sum() / 2


def factorization_hessian(X: np.ndarray, Y: np.ndarray, M: np.ndarray) -> np.ndarray:
    """The dense Hessian of :func:`factorization_loss` in (vec X, vec Y) (torch.func, float64)."""
    import torch

    from numerics.curvature import load_forward_ad

    load_forward_ad()       # torch.func.hessian is forward-over-reverse: no torch FutureWarning
    m, k = X.shape
    Mt = torch.as_tensor(M, dtype=torch.float64)

    def loss(z):
        return factorization_loss(z[: m * k].reshape(m, k), z[m * k:].reshape(-1, k), Mt)

    z = torch.as_tensor(np.concatenate([X.ravel(), Y.ravel()]), dtype=torch.float64)
    return torch.func.hessian(loss)(z).numpy()


def balanced_minimizer(M: np.ndarray, k: int, Q: np.ndarray | None = None
                       ) -> tuple[np.ndarray, np.ndarray]:
    """The balanced global minimizers X = [U_r S^(1/2), 0] Q, Y = [V_r S^(1/2), 0] Q of
    matrix factorization with rank M = r <= k (explicit form)."""
    U, s, Vt = np.linalg.svd(M)
    r = int((s > s[0] * 1e-12).sum()) if s.size and s[0] > 0 else 0
    if r > k:
        raise InvalidClaim(f"rank M = {r} exceeds k = {k}")
    X = np.zeros((M.shape[0], k))
    Y = np.zeros((M.shape[1], k))
    X[:, :r] = U[:, :r] * np.sqrt(s[:r])
    Y[:, :r] = Vt[:r].T * np.sqrt(s[:r])
    Q = np.eye(k) if Q is None else Q
    return X @ Q, Y @ Q


def trace_flattest_on_orbit(X: np.ndarray, Y: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """Minimize tr Hessian = m ||Y G^-T||^2 + n ||X G||^2 over G in GL(k) (BFGS from G = I)."""
    from scipy.optimize import minimize

    m, k = X.shape
    n = Y.shape[0]

    def trace(g):
        G = g.reshape(k, k)
        return m * np.sum((Y @ np.linalg.inv(G).T) ** 2) + n * np.sum((X @ G) ** 2)

    res = minimize(trace, np.eye(k).ravel(), method="BFGS", options={"gtol": 1e-12})
    G = res.x.reshape(k, k)
    return X @ G, Y @ np.linalg.inv(G).T, float(res.fun)


def flattening_flow(X0: np.ndarray, Y0: np.ndarray, t_end: float, samples: int = 40,
                    objective: str = "imbalance", M: np.ndarray | None = None) -> dict:
    """Integrate the gradient flow of h = ||X^T X - Y^T Y||_F^2 / 4 (``objective="imbalance"``:
    X' = -X C, Y' = Y C) or of f = ||XY^T - M||^2/2 (``"loss"``) with LSODA, rtol 1e-11."""
    from scipy.integrate import solve_ivp

    m, k = X0.shape

    def split(z):
        return z[: m * k].reshape(m, k), z[m * k:].reshape(-1, k)

    def rhs(_, z):
        X, Y = split(z)
        if objective == "imbalance":
            C = X.T @ X - Y.T @ Y
            return np.concatenate([(-X @ C).ravel(), (Y @ C).ravel()])
        R = X @ Y.T - M
        return np.concatenate([(-R @ Y).ravel(), (-R.T @ X).ravel()])

    ts = np.linspace(0, t_end, samples)
    sol = solve_ivp(rhs, (0, t_end), np.concatenate([X0.ravel(), Y0.ravel()]), t_eval=ts,
                    method="LSODA", rtol=1e-11, atol=1e-13)
    if not sol.success:
        raise RuntimeError(f"the flow integration failed: {sol.message}")
    return {"t": ts, "states": [split(z) for z in sol.y.T]}
