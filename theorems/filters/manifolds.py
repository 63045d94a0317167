"""Local stable manifolds of polynomial update maps: the mechanism behind Theorem 2.1.

At a fixed point with one multiplier inside and one outside the unit circle, the points whose
iterates converge form a curve, the local stable manifold ``u = h(s)``; :func:`stable_manifold`
computes its power series from the invariance equation, and :func:`manifold_experiment` shows
trajectories from it approaching the fixed point while everything else escapes (Bolte, Le,
Pauwels).
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import sympy as sp

from numerics.lambdify import numpy_function

from numerics import updates
from theorems.filters.mathematics import sympy_oracles
from verify.errors import UnsupportedFunction


def stable_manifold(update_map: updates.UpdateMap, f: sp.Expr, variables: Sequence[sp.Symbol],
                    order: int = 8) -> dict[str, Any]:
    """Local stable manifold of the fixed point 0 of a memoryless polynomial map in 2-D.

    Requires a diagonal Jacobian at 0 with one eigenvalue inside and one outside the unit circle
    (coordinates along the eigen-directions). The manifold is the graph ``u = h(s)`` with
    ``h(s) = sum_{k=2}^{order} c_k s^k``, solved order by order from the invariance equation
    ``G_u(h(s), s) = h(G_s(h(s), s))`` (the c_k are unique: mu_u != mu_s^k).
    """
    if update_map.momentum or len(variables) != 2:
        raise UnsupportedFunction("stable manifolds are implemented for 2-D memoryless maps")
    x, y = variables
    grad_fn, hvp_fn = sympy_oracles(f, variables)
    X = sp.Matrix([x, y])
    new, _ = update_map.update(X, update_map.init(X), grad_fn, hvp_fn=hvp_fn)
    G = [sp.expand(g) for g in new]
    J = sp.Matrix(G).jacobian([x, y]).subs({x: 0, y: 0})
    if J[0, 1] != 0 or J[1, 0] != 0:
        raise UnsupportedFunction("the Jacobian at 0 must be diagonal (use eigen-coordinates)")
    mu = [J[0, 0], J[1, 1]]
    stable = [i for i in (0, 1) if abs(mu[i]) < 1]
    unstable = [i for i in (0, 1) if abs(mu[i]) > 1]
    if len(stable) != 1 or len(unstable) != 1:
        raise UnsupportedFunction(f"need one eigenvalue inside and one outside: {mu}")
    si, ui = stable[0], unstable[0]
    s = sp.Symbol("s")
    polys = [sp.Poly(g, x, y) for g in G]
    coeffs: list[sp.Expr] = [sp.Integer(0)] * (order + 1)   # h(s) = sum coeffs[k] s^k
    c = sp.Symbol("c")
    for k in range(2, order + 1):
        trial = coeffs[:]
        trial[k] = c
        stable_series = [sp.Integer(0), sp.Integer(1)] + [sp.Integer(0)] * (order - 1)
        values = {si: stable_series, ui: trial}
        lhs = _compose(polys[ui], values, order)
        image = _compose(polys[si], values, order)
        rhs = _compose_1d(trial, image, order)
        eq = sp.expand(lhs[k] - rhs[k])
        solved = sp.solve(eq, c)
        if len(solved) != 1:
            raise UnsupportedFunction(f"order {k}: no unique coefficient")
        coeffs[k] = sp.nsimplify(solved[0])
    h_exact = sum(coef * s**k for k, coef in enumerate(coeffs))
    return {"h": h_exact, "s": s, "stable_index": si, "unstable_index": ui, "mu": mu, "map": G,
            "variables": tuple(variables)}


def _mul(a: list, b: list, n: int) -> list:
    """Product of two truncated power series (coefficient lists) modulo s^(n+1)."""
    out = [sp.Integer(0)] * (n + 1)
    for i, ai in enumerate(a):
        if ai == 0:
            continue
        for j in range(0, n + 1 - i):
            if b[j] != 0:
                out[i + j] += ai * b[j]
    return [sp.expand(v) for v in out]


def _compose(poly: sp.Poly, values: dict[int, list], n: int) -> list:
    """poly(x, y) with x, y replaced by truncated series (values[0], values[1])."""
    out = [sp.Integer(0)] * (n + 1)
    for (i, j), coef in poly.terms():
        series = [sp.Integer(1)] + [sp.Integer(0)] * n
        for _ in range(i):
            series = _mul(series, values[0], n)
        for _ in range(j):
            series = _mul(series, values[1], n)
        out = [o + coef * t for o, t in zip(out, series)]
    return [sp.expand(v) for v in out]


def _compose_1d(h: list, inner: list, n: int) -> list:
    """h(inner(s)) for truncated series (h has no constant term)."""
    out = [sp.Integer(0)] * (n + 1)
    power = [sp.Integer(1)] + [sp.Integer(0)] * n
    for k in range(1, n + 1):
        power = _mul(power, inner, n)
        if h[k] != 0:
            out = [o + h[k] * t for o, t in zip(out, power)]
    return [sp.expand(v) for v in out]


def manifold_experiment(manifold: dict[str, Any], *, s0: float = 0.05, offset: float = 1e-6,
                        steps: int = 80, starts: int = 2000, seed: int = 0) -> dict[str, Any]:
    """Trajectories from the series manifold approach the fixed point far more closely than
    trajectories started `offset` off it; random starts essentially never converge."""
    x, y = manifold["variables"]
    G = numpy_function((x, y), manifold["map"])
    h = numpy_function(manifold["s"], manifold["h"])
    si, ui = manifold["stable_index"], manifold["unstable_index"]

    def start(s: float, du: float) -> np.ndarray:
        p = np.zeros(2)
        p[si], p[ui] = s, h(s) + du
        return p

    def closest(p: np.ndarray) -> float:
        best = np.linalg.norm(p)
        with np.errstate(all="ignore"):
            for _ in range(steps):
                p = np.array(G(*p), dtype=float)
                if not np.all(np.isfinite(p)) or np.linalg.norm(p) > 1e6:
                    break
                best = min(best, np.linalg.norm(p))
        return float(best)

    on = closest(start(s0, 0.0))
    off = closest(start(s0, offset))
    rng = np.random.default_rng(seed)
    P = rng.uniform(-0.1, 0.1, size=(starts, 2))
    converged = 0
    with np.errstate(all="ignore"):
        Q = P.T.copy()
        for _ in range(steps * 4):
            Q = np.array(G(Q[0], Q[1]), dtype=float)
        converged = int(np.sum(np.linalg.norm(Q, axis=0) < 1e-8))
    residual_points = np.array([1e-2, 2e-2, 4e-2])
    residuals = []
    hs = manifold["h"]
    for value in residual_points:  # exact rational arithmetic: round-off would hide s^(N+1)
        q = sp.Rational(str(value))
        point = {x: 0, y: 0}
        point[manifold["variables"][si]] = q
        point[manifold["variables"][ui]] = hs.subs(manifold["s"], q)
        image = [g.subs(point, simultaneous=True) for g in manifold["map"]]
        residuals.append(float(abs(image[ui] - hs.subs(manifold["s"], image[si]))))
    return {"closest_on_manifold": on, "closest_off_manifold": off,
            "random_starts_converged": converged, "random_starts": starts,
            "invariance_residuals": residuals, "residual_s": residual_points.tolist()}
