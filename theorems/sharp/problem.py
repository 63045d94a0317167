"""The sharpness problem of Dominguez Corella: f at a point in a norm, and the ratio.

:class:`SharpProblem` validates f, its variables, the point and the norm, and evaluates the
ratio (f(x) - f(p)) / ||x - p|| numerically (NumPy) and rigorously (ball arithmetic).
:func:`search_worst_ratio` looks for the smallest ratio; :func:`directional_limits` computes
exact limits of the ratio along rays, which bound alpha* from above; the helpers here round
numbers and points to simple rationals, keeping what must hold strictly.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np
import sympy as sp

from numerics.lambdify import numpy_function

from theorems.exact import arb_eval, arb_hi, arb_lo, exact_number, rational_point
from verify.errors import InvalidClaim, SafetyTimeout

NORMS = ("2", "1", "inf")


@dataclass
class SharpProblem:
    """f at a point in a norm, validated; with numeric and exact evaluators."""

    f: sp.Expr
    variables: tuple[sp.Symbol, ...]
    point: tuple[sp.Expr, ...]
    norm: str
    f_point: sp.Expr = field(init=False)

    def __post_init__(self) -> None:
        self.point = tuple(exact_number(c, "point coordinate") for c in self.point)
        if self.norm not in NORMS:
            raise InvalidClaim(f"norm must be one of {NORMS}, got {self.norm!r}")
        if not self.variables:
            raise InvalidClaim("f needs at least one variable")
        if not all(isinstance(v, sp.Symbol) for v in self.variables):
            raise InvalidClaim(f"variables must be SymPy symbols, got {self.variables}")
        real = {v: sp.Symbol(v.name, real=True) for v in self.variables if v.is_real is not True}
        if real:  # the claims are about f on R^n: make the symbols real
            self.f = self.f.subs(real)
            self.variables = tuple(real.get(v, v) for v in self.variables)
        extra = self.f.free_symbols - set(self.variables)
        if extra:
            raise InvalidClaim(f"f uses {sorted(map(str, extra))}, which are not among the "
                               f"variables {[v.name for v in self.variables]}")
        if len(self.point) != len(self.variables):
            raise InvalidClaim(f"the point has {len(self.point)} coordinates but f has "
                               f"{len(self.variables)} variables")
        value = self.f.xreplace(dict(zip(self.variables, self.point)))  # one pass: subs
        # rebuilds (and re-evaluates) every Max once per variable
        if value.has(sp.zoo, sp.nan, sp.oo, -sp.oo) or value.is_real is False:
            raise InvalidClaim(f"f(point) = {value} is not a finite real number: the point is "
                               "outside the domain of f")
        try:
            ball = arb_eval(value)
        except ValueError as exc:
            raise InvalidClaim(f"f(point) = {value} could not be evaluated: {exc}") from None
        if not ball.is_finite():
            raise InvalidClaim(f"f(point) = {value} is not finite")
        self.f_point = value
        self._np = numpy_function(self.variables, self.f)
        self._p = np.array([float(v) for v in self.point])
        self._fp = float(sp.N(value, 20))

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> "SharpProblem":
        for key in ("f", "variables", "point"):
            if key not in params:
                raise InvalidClaim(f"the claim needs the field {key!r}")
        f = params["f"]
        if not isinstance(f, sp.Expr):
            raise InvalidClaim(f"f must be a SymPy expression, got {type(f).__name__}")
        return cls(f=f, variables=tuple(params["variables"]),
                   point=tuple(exact_number(v, "point") for v in params["point"]),
                   norm=str(params.get("norm", "2")))

    def claim(self, kind: str | None = None, **fields: Any) -> dict[str, Any]:
        """The JSON form of a claim about this problem (what the kernel reads); without a
        kind, just the function, point and norm."""
        from verify.verdict import to_jsonable

        head = {"kind": kind} if kind else {}
        memo = self.__dict__.get("_f_text")
        if memo is None or memo[0] is not self.f:     # printing a long f is slow: once
            memo = self.__dict__["_f_text"] = (self.f, str(self.f))
        return {**head, "variables": [v.name for v in self.variables],
                "f": memo[1], "point": [str(c) for c in self.point], "norm": self.norm,
                **{k: to_jsonable(v) for k, v in fields.items()}}

    @property
    def p(self) -> np.ndarray:
        """The point as a float array."""
        return self._p

    @property
    def dim(self) -> int:
        return len(self.variables)

    # numeric ---------------------------------------------------------------------------
    def fvalues(self, X: np.ndarray) -> np.ndarray:
        with np.errstate(all="ignore"):
            out = self._np(*[X[..., i] for i in range(self.dim)])
        out = np.asarray(out, dtype=complex if np.iscomplexobj(out) else float)
        if np.iscomplexobj(out):
            out = np.where(np.abs(out.imag) < 1e-300, out.real, np.nan).astype(float)
        return np.broadcast_to(out, X.shape[:-1]).astype(float)

    def norms(self, D: np.ndarray) -> np.ndarray:
        order = {"2": 2, "1": 1, "inf": np.inf}[self.norm]
        return np.linalg.norm(D, ord=order, axis=-1)

    def ratios(self, X: np.ndarray) -> np.ndarray:
        """(f(x) - f(p)) / ||x - p||; +inf outside the domain (f = +inf there)."""
        with np.errstate(all="ignore"):
            r = (self.fvalues(X) - self._fp) / self.norms(X - self.p)
        return np.where(np.isnan(r), np.inf, r)

    # exact -----------------------------------------------------------------------------
    def exact_norm(self, x: Sequence[sp.Expr]) -> sp.Expr:
        diff = [sp.Integer(a) - b if isinstance(a, int) else a - b
                for a, b in zip(x, self.point)]
        if self.norm == "2":
            return sp.sqrt(sum(d**2 for d in diff))
        if self.norm == "1":
            return sum(sp.Abs(d) for d in diff)
        return sp.Max(*[sp.Abs(d) for d in diff])

    def gap_ball(self, x: Sequence[sp.Rational], m: sp.Expr) -> Any:
        """Ball enclosing f(x) - f(p) - m ||x - p|| at a rational x (ValueError off-domain)."""
        subs = dict(zip(self.variables, x))
        expr_norm = self.exact_norm(x)
        return arb_eval(self.f, subs) - arb_eval(self.f_point) - arb_eval(m) * arb_eval(
            expr_norm)

    def ratio_ball(self, x: Sequence[sp.Rational]) -> Any:
        subs = dict(zip(self.variables, x))
        return (arb_eval(self.f, subs) - arb_eval(self.f_point)) / arb_eval(self.exact_norm(x))


@dataclass
class RatioSearch:
    x: np.ndarray | None
    ratio: float
    evaluations: int
    candidates: list[np.ndarray] = field(default_factory=list)  # points with low ratios


def kink_directions(problem: SharpProblem, limit: int = 256) -> np.ndarray:
    """Unit directions along which d - 1 kinks of f through the point meet (rows, both signs).

    A kink is an Abs argument, or a difference of two Max / Min arguments, that vanishes at
    the point; its normal is its gradient there. The smallest ratio of a piecewise function
    often lies on such a line (an edge of the kink arrangement), which random directions miss
    in higher dimension. At most ``limit`` subsets of normals are used (all when there are
    fewer, else a fixed sample)."""
    d = problem.dim
    at = dict(zip(problem.variables, problem.point))
    exprs = []
    for node in sp.preorder_traversal(problem.f):
        if isinstance(node, (sp.Abs, sp.sign)):
            exprs.append(node.args[0])
        elif isinstance(node, (sp.Max, sp.Min)):
            exprs += [a - b for a, b in itertools.combinations(node.args, 2)]
    normals: list[np.ndarray] = []
    for e in exprs:
        try:
            if e.free_symbols - set(problem.variables) or e.subs(at) != 0:
                continue
            g = np.array([float(sp.diff(e, v).subs(at)) for v in problem.variables])
        except (TypeError, ValueError):
            continue
        norm = np.linalg.norm(g)
        if not np.isfinite(norm) or norm == 0:
            continue
        g = g / norm
        if not any(abs(abs(g @ h) - 1) < 1e-12 for h in normals):
            normals.append(g)
    if d < 2 or len(normals) < d - 1:
        return np.zeros((0, d))
    subsets = list(itertools.islice(itertools.combinations(range(len(normals)), d - 1),
                                    limit * 8))
    if len(subsets) > limit:
        pick = np.random.default_rng(0).choice(len(subsets), size=limit, replace=False)
        subsets = [subsets[i] for i in sorted(pick)]
    out = []
    for S in subsets:
        A = np.array([normals[i] for i in S])
        _, sv, Vt = np.linalg.svd(A)
        if sv[-1] > 1e-9:
            out += [Vt[-1], -Vt[-1]]
    return np.array(out).reshape(-1, d)


def search_worst_ratio(problem: SharpProblem, *, seed: int = 0, directions: int = 96,
                       refine: int = 6) -> RatioSearch:
    """Minimize (f(x) - f(p)) / ||x - p|| by multi-scale sampling (random directions, the
    axes, sign vectors, :func:`kink_directions`), Nelder-Mead polishing and a line search
    along each start's ray."""
    from scipy.optimize import minimize, minimize_scalar

    rng = np.random.default_rng(seed)
    d = problem.dim
    dirs = [rng.standard_normal((directions, d))]
    eye = np.eye(d)
    dirs += [eye, -eye, kink_directions(problem)]
    if d <= 4:
        signs = np.array(np.meshgrid(*[[-1.0, 1.0]] * d)).reshape(d, -1).T
        dirs += [signs, signs * np.linspace(0.25, 2.0, d)]
    U = np.concatenate(dirs)
    U /= np.linalg.norm(U, axis=1, keepdims=True)
    radii = np.logspace(-7, 7, 57)
    X = problem.p + radii[None, :, None] * U[:, None, :]
    R = problem.ratios(X.reshape(-1, d))
    evaluations = R.size
    order = np.argsort(R)
    best_x, best_r = None, math.inf
    seen: list[np.ndarray] = []
    for idx in order[: 4 * refine]:
        if not np.isfinite(R[idx]) or len(seen) >= refine:
            break
        x0 = X.reshape(-1, d)[idx]
        if any(np.linalg.norm(x0 - s) < 1e-9 * (1 + np.linalg.norm(s)) for s in seen):
            continue
        seen.append(x0)
        scale = max(np.linalg.norm(x0 - problem.p), 1e-12)

        def objective(z: np.ndarray) -> float:
            x = problem.p + z * scale
            if np.linalg.norm(z) * scale < 1e-9 * (1 + np.linalg.norm(problem.p)):
                return 1e300  # too close to p: the ratio drowns in round-off
            value = problem.ratios(x[None, :])[0]
            return float(value) if np.isfinite(value) else 1e300

        res = minimize(objective, (x0 - problem.p) / scale, method="Nelder-Mead",
                       options={"xatol": 1e-12, "fatol": 1e-14, "maxiter": 400 * d})
        evaluations += int(res.nfev)
        # along the ray of the start (Nelder-Mead leaves a kink line, on which the smallest
        # ratio of a piecewise function often lies, and stalls in the valley around it)
        unit = (x0 - problem.p) / scale
        line = minimize_scalar(lambda lt: objective(unit * math.exp(lt)), bounds=(-2.0, 2.0),
                               method="bounded", options={"xatol": 1e-12})
        evaluations += int(line.nfev)
        candidates = [(R[idx], x0), (res.fun, problem.p + res.x * scale),
                      (line.fun, problem.p + unit * math.exp(line.x) * scale)]
        for r, x in candidates:
            if r < best_r:
                best_r, best_x = float(r), np.array(x, dtype=float)
    if best_x is None and np.isfinite(R[order[0]]):
        best_x, best_r = X.reshape(-1, d)[order[0]], float(R[order[0]])
    candidates = ([best_x] if best_x is not None else []) + seen
    return RatioSearch(best_x, best_r, evaluations, candidates)


