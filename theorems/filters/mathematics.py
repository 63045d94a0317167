r"""Eigenvalue filters of optimizers, derived from their implemented update maps.

Source: J. Bolte, Q.-T. Le, E. Pauwels, *Convergence of optimizers implies eigenvalues filtering
at equilibrium* (arXiv 2510.09034).

Theorem 2.1: for almost every initialization, if the iterates of :math:`x^+ = G_\alpha(x)`
converge to :math:`\bar x` then :math:`\rho(\mathrm{Jac}\,G_\alpha(\bar x)) \le 1`. At a critical
point with Hessian H the Jacobian acts on each eigenvector of H through a 1x1 (memoryless
methods) or 2x2 (momentum methods) matrix :math:`M(\lambda)`. The *filter* is the set of
:math:`\lambda` with :math:`\rho(M(\lambda)) \le 1`.

Nothing is retyped: :func:`verify.kernel.filters.eigen_matrix` runs the map of
:mod:`numerics.updates` on SymPy symbols with the gradient oracle :math:`v \mapsto \lambda v`
and differentiates the result, and the kernel's closed-disk (Jury) conditions of its
characteristic polynomial give the filter as polynomial inequalities; :func:`filter_set`
solves them in :math:`\lambda` exactly (the kernel re-checks the set it finds with z3 and
cvc5). A user's method ``"file.py:name"`` gets the same derivation, run on the file's map in a
worker process (:mod:`verify.kernel.optimizer_files`, which also says when no filter applies).
This module also holds the numerical companions of the checks: batched runs of the maps,
finite-difference Jacobians, float membership.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np
import sympy as sp

from numerics import updates
from verify.errors import InvalidClaim, NoFilter, UnsupportedFunction
from verify.kernel import optimizer_files
from verify.kernel.facts import parse
from verify.kernel.filters import (LAM, MU, closed_disk_condition, eigen_matrix,
                                   spectral_radius_le_one, sympy_oracles, update_jacobian)

ALPHA, RHO = sp.symbols("alpha rho", positive=True)
BETA = sp.Symbol("beta", nonnegative=True)

__all__ = ["ALPHA", "BETA", "LAM", "MU", "RHO", "closed_form", "declared_hyper", "eigen_matrix",
           "filter_condition", "filter_set", "label", "make_map", "member_of", "membership",
           "method_matrix", "pin_method", "spectral_radius_le_one", "stability_condition",
           "sympy_oracles", "update_jacobian"]


def stability_condition(matrix: sp.Matrix) -> sp.Basic:
    """rho(matrix) <= 1 as polynomial inequalities (the kernel's closed-disk conditions)."""
    try:
        return closed_disk_condition(matrix)
    except ValueError as exc:
        raise UnsupportedFunction(str(exc)) from None


def make_map(method: str, alpha: Any, beta: Any = None, rho: Any = None, form: str = "A"
             ) -> updates.UpdateMap:
    """The declared optimizer ``method`` with its hyperparameters (InvalidClaim when they are
    missing, unexpected or out of range)."""
    try:
        return updates.make(method, alpha=alpha, beta=beta, rho=rho, form=form)
    except ValueError as exc:
        raise InvalidClaim(str(exc)) from None


def label(method: str) -> str:
    """A method as a person reads it: a built-in name, or ``file.py:name`` without folders."""
    if ":" not in method:
        return method
    path, _, name = method.rpartition(":")
    return f"{Path(path).name}:{name}"


def pin_method(method: str, sha256: str | None = None) -> tuple[str, str, str]:
    """(path, name, SHA-256) of a user's method ``"file.py:name"``; a ``sha256`` given must be
    the file's (InvalidClaim: the file changed)."""
    path, name = optimizer_files.split(method)
    actual = optimizer_files.file_sha256(path)
    if sha256 and sha256 != actual:
        raise InvalidClaim(f"method_sha256 = {sha256!r} but {path} hashes to {actual!r}: the "
                           "optimizer file changed")
    return path, name, actual


def declared_hyper(method: str, sha256: str | None = None) -> dict[str, Any]:
    """The declaration of a method (built-in, or a user's file read in a worker) as plain data:
    ``name``, ``summary``, ``hyper`` [(name, doc, check)], ``forms``, ``filter``,
    ``no_filter``, ``oracles``."""
    if optimizer_files.is_user_method(method):
        path, name, sha = pin_method(method, sha256)
        declared = optimizer_files.ask(path, sha, ("describe",))
        if name not in declared:
            raise InvalidClaim(f"{path} declares no optimizer {name!r}; it declares "
                               f"{sorted(declared) or 'none'} (with numerics.updates.declare)")
        return declared[name]
    if method not in updates.OPTIMIZERS:
        raise InvalidClaim(f"unknown method {method!r}; known: {list(updates.OPTIMIZERS)}, "
                           "or 'file.py:name' for an optimizer declared in a file")
    return optimizer_files.describe(updates.OPTIMIZERS[method])


def method_matrix(method: str, alpha: Any = None, beta: Any = None, rho: Any = None,
                  form: str = "A", hyper: dict[str, Any] | None = None,
                  sha256: str | None = None) -> sp.Matrix:
    """M(lambda) of a method with its hyperparameters (numbers, or SymPy symbols named after
    the hyperparameter; a user's hyperparameter not given is left symbolic).

    Raises NoFilter (InvalidClaim) with the reason when the map has no filter."""
    hyper = dict(hyper or {})
    if not optimizer_files.is_user_method(method):
        declared = updates.OPTIMIZERS.get(method)
        if declared is not None and not declared.filter:
            raise NoFilter(f"{method} has no eigenvalue filter: {declared.no_filter}")
        try:
            umap = updates.make(method, alpha=alpha, beta=beta, rho=rho, form=form, **hyper)
        except ValueError as exc:
            raise InvalidClaim(str(exc)) from None
        return eigen_matrix(umap)
    path, name, sha = pin_method(method, sha256)
    info = declared_hyper(method, sha)
    given = {"alpha": alpha, "beta": beta, "rho": rho, **hyper}
    texts, symbols = [], [optimizer_files.curvature_symbol()]
    for h_name, _, check in info["hyper"]:
        value = given.get(h_name)
        if value is None and check == "integer":
            raise InvalidClaim(f"{label(method)}: {h_name} is an integer hyperparameter (a "
                               f"number of steps, ...): give its value, hyper={{{h_name!r}: "
                               "...}")
        if value is None or (isinstance(value, sp.Symbol) and value.name == h_name):
            texts.append((h_name, h_name))
            symbols.append(optimizer_files.hyper_symbol(h_name, check))
        else:
            texts.append((h_name, str(sp.nsimplify(value) if isinstance(value, float)
                                      else value)))
    extra = {k for k, v in given.items() if v is not None} - {h[0] for h in info["hyper"]}
    if extra:
        raise InvalidClaim(f"method {method!r} takes no {sorted(extra)}; it declares "
                           f"{[h[0] for h in info['hyper']]}")
    answer = optimizer_files.ask(path, sha, ("matrix", name, tuple(texts), form or "A"))
    curvature = symbols[0]
    return sp.Matrix([[parse(t, tuple(symbols)).xreplace({curvature: LAM}) for t in row]
                      for row in answer["matrix"]])


def filter_condition(method: str, *, alpha: Any = ALPHA, beta: Any = None, rho: Any = None,
                     form: str = "A", hyper: dict[str, Any] | None = None) -> sp.Basic:
    """The filter of ``method`` as a condition on LAM (hyperparameters may be symbols)."""
    if not optimizer_files.is_user_method(method) and method in updates.OPTIMIZERS:
        names = [h.name for h in updates.OPTIMIZERS[method].hyper]
        if beta is None and "beta" in names:
            beta = BETA
        if rho is None and "rho" in names:
            rho = RHO
    return stability_condition(method_matrix(method, alpha, beta, rho, form, hyper))


def filter_set(method: str, alpha: Any, beta: Any = None, rho: Any = None, form: str = "A",
               hyper: dict[str, Any] | None = None) -> sp.Set:
    """The exact set of Hessian eigenvalues lambda at which the implemented map of ``method``
    has spectral radius <= 1 (numeric hyperparameters, exact)."""
    cond = stability_condition(method_matrix(method, alpha, beta, rho, form, hyper))
    return condition_set(cond)


def condition_set(cond: sp.Basic) -> sp.Set:
    """The set of real lambda satisfying a conjunction of polynomial relations, exactly."""
    result: sp.Set = sp.S.Reals
    for rel in (cond.args if isinstance(cond, sp.And) else (cond,)):
        if rel in (sp.true, sp.false):
            part = sp.S.Reals if rel == sp.true else sp.S.EmptySet
        else:
            part = sp.solve_univariate_inequality(rel, LAM, relational=False)
        result = sp.Intersection(result, part)
    return sp.simplify(result) if not isinstance(result, sp.Interval) else result


def closed_form(method: str, form: str = "A") -> sp.Basic:
    """The filters as the paper and its reconstruction state them, for symbolic alpha, beta,
    rho (``filters.symbolic`` proves the derived conditions equivalent)."""
    lam = LAM
    p_usam = lam * (1 + RHO * lam)
    forms = {
        "gd": sp.And(lam >= 0, lam <= 2 / ALPHA),
        "heavy-ball": sp.And(lam >= 0, lam <= 2 * (1 + BETA) / ALPHA),
        "nesterov": sp.And(lam >= 0, lam <= 2 * (1 + BETA) / ((1 + 2 * BETA) * ALPHA)),
        "usam": sp.And(p_usam >= 0, p_usam <= 2 / ALPHA),
        "usam-heavy-ball": sp.And(p_usam >= 0, p_usam <= 2 * (1 + BETA) / ALPHA),
    }
    if method == "two-step-usam":
        p = lam * (1 + RHO * lam + RHO**2 * lam**2) if form == "A" else lam * (1 + RHO * lam)**2
        return sp.And(p >= 0, p <= 2 / ALPHA)
    if method == "hessian-usam":
        p = lam * (1 + RHO * lam)**2 if form == "A" else p_usam
        return sp.And(p >= 0, p <= 2 / ALPHA)
    return forms[method]


def membership(S: sp.Set, value: sp.Expr) -> bool | None:
    """``value in S`` as a Python bool, or None when SymPy cannot decide.

    ``S.contains`` returns SymPy's ``true``/``false`` (never Python's ``True``/``False``) or an
    unevaluated ``Contains``; only the two SymPy constants count as decided.
    """
    answer = S.contains(value)
    if answer is sp.true:
        return True
    if answer is sp.false:
        return False
    return None


def member_of(s: sp.Set) -> sp.Expr | None:
    """A point of a nonempty set (for counterexamples)."""
    if isinstance(s, sp.FiniteSet):
        return next(iter(s))
    if isinstance(s, sp.Interval):
        lo, hi = s.inf, s.sup
        if lo.is_finite and hi.is_finite:
            return (lo + hi) / 2
        return (lo + 1) if lo.is_finite else (hi - 1)
    if isinstance(s, sp.Union):
        return member_of(s.args[0])
    return None


# --------------------------------------------------------------------------------------------
# numerical companions: batched runs, finite-difference Jacobians, float membership
# --------------------------------------------------------------------------------------------

def hyperbola_grad(X: np.ndarray) -> np.ndarray:
    """Gradient of (x1 x2 - 1)^2 on a batch of points, shape (N, 2)."""
    r = X[:, 0] * X[:, 1] - 1
    return np.stack([2 * r * X[:, 1], 2 * r * X[:, 0]], axis=1)


def products_grad(X: np.ndarray) -> np.ndarray:
    """Gradient of (1/n) sum_i (x_{2i-1} x_{2i} - 1)^2 on a batch, shape (N, 2n)."""
    n = X.shape[1] // 2
    a, b = X[:, 0::2], X[:, 1::2]
    r = a * b - 1
    G = np.empty_like(X)
    G[:, 0::2] = 2 * r * b / n
    G[:, 1::2] = 2 * r * a / n
    return G


def numeric_hessian(grad_fn, x: np.ndarray, h: float = 1e-5) -> np.ndarray:
    """Central differences of a batched gradient at one point."""
    d = x.size
    H = np.empty((d, d))
    for i in range(d):
        e = np.zeros(d)
        e[i] = h
        H[:, i] = (grad_fn((x + e)[None])[0] - grad_fn((x - e)[None])[0]) / (2 * h)
    return (H + H.T) / 2


def step_jacobian(update_map: updates.UpdateMap, grad_fn, x: np.ndarray, h: float = 1e-6,
                  hvp_fn=None) -> np.ndarray:
    """Jacobian of the implemented numpy step at a fixed point, by central differences
    (state (x, x_prev) for momentum maps, evaluated at x_prev = x)."""
    d = x.size
    size = 2 * d if update_map.momentum else d

    def step(z: np.ndarray) -> np.ndarray:
        cur = z[:d][None]
        state = updates.MomentumState(prev=z[d:][None]) if update_map.momentum else \
            update_map.init(cur)
        new, new_state = update_map.update(cur, state, grad_fn, hvp_fn=hvp_fn)
        out = [new[0]] + ([new_state.prev[0]] if update_map.momentum else [])
        return np.concatenate(out)

    z0 = np.concatenate([x, x]) if update_map.momentum else x.copy()
    J = np.empty((size, size))
    for i in range(size):
        e = np.zeros(size)
        e[i] = h
        J[:, i] = (step(z0 + e) - step(z0 - e)) / (2 * h)
    return J


def quadratic_jacobians(update_map: updates.UpdateMap, lams: np.ndarray, h: float = 1e-6
                        ) -> np.ndarray:
    """Jacobians (by central differences of the implemented numpy step) on the 1-D quadratics
    f = lambda x^2 / 2, one per curvature; shape (len(lams), k, k), k = 1 or 2."""
    lam = np.asarray(lams, dtype=float)[:, None]
    size = 2 if update_map.momentum else 1

    def step(Z: np.ndarray) -> np.ndarray:
        X = Z[:, :1]
        state = updates.MomentumState(prev=Z[:, 1:]) if update_map.momentum else \
            update_map.init(X)
        new, new_state = update_map.update(X, state, lambda V: lam * V,
                                           hvp_fn=lambda Y, V: lam * V)
        return np.concatenate([new] + ([new_state.prev] if update_map.momentum else []), axis=1)

    J = np.empty((lam.shape[0], size, size))
    for i in range(size):
        E = np.zeros((lam.shape[0], size))
        E[:, i] = h
        J[:, :, i] = (step(E) - step(-E)) / (2 * h)
    return J


def float_membership(S: sp.Set, values: np.ndarray) -> np.ndarray:
    """Membership of floats in a union of intervals and points (exact endpoints rounded)."""
    pieces = S.args if isinstance(S, sp.Union) else (S,)
    out = np.zeros(values.shape, dtype=bool)
    for piece in pieces:
        if isinstance(piece, sp.FiniteSet):
            for p in piece:
                out |= values == float(p)
        elif isinstance(piece, sp.Interval):
            lo, hi = float(piece.inf), float(piece.sup)
            left = values > lo if piece.left_open else values >= lo
            right = values < hi if piece.right_open else values <= hi
            out |= left & right
        elif piece != sp.S.EmptySet:
            raise UnsupportedFunction(f"cannot test membership in {piece}")
    return out


def batched_hvp(grad_fn, h: float = 1e-6):
    """Hessian-vector products of a batched gradient by central differences."""
    def hvp(X: np.ndarray, V: np.ndarray) -> np.ndarray:
        return (grad_fn(X + h * V) - grad_fn(X - h * V)) / (2 * h)

    return hvp


def run_batch(update_map: updates.UpdateMap, grad_fn, X0: np.ndarray, steps: int,
              hvp_fn=None) -> tuple[np.ndarray, np.ndarray]:
    """Run the map on a batch of starts; returns (final points, converged mask)."""
    with np.errstate(all="ignore"):
        X, state = X0.copy(), update_map.init(X0.copy())
        prev = X
        for _ in range(steps):
            prev = X
            X, state = update_map.update(X, state, grad_fn, hvp_fn=hvp_fn)
        G = grad_fn(X)
        ok = np.all(np.isfinite(X), axis=1)
        converged = ok & (np.linalg.norm(G, axis=1) < 1e-9) & (
            np.linalg.norm(X - prev, axis=1) < 1e-10)
    return X, converged
