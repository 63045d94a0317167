"""Wen, Li and Ma's networks evaluated exactly (SymPy and ball arithmetic).

An :class:`ExactNet` is one of the paper's architectures (``bias``, ``no-bias``, ``sim-ln``,
``3-layer``; :func:`numerics.models.xor_forward`) with exact weights. Each first-layer row is a
scalar times an integer vector, ``W1_j = c_j v_j`` (the memorizing rows are multiples of
training points, the generalizing ones of (+-1, +-1, 0, ...), a random initialization has a
common denominator), so on the hypercube the pre-activation ``c_j (v_j . x) + b_j`` depends on
x only through the integer ``v_j . x``: every sign is decided once per distinct value, in ball
arithmetic (0 exactly, where relu'(0) = 0 is used, as PyTorch does).

* :func:`hessian_trace_sides` gives, at the weights, the trace of the Hessian of the loss
  L = (1/n) sum_i (f(x_i) - y_i)^2 (the sum of its second derivatives in every parameter,
  by symbolic differentiation of each example's local expression: the activation pattern is
  fixed near the weights, first-layer parameters enter through the pre-activations by the
  chain rule, :meth:`ExactNet.local`) and the right side of Lemma 4.1, (2/n) sum_i ||grad_theta f(x_i)||^2,
  with the residuals f(x_i) - y_i: all exact.
* :func:`cube_errors` counts the zero-one errors over all of {-1, 1}^d (an output of exactly 0
  is an error) without enumerating the cube where the network's structure allows: when the
  active neurons read few coordinates, or when each neuron fires only at its own training
  point (the memorizing constructions at any d).
* The constructions: :func:`memorizing` (Theorem 4.1 / Proposition 4.1, and Proposition 5.1 for
  Sim-LN), :func:`generalizing` (Propositions 4.2, 5.2 and the 4-neuron No-Bias network),
  :func:`random_net` (a rational initialization, off interpolation).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import sympy as sp

from theorems.exact import arb_eval
from verify.kernel.facts import identically_zero

ARCHS = ("bias", "no-bias", "sim-ln", "3-layer")
#: the largest number of coordinates the error count enumerates
MAX_ENUMERATED = 16


@dataclass
class ExactNet:
    """f(x) = sum_j W2_j relu(c_j (v_j . x) + b_j) (``bias``, ``no-bias``), its Sim-LN form
    W2 . h / max(||h||, eps) with h = relu(W1 x + b1), or W3 . relu(W2 relu(W1 x + b1))
    (``3-layer``, W2 a square matrix), with exact c_j, b_j, W2, W3 and integer v_j."""

    arch: str
    c: list[sp.Expr]
    v: np.ndarray                       # (width, d) integers
    b: list[sp.Expr] | None
    W2: object                          # list (width) or sp.Matrix (3-layer)
    W3: list[sp.Expr] | None = None
    eps: sp.Expr | None = None
    _pre: dict = field(default_factory=dict, repr=False)
    _sign: dict = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        if self.arch not in ARCHS:
            raise ValueError(f"unknown architecture {self.arch!r}")
        if (self.b is None) != (self.arch == "no-bias"):
            raise ValueError("a bias exactly for the architectures with one")

    @property
    def width(self) -> int:
        return len(self.c)

    @property
    def d(self) -> int:
        return self.v.shape[1]

    def pre(self, j: int, dot: int) -> sp.Expr:
        """c_j dot + b_j, exactly (units with the same c and b share it)."""
        key = (self.c[j], self.b[j] if self.b else 0, dot)
        if key not in self._pre:
            self._pre[key] = sp.expand(key[0] * dot + key[1])
        return self._pre[key]

    def sign(self, j: int, dot: int) -> int:
        """The sign (1, 0 or -1) of a first-layer pre-activation, decided exactly."""
        value = self.pre(j, dot)
        if value not in self._sign:
            self._sign[value] = exact_sign(value)
        return self._sign[value]

    def sign_facts(self) -> list[tuple[str, str]]:
        """Every distinct (pre-activation, relation to 0) decided so far: the exact facts the
        results rest on."""
        relation = {1: ">", -1: "<", 0: "=="}
        return sorted((str(e), relation[s]) for e, s in self._sign.items())

    def weights(self) -> dict[str, object]:
        """The exact parameters, as the torch models name them."""
        W1 = sp.Matrix(self.width, self.d, lambda j, l: self.c[j] * int(self.v[j, l]))
        out = {"W1": W1, "W2": self.W2}
        if self.b is not None:
            out["b1"] = list(self.b)
        if self.W3 is not None:
            out["W3"] = list(self.W3)
        return out

    def local(self, x: Sequence[int]
              ) -> tuple[sp.Expr, dict[sp.Symbol, sp.Expr], dict[sp.Symbol, int]]:
        """f near the weights at the input x (the activation pattern at the weights fixed,
        relu'(0) = 0) as an expression in symbols, with their values and weights.

        The parameters of an active first-layer unit j enter only through its pre-activation
        h_j = W1_j . x + b_j, linearly, with d h_j / d W1_jl = x_l and d h_j / d b_j = 1: the
        expression uses one symbol h_j for them, of weight sum_l x_l^2 (+ 1 with a bias), so
        that sum over those parameters p of (d f/dp)^2 = weight (d f/d h_j)^2 and of d^2 g/dp^2
        = weight d^2 g/d h_j^2 for any g(f). Every other parameter is its own symbol (weight 1);
        parameters of units that are off do not appear (f does not depend on them there)."""
        x = np.asarray(x, dtype=np.int64)
        dots = self.v @ x
        active = [j for j in range(self.width)
                  if (self.c[j] != 0 or (self.b and self.b[j] != 0)) and
                  self.sign(j, int(dots[j])) > 0]
        values: dict[sp.Symbol, sp.Expr] = {}
        weight: dict[sp.Symbol, int] = {}
        h = {}
        first = int(np.sum(x * x)) + (1 if self.b is not None else 0)
        for j in active:
            hj = sp.Symbol(f"h_{j}", positive=True)      # the unit is on: h_j > 0
            values[hj], weight[hj], h[j] = self.pre(j, int(dots[j])), first, hj
        if self.arch == "3-layer":
            return self._local_deep(h, values, weight)
        num = sp.Integer(0)
        for j in active:
            a = sp.Symbol(f"a_{j}", real=True)
            values[a], weight[a] = self.W2[j], 1
            num += a * h[j]
        if self.arch != "sim-ln" or not active:
            return num, values, weight
        norm_sq = sum(h[j] ** 2 for j in active)
        if exact_sign(norm_sq.xreplace(values) - self.eps ** 2) <= 0:
            raise ValueError("||h|| <= eps at an example: the Sim-LN map is not smooth there")
        return num / sp.sqrt(norm_sq), values, weight

    def _local_deep(self, h: dict, values: dict, weight: dict) -> tuple[sp.Expr, dict, dict]:
        total = sp.Integer(0)
        for l in range(self.W2.rows):
            value = sp.expand(sum(self.W2[l, j] * values[hj] for j, hj in h.items()))
            if not h or value == 0 or exact_sign(value) <= 0:
                continue
            pre2 = sp.Integer(0)
            for j, hj in h.items():
                s = sp.Symbol(f"V_{l}_{j}", real=True)
                values[s], weight[s] = self.W2[l, j], 1
                pre2 += s * hj
            o = sp.Symbol(f"o_{l}", real=True)
            values[o], weight[o] = self.W3[l], 1
            total += o * pre2
        return total, values, weight

    def value(self, x: Sequence[int]) -> sp.Expr:
        """f(x), exactly (relu(0) = 0)."""
        dots = self.v @ np.asarray(x, dtype=np.int64)
        h = {j: self.pre(j, int(dots[j])) for j in range(self.width)
             if (self.c[j] != 0 or (self.b and self.b[j] != 0)) and
             self.sign(j, int(dots[j])) > 0}
        if self.arch == "3-layer":
            total = sp.Integer(0)
            for l in range(self.W2.rows):
                pre2 = sp.expand(sum(self.W2[l, j] * hj for j, hj in h.items()))
                if pre2 != 0 and exact_sign(pre2) > 0:
                    total += self.W3[l] * pre2
            return sp.expand(total)
        num = sp.expand(sum(self.W2[j] * hj for j, hj in h.items()))
        if self.arch != "sim-ln" or num == 0:
            return num
        norm = sp.sqrt(sp.expand(sum(hj ** 2 for hj in h.values())))
        return num / (norm if exact_sign(norm - self.eps) > 0 else self.eps)


def exact_sign(value: sp.Expr) -> int:
    """The sign of an exact constant: balls away from 0, an identity at 0."""
    ball = arb_eval(value)
    if ball > 0:
        return 1
    if ball < 0:
        return -1
    if identically_zero(value):
        return 0
    raise ValueError(f"the sign of {value} is undecided")


def hessian_trace_sides(net: ExactNet, X: np.ndarray, y: Sequence[int]
                        ) -> tuple[sp.Expr, sp.Expr, list[sp.Expr]]:
    """(Tr Hess L, (2/n) sum_i ||grad_theta f(x_i)||^2, [f(x_i) - y_i]) at the weights,
    exactly. Tr Hess L is the sum over every parameter p of d^2 L / dp^2, each example's term
    differentiated twice in the parameters it depends on near the weights (the others leave it
    unchanged: their units are off there)."""
    n = len(X)
    hess, grads, residuals = [], [], []
    derivatives: dict = {}       # examples with the same local form share their derivatives
    for xi, yi in zip(X, y):
        expr, values, weight = net.local([int(v) for v in xi])
        residuals.append(sp.expand(expr.xreplace(values)) - int(yi))
        names = sorted(expr.free_symbols, key=lambda s: s.name)
        generic = [sp.Symbol(f"p{k}", **s.assumptions0) for k, s in enumerate(names)]
        form = expr.xreplace(dict(zip(names, generic)))
        key = (form, int(yi))
        if key not in derivatives:
            sq = (form - int(yi)) ** 2
            derivatives[key] = [(sp.diff(form, p), sp.diff(sq, p, 2)) for p in generic]
        at = {g: values[s] for g, s in zip(generic, names)}
        for s, (first, second) in zip(names, derivatives[key]):
            grads.append(weight[s] * first.xreplace(at) ** 2)
            hess.append(weight[s] * second.xreplace(at))
    return (_simplify(sp.Add(*hess) / n), _simplify(2 * sp.Add(*grads) / n),
            [_simplify(r) for r in residuals])


def _simplify(value: sp.Expr) -> sp.Expr:
    value = sp.expand(value)
    return value if value.is_Rational else sp.radsimp(value)


def xor_points(n: int, d: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """n distinct points of {-1, 1}^d drawn uniformly without replacement (NumPy, seeded) and
    their labels y = x_1 x_2 (the data of P_xor, as integers)."""
    if n > 2 ** min(d, 62):
        raise ValueError(f"cannot draw {n} distinct points from {{-1,1}}^{d}")
    rng = np.random.default_rng(seed)
    rows: dict[tuple, None] = {}
    while len(rows) < n:
        for row in (2 * rng.integers(0, 2, size=(n, d)) - 1).tolist():
            rows.setdefault(tuple(row), None)
            if len(rows) == n:
                break
    X = np.array(list(rows), dtype=np.int64)
    return X, X[:, 0] * X[:, 1]


def hypercube(d: int) -> np.ndarray:
    """All 2^d points of {-1, 1}^d, as integers."""
    return np.array(list(itertools.product((-1, 1), repeat=d)), dtype=np.int64)


def cube_errors(net: ExactNet, d: int) -> tuple[int, int, str]:
    """(errors, 2^d, how): the points of {-1, 1}^d where sign(f(x)) != x_1 x_2 (f(x) = 0 is an
    error), every sign decided exactly, counted without enumerating the cube when possible."""
    total = 2 ** d
    live = [j for j in range(net.width) if net.c[j] != 0 or (net.b and net.b[j] != 0)]
    if all(_fires_only_at_own_point(net, j) for j in live):
        # every neuron fires only where x = v_j: elsewhere h = 0 and f = 0, an error
        points = {tuple(int(c) for c in net.v[j]) for j in live}
        wrong = sum(_wrong(net, np.array(p)) for p in points)
        return wrong + total - len(points), total, \
            f"exact: f = 0 off the {len(points)} points where a neuron fires"
    support = sorted({int(l) for j in live for l in np.nonzero(net.v[j])[0]} | {0, 1})
    if len(support) <= MAX_ENUMERATED:
        # f reads only the support (and the label x1 x2): each pattern stands for
        # 2^(d - |support|) points
        wrong = 0
        for pattern in hypercube(len(support)):
            x = np.ones(d, dtype=np.int64)
            x[support] = pattern
            wrong += _wrong(net, x)
        return wrong * 2 ** (d - len(support)), total, \
            f"exact: 2^{len(support)} patterns of the {len(support)} coordinates read"
    if d > MAX_ENUMERATED:
        raise ValueError(f"no exact count of the errors of this network at d = {d}")
    wrong = sum(_wrong(net, x) for x in hypercube(d))
    return wrong, total, f"exact: all 2^{d} points"


def _fires_only_at_own_point(net: ExactNet, j: int) -> bool:
    """v_j in {-1, 1}^d and the pre-activation positive only at v_j . x = d (x = v_j)."""
    row = net.v[j]
    if not np.all(np.abs(row) == 1):
        return False
    d = len(row)
    return all(net.sign(j, dot) <= 0 for dot in range(-d, d, 2)) and net.sign(j, d) > 0


def _wrong(net: ExactNet, x: np.ndarray) -> int:
    value = net.value(x)
    return int(value == 0 or exact_sign(value) != int(x[0] * x[1]))


# --------------------------------------------------------------------------------------------
# the constructions
# --------------------------------------------------------------------------------------------

def memorizing(arch: str, X: np.ndarray, y: Sequence[int], eps: sp.Expr,
               delta: sp.Expr = sp.Rational(1, 2)) -> ExactNet:
    """The memorizing constructions exactly, width n, neuron i firing only on x_i:

    * ``bias`` (Proposition 4.1): w_i = x_i/||x_i||, R_i = ||(x_i, 1)||, u_i = sqrt(R_i |y_i|),
      W1_i = u_i w_i / eps, b1_i = u_i (eps - w_i . x_i)/eps, W2_i = sign(y_i) sqrt(|y_i|/R_i);
    * ``3-layer`` (Theorem 4.1, D = 3, bias in the first layer only): r_i = (R_i/|y_i|)^(1/3),
      u_i = |y_i| r_i^2, the same first layer with u_i, W2 = diag(1/r_i), W3_i = sign(y_i)/r_i;
    * ``sim-ln`` (Proposition 5.1): W1 = 2 eps x_i / delta, b1 = 2 eps (delta - d)/delta,
      W2 = y_i (eps is the Sim-LN floor)."""
    X = np.asarray(X, dtype=np.int64)
    n, d = X.shape
    labels = [int(v) for v in y]
    if arch == "sim-ln":
        c = [2 * eps / delta] * n
        b = [2 * eps * (delta - d) / delta] * n
        return ExactNet("sim-ln", c, X, b, [sp.Integer(v) for v in labels], eps=eps)
    R = sp.sqrt(d + 1)
    if arch == "bias":
        u = [sp.sqrt(R * abs(v)) for v in labels]
        W2 = [sp.sign(v) * sp.sqrt(sp.Integer(abs(v)) / R) for v in labels]
        W3 = None
    elif arch == "3-layer":
        r = [sp.root(R / abs(v), 3) for v in labels]
        u = [abs(v) * ri ** 2 for v, ri in zip(labels, r)]
        W2 = sp.diag(*[1 / ri for ri in r])
        W3 = [sp.sign(v) / ri for v, ri in zip(labels, r)]
    else:
        raise ValueError(f"no memorizing construction for {arch!r}")
    c = [ui / (sp.sqrt(d) * eps) for ui in u]
    b = [ui * (eps - sp.sqrt(d)) / eps for ui in u]
    return ExactNet(arch, c, X, b, W2, W3)


def _four_feature_vectors(d: int, width: int) -> np.ndarray:
    V = np.zeros((width, d), dtype=np.int64)
    for k, (i, j) in enumerate(((0, 0), (0, 1), (1, 0), (1, 1))):
        V[k, 0], V[k, 1] = (-1) ** i, (-1) ** j
    return V


def generalizing(arch: str, d: int, width: int = 4, eps: sp.Expr | None = None) -> ExactNet:
    """Four neurons s((-1)^i, (-1)^j, 0, ...) with outputs (-1)^(i+j) a, other neurons zero:
    ``bias`` (Proposition 4.2, eq. 5, s = (d+1)^(1/4), bias -s, a = 1/s), ``no-bias``
    (s^2 = sqrt(d)/4, a = 1/(2s)), ``sim-ln`` (Proposition 5.2: s = 2 eps, bias -2 eps,
    a = 1)."""
    if arch == "bias":
        s, bias, out = sp.root(d + 1, 4), -sp.root(d + 1, 4), 1 / sp.root(d + 1, 4)
    elif arch == "no-bias":
        s = sp.sqrt(sp.sqrt(d) / 4)
        bias, out = None, 1 / (2 * s)
    elif arch == "sim-ln":
        s, bias, out = 2 * eps, -2 * eps, sp.Integer(1)
    else:
        raise ValueError(f"no generalizing construction for {arch!r}")
    signs = [1, -1, -1, 1]
    c = [s if k < 4 else sp.Integer(0) for k in range(width)]
    b = None if bias is None else [bias if k < 4 else sp.Integer(0) for k in range(width)]
    W2 = [signs[k] * out if k < 4 else sp.Integer(0) for k in range(width)]
    return ExactNet(arch, c, _four_feature_vectors(d, width), b, W2, eps=eps)


def random_net(arch: str, d: int, width: int, rng: np.random.Generator,
               eps: sp.Expr | None = None, denominator: int = 8) -> ExactNet:
    """A rational initialization (entries k/denominator, k uniform in [-denominator,
    denominator]): off interpolation."""
    def draw(*shape):
        return rng.integers(-denominator, denominator + 1, size=shape)

    c = [sp.Rational(1, denominator)] * width
    b = [sp.Rational(int(v), denominator) for v in draw(width)] if arch != "no-bias" else None
    W2 = [sp.Rational(int(v), denominator) for v in draw(width)]
    return ExactNet(arch, c, draw(width, d).astype(np.int64), b, W2, eps=eps)
