"""Functions whose sharpness modulus is known by construction (Dominguez Corella).

Used by the registered checks, by the test suite and by :mod:`verify.strategies`: convex
polyhedral + quadratic functions (the modulus is the in-radius of the polytope in the dual
norm), their nonconvex capped and dipped variants, piecewise functions of one variable, and
convex families in any dimension (weighted sums and maxima of |linear forms| under signed
permutations and Householder rotations, tilted boxes, simplices).
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations
from typing import Any, Sequence

import numpy as np
import sympy as sp

from theorems.sharp.problem import SharpProblem


@dataclass(frozen=True)
class KnownSharp:
    """f with a point and its sharpness modulus in each norm, known by construction."""

    name: str
    f: sp.Expr
    variables: tuple[sp.Symbol, ...]
    point: tuple[sp.Expr, ...]
    modulus: dict[str, sp.Expr]
    convex: bool

    def problem(self, norm: str = "2") -> SharpProblem:
        return SharpProblem(self.f, self.variables, self.point, norm)

    def claim(self, kind: str, value: Any, *, norm: str = "2", id: str = "",
              **fields: Any) -> Any:
        """A claim of ``kind`` about this function with the number field set to ``value``
        (modulus, value or radius), built by the kind's constructor."""
        from theorems.sharp import kinds

        return kinds.CONSTRUCTORS[kind](self.f, self.point, value, norm=norm,
                                        variables=self.variables, id=id, **fields)


def _vars(dim: int) -> tuple[sp.Symbol, ...]:
    return tuple(sp.Symbol(f"x{i + 1}", real=True) for i in range(dim))


def polytope_function(normals: Sequence[Sequence[int]], offsets: Sequence[Any],
                      point: Sequence[Any], tail: str = "square", weight: Any = 1,
                      name: str = "polytope") -> KnownSharp:
    r"""f(x) = \sigma_P(x - p) + tail, with P = {xi : <n_j, xi> <= h_j} (0 in its interior).

    ``tail`` is ``"square"`` (+ w ||x - p||^2: convex), ``"capped"`` (+ Min(||x - p||^2, w):
    nonconvex, same modulus) or ``"dip"`` (- Min(||x - p||^2, w): nonconvex, 2-norm modulus
    alpha_P - sqrt(w)). The subdifferential of sigma_P at 0 is P, so the modulus in a norm is the
    in-radius of P in the dual norm: min_j h_j / ||n_j||_dual.
    """
    dim = len(point)
    xs = _vars(dim)
    N = [sp.Matrix([list(map(sp.Integer, n))]) for n in normals]
    h = [sp.nsimplify(v) for v in offsets]
    if any(not v > 0 for v in h):
        raise ValueError("offsets must be positive (0 must be interior to P)")
    vertices = set()
    for rows in combinations(range(len(N)), dim):
        A = sp.Matrix.vstack(*[N[i] for i in rows])
        if A.det() == 0:
            continue
        v = A.LUsolve(sp.Matrix([h[i] for i in rows]))
        if all((N[j] * v)[0] <= h[j] for j in range(len(N))):
            vertices.add(tuple(v))
    if len(vertices) < dim + 1:
        raise ValueError("the constraints do not describe a bounded polytope with 0 inside")
    d = [x - sp.nsimplify(p) for x, p in zip(xs, point)]
    support = sp.Max(*[sum(c * di for c, di in zip(v, d)) for v in sorted(vertices, key=str)])
    sq = sum(di**2 for di in d)
    w = sp.nsimplify(weight)
    # Largest r with r * (dual unit ball) inside P: the support of the dual ball of the primal
    # norm in direction n is ||n|| in the primal norm itself, so r = min_j h_j / ||n_j||.
    dual = {"2": lambda n: sp.sqrt(sum(c**2 for c in n)), "1": lambda n: sum(abs(c) for c in n),
            "inf": lambda n: max(abs(c) for c in n)}
    radius = {k: min(hj / fn(n) for n, hj in zip(normals, h)) for k, fn in dual.items()}
    if tail == "square":
        f, convex = support + w * sq, True
    elif tail == "capped":
        f, convex = support + sp.Min(sq, w), False
    elif tail == "dip":
        f, convex = support - sp.Min(sq, w), False
        radius = {"2": radius["2"] - sp.sqrt(w)}
        if not radius["2"] > 0:
            raise ValueError("the dip is deeper than the in-radius: not sharp")
    else:
        raise ValueError(f"unknown tail {tail!r}")
    return KnownSharp(name, f, xs, tuple(sp.nsimplify(p) for p in point), radius, convex)


