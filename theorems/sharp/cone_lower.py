"""Lower bounds for the convex cone decider: certificates that alpha* >= m.

Dominguez Corella, Definition 1: for a convex f, alpha* >= m exactly when
f'(p; h) >= m ||h|| for all h, i.e. m B_* lies in the subdifferential. The certificates are
those of the kernel's ``convex-cone`` kind (:mod:`verify.kernel.cone`): exact weights for the
vertices of m B_* (inf: +-m e_i; 1: an affine family in the sign vector, or the 2^d vertices),
a degree-2 S-lemma certificate (2-norm; an SDP rounded to rationals, with a facial reduction
step at the tight modulus), or z3 and cvc5 on the reduced claim. Every one is re-checked by
the kernel's own functions before it is returned.
"""

from __future__ import annotations

from fractions import Fraction
from itertools import product
from typing import Sequence

import numpy as np
import sympy as sp

from numerics import cone_programs as programs
from theorems.exact import Budget, solve
from theorems.sharp.cone_case import (MAX_VERTEX_DIM, ConeCase, _frac, _s, _solve_standard,
                                      fmpq_matrix, rref_solution)
from theorems.sharp.cone_upper import _best_of
from verify.errors import UnsupportedFunction
from verify.kernel import cone as K
from verify.kernel.sharp import sharp_queries
from verify.kernel.smt import confirm_unsat

# --------------------------------------------------------------------------------------------
# lower bounds: certificates that alpha* >= m
# --------------------------------------------------------------------------------------------

def _members(case: ConeCase, targets: Sequence[Sequence[Fraction]]) -> list | None:
    out = []
    for target in targets:
        w = case.member(target)
        if w is None:
            return None
        out.append([_s(v) for v in w])
    return out


def _targets(case: ConeCase, m: Fraction, norm: str) -> list[tuple[Fraction, ...]]:
    d = case.d
    if norm == "inf":
        return [tuple(s * m if j == i else Fraction(0) for j in range(d)) for i in range(d)
                for s in (1, -1)]
    return [tuple(s * m for s in signs) for signs in product((1, -1), repeat=d)]


def _affine(case: ConeCase, m: Fraction | None) -> tuple[dict, Fraction] | None:
    """Weights w(s) = base + sum_i s_i (P_i - N_i), affine in the sign vector s, putting r s
    in the subdifferential for every s at once (base >= sum_i (P_i + N_i), so w(s) >= 0):
    r = m, or the largest such r when m is None. Returns ({base, slopes}, r)."""
    d, nw = case.d, case.nw
    slack = nw * (2 * d + 1)
    n = nw * (2 * d + 2) + (1 if m is None else 0)
    rows, rhs = case.rows(Fraction(1), [Fraction(0)] * d)
    for i in range(d):
        target = [m if (j == i and m is not None) else Fraction(0) for j in range(d)]
        plus, b = case.rows(Fraction(0), target, offset=nw * (1 + 2 * i))
        minus, _ = case.rows(Fraction(0), target, offset=nw * (2 + 2 * i), sign=-1)
        merged = [{**p_row, **m_row} for p_row, m_row in zip(plus, minus)]
        if m is None:
            merged[len(case.cone.hulls) + i][n - 1] = Fraction(-1)
        rows += merged
        rhs += b
    for j in range(nw):
        row = {j: Fraction(1), slack + j: Fraction(-1)}
        for block in range(1, 2 * d + 1):
            row[nw * block + j] = Fraction(-1)
        rows.append(row)
        rhs.append(Fraction(0))
    cost = np.zeros(n)
    if m is None:
        cost[-1] = -1.0
    x = _solve_standard(rows, rhs, n, cost)
    if x is None:
        return None
    base = x[:nw]
    slopes = [[x[nw * (1 + 2 * i) + j] - x[nw * (2 + 2 * i) + j] for j in range(nw)]
              for i in range(d)]
    r = m if m is not None else x[-1]
    return {"base": [_s(v) for v in base], "slopes": [[_s(v) for v in s] for s in slopes]}, r


