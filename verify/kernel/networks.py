"""Kernel obligations of network Lipschitz claims, and of Lipschitz stability under a network.

A network f(x) = W_l x^l + b_l, x^{k+1} = phi_k(W_k x^k + b_k), x^0 = x, is stored in a
certificate as its exact layers (``layers``: one ``{weight, bias, activation, params}`` per
affine map, numbers as strings "p/q", the last layer without activation); a claim names it by
``network_sha256`` (``zeta_network_sha256`` for a perturbation), the SHA-256 of the canonical
JSON of those layers (:func:`layers_sha256`), which the decider wrote into the claim. The kernel
re-hashes the stored layers and compares, so an edited weight fails; it never loads the user's
Python file nor runs torch.

The kernel's own facts about activations (slope restriction, alpha <= (phi(s) - phi(t)) /
(s - t) <= beta): relu, tanh, hardtanh [0, 1]; sigmoid [0, 1/4]; identity [1, 1]; leaky_relu(a)
[min(a, 1), max(a, 1)].

* ``network-lipschitz`` ``{at_most c > 0, norm "2"}``: ||f(x) - f(y)||_2 <= c ||x - y||_2 for all
  x, y. certified (or proved) by ``lipsdp`` ``{layers, rho, multipliers}``: rho <= c^2 and the
  LipSDP-Neuron matrix M(rho, T) of Fazlyab et al. 2019 (Theorem 2; T = diag of the
  multipliers, all >= 0), rebuilt here exactly, is negative semidefinite, decided by an exact
  LDL^T of -M (:func:`is_psd`); then L_2(f) <= sqrt(rho) <= c. Or by ``lipschitz-product``
  ``{layers, norms}``: each c_k^2 I - G_k is PSD exactly (G_k the smaller Gram matrix of W_k;
  or c_k^2 >= ||W_k||_F^2) and prod c_k * prod max(|alpha_k|, |beta_k|) <= c.
  refuted by ``lipschitz-pair`` ``{layers, x, y}``: rational inputs whose quotient
  ||f(x) - f(y)|| / ||x - y|| exceeds c, f evaluated exactly (fmpq) through piecewise-linear
  layers and in arb balls once tanh or sigmoid appear.
* ``lipschitz-stable`` with a network perturbation zeta (R^d -> R): argmin (f + zeta) = {p}.
  proved by ``sharp-lipsdp`` ``{sharp, lipschitz}``: ``sharp`` a ``sharp-smt`` certificate for
  the claim's own f, point and norm with modulus m (>= radius when the claim has one) and
  ``lipschitz`` a ``lipsdp`` certificate for the claim's zeta with m^2 > k rho exactly (k = 1
  in the 2- and 1-norms, k = d in the inf-norm, as ||u||_1 >= ||u||_2 >= ||u||_inf >=
  ||u||_2 / sqrt(d)). Then f(x) + zeta(x) >= f(p) + zeta(p) + (m / sqrt(k) - sqrt(rho))
  ||x - p||_2 > f(p) + zeta(p) for x != p (Dominguez Corella, Theorem 2).
"""

from __future__ import annotations

import hashlib
import json
from fractions import Fraction
from typing import Any, Mapping, Sequence

import flint
import sympy as sp

from verify.kernel import checker, require
from verify.kernel.balls import arb_eval
from verify.kernel.facts import parse_constant, sign_holds
from verify.kernel.psd import is_psd
from verify.kernel.sharp import _sharp_smt

NETWORK_LIPSCHITZ, LIPSCHITZ_STABLE = "network-lipschitz", "lipschitz-stable"
Q = flint.fmpq
#: the largest Gram matrix (rows) the kernel decides PSD for a layer-norm bound
GRAM_MAX = 400
#: bits of the balls through tanh and sigmoid
PRECISION = 256


def layers_sha256(layers: Any) -> str:
    """SHA-256 of the canonical JSON text of ``layers`` (sorted keys, no spaces, ASCII)."""
    text = json.dumps(layers, sort_keys=True, separators=(",", ":"), ensure_ascii=True,
                      allow_nan=False)
    return hashlib.sha256(text.encode("ascii")).hexdigest()


def rational(v: Any) -> flint.fmpq:
    """An exact rational from a string "p/q" (or a decimal) or an int; anything else fails."""
    if isinstance(v, bool) or not isinstance(v, (str, int)):
        raise ValueError(f"{v!r} is not an exact rational (a string p/q or an int)")
    fr = Fraction(v)
    return Q(fr.numerator, fr.denominator)


