"""The ladder of certified upper bounds of a ``network-lipschitz`` claim, cheapest first.

Each rung turns the candidates of :mod:`numerics.lipschitz_ladder` into an upper certificate
for the kernel (:mod:`verify.kernel.networks`), with its exact bound:

1. ``abs-product``: the product of absolute weight matrices (witness-free; the only rung in the
   1- and inf-norms, where it is the bound stated);
2. ``product (exact norms)``: per layer the least of the exact Frobenius norm,
   sqrt(||A||_1 ||A||_inf), the im2col bound of a convolution and, for layers with a Gram side
   of at most 48 rows, the float spectral norm rounded up; residual blocks 1 + L(body);
3. ``product (spectral norms)``: every layer's float spectral norm rounded up (1 + 2^-24),
   shown by the kernel's exact Gram PSD test;
4. ``eclipse-fast``: LipSDP-Neuron with one multiplier per layer, chosen as in ECLipsE-Fast;
5. ``lipsdp``: LipSDP-Neuron with one multiplier per neuron: the interior-point SDP (cvxpy)
   for segments of at most :data:`SMALL_ROWS` rows, else the first-order method.

A segment that cannot be handled by a rung (a dense map too large, too many rows) keeps the
product witness of rung 3 in the later rungs. A LipSDP stage's rho is the float rho of its
rounded multipliers inflated by (1 + eta); when the claim's bound leaves room, eta is as large
as fits (more margin for the exact PSD test).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, Iterator, Sequence

import flint
import numpy as np

from numerics import lipschitz as L
from numerics import lipschitz_ladder as LL

Q = flint.fmpq
#: segments with at most this many LipSDP rows are solved by the interior-point SDP
SMALL_ROWS = 160
#: the largest LipSDP block (rows) a rung proposes to the kernel
BLOCK_MAX = 4096
#: float evaluations of rho(T) of the first-order rung (per segment)
FIRST_ORDER_EVALUATIONS = 240
#: relative slacks tried on rho (largest that fits the claim's bound first)
ETAS = (2.0 ** -4, 2.0 ** -8, 2.0 ** -14, 2.0 ** -20)
#: the slack of a bound reported without a target (a bracket's upper end)
BRACKET_ETA = 2.0 ** -14
#: float spectral norms are inflated by this much before the exact Gram test
INFLATE = 2.0 ** -24
#: multipliers are scaled by 1 + this (ECLipsE-Fast's), 1 + this / 64 (first order's), so that
#: the hidden blocks of -M(rho, T) are positive definite with a margin the exact test needs
INTERIOR = 2.0 ** -10
#: denominators the solver's multipliers are rounded to for the exact attempt at rho = c^2
SNAP_DENOMINATORS = (10 ** 3, 10 ** 6)
RUNGS = ("abs-product", "product (exact norms)", "product (spectral norms)", "eclipse-fast",
         "lipsdp")


def preferred_solver() -> str:
    """CVXOPT (a dependency: much faster on networks of a hundred neurons); Clarabel where it is
    missing."""
    import cvxpy as cp

    return "CVXOPT" if "CVXOPT" in cp.installed_solvers() else "CLARABEL"


# --------------------------------------------------------------------------------------------
# stage witnesses
# --------------------------------------------------------------------------------------------

@dataclass
class Stage:
    """One stage's witness before its bound is fixed: ``method`` as in the kernel; an exact
    ``bound`` (product, residual-linear), or ``rho`` (float or exact) and multipliers."""

    method: str
    bound: flint.fmpq | None = None
    norms: list[flint.fmpq] = field(default_factory=list)
    rho: float | None = None
    rho_exact: flint.fmpq | None = None
    multipliers: list[list[flint.fmpq]] = field(default_factory=list)
    body: list["Stage"] = field(default_factory=list)
    beta: flint.fmpq = Q(1)
    norm: flint.fmpq | None = None

    def estimate(self) -> float:
        if self.method == "lipsdp":
            rho = float(self.rho_exact) if self.rho_exact is not None else self.rho
            return math.sqrt(max(rho, 0.0))
        if self.method == "residual":
            return float(self.beta) * (1 + math.prod(s.estimate() for s in self.body))
        return float(self.bound)

    def realize(self, eta: float) -> tuple[dict[str, Any], flint.fmpq]:
        """(JSON witness, exact bound B) with slack ``eta`` on a float rho."""
        if self.method == "product":
            return ({"method": "product", "norms": [str(c) for c in self.norms],
                     "bound": str(self.bound)}, self.bound)
        if self.method == "residual-linear":
            return ({"method": "residual-linear", "norm": str(self.norm),
                     "bound": str(self.bound)}, self.bound)
        if self.method == "residual":
            parts = [s.realize(eta) for s in self.body]
            b = Q(1)
            for _, B in parts:
                b *= B
            B = self.beta * (1 + b)
            return ({"method": "residual", "body": [w for w, _ in parts], "bound": str(B)}, B)
        if self.rho_exact is not None:                  # shown exactly already: no slack
            B = _sqrt_up(self.rho_exact)
        else:
            B = L._dyadic(math.sqrt(max(self.rho, 1e-300) * (1 + eta)), 40, up=True)
        rho = B * B if self.rho_exact is None or B * B >= self.rho_exact else self.rho_exact
        return ({"method": "lipsdp", "rho": str(rho),
                 "multipliers": [[str(t) for t in lam] for lam in self.multipliers],
                 "bound": str(B)}, B)


def _sqrt_up(q: flint.fmpq) -> flint.fmpq:
    """sqrt(q) itself when q is the square of a rational, else a rational just above it."""
    p, d = int(q.p), int(q.q)
    rp, rd = math.isqrt(p), math.isqrt(d)
    return Q(rp, rd) if rp * rp == p and rd * rd == d else L.sqrt_upper(q)


def _product(values: Sequence[flint.fmpq]) -> flint.fmpq:
    out = Q(1)
    for v in values:
        out *= v
    return out


# --------------------------------------------------------------------------------------------
# rungs
# --------------------------------------------------------------------------------------------

@dataclass
class Rung:
    """One rung's upper certificate (without its layers) and its exact bound."""

    name: str
    certificate: dict[str, Any] | None
    bound: flint.fmpq | None
    seconds: float
    note: str = ""
    estimate: float | None = None
    verified: bool | None = None
    check_seconds: float | None = None

    @property
    def bound_float(self) -> float | None:
        return None if self.bound is None else L._float_up(self.bound)

    def record(self) -> dict[str, Any]:
        return {"rung": self.name, "bound": self.bound_float, "seconds": round(self.seconds, 3),
                "verified": self.verified, "check_seconds": self.check_seconds,
                "note": self.note}