def _lift(case: ConeCase, h: Sequence[Fraction]) -> list[Fraction]:
    """z(h) = (h, the value of each maximum at h): the lifted point of the S-lemma."""
    cone = case.cone
    values = [Fraction(0)] * len(cone.forms)
    owned: dict[int, list] = {}
    for k, (fi, c, kids) in enumerate(cone.hulls):
        owned.setdefault(fi, []).append((k, c, kids))
    t = [Fraction(0)] * len(cone.hulls)
    for F in range(len(cone.forms) - 1, -1, -1):
        v = K._dot(cone.forms[F].lin, h)
        for k, c, kids in owned.get(F, []):
            t[k] = max(values[g] for g in kids)
            v += c * t[k]
        values[F] = v
    return list(h) + t


def _slemma(case: ConeCase, m2: Fraction, touching: Sequence[Sequence[Fraction]] = ()
            ) -> dict | None:
    """A degree-2 S-lemma certificate of sigma(h)^2 >= m2 ||h||^2 (SDP, rounded, checked).

    With ``touching`` (exact directions where sigma(h)^2 = m2 ||h||^2, the tight case) the
    certificate must vanish on their lifts z: products with l_p(z) l_q(z) > 0 are left out,
    S z = 0 is imposed, the SDP maximizes the least eigenvalue on the complement of the z, and
    the rounded multipliers are projected exactly back onto S z = 0 (facial reduction)."""
    n, target, constraints, equalities = K.slemma_target(case.cone, m2)
    same, start = set(), 0     # the two constraints of a two-child maximum: an equality
    for _, _, kids in case.cone.hulls:
        if len(kids) == 2:
            same.add((start, start + 1))
        start += len(kids)
    Z = [_lift(case, h) for h in touching]

    def at(row: dict, z: Sequence[Fraction]) -> Fraction:
        return sum((c * z[i] for i, c in row.items()), Fraction(0))

    pairs = [(p, q) for p in range(len(constraints)) for q in range(p + 1, len(constraints))
             if (p, q) not in same and all(at(constraints[p], z) * at(constraints[q], z) == 0
                                           for z in Z)]
    E_exact = [K.symmetric_matrix(E, n) for E in equalities]
    T_exact = K.symmetric_matrix(target, n)
    # S(y) z = 0 for each lift: rows sum_k y_k (M_k z)_i = (T z)_i, with the product
    # matrices M_pq z = (c_p (c_q.z) + c_q (c_p.z)) / 2
    eq_rows: list[list[Fraction]] = []
    eq_rhs: list[Fraction] = []
    for z in Z:
        cz = [at(row, z) for row in constraints]
        Ez = [[sum((M[i][j] * z[j] for j in range(n)), Fraction(0)) for i in range(n)]
              for M in E_exact]
        for i in range(n):
            eq_rows.append([(constraints[p].get(i, Fraction(0)) * cz[q]
                             + constraints[q].get(i, Fraction(0)) * cz[p]) / 2
                            for p, q in pairs] + [e[i] for e in Ez])
            eq_rhs.append(sum((T_exact[i][j] * z[j] for j in range(n)), Fraction(0)))
    V = _complement(Z, n)
    if V.shape[1] == 0:        # the lifts span everything: S = 0, a linear system in y
        return _round_slemma(case, m2, pairs, eq_rows, eq_rhs, _exact_identity(
            len(pairs), len(E_exact), eq_rows, eq_rhs))

    def floats(M):
        return V.T @ np.array([[float(v) for v in row] for row in M]) @ V

    C = np.array([[float(row.get(j, 0)) for j in range(n)] for row in constraints]) @ V \
        if constraints else np.zeros((0, V.shape[1]))
    products = [0.5 * (np.outer(C[p], C[q]) + np.outer(C[q], C[p])) for p, q in pairs]
    T = floats(T_exact)
    scale = max(1.0, float(np.max(np.abs(T))))
    sdp = (T / scale, [M / scale for M in products] + [floats(M) / scale for M in E_exact],
           len(pairs))
    eqs = {"A_eq": np.array([[float(v) for v in r] for r in eq_rows]) if eq_rows else None,
           "b_eq": np.array([float(v) for v in eq_rhs]) if eq_rows else None}
    status, y, t = programs.max_min_eigenvalue(*sdp, t_max=1.0, **eqs)
    if status != programs.OPTIMAL:             # a box on the multipliers, slower but steadier
        status, y, t = programs.max_min_eigenvalue(*sdp, t_max=1.0, bound=1e4, **eqs)
    if status != programs.OPTIMAL or t is None or t < -1e-7:
        return None
    return _round_slemma(case, m2, pairs, eq_rows, eq_rhs, y)


