"""Floating-point programs of the convex cone decider: small LPs, one SDP, a sphere search.

Arrays in, arrays out; nothing here is a proof. The exact side (rounding, checking) is in
:mod:`theorems.sharp.convex_cone` and the kernel (:mod:`verify.kernel.cone`).

* :func:`linear_program`: min c.x subject to equalities, inequalities and bounds, by HiGHS
  (the ``highspy`` bindings, reused between calls, else :func:`scipy.optimize.linprog`).
  Simplex, so an optimal x is a vertex (basic solution); with ``integer`` columns a
  mixed-integer program (branch and bound).
* :func:`max_min_eigenvalue`: max t subject to T - sum_k y_k M_k - t I positive semidefinite,
  y_k >= 0 for the first ``nonneg`` matrices, optionally |y| <= bound, t <= t_max (Clarabel).
* :class:`Tree` and :func:`sphere_search`: a polyhedral sublinear function
  sigma(h) = lin_0.h + sum c max(children) evaluated on many h at once, and a projected
  subgradient search for small sigma(h) / ||h||_2 on the unit sphere from many starts.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

OPTIMAL, INFEASIBLE, UNBOUNDED, FAILED = "optimal", "infeasible", "unbounded", "failed"
FEASIBLE = "feasible"      # a mixed-integer program stopped at its node limit, with a solution


@dataclass
class LPResult:
    """``status`` is one of OPTIMAL, FEASIBLE, INFEASIBLE, UNBOUNDED, FAILED; x and value when
    optimal or feasible."""

    status: str
    x: np.ndarray | None = None
    value: float | None = None


_HIGHS: list = []


def _highs():
    if not _HIGHS:
        try:
            import highspy
        except ImportError:
            _HIGHS.append(None)
        else:
            _HIGHS.append((highspy, _quiet(highspy.Highs)))
            _HIGHS[0][1].setOptionValue("output_flag", False)
    return _HIGHS[0]


def _quiet(make):
    """Call ``make()`` with the process's stdout closed (HiGHS prints a banner from C++)."""
    import os
    import sys

    sys.stdout.flush()
    try:
        saved = os.dup(1)
    except OSError:
        return make()
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 1)
            return make()
    finally:
        os.dup2(saved, 1)
        os.close(saved)


def linear_program(c: np.ndarray, *, A_eq: np.ndarray | None = None,
                   b_eq: np.ndarray | None = None, A_ub: np.ndarray | None = None,
                   b_ub: np.ndarray | None = None, lower: np.ndarray | float = 0.0,
                   upper: np.ndarray | float = np.inf, integer: np.ndarray | None = None,
                   node_limit: int | None = None) -> LPResult:
    """min c.x s.t. A_eq x = b_eq, A_ub x <= b_ub, lower <= x <= upper (HiGHS simplex), and
    x_j integral where the boolean mask ``integer`` is set (HiGHS branch and bound; at most
    ``node_limit`` nodes, after which the best solution found is returned as FEASIBLE)."""
    c = np.asarray(c, dtype=float)
    n = c.size
    lo = np.broadcast_to(np.asarray(lower, dtype=float), (n,)).copy()
    hi = np.broadcast_to(np.asarray(upper, dtype=float), (n,)).copy()
    rows, row_lo, row_hi = [], [], []
    if A_eq is not None and len(A_eq):
        rows.append(np.asarray(A_eq, dtype=float))
        row_lo.append(np.asarray(b_eq, dtype=float))
        row_hi.append(np.asarray(b_eq, dtype=float))
    if A_ub is not None and len(A_ub):
        rows.append(np.asarray(A_ub, dtype=float))
        row_lo.append(np.full(len(A_ub), -np.inf))
        row_hi.append(np.asarray(b_ub, dtype=float))
    A = np.vstack(rows) if rows else np.zeros((0, n))
    rl = np.concatenate(row_lo) if rows else np.zeros(0)
    rh = np.concatenate(row_hi) if rows else np.zeros(0)
    if not (np.all(np.isfinite(A)) and np.all(np.isfinite(c))):
        return LPResult(FAILED)
    solver = _highs()
    if solver is None:
        return _scipy_lp(c, A, rl, rh, lo, hi, integer)
    highspy, h = solver
    inf = highspy.kHighsInf
    lp = highspy.HighsLp()
    lp.num_col_, lp.num_row_ = n, A.shape[0]
    lp.col_cost_ = c
    lp.col_lower_ = np.where(np.isfinite(lo), lo, -inf)
    lp.col_upper_ = np.where(np.isfinite(hi), hi, inf)
    lp.row_lower_ = np.where(np.isfinite(rl), rl, -inf)
    lp.row_upper_ = np.where(np.isfinite(rh), rh, inf)
    # compressed columns by hand: scipy.sparse costs 0.3 s of import on a short check
    cols, rows = np.nonzero(A.T)
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_ = np.concatenate([[0], np.cumsum(np.count_nonzero(A, axis=0))])
    lp.a_matrix_.index_ = rows
    lp.a_matrix_.value_ = A[rows, cols]
    mip = integer is not None and np.any(integer)
    if mip:
        lp.integrality_ = [highspy.HighsVarType.kInteger if flag else
                           highspy.HighsVarType.kContinuous for flag in integer]
    h.clearModel()
    h.setOptionValue("mip_max_nodes", int(node_limit) if mip and node_limit else
                     2**31 - 1)
    h.passModel(lp)
    h.run()
    status = h.getModelStatus()
    name = h.modelStatusToString(status).lower()
    if status == highspy.HighsModelStatus.kOptimal:
        x = np.array(h.getSolution().col_value, dtype=float)
        return LPResult(OPTIMAL, x, float(c @ x))
    if mip and h.getSolution().value_valid and "limit" in name:
        x = np.array(h.getSolution().col_value, dtype=float)
        return LPResult(FEASIBLE, x, float(c @ x))
    if "infeasible" in name and "unbounded" not in name:
        return LPResult(INFEASIBLE)
    if "unbounded" in name and "infeasible" not in name:
        return LPResult(UNBOUNDED)
    return LPResult(FAILED)