def simplest_violation(problem: SharpProblem, x: Sequence[Any], m: sp.Expr
                       ) -> tuple[tuple[sp.Rational, ...], Any] | None:
    """The rational point with the smallest denominators near ``x`` (x itself last) at which
    f(x) < f(p) + m ||x - p|| holds in ball arithmetic."""
    floats = [float(c) for c in x]
    exact = [sp.Rational(c) for c in x]
    for denominator in (1, 10, 100, 10**3, 10**4, 10**6, 10**8, 10**12, 10**16, None):
        try:
            xq = tuple(exact) if denominator is None else rational_point(floats, denominator)
            if all(a == b for a, b in zip(xq, problem.point)):
                continue
            gap = problem.gap_ball(xq, m)
        except (ValueError, ZeroDivisionError):
            continue
        if gap < 0:
            return xq, gap
    return None




# --------------------------------------------------------------------------------------------
# directional limits: exact upper bounds on alpha*
# --------------------------------------------------------------------------------------------

#: wall-clock safety net of one SymPy limit: when it fires the decision is inconclusive
#: (``SafetyTimeout``), it never silently drops a candidate and changes the answer
LIMIT_SAFETY_SECONDS = 60.0
_LIMIT_FRIENDLY = (sp.Abs, sp.Max, sp.Min, sp.sign)