def slopes(name: Any, params: Mapping[str, flint.fmpq]) -> tuple[flint.fmpq, flint.fmpq]:
    if name in ("relu", "tanh"):
        return Q(0), Q(1)
    if name == "hardtanh":
        if not params["min_val"] < params["max_val"]:
            raise ValueError("hardtanh needs min_val < max_val")
        return Q(0), Q(1)
    if name == "sigmoid":
        return Q(0), Q(1, 4)
    if name == "identity":
        return Q(1), Q(1)
    if name == "leaky_relu":
        a = params["negative_slope"]
        return min(a, Q(1)), max(a, Q(1))
    raise ValueError(f"unknown activation {name!r}")


class Net:
    """The exact layers of a certificate, validated: fmpq weights and biases, activations."""

    def __init__(self, data: Any):
        if not isinstance(data, list) or not data:
            raise ValueError("layers: a non-empty list")
        self.weights: list[flint.fmpq_mat] = []
        self.biases: list[list[flint.fmpq]] = []
        self.acts: list[tuple[str, dict[str, flint.fmpq]] | None] = []
        for k, layer in enumerate(data):
            rows = layer["weight"]
            if not isinstance(rows, list) or not rows or not isinstance(rows[0], list) \
                    or not rows[0] or any(len(r) != len(rows[0]) for r in rows):
                raise ValueError(f"layer {k}: a non-empty rectangular weight matrix")
            W = flint.fmpq_mat(len(rows), len(rows[0]), [rational(e) for r in rows for e in r])
            bias = [rational(b) for b in layer["bias"]]
            if len(bias) != W.nrows():
                raise ValueError(f"layer {k}: {len(bias)} biases for {W.nrows()} outputs")
            if k and W.ncols() != self.weights[-1].nrows():
                raise ValueError(f"layer {k} takes {W.ncols()} inputs, the layer before gives "
                                 f"{self.weights[-1].nrows()}")
            act = layer.get("activation")
            last = k == len(data) - 1
            if last != (act is None):
                raise ValueError("every layer but the last has an activation, the last none")
            params = {str(key): rational(v) for key, v in (layer.get("params") or {}).items()}
            if act is not None:
                slopes(act, params)
            self.weights.append(W)
            self.biases.append(bias)
            self.acts.append(None if act is None else (act, params))

    @property
    def dims(self) -> list[int]:
        return [self.weights[0].ncols()] + [W.nrows() for W in self.weights]

    def slope_bounds(self) -> list[tuple[flint.fmpq, flint.fmpq]]:
        return [slopes(*a) for a in self.acts[:-1]]


def _diag(values: Sequence[flint.fmpq]) -> flint.fmpq_mat:
    n = len(values)
    return flint.fmpq_mat(n, n, [values[i] if i == j else Q(0)
                                 for i in range(n) for j in range(n)])


def lipsdp_matrix(net: Net, rho: flint.fmpq, lams: Sequence[Sequence[flint.fmpq]]
                  ) -> list[list[flint.fmpq]]:
    """M(rho, T) over z = (x^0, ..., x^l): -rho I at (0, 0); for hidden layer k with W = W_{k-1},
    T = diag(lambda^k) and slopes [a, b], the constraint's quadratic form adds -2ab W^T T W at
    (k-1, k-1), (a + b) W^T T at (k-1, k) and its transpose, -2 T at (k, k); W_l^T W_l at (l, l)."""
    dims = net.dims[:-1]
    start = [sum(dims[:k]) for k in range(len(dims))]
    n = sum(dims)
    M = [[Q(0)] * n for _ in range(n)]

    def put(bi: int, bj: int, block: flint.fmpq_mat) -> None:
        for i, row in enumerate(block.tolist()):
            target = M[start[bi] + i]
            for j, v in enumerate(row):
                target[start[bj] + j] += v

    for i in range(dims[0]):
        M[i][i] -= rho
    for k, ((a, b), lam) in enumerate(zip(net.slope_bounds(), lams), start=1):
        W, T = net.weights[k - 1], _diag(lam)
        WtT = W.transpose() * T
        put(k - 1, k - 1, WtT * W * (-2 * a * b))
        put(k - 1, k, WtT * (a + b))
        put(k, k - 1, (T * W) * (a + b))
        put(k, k, T * Q(-2))
    Wl = net.weights[-1]
    put(len(dims) - 1, len(dims) - 1, Wl.transpose() * Wl)
    return M