def _scipy_lp(c, A, rl, rh, lo, hi, integer=None) -> LPResult:
    from scipy.optimize import linprog

    eq = rl == rh
    A_ub = np.vstack([A[~eq & np.isfinite(rh)], -A[~eq & np.isfinite(rl)]])
    b_ub = np.concatenate([rh[~eq & np.isfinite(rh)], -rl[~eq & np.isfinite(rl)]])
    res = linprog(c, A_eq=A[eq] if eq.any() else None, b_eq=rl[eq] if eq.any() else None,
                  A_ub=A_ub if len(A_ub) else None, b_ub=b_ub if len(A_ub) else None,
                  bounds=list(zip(np.where(np.isfinite(lo), lo, None),
                                  np.where(np.isfinite(hi), hi, None))),
                  method="highs" if integer is not None and np.any(integer) else "highs-ds",
                  integrality=None if integer is None else np.asarray(integer, dtype=int))
    if res.status == 0:
        return LPResult(OPTIMAL, np.asarray(res.x, dtype=float), float(res.fun))
    return LPResult({2: INFEASIBLE, 3: UNBOUNDED}.get(res.status, FAILED))


def _svec(M: np.ndarray) -> np.ndarray:
    """Clarabel's vectorization of a symmetric matrix: the upper triangle by columns, the
    off-diagonal entries times sqrt(2)."""
    n = M.shape[0]
    iu = np.triu_indices(n)
    cols, rows = iu[1], iu[0]
    order = np.lexsort((rows, cols))
    r, k = rows[order], cols[order]
    return M[r, k] * np.where(r == k, 1.0, np.sqrt(2.0))


