"""The data of the convex cone decider: a convex f at its point, and exact LP vertices.

:class:`ConeCase` holds sigma = f'(p; .) as the kernel computes it (:mod:`verify.kernel.cone`,
Dominguez Corella, Definition 1 through the directional derivative), the sparse equations of
"weights put a vector in the subdifferential", the direction LP (min sigma on an affine
slice) and exact ratios sigma(h) / ||h||. :func:`exact_vertex` turns a float LP vertex into an
exact rational one (simple roundings, else the exact solution on its support), checked
exactly; :mod:`theorems.sharp.convex_cone` explains how the pieces decide a claim.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any, Sequence

import numpy as np
import sympy as sp

from numerics import cone_programs as programs
from theorems.sharp.problem import SharpProblem
from verify.kernel import cone as K
from verify.kernel.cone import fmpq_matrix

#: the 1-norm enumerates the 2^d vertices of the cube up to this dimension
MAX_VERTEX_DIM = 10
#: branch-and-bound nodes of the 1-norm's direction MILP
MILP_NODES = 300
#: z3 resource units for the reduced claim sigma(h) >= m ||h||
REDUCED_BUDGET = 2_000_000
_DENOMINATORS = (1, 2, 10, 100, 10**3, 10**4, 10**6, 10**8, 10**10, 10**12)


def _q(x: Fraction) -> sp.Rational:
    return sp.Rational(x.numerator, x.denominator)


def _frac(x: sp.Expr) -> Fraction:
    return Fraction(int(x.p), int(x.q))


def _s(x: Fraction) -> str:
    return str(x.numerator) if x.denominator == 1 else f"{x.numerator}/{x.denominator}"


class ConeCase:
    """A convex f at a rational point, with sigma = f'(p; .) and its LP data."""

    def __init__(self, problem: SharpProblem, claim: dict, kernel_problem: Any,
                 cone: K.Cone):
        self.problem, self.cone, self.d = problem, cone, problem.dim
        self.claim, self.kernel_problem = claim, kernel_problem
        self.norm = problem.norm
        self.nw = len(cone.forms) - 1
        forms = cone.forms
        self.lin = np.array([[float(a) for a in f.lin] for f in forms])
        self.touching: list = []
        self.tree = programs.Tree(self.lin, [(fi, float(c), kids) for fi, c, kids in
                                             cone.hulls])

    # the weight equations ------------------------------------------------------------------
    def rows(self, root: Fraction, target: Sequence[Fraction], offset: int = 0,
             sign: int = 1) -> tuple[list[dict], list[Fraction]]:
        """Sparse rows (over weight columns offset + 0..nw-1, times ``sign``) and right-hand
        sides of "the weights (root weight ``root``) put ``target`` in the subdifferential"."""
        rows, rhs = [], []
        for fi, c, kids in self.cone.hulls:
            row = {offset + k - 1: Fraction(sign) for k in kids}
            if fi:
                row[offset + fi - 1] = row.get(offset + fi - 1, Fraction(0)) - sign * c
            rows.append(row)
            rhs.append(c * root if fi == 0 else Fraction(0))
        for i in range(self.d):
            row = {offset + F - 1: sign * form.lin[i] for F, form in
                   enumerate(self.cone.forms[1:], start=1) if form.lin[i]}
            rows.append(row)
            rhs.append(target[i] - root * self.cone.forms[0].lin[i])
        return rows, rhs

    # exact membership ------------------------------------------------------------------------
    def member(self, target: Sequence[Fraction]) -> list[Fraction] | None:
        """Exact weights putting ``target`` in the subdifferential, or None."""
        rows, rhs = self.rows(Fraction(1), target)
        x = _solve_standard(rows, rhs, self.nw, np.zeros(self.nw))
        return None if x is None else x

    # directions ------------------------------------------------------------------------------
    def epigraph(self) -> tuple[np.ndarray, np.ndarray]:
        """(cost, A_ub) over (h, t per maximum): sigma(h) = min cost.(h, t) subject to
        A_ub (h, t) <= 0 (t_k at least every child of maximum k)."""
        d, H = self.d, len(self.cone.hulls)
        owned: dict[int, list] = {}
        for k, (fi, c, _) in enumerate(self.cone.hulls):
            owned.setdefault(fi, []).append((k, float(c)))

        def value_row(F: int) -> np.ndarray:
            row = np.zeros(d + H)
            row[:d] = self.lin[F]
            for k, c in owned.get(F, []):
                row[d + k] += c
            return row

        A_ub = []
        for k, (_, _, kids) in enumerate(self.cone.hulls):
            for g in kids:
                row = value_row(g)
                row[d + k] -= 1.0
                A_ub.append(row)
        return value_row(0), np.array(A_ub).reshape(len(A_ub), d + H)

    def direction_lp(self, equality: Sequence[float], lower: np.ndarray, upper: np.ndarray
                     ) -> np.ndarray | None:
        """argmin sigma(h) s.t. equality.h = 1 and lower <= h <= upper (epigraph LP)."""
        d, H = self.d, len(self.cone.hulls)
        cost, A_ub = self.epigraph()
        A_eq = np.zeros((1, d + H))
        A_eq[0, :d] = equality
        res = programs.linear_program(cost, A_eq=A_eq, b_eq=np.ones(1),
                                      A_ub=A_ub if len(A_ub) else None,
                                      b_ub=np.zeros(len(A_ub)) if len(A_ub) else None,
                                      lower=np.concatenate([lower, np.full(H, -np.inf)]),
                                      upper=np.concatenate([upper, np.full(H, np.inf)]))
        return res.x[:d] if res.status == programs.OPTIMAL else None

    def l1_sphere_milp(self) -> tuple[np.ndarray, bool] | None:
        """argmin sigma(h) s.t. ||h||_1 = 1, globally: h = h+ - h-, sum (h+ + h-) = 1, and a
        binary b_i per coordinate with h+_i <= b_i, h-_i <= 1 - b_i (one sign per coordinate,
        so the sum is ||h||_1). A mixed-integer LP with d binaries (HiGHS), stopped after
        :data:`MILP_NODES` nodes with the best h found (the relaxation is weak: h = 0 is in it,
        so proving optimality can take 2^d nodes when many orthants tie). Returns (h, whether
        HiGHS proved it optimal), or None."""
        d, H = self.d, len(self.cone.hulls)
        cost, A_epi = self.epigraph()
        n = d + H + 3 * d                          # h, t, h+, h-, b
        P, N, B = d + H, d + H + d, d + H + 2 * d
        A_eq = np.zeros((d + 1, n))
        for i in range(d):
            A_eq[i, i], A_eq[i, P + i], A_eq[i, N + i] = 1.0, -1.0, 1.0
        A_eq[d, P:B] = 1.0
        b_eq = np.concatenate([np.zeros(d), [1.0]])
        A_ub = np.zeros((len(A_epi) + 2 * d, n))
        A_ub[:len(A_epi), :d + H] = A_epi
        for i in range(d):
            A_ub[len(A_epi) + i, P + i], A_ub[len(A_epi) + i, B + i] = 1.0, -1.0
            A_ub[len(A_epi) + d + i, N + i], A_ub[len(A_epi) + d + i, B + i] = 1.0, 1.0
        b_ub = np.concatenate([np.zeros(len(A_epi) + d), np.ones(d)])
        lower = np.concatenate([np.full(d, -1.0), np.full(H, -np.inf), np.zeros(3 * d)])
        upper = np.concatenate([np.ones(d), np.full(H, np.inf), np.ones(3 * d)])
        integer = np.zeros(n, dtype=bool)
        integer[B:] = True
        res = programs.linear_program(np.concatenate([cost, np.zeros(3 * d)]), A_eq=A_eq,
                                      b_eq=b_eq, A_ub=A_ub, b_ub=b_ub, lower=lower,
                                      upper=upper, integer=integer, node_limit=MILP_NODES)
        if res.status not in (programs.OPTIMAL, programs.FEASIBLE):
            return None
        return res.x[:d], res.status == programs.OPTIMAL

    def ratio(self, h: Sequence[Fraction]) -> sp.Expr:
        """sigma(h) / ||h||, exactly (with a norm term, an algebraic number)."""
        if self.cone.polyhedral:
            return K.upper_bound(self.kernel_problem, self.cone, [_s(c) for c in h])
        hq = [_q(c) for c in h]
        sigma = self.cone.root.expr(self.problem.variables).xreplace(
            dict(zip(self.problem.variables, hq)))
        return sigma / self.kernel_problem.norm_of(hq)

    def float_ratio(self, u: Sequence[Fraction]) -> float:
        """sigma(u) / ||u|| in floating point (for ranking; decisions use :meth:`ratio`)."""
        v = np.array([float(c) for c in u])
        sigma = float(self.tree.evaluate(v[None, :])[0][0])
        return sigma / float(np.linalg.norm(v, {"2": 2, "1": 1, "inf": np.inf}[self.norm]))

    def exact_directions(self, h: np.ndarray) -> list[tuple[tuple[Fraction, ...], float]]:
        """Rational directions near h, simplest first, with their ratios (up to the first
        whose ratio is as small as h's)."""
        h = np.asarray(h, dtype=float)
        top = float(np.max(np.abs(h))) if h.size else 0.0
        if not np.all(np.isfinite(h)) or top == 0:
            return []
        goal = float(self.tree.evaluate((h / top)[None, :])[0][0]) / float(
            np.linalg.norm(h / top, {"2": 2, "1": 1, "inf": np.inf}[self.norm]))
        out, seen = [], set()
        for D in _DENOMINATORS:
            u = tuple(Fraction(float(c) / top).limit_denominator(D) for c in h)
            if u in seen or not any(u):
                continue
            seen.add(u)
            r = self.float_ratio(u)
            out.append((u, r))
            if r <= goal + 1e-12 * (1 + abs(goal)):
                break
        return out


