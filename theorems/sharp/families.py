"""Functions whose sharpness modulus is known by construction (Dominguez Corella).

Used by the registered checks, by the test suite and by :mod:`verify.strategies`: convex
polyhedral + quadratic functions (the modulus is the in-radius of the polytope in the dual
norm), their nonconvex capped and dipped variants, and piecewise functions of one variable.
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


def generated_family(seed: int, count: int = 6) -> list[KnownSharp]:
    rng = np.random.default_rng(seed)
    out = []
    for i in range(count):
        kind = i % 5
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
