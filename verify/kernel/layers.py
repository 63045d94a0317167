"""The kernel's own reading of a network's exact layers (JSON), independent of the deciders.

A network is a list of layers, each one map followed by an optional elementwise activation
(``activation``, ``params``), on inputs flattened row-major:

* ``{"weight": [[p/q, ...], ...], "bias": [...]}``: x -> W x + b;
* ``{"type": "conv2d", "in_shape": [C, H, W], "kernel": C_out x C_in x kh x kw, "bias",
  "stride", "padding", "dilation", "padding_mode"}``: torch's Conv2d (cross-correlation,
  groups 1) on inputs of shape (C, H, W); padding zeros, circular, reflect or replicate;
* ``{"type": "avgpool2d", "in_shape", "kernel_size", "stride", "padding",
  "count_include_pad", "divisor"}``: torch's AvgPool2d (no ceil mode);
* ``{"type": "residual", "body": [layers]}``: x -> x + body(x).

Convolutions and poolings are built here, from their parameters, as (output, input,
coefficient) index triples and, where small enough, as dense exact matrices. The slope table
of the activations is the kernel's own (facts about each function, proved in the docs and
tests): relu, tanh, hardtanh [0, 1]; sigmoid [0, 1/4]; identity [1, 1]; leaky_relu(a)
[min(a, 1), max(a, 1)]; gelu [1 - g, g], g = 1128904145185155 / 10^15 >= sup GELU' =
(1 + erf 1) / 2 + 1 / (e sqrt pi); silu [1 - s, s], s = 1099839320128867 / 10^15 >= sup SiLU'
= SiLU'(x*), x* tanh(x* / 2) = 2.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any, Mapping, Sequence

import flint
import numpy as np

Q = flint.fmpq
#: the largest dense matrix (entries) the kernel builds for a convolution or a pooling
DENSE_MAX = 1 << 23
GELU_MAX = Q(1128904145185155, 10 ** 15)
SILU_MAX = Q(1099839320128867, 10 ** 15)
PADDING_MODES = ("zeros", "circular", "reflect", "replicate")


def rational(v: Any) -> flint.fmpq:
    """An exact rational from a string "p/q" (or a decimal) or an int; anything else fails."""
    if isinstance(v, bool) or not isinstance(v, (str, int)):
        raise ValueError(f"{v!r} is not an exact rational (a string p/q or an int)")
    if isinstance(v, int):
        return Q(v)
    p, slash, q = v.partition("/")
    try:
        return Q(int(p), int(q)) if slash else Q(int(p))
    except ValueError:
        fr = Fraction(v)
        return Q(fr.numerator, fr.denominator)


def rationals(values: Any) -> tuple[list[flint.fmpq], np.ndarray]:
    """A flat list of exact rationals and their float64 values (a guide for witnesses)."""
    if not isinstance(values, list):
        raise ValueError("a list of numbers is needed")
    out, floats = [], []
    for v in values:
        if type(v) is str:                                     # "p/q" or "p", the fast path
            p, slash, q = v.partition("/")
            try:
                a, b = int(p), (int(q) if slash else 1)
            except ValueError:
                a = b = 0
            if b > 0:
                out.append(Q(a, b))
                floats.append(a / b)
                continue
        r = rational(v)
        out.append(r)
        floats.append(int(r.p) / int(r.q))
    return out, np.array(floats, dtype=np.float64)


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
    if name == "gelu":
        return 1 - GELU_MAX, GELU_MAX
    if name == "silu":
        return 1 - SILU_MAX, SILU_MAX
    raise ValueError(f"unknown activation {name!r}")


def activate(name: str, params: Mapping[str, flint.fmpq], v: Any) -> Any:
    """phi(v): exact for a rational v and a piecewise-linear phi, else a ball containing it."""
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
    if name == "gelu":
        return v * (1 + (v / flint.arb(2).sqrt()).erf()) / 2
    if name == "silu":
        return v / (1 + (-v).exp())
    raise ValueError(f"unknown activation {name!r}")


def vector_norm(v: Sequence[Any], norm: str) -> Any:
    """||v||_1 or ||v||_inf, or ||v||_2^2 (``norm`` "2"): exact for rationals, else a ball."""
    exact = all(isinstance(a, flint.fmpq) for a in v)
    if norm == "2":
        return sum((a * a for a in v), Q(0) if exact else flint.arb(0))
    if exact:
        return sum((abs(a) for a in v), Q(0)) if norm == "1" else max(abs(a) for a in v)
    balls = [abs(flint.arb(a)) for a in v]
    if norm == "1":
        return sum(balls, flint.arb(0))
    out = balls[0]
    for b in balls[1:]:
        out = out.max(b)
    return out


def _ints(v: Any, n: int, what: str) -> tuple[int, ...]:
    if not isinstance(v, list) or len(v) != n or not all(
            isinstance(x, int) and not isinstance(x, bool) for x in v):
        raise ValueError(f"{what}: a list of {n} ints")
    return tuple(v)


class Layer:
    """One layer: ``kind`` (linear, conv2d, avgpool2d, residual), its map and activation."""

    kind: str
    in_features: int
    out_features: int
    in_shape: tuple[int, int, int] | None = None
    out_shape: tuple[int, int, int] | None = None

    def __init__(self, data: Mapping[str, Any]):
        if not isinstance(data, Mapping):
            raise ValueError("a layer is a JSON object")
        act = data.get("activation")
        self.params = {str(k): rational(v) for k, v in (data.get("params") or {}).items()}
        self.act = None if act is None else (act, self.params)
        if act is not None:
            slopes(act, self.params)
        kind = data.get("type", "linear")
        self.kind = kind
        if kind == "linear":
            self._linear(data)
        elif kind == "conv2d":
            self._conv(data)
        elif kind == "avgpool2d":
            self._pool(data)
        elif kind == "residual":
            self.body = parse_layers(data["body"])
            self.in_features = self.out_features = self.body[0].in_features
            if self.body[-1].out_features != self.in_features:
                raise ValueError("a residual body must map R^n to R^n")
            self.in_shape = self.out_shape = self.body[0].in_shape
        else:
            raise ValueError(f"unknown layer type {kind!r}")

    # -- the maps --------------------------------------------------------------------------
    def _linear(self, data: Mapping[str, Any]) -> None:
        rows = data["weight"]
        if not isinstance(rows, list) or not rows or not isinstance(rows[0], list) \
                or not rows[0] or any(not isinstance(r, list) or len(r) != len(rows[0])
                                      for r in rows):
            raise ValueError("a non-empty rectangular weight matrix")
        m, n = len(rows), len(rows[0])
        vals, floats = rationals([e for r in rows for e in r])
        self.W = flint.fmpq_mat(m, n, vals)
        self.Wf = floats.reshape(m, n)
        self.bias, _ = rationals(data["bias"])
        if len(self.bias) != m:
            raise ValueError(f"{len(self.bias)} biases for {m} outputs")
        self.in_features, self.out_features = n, m

    def _conv(self, data: Mapping[str, Any]) -> None:
        C, H, W = self.in_shape = _ints(data["in_shape"], 3, "in_shape")
        K = data["kernel"]
        co = len(K)
        ci = len(K[0]) if co else 0
        kh = len(K[0][0]) if ci else 0
        kw = len(K[0][0][0]) if kh else 0
        flat = [v for ch in K for plane in ch for row in plane for v in row]
        if min(co, ci, kh, kw) < 1 or ci != C or len(flat) != co * ci * kh * kw or any(
                len(ch) != ci or any(len(p) != kh or any(len(r) != kw for r in p) for p in ch)
                for ch in K):
            raise ValueError("a kernel of shape (C_out, C_in, kh, kw) with C_in channels of "
                             "the input")
        self.coef, self.coef_f = rationals(flat)
        self.bias_c, _ = rationals(data["bias"])
        if len(self.bias_c) != co:
            raise ValueError("one bias per output channel")
        (sh, sw) = _ints(data["stride"], 2, "stride")
        (ph, pw) = _ints(data["padding"], 2, "padding")
        (dh, dw) = _ints(data["dilation"], 2, "dilation")
        mode = data.get("padding_mode", "zeros")
        if min(sh, sw, dh, dw, C, H, W) < 1 or min(ph, pw) < 0 or mode not in PADDING_MODES:
            raise ValueError("bad convolution parameters")
        if mode != "zeros" and (ph > H - (mode == "reflect") or pw > W - (mode == "reflect")):
            raise ValueError(f"{mode} padding wider than the input")
        Ho = (H + 2 * ph - dh * (kh - 1) - 1) // sh + 1
        Wo = (W + 2 * pw - dw * (kw - 1) - 1) // sw + 1
        if min(Ho, Wo) < 1:
            raise ValueError("the convolution has no output")
        self.out_shape = (co, Ho, Wo)
        self.conv = (co, ci, kh, kw, sh, sw, ph, pw, dh, dw, mode)
        self.in_features, self.out_features = C * H * W, co * Ho * Wo

    def _pool(self, data: Mapping[str, Any]) -> None:
        C, H, W = self.in_shape = _ints(data["in_shape"], 3, "in_shape")
        kh, kw = _ints(data["kernel_size"], 2, "kernel_size")
        sh, sw = _ints(data["stride"], 2, "stride")
        ph, pw = _ints(data["padding"], 2, "padding")
        divisor = data.get("divisor")
        include = data.get("count_include_pad", True)
        if min(C, H, W, kh, kw, sh, sw) < 1 or min(ph, pw) < 0 or 2 * ph > kh or \
                2 * pw > kw or not isinstance(include, bool) or (
                divisor is not None and (not isinstance(divisor, int)
                                         or isinstance(divisor, bool) or divisor < 1)):
            raise ValueError("bad pooling parameters")
        Ho, Wo = (H + 2 * ph - kh) // sh + 1, (W + 2 * pw - kw) // sw + 1
        if min(Ho, Wo) < 1:
            raise ValueError("the pooling has no output")
        self.out_shape = (C, Ho, Wo)
        self.pool = (kh, kw, sh, sw, ph, pw, include, divisor)
        self.in_features, self.out_features = C * H * W, C * Ho * Wo

    # -- structured maps as triples --------------------------------------------------------
    def triples(self) -> list[tuple[int, int, flint.fmpq]]:
        """(output, input, coefficient) of a convolution or pooling (entries add up)."""
        if self.kind == "conv2d":
            return list(self._conv_triples())
        return list(self._pool_triples())

    def _conv_reads(self):
        """(output pixel, tap, input pixel) of one channel pair, padding resolved."""
        co, ci, kh, kw, sh, sw, ph, pw, dh, dw, mode = self.conv
        _, H, W = self.in_shape
        _, Ho, Wo = self.out_shape

        def index(i: int, n: int) -> int:
            if 0 <= i < n:
                return i
            if mode == "zeros":
                return -1
            if mode == "circular":
                return i % n
            if mode == "replicate":
                return min(max(i, 0), n - 1)
            i = -i if i < 0 else i                                     # reflect
            return 2 * (n - 1) - i if i >= n else i

        for y in range(Ho):
            for x in range(Wo):
                for i in range(kh):
                    iy = index(y * sh - ph + i * dh, H)
                    if iy < 0:
                        continue
                    for j in range(kw):
                        ix = index(x * sw - pw + j * dw, W)
                        if ix >= 0:
                            yield y * Wo + x, i * kw + j, iy * W + ix

    def _conv_triples(self):
        co, ci, kh, kw = self.conv[:4]
        _, H, W = self.in_shape
        _, Ho, Wo = self.out_shape
        reads = list(self._conv_reads())
        for o in range(co):
            for c in range(ci):
                base = (o * ci + c) * kh * kw
                for out, tap, inp in reads:
                    k = self.coef[base + tap]
                    if k != 0:
                        yield o * Ho * Wo + out, c * H * W + inp, k

    def im2col_factor(self) -> int:
        """The most (output pixel, tap) pairs reading one input pixel of a convolution: then
        ||conv x|| <= ||K||_2 ||im2col(x)||_F <= ||K||_2 sqrt(factor) ||x|| (K the C_out x
        C_in kh kw kernel matrix; im2col(x) holds each input entry once per such pair)."""
        counts: dict[int, int] = {}
        for _, _, inp in self._conv_reads():
            counts[inp] = counts.get(inp, 0) + 1
        return max(counts.values(), default=0)

    def _pool_triples(self):
        kh, kw, sh, sw, ph, pw, include, divisor = self.pool
        C, H, W = self.in_shape
        _, Ho, Wo = self.out_shape
        for c in range(C):
            for y in range(Ho):
                for x in range(Wo):
                    cells = [(y * sh - ph + i, x * sw - pw + j) for i in range(kh)
                             for j in range(kw)]
                    inside = [(a, b) for a, b in cells if 0 <= a < H and 0 <= b < W]
                    d = divisor if divisor is not None else (kh * kw if include
                                                             else len(inside))
                    for a, b in inside:
                        yield (c * Ho + y) * Wo + x, (c * H + a) * W + b, Q(1, d)

    def biases(self) -> list[flint.fmpq]:
        if self.kind == "linear":
            return self.bias
        if self.kind == "conv2d":
            _, Ho, Wo = self.out_shape
            return [b for b in self.bias_c for _ in range(Ho * Wo)]
        return [Q(0)] * self.out_features

    def matrix(self) -> flint.fmpq_mat:
        """The dense exact matrix of a linear, convolution or pooling map."""
        if self.kind == "linear":
            return self.W
        if self.in_features * self.out_features > DENSE_MAX:
            raise ValueError(f"a dense {self.out_features} x {self.in_features} matrix is too "
                             "large")
        if getattr(self, "_dense", None) is None:
            M = [[Q(0)] * self.in_features for _ in range(self.out_features)]
            for r, c, k in self.triples():
                M[r][c] += k
            self._dense = flint.fmpq_mat(self.out_features, self.in_features,
                                         [v for row in M for v in row])
        return self._dense

    def matrix_f64(self) -> np.ndarray:
        if self.kind == "linear":
            return self.Wf
        M = np.zeros((self.out_features, self.in_features))
        for r, c, k in self.triples():
            M[r, c] += int(k.p) / int(k.q)
        return M

    def apply(self, vals: list[Any]) -> list[Any]:
        """The map (without the activation) at exact values or balls."""
        if self.kind == "residual":
            g = forward(self.body, vals)
            return [a + b for a, b in zip(vals, g)]
        exact = all(isinstance(v, flint.fmpq) for v in vals)
        if self.kind == "linear" and exact:
            col = self.W * flint.fmpq_mat(len(vals), 1, vals)
            return [col[i, 0] + self.bias[i] for i in range(self.out_features)]
        out: list[Any] = [b if exact else flint.arb(b) for b in self.biases()]
        if self.kind == "linear":
            for i, row in enumerate(self.W.tolist()):
                for w, v in zip(row, vals):
                    if w != 0:
                        out[i] = flint.arb(w) * v + out[i]
            return out
        for r, c, k in self.triples():
            out[r] = out[r] + (k * vals[c] if exact else flint.arb(k) * vals[c])
        return out

    def abs_apply(self, v: list[flint.fmpq], transpose: bool) -> list[flint.fmpq]:
        """|A| v or |A|^T v for a nonnegative rational v, exactly."""
        if self.kind == "linear":
            W = self.W.transpose() if transpose else self.W
            col = flint.fmpq_mat(W.nrows(), W.ncols(), [abs(e) for e in W.entries()]) * \
                flint.fmpq_mat(len(v), 1, v)
            return [col[i, 0] for i in range(W.nrows())]
        out = [Q(0)] * (self.in_features if transpose else self.out_features)
        for r, c, k in self.triples():
            if transpose:
                out[c] += abs(k) * v[r]
            else:
                out[r] += abs(k) * v[c]
        return out

    @property
    def slope_max(self) -> flint.fmpq:
        if self.act is None:
            return Q(1)
        a, b = slopes(*self.act)
        return max(abs(a), abs(b))


def parse_layers(data: Any) -> list[Layer]:
    """The kernel's layers of a network's JSON, validated (shapes chain)."""
    if not isinstance(data, list) or not data:
        raise ValueError("layers: a non-empty list")
    layers = [Layer(d) for d in data]
    for k in range(1, len(layers)):
        if layers[k].in_features != layers[k - 1].out_features:
            raise ValueError(f"layer {k} takes {layers[k].in_features} inputs, the layer before "
                             f"gives {layers[k - 1].out_features}")
        if layers[k].kind in ("conv2d", "avgpool2d") and layers[k - 1].out_shape is not None \
                and layers[k - 1].out_shape != layers[k].in_shape:
            raise ValueError(f"layer {k} reads shape {layers[k].in_shape}, the layer before "
                             f"gives {layers[k - 1].out_shape}")
    return layers


def forward(layers: Sequence[Layer], vals: list[Any]) -> list[Any]:
    for layer in layers:
        vals = layer.apply(vals)
        if layer.act is not None:
            vals = [activate(*layer.act, v) for v in vals]
    return vals


# --------------------------------------------------------------------------------------------
# stages: maximal runs of non-residual layers (cut into maps at each activation) and residuals
# --------------------------------------------------------------------------------------------

def stages(layers: Sequence[Layer]) -> list[tuple[str, Any]]:
    """[("segment", [groups]) | ("residual", layer)]: a group is a run of linear layers ended
    by one with an activation (the last group of a segment possibly without)."""
    out: list[tuple[str, Any]] = []
    run: list[Layer] = []

    def close() -> None:
        if not run:
            return
        groups, group = [], []
        for layer in run:
            group.append(layer)
            if layer.act is not None:
                groups.append(group)
                group = []
        if group:
            groups.append(group)
        out.append(("segment", groups))
        run.clear()

    for layer in layers:
        if layer.kind == "residual":
            close()
            out.append(("residual", layer))
        else:
            run.append(layer)
    close()
    return out


def merged(group: Sequence[Layer]) -> tuple[flint.fmpq_mat, np.ndarray]:
    """The exact matrix A_m ... A_1 of a run of linear layers, and a float copy."""
    M = Mf = None
    for layer in group:
        A, Af = layer.matrix(), layer.matrix_f64()
        M, Mf = (A, Af) if M is None else (A * M, Af @ Mf)
    return M, Mf