def lipsdp_rho(net: Net, cert: Mapping) -> flint.fmpq:
    """rho of a ``lipsdp`` certificate once M(rho, T) <= 0 is decided exactly (raises if not)."""
    rho = rational(cert["rho"])
    lams = [[rational(t) for t in lam] for lam in cert["multipliers"]]
    if rho < 0 or any(t < 0 for lam in lams for t in lam):
        raise ValueError("rho and the multipliers are >= 0")
    hidden = net.dims[1:-1]
    if [len(lam) for lam in lams] != hidden:
        raise ValueError(f"one multiplier per hidden neuron ({hidden}) is needed")
    M = lipsdp_matrix(net, rho, lams)
    if not is_psd([[-v for v in row] for row in M]):
        raise ValueError("M(rho, T) is not negative semidefinite")
    return rho


def product_bound(net: Net, cert: Mapping) -> flint.fmpq:
    """prod c_k * prod max(|alpha|, |beta|), each c_k >= ||W_k||_2 shown exactly (raises)."""
    norms = [rational(c) for c in cert["norms"]]
    if len(norms) != len(net.weights) or any(c < 0 for c in norms):
        raise ValueError("one norm c_k >= 0 per layer is needed")
    bound = Q(1)
    for W, c in zip(net.weights, norms):
        frobenius = sum((e * e for e in W.entries()), Q(0))
        if c * c < frobenius:
            G = W * W.transpose() if W.nrows() <= W.ncols() else W.transpose() * W
            if G.nrows() > GRAM_MAX:
                raise ValueError(f"a Gram matrix of {G.nrows()} rows is too large to check")
            m = G.nrows()
            if not is_psd((_diag([c * c] * m) - G).tolist()):
                raise ValueError(f"c = {c} is not shown >= the spectral norm of a layer")
        bound *= c
    for a, b in net.slope_bounds():
        bound *= max(abs(a), abs(b))
    return bound


def _activate(act: tuple[str, Mapping[str, flint.fmpq]], v: Any) -> Any:
    name, params = act
    if isinstance(v, flint.fmpq):
        if name == "identity":
            return v
        if name == "relu":
            return max(v, Q(0))
        if name == "leaky_relu":
            return v if v >= 0 else params["negative_slope"] * v
        if name == "hardtanh":
            return min(max(v, params["min_val"]), params["max_val"])
        v = flint.arb(v)
    if name == "identity":
        return v
    if name == "relu":
        return v.max(flint.arb(0))
    if name == "leaky_relu":        # v or a v: the union of both balls holds phi(v)
        av = flint.arb(params["negative_slope"]) * v
        return v if v > 0 else av if v < 0 else v.union(av)
    if name == "hardtanh":
        return v.max(flint.arb(params["min_val"])).min(flint.arb(params["max_val"]))
    if name == "tanh":
        return v.tanh()
    if name == "sigmoid":
        return 1 / (1 + (-v).exp())
    raise ValueError(f"unknown activation {name!r}")


def forward(net: Net, x: Sequence[flint.fmpq]) -> list[Any]:
    """f(x): exact rationals through piecewise-linear layers, balls from the first tanh or
    sigmoid on (balls contain the true values)."""
    vals: list[Any] = list(x)
    for W, bias, act in zip(net.weights, net.biases, net.acts):
        rows = W.tolist()
        pre = []
        for row, b in zip(rows, bias):
            s: Any = b
            for w, v in zip(row, vals):
                s = s + w * v if isinstance(v, flint.fmpq) else flint.arb(w) * v + s
            pre.append(s)
        vals = pre if act is None else [_activate(act, v) for v in pre]
    return vals


def squared_quotient(net: Net, x: Sequence[Any], y: Sequence[Any]) -> Any:
    """||f(x) - f(y)||^2 / ||x - y||^2 at rational inputs: an fmpq, or a ball containing it."""
    xq, yq = [rational(v) for v in x], [rational(v) for v in y]
    if len(xq) != net.dims[0] or len(yq) != net.dims[0]:
        raise ValueError(f"the inputs need {net.dims[0]} coordinates")
    den = sum(((a - b) ** 2 for a, b in zip(xq, yq)), Q(0))
    if den == 0:
        raise ValueError("x == y")
    old = flint.ctx.prec
    flint.ctx.prec = PRECISION
    try:
        fx, fy = forward(net, xq), forward(net, yq)
        num = sum(((a - b) ** 2 for a, b in zip(fx, fy)), Q(0))
        return num / den
    finally:
        flint.ctx.prec = old


