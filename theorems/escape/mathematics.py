"""Flat minima by the trace of the Hessian, and the perturbed gradient methods that reach them
(Ahn, Jadbabaie, Sra, *How to Escape Sharp Minima with Random Perturbations*, ICML 2024).

Objects: :func:`normalized_trace` tr-bar, the limit map Phi and its Jacobian
(:mod:`numerics.flows`), :func:`tangent_projector` (d Phi at a minimum of a Morse-Bott manifold
of minima), :func:`sphere_expectation` (exact integration of polynomials over the unit sphere),
the smoothing drift and the perturbation drifts of the two algorithms, and runs of the
algorithms, which are the update maps ``randomly-smoothed`` and ``sharpness-aware-perturbation``
of :mod:`numerics.updates` (nothing here re-implements them).
"""

from __future__ import annotations

import math
from typing import Any, Callable, Sequence

import numpy as np
import sympy as sp

from numerics.lambdify import numpy_function

from numerics import flows, updates
from theorems.exact import exact_number, gradient
from verify.kernel.escape import (manifold_assumption, normalized_trace, residual_form,
                                  tangent_projector)

__all__ = ["example1", "example1_limit_map", "example1_limit_point", "manifold_assumption",
           "normalized_trace", "numeric_oracles", "perturbation_drifts", "residual_form",
           "run_perturbed", "smoothing_drift", "sphere_expectation", "stationarity",
           "steps_to_flat", "sum_of_products", "tangent_projector"]


def sphere_expectation(poly: sp.Expr, g: Sequence[sp.Symbol]) -> sp.Expr:
    """E over g ~ Unif(S^{d-1}) of a polynomial in g, exactly: E prod g_i^{a_i} = 0 unless every
    a_i is even, else prod (a_i - 1)!! / (d (d + 2) ... (d + |a| - 2))."""
    d = len(g)
    P = sp.Poly(sp.expand(poly), *g)
    total = sp.Integer(0)
    for exps, coeff in P.terms():
        if any(e % 2 for e in exps):
            continue
        k = sum(exps) // 2
        num = sp.prod([sp.factorial2(e - 1) for e in exps])
        den = sp.prod([d + 2 * j for j in range(k)])
        total += coeff * num / den
    return sp.simplify(total)


def numeric_oracles(f: sp.Expr, variables: Sequence[sp.Symbol],
                    parts: Sequence[sp.Expr] | None = None) -> dict[str, Callable]:
    """NumPy callables of f, its gradient and Hessian, tr-bar and the gradient of tr-bar, and,
    given the components f_i of f, ``component_grad(x, i)``."""
    tb = normalized_trace(f, variables)
    vec = lambda e: numpy_function([variables], list(gradient(e, variables)))
    fn, gfn, tfn, gtfn = (numpy_function([variables], f), vec(f),
                          numpy_function([variables], tb), vec(tb))
    hfn = numpy_function([variables], sp.hessian(f, variables))
    out = {"f": lambda x: float(fn(x)), "grad": lambda x: np.asarray(gfn(x), dtype=float),
           "hess": lambda x: np.asarray(hfn(x), dtype=float),
           "trbar": lambda x: float(tfn(x)),
           "grad_trbar": lambda x: np.asarray(gtfn(x), dtype=float)}
    if parts is not None:
        grads = [vec(p) for p in parts]
        out["component_grad"] = lambda x, i: np.asarray(grads[i](x), dtype=float)
    return out



def example1() -> tuple[sp.Expr, tuple[sp.Symbol, ...]]:
    """Example 1: f = (x1 x2 - 1)^2."""
    x1, x2 = sp.symbols("x1 x2", real=True)
    return (x1 * x2 - 1) ** 2, (x1, x2)


def example1_limit_map(x1: sp.Symbol, x2: sp.Symbol) -> tuple[sp.Matrix, sp.Expr]:
    """The limit map Phi of Example 1 on the open positive quadrant, in closed form.

    Along x' = -grad f, f = (x1 x2 - 1)^2, the quantity c = x1^2 - x2^2 is conserved and
    p = x1 x2 satisfies p' = -2 (p - 1)(x1^2 + x2^2), so p -> 1 (the quadrant is invariant and
    x1^2 + x2^2 >= 2 min(p(0), 1) there): Phi(x) is the point (a, 1/a) of X* with
    a^2 - 1/a^2 = c, a^2 = (c + sqrt(c^2 + 4))/2 (Definition 1). Returns (Phi(x) as a column,
    the invariant c), for symbols ``x1``, ``x2`` (declare them positive)."""
    c = x1 ** 2 - x2 ** 2
    return example1_limit_point(c), c


def example1_limit_point(c: sp.Expr) -> sp.Matrix:
    """The point (a, 1/a) of X* = {x1 x2 = 1, x1 > 0} with a^2 - 1/a^2 = c."""
    a = sp.sqrt((c + sp.sqrt(c ** 2 + 4)) / 2)
    return sp.Matrix([a, 1 / a])


def sum_of_products(n: int, targets: Sequence[Any] | None = None
                    ) -> tuple[sp.Expr, tuple[sp.Symbol, ...], list[sp.Expr]]:
    """Setting 1 toy: f = (1/n) sum_i (x_{2i-1} x_{2i} - y_i)^2, d = 2n; returns (f, vars, f_i)."""
    xs = sp.symbols(f"x1:{2 * n + 1}", real=True)
    ys = [sp.Integer(1)] * n if targets is None else [exact_number(y, "target") for y in targets]
    parts = [(xs[2 * i] * xs[2 * i + 1] - ys[i]) ** 2 for i in range(n)]
    return sp.Add(*parts) / n, xs, parts