def max_min_eigenvalue(T: np.ndarray, matrices: Sequence[np.ndarray], nonneg: int, *,
                       bound: float | None = None, t_max: float = 1.0,
                       A_eq: np.ndarray | None = None, b_eq: np.ndarray | None = None
                       ) -> tuple[str, np.ndarray | None, float | None]:
    """max t s.t. T - sum_k y_k M_k - t I is PSD, y_k >= 0 for k < ``nonneg``, |y_k| <= bound
    (when given: 2K more rows, and about three times the iterations), A_eq y = b_eq,
    t <= t_max (Clarabel, interior point). Returns (status, y, t); status OPTIMAL only when
    Clarabel reports ``Solved``."""
    import clarabel
    import scipy.sparse as sps

    n = T.shape[0]
    K = len(matrices)
    cols = [_svec(M) for M in matrices] + [_svec(np.eye(n))]
    A_psd = np.column_stack(cols)
    eye = np.eye(K + 1)
    boxed = bound is not None
    blocks = [-eye[:nonneg]] + ([eye[:K], -eye[:K]] if boxed else []) + [eye[K:]]
    A_lin = np.vstack([b for b in blocks if len(b)])
    b_lin = np.concatenate([np.zeros(nonneg)] + ([np.full(2 * K, bound)] if boxed else []) +
                           [[t_max]])
    eqs = 0 if A_eq is None else len(A_eq)
    parts = [np.hstack([A_eq, np.zeros((eqs, 1))])] if eqs else []
    A = sps.csc_matrix(np.vstack(parts + [A_lin, A_psd]))
    b = np.concatenate(([b_eq] if eqs else []) + [b_lin, _svec(T)])
    q = np.zeros(K + 1)
    q[-1] = -1.0
    settings = clarabel.DefaultSettings()
    settings.verbose = False
    cones = ([clarabel.ZeroConeT(eqs)] if eqs else []) + [
        clarabel.NonnegativeConeT(len(b_lin)), clarabel.PSDTriangleConeT(n)]
    solver = clarabel.DefaultSolver(sps.csc_matrix((K + 1, K + 1)), q, A, b, cones,
                                    settings)
    sol = solver.solve()
    if str(sol.status) != "Solved":
        return FAILED, None, None
    x = np.array(sol.x, dtype=float)
    if not np.all(np.isfinite(x)):
        return FAILED, None, None
    return OPTIMAL, x[:K], float(x[K])


@dataclass
class Tree:
    """sigma(h) = value of form 0; form F = lin[F].h + sum over its hulls c * max over the
    hull's children forms. ``hulls`` lists (owner form, c, children form indices); every child
    form comes after its owner."""

    lin: np.ndarray                                  # forms x d
    hulls: Sequence[tuple[int, float, Sequence[int]]]

    def values(self, H: np.ndarray, gradients: bool = False
               ) -> tuple[np.ndarray, np.ndarray | None]:
        """The value of every form at the rows of H (points x forms), and with ``gradients``
        one subgradient of each (hulls are processed last to first, so a hull's children are
        complete when it is reached)."""
        H = np.atleast_2d(np.asarray(H, dtype=float))
        V = H @ self.lin.T
        G = np.repeat(self.lin[None, :, :], len(H), axis=0) if gradients else None
        rows = np.arange(len(H))
        for fi, c, kids in reversed(self.hulls):
            kids = np.asarray(kids)
            sub = V[:, kids]
            best = np.argmax(sub, axis=1)
            V[:, fi] += c * sub[rows, best]
            if gradients:
                G[:, fi, :] += c * G[rows, kids[best], :]
        return V, G

    def evaluate(self, H: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """sigma at the rows of H and one subgradient per row."""
        V, G = self.values(H, gradients=True)
        return V[:, 0], G[:, 0, :]


def sphere_search(tree: Tree, d: int, *, seed: int = 0, starts: int = 48, steps: int = 400,
                  extra: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Projected subgradient descent of sigma(h) on the unit sphere from random starts, the
    coordinate directions and ``extra`` rows. Returns (directions, their sigma), best first
    (one per start)."""
    rng = np.random.default_rng(seed)
    H = [rng.standard_normal((starts, d)), np.eye(d), -np.eye(d)]
    if extra is not None and len(extra):
        H.append(np.asarray(extra, dtype=float))
    H = np.vstack(H)
    H /= np.maximum(np.linalg.norm(H, axis=1, keepdims=True), 1e-300)
    best_h = H.copy()
    best_v, _ = tree.evaluate(H)
    scale = max(1.0, float(np.max(np.abs(tree.lin))))
    for step in range(steps):
        v, g = tree.evaluate(H)
        better = v < best_v
        best_v = np.where(better, v, best_v)
        best_h[better] = H[better]
        tangent = g - np.sum(g * H, axis=1, keepdims=True) * H
        H = H - (0.5 / scale / np.sqrt(step + 1.0)) * tangent
        H /= np.maximum(np.linalg.norm(H, axis=1, keepdims=True), 1e-300)
    v, _ = tree.evaluate(H)
    better = v < best_v
    best_v = np.where(better, v, best_v)
    best_h[better] = H[better]
    order = np.argsort(best_v)
    return best_h[order], best_v[order]
