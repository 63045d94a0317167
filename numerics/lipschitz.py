"""Sound Lipschitz certificates of small feed-forward networks by LipSDP.

LipSDP (Fazlyab, Robey, Hassani, Morari, Pappas, "Efficient and Accurate Estimation of Lipschitz
Constants for Deep Neural Networks", NeurIPS 2019) bounds the 2-norm Lipschitz constant of

    f(x) = W_l x^l + b_l,   x^{k+1} = phi_k(W_k x^k + b_k)  (k = 0..l-1),   x^0 = x,

where every activation phi_k acts elementwise and is slope-restricted on [alpha_k, beta_k]:
alpha_k <= (phi(s) - phi(t)) / (s - t) <= beta_k. For each hidden neuron i with multiplier
lambda_i >= 0 the increments (dv, dx) of its pre-activation and output satisfy the quadratic
constraint 2 lambda_i (dx - alpha dv)(beta dv - dx) >= 0, i.e.

    [dv; dx]^T [[-2 alpha beta lambda, (alpha + beta) lambda], [(alpha + beta) lambda, -2 lambda]]
    [dv; dx] >= 0.

With z = (x^0, x^1, ..., x^l) (dimensions n_0, n_1, ..., n_l), T_k = diag(lambda^k) and the
increments dz, Theorem 2 of the paper (LipSDP-Neuron: T diagonal) says: if the symmetric block
tridiagonal matrix M(rho, T) with blocks

    (0, 0)      -rho I
    (k-1, k-1)  += -2 alpha_k beta_k W_{k-1}^T T_k W_{k-1}          (k = 1..l)
    (k-1, k)    +=  (alpha_k + beta_k) W_{k-1}^T T_k  (and its transpose at (k, k-1))
    (k, k)      += -2 T_k
    (l, l)      +=  W_l^T W_l

is negative semidefinite, then ||f(x) - f(y)||_2 <= sqrt(rho) ||x - y||_2 for all x, y (the
quadratic form of M at dz is ||df||^2 - rho ||dx||^2 + sum of the constraints, which are >= 0).
A network without activation (one Linear) gives M = W^T W - rho I.

Soundness: the SDP is solved in floating point (cvxpy, Clarabel by default), which proves
nothing. The candidate multipliers are rounded to nonnegative dyadic rationals, rho is recomputed
for them and rounded up, and M(rho, T) is built **exactly** from the exact rational weights (every
float weight is a dyadic rational) and shown negative semidefinite exactly: M is symmetric, so
its characteristic polynomial det(xI - M) is real-rooted, and all its roots are <= 0 iff all its
coefficients are >= 0 (Descartes; python-flint computes the polynomial exactly). That check,
:func:`check_lipsdp_certificate`, uses only python-flint and the slope table of
:func:`activation_slopes`; a bound is returned only when it says True. The bound certified is
that of the mathematical function with the exact weights (real arithmetic), not of its
floating-point evaluation.

``naive_bound`` (product of rigorous spectral-norm bounds and slope maxima),
``sampled_lower_bound`` (pairs and gradient ascent) and ``exact_difference_quotient`` (exact or
ball-arithmetic evaluation of ||f(x) - f(y)|| / ||x - y||, to refute a claimed bound with an
explicit pair) complete it. Nothing here imports ``theorems`` or ``verify``; torch and cvxpy are
imported only by the functions that need them.
"""

from __future__ import annotations

import math
import time
import warnings
from contextlib import contextmanager
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, Iterator, Mapping, Sequence

import flint
import numpy as np

__all__ = [
    "LipschitzError", "UnsupportedLayer", "BadWeights", "TooLarge",
    "ExactLayer", "LipschitzCertificate", "NaiveBound", "DifferenceQuotient",
    "SampledLowerBound", "network_layers", "activation_slopes", "lipsdp",
    "check_lipsdp_certificate", "lipsdp_matrix_exact", "naive_bound", "sampled_lower_bound",
    "exact_difference_quotient", "exact_forward", "layers_to_json", "layers_from_json",
    "to_fmpq", "sqrt_upper",
]

Q = flint.fmpq


class LipschitzError(ValueError):
    """A network or argument the Lipschitz certifier cannot handle soundly."""


class UnsupportedLayer(LipschitzError):
    """A module that is not Linear, Identity or a supported slope-restricted activation."""


class BadWeights(LipschitzError):
    """Weights of the wrong shape or type, or non-finite (NaN, inf) weights."""


class TooLarge(LipschitzError):
    """The exact check of the LipSDP matrix would be too expensive (see ``max_rows``)."""


# --------------------------------------------------------------------------------------------
# exact numbers
# --------------------------------------------------------------------------------------------

def to_fmpq(v: Any) -> flint.fmpq:
    """The exact rational value of ``v``: an int, Fraction, fmpq, finite float (its exact binary
    value) or a string "p/q" / decimal "0.1" (read exactly). Raises ValueError / TypeError."""
    if isinstance(v, bool):
        raise TypeError("a boolean is not a number")
    if isinstance(v, flint.fmpq):
        return v
    if isinstance(v, (int, np.integer, flint.fmpz)):
        return Q(int(v))
    if isinstance(v, Fraction):
        return Q(v.numerator, v.denominator)
    if isinstance(v, (float, np.floating)):
        f = float(v)
        if not math.isfinite(f):
            raise ValueError(f"non-finite number {f}")
        return Q(*f.as_integer_ratio())
    if isinstance(v, str):
        fr = Fraction(v.strip())           # ValueError for "nan", "inf", garbage
        return Q(fr.numerator, fr.denominator)
    raise TypeError(f"cannot read {type(v).__name__} as an exact rational")


def _dyadic(x: float, bits: int, up: bool) -> flint.fmpq:
    """x >= 0 rounded to ``bits`` significant bits (to nearest, or up), exactly; x <= 0 -> 0."""
    if not x > 0:
        return Q(0)
    m, e = math.frexp(x)
    n = math.ceil(m * 2 ** bits) if up else round(m * 2 ** bits)
    e -= bits
    return Q(n * 2 ** e) if e >= 0 else Q(n, 2 ** -e)