def smoothing_drift(f: sp.Expr, variables: Sequence[sp.Symbol]) -> sp.Matrix:
    """E_g grad f(x + rho g) over the unit sphere, exactly, as a polynomial in x and rho."""
    rho = sp.Symbol("rho", positive=True)
    g = sp.symbols(f"g1:{len(variables) + 1}", real=True)
    shifted = {v: v + rho * gi for v, gi in zip(variables, g)}
    return gradient(f, variables).subs(shifted, simultaneous=True).applyfunc(
        lambda e: sphere_expectation(e, g)), rho


def perturbation_drifts(n: int, point: Sequence[Any]) -> dict[str, sp.Expr]:
    """Expected perturbation drift <P grad tr-bar, E v> of RS, SA (stochastic outer) and SA with
    the full-batch outer gradient, exactly, at a point of X* of the sum-of-products function, as
    functions of rho (Remark 2: the stochastic direction at x* is the limit grad p_i/||grad p_i||).
    """
    f, xs, parts = sum_of_products(n)
    d = len(xs)
    at = dict(zip(xs, [exact_number(p, "point coordinate") for p in point]))
    rho = sp.Symbol("rho", positive=True)
    H = sp.hessian(f, xs).subs(at)
    P = tangent_projector(H)
    direction = P * gradient(normalized_trace(f, xs), xs).subs(at)
    drift_rs, rho_s = smoothing_drift(f, xs)
    e_rs = drift_rs.subs(rho_s, rho).subs(at)
    e_sa = sp.zeros(d, 1)
    e_full = sp.zeros(d, 1)
    for i, fi in enumerate(parts):
        p = xs[2 * i] * xs[2 * i + 1]
        u = gradient(p, xs).subs(at)
        u = u / sp.sqrt(u.dot(u))
        for sigma in (1, -1):
            shift = {v: at[v] + rho * sigma * u[j] for j, v in enumerate(xs)}
            e_sa += gradient(fi, xs).subs(shift, simultaneous=True) / (2 * n)
            e_full += gradient(f, xs).subs(shift, simultaneous=True) / (2 * n)
    return {name: sp.simplify(direction.dot(e)) for name, e in
            (("rs", e_rs), ("sa", e_sa), ("sa_full_batch", e_full))} | {"d": d, "n": n}


def run_perturbed(update_map: updates.UpdateMap, f: sp.Expr, variables: Sequence[sp.Symbol],
                  x0: np.ndarray, steps: int, *, parts: Sequence[sp.Expr] | None = None,
                  every: int = 100) -> dict[str, Any]:
    """Iterate an update map of numerics.updates on a SymPy function; record tr-bar, f and the
    Lemma 1 slack along the way."""
    orc = numeric_oracles(f, variables, parts)
    oracles = {"component_grad_fn": orc["component_grad"]} if parts is not None else {}
    x, state = np.asarray(x0, dtype=float), update_map.init(np.asarray(x0, dtype=float))
    eta, eta_p = float(update_map.hyper["eta"]), float(update_map.hyper["eta_prime"])
    rec: dict[str, list] = {"step": [], "trbar": [], "f": []}
    worst_slack = math.inf
    for k in range(steps + 1):
        if k % every == 0 or k == steps:
            rec["step"].append(k)
            rec["trbar"].append(orc["trbar"](x))
            rec["f"].append(orc["f"](x))
        if k == steps:
            break
        g = orc["grad"](x)
        x_new, state = update_map.update(x, state, orc["grad"], **oracles)
        # Lemma 1 with beta = the largest |eigenvalue| of Hess f on the segment's end points
        beta = max(np.abs(np.linalg.eigvalsh(orc["hess"](y))).max() for y in (x, x_new))
        if eta <= 1 / beta and eta_p > 0:
            v = (x - x_new - eta * g) / eta_p
            bound = orc["f"](x) - (eta - beta * eta ** 2 / 2) * g @ g + beta / 2 * eta_p ** 2 * v @ v
            worst_slack = min(worst_slack, bound - orc["f"](x_new))
        x = x_new
    phi = flows.limit_map(orc["grad"], x)
    return {"x": x.tolist(), "lemma1_min_slack": worst_slack, "phi": phi.point.tolist(),
            "trbar_at_phi": orc["trbar"](phi.point), **rec}


def stationarity(orc: dict, x: np.ndarray) -> tuple[float, np.ndarray]:
    """||d Phi grad tr-bar|| at Phi(x), with d Phi(Phi(x)) the projector onto the numerical
    kernel of the Hessian there (eigenvalues below 1e-6 lambda_max)."""
    phi = flows.limit_map(orc["grad"], x).point
    w, V = np.linalg.eigh(orc["hess"](phi))
    K = V[:, np.abs(w) <= 1e-6 * np.abs(w).max()]
    return float(np.linalg.norm(K @ (K.T @ orc["grad_trbar"](phi)))), phi


def steps_to_flat(make_map: Callable[[float], updates.UpdateMap], f: sp.Expr,
                  variables: Sequence[sp.Symbol], x0: np.ndarray, eps: float, *,
                  parts: Sequence[sp.Expr] | None = None, cap: int = 200000,
                  every: int = 25) -> int | None:
    """Steps until the iterate's limit point is (., sqrt(eps))-flat, checked every ``every``
    steps (None if not within ``cap``)."""
    orc = numeric_oracles(f, variables, parts)
    oracles = {"component_grad_fn": orc["component_grad"]} if parts is not None else {}
    update_map = make_map(eps)
    x, state = np.asarray(x0, dtype=float), update_map.init(np.asarray(x0, dtype=float))
    for k in range(cap + 1):
        if k % every == 0 and stationarity(orc, x)[0] <= math.sqrt(eps):
            return k
        x, state = update_map.update(x, state, orc["grad"], **oracles)
    return None
