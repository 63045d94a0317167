"""Upper bounds for the convex cone decider: directions with small f'(p; h) / ||h||.

alpha* <= f'(p; h) / ||h|| for every h (Dominguez Corella, Definition 1: the ratio tends to it
along p + t h). The direction LPs minimize sigma = f'(p; .) on the facets of the unit sphere of
the norm (inf: h_i = +-1 in the cube; 1: s.h = 1 on an orthant, the orthant chosen by one
mixed-integer LP over the whole 1-sphere); the 2-norm uses a subgradient
search on the sphere, tangent-plane LP steps (each lowers the ratio, with the normal of the
nearest facet of the subdifferential as fixed point) and the exact point of least norm of the
exposed face. Ratios are exact (the kernel's sigma), the search is floating point.
"""

from __future__ import annotations

from fractions import Fraction
from itertools import product
from typing import Sequence

import numpy as np

from numerics import cone_programs as programs
from theorems.sharp.cone_case import MAX_VERTEX_DIM, ConeCase, fmpq_matrix, rref_solution
from verify.kernel import cone as K

# --------------------------------------------------------------------------------------------
# upper bounds: directions with small sigma(h) / ||h||
# --------------------------------------------------------------------------------------------

def _facets(case: ConeCase, candidates: Sequence[Sequence[int]] | None = None):
    """The facets of the unit sphere of the norm as (equality, lower, upper) for the
    direction LP: h_i = +-1 in the cube (inf), s.h = 1 on the orthant of s (1)."""
    d = case.d
    if case.norm == "inf" or d == 1:
        for i in range(d):
            for s in (1.0, -1.0):
                e = np.zeros(d)
                e[i] = s
                yield e, -np.ones(d), np.ones(d)
        return
    for signs in candidates if candidates is not None else product((1, -1), repeat=d):
        s = np.array(signs, dtype=float)
        yield s, np.where(s > 0, 0.0, -np.inf), np.where(s > 0, np.inf, 0.0)


def _best_of(case: ConeCase, hs: Sequence[np.ndarray], best: tuple | None = None
             ) -> tuple | None:
    """(u, sigma(u)/||u|| exactly) for the rational direction of least ratio near the hs (and
    ``best``, a previous such pair)."""
    pool = [] if best is None else [(best[0], float(best[1]))]
    for h in hs:
        if h is not None:
            pool += case.exact_directions(h)
    if not pool:
        return None
    u, _ = min(pool, key=lambda item: item[1])
    return u, case.ratio(u)


def _sign_candidates(case: ConeCase, seed: int) -> list[tuple[int, ...]]:
    """Orthants worth trying for the 1-norm: signs of the best sphere directions, and their
    neighbours through the coordinates near 0."""
    H, _ = programs.sphere_search(case.tree, case.d, seed=seed, starts=16, steps=150)
    out: list[tuple[int, ...]] = []
    for h in H[:8]:
        s = tuple(1 if c >= 0 else -1 for c in h)
        for cand in [s] + [s[:i] + (-s[i],) + s[i + 1:] for i in np.argsort(np.abs(h))[:3]]:
            if cand not in out:
                out.append(cand)
    return out


def upper(case: ConeCase, *, seed: int = 0, exhaustive: bool = False) -> tuple | None:
    """(h, sigma(h)/||h||) exactly, for the least ratio found: the direction LPs on the
    facets of the unit sphere (inf: all 2d of them, a global minimum); 1: the mixed-integer
    LP over the whole sphere and the facet LP on the orthant it picks (a global minimum when
    HiGHS proves it within its node limit), else, or when ``exhaustive`` and the MILP is not
    proved optimal, the facet LPs on likely orthants, or on all of them when ``exhaustive`` and
    d <= MAX_VERTEX_DIM; 2: the polished sphere search."""
    if case.norm == "2" and case.d > 1:
        return _sphere_upper(case, seed)
    best = None
    if case.norm == "1" and case.d > 1:
        milp = case.l1_sphere_milp()
        if milp is not None:
            h, optimal = milp
            s = np.where(h >= 0, 1.0, -1.0)
            best = _best_of(case, [h, case.direction_lp(s, np.where(s > 0, 0.0, -np.inf),
                                                        np.where(s > 0, np.inf, 0.0))])
            if best is not None and (optimal or not exhaustive):
                return best
        cands = None if exhaustive and case.d <= MAX_VERTEX_DIM else \
            _sign_candidates(case, seed)
        facets = _facets(case, cands)
    else:
        facets = _facets(case)
    hs = [case.direction_lp(e, lo, hi) for e, lo, hi in facets]
    return _best_of(case, hs, best)


_FACE_TOLERANCES = (1e-9, 1e-6, 1e-4, 1e-3, 1e-2, 3e-2, 1e-1)


