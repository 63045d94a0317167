"""Kernel obligations of network Lipschitz claims, and of Lipschitz stability under a network.

A network is stored in a certificate as its exact layers (``layers``, the JSON read by
:mod:`verify.kernel.layers`: affine maps, convolutions, average poolings, residual blocks, each
with an optional activation; numbers as strings "p/q"); a claim names it by
``network_sha256`` (``zeta_network_sha256`` for a perturbation), the SHA-256 of the canonical
JSON of those layers (:func:`layers_sha256`), which the decider wrote into the claim. The
kernel re-hashes the stored layers and compares, so an edited weight fails; it never loads the
user's Python file nor runs torch. Convolutions and poolings are rebuilt here from their
parameters.

``network-lipschitz`` ``{at_most c > 0, norm p in 2, 1, inf}``: ||f(x) - f(y)||_p <= c
||x - y||_p for all x, y.

* certified (or proved) by ``lipschitz-upper`` ``{layers, stages}`` (norm 2): the network is
  cut into stages (maximal runs of non-residual layers, cut into maps at each activation, and
  residual blocks; :func:`verify.kernel.layers.stages`), one witness per stage with a rational
  ``bound`` B_i, and prod B_i <= c. A stage witness is

  - ``product`` ``{norms}``: one c_j >= ||A_j||_2 per linear layer, each shown exactly (c_j^2
    >= the Frobenius norm squared, or >= ||A||_1 ||A||_inf, or for a convolution >= its
    im2col factor times the kernel matrix's squared norm by an exact Gram PSD test, or c_j^2 I
    - A^T A PSD on the smaller Gram side); B >= prod c_j prod max(|alpha|, |beta|);
  - ``lipsdp`` ``{rho, multipliers}``: LipSDP-Neuron (Fazlyab et al. 2019, Theorem 2) on the
    merged maps of the segment, the output map the last map without activation (or the
    identity): -M(rho, T) = block tridiagonal with rho I + 2 p_1 W_0^T T_1 W_0, -(alpha_k +
    beta_k) W_{k-1}^T T_k, 2 T_k + 2 p_{k+1} W_k^T T_{k+1} W_k, last 2 T_h - W_out^T W_out
    (p = alpha beta), shown PSD exactly (:func:`verify.kernel.psd.block_tridiagonal_psd`: a
    float witness, an exact residual and Gershgorin; complete LDL^T for small matrices) and
    B^2 >= rho. This is also how the ECLipsE-style chained certificates are checked: a
    block Cholesky of -M is the chain of per-layer Schur complements;
  - ``residual`` ``{body}``: witnesses for the body's stages; B >= beta (1 + prod B_body);
  - ``residual-linear`` ``{norm}``: a body without activations (A), c^2 I - (I + A)^T (I + A)
    PSD exactly; B >= beta c.

* certified by ``lipschitz-abs-product`` ``{layers}``: no witness; with J = A_l D ... D A_1
  the Jacobian of any difference quotient (D diagonal, entries in the slope intervals), |J| <=
  prod beta |A_l| ... |A_1| entrywise (residual blocks: I + |body|), so L_inf <= its largest
  row sum u, L_1 <= its largest column sum w, L_2 <= sqrt(u w), all computed here exactly.
* refuted by ``lipschitz-pair`` ``{layers, x, y}``: rational inputs whose quotient
  ||f(x) - f(y)||_p / ||x - y||_p exceeds c, f evaluated exactly (fmpq) through linear and
  piecewise-linear layers and in arb balls once tanh, sigmoid, GELU or SiLU appear.
* ``lipschitz-bracket`` ``{layers, upper, lower}`` (``upper`` an upper certificate above
  without its layers, or null; ``lower`` {x, y} or null): certifies the claim when ``upper``
  does, refutes it when ``lower`` does; and :func:`check_bracket` re-checks a verdict's
  ``bounds`` = [lo, hi] from it: ``upper`` proves L <= hi and ``lower`` has a quotient >= lo
  (lo = 0 without a pair). Every ``network-lipschitz`` verdict carries one, inconclusive ones
  too, and ``sharpflat recheck`` checks it.
* ``lipsdp`` ``{layers, rho, multipliers}`` and ``lipschitz-product`` ``{layers, norms}``:
  the same LipSDP and product conditions for a plain MLP (earlier verdicts).

``lipschitz-stable`` with a network perturbation zeta (R^d -> R): argmin (f + zeta) = {p}.
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
from typing import Any, Mapping, Sequence

import flint
import numpy as np
import sympy as sp

from verify.kernel import bounds_checker, checker, require
from verify.kernel.balls import arb_eval
from verify.kernel.facts import parse_constant, sign_holds
from verify.kernel.layers import (Layer, forward, merged, parse_layers, rational, slopes,
                                  stages, vector_norm)
from verify.kernel.psd import block_tridiagonal_psd, psd
from verify.kernel.sharp import _sharp_smt

NETWORK_LIPSCHITZ, LIPSCHITZ_STABLE = "network-lipschitz", "lipschitz-stable"
Q = flint.fmpq
#: bits of the balls through tanh, sigmoid, GELU and SiLU
PRECISION = 256
NORMS = ("2", "1", "inf")
#: which claim kinds and statuses each certificate kind of this module may decide
DECIDES = {
    "lipschitz-upper": {NETWORK_LIPSCHITZ: ("certified", "proved")},
    "lipschitz-abs-product": {NETWORK_LIPSCHITZ: ("certified", "proved")},
    "lipschitz-pair": {NETWORK_LIPSCHITZ: ("refuted",)},
    "lipschitz-bracket": {NETWORK_LIPSCHITZ: ("certified", "proved", "refuted")},
    "lipsdp": {NETWORK_LIPSCHITZ: ("certified", "proved")},
    "lipschitz-product": {NETWORK_LIPSCHITZ: ("certified", "proved")},
    "sharp-lipsdp": {LIPSCHITZ_STABLE: ("proved",)},
}
#: certificate kinds whose data also proves a verdict's ``bounds`` (any status), see
#: :func:`check_bracket`
BOUNDS = {"lipschitz-bracket": {NETWORK_LIPSCHITZ: ("certified", "proved", "refuted",
                                                    "inconclusive")}}
UPPER_KINDS = ("lipschitz-upper", "lipschitz-abs-product", "lipsdp", "lipschitz-product")


def layers_sha256(layers: Any) -> str:
    """SHA-256 of the canonical JSON text of ``layers`` (sorted keys, no spaces, ASCII)."""
    text = json.dumps(layers, sort_keys=True, separators=(",", ":"), ensure_ascii=True,
                      allow_nan=False)
    return hashlib.sha256(text.encode("ascii")).hexdigest()


def _q(v: flint.fmpq) -> sp.Rational:
    return sp.Rational(int(v.p), int(v.q))


def _short(v: flint.fmpq) -> str:
    """A rational for a message: itself when short, else its float value."""
    text = str(v)
    return text if len(text) <= 32 else f"{int(v.p) / int(v.q):.12g}"


def _diag(values: Sequence[flint.fmpq]) -> flint.fmpq_mat:
    n = len(values)
    return flint.fmpq_mat(n, n, [values[i] if i == j else Q(0)
                                 for i in range(n) for j in range(n)])


def _scale_columns(M: flint.fmpq_mat, t: Sequence[flint.fmpq], c: flint.fmpq
                   ) -> flint.fmpq_mat:
    """c M diag(t), exactly."""
    return M * _diag([c * v for v in t])


def _gram(A: flint.fmpq_mat) -> flint.fmpq_mat:
    """The smaller Gram matrix of A (same nonzero spectrum as A^T A)."""
    return A * A.transpose() if A.nrows() <= A.ncols() else A.transpose() * A


def _norm_at_most(A: flint.fmpq_mat, c: flint.fmpq) -> bool:
    """||A||_2 <= c, shown exactly (Frobenius, Hoelder, or the Gram PSD test)."""
    if c < 0:
        return False
    c2 = c * c
    entries = A.entries()
    if c2 >= sum((e * e for e in entries), Q(0)):
        return True
    rows = A.tolist()
    inf = max(sum((abs(v) for v in row), Q(0)) for row in rows)
    one = max(sum((abs(row[j]) for row in rows), Q(0)) for j in range(A.ncols()))
    if c2 >= one * inf:
        return True
    G = _gram(A)
    return psd(_diag([c2] * G.nrows()) - G)


def layer_norm_at_most(layer: Layer, c: flint.fmpq) -> bool:
    """||A||_2 <= c for a linear, convolution or pooling layer, shown exactly."""
    if c < 0:
        return False
    if layer.kind == "conv2d":
        co = layer.conv[0]
        K = flint.fmpq_mat(co, len(layer.coef) // co, layer.coef)
        factor = layer.im2col_factor()
        G = _gram(K)
        if factor == 0 or psd(_diag([c * c / factor] * G.nrows()) - G):
            return True
    if layer.in_features * layer.out_features > (1 << 23):
        return False
    return _norm_at_most(layer.matrix(), c)


# --------------------------------------------------------------------------------------------
# LipSDP-Neuron on a segment
# --------------------------------------------------------------------------------------------

def _segment_blocks(groups: list[list[Layer]], rho: flint.fmpq,
                    lams: list[list[flint.fmpq]]) -> tuple[list, list, tuple[list, list]]:
    """Blocks of -M(rho, T) for a segment (see the module docstring) and float copies."""
    hidden = [g for g in groups if g[-1].act is not None]
    out_group = None if groups[-1][-1].act is not None else groups[-1]
    Ws = [merged(g) for g in hidden]
    dims = [(Ws[0][0].ncols() if Ws else merged(out_group)[0].ncols())] + \
        [W.nrows() for W, _ in Ws]
    if [len(lam) for lam in lams] != dims[1:]:
        raise ValueError(f"one multiplier per hidden neuron ({dims[1:]}) is needed")
    sl = [slopes(*g[-1].act) for g in hidden]
    D = [_diag([rho] * dims[0])]
    Df = [float(rho) * np.eye(dims[0])]
    C, Cf = [], []
    for k, ((W, Wf), (a, b), lam) in enumerate(zip(Ws, sl, lams)):
        lam_f = np.array([float(t) for t in lam])
        WtT = _scale_columns(W.transpose(), lam, Q(1))
        C.append(_scale_columns(W.transpose(), lam, -(a + b)))
        Cf.append(-float(a + b) * Wf.T * lam_f[None, :])
        if a * b != 0:
            D[k] = D[k] + (WtT * W) * (2 * a * b)
            Df[k] = Df[k] + 2 * float(a * b) * (Wf.T * lam_f[None, :]) @ Wf
        D.append(_diag([2 * t for t in lam]))
        Df.append(np.diag(2 * lam_f))
    if out_group is None:
        D[-1] = D[-1] - _diag([Q(1)] * dims[-1])
        Df[-1] = Df[-1] - np.eye(dims[-1])
    else:
        Wo, Wof = merged(out_group)
        if Wo.ncols() != dims[-1]:
            raise ValueError("the output map does not fit the last hidden layer")
        D[-1] = D[-1] - Wo.transpose() * Wo
        Df[-1] = Df[-1] - Wof.T @ Wof
    return D, C, (Df, Cf)


def segment_lipsdp_holds(groups: list[list[Layer]], rho: flint.fmpq,
                         lams: list[list[flint.fmpq]]) -> bool:
    """M(rho, T) <= 0 for the segment, shown exactly."""
    if rho < 0 or any(t < 0 for lam in lams for t in lam):
        raise ValueError("rho and the multipliers are >= 0")
    D, C, approx = _segment_blocks(groups, rho, lams)
    return block_tridiagonal_psd(D, C, approx)


# --------------------------------------------------------------------------------------------
# upper bounds by stages
# --------------------------------------------------------------------------------------------

def _stage_bound(stage: tuple[str, Any], w: Mapping) -> flint.fmpq:
    """The bound B of one stage witness once its condition is shown (raises if not)."""
    kind, data = stage
    B = rational(w["bound"])
    method = w.get("method")
    if kind == "segment":
        groups = data
        layers = [layer for g in groups for layer in g]
        if method == "product":
            norms = [rational(c) for c in w["norms"]]
            if len(norms) != len(layers):
                raise ValueError(f"one norm per linear layer of the stage ({len(layers)})")
            bound = Q(1)
            for layer, c in zip(layers, norms):
                if not layer_norm_at_most(layer, c):
                    raise ValueError(f"c = {_short(c)} is not shown >= the spectral norm of a "
                                     "layer")
                bound *= c * layer.slope_max
        elif method == "lipsdp":
            rho = rational(w["rho"])
            lams = [[rational(t) for t in lam] for lam in w["multipliers"]]
            if not segment_lipsdp_holds(groups, rho, lams):
                raise ValueError("M(rho, T) is not shown negative semidefinite")
            if B < 0 or B * B < rho:
                raise ValueError(f"bound^2 = {_short(B * B)} is below rho = {_short(rho)}")
            bound = B
        else:
            raise ValueError(f"a segment witness is 'product' or 'lipsdp', not {method!r}")
    else:
        layer = data
        if method == "residual":
            bound = layer.slope_max * (1 + _stages_bound(layer.body, w["body"]))
        elif method == "residual-linear":
            if any(lay.act is not None or lay.kind == "residual" for lay in layer.body):
                raise ValueError("residual-linear needs a body without activations")
            A, _ = merged(layer.body)
            n = A.nrows()
            M = A + _diag([Q(1)] * n)
            c = rational(w["norm"])
            if not _norm_at_most(M, c):
                raise ValueError(f"||I + A||_2 <= {c} is not shown")
            bound = layer.slope_max * c
        else:
            raise ValueError(f"a residual witness is 'residual' or 'residual-linear', not "
                             f"{method!r}")
    if B < bound:
        raise ValueError(f"the stage bound {_short(B)} is below what its witness shows "
                         f"({_short(bound)})")
    return B


def _stages_bound(layers: list[Layer], ws: Any) -> flint.fmpq:
    """prod B_i over the stages of ``layers`` with witnesses ``ws``, each shown (raises)."""
    st = stages(layers)
    if not isinstance(ws, list) or len(ws) != len(st):
        raise ValueError(f"one witness per stage ({len(st)})")
    bound = Q(1)
    for stage, w in zip(st, ws):
        bound *= _stage_bound(stage, w)
    return bound


def upper_bound(layers: list[Layer], cert: Mapping) -> flint.fmpq:
    """The bound of a ``lipschitz-upper`` certificate (2-norm), its stages shown (raises)."""
    return _stages_bound(layers, cert["stages"])


def abs_product(layers: Sequence[Layer]) -> tuple[flint.fmpq, flint.fmpq]:
    """(largest row sum, largest column sum) of prod beta |A_l| ... |A_1| (residual: I +
    |body|), exactly."""
    def apply(ls: Sequence[Layer], v: list[flint.fmpq], transpose: bool) -> list[flint.fmpq]:
        for layer in (reversed(ls) if transpose else ls):
            beta = layer.slope_max
            if transpose:
                v = [beta * x for x in v]
            if layer.kind == "residual":
                v = [a + b for a, b in zip(v, apply(layer.body, v, transpose))]
            else:
                v = layer.abs_apply(v, transpose)
            if not transpose:
                v = [beta * x for x in v]
        return v

    u = apply(layers, [Q(1)] * layers[0].in_features, False)
    w = apply(layers, [Q(1)] * layers[-1].out_features, True)
    return max(u), max(w)


# --------------------------------------------------------------------------------------------
# plain MLPs (the certificates of earlier verdicts: lipsdp, lipschitz-product)
# --------------------------------------------------------------------------------------------

def _mlp(layers: list[Layer]) -> list[Layer]:
    if any(layer.kind != "linear" for layer in layers) or \
            any(layer.act is None for layer in layers[:-1]) or layers[-1].act is not None:
        raise ValueError("every layer but the last has an activation, the last none")
    return layers


def lipsdp_rho(layers: list[Layer], cert: Mapping) -> flint.fmpq:
    """rho of a ``lipsdp`` certificate once M(rho, T) <= 0 is decided exactly (raises if not)."""
    _mlp(layers)
    rho = rational(cert["rho"])
    lams = [[rational(t) for t in lam] for lam in cert["multipliers"]]
    groups = [[layer] for layer in layers]
    if not segment_lipsdp_holds(groups, rho, lams):
        raise ValueError("M(rho, T) is not negative semidefinite")
    return rho


def product_bound(layers: list[Layer], cert: Mapping) -> flint.fmpq:
    """prod c_k * prod max(|alpha|, |beta|), each c_k >= ||W_k||_2 shown exactly (raises)."""
    _mlp(layers)
    norms = [rational(c) for c in cert["norms"]]
    if len(norms) != len(layers) or any(c < 0 for c in norms):
        raise ValueError("one norm c_k >= 0 per layer is needed")
    bound = Q(1)
    for layer, c in zip(layers, norms):
        if not _norm_at_most(layer.W, c):
            raise ValueError(f"c = {c} is not shown >= the spectral norm of a layer")
        bound *= c * layer.slope_max
    return bound


# --------------------------------------------------------------------------------------------
# pairs
# --------------------------------------------------------------------------------------------

def quotient(layers: list[Layer], x: Sequence[Any], y: Sequence[Any], norm: str = "2") -> Any:
    """||f(x) - f(y)|| / ||x - y|| at rational inputs (squared for the 2-norm): an fmpq, or a
    ball containing it."""
    xq, yq = [rational(v) for v in x], [rational(v) for v in y]
    n = layers[0].in_features
    if len(xq) != n or len(yq) != n:
        raise ValueError(f"the inputs need {n} coordinates")
    den = vector_norm([a - b for a, b in zip(xq, yq)], norm)
    if den == 0:
        raise ValueError("x == y")
    old = flint.ctx.prec
    flint.ctx.prec = PRECISION
    try:
        fx, fy = forward(layers, list(xq)), forward(layers, list(yq))
        exact = all(isinstance(v, flint.fmpq) for v in fx + fy)
        num = vector_norm([a - b if exact else flint.arb(a) - flint.arb(b)
                           for a, b in zip(fx, fy)],
                    norm)
        return num / den
    finally:
        flint.ctx.prec = old


def squared_quotient(layers: list[Layer], x: Sequence[Any], y: Sequence[Any]) -> Any:
    """||f(x) - f(y)||^2 / ||x - y||^2 at rational inputs: an fmpq, or a ball containing it."""
    return quotient(layers, x, y, "2")


def _compare(value: Any, bound: sp.Expr, relation: str) -> bool:
    """value (fmpq or ball) relation bound (an exact SymPy number, relation > or >=)."""
    if isinstance(value, flint.fmpq):
        return sign_holds(_q(value) - bound, relation)
    old = flint.ctx.prec
    flint.ctx.prec = PRECISION
    try:
        diff = value - arb_eval(bound)
        return bool(diff > 0) if relation == ">" else bool(diff >= 0)
    finally:
        flint.ctx.prec = old


# --------------------------------------------------------------------------------------------
# claims and checkers
# --------------------------------------------------------------------------------------------

def _norm_of(claim: Mapping) -> str:
    norm = str(claim.get("norm", "2"))
    if norm not in NORMS:
        raise ValueError(f"norm {norm!r}: one of {', '.join(NORMS)}")
    return norm


def _at_most(claim: Mapping) -> sp.Expr:
    c = parse_constant(claim["at_most"])
    if not sign_holds(c, ">"):
        raise ValueError("at_most must be positive")
    return c


def _net_of(claim: Mapping, cert: Mapping, key: str) -> list[Layer]:
    """The stored layers, once they hash to the claim's fingerprint and fit its input_shape
    (when the claim gives one: the input size, and the shape a first convolution reads)."""
    sha = claim.get(key)
    if not isinstance(sha, str) or layers_sha256(cert["layers"]) != sha:
        raise ValueError(f"the stored layers do not hash to the claim's {key}")
    layers = parse_layers(cert["layers"])
    shape = claim.get("input_shape") if key == "network_sha256" else None
    if shape is not None:
        shape = tuple(int(rational(str(v))) for v in shape)
        first = layers[0]
        while first.kind == "residual":
            first = first.body[0]
        if len(shape) != 3 or layers[0].in_features != shape[0] * shape[1] * shape[2] or (
                first.in_shape is not None and first.in_shape != shape):
            raise ValueError(f"the stored layers do not read inputs of the claim's input_shape "
                             f"{list(shape)}")
    return layers


def _upper_holds(layers: list[Layer], cert: Mapping, c: sp.Expr, norm: str
                 ) -> tuple[bool, str]:
    """Does the upper certificate ``cert`` (on ``layers``) show L_norm(f) <= c?"""
    kind = cert.get("kind")
    if kind == "lipschitz-abs-product":
        u, w = abs_product(layers)
        value = {"inf": u, "1": w, "2": u * w}[norm]
        target = c ** 2 if norm == "2" else c
        return require(sign_holds(target - _q(value), ">="),
                       f"the absolute product bound {_short(value)} exceeds at_most"
                       + ("^2" if norm == "2" else ""))
    if norm != "2":
        return False, f"{kind} bounds the 2-norm constant, the claim is about the {norm}-norm"
    if kind == "lipschitz-upper":
        bound = upper_bound(layers, cert)
        return require(sign_holds(c - _q(bound), ">="), f"the bound {_short(bound)} exceeds at_most")
    if kind == "lipsdp":
        rho = lipsdp_rho(layers, cert)
        return require(sign_holds(c ** 2 - _q(rho), ">="), f"rho = {_short(rho)} exceeds at_most^2")
    if kind == "lipschitz-product":
        bound = product_bound(layers, cert)
        return require(sign_holds(c - _q(bound), ">="), f"the product {_short(bound)} exceeds at_most")
    return False, f"{kind!r} is not an upper-bound certificate"


def _pair_exceeds(layers: list[Layer], pair: Mapping, c: sp.Expr, norm: str,
                  relation: str = ">") -> bool:
    q = quotient(layers, pair["x"], pair["y"], norm)
    return _compare(q, c ** 2 if norm == "2" else c, relation)


def _claim_of(claim: Mapping, status: str, cert: Mapping, allowed: Sequence[str]
              ) -> tuple[sp.Expr, str, list[Layer]]:
    if claim.get("kind") != NETWORK_LIPSCHITZ or status not in allowed:
        raise _Refused(f"{cert.get('kind')} decides a network-lipschitz claim as "
                       f"{' or '.join(allowed)}")
    return _at_most(claim), _norm_of(claim), _net_of(claim, cert, "network_sha256")


class _Refused(Exception):
    pass


@checker(*UPPER_KINDS)
def _check_upper(claim: Mapping, status: str, cert: Mapping) -> tuple[bool, str]:
    try:
        c, norm, layers = _claim_of(claim, status, cert, ("certified", "proved"))
    except _Refused as exc:
        return False, str(exc)
    return _upper_holds(layers, cert, c, norm)


@checker("lipschitz-pair")
def _check_pair(claim: Mapping, status: str, cert: Mapping) -> tuple[bool, str]:
    try:
        c, norm, layers = _claim_of(claim, status, cert, ("refuted",))
    except _Refused as exc:
        return False, str(exc)
    return require(_pair_exceeds(layers, cert, c, norm),
                   "the quotient at the pair is not shown > at_most")


def _inner(cert: Mapping, key: str) -> Mapping | None:
    part = cert.get(key)
    if part is None:
        return None
    if not isinstance(part, Mapping) or "layers" in part:
        raise ValueError(f"{key}: an object without its own layers (they are the bracket's)")
    return part


@checker("lipschitz-bracket")
def _check_bracket_status(claim: Mapping, status: str, cert: Mapping) -> tuple[bool, str]:
    try:
        c, norm, layers = _claim_of(claim, status, cert, ("certified", "proved", "refuted"))
    except _Refused as exc:
        return False, str(exc)
    if status == "refuted":
        lower = _inner(cert, "lower")
        if lower is None:
            return False, "a refuted claim needs the bracket's pair"
        return require(_pair_exceeds(layers, lower, c, norm),
                       "the quotient at the pair is not shown > at_most")
    upper = _inner(cert, "upper")
    if upper is None or upper.get("kind") not in UPPER_KINDS:
        return False, "a certified claim needs the bracket's upper certificate"
    return _upper_holds(layers, upper, c, norm)


@bounds_checker("lipschitz-bracket")
def check_bracket(claim: Mapping, bounds: Any, cert: Mapping) -> tuple[bool, str]:
    """Do a verdict's ``bounds`` = [lo, hi] hold, from its ``lipschitz-bracket`` certificate?
    ``upper`` must show L <= hi (a null upper needs hi = null) and ``lower`` a quotient >= lo
    (a null lower needs lo = 0). Never raises: malformed data fails."""
    try:
        if claim.get("kind") != NETWORK_LIPSCHITZ or cert.get("kind") != "lipschitz-bracket":
            return False, "a lipschitz-bracket certificate of a network-lipschitz claim"
        if not isinstance(bounds, (list, tuple)) or len(bounds) != 2:
            return False, "the verdict has no bracket [lower, upper]"
        norm = _norm_of(claim)
        layers = _net_of(claim, cert, "network_sha256")
        lo, hi = bounds
        upper, lower = _inner(cert, "upper"), _inner(cert, "lower")
        if upper is None or hi is None:
            return False, "the bracket has no certified upper bound"
        ok, reason = _upper_holds(layers, upper, _bound_number(hi), norm)
        if not ok:
            return False, f"upper end {hi}: {reason}"
        low = _bound_number(lo)
        if lower is None:
            return require(low == 0, f"lower end {lo} without a pair (only 0 needs none)")
        return require(_pair_exceeds(layers, lower, low, norm, ">="),
                       f"the pair's quotient is not shown >= the lower end {lo}")
    except Exception as exc:  # noqa: BLE001 - malformed data fails the check
        return False, f"bracket: the check failed on this data ({type(exc).__name__}: {exc})"


def _bound_number(v: Any) -> sp.Expr:
    """A bound of a verdict (a float, int or exact string) as an exact number."""
    if isinstance(v, bool) or v is None:
        raise ValueError(f"{v!r} is not a bound")
    if isinstance(v, float):
        if v != v or v in (float("inf"), float("-inf")):
            raise ValueError(f"{v!r} is not a finite bound")
        return sp.Rational(*v.as_integer_ratio())
    if isinstance(v, int):
        return sp.Integer(v)
    return parse_constant(v)


@checker("sharp-lipsdp")
def _check_composition(claim: Mapping, status: str, cert: Mapping) -> tuple[bool, str]:
    if claim.get("kind") != LIPSCHITZ_STABLE or status != "proved":
        return False, "sharp-lipsdp proves a lipschitz-stable claim with a network perturbation"
    layers = _net_of(claim, cert["lipschitz"], "zeta_network_sha256")
    d = len(claim["variables"])
    dims_in, dims_out = layers[0].in_features, layers[-1].out_features
    if dims_in != d or dims_out != 1:
        return False, f"zeta must map R^{d} to R, it maps R^{dims_in} to R^{dims_out}"
    rho = lipsdp_rho(layers, cert["lipschitz"])
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