def directional_limits(problem: SharpProblem, direction: np.ndarray
                       ) -> list[tuple[str, sp.Expr, tuple]]:
    """Exact limits of the ratio along the ray p + t u at t -> 0+ and t -> oo.

    u is a guess of an exact direction (``nsimplify`` of the numeric one); each finite limit L
    is an upper bound for alpha* (the ratio takes values arbitrarily close to L). Only for f
    built from polynomials, rational powers and kinks (the class z3 decides; limits of other
    functions are not attempted, so which limits are tried does not depend on time).
    """
    if not _limit_friendly(problem.f):
        return []
    t = sp.Symbol("t", positive=True)
    u = _exact_direction(direction)
    if u is None:
        return []
    x = [p + t * ui for p, ui in zip(problem.point, u)]
    norm_u = problem.exact_norm([p + ui for p, ui in zip(problem.point, u)])
    ratio = (problem.f.subs(dict(zip(problem.variables, x))) - problem.f_point) / (t * norm_u)
    out = []
    for where, to in (("0+", 0), ("oo", sp.oo)):
        expr = ratio
        if to == 0 and expr.has(sp.Abs, sp.Max, sp.Min, sp.sign):
            from verify.kernel.sharp import resolve_near_zero

            try:     # kinks: the pieces f equals along the ray near the point (as the kernel)
                expr = resolve_near_zero(expr, t)
            except (ValueError, sp.PolynomialError):
                pass
        try:
            value = _limit_with_safety_net(expr, t, to)
        except SafetyTimeout:
            raise
        except Exception:  # noqa: BLE001 - SymPy could not take the limit
            continue
        if value is None or value.has(sp.oo, -sp.oo, sp.zoo, sp.nan, sp.AccumBounds, sp.Limit):
            continue
        if value.free_symbols or value.is_real is not True:
            continue
        # defence in depth: the ratio itself must be close to the limit far along the ray
        probe = sp.Rational(1, 10**9) if to == 0 else sp.Integer(10**9)
        try:
            numeric = complex(ratio.subs(t, probe).evalf(40))
        except (TypeError, ValueError):
            continue
        if abs(numeric.imag) > 1e-20 or abs(numeric.real - float(value)) > 1e-3 * (
                1 + abs(float(value))):
            continue
        out.append((where, sp.nsimplify(value) if value.is_Float else value, tuple(u)))
    return out


