"""Gradient flows: the limit map Phi (Ahn, Jadbabaie, Sra, Definition 1) and its Jacobian."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
from scipy.integrate import solve_ivp

GradFn = Callable[[np.ndarray], np.ndarray]


@dataclass
class FlowLimit:
    """Phi(x) with how it was obtained: the time reached, the final gradient norm and the
    integrator tolerances (a point is a limit only up to ``grad_norm``)."""

    point: np.ndarray
    time: float
    grad_norm: float
    rtol: float
    atol: float
    converged: bool


def limit_map(grad_fn: GradFn, x0: np.ndarray, *, grad_tol: float = 1e-12, t_max: float = 1e6,
              rtol: float = 1e-11, atol: float = 1e-13, method: str = "LSODA") -> FlowLimit:
    """Phi(x0) = lim x(t) for x' = -grad f(x), x(0) = x0, integrated by SciPy's stiff-aware
    LSODA until ||grad f|| <= ``grad_tol`` (an event) or ``t_max``."""
    x0 = np.asarray(x0, dtype=float)
    if not np.all(np.isfinite(x0)):
        raise ValueError("limit_map: the start point is not finite")

    def rhs(_t: float, x: np.ndarray) -> np.ndarray:
        return -np.asarray(grad_fn(x), dtype=float)

    def small(_t: float, x: np.ndarray) -> float:
        return float(np.linalg.norm(grad_fn(x))) - grad_tol

    small.terminal = True
    sol = solve_ivp(rhs, (0.0, t_max), x0, method=method, rtol=rtol, atol=atol, events=small)
    x = sol.y[:, -1]
    g = float(np.linalg.norm(grad_fn(x)))
    return FlowLimit(point=x, time=float(sol.t[-1]), grad_norm=g, rtol=rtol, atol=atol,
                     converged=bool(np.isfinite(g) and g <= 10 * grad_tol))


def limit_map_jacobian(grad_fn: GradFn, x: np.ndarray, *, h: float = 1e-5,
                       **flow: float) -> np.ndarray:
    """d Phi(x) by central differences of the limit map (step ``h``)."""
    x = np.asarray(x, dtype=float)
    d = x.size
    J = np.zeros((d, d))
    for j in range(d):
        e = np.zeros(d)
        e[j] = h
        J[:, j] = (limit_map(grad_fn, x + e, **flow).point
                   - limit_map(grad_fn, x - e, **flow).point) / (2 * h)
    return J