def sqrt_upper(q: flint.fmpq, digits: int = 16) -> flint.fmpq:
    """A rational r = s / 10^k >= sqrt(q) (so r^2 >= q, exactly), with about ``digits``
    significant digits: r <= sqrt(q) (1 + 10^(1-digits))."""
    q = to_fmpq(q)
    if q < 0:
        raise ValueError("square root of a negative number")
    if q == 0:
        return Q(0)
    p, d = int(q.p), int(q.q)
    mag = (p.bit_length() - d.bit_length()) * math.log10(2) / 2     # ~ log10 sqrt(q)
    k = max(0, digits - math.floor(mag))
    t = -((-p * 100 ** k) // d)                                     # ceil(q 100^k)
    s = math.isqrt(t)
    if s * s < t:
        s += 1
    r = Q(s, 10 ** k)
    assert r * r >= q
    return r


def _float_up(q: flint.fmpq) -> float:
    """The smallest float >= q (q rational)."""
    f = float(q)
    if Q(*f.as_integer_ratio()) < q:
        f = math.nextafter(f, math.inf)
    return f


def _float_down(q: flint.fmpq) -> float:
    f = float(q)
    if Q(*f.as_integer_ratio()) > q:
        f = math.nextafter(f, -math.inf)
    return f


@contextmanager
def _precision(bits: int) -> Iterator[None]:
    old = flint.ctx.prec
    flint.ctx.prec = bits
    try:
        yield
    finally:
        flint.ctx.prec = old


# --------------------------------------------------------------------------------------------
# activations: the slope table (trusted: mathematical facts about each function)
# --------------------------------------------------------------------------------------------

ACTIVATIONS = ("relu", "leaky_relu", "hardtanh", "tanh", "sigmoid", "identity")


def activation_slopes(name: str, params: Mapping[str, Any] | None = None
                      ) -> tuple[flint.fmpq, flint.fmpq]:
    """Exact slope bounds [alpha, beta] of an elementwise activation: alpha <= (phi(s) -
    phi(t)) / (s - t) <= beta for all s != t (the slope restriction of Fazlyab et al. 2019).

    relu, hardtanh (clamp to [min_val, max_val], ReLU6 included), tanh: [0, 1]; sigmoid:
    [0, 1/4] (sigma' = sigma(1 - sigma) <= 1/4); identity: [1, 1]; leaky_relu(a):
    [min(a, 1), max(a, 1)].
    """
    params = params or {}
    if name in ("relu", "tanh"):
        return Q(0), Q(1)
    if name == "hardtanh":
        if not to_fmpq(params["min_val"]) < to_fmpq(params["max_val"]):
            raise UnsupportedLayer("hardtanh needs min_val < max_val")
        return Q(0), Q(1)
    if name == "sigmoid":
        return Q(0), Q(1, 4)
    if name == "identity":
        return Q(1), Q(1)
    if name == "leaky_relu":
        a = to_fmpq(params["negative_slope"])
        return min(a, Q(1)), max(a, Q(1))
    raise UnsupportedLayer(f"activation {name!r} has no slope bounds here "
                           f"({', '.join(ACTIVATIONS)})")


# --------------------------------------------------------------------------------------------
# exact layers
# --------------------------------------------------------------------------------------------

@dataclass(eq=False)
class ExactLayer:
    """One affine map x -> weight x + bias followed by ``activation`` (None for the output layer).

    ``weight``/``bias`` are exact rationals (python-flint); ``weight_f64``/``bias_f64`` are
    float64 copies (equal to the exact values for weights read from a network; rounded for
    exactly merged Linear-Linear products). ``params`` holds exact activation parameters
    (negative_slope of leaky_relu; min_val, max_val of hardtanh).
    """

    weight: flint.fmpq_mat
    bias: tuple[flint.fmpq, ...]
    activation: str | None
    params: dict[str, flint.fmpq] = field(default_factory=dict)
    weight_f64: np.ndarray | None = None
    bias_f64: np.ndarray | None = None

    def __post_init__(self) -> None:
        if len(self.bias) != self.weight.nrows():
            raise BadWeights(f"bias of length {len(self.bias)} for {self.weight.nrows()} outputs")
        if self.activation is not None:
            activation_slopes(self.activation, self.params)      # validates name and params
        if self.weight_f64 is None:
            self.weight_f64 = np.array([[float(e) for e in row] for row in self.weight.tolist()],
                                       dtype=np.float64).reshape(self.out_features,
                                                                 self.in_features)
        if self.bias_f64 is None:
            self.bias_f64 = np.array([float(b) for b in self.bias], dtype=np.float64)

    @property
    def in_features(self) -> int:
        return self.weight.ncols()

    @property
    def out_features(self) -> int:
        return self.weight.nrows()

    @property
    def slopes(self) -> tuple[flint.fmpq, flint.fmpq] | None:
        return None if self.activation is None else activation_slopes(self.activation, self.params)

    def to_json(self) -> dict[str, Any]:
        return {"weight": [[str(e) for e in row] for row in self.weight.tolist()],
                "bias": [str(b) for b in self.bias],
                "activation": self.activation,
                "params": {k: str(v) for k, v in self.params.items()}}


def _fmpq_mat(rows: Sequence[Sequence[Any]], ncols: int | None = None) -> flint.fmpq_mat:
    rows = [list(r) for r in rows]
    n = len(rows[0]) if rows else (ncols or 0)
    if any(len(r) != n for r in rows):
        raise BadWeights("ragged weight matrix")
    return flint.fmpq_mat(len(rows), n, [to_fmpq(e) for r in rows for e in r])


def layers_to_json(layers: Sequence[ExactLayer]) -> list[dict[str, Any]]:
    """Exact layers as JSON data (numbers as strings "p/q")."""
    return [layer.to_json() for layer in layers]


def layers_from_json(data: Sequence[Mapping[str, Any]]) -> list[ExactLayer]:
    """Inverse of :func:`layers_to_json`."""
    out = []
    for d in data:
        w = d["weight"]
        weight = _fmpq_mat(w) if w else flint.fmpq_mat(0, 0)
        out.append(ExactLayer(weight, tuple(to_fmpq(b) for b in d.get("bias", [0] * len(w))),
                              d.get("activation"),
                              {k: to_fmpq(v) for k, v in (d.get("params") or {}).items()}))
    _validate_layers(out)
    return out


def _validate_layers(layers: Sequence[ExactLayer]) -> None:
    if not layers:
        raise LipschitzError("a network needs at least one Linear layer")
    for i, layer in enumerate(layers):
        last = i == len(layers) - 1
        if last != (layer.activation is None):
            raise LipschitzError("every layer but the last needs an activation, the last none")
        if layer.in_features == 0 or layer.out_features == 0:
            raise BadWeights(f"layer {i} has an empty weight matrix")
        if i and layer.in_features != layers[i - 1].out_features:
            raise BadWeights(f"layer {i} takes {layer.in_features} inputs, layer {i - 1} gives "
                             f"{layers[i - 1].out_features}")


def _identity_layer(n: int) -> tuple[flint.fmpq_mat, tuple[flint.fmpq, ...], np.ndarray,
                                     np.ndarray]:
    return (flint.fmpq_mat(n, n, [Q(int(i == j)) for i in range(n) for j in range(n)]),
            tuple(Q(0) for _ in range(n)), np.eye(n), np.zeros(n))


def network_layers(model: Any) -> list[ExactLayer]:
    """Read a ``torch.nn.Sequential`` (or one ``nn.Linear``) into exact affine layers.

    Supported modules: ``Linear``; activations ``ReLU``, ``LeakyReLU(a)``, ``ReLU6``,
    ``Hardtanh``, ``Tanh``, ``Sigmoid`` (slope-restricted, as LipSDP needs, Fazlyab et al. 2019,
    Sec. 2); ``Identity`` (skipped); nested ``Sequential``. Consecutive Linear layers are merged
    exactly (W2 W1, W2 b1 + b2 in rationals); an identity Linear is inserted where an activation
    has no Linear before it (start, two activations in a row) or none after it (end).

    Every weight (float16/32/64, bfloat16) is a dyadic rational and is converted exactly.

    Raises
    ------
    UnsupportedLayer
        Any other module (Conv2d, Softmax, Dropout, GELU, ...), subclasses that override
        ``forward``, modules with forward hooks, an uninitialized lazy layer.
    BadWeights
        Non-floating or non-finite weights, shape mismatches.
    """
    import torch
    from torch import nn

    def flatten(m: nn.Module) -> Iterator[nn.Module]:
        if m._forward_hooks or m._forward_pre_hooks:
            raise UnsupportedLayer(f"{type(m).__name__} has forward hooks; they could change "
                                   "what it computes")
        if isinstance(m, nn.Sequential):
            if type(m).forward is not nn.Sequential.forward:
                raise UnsupportedLayer(f"{type(m).__name__} overrides Sequential.forward")
            for child in m:
                yield from flatten(child)
        else:
            yield m

    if not isinstance(model, nn.Module):
        raise UnsupportedLayer(f"expected a torch.nn.Sequential, got {type(model).__name__}")
    acts = {nn.ReLU: ("relu", ()), nn.Tanh: ("tanh", ()), nn.Sigmoid: ("sigmoid", ()),
            nn.LeakyReLU: ("leaky_relu", ("negative_slope",)),
            nn.Hardtanh: ("hardtanh", ("min_val", "max_val")),
            nn.ReLU6: ("hardtanh", ("min_val", "max_val"))}
    items: list[tuple] = []
    for m in flatten(model):
        if isinstance(m, nn.Linear):
            if type(m).forward is not nn.Linear.forward:
                raise UnsupportedLayer(f"{type(m).__name__} overrides Linear.forward")
            if isinstance(m.weight, nn.parameter.UninitializedParameter):
                raise UnsupportedLayer(f"{type(m).__name__} is not initialized yet")
            w = m.weight.detach()
            b = m.bias.detach() if m.bias is not None else torch.zeros(w.shape[0], dtype=w.dtype)
            if not (w.is_floating_point() and b.is_floating_point()):
                raise BadWeights(f"Linear weights of dtype {w.dtype}, expected floating point")
            if w.dim() != 2 or b.shape != (w.shape[0],):
                raise BadWeights(f"Linear weight of shape {tuple(w.shape)} with bias of shape "
                                 f"{tuple(b.shape)}")
            wf = w.to(torch.float64).cpu().numpy().copy()     # widening is exact
            bf = b.to(torch.float64).cpu().numpy().copy()
            if not (np.isfinite(wf).all() and np.isfinite(bf).all()):
                raise BadWeights("non-finite (NaN or inf) weights in a Linear layer")
            W = flint.fmpq_mat(wf.shape[0], wf.shape[1],
                               [Q(*v.as_integer_ratio()) for v in wf.ravel().tolist()])
            B = tuple(Q(*v.as_integer_ratio()) for v in bf.tolist())
            if items and items[-1][0] == "lin":            # merge Linear after Linear exactly
                _, W1, B1, _, _ = items[-1]
                if W1.nrows() != W.ncols():
                    raise BadWeights(f"Linear with {W.ncols()} inputs after one with "
                                     f"{W1.nrows()} outputs")
                Bcol = W * flint.fmpq_mat(len(B1), 1, list(B1))
                items[-1] = ("lin", W * W1, tuple(Bcol[i, 0] + B[i] for i in range(len(B))),
                             None, None)
            else:
                items.append(("lin", W, B, wf, bf))
        elif type(m) in acts:
            name, keys = acts[type(m)]
            params = {}
            for k in keys:
                v = getattr(m, k)
                if not math.isfinite(float(v)):
                    raise BadWeights(f"{type(m).__name__}.{k} = {v} is not finite")
                params[k] = to_fmpq(float(v))
            activation_slopes(name, params)
            items.append(("act", name, params))
        elif type(m) is nn.Identity:
            continue
        else:
            raise UnsupportedLayer(
                f"{type(m).__name__} is not supported: only Linear, Identity and the "
                "slope-restricted activations ReLU, LeakyReLU, ReLU6, Hardtanh, Tanh, Sigmoid")
    widths = [it[1].ncols() for it in items if it[0] == "lin"]
    if not widths:
        raise UnsupportedLayer("the network has no Linear layer (its input size is unknown)")
    out: list[ExactLayer] = []
    width = widths[0]
    pending: tuple | None = None                  # a Linear waiting for its activation
    for it in items:
        if it[0] == "lin":
            if it[1].ncols() != width:
                raise BadWeights(f"Linear with {it[1].ncols()} inputs after a layer with "
                                 f"{width} outputs")
            pending, width = it, it[1].nrows()
        else:
            if pending is None:
                W, B, wf, bf = _identity_layer(width)
                pending = ("lin", W, B, wf, bf)
            _, W, B, wf, bf = pending
            out.append(ExactLayer(W, B, it[1], it[2], wf, bf))
            pending = None
    if pending is None:
        W, B, wf, bf = _identity_layer(width)
        pending = ("lin", W, B, wf, bf)
    _, W, B, wf, bf = pending
    out.append(ExactLayer(W, B, None, {}, wf, bf))
    _validate_layers(out)
    return out


def _as_layers(layers: Any) -> list[ExactLayer]:
    if isinstance(layers, (list, tuple)) and all(isinstance(x, ExactLayer) for x in layers):
        _validate_layers(layers)
        return list(layers)
    if isinstance(layers, (list, tuple)) and all(isinstance(x, Mapping) for x in layers):
        return layers_from_json(layers)
    return network_layers(layers)


# --------------------------------------------------------------------------------------------
# the exact check (independent of the SDP code: fractions/python-flint only)
# --------------------------------------------------------------------------------------------

def lipsdp_matrix_exact(weights: Sequence[flint.fmpq_mat],
                        slopes: Sequence[tuple[flint.fmpq, flint.fmpq]],
                        rho: flint.fmpq, multipliers: Sequence[Sequence[flint.fmpq]]
                        ) -> flint.fmpq_mat:
    """The LipSDP-Neuron matrix M(rho, T) of Fazlyab et al. 2019 (Theorem 2), exactly.

    ``weights`` = [W_0, ..., W_l], ``slopes[k-1]`` = (alpha_k, beta_k) and ``multipliers[k-1]``
    = diag(T_k) for hidden layer k = 1..l; blocks as in the module docstring.
    """
    dims = [weights[0].ncols()] + [W.nrows() for W in weights[:-1]]
    off = [sum(dims[:k]) for k in range(len(dims) + 1)]
    n = off[-1]
    E = [[Q(0)] * n for _ in range(n)]

    def add(bi: int, bj: int, block: flint.fmpq_mat, c: flint.fmpq) -> None:
        for i, row in enumerate(block.tolist()):
            Ei = E[off[bi] + i]
            for j, v in enumerate(row):
                if v:
                    Ei[off[bj] + j] += c * v

    for i in range(dims[0]):
        E[i][i] -= rho
    for k in range(1, len(weights)):
        W, (a, b), lam = weights[k - 1], slopes[k - 1], multipliers[k - 1]
        L = flint.fmpq_mat(dims[k], dims[k], [lam[i] if i == j else Q(0)
                                              for i in range(dims[k]) for j in range(dims[k])])
        WtL = W.transpose() * L
        if a * b != 0:
            add(k - 1, k - 1, WtL * W, -2 * a * b)
        if a + b != 0:
            add(k - 1, k, WtL, a + b)
            add(k, k - 1, WtL.transpose(), a + b)
        add(k, k, L, Q(-2))
    Wl = weights[-1]
    add(len(weights) - 1, len(weights) - 1, Wl.transpose() * Wl, Q(1))
    return flint.fmpq_mat(n, n, [v for row in E for v in row])


def _is_nsd_exact(M: flint.fmpq_mat) -> bool:
    """M symmetric and negative semidefinite, decided exactly: det(xI - M) is real-rooted, and
    its roots are all <= 0 iff its coefficients are all >= 0."""
    return M == M.transpose() and all(c >= 0 for c in M.charpoly().coeffs())


def check_lipsdp_certificate(exact_layers: Sequence[ExactLayer | Mapping[str, Any]],
                             rho: Any, multipliers: Sequence[Sequence[Any]]) -> bool:
    """Decide exactly whether (rho, multipliers) proves L_2(f) <= sqrt(rho).

    True iff every multiplier is a rational >= 0, rho is a rational >= 0, the shapes match and
    the LipSDP-Neuron matrix M(rho, T) of Fazlyab et al. 2019 (Theorem 2), built exactly from
    the exact weights and the slope bounds of :func:`activation_slopes`, is negative
    semidefinite (exact characteristic-polynomial sign test). Then ||f(x) - f(y)||_2 <=
    sqrt(rho) ||x - y||_2 for all x, y. Anything malformed (NaN, wrong lengths, unknown
    activation) gives False.

    ``exact_layers`` may be :class:`ExactLayer` objects or their JSON form
    (:func:`layers_to_json`); numbers may be fmpq, Fraction, int or strings "p/q". Uses only
    python-flint and fractions (no solver, no torch).
    """
    try:
        weights, slopes = [], []
        for i, layer in enumerate(exact_layers):
            if isinstance(layer, Mapping):
                W, act = _fmpq_mat(layer["weight"]), layer.get("activation")
                params = {k: to_fmpq(v) for k, v in (layer.get("params") or {}).items()}
            else:
                W, act, params = layer.weight, layer.activation, layer.params
            if (i == len(exact_layers) - 1) != (act is None):
                return False
            if act is not None:
                slopes.append(activation_slopes(act, params))
            weights.append(W)
        r = to_fmpq(rho)
        lams = [[to_fmpq(t) for t in lam] for lam in multipliers]
    except (ValueError, TypeError, KeyError, ZeroDivisionError):
        return False
    if not weights or r < 0 or len(lams) != len(slopes) or weights[0].ncols() == 0:
        return False
    if any(weights[k + 1].ncols() != weights[k].nrows() for k in range(len(weights) - 1)):
        return False
    if any(len(lam) != weights[k].nrows() or any(t < 0 for t in lam) for k, lam in enumerate(lams)):
        return False
    return _is_nsd_exact(lipsdp_matrix_exact(weights, slopes, r, lams))


# --------------------------------------------------------------------------------------------
# the SDP (floating point; a candidate only)
# --------------------------------------------------------------------------------------------

def _blocks(Ws: Sequence[np.ndarray], slopes: Sequence[tuple[float, float]], rho: Any,
            lams: Sequence[Any], diag: Any) -> list[list[Any]]:
    """Blocks of M(rho, T) for numpy arrays or cvxpy expressions (None = zero block)."""
    nb = len(Ws)
    dims = [Ws[0].shape[1]] + [W.shape[0] for W in Ws[:-1]]
    B: list[list[Any]] = [[None] * nb for _ in range(nb)]

    def add(i: int, j: int, X: Any) -> None:
        B[i][j] = X if B[i][j] is None else B[i][j] + X

    add(0, 0, -rho * np.eye(dims[0]))
    for k in range(1, nb):
        W, (a, b), L = Ws[k - 1], slopes[k - 1], diag(lams[k - 1])
        if a * b != 0:
            add(k - 1, k - 1, (-2 * a * b) * (W.T @ L @ W))
        if a + b != 0:
            add(k - 1, k, (a + b) * (W.T @ L))
            add(k, k - 1, (a + b) * (L @ W))
        add(k, k, -2 * L)
    add(nb - 1, nb - 1, Ws[-1].T @ Ws[-1])
    for i in range(nb):
        for j in range(nb):
            if B[i][j] is None:
                B[i][j] = np.zeros((dims[i], dims[j]))
    return B


def _matrix_f64(Ws, slopes, rho: float, lams) -> np.ndarray:
    M = np.block(_blocks(Ws, slopes, rho, [np.asarray(l, dtype=float) for l in lams], np.diag))
    return (M + M.T) / 2


@dataclass
class _Solve:
    ok: bool
    status: str
    rho: float | None = None
    lams: list[np.ndarray] | None = None
    seconds: float = 0.0


def _affine_form(Ws, slopes) -> tuple[Any, np.ndarray, int]:
    """vec(M(rho, T)) = F @ [rho, lambda] + c (row-major vec), F sparse: the same matrix as
    :func:`_blocks`, one column per variable, so cvxpy sees a single affine expression."""
    import scipy.sparse as sp

    dims = [Ws[0].shape[1]] + [W.shape[0] for W in Ws[:-1]]
    off = [sum(dims[:k]) for k in range(len(dims) + 1)]
    n = off[-1]
    rows: list[np.ndarray] = []
    cols: list[np.ndarray] = []
    vals: list[np.ndarray] = []

    def put(col: int, r: np.ndarray, c: np.ndarray, v: np.ndarray) -> None:
        rows.append(r * n + c)
        cols.append(np.full(r.shape, col))
        vals.append(v)

    i0 = np.arange(dims[0])
    put(0, i0, i0, -np.ones(dims[0]))
    col = 1
    for k in range(1, len(Ws)):
        W, (a, b) = Ws[k - 1], slopes[k - 1]
        p = np.arange(dims[k - 1]) + off[k - 1]
        for i in range(dims[k]):
            w, q = W[i], off[k] + i
            if a * b != 0:
                R, C = np.meshgrid(p, p, indexing="ij")
                put(col, R.ravel(), C.ravel(), (-2 * a * b) * np.outer(w, w).ravel())
            if a + b != 0:
                put(col, p, np.full(p.shape, q), (a + b) * w)
                put(col, np.full(p.shape, q), p, (a + b) * w)
            put(col, np.array([q]), np.array([q]), np.array([-2.0]))
            col += 1
    F = sp.csc_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                      shape=(n * n, col))
    c = np.zeros((n, n))
    pl = slice(off[-2], off[-1])
    c[pl, pl] = Ws[-1].T @ Ws[-1]
    return F, ((c + c.T) / 2).ravel(), n