def _limit_friendly(f: sp.Expr) -> bool:
    """f is built from symbols, numbers, +, *, rational powers and Abs/Max/Min/sign."""
    for node in sp.preorder_traversal(f):
        if node.is_Atom or node.is_Add or node.is_Mul or isinstance(node, _LIMIT_FRIENDLY):
            continue
        if node.is_Pow and node.exp.is_Rational:
            continue
        return False
    return True


def _limit_with_safety_net(expr: sp.Expr, t: sp.Symbol, to: Any) -> sp.Expr:
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        return sp.limit(expr, t, to, "+" if to == 0 else "-")

    def handler(signum: int, frame: Any) -> None:
        raise SafetyTimeout(f"a SymPy limit ran for more than {LIMIT_SAFETY_SECONDS:g} s "
                            "(wall-clock safety net)")

    old = signal.signal(signal.SIGALRM, handler)
    signal.setitimer(signal.ITIMER_REAL, LIMIT_SAFETY_SECONDS)
    try:
        return sp.limit(expr, t, to, "+" if to == 0 else "-")
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def _exact_direction(direction: np.ndarray) -> tuple[sp.Expr, ...] | None:
    u = np.asarray(direction, dtype=float)
    if not np.all(np.isfinite(u)) or np.max(np.abs(u)) == 0:
        return None
    u = u / np.max(np.abs(u))
    out = []
    for c in u:
        q = sp.nsimplify(float(c), tolerance=1e-6, rational=True)
        if abs(q.q) > 1000:
            q = sp.Rational(round(float(c) * 1000), 1000)
        out.append(q)
    return tuple(out)




# --------------------------------------------------------------------------------------------
# rational numbers beside a number
# --------------------------------------------------------------------------------------------

def simple_rational_beside(m: sp.Expr, side: int, rel: float = 1e-6) -> sp.Rational:
    """The simplest rational q with m < q <= m + rel|m| (side=+1) or m - rel|m| <= q < m,
    the strict inequality checked in ball arithmetic (small denominators keep nlsat fast)."""
    from fractions import Fraction

    value = float(m)
    width = rel * max(abs(value), 1e-300)
    for denominator in (10, 100, 10**3, 10**4, 10**5, 10**6, 10**8, 10**10, 10**12):
        q = sp.Rational(Fraction(value + side * width / 2).limit_denominator(denominator))
        gap = arb_eval(q - m)
        if (gap > 0 if side > 0 else gap < 0) and abs(float(q) - value) <= width:
            return q
    ball = arb_eval(m)
    return sp.Rational(arb_hi(ball) if side > 0 else arb_lo(ball))


def simplest_between(low: float, high: sp.Expr) -> sp.Rational:
    """A rational with a small denominator strictly between ``low`` and ``high`` (> low)."""
    from fractions import Fraction

    mid = (low + float(high)) / 2
    for denominator in (1, 2, 4, 10, 100, 10**3, 10**4, 10**6, 10**9, 10**12):
        q = sp.Rational(Fraction(mid).limit_denominator(denominator))
        if low < q and q < high:
            return q
    return sp.Rational(mid)