def _exceeds(value: Any, bound: sp.Expr) -> bool:
    """value (fmpq or ball) > bound (an exact SymPy number), decided soundly."""
    if isinstance(value, flint.fmpq):
        return sign_holds(sp.Rational(int(value.p), int(value.q)) - bound, ">")
    old = flint.ctx.prec
    flint.ctx.prec = PRECISION
    try:
        return bool(value - arb_eval(bound) > 0)
    finally:
        flint.ctx.prec = old


def _at_most(claim: Mapping) -> sp.Expr:
    c = parse_constant(claim["at_most"])
    if not sign_holds(c, ">"):
        raise ValueError("at_most must be positive")
    if str(claim.get("norm", "2")) != "2":
        raise ValueError("only the 2-norm Lipschitz constant is certified")
    return c


def _net_of(claim: Mapping, cert: Mapping, key: str) -> Net:
    sha = claim.get(key)
    if not isinstance(sha, str) or layers_sha256(cert["layers"]) != sha:
        raise ValueError(f"the stored layers do not hash to the claim's {key}")
    return Net(cert["layers"])


def _q(v: flint.fmpq) -> sp.Rational:
    return sp.Rational(int(v.p), int(v.q))


@checker("lipsdp", "lipschitz-product")
def _check_upper(claim: Mapping, status: str, cert: Mapping) -> tuple[bool, str]:
    if claim.get("kind") != NETWORK_LIPSCHITZ or status not in ("certified", "proved"):
        return False, f"{cert.get('kind')} certifies a network-lipschitz claim"
    c = _at_most(claim)
    net = _net_of(claim, cert, "network_sha256")
    if cert["kind"] == "lipsdp":
        rho = lipsdp_rho(net, cert)
        return require(sign_holds(c ** 2 - _q(rho), ">="), f"rho = {rho} exceeds at_most^2")
    bound = product_bound(net, cert)
    return require(sign_holds(c - _q(bound), ">="), f"the product {bound} exceeds at_most")


@checker("lipschitz-pair")
def _check_pair(claim: Mapping, status: str, cert: Mapping) -> tuple[bool, str]:
    if claim.get("kind") != NETWORK_LIPSCHITZ or status != "refuted":
        return False, "a pair of inputs refutes a network-lipschitz claim"
    c = _at_most(claim)
    net = _net_of(claim, cert, "network_sha256")
    q2 = squared_quotient(net, cert["x"], cert["y"])
    return require(_exceeds(q2, c ** 2), "the quotient at the pair is not shown > at_most")


@checker("sharp-lipsdp")
def _check_composition(claim: Mapping, status: str, cert: Mapping) -> tuple[bool, str]:
    if claim.get("kind") != LIPSCHITZ_STABLE or status != "proved":
        return False, "sharp-lipsdp proves a lipschitz-stable claim with a network perturbation"
    net = _net_of(claim, cert["lipschitz"], "zeta_network_sha256")
    d = len(claim["variables"])
    if net.dims[0] != d or net.dims[-1] != 1:
        return False, f"zeta must map R^{d} to R, it maps R^{net.dims[0]} to R^{net.dims[-1]}"
    rho = lipsdp_rho(net, cert["lipschitz"])
    sharp = cert["sharp"]
    radius = parse_constant(claim["radius"]) if claim.get("radius") is not None \
        else sp.Integer(0)
    if sharp.get("kind") == "convex-cone":          # f convex: the cone under f
        from verify.kernel.cone import sharpness_holds

        ok, reason = sharpness_holds(claim, sharp, radius)
    else:
        ok, reason = _sharp_smt(claim, sharp, radius)
    if not ok:
        return False, f"sharpness: {reason}"
    m = parse_constant(sharp["modulus"])
    k = {"2": 1, "1": 1, "inf": d}[str(claim.get("norm", "2"))]
    return require(sign_holds(m, ">") and sign_holds(m ** 2 - k * _q(rho), ">"),
                   f"the modulus {m} is not above the Lipschitz bound sqrt({k} * {rho})")