def _solve(Ws, slopes, margin: float, solver: str, options: Mapping[str, Any],
           accept_inaccurate: bool) -> _Solve:
    import cvxpy as cp

    t0 = time.perf_counter()
    F, c, n = _affine_form(Ws, slopes)
    x = cp.Variable(F.shape[1], name="rho_lambda")           # x[0] = rho, x[1:] = lambda
    M = cp.reshape(F @ x + c, (n, n), order="C")
    S = (M + M.T) / 2
    prob = cp.Problem(cp.Minimize(x[0]), [x[1:] >= 0, -S - margin * np.eye(n) >> 0]
                      if F.shape[1] > 1 else [-S - margin * np.eye(n) >> 0])
    try:
        with warnings.catch_warnings():     # "Solution may be inaccurate": the status says it
            warnings.simplefilter("ignore", UserWarning)
            prob.solve(solver=solver, **dict(options))
    except (cp.SolverError, ValueError, ArithmeticError) as e:
        return _Solve(False, f"solver_error: {e}", seconds=time.perf_counter() - t0)
    status = str(prob.status)
    ok = status == cp.OPTIMAL or (accept_inaccurate and status == cp.OPTIMAL_INACCURATE)
    if not ok:
        return _Solve(False, status, seconds=time.perf_counter() - t0)
    v = x.value
    if v is None or not np.all(np.isfinite(v)):
        return _Solve(False, f"{status} with non-finite values", seconds=time.perf_counter() - t0)
    lams, i = [], 1
    for W in Ws[:-1]:
        lams.append(np.asarray(v[i:i + W.shape[0]], dtype=float))
        i += W.shape[0]
    return _Solve(True, status, float(v[0]), lams, time.perf_counter() - t0)