class Ladder:
    """The rungs of one network in one norm; ``deadline`` (time.perf_counter) stops the
    first-order search early (a later rung then may not be reached: the caller decides)."""

    def __init__(self, layers: Sequence[Any], norm: str = "2", *,
                 deadline: float | None = None, solver: str | None = None,
                 evaluations: int = FIRST_ORDER_EVALUATIONS):
        self.layers = list(layers)
        self.norm = norm
        self.deadline = deadline
        self.solver = solver
        self.evaluations = evaluations
        self.stages = LL.stages(self.layers)
        self._norm_cache: dict[int, list[LL.NormCandidate]] = {}
        self.notes: list[str] = []

    def names(self) -> tuple[str, ...]:
        return RUNGS if self.norm == "2" else RUNGS[:1]

    def rung(self, name: str, target: flint.fmpq | None = None) -> Rung:
        """Compute one rung (``target``: the claim's bound, a rational, to fit eta to)."""
        t0 = time.perf_counter()
        if name == "abs-product":
            u, w = LL.abs_product_bounds(self.layers)
            value = {"inf": u, "1": w}.get(self.norm)
            bound = value if value is not None else L.sqrt_upper(u * w)
            how = {"inf": "largest row sum", "1": "largest column sum"}.get(
                self.norm, "sqrt(largest row sum x largest column sum)")
            return Rung(name, {"kind": "lipschitz-abs-product"}, bound,
                        time.perf_counter() - t0, f"{how} of prod beta |A_l| ... |A_1|")
        try:
            stages = [self._stage(s, name, target if len(self.stages) == 1 else None)
                      for s in self.stages]
        except (L.LipschitzError, np.linalg.LinAlgError, ValueError) as exc:
            return Rung(name, None, None, time.perf_counter() - t0, f"no bound: {exc}")
        witnesses, bound, eta = self._fit(stages, target)
        est = math.prod(s.estimate() for s in stages)
        return Rung(name, {"kind": "lipschitz-upper", "stages": witnesses}, bound,
                    time.perf_counter() - t0, f"{len(stages)} stage(s), rho slack {eta:g}",
                    estimate=est)

    @staticmethod
    def _fit(stages: list[Stage], target: flint.fmpq | None
             ) -> tuple[list[dict[str, Any]], flint.fmpq, float]:
        for eta in (ETAS if target is not None else ()):
            parts = [s.realize(eta) for s in stages]
            bound = _product([B for _, B in parts])
            if bound <= target:
                return [w for w, _ in parts], bound, eta
        parts = [s.realize(BRACKET_ETA) for s in stages]
        return [w for w, _ in parts], _product([B for _, B in parts]), BRACKET_ETA

    # -- per stage -------------------------------------------------------------------------
    def _norms(self, layer: Any) -> list[LL.NormCandidate]:
        key = id(layer)
        if key not in self._norm_cache:
            self._norm_cache[key] = LL.layer_norm_candidates(layer, inflate=INFLATE)
        return self._norm_cache[key]

    def _layer_norm(self, layer: Any, exact_only: bool) -> flint.fmpq:
        cands = self._norms(layer)
        small = min(layer.in_features, layer.out_features) <= 48
        usable = [c for c in cands if not exact_only or c.exact or small
                  or c.how == "im2col" and layer.kernel_f64.shape[0] <= 48]
        if not usable:
            raise L.TooLarge(f"no norm bound of a {layer.out_features} x {layer.in_features} "
                             "layer")
        return usable[0].value

    def _product_stage(self, stage: Any, exact_only: bool) -> Stage:
        if isinstance(stage, LL.ResidualStage):
            body = [self._product_stage(s, exact_only) for s in stage.body]
            return Stage("residual", body=body, beta=stage.layer.slope_max)
        norms = [self._layer_norm(layer, exact_only) for layer in stage.layers]
        bound = _product([c * layer.slope_max for c, layer in zip(norms, stage.layers)])
        return Stage("product", bound=bound, norms=norms)

    def _stage(self, stage: Any, rung: str, target: flint.fmpq | None) -> Stage:
        if rung in ("product (exact norms)", "product (spectral norms)"):
            return self._product_stage(stage, rung == "product (exact norms)")
        if isinstance(stage, LL.ResidualStage):
            body = [self._stage(s, rung, None) for s in stage.body]
            out = Stage("residual", body=body, beta=stage.layer.slope_max)
            linear = self._residual_linear(stage)
            return linear if linear is not None and linear.estimate() < out.estimate() else out
        product = self._product_stage(stage, False)
        try:
            return self._lipsdp_stage(stage, rung, target) or product
        except (L.LipschitzError, np.linalg.LinAlgError, ValueError) as exc:
            self.notes.append(f"{rung}: a segment keeps its product bound ({exc})")
            return product

    def _residual_linear(self, stage: LL.ResidualStage) -> Stage | None:
        body = stage.layer.body
        if any(b.activation is not None or isinstance(b, L.ResidualLayer) for b in body):
            return None
        n = stage.layer.in_features
        if n * n > L.DENSE_MAX or n > BLOCK_MAX:
            return None
        M = np.eye(n) + LL.group_matrix(body)
        c = LL._round_up(LL.spectral_norm(M) * (1 + INFLATE) + 1e-300)
        return Stage("residual-linear", bound=stage.layer.slope_max * c, norm=c)

    def _lipsdp_stage(self, seg: LL.Segment, rung: str, target: flint.fmpq | None
                      ) -> Stage | None:
        if any(layer.in_features * layer.out_features > L.DENSE_MAX for layer in seg.layers):
            return None
        if not seg.hidden:                                     # a linear segment: its Gram
            W = LL.group_matrix(seg.groups[0])
            if min(W.shape) > BLOCK_MAX:
                return None
            return Stage("lipsdp", rho=LL.spectral_norm(W) ** 2 * (1 + INFLATE))
        prob = LL.segment_problem(seg)
        if max(prob.dims) > BLOCK_MAX:
            return None
        if rung == "lipsdp" and prob.rows <= SMALL_ROWS:
            return self._interior_point(seg, target)
        rho, T = LL.eclipse_fast(prob)
        T = [t * (1 + INTERIOR) for t in T]             # strictly inside the PD cone
        if rung == "lipsdp":
            deadline = self.deadline
            res = LL.lipsdp_first_order(prob, T, evaluations=self.evaluations,
                                        deadline=deadline)
            if res.rho < rho:
                T = [t * (1 + INTERIOR / 64) for t in res.T]
            self.notes.append(f"first order: {res.evaluations} evaluations, "
                              f"{res.seconds:.1f} s" + (f" (stopped: {res.stopped})"
                                                        if res.stopped else ""))
        Tq = LL.round_multipliers(T)
        rho_q = LL.rho_of(prob, LL.as_floats(Tq))
        if not math.isfinite(rho_q):
            raise ValueError("the rounded multipliers leave M(rho, T) infeasible")
        return Stage("lipsdp", rho=rho_q, multipliers=Tq)

    def _interior_point(self, seg: LL.Segment, target: flint.fmpq | None) -> Stage:
        """LipSDP-Neuron by cvxpy on the merged maps of a small segment, exactly checked."""
        mlp = []
        for group in seg.groups:
            M = None
            for layer in group:
                A = layer.matrix_exact()
                M = A if M is None else A * M
            mlp.append(L.ExactLayer(M, tuple(Q(0) for _ in range(M.nrows())),
                                    group[-1].activation, dict(group[-1].params)))
        if seg.output is None:
            W, B, wf, bf = L._identity_layer(mlp[-1].out_features)
            mlp.append(L.ExactLayer(W, B, None, {}, wf, bf))
        cert = L.lipsdp(mlp, solver=self.solver or preferred_solver())
        if not cert.certified:
            raise ValueError(f"LipSDP: {cert.status}: {cert.message}")
        rho, lams = cert.rho, cert.multipliers
        if target is not None and rho > target * target:
            for candidate in [lams] + [_snapped(lams, d) for d in SNAP_DENOMINATORS]:
                if L.check_lipsdp_certificate(mlp, target * target, candidate):
                    rho, lams = target * target, candidate
                    self.notes.append("rho = at_most^2 passed the exact check with the "
                                      "solver's multipliers" + ("" if candidate is lams
                                                                else " rounded"))
                    break
        return Stage("lipsdp", rho_exact=rho, multipliers=lams)


def _snapped(lams: Sequence[Sequence[flint.fmpq]], denominator: int) -> list[list[flint.fmpq]]:
    out = []
    for lam in lams:
        row = []
        for t in lam:
            fr = max(Fraction(int(t.p), int(t.q)).limit_denominator(denominator), Fraction(0))
            row.append(Q(fr.numerator, fr.denominator))
        out.append(row)
    return out


def all_rungs(layers: Sequence[Any], norm: str = "2", **kw: Any) -> Iterator[Rung]:
    """Every rung of a network without a target (the benchmark's view)."""
    ladder = Ladder(layers, norm, **kw)
    for name in ladder.names():
        yield ladder.rung(name)