def _exact_identity(products: int, equalities: int, eq_rows: Sequence[Sequence[Fraction]],
                    eq_rhs: Sequence[Fraction]) -> np.ndarray | None:
    """Multipliers y (products >= 0) with eq_rows y = eq_rhs, by an LP (floats)."""
    if not eq_rows:
        return None
    res = programs.linear_program(np.zeros(products + equalities),
                                  A_eq=np.array([[float(v) for v in r] for r in eq_rows]),
                                  b_eq=np.array([float(v) for v in eq_rhs]),
                                  lower=np.concatenate([np.zeros(products),
                                                        np.full(equalities, -np.inf)]))
    return res.x if res.status == programs.OPTIMAL else None


def _round_slemma(case: ConeCase, m2: Fraction, pairs: Sequence[tuple[int, int]],
                  eq_rows: Sequence[Sequence[Fraction]], eq_rhs: Sequence[Fraction],
                  y: np.ndarray | None) -> dict | None:
    """The S-lemma multipliers y rounded to rationals (then projected exactly onto the
    equations of the tight case), as a proof the kernel accepts, or None."""
    if y is None:
        return None
    for D in (10**2, 10**4, 10**6, 10**8, 10**10):
        yq = [Fraction(max(v, 0.0) if k < len(pairs) else float(v)).limit_denominator(D)
              for k, v in enumerate(y)]
        if eq_rows:
            yq = _project(eq_rows, eq_rhs, yq)
            if yq is None:
                continue
        lam, nu = yq[:len(pairs)], yq[len(pairs):]
        proof = {"products": [[p, q, _s(v)] for (p, q), v in zip(pairs, lam) if v],
                 "equalities": [[k, _s(v)] for k, v in enumerate(nu) if v]}
        if all(v >= 0 for v in lam) and \
                K.slemma_holds(case.cone, m2, proof["products"], proof["equalities"])[0]:
            return proof
    return None


def _complement(Z: Sequence[Sequence[Fraction]], n: int) -> np.ndarray:
    """An orthonormal (float) basis of the complement of span(Z) in R^n."""
    if not Z:
        return np.eye(n)
    A = np.array([[float(v) for v in z] for z in Z])
    _, sing, vt = np.linalg.svd(A)
    rank = int(np.sum(sing > 1e-12 * max(1.0, sing[0])))
    return vt[rank:].T


def _project(rows: Sequence[Sequence[Fraction]], rhs: Sequence[Fraction],
             y: Sequence[Fraction]) -> list[Fraction] | None:
    """The exact orthogonal projection of y onto {y : rows y = rhs} (python-flint)."""
    A, yv = fmpq_matrix(rows), fmpq_matrix([[v] for v in y])
    u = rref_solution(A * A.transpose(), fmpq_matrix([[b] for b in rhs]) - A * yv)
    if u is None:
        return None
    step = A.transpose() * fmpq_matrix([[Fraction(int(v.p), int(v.q))] for v in u])
    return [y[i] + Fraction(int(step[i, 0].p), int(step[i, 0].q)) for i in range(len(y))]