@dataclass
class LipschitzCertificate:
    """Result of :func:`lipsdp`. ``bound`` is set only when ``certified``; it is a rational
    with bound^2 >= rho, and the exact check proved L_2(f) <= sqrt(rho) <= bound.

    ``solver_rho`` is the solver's optimal value of rho = L^2 (first solve, no margin): a
    floating-point estimate, never a bound. Times are wall-clock seconds (reported only).
    """

    certified: bool
    status: str                     # "certified", "solver-failed", "check-failed"
    message: str
    solver: str
    solver_status: str
    solver_rho: float | None = None
    rho: flint.fmpq | None = None
    multipliers: list[list[flint.fmpq]] | None = None
    bound: flint.fmpq | None = None
    margin: float | None = None
    solve_seconds: float = 0.0
    check_seconds: float = 0.0
    total_seconds: float = 0.0
    rows: int = 0
    attempts: list[dict[str, Any]] = field(default_factory=list)

    @property
    def bound_float(self) -> float | None:
        """The smallest float >= ``bound`` (so still an upper bound)."""
        return None if self.bound is None else _float_up(self.bound)

    @property
    def solver_bound(self) -> float | None:
        """sqrt(solver_rho): LipSDP's floating-point value of L (an estimate)."""
        return None if self.solver_rho is None else math.sqrt(max(self.solver_rho, 0.0))

    def to_json(self) -> dict[str, Any]:
        return {
            "certified": self.certified, "status": self.status, "message": self.message,
            "norm": "2", "method": "LipSDP-Neuron (Fazlyab et al. 2019, Theorem 2), exact check",
            "bound": None if self.bound is None else str(self.bound),
            "bound_float_upper": self.bound_float,
            "rho": None if self.rho is None else str(self.rho),
            "multipliers": None if self.multipliers is None
            else [[str(t) for t in lam] for lam in self.multipliers],
            "solver": self.solver, "solver_status": self.solver_status,
            "solver_rho": self.solver_rho, "margin": self.margin, "rows": self.rows,
            "times": {"solve_s": self.solve_seconds, "check_s": self.check_seconds,
                      "total_s": self.total_seconds},
            "attempts": self.attempts,
        }


