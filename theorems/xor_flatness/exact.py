"""Wen, Li and Ma's two-layer constructions evaluated exactly (SymPy and ball arithmetic).

Each first-layer row is a scalar times an integer vector, ``W1_j = c_j v_j`` (the memorizing
rows are multiples of training points, the generalizing ones of (+-1, +-1, 0, ...)), so on the
hypercube the pre-activation ``c_j (v_j . x) + b_j`` depends on x only through the integer
``v_j . x``: every sign is decided once per distinct value, in ball arithmetic, and the Lemma
4.1 trace and the outputs are exact SymPy numbers. :func:`lemma41_trace` is
(2/n) sum_i ||grad_theta f(x_i)||^2 in the closed form of eqs. 2-4; :func:`cube_errors` counts
the zero-one errors over all of {-1, 1}^d (an output of exactly 0 is an error).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import sympy as sp

from theorems.exact import arb_eval
from verify.kernel.facts import identically_zero


@dataclass
class ExactTwoLayer:
    """f(x) = sum_j W2_j relu(c_j (v_j . x) + b_j) with exact c_j, b_j, W2_j and integer v_j."""

    c: list[sp.Expr]
    v: np.ndarray           # (width, d) integers
    b: list[sp.Expr] | None
    W2: list[sp.Expr]

    def __post_init__(self) -> None:
        self._pre: dict[tuple[int, int], sp.Expr] = {}
        self._sign: dict[tuple[int, int], int] = {}

    @property
    def width(self) -> int:
        return len(self.c)

    def pre(self, j: int, dot: int) -> sp.Expr:
        key = (j, dot)
        if key not in self._pre:
            self._pre[key] = sp.expand(self.c[j] * dot + (self.b[j] if self.b else 0))
        return self._pre[key]

    def sign(self, j: int, dot: int) -> int:
        """The sign (1, 0 or -1) of the pre-activation, decided exactly: balls away from 0, an
        identity at 0 (where relu'(0) = 0 is used, as torch does); ValueError if undecided."""
        key = (j, dot)
        if key not in self._sign:
            value = self.pre(j, dot)
            ball = arb_eval(value)
            if ball > 0:
                self._sign[key] = 1
            elif ball < 0:
                self._sign[key] = -1
            elif identically_zero(value):   # the kink of relu: relu'(0) = 0, as in torch
                self._sign[key] = 0
            else:
                raise ValueError(f"the sign of the pre-activation {value} is undecided")
        return self._sign[key]

    def sign_facts(self) -> list[tuple[str, str]]:
        """Every distinct (pre-activation, relation to 0) decided so far: the exact facts the
        results rest on (the kernel's ``signs`` certificate)."""
        relation = {1: ">", -1: "<", 0: "=="}
        return sorted({(str(self._pre[k]), relation[s]) for k, s in self._sign.items()})


def exact_memorizing_bias(X: np.ndarray, y: Sequence[int], eps: sp.Rational) -> ExactTwoLayer:
    """Proposition 4.1 exactly: w_i = x_i/||x_i||, R_i = ||(x_i, 1)||, u_i = sqrt(R_i |y_i|),
    W1_i = u_i w_i / eps, b1_i = u_i (eps - w_i . x_i)/eps, W2_i = sign(y_i) sqrt(|y_i| / R_i)."""
    d = X.shape[1]
    R = sp.sqrt(d + 1)
    c, b, W2 = [], [], []
    for xi, yi in zip(X, y):
        u = sp.sqrt(R * abs(int(yi)))
        c.append(u / (sp.sqrt(d) * eps))
        b.append(u * (eps - sp.sqrt(d)) / eps)
        W2.append(sp.sign(int(yi)) * sp.sqrt(sp.Integer(abs(int(yi))) / R))
    return ExactTwoLayer(c, np.asarray(X, dtype=np.int64), b, W2)


def _four_feature_vectors(d: int, width: int) -> np.ndarray:
    V = np.zeros((width, d), dtype=np.int64)
    for k, (i, j) in enumerate(((0, 0), (0, 1), (1, 0), (1, 1))):
        V[k, 0], V[k, 1] = (-1) ** i, (-1) ** j
    return V


def exact_generalizing(d: int, width: int, *, bias: bool) -> ExactTwoLayer:
    """Proposition 4.2 (eq. 5, r = (d+1)^(1/4)) with bias, or the 4-neuron No-Bias network
    s(+-1, +-1, 0, ...), outputs +-1/(2s), s^2 = sqrt(d)/4, exactly; other neurons zero."""
    scale = sp.root(d + 1, 4) if bias else sp.sqrt(sp.sqrt(d) / 4)
    out = 1 / scale if bias else 1 / (2 * scale)
    V = _four_feature_vectors(d, width)
    c = [scale if k < 4 else sp.Integer(0) for k in range(width)]
    b = [(-scale if k < 4 else sp.Integer(0)) for k in range(width)] if bias else None
    signs = [1, -1, -1, 1]
    W2 = [signs[k] * out if k < 4 else sp.Integer(0) for k in range(width)]
    return ExactTwoLayer(c, V, b, W2)


def lemma41_trace(net: ExactTwoLayer, X: np.ndarray, *, bias: bool) -> sp.Expr:
    """(2/n) sum_i ||grad_theta f(x_i)||^2 exactly: sum_j W2_j^2 1[pre_j > 0] ||x_i'||^2 +
    relu(pre_j)^2 with x' = (x, 1) with a bias (eqs. 2-4); zero rows contribute nothing."""
    n, d = X.shape
    sq = d + 1 if bias else d
    dots = X.astype(np.int64) @ net.v.T
    total = sp.Integer(0)
    for i in range(n):
        for j in range(net.width):
            if net.c[j] == 0 and (not net.b or net.b[j] == 0):
                continue
            if net.sign(j, int(dots[i, j])) > 0:
                total += net.W2[j] ** 2 * sq + net.pre(j, int(dots[i, j])) ** 2
    return sp.nsimplify(sp.expand(2 * total / n)) if total.is_Rational else \
        sp.expand(2 * total / n)


def cube_errors(net: ExactTwoLayer, d: int) -> tuple[int, int]:
    """(errors, 2^d): points of {-1, 1}^d where sign(f(x)) != x_1 x_2 (f(x) = 0 is an error),
    with every sign decided exactly."""
    from numerics.models import hypercube

    cube = hypercube(d).numpy().astype(np.int64)
    dots = cube @ net.v.T
    wrong = 0
    active_rows = [j for j in range(net.width) if net.c[j] != 0 or (net.b and net.b[j] != 0)]
    for x, row in zip(cube, dots):
        value = sp.Integer(0)
        for j in active_rows:
            if net.sign(j, int(row[j])) > 0:
                value += net.W2[j] * net.pre(j, int(row[j]))
        label = int(x[0] * x[1])
        if value == 0:
            wrong += 1
            continue
        ball = arb_eval(value)
        if not (ball > 0 or ball < 0):
            raise ValueError(f"the output {value} is not certainly nonzero")
        wrong += int((1 if ball > 0 else -1) != label)
    return wrong, len(cube)
