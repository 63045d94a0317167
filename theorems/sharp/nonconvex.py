r"""Nonconvex piecewise polynomial functions whose sharpness modulus is known by construction,
in any dimension (the test and benchmark family of the SOS path, :mod:`theorems.sharp.sos_case`).

With y = Q (x - p) for an isometry Q of the norm (a product of rational Householder reflections
for the 2-norm, a signed permutation for every norm),

.. math::

    f(x) = f_0 + \sum_i \varphi_i(y_i) + \sum_{(i, j) \in E} e_{ij} |y_i| y_j^2, \qquad
    \varphi_i(t) = a_i |t| - b_i t^2 + c_i |t|^3,

with ``b_i = 2 c_i s_i`` and ``a_i = alpha_i + c_i s_i^2``. Then
``phi_i(t) / |t| = alpha_i + c_i (|t| - s_i)^2 >= alpha_i``, with equality at ``|t| = s_i``,
so ``f(x) - f(p) >= sum_i alpha_i |y_i| >= min alpha ||y||_1 >= min alpha ||x - p||`` in the
norms 1, 2 and inf (the coupling terms are >= 0), with equality at ``y = s_k e_k`` for the
k of the smallest ``alpha_k`` (the coupling vanishes on the axes): alpha* = min alpha, attained
at a point at distance ``s_k`` (not in the limit at p: the ratio tends to ``a_k > alpha_k``
there). f is nonconvex: ``phi_i'' = -2 b_i + 6 c_i |t| < 0`` for ``0 < |t| < s_i / 3``.
Every term has degree at most 3, and the cubic part is positive off x = p: in the polar form of
the sharpness statement (:mod:`verify.kernel.sos`) the top coefficient in r is then positive on
the sphere (a degree-4 coupling such as ``y_i^2 y_j^2`` would vanish on the axes, where the
cubic is the top term, and force every Positivstellensatz certificate onto a face).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import sympy as sp

from theorems.sharp.families import KnownSharp


@dataclass(frozen=True)
class KnownRatioMinimum(KnownSharp):
    """A :class:`KnownSharp` with a point where the ratio equals the modulus (in every norm
    the modulus is given for)."""

    argmin: tuple = ()


def householder(v: Sequence[int]) -> sp.Matrix:
    """I - 2 v v^T / (v.v): a rational orthogonal matrix."""
    w = sp.Matrix(list(v))
    return sp.eye(len(w)) - 2 * w * w.T / (w.T * w)[0]


def rational_rotation(rng: np.random.Generator, dim: int, reflections: int = 2) -> sp.Matrix:
    """A product of ``reflections`` Householder reflections with small integer vectors."""
    Q = sp.eye(dim)
    for _ in range(reflections):
        v = [0] * dim
        while not any(v):
            v = [int(c) for c in rng.integers(-2, 3, size=dim)]
        Q = householder(v) * Q
    return Q


def signed_permutation(rng: np.random.Generator, dim: int) -> sp.Matrix:
    Q = sp.zeros(dim, dim)
    for i, j in enumerate(rng.permutation(dim)):
        Q[i, int(j)] = 1 if rng.integers(0, 2) else -1
    return Q


def nonconvex_sharp(rng: np.random.Generator, dim: int, *, rotate: bool = True,
                    couplings: int | None = None, name: str = "") -> KnownRatioMinimum:
    """A random instance of the family of the module docstring: with ``rotate`` Q is a
    rational rotation (the modulus is known in the 2-norm only), else a signed permutation
    (known in every norm); ``couplings`` pairs (i, j) (default ``dim - 1``)."""
    xs = tuple(sp.Symbol(f"x{i + 1}", real=True) for i in range(dim))
    p = [sp.Rational(int(rng.integers(-2, 3)), int(rng.integers(1, 3))) for _ in range(dim)]
    Q = rational_rotation(rng, dim) if rotate else signed_permutation(rng, dim)
    y = [sp.expand(e) for e in Q * sp.Matrix([x - c for x, c in zip(xs, p)])]
    alphas, dips = [], []
    f = sp.Rational(int(rng.integers(-3, 4)), 2)
    for yi in y:
        alpha = sp.Rational(int(rng.integers(2, 9)), 4)
        s = sp.Rational(int(rng.integers(1, 3)), 2)
        c = sp.Rational(int(rng.integers(1, 3)), 2)
        a, b = alpha + c * s ** 2, 2 * c * s
        f += a * sp.Abs(yi) - b * yi ** 2 + c * sp.Abs(yi) ** 3
        alphas.append(alpha)
        dips.append(s)
    pairs = [(i, i + 1) for i in range(dim - 1)]
    for i, j in pairs[: dim - 1 if couplings is None else couplings]:
        f += sp.Rational(int(rng.integers(1, 3)), 4) * sp.Abs(y[i]) * y[j] ** 2
    alpha = min(alphas)
    k = alphas.index(alpha)
    argmin = tuple(c + dips[k] * Q[k, i] for i, c in enumerate(p))   # y = s_k e_k
    modulus = {"2": alpha} if rotate else {"2": alpha, "1": alpha, "inf": alpha}
    return KnownRatioMinimum(name or f"nonconvex-{'rotated' if rotate else 'permuted'}-{dim}d",
                             f, xs, tuple(p), modulus, False, argmin)