def lipsdp(layers: Any, *, solver: str = "CLARABEL",
           solver_options: Mapping[str, Any] | None = None,
           margins: Sequence[float] = (0.0, 1e-9, 1e-7, 1e-5, 1e-3),
           rho_slacks: Sequence[float] = (1e-10, 1e-7, 1e-4), bits: int = 32,
           max_rows: int = 400, accept_inaccurate: bool = False) -> LipschitzCertificate:
    """Certified 2-norm Lipschitz bound of a feed-forward network by LipSDP-Neuron.

    Solves min rho s.t. M(rho, T) <= -margin I, T = diag(lambda) >= 0 (Fazlyab et al. 2019,
    Theorem 2, LipSDP-Neuron) with cvxpy, then proves a rounded candidate exactly with
    :func:`check_lipsdp_certificate`. Guarantee: when ``certified`` is True,
    ||f(x) - f(y)||_2 <= bound ||x - y||_2 for all x, y, for the network with the exact weights.

    The SDP is solved on a copy whose layers are scaled by powers of two to unit spectral norm
    (exact; mapped back by the congruence D = diag(prod of the scales)). For each margin in
    ``margins`` (relative to the scaled problem; 0 first), the multipliers are rounded to
    ``bits`` significant bits, rho is recomputed for them (Schur complement) plus each slack of
    ``rho_slacks`` and rounded up, and the exact check decides. Every solver status but
    "optimal" ("optimal_inaccurate" too, unless ``accept_inaccurate``) is a failure of that
    attempt; if no attempt passes the exact check, the result is not certified (no bound).

    Parameters
    ----------
    layers
        :func:`network_layers` output, its JSON form, or a torch ``nn.Sequential``.
    solver, solver_options
        cvxpy solver name and keyword arguments of ``Problem.solve``. "CLARABEL" (default);
        "SCS" (first order: pass eps_abs/eps_rel ~ 1e-9); "CVXOPT" where installed, much faster
        on larger networks (its Schur complement is in the few multipliers, while Clarabel
        factors a dense block of the order of rows^2 / 2).
    max_rows
        Refuse (``TooLarge``) networks whose matrix M has more rows (input + hidden neurons):
        the exact check costs about rows^3 big-rational operations.
    """
    t_start = time.perf_counter()
    layers = _as_layers(layers)
    rows = layers[0].in_features + sum(layer.out_features for layer in layers[:-1])
    if rows > max_rows:
        raise TooLarge(f"LipSDP matrix of {rows} rows (input + hidden neurons) exceeds "
                       f"max_rows={max_rows}")
    options = dict(solver_options or {})
    # scale layer k by 2^-e_k so that ||W_k'|| beta_{k+1} ~ 1 (beta of the activation after
    # it; 1 for the output layer), which keeps rho' ~ 1: exact in floats and in rationals
    exps = []
    for k, layer in enumerate(layers):
        s = float(np.linalg.norm(layer.weight_f64, 2))
        if layer.activation is not None:
            s *= float(max(abs(a) for a in layer.slopes))
        exps.append(0 if not (s > 0 and math.isfinite(s)) else round(math.log2(s)))
    Wn = [np.ldexp(layer.weight_f64, -e) for layer, e in zip(layers, exps)]
    slopes_q = [layer.slopes for layer in layers[:-1]]
    slopes_f = [(float(a), float(b)) for a, b in slopes_q]
    E = [sum(exps[:k]) for k in range(len(layers) + 1)]      # sigma_k = 2^E_k
    P = 2 * E[-1]                                            # rho = rho' 2^P

    def back(x: flint.fmpq, p: int) -> flint.fmpq:
        return x * Q(2) ** p if p >= 0 else x / Q(2) ** (-p)

    res = LipschitzCertificate(False, "solver-failed", "", solver, "not solved", rows=rows)
    first: _Solve | None = None
    any_solved = False
    for margin in margins:
        sol = _solve(Wn, slopes_f, margin, solver, options, accept_inaccurate)
        res.solve_seconds += sol.seconds
        res.solver_status = sol.status
        if first is None:
            first = sol
            res.solver_rho = sol.rho * 2.0 ** P if sol.ok else None
        attempt: dict[str, Any] = {"margin": margin, "solver_status": sol.status,
                                   "solve_s": sol.seconds}
        res.attempts.append(attempt)
        if sol.status.startswith("solver_error"):
            break                             # an unknown solver or bad options: no retry helps
        if not sol.ok:
            continue
        any_solved = True
        lam_q = [[_dyadic(float(v), bits, up=False) for v in lam] for lam in sol.lams]
        lam_f = [np.array([float(v) for v in lam]) for lam in lam_q]      # exact copies
        M0 = _matrix_f64(Wn, slopes_f, 0.0, lam_f)
        n0 = Wn[0].shape[1]
        if M0.shape[0] > n0:
            N, C = M0[n0:, n0:], M0[:n0, n0:]
            top = float(np.linalg.eigvalsh(N)[-1])
            attempt["hidden_lambda_max"] = top
            if not top < -1e-12 * max(1.0, float(np.abs(N).max())):
                attempt["result"] = "hidden block not negative definite (float)"
                continue
            S0 = M0[:n0, :n0] - C @ np.linalg.solve(N, C.T)
        else:
            S0 = M0
        rho_f = float(np.linalg.eigvalsh((S0 + S0.T) / 2)[-1])
        attempt["rho_repaired"] = rho_f * 2.0 ** P
        attempt["checks"] = []
        for slack in rho_slacks:
            rho_n = _dyadic(max(0.0, rho_f + slack * max(abs(rho_f), sol.rho, 1e-300)), bits,
                            up=True)
            top = float(np.linalg.eigvalsh(_matrix_f64(Wn, slopes_f, float(rho_n), lam_f))[-1])
            check: dict[str, Any] = {"slack": slack, "float_lambda_max": top}
            attempt["checks"].append(check)
            if top > 1e-8 * max(1.0, float(rho_n)):
                check["exact"] = "skipped (float lambda_max > 0)"
                continue
            rho = back(rho_n, P)
            lams = [[back(t, P - 2 * E[k + 1]) for t in lam] for k, lam in enumerate(lam_q)]
            t0 = time.perf_counter()
            ok = check_lipsdp_certificate(layers, rho, lams)
            dt = time.perf_counter() - t0
            res.check_seconds += dt
            check.update(exact=ok, check_s=dt)
            if ok:
                res.certified, res.status = True, "certified"
                res.rho, res.multipliers, res.bound = rho, lams, sqrt_upper(rho)
                res.margin = margin
                res.message = (f"M(rho, T) <= 0 proved exactly ({rows} rows); "
                               f"L_2 <= {res.bound_float:.10g}")
                res.total_seconds = time.perf_counter() - t_start
                return res
    if any_solved:
        res.status = "check-failed"
        res.message = "no rounded candidate passed the exact check; no bound"
    else:
        res.status = "solver-failed"
        res.message = ("the SDP solver gave no optimal solution (statuses: "
                       + ", ".join(a["solver_status"] for a in res.attempts) + "); no bound")
    res.total_seconds = time.perf_counter() - t_start
    return res