def _sphere(case: ConeCase, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The sphere search of the 2-norm (directions, their sigma; best first), once per case
    and seed."""
    cache = case.__dict__.setdefault("_sphere_cache", {})
    if seed not in cache:
        cache[seed] = programs.sphere_search(case.tree, case.d, seed=seed, starts=24,
                                             steps=150)
    return cache[seed]


def quick_upper(case: ConeCase, *, seed: int = 0) -> tuple | None:
    """(h, sigma(h)/||h||) exactly from the best direction of the sphere search (2-norm),
    walked by tangent-plane LPs, without the face points and the other starts of
    :func:`upper`: cheap, so the decider tries it before any proof."""
    H, _ = _sphere(case, seed)
    if not len(H):
        return None
    pool = _walk(case, H[0], faces=False)
    if not pool:
        return None
    u, _ = min(pool, key=lambda item: item[1])
    return u, case.ratio(u)


def _sphere_upper(case: ConeCase, seed: int) -> tuple | None:
    """The sphere search (2-norm), each of its best directions then walked from face to face
    of the subdifferential (:func:`_walk`). Also records in ``case.touching`` every exact
    direction found whose ratio equals the least one (for the tight S-lemma)."""
    H, _ = _sphere(case, seed)
    pool: list[tuple[tuple[Fraction, ...], float]] = []
    seen: list[np.ndarray] = []
    for h in H:
        if any(np.linalg.norm(h - s) < 1e-6 for s in seen):
            continue
        seen.append(h)
        if len(seen) > 6:
            break
        pool += _walk(case, h)
    if not pool:
        return None
    u, low = min(pool, key=lambda item: item[1])
    best = _squared_ratio(case, u)
    touching = []
    for v, r in pool:
        if r > low + 1e-9 * (1 + abs(low)):
            continue
        top = max(abs(c) for c in v)
        w = tuple(c / top for c in v)
        if w not in touching and _squared_ratio(case, w) == best:
            touching.append(w)
    case.touching = touching
    return u, case.ratio(u)


def _walk(case: ConeCase, h: np.ndarray, steps: int = 12, faces: bool = True) -> list:
    """Tangent-plane steps from h: h' = argmin sigma on the plane {h.h' = 1} (an LP) gives
    sigma(h') / ||h'|| <= sigma(h') <= sigma(h) for a unit h, a fixed point at the normal of
    the nearest facet of the subdifferential. Then rational directions near the last point
    and (``faces``) the exact points of least norm of the faces it exposes."""
    current = np.asarray(h, dtype=float) / max(float(np.linalg.norm(h)), 1e-300)
    best = float(case.tree.evaluate(current[None, :])[0][0])
    box = np.full(case.d, 10.0)
    for _ in range(steps):
        nxt = case.direction_lp(current, -box, box)
        if nxt is None or not np.any(nxt):
            break
        ratio = float(case.tree.evaluate(nxt[None, :])[0][0]) / float(np.linalg.norm(nxt))
        if ratio >= best - 1e-13 * (1 + abs(best)):
            break
        best, current = ratio, nxt / np.linalg.norm(nxt)
    pool = list(case.exact_directions(current))
    for tol in _FACE_TOLERANCES if faces else ():
        c = _face_point(case, current, tol)
        if c is not None:
            pool += case.exact_directions(c)
    return pool


def _squared_ratio(case: ConeCase, u: Sequence[Fraction]) -> tuple[int, Fraction]:
    """(sign of sigma(u), sigma(u)^2 / ||u||_2^2), exactly."""
    sigma = case.cone.root.value(u)
    return (1 if sigma > 0 else (-1 if sigma < 0 else 0)), sigma ** 2 / K._dot(u, u)


def _face_point(case: ConeCase, h: np.ndarray, tol: float) -> np.ndarray | None:
    """The point of least norm of the affine hull of the face of the subdifferential that h
    exposes (active pieces within ``tol``), as a float direction (computed exactly)."""
    cone, lin = case.cone, case.lin
    h = np.asarray(h, dtype=float) / max(float(np.linalg.norm(h)), 1e-300)
    values = case.tree.values(h)[0][0]
    owned: dict[int, list] = {}
    for fi, c, kids in cone.hulls:
        owned.setdefault(fi, []).append((c, kids))
    scale = tol * max(abs(values[0]), 1e-9 * float(np.max(np.abs(lin))))

    def hull_of(F: int) -> tuple[list[Fraction], list[list[Fraction]]]:
        point = list(cone.forms[F].lin)
        dirs: list[list[Fraction]] = []
        for c, kids in owned.get(F, []):
            top = max(values[k] for k in kids)
            active = [k for k in kids if values[k] >= top - scale]
            first, fdirs = hull_of(active[0])
            dirs += [[c * v for v in w] for w in fdirs]
            for k in active[1:]:
                pk, kd = hull_of(k)
                dirs += [[c * v for v in w] for w in kd]
                dirs.append([c * (a - b) for a, b in zip(pk, first)])
            point = [a + c * b for a, b in zip(point, first)]
        return point, dirs

    a0, dirs = hull_of(0)
    c_star = _least_norm(a0, dirs)
    if c_star is None or not any(c_star):
        return None
    return np.array([float(v) for v in c_star])


def _least_norm(a0: list[Fraction], dirs: list[list[Fraction]]) -> list[Fraction] | None:
    """a0 minus its orthogonal projection on span(dirs), exactly (python-flint)."""
    import flint

    dirs = [w for w in dirs if any(w)]
    if not dirs:
        return a0
    D, a = fmpq_matrix(dirs), fmpq_matrix([[v] for v in a0])
    y = rref_solution(D * D.transpose(), D * a)
    if y is None:
        return None
    c = a - D.transpose() * flint.fmpq_mat(len(dirs), 1, y)
    return [Fraction(int(c[i, 0].p), int(c[i, 0].q)) for i in range(len(a0))]