def random_polytope_function(rng: np.random.Generator, dim: int = 2,
                             tail: str = "square") -> KnownSharp:
    """A random instance of :func:`polytope_function` (integer normals, positive offsets)."""
    while True:
        m = dim + int(rng.integers(1, 4))
        normals = [list(rng.integers(-3, 4, size=dim)) for _ in range(m - 1)]
        normals.append([-sum(col) for col in zip(*normals)])
        if any(all(c == 0 for c in n) for n in normals):
            continue
        if np.linalg.matrix_rank(np.array(normals, dtype=float)) < dim:
            continue
        offsets = [sp.Rational(int(rng.integers(1, 9)), int(rng.integers(1, 3))) for _ in normals]
        point = [int(v) for v in rng.integers(-2, 3, size=dim)]
        weight = sp.Rational(int(rng.integers(1, 5)), 4)
        try:
            known = polytope_function(normals, offsets, point, tail=tail, weight=weight,
                                      name=f"polytope-{tail}-{dim}d")
        except ValueError:
            continue
        if tail == "dip":
            known = polytope_function(normals, offsets, point, tail=tail,
                                      weight=min(weight, (known.modulus["2"] + sp.sqrt(weight))
                                                 ** 2 / 4), name=f"polytope-dip-{dim}d")
        return known


def random_piecewise_1d(rng: np.random.Generator, nonconvex: bool = False) -> KnownSharp:
    """a+ max(x - p, 0) + a- max(p - x, 0) + tail: modulus min(a+, a-)."""
    (x,) = _vars(1)
    p = sp.Rational(int(rng.integers(-4, 5)), int(rng.integers(1, 4)))
    a_plus = sp.Rational(int(rng.integers(1, 12)), int(rng.integers(1, 5)))
    a_minus = sp.Rational(int(rng.integers(1, 12)), int(rng.integers(1, 5)))
    w = sp.Rational(int(rng.integers(1, 9)), 4)
    tail = sp.Min((x - p) ** 2, w) if nonconvex else w * (x - p) ** 2
    f = a_plus * sp.Max(x - p, 0) + a_minus * sp.Max(p - x, 0) + tail
    alpha = min(a_plus, a_minus)
    return KnownSharp("piecewise-1d" + ("-nonconvex" if nonconvex else ""), f, (x,), (p,),
                      {"2": alpha, "1": alpha, "inf": alpha}, not nonconvex)


#: the generated kinds, in their order: convex polyhedral + square, capped (nonconvex, same
#: modulus), dipped (nonconvex, 2-norm modulus alpha_P - sqrt(w)), 1-D convex, 1-D nonconvex
FAMILY_KINDS = ("square", "capped", "dip", "piecewise-1d", "piecewise-1d-nonconvex")