def analyse(problem: SharpProblem) -> ConeCase | None:
    """The cone data of f at the point when the kernel recognises f as convex, else None."""
    claim = problem.claim()
    try:
        kernel_problem, cone = K.analyze(claim)
    except (ValueError, ZeroDivisionError):    # NotRecognised, or data the kernel rejects
        return None
    return ConeCase(problem, claim, kernel_problem, cone)


# --------------------------------------------------------------------------------------------
# exact solutions of standard-form LPs (A x = b, x >= 0)
# --------------------------------------------------------------------------------------------

def _to_dense(rows: Sequence[dict], n: int) -> np.ndarray:
    A = np.zeros((len(rows), n))
    for r, row in enumerate(rows):
        for j, v in row.items():
            A[r, j] = float(v)
    return A


def _holds(rows: Sequence[dict], rhs: Sequence[Fraction], x: Sequence[Fraction]) -> bool:
    if any(v < 0 for v in x):
        return False
    return all(sum((c * x[j] for j, c in row.items()), Fraction(0)) == b
               for row, b in zip(rows, rhs))


def _solve_standard(rows: Sequence[dict], rhs: Sequence[Fraction], n: int, cost: np.ndarray
                    ) -> list[Fraction] | None:
    """An exact vertex of {A x = b, x >= 0} minimizing cost (HiGHS, then exact recovery)."""
    if n == 0:
        return [] if _holds(rows, rhs, []) else None
    res = programs.linear_program(cost, A_eq=_to_dense(rows, n),
                                  b_eq=np.array([float(b) for b in rhs]))
    if res.status != programs.OPTIMAL:
        return None
    return exact_vertex(rows, rhs, res.x)