# --------------------------------------------------------------------------------------------
# reference bounds
# --------------------------------------------------------------------------------------------

@dataclass
class NaiveBound:
    """prod_k ||W_k||_2 * prod_k max(|alpha_k|, |beta_k|), with rigorous norm bounds.

    ``norms[k]`` is a rational >= ||W_k||_2 and ``methods[k]`` says how it was proved:
    "gram-charpoly" (c^2 I - W^T W >= 0 exactly, c the float SVD norm rounded up to 40 bits,
    else inflated by 1e-12, 1e-9, 1e-6: exact when the norm is a short float, e.g. |w| of a
    scalar layer) or "frobenius" (c >= ||W_k||_F >= ||W_k||_2)."""

    bound: flint.fmpq
    norms: list[flint.fmpq]
    methods: list[str]
    slope_factors: list[flint.fmpq]

    @property
    def bound_float(self) -> float:
        return _float_up(self.bound)


def naive_bound(layers: Any, gram_max: int = 200) -> NaiveBound:
    """The naive Lipschitz bound, product of layer norms and activation slope maxima.

    Sound upper bound of L_2(f) (composition of Lipschitz maps); LipSDP is never worse for
    activations with alpha = 0 (Fazlyab et al. 2019, Sec. 2.2). Each ||W||_2 is bounded by a
    rational c with c^2 I - G >= 0 proved exactly (G the smaller Gram matrix, charpoly sign
    test), falling back to the exact Frobenius norm rounded up (also where the Gram matrix has
    more than ``gram_max`` rows).
    """
    layers = _as_layers(layers)
    norms, methods, factors = [], [], []
    for layer in layers:
        W = layer.weight
        G = W * W.transpose() if W.nrows() <= W.ncols() else W.transpose() * W
        n = G.nrows()
        sigma = float(np.linalg.norm(layer.weight_f64, 2))
        found = None
        for infl in ((0.0, 1e-12, 1e-9, 1e-6) if n <= gram_max else ()):
            c = _dyadic(sigma * (1 + infl) + 1e-300, 40, up=True)
            I = flint.fmpq_mat(n, n, [c * c if i == j else Q(0)
                                      for i in range(n) for j in range(n)])
            if _is_nsd_exact(G - I):
                found = c
                break
        if found is not None:
            norms.append(found)
            methods.append("gram-charpoly")
        else:
            norms.append(sqrt_upper(sum((e * e for e in W.entries()), Q(0))))
            methods.append("frobenius")
    for layer in layers[:-1]:
        a, b = layer.slopes
        factors.append(max(abs(a), abs(b)))
    bound = Q(1)
    for x in norms + factors:
        bound *= x
    return NaiveBound(bound, norms, methods, factors)