def generated_family(seed: int, count: int = 6, kinds: tuple[str, ...] = FAMILY_KINDS
                     ) -> list[KnownSharp]:
    """``count`` functions with known moduli, cycling through ``kinds`` (of
    :data:`FAMILY_KINDS`), drawn from ``seed``."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(count):
        kind = FAMILY_KINDS.index(kinds[i % len(kinds)])
        if kind == 0:
            out.append(random_polytope_function(rng, 2, "square"))
        elif kind == 1:
            out.append(random_polytope_function(rng, 2, "capped"))
        elif kind == 2:
            out.append(random_polytope_function(rng, 2, "dip"))
        elif kind == 3:
            out.append(random_piecewise_1d(rng, nonconvex=False))
        else:
            out.append(random_piecewise_1d(rng, nonconvex=True))
    return out


def known_from_toy(toy: Any) -> KnownSharp:
    return KnownSharp(toy.name, toy.expr, toy.variables, toy.point, toy.facts["modulus"],
                      toy.facts.get("convex", False))


def toys() -> list[KnownSharp]:
    """The sharp toys of :mod:`theorems.toys` with their moduli."""
    from theorems import toys as catalog

    return [known_from_toy(t) for t in catalog.SHARP_TOYS]


# --------------------------------------------------------------------------------------------
# convex families in any dimension (the convex cone decider's test and benchmark families)
# --------------------------------------------------------------------------------------------

def signed_permutation(rng: np.random.Generator, dim: int) -> sp.Matrix:
    """A random signed permutation matrix (an isometry of every p-norm)."""
    Q = sp.zeros(dim, dim)
    for i, j in enumerate(rng.permutation(dim)):
        Q[i, int(j)] = 1 if rng.integers(0, 2) else -1
    return Q


def householder(v: Sequence[int]) -> sp.Matrix:
    """I - 2 v v^T / (v.v): a rational orthogonal matrix (an isometry of the 2-norm)."""
    v = sp.Matrix(list(v))
    return sp.eye(len(v)) - 2 * v * v.T / (v.T * v)[0]


def weighted_abs(weights: Sequence[Any], point: Sequence[Any], *, kind: str = "sum",
                 mixing: sp.Matrix | None = None, isometry: str = "all",
                 tilt: Sequence[Any] | None = None, name: str = "") -> KnownSharp:
    r"""f(x) = sum_i c_i |u_i| (``kind="sum"``) or max_i c_i |u_i| (``"max"``), u = Q (x - p),
    plus ||x - p||^2, plus ``tilt`` . (x - p) (only with Q = I); convex, sharp at p.

    sigma(h) = sum c_i |(Q h)_i| or max c_i |(Q h)_i|, so with u = Q h and Q an isometry of
    the norm (``isometry``: "all" for a signed permutation, "2" for an orthogonal Q):

    * sum: sum c_i |u_i| >= min c ||u||_1 >= min c ||u|| in every norm, with equality at
      u = e_j, c_j = min c: alpha* = min c in every norm. With a tilt g (|g_i| < c_i) the
      subdifferential is the box g + prod [-c_i, c_i] and every norm's alpha* is the distance
      min (c_i - |g_i|) from 0 to its faces.
    * max: with t = max c_i |u_i|, |u_i| <= t / c_i, so ||u||_inf <= t / min c,
      ||u||_1 <= t sum 1/c_i and ||u||_2 <= t sqrt(sum c_i^-2), with equality at
      |u_i| = t / c_i (1, 2) or u = e_j (inf): alpha*_inf = min c, alpha*_1 = 1 / sum 1/c_i,
      alpha*_2 = 1 / sqrt(sum c_i^-2).
    """
    c = [sp.nsimplify(w) for w in weights]
    dim = len(c)
    if any(not w > 0 for w in c):
        raise ValueError("the weights must be positive")
    xs = _vars(dim)
    p = [sp.nsimplify(v) for v in point]
    Q = sp.eye(dim) if mixing is None else mixing
    u = Q * sp.Matrix([x - q for x, q in zip(xs, p)])
    terms = [w * sp.Abs(sp.expand(ui)) for w, ui in zip(c, u)]
    f = (sp.Add(*terms) if kind == "sum" else sp.Max(*terms)) + \
        sum((x - q) ** 2 for x, q in zip(xs, p))
    if kind == "sum":
        alpha = min(c)
        modulus = {"2": alpha, "1": alpha, "inf": alpha}
        if tilt is not None:
            if mixing is not None:
                raise ValueError("a tilt is supported with Q = I only")
            g = [sp.nsimplify(v) for v in tilt]
            if any(not abs(gi) < ci for gi, ci in zip(g, c)):
                raise ValueError("the tilt must satisfy |g_i| < c_i")
            f += sum(gi * (x - q) for gi, x, q in zip(g, xs, p))
            alpha = min(ci - abs(gi) for ci, gi in zip(c, g))
            modulus = {"2": alpha, "1": alpha, "inf": alpha}
    elif kind == "max":
        modulus = {"inf": min(c), "1": 1 / sum(1 / w for w in c),
                   "2": 1 / sp.sqrt(sum(1 / w ** 2 for w in c))}
    else:
        raise ValueError(f"unknown kind {kind!r}")
    if isometry == "2":
        modulus = {"2": modulus["2"]}
    return KnownSharp(name or f"weighted-abs-{kind}-{dim}d", f, xs, tuple(p), modulus, True)


def random_convex_known(rng: np.random.Generator, dim: int, family: str) -> KnownSharp:
    """A random member of a convex family with known alpha*: ``"sum"`` / ``"max"`` (signed
    permutation, all norms), ``"sum-rotated"`` / ``"max-rotated"`` (Householder, 2-norm),
    ``"sum-tilted"`` (a linear tilt, all norms), ``"simplex"`` (:func:`polytope_function` of
    the simplex {xi_i <= h_i, -sum xi_i <= h_0}, all norms)."""
    weights = [sp.Rational(int(rng.integers(1, 9)), int(rng.integers(1, 4))) for _ in range(dim)]
    point = [sp.Rational(int(rng.integers(-3, 4)), int(rng.integers(1, 3))) for _ in range(dim)]
    kind = family.split("-")[0]
    if family in ("sum", "max"):
        return weighted_abs(weights, point, kind=kind, mixing=signed_permutation(rng, dim),
                            name=f"{family}-{dim}d")
    if family in ("sum-rotated", "max-rotated"):
        v = [int(a) for a in rng.integers(-2, 3, size=dim)]
        if not any(v):
            v[0] = 1
        return weighted_abs(weights, point, kind=kind, mixing=householder(v), isometry="2",
                            name=f"{family}-{dim}d")
    if family == "sum-tilted":
        tilt = [w * sp.Rational(int(rng.integers(-3, 4)), 4) for w in weights]
        return weighted_abs(weights, point, kind="sum", tilt=tilt, name=f"{family}-{dim}d")
    if family == "simplex":
        normals = [[1 if j == i else 0 for j in range(dim)] for i in range(dim)]
        normals.append([-1] * dim)
        offsets = [sp.Rational(int(rng.integers(1, 6)), int(rng.integers(1, 3)))
                   for _ in normals]
        return polytope_function(normals, offsets, point, tail="square",
                                 weight=sp.Rational(1, 2), name=f"simplex-{dim}d")
    raise ValueError(f"unknown family {family!r}")


CONVEX_FAMILIES = ("sum", "max", "sum-rotated", "max-rotated", "sum-tilted", "simplex")
