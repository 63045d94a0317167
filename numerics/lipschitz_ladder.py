"""Candidate Lipschitz bounds of general networks, cheapest first: the numerical side of the
ladder of ``network-lipschitz`` claims (the kernel, :mod:`verify.kernel.networks`, checks what
this module proposes; nothing here is a proof by itself).

A network (:func:`numerics.lipschitz.network_layers`) is cut into **stages**
(:func:`stages`): maximal runs of non-residual layers (*segments*) and residual blocks
x -> act(x + g(x)). L(f) <= prod L(stage). A segment is a composition of *maps*, each a run of
linear layers (Linear, Conv2d, AvgPool2d: merged into one matrix) ended by an activation, the
last possibly without one.

Rungs, each a witness per stage:

1. ``product``: a certified norm per linear layer (:func:`layer_norm_candidates`: the exact
   Frobenius norm, sqrt(||A||_1 ||A||_inf), the im2col bound of a convolution, or a float
   spectral norm rounded up, which the kernel checks by an exact Gram PSD test) times the
   slope maxima; residual blocks 1 + L(body). Also the **absolute-product** bound
   (:func:`abs_product_bounds`): Delta f = J Delta x with J = A_l D_{l-1} ... D_1 A_1, D_k
   diagonal with entries in the slope intervals, so |J| <= prod beta_k |A_l| ... |A_1|
   entrywise and ||J||_inf <= max row sum, ||J||_1 <= max column sum, ||J||_2 <=
   sqrt(||J||_1 ||J||_inf): exact, cheap, and the only bound offered in the 1- and inf-norms.
2. ``eclipse-fast``: LipSDP-Neuron multipliers T_k = t_k I chosen layer by layer as in
   ECLipsE-Fast (Xu and Sivaranjani, NeurIPS 2024), generalized to slope intervals with
   alpha beta != 0 (see :func:`eclipse_fast`).
3. ``lipsdp``: LipSDP-Neuron (Fazlyab et al. 2019, Theorem 2) with a multiplier per neuron:
   the interior-point SDP where the segment is small, else a first-order method on the
   multipliers (:func:`lipsdp_first_order`): rho(T), the least rho with M(rho, T) <= 0, is
   computed by a backward chain of Schur complements and minimized by L-BFGS on log T with a
   smoothed maximum eigenvalue (soft-max of the eigenvalues at rising temperatures).

A LipSDP witness (rho, T) of a segment is checked by the kernel exactly (block tridiagonal
PSD test, :mod:`verify.kernel.psd`), which also lifts the old 400-row cap.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any, Sequence

import flint
import numpy as np

from numerics import lipschitz as L

Q = flint.fmpq

__all__ = ["Segment", "ResidualStage", "stages", "SegmentProblem", "segment_problem",
           "layer_norm_candidates", "abs_product_bounds", "eclipse_fast", "rho_of",
           "lipsdp_first_order", "round_multipliers", "spectral_norm"]


# --------------------------------------------------------------------------------------------
# stages
# --------------------------------------------------------------------------------------------

@dataclass
class Segment:
    """A maximal run of non-residual layers, cut into maps: ``groups[k]`` is a run of linear
    layers whose last one carries an activation (every group but possibly the last)."""

    layers: list
    groups: list[list] = field(default_factory=list)

    def __post_init__(self) -> None:
        group: list = []
        for layer in self.layers:
            group.append(layer)
            if layer.activation is not None:
                self.groups.append(group)
                group = []
        if group:
            self.groups.append(group)

    @property
    def hidden(self) -> list[list]:
        """The groups with an activation (LipSDP's hidden layers)."""
        return [g for g in self.groups if g[-1].activation is not None]

    @property
    def output(self) -> list | None:
        """The last group when it has no activation (LipSDP's output map), else None: the
        output map is the identity."""
        return None if self.groups[-1][-1].activation is not None else self.groups[-1]

    @property
    def in_features(self) -> int:
        return self.layers[0].in_features


@dataclass
class ResidualStage:
    """A residual block x -> act(x + body(x)) with the stages of its body."""

    layer: Any
    body: list


def stages(layers: Sequence[Any]) -> list:
    """The stages of a network (see the module docstring); the kernel cuts the same way."""
    out: list = []
    run: list = []
    for layer in layers:
        if isinstance(layer, L.ResidualLayer):
            if run:
                out.append(Segment(run))
                run = []
            out.append(ResidualStage(layer, stages(layer.body)))
        else:
            run.append(layer)
    if run:
        out.append(Segment(run))
    return out


def group_matrix(group: Sequence[Any]) -> np.ndarray:
    """The merged float matrix A_m ... A_1 of a run of linear layers."""
    M = None
    for layer in group:
        A = layer.matrix_f64()
        M = A if M is None else A @ M
    return M


# --------------------------------------------------------------------------------------------
# rung 1: norms and products
# --------------------------------------------------------------------------------------------

def spectral_norm(A: np.ndarray) -> float:
    """||A||_2 in float64 (an estimate)."""
    if A.size == 0:
        return 0.0
    small = A if A.shape[0] <= A.shape[1] else A.T
    return float(np.sqrt(max(np.linalg.eigvalsh(small @ small.T)[-1], 0.0))) \
        if small.shape[0] <= 2048 else float(np.linalg.norm(A, 2))


def _round_up(x: float, bits: int = 40) -> flint.fmpq:
    return L._dyadic(x, bits, up=True)


def _abs_sums(M: flint.fmpq_mat) -> tuple[flint.fmpq, flint.fmpq]:
    """(max column sum, max row sum) of |M|: ||M||_1 and ||M||_inf, exactly."""
    rows = M.tolist()
    r = max(sum((abs(v) for v in row), Q(0)) for row in rows)
    cols = [Q(0)] * M.ncols()
    for row in rows:
        for j, v in enumerate(row):
            if v != 0:
                cols[j] += abs(v)
    return max(cols), r


@dataclass
class NormCandidate:
    """c >= ||A||_2 for one linear layer, with how the kernel will see it: ``exact`` when c is
    an exact cheap bound (Frobenius, Hoelder, im2col), else a float spectral norm rounded up
    that needs the kernel's Gram test."""

    value: flint.fmpq
    how: str
    exact: bool


def layer_norm_candidates(layer: Any, *, inflate: float = 2.0 ** -20) -> list[NormCandidate]:
    """Upper bounds of ||A||_2 for a linear layer, best first among: the float spectral norm
    times (1 + inflate) rounded up (checked by the kernel's Gram test), the exact Frobenius
    norm rounded up, sqrt(||A||_1 ||A||_inf) rounded up, and for a convolution sqrt(factor)
    times its kernel matrix's float norm rounded up."""
    out: list[NormCandidate] = []
    dense_ok = layer.in_features * layer.out_features <= L.DENSE_MAX
    if dense_ok:
        A = layer.matrix_f64()
        sigma = spectral_norm(A)
        out.append(NormCandidate(_round_up(sigma * (1 + inflate) + 1e-300), "gram", False))
        M = layer.matrix_exact()
        fro = sum((e * e for e in M.entries()), Q(0))
        out.append(NormCandidate(L.sqrt_upper(fro), "frobenius", True))
        one, inf = _abs_sums(M)
        out.append(NormCandidate(L.sqrt_upper(one * inf), "hoelder", True))
    if isinstance(layer, L.ConvLayer):
        K = layer.kernel_f64.reshape(layer.kernel_f64.shape[0], -1)
        c = math.sqrt(layer.im2col_factor()) * spectral_norm(K) * (1 + inflate)
        out.append(NormCandidate(_round_up(c + 1e-300), "im2col", False))
    return sorted(out, key=lambda n: n.value)


def abs_product_bounds(layers: Sequence[Any]) -> tuple[flint.fmpq, flint.fmpq]:
    """(B_inf, B_1): exact upper bounds of the inf- and 1-norm Lipschitz constants, the largest
    row and column sums of prod beta_k |A_l| ... |A_1| (residual blocks: I + |body|); then
    sqrt(B_inf B_1) bounds the 2-norm constant (see the module docstring)."""
    n0, n1 = layers[0].in_features, layers[-1].out_features
    u = _abs_apply(layers, [Q(1)] * n0, transpose=False)
    w = _abs_apply(layers, [Q(1)] * n1, transpose=True)
    return max(u), max(w)


def _abs_matvec(layer: Any, v: list[flint.fmpq], transpose: bool) -> list[flint.fmpq]:
    if isinstance(layer, L.ExactLayer):
        W = layer.weight.transpose() if transpose else layer.weight
        col = flint.fmpq_mat(W.nrows(), W.ncols(), [abs(e) for e in W.entries()]) * \
            flint.fmpq_mat(len(v), 1, v)
        return [col[i, 0] for i in range(W.nrows())]
    return layer.abs_apply_exact(v, transpose=transpose)


def _abs_apply(layers: Sequence[Any], v: list[flint.fmpq], transpose: bool) -> list[flint.fmpq]:
    """prod beta |A| applied to a nonnegative vector (or its transpose, from the output)."""
    for layer in (reversed(layers) if transpose else layers):
        beta = layer.slope_max
        if transpose and beta != 1:
            v = [beta * x for x in v]
        if isinstance(layer, L.ResidualLayer):
            g = _abs_apply(layer.body, v, transpose)
            v = [a + b for a, b in zip(v, g)]
        else:
            v = _abs_matvec(layer, v, transpose)
        if not transpose and beta != 1:
            v = [beta * x for x in v]
    return v


# --------------------------------------------------------------------------------------------
# rungs 2 and 3: LipSDP-Neuron on a segment
# --------------------------------------------------------------------------------------------

@dataclass
class SegmentProblem:
    """LipSDP-Neuron data of a segment: ``Ws[k]`` the merged matrix into hidden layer k + 1
    (k = 0 .. h-1), ``out`` the output matrix (None: the identity), slopes per hidden layer."""

    Ws: list[np.ndarray]
    out: np.ndarray | None
    slopes: list[tuple[float, float]]

    @property
    def dims(self) -> list[int]:
        return [self.Ws[0].shape[1]] + [W.shape[0] for W in self.Ws]

    @property
    def rows(self) -> int:
        return sum(self.dims)

    def out_gram(self) -> np.ndarray:
        n = self.dims[-1]
        return np.eye(n) if self.out is None else self.out.T @ self.out


def segment_problem(seg: Segment) -> SegmentProblem:
    """The float LipSDP data of a segment with at least one activation."""
    Ws = [group_matrix(g) for g in seg.hidden]
    slopes = [tuple(float(s) for s in g[-1].slopes) for g in seg.hidden]
    out = None if seg.output is None else group_matrix(seg.output)
    return SegmentProblem(Ws, out, slopes)


def eclipse_fast(prob: SegmentProblem) -> tuple[float, list[np.ndarray]]:
    """(rho, T): LipSDP-Neuron multipliers T_k = t_k I chosen layer by layer, ECLipsE-Fast
    (Xu and Sivaranjani 2024, the closed-form variant), and the least rho for them.

    In the normalized chain X_0 = I, Y = X_{k-1} + p W^T L W, X_k = L - m^2 L W Y^-1 W^T L
    (L = lam I, m = (alpha + beta) / 2, p = alpha beta), lam maximizes lambda_min(X_k): for
    p = 0 in closed form, lam = 1 / (2 m^2 lambda_max(W X^-1 W^T)); otherwise by a golden
    section search in log lam. Then rho = lambda_max(W_out X_h^-1 W_out^T) and T_k = rho
    lam_k / 2 (the multipliers of M(rho, T), whose quadratic form is rho times the chain's)."""
    X = np.eye(prob.dims[0])
    lams = []
    for W, (a, b) in zip(prob.Ws, prob.slopes):
        m, p = (a + b) / 2, a * b
        lam, X = _eclipse_step(X, W, m, p)
        lams.append(lam)
    from scipy.linalg import solve_triangular

    Lc = np.linalg.cholesky(_sym(X))
    Z = solve_triangular(Lc, solve_triangular(Lc, prob.out_gram(), lower=True).T, lower=True)
    rho = float(np.linalg.eigvalsh(_sym(Z))[-1])                  # of Lc^-1 G Lc^-T
    return rho, [np.full(W.shape[0], rho * lam / 2) for W, lam in zip(prob.Ws, lams)]


def _sym(A: np.ndarray) -> np.ndarray:
    return (A + A.T) / 2


def _eclipse_step(X: np.ndarray, W: np.ndarray, m: float, p: float
                  ) -> tuple[float, np.ndarray]:
    n = W.shape[0]

    def next_X(lam: float) -> np.ndarray | None:
        Y = X + p * lam * (W.T @ W) if p else X
        try:
            Lc = np.linalg.cholesky(_sym(Y))
        except np.linalg.LinAlgError:
            return None
        B = np.linalg.solve(Lc, W.T)                                    # L^-1 W^T
        return lam * np.eye(n) - (m * lam) ** 2 * _sym(B.T @ B)

    Lc = np.linalg.cholesky(_sym(X))
    B = np.linalg.solve(Lc, W.T)
    kappa = float(np.linalg.eigvalsh(_sym(B.T @ B))[-1])
    lam0 = 1.0 / (2 * m * m * kappa) if m and kappa > 0 else 1.0
    if not p:
        return lam0, next_X(lam0)

    def score(t: float) -> float:
        Xn = next_X(math.exp(t))
        return -math.inf if Xn is None else float(np.linalg.eigvalsh(Xn)[0])

    lo, hi = math.log(lam0) - 8, math.log(lam0) + 2
    g = (math.sqrt(5) - 1) / 2
    a, b = hi - g * (hi - lo), lo + g * (hi - lo)
    fa, fb = score(a), score(b)
    for _ in range(40):
        if fa >= fb:
            hi, b, fb = b, a, fa
            a = hi - g * (hi - lo)
            fa = score(a)
        else:
            lo, a, fa = a, b, fb
            b = lo + g * (hi - lo)
            fb = score(b)
    t = a if fa >= fb else b
    return math.exp(t), next_X(math.exp(t))


def _rho_torch(Ws: list, G: Any, slopes: list[tuple[float, float]], T: list) -> Any:
    """The matrix whose largest eigenvalue is rho(T): the backward chain of Schur complements
    of M(rho, T) (see :func:`rho_of`); torch, differentiable in T."""
    import torch

    h = len(Ws)
    U = 2 * torch.diag(T[h - 1]) - G
    for k in range(h - 1, 0, -1):
        a, b = slopes[k]
        C = -(a + b) * Ws[k].T * T[k][None, :]                     # block (k, k+1)
        Lc = torch.linalg.cholesky(U)
        Z = torch.cholesky_solve(C.T, Lc)
        U = 2 * torch.diag(T[k - 1]) - C @ Z
        if a * b:
            U = U + 2 * a * b * (Ws[k].T * T[k][None, :]) @ Ws[k]
    a, b = slopes[0]
    C = -(a + b) * Ws[0].T * T[0][None, :]
    Lc = torch.linalg.cholesky(U)
    R = C @ torch.cholesky_solve(C.T, Lc)
    if a * b:
        R = R - 2 * a * b * (Ws[0].T * T[0][None, :]) @ Ws[0]
    return (R + R.T) / 2


def rho_of(prob: SegmentProblem, T: Sequence[np.ndarray]) -> float:
    """The least rho with M(rho, T) <= 0 (float64; inf when no rho works).

    With A = -M: the hidden-and-output part must be positive definite, computed backward:
    U_h = 2 T_h - W_out^T W_out, U_k = 2 T_k + 2 p_{k+1} W_k^T T_{k+1} W_k - C_{k+1} U_{k+1}^-1
    C_{k+1}^T, C_k = -(alpha_k + beta_k) W_{k-1}^T T_k; then rho = lambda_max(C_1 U_1^-1 C_1^T
    - 2 p_1 W_0^T T_1 W_0)."""
    import torch

    Ws = [torch.as_tensor(W) for W in prob.Ws]
    try:
        with torch.no_grad():
            R = _rho_torch(Ws, torch.as_tensor(prob.out_gram()), prob.slopes,
                           [torch.as_tensor(np.asarray(t, dtype=float)) for t in T])
            return float(torch.linalg.eigvalsh(R)[-1])
    except (torch.linalg.LinAlgError, RuntimeError):
        return math.inf


@dataclass
class FirstOrder:
    """Result of :func:`lipsdp_first_order`: the best multipliers and their rho (float)."""

    T: list[np.ndarray]
    rho: float
    evaluations: int
    seconds: float
    stopped: str = ""


def lipsdp_first_order(prob: SegmentProblem, T0: Sequence[np.ndarray], *,
                       evaluations: int = 240, temperatures: Sequence[float] = (20, 100, 500,
                                                                                 2500),
                       deadline: float | None = None) -> FirstOrder:
    """Minimize rho(T) over positive diagonal multipliers, from ``T0`` (ECLipsE-Fast's).

    L-BFGS (strong Wolfe line search, torch float64) on theta = log T of log s_tau(T), s_tau
    the soft maximum (1 / tau') log sum exp(tau' lambda_i) of the eigenvalues whose largest is
    rho(T) (tau' = tau / rho), for each temperature tau in turn from the best point so far; a
    point where the chain is not positive definite gets a huge value (the line search backs
    off). Deterministic for a given budget of ``evaluations``; ``deadline`` (a
    time.perf_counter value) stops early (the result is then only less tight). Runs on one
    thread (:func:`numerics.lipschitz.one_thread`)."""
    with L.one_thread():
        return _first_order(prob, T0, evaluations, temperatures, deadline)


def _first_order(prob: SegmentProblem, T0: Sequence[np.ndarray], evaluations: int,
                 temperatures: Sequence[float], deadline: float | None) -> FirstOrder:
    import torch

    t0 = time.perf_counter()
    Ws = [torch.as_tensor(W) for W in prob.Ws]
    G = torch.as_tensor(prob.out_gram())
    theta = [torch.tensor(np.log(np.maximum(np.asarray(t, dtype=float), 1e-300)),
                          requires_grad=True) for t in T0]
    best = {"rho": rho_of(prob, T0), "theta": [t.detach().clone() for t in theta]}
    count = [0]
    per = max(1, evaluations // max(1, len(temperatures)))
    stopped = ""
    for tau in temperatures:
        if count[0] >= evaluations:
            break
        with torch.no_grad():
            for t, b in zip(theta, best["theta"]):
                t.copy_(b)
        scale = best["rho"] if math.isfinite(best["rho"]) and best["rho"] > 0 else None
        opt = torch.optim.LBFGS(theta, lr=1, max_iter=per, max_eval=per, history_size=20,
                                line_search_fn="strong_wolfe", tolerance_grad=1e-12,
                                tolerance_change=1e-14)

        class Stop(Exception):
            pass

        def closure():
            opt.zero_grad()
            if count[0] >= evaluations or (deadline is not None
                                           and time.perf_counter() > deadline):
                raise Stop
            count[0] += 1
            try:
                R = _rho_torch(Ws, G, prob.slopes, [t.exp() for t in theta])
                ev = torch.linalg.eigvalsh(R)
            except (torch.linalg.LinAlgError, RuntimeError):
                return torch.tensor(1e30, dtype=torch.float64)
            top = float(ev[-1].detach())
            if not math.isfinite(top):
                return torch.tensor(1e30, dtype=torch.float64)
            if top < best["rho"]:
                best["rho"], best["theta"] = top, [t.detach().clone() for t in theta]
            s = tau / abs(scale or top or 1.0)
            value = torch.logsumexp(s * ev, 0) / s
            if not value > 0:
                return torch.tensor(1e30, dtype=torch.float64)
            value = torch.log(value)
            value.backward()
            return value

        try:
            opt.step(closure)
        except Stop:
            stopped = "deadline" if count[0] < evaluations else "budget"
            break
    T = [b.exp().numpy() for b in best["theta"]]
    return FirstOrder(T, best["rho"], count[0], time.perf_counter() - t0, stopped)


def round_multipliers(T: Sequence[np.ndarray], bits: int = 24) -> list[list[flint.fmpq]]:
    """Multipliers rounded to ``bits`` significant bits, exactly (dyadic, >= 0)."""
    return [[L._dyadic(float(v), bits, up=False) for v in t] for t in T]


def as_floats(Tq: Sequence[Sequence[flint.fmpq]]) -> list[np.ndarray]:
    return [np.array([float(v) for v in t]) for t in Tq]