# --------------------------------------------------------------------------------------------
# exact evaluation and difference quotients
# --------------------------------------------------------------------------------------------

def _act_exact(name: str, params: Mapping[str, flint.fmpq], v: Any) -> Any:
    """phi(v): exact for fmpq input and piecewise-linear phi, else an arb ball."""
    if name == "identity":
        return v
    if isinstance(v, flint.fmpq):
        if name == "relu":
            return v if v > 0 else Q(0)
        if name == "leaky_relu":
            return v if v >= 0 else params["negative_slope"] * v
        if name == "hardtanh":
            return min(max(v, params["min_val"]), params["max_val"])
        v = flint.arb(v)
    if name == "relu":
        return v.max(flint.arb(0))
    if name == "leaky_relu":
        a = flint.arb(params["negative_slope"])
        return v if v > 0 else (a * v if v < 0 else v.union(a * v))
    if name == "hardtanh":
        return v.max(flint.arb(params["min_val"])).min(flint.arb(params["max_val"]))
    if name == "tanh":
        return v.tanh()
    if name == "sigmoid":
        return 1 / (1 + (-v).exp())
    raise UnsupportedLayer(f"activation {name!r}")


def exact_forward(layers: Any, x: Sequence[Any], prec: int = 256) -> list[Any]:
    """f(x) for rational x: exact fmpq values through Linear and piecewise-linear layers,
    python-flint arb balls (``prec`` bits) once tanh or sigmoid appear. Balls contain the
    true values."""
    layers = _as_layers(layers)
    vals: list[Any] = [to_fmpq(v) for v in x]
    if len(vals) != layers[0].in_features:
        raise LipschitzError(f"input of length {len(vals)}, the network takes "
                             f"{layers[0].in_features}")
    with _precision(prec):
        for layer in layers:
            if all(isinstance(v, flint.fmpq) for v in vals):
                col = layer.weight * flint.fmpq_mat(len(vals), 1, vals)
                pre = [col[i, 0] + layer.bias[i] for i in range(layer.out_features)]
            else:
                rows = layer.weight.tolist()
                pre = [flint.arb(b) + sum((flint.arb(w) * v for w, v in zip(row, vals)),
                                          flint.arb(0))
                       for row, b in zip(rows, layer.bias)]
            vals = pre if layer.activation is None else [
                _act_exact(layer.activation, layer.params, v) for v in pre]
    return vals


@dataclass
class DifferenceQuotient:
    """Enclosure of ||f(x) - f(y)||_2 / ||x - y||_2 at an explicit rational pair.

    ``squared`` is the exact squared quotient when f was evaluated exactly (piecewise-linear
    networks), else None; ``ball`` is an arb ball containing the quotient."""

    x: list[flint.fmpq]
    y: list[flint.fmpq]
    squared: flint.fmpq | None
    ball: flint.arb

    def exceeds(self, bound: Any) -> bool:
        """True only if the quotient is certainly > bound (so the pair refutes L <= bound)."""
        c = to_fmpq(bound)
        if self.squared is not None:
            return c < 0 or self.squared > c * c
        with _precision(max(flint.ctx.prec, 256)):
            return bool(self.ball > flint.arb(c))

    @property
    def lower(self) -> float:
        """A float <= the quotient (rigorous)."""
        if self.squared == 0:
            return 0.0
        return max(0.0, math.nextafter(float(self.ball.lower()), -math.inf))

    @property
    def upper(self) -> float:
        return math.nextafter(float(self.ball.upper()), math.inf)


def exact_difference_quotient(exact_layers: Any, x: Sequence[Any], y: Sequence[Any],
                              prec: int = 256) -> DifferenceQuotient:
    """||f(x) - f(y)||_2 / ||x - y||_2 at a rational pair, exactly or in ball arithmetic.

    Inputs are read exactly (floats as their binary values, strings as "p/q"). ReLU, LeakyReLU,
    Hardtanh and Identity are evaluated exactly; tanh and sigmoid in python-flint ball arithmetic
    at ``prec`` bits. Since L_2(f) >= the quotient, :meth:`DifferenceQuotient.exceeds` refutes a
    claimed bound L <= c (Fazlyab et al. 2019 bound from above; this is the lower side).
    """
    layers = _as_layers(exact_layers)
    xq, yq = [to_fmpq(v) for v in x], [to_fmpq(v) for v in y]
    if len(xq) != len(yq):
        raise LipschitzError("x and y differ in length")
    den = sum(((a - b) ** 2 for a, b in zip(xq, yq)), Q(0))
    if den == 0:
        raise LipschitzError("x == y: the difference quotient is undefined")
    fx, fy = exact_forward(layers, xq, prec), exact_forward(layers, yq, prec)
    with _precision(prec):
        if all(isinstance(v, flint.fmpq) for v in fx + fy):
            num = sum(((a - b) ** 2 for a, b in zip(fx, fy)), Q(0))
            sq = num / den
            return DifferenceQuotient(xq, yq, sq, flint.arb(sq).sqrt())
        num = sum(((flint.arb(a) - flint.arb(b)) ** 2 for a, b in zip(fx, fy)), flint.arb(0))
        ball = (num / flint.arb(den)).nonnegative_part().sqrt()      # the quotient is >= 0
        return DifferenceQuotient(xq, yq, None, ball)


# --------------------------------------------------------------------------------------------
# sampled lower bound
# --------------------------------------------------------------------------------------------

@dataclass
class SampledLowerBound:
    """Best pair found by sampling and gradient ascent of ||f(x) - f(y)|| / ||x - y||.

    ``value`` is the float64 quotient (an estimate); ``exact`` the rigorous enclosure at the same
    (x, y) (see :func:`exact_difference_quotient`), whose ``lower`` is a true lower bound of L."""

    value: float
    x: np.ndarray
    y: np.ndarray
    samples: int
    seed: int
    exact: DifferenceQuotient | None = None

    @property
    def lower(self) -> float | None:
        return None if self.exact is None else self.exact.lower