def _reduced_smt(case: ConeCase, m: sp.Expr, budget: Budget
                 ) -> tuple[list[str] | None, tuple[Fraction, ...] | None]:
    """z3 (then cvc5) on sigma(h) >= m ||h||: (texts, None) when refuted by both, (None, h)
    for a violating direction from a z3 model, (None, None) otherwise."""
    reduced = K.reduced_claim(case.claim, case.cone)
    try:
        texts = sharp_queries(reduced, m)
    except (UnsupportedFunction, ValueError):
        return None, None
    for text in texts:
        answer = solve(text, budget)
        if answer.result == "sat":
            values = answer.values()
            h = tuple(Fraction(str(values.get(v.name, 0))) for v in case.problem.variables)
            return None, h if any(h) else None
        if answer.result != "unsat":
            return None, None
    ok, _ = confirm_unsat(texts)
    return (texts if ok else None), None


def _certificate(case: ConeCase, m: sp.Expr, proof: dict | None) -> dict | None:
    """The ``convex-cone`` certificate of ``proof`` when the kernel's check accepts it."""
    if proof is None:
        return None
    cert = {"kind": "convex-cone", "modulus": str(m), **proof}
    ok, _ = K.lower_bound_holds(case.claim, case.cone, m, cert)
    return cert if ok else None


def prove_lower(case: ConeCase, m: sp.Expr, *, vertices: bool = True,
                touching: Sequence[Sequence[Fraction]] = ()) -> dict | None:
    """A ``convex-cone`` certificate that alpha* >= m, i.e. f'(p; h) >= m ||h|| for all h
    (Dominguez Corella, Definition 1 through the directional derivative), or None. The
    1-norm tries the affine family of weights, then (``vertices``, d <= MAX_VERTEX_DIM) the
    2^d vertices of the cube; the 2-norm tries the 1-norm's affine family first (a rational
    m: sigma >= m ||h||_1 >= m ||h||_2), then an S-lemma certificate, a tight one with
    ``touching`` directions where sigma(h) = m ||h||."""
    proof: dict | None = None
    norm = "inf" if case.d == 1 else case.norm
    if m == 0:
        w = case.member([Fraction(0)] * case.d)
        proof = None if w is None else {"zero": [_s(v) for v in w]}
    elif norm == "inf" and m.is_Rational:
        members = _members(case, _targets(case, _frac(m), "inf"))
        proof = None if members is None else {"members": members}
    elif norm == "1" and m.is_Rational:
        found = _affine(case, _frac(m))
        if found is not None:
            proof = {"affine": found[0]}
        elif vertices and case.d <= MAX_VERTEX_DIM:
            proof = _vertices(case, _frac(m))[0]
    elif norm == "2" and sp.expand(m ** 2).is_Rational:
        via = _affine(case, _frac(m)) if m.is_Rational and not touching else None
        cert = None if via is None else _certificate(case, m, {"via": "1", "affine": via[0]})
        if cert is not None:                            # sigma >= m ||h||_1 >= m ||h||_2
            return cert
        found = _slemma(case, _frac(sp.expand(m ** 2)), touching)
        proof = None if found is None else {"slemma": found}
    return _certificate(case, m, proof)


def _vertices(case: ConeCase, m: Fraction) -> tuple[dict | None, tuple | None]:
    """The 2^d vertices m s of the cube one by one: ({members}, None) when all are in the
    subdifferential; (None, (h, ratio)) with the direction LP of the first that is not."""
    members = []
    for target in _targets(case, m, "1"):
        w = case.member(target)
        if w is None:
            s = np.array([1.0 if c > 0 else -1.0 for c in target])
            h = case.direction_lp(s, np.where(s > 0, 0.0, -np.inf),
                                  np.where(s > 0, np.inf, 0.0))
            return None, _best_of(case, [h])
        members.append([_s(v) for v in w])
    return {"members": members}, None