def exact_vertex(rows: Sequence[dict], rhs: Sequence[Fraction], x: np.ndarray
                 ) -> list[Fraction] | None:
    """Exact x >= 0 with A x = b near the float vertex x: simple roundings first, then the
    exact solution on the support of x (python-flint), checked exactly."""
    n = len(x)
    scale = max(1.0, float(np.max(np.abs(x)))) if n else 1.0
    tiny = np.abs(x) <= 1e-9 * scale
    for D in _DENOMINATORS[2:9]:
        xr = [Fraction(0) if t else Fraction(float(v)).limit_denominator(D)
              for v, t in zip(x, tiny)]
        if _holds(rows, rhs, xr):
            return xr
    support = [j for j in range(n) if not tiny[j]]
    solution = _support_solve(rows, rhs, support)
    if solution is None:
        return None
    xr = [Fraction(0)] * n
    for j, v in zip(support, solution):
        xr[j] = v
    return xr if _holds(rows, rhs, xr) else None


def _support_solve(rows: Sequence[dict], rhs: Sequence[Fraction], support: Sequence[int]
                   ) -> list[Fraction] | None:
    col = {j: k for k, j in enumerate(support)}
    if not rows:
        return [Fraction(0)] * len(support)
    A = [[Fraction(0)] * len(support) for _ in rows]
    for r, row in enumerate(rows):
        for j, v in row.items():
            if j in col:
                A[r][col[j]] = v
    y = rref_solution(fmpq_matrix(A), fmpq_matrix([[b] for b in rhs]))
    return None if y is None else [Fraction(int(v.p), int(v.q)) for v in y]


def rref_solution(A: Any, b: Any) -> list | None:
    """An exact solution of A y = b (flint matrices; free variables 0), or None when the
    system is inconsistent."""
    import flint

    m, k = A.nrows(), A.ncols()
    R, rank = flint.fmpq_mat(m, k + 1, [A[i, j] if j < k else b[i, 0] for i in range(m)
                                        for j in range(k + 1)]).rref()
    y = [flint.fmpq(0)] * k
    for r in range(rank):
        lead = next(c for c in range(k + 1) if R[r, c] != 0)
        if lead == k:
            return None
        y[lead] = R[r, k]
    return y