def _torch_forward(layers: Sequence[ExactLayer]):
    import torch

    Ws = [torch.tensor(l.weight_f64) for l in layers]
    bs = [torch.tensor(l.bias_f64) for l in layers]

    def f(x):
        for layer, W, b in zip(layers, Ws, bs):
            x = x @ W.T + b
            a, p = layer.activation, layer.params
            if a == "relu":
                x = torch.relu(x)
            elif a == "leaky_relu":
                x = torch.nn.functional.leaky_relu(x, float(p["negative_slope"]))
            elif a == "hardtanh":
                x = torch.clamp(x, float(p["min_val"]), float(p["max_val"]))
            elif a == "tanh":
                x = torch.tanh(x)
            elif a == "sigmoid":
                x = torch.sigmoid(x)
        return x

    return f


_PIECEWISE_LINEAR = ("relu", "leaky_relu", "hardtanh", "identity")


def _torch_jacobian(layers: Sequence[ExactLayer]):
    """X (m, n0) -> the Jacobians (m, out, n0) of f at the rows of X: the product W_l D_{l-1}
    ... D_0 W_0 with D_k = diag(phi_k'(pre-activation)), differentiable in X for tanh and
    sigmoid (no torch.func: its first use imports torch._dynamo, seconds)."""
    import torch

    Ws = [torch.tensor(l.weight_f64) for l in layers]
    bs = [torch.tensor(l.bias_f64) for l in layers]

    def jac(x):
        J = None
        for layer, W, b in zip(layers, Ws, bs):
            pre = x @ W.T + b
            J = W.expand(x.shape[0], *W.shape) if J is None else W @ J
            a, p = layer.activation, layer.params
            if a is None or a == "identity":
                x = pre
                continue
            if a == "relu":
                x, slope = torch.relu(pre), (pre > 0).to(pre.dtype)
            elif a == "leaky_relu":
                k = float(p["negative_slope"])
                x = torch.nn.functional.leaky_relu(pre, k)
                slope = torch.where(pre >= 0, torch.ones_like(pre), torch.full_like(pre, k))
            elif a == "hardtanh":
                lo, hi = float(p["min_val"]), float(p["max_val"])
                x, slope = torch.clamp(pre, lo, hi), ((pre > lo) & (pre < hi)).to(pre.dtype)
            elif a == "tanh":
                x = torch.tanh(pre)
                slope = 1 - x * x
            else:
                x = torch.sigmoid(pre)
                slope = x * (1 - x)
            J = slope[:, :, None] * J
        return J

    return jac


def sampled_lower_bound(layers: Any, seed: int = 0, samples: int = 256, *, scale: float = 1.0,
                        steps: int = 100, exact: bool = True) -> SampledLowerBound:
    """Lower estimate of L_2(f): max of ||f(x) - f(y)|| / ||x - y|| over sampled pairs.

    Pairs: x ~ N(0, scale^2 I) with y = x + r u (u uniform direction, r log-uniform in
    [1e-4, 1] scale) and y = x + 1e-4 scale v (v the top right singular vector of the Jacobian
    at x). Then ``steps`` Adam steps (torch, float64) of gradient ascent twice: of the 8 best
    pairs' quotient in (x, y), and of ||J(x)||_2 at the 8 points of largest Jacobian norm (for
    smooth activations only: piecewise-linear networks have a locally constant J), each ending
    in a pair (x, x + 1e-4 scale v). Deterministic for a given ``seed``. With ``exact`` the
    best pair is re-evaluated by :func:`exact_difference_quotient`, whose lower end is a
    rigorous lower bound of L (the other side of Fazlyab et al. 2019's upper bound).
    """
    import torch

    if samples < 1 or steps < 0 or not scale > 0:
        raise LipschitzError("samples >= 1, steps >= 0 and scale > 0 are needed")
    layers = _as_layers(layers)
    f = _torch_forward(layers)
    jac = _torch_jacobian(layers)
    smooth = any(layer.activation not in _PIECEWISE_LINEAR for layer in layers[:-1])
    rng = np.random.default_rng(seed)
    n0 = layers[0].in_features
    X = rng.normal(0.0, scale, (samples, n0))
    U = rng.normal(size=(samples, n0))
    U /= np.linalg.norm(U, axis=1, keepdims=True)
    r = scale * 10.0 ** rng.uniform(-4, 0, (samples, 1))
    h = 1e-4 * scale

    def top_direction(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        J = jac(torch.tensor(x)).detach().numpy()                         # (m, out, n0)
        _, sv, vt = np.linalg.svd(J)
        return sv[:, 0], vt[:, 0, :]

    m = min(samples, 64)
    norms, V = top_direction(X[:m])
    Xa, Da = np.concatenate([X, X[:m]]), np.concatenate([r * U, h * V])

    def quot(x: torch.Tensor, d: torch.Tensor) -> torch.Tensor:
        return (f(x + d) - f(x)).norm(dim=1) / d.norm(dim=1)

    def finite(v: np.ndarray) -> np.ndarray:
        return np.where(np.isfinite(v), v, -np.inf)

    with torch.no_grad():
        q0 = finite(quot(torch.tensor(Xa), torch.tensor(Da)).numpy())
    order = np.argsort(-q0, kind="stable")[:8]
    best = (float(q0[order[0]]), Xa[order[0]].copy(), Da[order[0]].copy())

    def consider(x: np.ndarray, d: np.ndarray) -> None:
        nonlocal best
        with torch.no_grad():
            q = finite(quot(torch.tensor(x), torch.tensor(d)).numpy())
        i = int(np.argmax(q))
        if q[i] > best[0]:
            best = (float(q[i]), x[i].copy(), d[i].copy())

    if steps > 0:
        x = torch.tensor(Xa[order], requires_grad=True)
        d = torch.tensor(Da[order], requires_grad=True)
        opt = torch.optim.Adam([x, d], lr=1e-2 * scale)
        for _ in range(steps):
            opt.zero_grad()
            (-quot(x, d).sum()).backward()
            opt.step()
            with torch.no_grad():                       # keep ||d|| away from 0 and infinity
                nd = d.norm(dim=1, keepdim=True)
                d.mul_(torch.clamp(nd, 1e-6 * scale, 10 * scale) / nd)
        consider(x.detach().numpy(), d.detach().numpy())
        x = torch.tensor(X[:m][np.argsort(-finite(norms), kind="stable")[:8]], requires_grad=True)
        opt = torch.optim.Adam([x], lr=5e-2 * scale)
        for _ in range(steps if smooth else 0):         # J is locally constant otherwise
            opt.zero_grad()
            s_ = torch.linalg.matrix_norm(jac(x), ord=2)
            if not (s_.requires_grad and bool(torch.isfinite(s_).all())):
                break                                   # J constant (linear) or overflow
            (-s_.sum()).backward()
            opt.step()
        xs = x.detach().numpy()
        consider(xs, h * top_direction(xs)[1])
    xb, yb = best[1], best[1] + best[2]
    out = SampledLowerBound(best[0], xb, yb, samples, seed)
    if exact and not np.array_equal(xb, yb):
        out.exact = exact_difference_quotient(layers, xb.tolist(), yb.tolist())
    return out
