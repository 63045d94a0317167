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
ball-arithmetic evaluation of ||f(x) - f(y)|| / ||x - y|| in the 2-, 1- or inf-norm, to refute
a claimed bound with an explicit pair) complete it.

Beyond plain MLPs, :func:`network_layers` reads convolutions (:class:`ConvLayer`, the linear
map on a given input shape), average poolings (:class:`AvgPoolLayer`), Flatten, residual
blocks (:class:`ResidualLayer`, from :class:`numerics.models.Residual`) and the GELU and SiLU
activations (slope intervals with alpha < 0: :data:`GELU_SLOPE_MAX`, :data:`SILU_SLOPE_MAX`);
LipSDP and the naive bound above stay for plain MLPs, and :mod:`numerics.lipschitz_ladder`
proposes the bounds of general networks. Nothing here imports ``theorems`` or ``verify``;
torch and cvxpy are imported only by the functions that need them.
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
        p, slash, q = v.partition("/")
        if p.lstrip("-").isdigit() and (not slash or q.isdigit()):    # "p/q", fast
            return Q(int(p), int(q)) if slash else Q(int(p))
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


@contextmanager
def one_thread() -> Iterator[None]:
    """torch and the BLAS libraries (threadpoolctl) on one thread for the duration.

    The Lipschitz search works on matrices of at most a few thousand rows, where a second
    thread gains little on a quiet machine and loses a lot on a busy one: with two other
    CPU-bound jobs on 2 cores, 40 first-order evaluations of a 320-row segment took 36 s on
    torch's 2 threads and 0.8 s on one, a 1024-row Cholesky 4.1 s against 0.2 s (OpenBLAS)."""
    import torch
    from threadpoolctl import threadpool_limits

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with threadpool_limits(1):
            yield
    finally:
        torch.set_num_threads(threads)


# --------------------------------------------------------------------------------------------
# activations: the slope table (trusted: mathematical facts about each function)
# --------------------------------------------------------------------------------------------

ACTIVATIONS = ("relu", "leaky_relu", "hardtanh", "tanh", "sigmoid", "identity", "gelu", "silu")

#: sup GELU' rounded up (15 decimals): GELU(x) = x Phi(x), GELU'' = phi(x) (2 - x^2), so GELU'
#: rises on [-sqrt 2, sqrt 2] and falls outside, from 0 (x -> -inf) to 1 (x -> inf); its largest
#: value is GELU'(sqrt 2) = Phi(sqrt 2) + sqrt 2 phi(sqrt 2) = (1 + erf 1) / 2 + 1 / (e sqrt pi)
#: = 1.12890414518515478634...; GELU'(x) + GELU'(-x) = 1, so the smallest is 1 minus it
GELU_SLOPE_MAX = Q(1128904145185155, 10 ** 15)
#: sup SiLU' rounded up (15 decimals): SiLU(x) = x sigma(x), SiLU'' = sigma'(x) (2 - x
#: tanh(x / 2)); x tanh(x / 2) is even and increasing on [0, inf), so SiLU' rises on [-x*, x*]
#: and falls outside (limits 0 and 1), x* = 2.39935728051546766783... the root of x tanh(x / 2)
#: = 2; the largest value is SiLU'(x*) = 1.09983932012886691695...; SiLU'(x) + SiLU'(-x) = 1
SILU_SLOPE_MAX = Q(1099839320128867, 10 ** 15)


def activation_slopes(name: str, params: Mapping[str, Any] | None = None
                      ) -> tuple[flint.fmpq, flint.fmpq]:
    """Exact slope bounds [alpha, beta] of an elementwise activation: alpha <= (phi(s) -
    phi(t)) / (s - t) <= beta for all s != t (the slope restriction of Fazlyab et al. 2019).

    relu, hardtanh (clamp to [min_val, max_val], ReLU6 included), tanh: [0, 1]; sigmoid:
    [0, 1/4] (sigma' = sigma(1 - sigma) <= 1/4); identity: [1, 1]; leaky_relu(a):
    [min(a, 1), max(a, 1)]; gelu (the exact, erf form) and silu: [1 - b, b] with b the
    rounded-up sup of the derivative (:data:`GELU_SLOPE_MAX`, :data:`SILU_SLOPE_MAX`): they
    are not monotone, alpha < 0.
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
    if name == "gelu":
        return 1 - GELU_SLOPE_MAX, GELU_SLOPE_MAX
    if name == "silu":
        return 1 - SILU_SLOPE_MAX, SILU_SLOPE_MAX
    raise UnsupportedLayer(f"activation {name!r} has no slope bounds here "
                           f"({', '.join(ACTIVATIONS)})")


def slope_max(name: str | None, params: Mapping[str, Any] | None = None) -> flint.fmpq:
    """max(|alpha|, |beta|): the Lipschitz constant of the activation (1 for none)."""
    if name is None:
        return Q(1)
    a, b = activation_slopes(name, params)
    return max(abs(a), abs(b))


# --------------------------------------------------------------------------------------------
# exact layers
# --------------------------------------------------------------------------------------------

#: the most entries a dense matrix of a structured layer (convolution, pooling) may have
DENSE_MAX = 1 << 23


class _Activated:
    """What every layer has: an optional elementwise activation after its map."""

    activation: str | None
    params: dict[str, flint.fmpq]

    def _check_activation(self) -> None:
        if self.activation is not None:
            activation_slopes(self.activation, self.params)      # validates name and params

    @property
    def slopes(self) -> tuple[flint.fmpq, flint.fmpq] | None:
        return None if self.activation is None else activation_slopes(self.activation, self.params)

    @property
    def slope_max(self) -> flint.fmpq:
        return slope_max(self.activation, self.params)

    def _json_tail(self) -> dict[str, Any]:
        return {"activation": self.activation,
                "params": {k: str(v) for k, v in self.params.items()}}

    is_linear = True                 # an (affine) linear map before the activation


@dataclass(eq=False)
class ExactLayer(_Activated):
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
        self._check_activation()
        if self.weight_f64 is None:
            self.weight_f64 = np.array([float(e) for e in self.weight.entries()],
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

    def matrix_f64(self) -> np.ndarray:
        return self.weight_f64

    def matrix_exact(self) -> flint.fmpq_mat:
        return self.weight

    def apply_exact(self, vals: list[Any]) -> list[Any]:
        return _affine_exact(self.weight, self.bias, vals)

    def torch_map(self, x: Any) -> Any:
        import torch

        return x @ torch.as_tensor(self.weight_f64).T + torch.as_tensor(self.bias_f64)

    def to_json(self) -> dict[str, Any]:
        return {"weight": [[str(e) for e in row] for row in self.weight.tolist()],
                "bias": [str(b) for b in self.bias], **self._json_tail()}


def _affine_exact(W: flint.fmpq_mat, bias: Sequence[flint.fmpq], vals: list[Any]) -> list[Any]:
    """W v + b: exact for rational v, balls once a ball appears."""
    if all(isinstance(v, flint.fmpq) for v in vals):
        col = W * flint.fmpq_mat(len(vals), 1, vals)
        return [col[i, 0] + bias[i] for i in range(W.nrows())]
    out = []
    for row, b in zip(W.tolist(), bias):
        s = flint.arb(b)
        for w, v in zip(row, vals):
            if w != 0:
                s += flint.arb(w) * v
        out.append(s)
    return out


def _pair(v: Any, name: str) -> tuple[int, int]:
    t = tuple(v) if isinstance(v, (tuple, list)) else (v, v)
    if len(t) != 2 or not all(isinstance(x, (int, np.integer)) and not isinstance(x, bool)
                              for x in t):
        raise UnsupportedLayer(f"{name} must be an int or a pair of ints, got {v!r}")
    return int(t[0]), int(t[1])


def _shape3(v: Any) -> tuple[int, int, int]:
    try:
        t = tuple(int(x) for x in v)
        ok = all(int(x) == x for x in v)
    except (TypeError, ValueError):
        t, ok = (), False
    if not ok or len(t) != 3 or min(t) < 1:
        raise BadWeights(f"an input shape (channels, height, width) of positive ints, got {v!r}")
    return t


PADDING_MODES = ("zeros", "circular", "reflect", "replicate")


def _padded_index(i: np.ndarray, n: int, pad: int, mode: str) -> np.ndarray:
    """Input index read at (virtual, padded) position i, or -1 for a zero of the padding."""
    if mode == "zeros":
        return np.where((i >= 0) & (i < n), i, -1)
    if mode == "circular":
        return np.mod(i, n)
    if mode == "replicate":
        return np.clip(i, 0, n - 1)
    j = np.abs(i)                                              # reflect (no edge repeat)
    return np.where(j >= n, 2 * (n - 1) - j, j)


class _Structured(_Activated):
    """A linear map given by (output, input, coefficient) index triples: convolution, pooling.
    The dense matrix has entry sum of coefficient[k] over the triples (r, c, k)."""

    in_shape: tuple[int, int, int]

    @property
    def in_features(self) -> int:
        return int(np.prod(self.in_shape))

    @property
    def out_features(self) -> int:
        return int(np.prod(self.out_shape))

    def _check_dense(self) -> None:
        if self.in_features * self.out_features > DENSE_MAX:
            raise TooLarge(f"{type(self).__name__} on {self.in_shape}: a dense matrix of "
                           f"{self.out_features} x {self.in_features} entries is too large")

    def matrix_f64(self) -> np.ndarray:
        self._check_dense()
        r, c, k = self.triples()
        M = np.zeros((self.out_features, self.in_features))
        np.add.at(M, (r, c), self.coefficients_f64()[k])
        return M

    def matrix_exact(self) -> flint.fmpq_mat:
        self._check_dense()
        r, c, k = self.triples()
        coef = self.coefficients_exact()
        M = [[Q(0)] * self.in_features for _ in range(self.out_features)]
        for ri, ci, ki in zip(r.tolist(), c.tolist(), k.tolist()):
            M[ri][ci] += coef[ki]
        return flint.fmpq_mat(self.out_features, self.in_features, [v for row in M for v in row])

    def apply_exact(self, vals: list[Any]) -> list[Any]:
        r, c, k = self.triples()
        coef = self.coefficients_exact()
        exact = all(isinstance(v, flint.fmpq) for v in vals)
        out: list[Any] = [b if exact else flint.arb(b) for b in self.biases()]
        for ri, ci, ki in zip(r.tolist(), c.tolist(), k.tolist()):
            out[ri] = out[ri] + (coef[ki] * vals[ci] if exact else flint.arb(coef[ki]) * vals[ci])
        return out

    def abs_apply_exact(self, vals: Sequence[flint.fmpq], transpose: bool = False
                        ) -> list[flint.fmpq]:
        """|A| v (or |A|^T v), exactly: the entrywise absolute matrix applied."""
        M = self.matrix_exact()
        A = M.transpose() if transpose else M
        return [sum((abs(a) * v for a, v in zip(row, vals) if a != 0), Q(0))
                for row in A.tolist()]


@dataclass(eq=False)
class ConvLayer(_Structured):
    """y = activation(conv2d(x) + bias) on inputs of shape ``in_shape`` = (C, H, W), flattened
    row-major (as ``torch.flatten``): torch's Conv2d (cross-correlation) with ``stride``,
    ``padding`` (both sides), ``dilation`` and ``padding_mode`` (zeros, circular, reflect,
    replicate), groups = 1. ``kernel`` is a (C_out, C_in, kh, kw) nested list of exact
    rationals."""

    kernel: list
    bias: tuple[flint.fmpq, ...]
    in_shape: tuple[int, int, int]
    stride: tuple[int, int] = (1, 1)
    padding: tuple[int, int] = (0, 0)
    dilation: tuple[int, int] = (1, 1)
    padding_mode: str = "zeros"
    activation: str | None = None
    params: dict[str, flint.fmpq] = field(default_factory=dict)
    kernel_f64: np.ndarray | None = None

    def __post_init__(self) -> None:
        self.in_shape = _shape3(self.in_shape)
        self.stride, self.padding = _pair(self.stride, "stride"), _pair(self.padding, "padding")
        self.dilation = _pair(self.dilation, "dilation")
        if self.kernel_f64 is None:
            self.kernel_f64 = np.array([[[[float(v) for v in row] for row in plane]
                                         for plane in ch] for ch in self.kernel], dtype=float)
        k = self.kernel_f64
        if k.ndim != 4 or 0 in k.shape:
            raise BadWeights(f"a convolution kernel of shape (C_out, C_in, kh, kw), got {k.shape}")
        if k.shape[1] != self.in_shape[0]:
            raise BadWeights(f"a kernel for {k.shape[1]} input channels on inputs of shape "
                             f"{self.in_shape}")
        if len(self.bias) != k.shape[0]:
            raise BadWeights(f"bias of length {len(self.bias)} for {k.shape[0]} channels")
        if min(self.stride + self.dilation) < 1 or min(self.padding) < 0:
            raise UnsupportedLayer("stride and dilation >= 1, padding >= 0")
        if self.padding_mode not in PADDING_MODES:
            raise UnsupportedLayer(f"padding_mode {self.padding_mode!r} (supported: "
                                   f"{', '.join(PADDING_MODES)})")
        if self.padding_mode != "zeros" and any(p > n - (m == "reflect") for p, n, m in (
                (self.padding[0], self.in_shape[1], self.padding_mode),
                (self.padding[1], self.in_shape[2], self.padding_mode))):
            raise UnsupportedLayer(f"{self.padding_mode} padding wider than the input")
        if min(self.out_shape) < 1:
            raise BadWeights(f"the convolution leaves no output on inputs of shape "
                             f"{self.in_shape}")
        self._check_activation()
        self._flat = [to_fmpq(v) for ch in self.kernel for plane in ch for row in plane
                      for v in row]

    @property
    def out_shape(self) -> tuple[int, int, int]:
        co, _, kh, kw = self.kernel_f64.shape
        _, H, W = self.in_shape
        (sh, sw), (ph, pw), (dh, dw) = self.stride, self.padding, self.dilation
        return (co, (H + 2 * ph - dh * (kh - 1) - 1) // sh + 1,
                (W + 2 * pw - dw * (kw - 1) - 1) // sw + 1)

    def triples(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        co, ci, kh, kw = self.kernel_f64.shape
        _, H, W = self.in_shape
        _, Ho, Wo = self.out_shape
        (sh, sw), (ph, pw), (dh, dw) = self.stride, self.padding, self.dilation
        o, c, i, j, y, x = np.meshgrid(np.arange(co), np.arange(ci), np.arange(kh),
                                       np.arange(kw), np.arange(Ho), np.arange(Wo),
                                       indexing="ij")
        iy = _padded_index(y * sh - ph + i * dh, H, ph, self.padding_mode)
        ix = _padded_index(x * sw - pw + j * dw, W, pw, self.padding_mode)
        keep = (iy >= 0) & (ix >= 0)
        rows = (o * Ho + y) * Wo + x
        cols = (c * H + iy) * W + ix
        kidx = ((o * ci + c) * kh + i) * kw + j
        return rows[keep].ravel(), cols[keep].ravel(), kidx[keep].ravel()

    def coefficients_exact(self) -> list[flint.fmpq]:
        return self._flat

    def im2col_factor(self) -> int:
        """The most (output pixel, tap) pairs reading one input pixel: ||conv||_2 <=
        sqrt(factor) ||K||_2, K the C_out x (C_in kh kw) kernel matrix (each input entry
        appears in the im2col matrix once per such pair)."""
        _, _, kh, kw = self.kernel_f64.shape
        _, H, W = self.in_shape
        _, Ho, Wo = self.out_shape
        (sh, sw), (ph, pw), (dh, dw) = self.stride, self.padding, self.dilation
        i, j, y, x = np.meshgrid(np.arange(kh), np.arange(kw), np.arange(Ho), np.arange(Wo),
                                 indexing="ij")
        iy = _padded_index(y * sh - ph + i * dh, H, ph, self.padding_mode)
        ix = _padded_index(x * sw - pw + j * dw, W, pw, self.padding_mode)
        keep = (iy >= 0) & (ix >= 0)
        return int(np.bincount((iy * W + ix)[keep].ravel(), minlength=1).max())

    def coefficients_f64(self) -> np.ndarray:
        return self.kernel_f64.ravel()

    def biases(self) -> list[flint.fmpq]:
        _, Ho, Wo = self.out_shape
        return [b for b in self.bias for _ in range(Ho * Wo)]

    @property
    def bias_f64(self) -> np.ndarray:
        _, Ho, Wo = self.out_shape
        return np.repeat(np.array([float(b) for b in self.bias]), Ho * Wo)

    def torch_map(self, x: Any) -> Any:
        import torch
        import torch.nn.functional as F

        z = x.reshape(-1, *self.in_shape)
        pad = self.padding
        if self.padding_mode != "zeros" and any(pad):
            z = F.pad(z, (pad[1], pad[1], pad[0], pad[0]), mode=self.padding_mode)
            pad = (0, 0)
        z = F.conv2d(z, torch.as_tensor(self.kernel_f64, dtype=z.dtype),
                     torch.tensor([float(b) for b in self.bias], dtype=z.dtype),
                     stride=self.stride, padding=pad, dilation=self.dilation)
        return z.reshape(z.shape[0], -1)

    def to_json(self) -> dict[str, Any]:
        return {"type": "conv2d", "in_shape": list(self.in_shape),
                "kernel": [[[[str(v) for v in row] for row in plane] for plane in ch]
                           for ch in self.kernel],
                "bias": [str(b) for b in self.bias], "stride": list(self.stride),
                "padding": list(self.padding), "dilation": list(self.dilation),
                "padding_mode": self.padding_mode, **self._json_tail()}


@dataclass(eq=False)
class AvgPoolLayer(_Structured):
    """torch's AvgPool2d on inputs of shape ``in_shape`` (C, H, W): each output is the sum of
    its window divided by ``divisor`` (divisor_override) or, without one, by kh kw
    (``count_include_pad``) or by the number of window positions inside the input. ceil_mode
    is not supported."""

    in_shape: tuple[int, int, int]
    kernel_size: tuple[int, int]
    stride: tuple[int, int] | None = None
    padding: tuple[int, int] = (0, 0)
    count_include_pad: bool = True
    divisor: int | None = None
    activation: str | None = None
    params: dict[str, flint.fmpq] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.in_shape = _shape3(self.in_shape)
        self.kernel_size = _pair(self.kernel_size, "kernel_size")
        self.stride = self.kernel_size if self.stride is None else _pair(self.stride, "stride")
        self.padding = _pair(self.padding, "padding")
        if min(self.kernel_size + self.stride) < 1 or min(self.padding) < 0 or \
                any(2 * p > k for p, k in zip(self.padding, self.kernel_size)):
            raise UnsupportedLayer("AvgPool2d needs kernel_size, stride >= 1 and 0 <= padding "
                                   "<= kernel_size / 2")
        if self.divisor is not None and (isinstance(self.divisor, bool) or
                                         int(self.divisor) != self.divisor or self.divisor < 1):
            raise UnsupportedLayer(f"divisor_override must be a positive int, got {self.divisor}")
        if min(self.out_shape) < 1:
            raise BadWeights(f"the pooling leaves no output on inputs of shape {self.in_shape}")
        self._check_activation()

    @property
    def out_shape(self) -> tuple[int, int, int]:
        C, H, W = self.in_shape
        (kh, kw), (sh, sw), (ph, pw) = self.kernel_size, self.stride, self.padding
        return C, (H + 2 * ph - kh) // sh + 1, (W + 2 * pw - kw) // sw + 1

    def _windows(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        C, H, W = self.in_shape
        _, Ho, Wo = self.out_shape
        (kh, kw), (sh, sw), (ph, pw) = self.kernel_size, self.stride, self.padding
        c, i, j, y, x = np.meshgrid(np.arange(C), np.arange(kh), np.arange(kw),
                                    np.arange(Ho), np.arange(Wo), indexing="ij")
        iy, ix = y * sh - ph + i, x * sw - pw + j
        keep = (iy >= 0) & (iy < H) & (ix >= 0) & (ix < W)
        rows = (c * Ho + y) * Wo + x
        return rows[keep].ravel(), ((c * H + iy) * W + ix)[keep].ravel(), rows.ravel()

    def _divisors(self) -> np.ndarray:
        """The divisor of every output."""
        if self.divisor is not None:
            return np.full(self.out_features, int(self.divisor))
        if self.count_include_pad:
            return np.full(self.out_features, self.kernel_size[0] * self.kernel_size[1])
        rows, _, _ = self._windows()
        return np.bincount(rows, minlength=self.out_features)

    def triples(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        rows, cols, _ = self._windows()
        return rows, cols, rows                     # coefficient of output r: 1 / divisor_r

    def coefficients_exact(self) -> list[flint.fmpq]:
        return [Q(1, int(d)) for d in self._divisors()]

    def coefficients_f64(self) -> np.ndarray:
        return 1.0 / self._divisors()

    def biases(self) -> list[flint.fmpq]:
        return [Q(0)] * self.out_features

    @property
    def bias_f64(self) -> np.ndarray:
        return np.zeros(self.out_features)

    def torch_map(self, x: Any) -> Any:
        import torch.nn.functional as F

        z = F.avg_pool2d(x.reshape(-1, *self.in_shape), self.kernel_size, self.stride,
                         self.padding, count_include_pad=self.count_include_pad,
                         divisor_override=self.divisor)
        return z.reshape(z.shape[0], -1)

    def to_json(self) -> dict[str, Any]:
        return {"type": "avgpool2d", "in_shape": list(self.in_shape),
                "kernel_size": list(self.kernel_size), "stride": list(self.stride),
                "padding": list(self.padding), "count_include_pad": bool(self.count_include_pad),
                "divisor": self.divisor, **self._json_tail()}


@dataclass(eq=False)
class ResidualLayer(_Activated):
    """x -> activation(x + body(x)), ``body`` a list of layers from R^n to R^n."""

    body: list
    activation: str | None = None
    params: dict[str, flint.fmpq] = field(default_factory=dict)

    is_linear = False

    def __post_init__(self) -> None:
        _validate_layers(self.body)
        if self.body[0].in_features != self.body[-1].out_features:
            raise BadWeights(f"a residual body from R^{self.body[0].in_features} to "
                             f"R^{self.body[-1].out_features}: x + g(x) needs equal sizes")
        self._check_activation()

    @property
    def in_features(self) -> int:
        return self.body[0].in_features

    @property
    def out_features(self) -> int:
        return self.in_features

    @property
    def in_shape(self) -> tuple[int, int, int] | None:
        return getattr(self.body[0], "in_shape", None)

    @property
    def out_shape(self) -> tuple[int, int, int] | None:
        return self.in_shape

    def apply_exact(self, vals: list[Any]) -> list[Any]:
        g = _forward_exact(self.body, vals)
        return [v + w for v, w in zip(vals, g)]

    def to_json(self) -> dict[str, Any]:
        return {"type": "residual", "body": layers_to_json(self.body), **self._json_tail()}


Layer = Any          # ExactLayer | ConvLayer | AvgPoolLayer | ResidualLayer


def _fmpq_mat(rows: Sequence[Sequence[Any]], ncols: int | None = None) -> flint.fmpq_mat:
    rows = [list(r) for r in rows]
    n = len(rows[0]) if rows else (ncols or 0)
    if any(len(r) != n for r in rows):
        raise BadWeights("ragged weight matrix")
    return flint.fmpq_mat(len(rows), n, [to_fmpq(e) for r in rows for e in r])


def layers_to_json(layers: Sequence[Layer]) -> list[dict[str, Any]]:
    """Exact layers as JSON data (numbers as strings "p/q")."""
    return [layer.to_json() for layer in layers]


def _params(d: Mapping[str, Any]) -> dict[str, flint.fmpq]:
    return {k: to_fmpq(v) for k, v in (d.get("params") or {}).items()}


def _layer_from_json(d: Mapping[str, Any]) -> Layer:
    kind = d.get("type", "linear")
    if kind == "linear":
        w = d["weight"]
        weight = _fmpq_mat(w) if w else flint.fmpq_mat(0, 0)
        floats = np.array([int(e.p) / int(e.q) for e in weight.entries()],
                          dtype=np.float64).reshape(weight.nrows(), weight.ncols())
        return ExactLayer(weight, tuple(to_fmpq(b) for b in d.get("bias", [0] * len(w))),
                          d.get("activation"), _params(d), weight_f64=floats)
    if kind == "conv2d":
        kernel = [[[[to_fmpq(v) for v in row] for row in plane] for plane in ch]
                  for ch in d["kernel"]]
        return ConvLayer(kernel, tuple(to_fmpq(b) for b in d["bias"]), d["in_shape"],
                         d.get("stride", 1), d.get("padding", 0), d.get("dilation", 1),
                         d.get("padding_mode", "zeros"), d.get("activation"), _params(d))
    if kind == "avgpool2d":
        return AvgPoolLayer(d["in_shape"], d["kernel_size"], d.get("stride"),
                            d.get("padding", 0), bool(d.get("count_include_pad", True)),
                            d.get("divisor"), d.get("activation"), _params(d))
    if kind == "residual":
        return ResidualLayer([_layer_from_json(b) for b in d["body"]], d.get("activation"),
                             _params(d))
    raise UnsupportedLayer(f"unknown layer type {kind!r}")


def layers_from_json(data: Sequence[Mapping[str, Any]]) -> list[Layer]:
    """Inverse of :func:`layers_to_json`."""
    out = [_layer_from_json(d) for d in data]
    _validate_layers(out)
    return out


def is_mlp(layers: Sequence[Layer]) -> bool:
    """Affine layers only, each with an activation but the last, which has none: the networks
    of LipSDP (Fazlyab et al. 2019), for which :func:`lipsdp` and :func:`naive_bound` work."""
    return (all(isinstance(layer, ExactLayer) for layer in layers)
            and all(layer.activation is not None for layer in layers[:-1])
            and layers[-1].activation is None)


def _require_mlp(layers: Sequence[Layer], what: str) -> None:
    if not is_mlp(layers):
        raise UnsupportedLayer(f"{what} needs Linear layers with an activation between "
                               "consecutive ones and none after the last (a plain MLP)")


def _validate_layers(layers: Sequence[Layer]) -> None:
    if not layers:
        raise LipschitzError("a network needs at least one layer")
    for i, layer in enumerate(layers):
        if layer.in_features == 0 or layer.out_features == 0:
            raise BadWeights(f"layer {i} has an empty weight matrix")
        if i and layer.in_features != layers[i - 1].out_features:
            raise BadWeights(f"layer {i} takes {layer.in_features} inputs, layer {i - 1} gives "
                             f"{layers[i - 1].out_features}")
        shape = getattr(layer, "in_shape", None)
        before = getattr(layers[i - 1], "out_shape", None) if i else None
        if isinstance(layer, _Structured) and before is not None and tuple(before) != shape:
            raise BadWeights(f"layer {i} reads inputs of shape {shape}, layer {i - 1} gives "
                             f"{tuple(before)}")


def _identity_layer(n: int) -> tuple[flint.fmpq_mat, tuple[flint.fmpq, ...], np.ndarray,
                                     np.ndarray]:
    return (flint.fmpq_mat(n, n, [Q(int(i == j)) for i in range(n) for j in range(n)]),
            tuple(Q(0) for _ in range(n)), np.eye(n), np.zeros(n))


def network_layers(model: Any, input_shape: Sequence[int] | None = None) -> list[Layer]:
    """Read a ``torch.nn.Sequential`` (or one module) into exact layers.

    Supported modules: ``Linear``; ``Conv2d`` (groups 1; any stride, padding, dilation and
    padding mode) and ``AvgPool2d`` (ceil_mode off), which need the input shape (C, H, W)
    (``input_shape``, or the shape left by the layers before); ``Flatten`` (from dimension 1);
    :class:`numerics.models.Residual` (x + body(x)); activations ``ReLU``, ``LeakyReLU(a)``,
    ``ReLU6``, ``Hardtanh``, ``Tanh``, ``Sigmoid``, ``GELU`` (the exact, erf form), ``SiLU``
    (slope-restricted, as LipSDP needs, Fazlyab et al. 2019, Sec. 2); ``Identity`` (skipped);
    nested ``Sequential``. Consecutive Linear layers are merged exactly (W2 W1, W2 b1 + b2 in
    rationals); an identity Linear is inserted where an activation has no layer before it
    (start, two activations in a row), and, in a network of Linear layers only, after a last
    activation.

    Every weight (float16/32/64, bfloat16) is a dyadic rational and is converted exactly.

    Raises
    ------
    UnsupportedLayer
        Any other module (Softmax, Dropout, MaxPool2d, BatchNorm, ...), subclasses that override
        ``forward``, modules with forward hooks, an uninitialized lazy layer, a convolution
        without an input shape, a Linear applied to a (C, H, W) tensor without Flatten.
    BadWeights
        Non-floating or non-finite weights, shape mismatches.
    """
    from torch import nn

    if not isinstance(model, nn.Module):
        raise UnsupportedLayer(f"expected a torch.nn.Sequential, got {type(model).__name__}")
    shape = None if input_shape is None else _shape3(input_shape)
    modules = list(_modules(model))
    width = int(np.prod(shape)) if shape is not None else _first_width(modules)
    layers, _, _ = _read_modules(modules, shape, width)
    if not layers:
        raise UnsupportedLayer("the network has no Linear layer (its input size is unknown)")
    if all(isinstance(layer, ExactLayer) for layer in layers) and \
            layers[-1].activation is not None:
        W, B, wf, bf = _identity_layer(layers[-1].out_features)
        layers.append(ExactLayer(W, B, None, {}, wf, bf))
    _validate_layers(layers)
    return layers


def _modules(m: Any) -> Iterator[Any]:
    """The modules of a (nested) Sequential in order; refuses hooks and overridden forwards."""
    from torch import nn

    if m._forward_hooks or m._forward_pre_hooks:
        raise UnsupportedLayer(f"{type(m).__name__} has forward hooks; they could change "
                               "what it computes")
    if isinstance(m, nn.Sequential):
        if type(m).forward is not nn.Sequential.forward:
            raise UnsupportedLayer(f"{type(m).__name__} overrides Sequential.forward")
        for child in m:
            yield from _modules(child)
    else:
        yield m


def _first_width(modules: Sequence[Any]) -> int | None:
    from torch import nn

    from numerics.models import Residual

    for m in modules:
        if isinstance(m, Residual):
            return _first_width(list(_modules(m.body)))
        if isinstance(m, nn.Linear) and not isinstance(m.weight,
                                                       nn.parameter.UninitializedParameter):
            return int(m.weight.shape[1])
        if not _activation_of(m) and type(m) is not nn.Identity:
            return None
    return None


def _activation_of(m: Any) -> tuple[str, dict[str, flint.fmpq]] | None:
    """(name, exact params) of a supported activation module, else None."""
    from torch import nn

    acts = {nn.ReLU: ("relu", ()), nn.Tanh: ("tanh", ()), nn.Sigmoid: ("sigmoid", ()),
            nn.LeakyReLU: ("leaky_relu", ("negative_slope",)),
            nn.Hardtanh: ("hardtanh", ("min_val", "max_val")),
            nn.ReLU6: ("hardtanh", ("min_val", "max_val")), nn.GELU: ("gelu", ()),
            nn.SiLU: ("silu", ())}
    if type(m) not in acts:
        return None
    if type(m) is nn.GELU and m.approximate != "none":
        raise UnsupportedLayer(f"GELU(approximate={m.approximate!r}) is a different function; "
                               "only the exact (erf) GELU has slope bounds here")
    name, keys = acts[type(m)]
    params = {}
    for k in keys:
        v = getattr(m, k)
        if not math.isfinite(float(v)):
            raise BadWeights(f"{type(m).__name__}.{k} = {v} is not finite")
        params[k] = to_fmpq(float(v))
    activation_slopes(name, params)
    return name, params


def _exact_tensor(t: Any, what: str) -> tuple[np.ndarray, list[flint.fmpq]]:
    """A float tensor as float64 (exact widening) and its exact rational entries."""
    import torch

    t = t.detach()
    if not t.is_floating_point():
        raise BadWeights(f"{what} of dtype {t.dtype}, expected floating point")
    f = t.to(torch.float64).cpu().numpy().copy()
    if not np.isfinite(f).all():
        raise BadWeights(f"non-finite (NaN or inf) weights in a {what}")
    return f, [Q(*v.as_integer_ratio()) for v in f.ravel().tolist()]


def _read_modules(modules: Sequence[Any], shape: tuple[int, int, int] | None,
                  width: int | None) -> tuple[list[Layer], Any, int | None]:
    """Exact layers of a module sequence on inputs of ``shape`` (None: flat, ``width``)."""
    from torch import nn

    from numerics.models import Residual

    out: list[Layer] = []
    for m in modules:
        act = _activation_of(m)
        if act is not None:
            if width is None:
                raise UnsupportedLayer("an activation before any layer whose size is known")
            if not out or out[-1].activation is not None:
                W, B, wf, bf = _identity_layer(width)
                out.append(ExactLayer(W, B, None, {}, wf, bf))
            out[-1].activation, out[-1].params = act
        elif isinstance(m, nn.Linear):
            if type(m).forward is not nn.Linear.forward:
                raise UnsupportedLayer(f"{type(m).__name__} overrides Linear.forward")
            if isinstance(m.weight, nn.parameter.UninitializedParameter):
                raise UnsupportedLayer(f"{type(m).__name__} is not initialized yet")
            if shape is not None:
                raise UnsupportedLayer(f"a Linear layer on a tensor of shape {shape} acts on its "
                                       "last axis: put nn.Flatten() before it")
            if m.weight.dim() != 2:
                raise BadWeights(f"Linear weight of shape {tuple(m.weight.shape)}")
            wf, wq = _exact_tensor(m.weight, "Linear weight")
            if m.bias is not None:
                bf, bq = _exact_tensor(m.bias, "Linear bias")
            else:
                bf, bq = np.zeros(wf.shape[0]), [Q(0)] * wf.shape[0]
            if bf.shape != (wf.shape[0],):
                raise BadWeights(f"Linear weight of shape {wf.shape} with bias of shape "
                                 f"{bf.shape}")
            W = flint.fmpq_mat(wf.shape[0], wf.shape[1], wq)
            if width is not None and W.ncols() != width:
                raise BadWeights(f"Linear with {W.ncols()} inputs after a layer with "
                                 f"{width} outputs")
            last = out[-1] if out else None
            if isinstance(last, ExactLayer) and last.activation is None:
                Bcol = W * flint.fmpq_mat(len(last.bias), 1, list(last.bias))   # merge exactly
                out[-1] = ExactLayer(W * last.weight, tuple(Bcol[i, 0] + bq[i]
                                                            for i in range(len(bq))), None)
            else:
                out.append(ExactLayer(W, tuple(bq), None, {}, wf, bf))
            width = W.nrows()
        elif isinstance(m, nn.Conv2d):
            layer = _conv_layer(m, shape, width)
            out.append(layer)
            shape, width = layer.out_shape, layer.out_features
        elif isinstance(m, nn.AvgPool2d):
            if type(m).forward is not nn.AvgPool2d.forward:
                raise UnsupportedLayer(f"{type(m).__name__} overrides AvgPool2d.forward")
            if shape is None:
                raise UnsupportedLayer("AvgPool2d needs inputs of shape (C, H, W): give the "
                                       "input shape")
            if m.ceil_mode:
                raise UnsupportedLayer("AvgPool2d with ceil_mode=True is not supported")
            layer = AvgPoolLayer(shape, _pair(m.kernel_size, "kernel_size"),
                                 _pair(m.stride if m.stride is not None else m.kernel_size,
                                       "stride"),
                                 _pair(m.padding, "padding"), bool(m.count_include_pad),
                                 m.divisor_override)
            out.append(layer)
            shape, width = layer.out_shape, layer.out_features
        elif isinstance(m, nn.Flatten):
            if type(m).forward is not nn.Flatten.forward or m.start_dim != 1 or \
                    m.end_dim != -1:
                raise UnsupportedLayer("only nn.Flatten() (start_dim=1, end_dim=-1) is "
                                       "supported")
            shape = None
        elif isinstance(m, Residual):
            if type(m).forward is not Residual.forward:
                raise UnsupportedLayer(f"{type(m).__name__} overrides Residual.forward")
            inner = list(_modules(m.body))
            width = width if width is not None or shape is not None else _first_width(inner)
            body, s2, w2 = _read_modules(inner, shape, width)
            if not body or w2 != width or s2 != shape:
                raise BadWeights(f"a residual body must map its input shape to itself "
                                 f"({shape or width} -> {s2 or w2})")
            out.append(ResidualLayer(body))
        elif type(m) is nn.Identity:
            continue
        else:
            raise UnsupportedLayer(
                f"{type(m).__name__} is not supported: only Linear, Conv2d, AvgPool2d, "
                "Flatten, Identity, numerics.models.Residual and the slope-restricted "
                "activations ReLU, LeakyReLU, ReLU6, Hardtanh, Tanh, Sigmoid, GELU, SiLU")
    return out, shape, width


def _conv_layer(m: Any, shape: tuple[int, int, int] | None, width: int | None) -> ConvLayer:
    from torch import nn

    if type(m).forward is not nn.Conv2d.forward:
        raise UnsupportedLayer(f"{type(m).__name__} overrides Conv2d.forward")
    if isinstance(m.weight, nn.parameter.UninitializedParameter):
        raise UnsupportedLayer(f"{type(m).__name__} is not initialized yet")
    if shape is None:
        raise UnsupportedLayer("Conv2d needs inputs of shape (C, H, W): give the input shape "
                               "(the claim's input_shape, or `input_shape` in the network file)"
                               if width is None else
                               f"Conv2d on flat inputs of size {width}: give the input shape "
                               "(C, H, W) or keep the convolutions before any Flatten")
    if m.groups != 1:
        raise UnsupportedLayer(f"Conv2d with groups={m.groups} is not supported (groups=1)")
    kh, kw = m.kernel_size
    if isinstance(m.padding, str):
        if m.padding == "valid":
            padding = (0, 0)
        else:                                                       # "same"
            tot = [d * (k - 1) for d, k in zip(m.dilation, (kh, kw))]
            if any(t % 2 for t in tot):
                raise UnsupportedLayer("Conv2d(padding='same') with uneven padding is not "
                                       "supported")
            padding = (tot[0] // 2, tot[1] // 2)
    else:
        padding = _pair(tuple(m.padding), "padding")
    kf, kq = _exact_tensor(m.weight, "Conv2d kernel")
    if m.bias is not None:
        _, bq = _exact_tensor(m.bias, "Conv2d bias")
    else:
        bq = [Q(0)] * kf.shape[0]
    it = iter(kq)
    kernel = [[[[next(it) for _ in range(kf.shape[3])] for _ in range(kf.shape[2])]
               for _ in range(kf.shape[1])] for _ in range(kf.shape[0])]
    return ConvLayer(kernel, tuple(bq), shape, _pair(tuple(m.stride), "stride"), padding,
                     _pair(tuple(m.dilation), "dilation"), m.padding_mode, kernel_f64=kf)


def _as_layers(layers: Any) -> list[Layer]:
    if isinstance(layers, (list, tuple)) and all(isinstance(x, _Activated) for x in layers):
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
    _require_mlp(layers, "LipSDP")
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
    _require_mlp(layers, "naive_bound")
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
    if name == "gelu":
        return v * (1 + (v / flint.arb(2).sqrt()).erf()) / 2
    if name == "silu":
        return v / (1 + (-v).exp())
    raise UnsupportedLayer(f"activation {name!r}")


def _forward_exact(layers: Sequence[Layer], vals: list[Any]) -> list[Any]:
    for layer in layers:
        vals = layer.apply_exact(vals)
        if layer.activation is not None:
            vals = [_act_exact(layer.activation, layer.params, v) for v in vals]
    return vals


def exact_forward(layers: Any, x: Sequence[Any], prec: int = 256) -> list[Any]:
    """f(x) for rational x: exact fmpq values through linear and piecewise-linear layers,
    python-flint arb balls (``prec`` bits) once tanh, sigmoid, GELU or SiLU appear. Balls
    contain the true values."""
    layers = _as_layers(layers)
    vals: list[Any] = [to_fmpq(v) for v in x]
    if len(vals) != layers[0].in_features:
        raise LipschitzError(f"input of length {len(vals)}, the network takes "
                             f"{layers[0].in_features}")
    with _precision(prec):
        return _forward_exact(layers, vals)


NORMS = ("2", "1", "inf")


def _norm_exact(v: Sequence[Any], norm: str) -> Any:
    """||v||_p for p = 1, inf (exact for rationals, a ball otherwise) and ||v||_2^2."""
    if norm == "2":
        return sum((a * a for a in v), Q(0) if all(isinstance(a, flint.fmpq) for a in v)
                   else flint.arb(0))
    if all(isinstance(a, flint.fmpq) for a in v):
        return sum((abs(a) for a in v), Q(0)) if norm == "1" else max(abs(a) for a in v)
    balls = [abs(flint.arb(a)) for a in v]
    if norm == "1":
        return sum(balls, flint.arb(0))
    out = balls[0]
    for b in balls[1:]:
        out = out.max(b)
    return out


@dataclass
class DifferenceQuotient:
    """Enclosure of ||f(x) - f(y)|| / ||x - y|| (in ``norm``) at an explicit rational pair.

    ``squared`` is the exact squared 2-norm quotient when f was evaluated exactly
    (piecewise-linear networks), ``exact`` the exact 1- or inf-norm quotient likewise, else
    None; ``ball`` is an arb ball containing the quotient."""

    x: list[flint.fmpq]
    y: list[flint.fmpq]
    squared: flint.fmpq | None
    ball: flint.arb
    norm: str = "2"
    exact: flint.fmpq | None = None

    def exceeds(self, bound: Any) -> bool:
        """True only if the quotient is certainly > bound (so the pair refutes L <= bound)."""
        c = to_fmpq(bound)
        if self.squared is not None:
            return c < 0 or self.squared > c * c
        if self.exact is not None:
            return self.exact > c
        with _precision(max(flint.ctx.prec, 256)):
            return bool(self.ball > flint.arb(c))

    @property
    def lower(self) -> float:
        """A float <= the quotient (rigorous)."""
        if self.squared == 0 or self.exact == 0:
            return 0.0
        if self.exact is not None:
            return _float_down(self.exact)
        return max(0.0, math.nextafter(float(self.ball.lower()), -math.inf))

    @property
    def upper(self) -> float:
        if self.exact is not None:
            return _float_up(self.exact)
        return math.nextafter(float(self.ball.upper()), math.inf)


def exact_difference_quotient(exact_layers: Any, x: Sequence[Any], y: Sequence[Any],
                              prec: int = 256, norm: str = "2") -> DifferenceQuotient:
    """||f(x) - f(y)|| / ||x - y|| (the 2-, 1- or inf-norm on both sides) at a rational pair,
    exactly or in ball arithmetic.

    Inputs are read exactly (floats as their binary values, strings as "p/q"). Linear maps,
    ReLU, LeakyReLU, Hardtanh and Identity are evaluated exactly; tanh, sigmoid, GELU and SiLU
    in python-flint ball arithmetic at ``prec`` bits. Since L(f) >= the quotient,
    :meth:`DifferenceQuotient.exceeds` refutes a claimed bound L <= c (Fazlyab et al. 2019
    bound from above; this is the lower side).
    """
    if norm not in NORMS:
        raise LipschitzError(f"norm {norm!r}: one of {', '.join(NORMS)}")
    layers = _as_layers(exact_layers)
    xq, yq = [to_fmpq(v) for v in x], [to_fmpq(v) for v in y]
    if len(xq) != len(yq):
        raise LipschitzError("x and y differ in length")
    den = _norm_exact([a - b for a, b in zip(xq, yq)], norm)
    if den == 0:
        raise LipschitzError("x == y: the difference quotient is undefined")
    fx, fy = exact_forward(layers, xq, prec), exact_forward(layers, yq, prec)
    with _precision(prec):
        exact = all(isinstance(v, flint.fmpq) for v in fx + fy)
        diff = [a - b if exact else flint.arb(a) - flint.arb(b) for a, b in zip(fx, fy)]
        num = _norm_exact(diff, norm)
        if exact:
            q = num / den
            if norm == "2":
                return DifferenceQuotient(xq, yq, q, flint.arb(q).sqrt(), norm)
            return DifferenceQuotient(xq, yq, None, flint.arb(q), norm, exact=q)
        ball = (num / flint.arb(den)).nonnegative_part()          # the quotient is >= 0
        return DifferenceQuotient(xq, yq, None, ball.sqrt() if norm == "2" else ball, norm)


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
    norm: str = "2"

    @property
    def lower(self) -> float | None:
        return None if self.exact is None else self.exact.lower


def _torch_act(name: str | None, params: Mapping[str, flint.fmpq], x: Any) -> Any:
    import torch
    import torch.nn.functional as F

    if name is None or name == "identity":
        return x
    if name == "relu":
        return torch.relu(x)
    if name == "leaky_relu":
        return F.leaky_relu(x, float(params["negative_slope"]))
    if name == "hardtanh":
        return torch.clamp(x, float(params["min_val"]), float(params["max_val"]))
    if name == "tanh":
        return torch.tanh(x)
    if name == "sigmoid":
        return torch.sigmoid(x)
    if name == "gelu":
        return F.gelu(x)
    if name == "silu":
        return F.silu(x)
    raise UnsupportedLayer(f"activation {name!r}")


def _torch_forward(layers: Sequence[Layer]):
    """x (m, n0) -> f at the rows of x, float64 torch (a search tool, never a decision)."""
    def f(x):
        for layer in layers:
            x = x + _torch_forward(layer.body)(x) if isinstance(layer, ResidualLayer) \
                else layer.torch_map(x)
            x = _torch_act(layer.activation, layer.params, x)
        return x

    return f


_PIECEWISE_LINEAR = ("relu", "leaky_relu", "hardtanh", "identity", None)


def _activations(layers: Sequence[Layer]) -> Iterator[str | None]:
    for layer in layers:
        yield layer.activation
        if isinstance(layer, ResidualLayer):
            yield from _activations(layer.body)


def _torch_jacobian(layers: Sequence[Layer]):
    """X (m, n0) -> the Jacobians (m, out, n0) of f at the rows of X, differentiable in X for
    smooth activations. A plain MLP: the product W_l D_{l-1} ... D_0 W_0 with D_k =
    diag(phi_k'(pre-activation)); otherwise reverse mode, one pass per output (no torch.func:
    its first use imports torch._dynamo, seconds)."""
    import torch

    if not is_mlp(layers):
        f = _torch_forward(layers)

        def jac_autograd(x):
            create = x.requires_grad
            x = x if create else x.detach().requires_grad_(True)
            y = f(x)
            rows = [torch.autograd.grad(y[:, k].sum(), x, retain_graph=True,
                                        create_graph=create)[0] for k in range(y.shape[1])]
            return torch.stack(rows, dim=1)

        return jac_autograd

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
            elif a == "sigmoid":
                x = torch.sigmoid(pre)
                slope = x * (1 - x)
            elif a == "gelu":
                x = torch.nn.functional.gelu(pre)
                cdf = 0.5 * (1 + torch.erf(pre / math.sqrt(2)))
                slope = cdf + pre * torch.exp(-pre * pre / 2) / math.sqrt(2 * math.pi)
            else:                                                     # silu
                s = torch.sigmoid(pre)
                x = pre * s
                slope = s * (1 + pre * (1 - s))
            J = slope[:, :, None] * J
        return J

    return jac


def _top_directions(J: np.ndarray, norm: str) -> tuple[np.ndarray, np.ndarray]:
    """(||J_i||, v_i) per Jacobian J_i: the induced norm and an input direction of unit norm
    attaining it (top right singular vector; sign vector of the largest row; a unit vector at
    the largest column)."""
    if norm == "2":
        _, sv, vt = np.linalg.svd(J)
        return sv[:, 0], vt[:, 0, :]
    if norm == "inf":
        rows = np.abs(J).sum(axis=2)                                  # (m, out)
        i = np.argmax(rows, axis=1)
        v = np.sign(J[np.arange(len(J)), i, :])
        return rows.max(axis=1), np.where(v == 0, 1.0, v)
    cols = np.abs(J).sum(axis=1)                                      # (m, n0)
    j = np.argmax(cols, axis=1)
    V = np.zeros((J.shape[0], J.shape[2]))
    V[np.arange(len(J)), j] = 1.0
    return cols.max(axis=1), V


def sampled_lower_bound(layers: Any, seed: int = 0, samples: int = 256, *, scale: float = 1.0,
                        steps: int = 100, exact: bool = True, norm: str = "2"
                        ) -> SampledLowerBound:
    """Lower estimate of L(f): max of ||f(x) - f(y)|| / ||x - y|| over sampled pairs (the
    2-, 1- or inf-norm on both sides).

    Pairs: x ~ N(0, scale^2 I) with y = x + r u (u uniform direction, r log-uniform in
    [1e-4, 1] scale) and y = x + 1e-4 scale v (v an input direction where the Jacobian at x
    attains its induced norm: top right singular vector for the 2-norm). Then ``steps`` Adam
    steps (torch, float64) of gradient ascent twice: of the 8 best pairs' quotient in (x, y),
    and of ||J(x)|| at the 8 points of largest Jacobian norm (for smooth activations only:
    piecewise-linear networks have a locally constant J), each ending in a pair (x, x + 1e-4
    scale v). Deterministic for a given ``seed``. With ``exact`` the best pair is re-evaluated
    by :func:`exact_difference_quotient`, whose lower end is a rigorous lower bound of L (the
    other side of Fazlyab et al. 2019's upper bound). Runs on one thread (:func:`one_thread`).
    """
    with one_thread():
        return _sampled_lower_bound(layers, seed, samples, scale, steps, exact, norm)


def _sampled_lower_bound(layers: Any, seed: int, samples: int, scale: float, steps: int,
                         exact: bool, norm: str) -> SampledLowerBound:
    import torch

    if samples < 1 or steps < 0 or not scale > 0:
        raise LipschitzError("samples >= 1, steps >= 0 and scale > 0 are needed")
    if norm not in NORMS:
        raise LipschitzError(f"norm {norm!r}: one of {', '.join(NORMS)}")
    layers = _as_layers(layers)
    f = _torch_forward(layers)
    jac = _torch_jacobian(layers)
    smooth = any(a not in _PIECEWISE_LINEAR for a in _activations(layers))
    p = {"2": 2, "1": 1, "inf": math.inf}[norm]
    rng = np.random.default_rng(seed)
    n0 = layers[0].in_features
    X = rng.normal(0.0, scale, (samples, n0))
    U = rng.normal(size=(samples, n0))
    U /= np.linalg.norm(U, ord=p, axis=1, keepdims=True)
    r = scale * 10.0 ** rng.uniform(-4, 0, (samples, 1))
    h = 1e-4 * scale

    def top_direction(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return _top_directions(jac(torch.tensor(x)).detach().numpy(), norm)

    m = min(samples, 64)
    norms, V = top_direction(X[:m])
    Xa, Da = np.concatenate([X, X[:m]]), np.concatenate([r * U, h * V])

    def quot(x: torch.Tensor, d: torch.Tensor) -> torch.Tensor:
        return torch.linalg.vector_norm(f(x + d) - f(x), ord=p, dim=1) / \
            torch.linalg.vector_norm(d, ord=p, dim=1)

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
                nd = torch.linalg.vector_norm(d, ord=p, dim=1, keepdim=True)
                d.mul_(torch.clamp(nd, 1e-6 * scale, 10 * scale) / nd)
        consider(x.detach().numpy(), d.detach().numpy())
        x = torch.tensor(X[:m][np.argsort(-finite(norms), kind="stable")[:8]], requires_grad=True)
        opt = torch.optim.Adam([x], lr=5e-2 * scale)
        for _ in range(steps if smooth else 0):         # J is locally constant otherwise
            opt.zero_grad()
            s_ = torch.linalg.matrix_norm(jac(x), ord=p if p != 1 else 1)
            if not (s_.requires_grad and bool(torch.isfinite(s_).all())):
                break                                   # J constant (linear) or overflow
            (-s_.sum()).backward()
            opt.step()
        xs = x.detach().numpy()
        consider(xs, h * top_direction(xs)[1])
    xb, yb = best[1], best[1] + best[2]
    out = SampledLowerBound(best[0], xb, yb, samples, seed, norm=norm)
    if exact and not np.array_equal(xb, yb):
        out.exact = exact_difference_quotient(layers, xb.tolist(), yb.tolist(), norm=norm)
    return out
