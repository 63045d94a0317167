r"""Sharp minimizers, tilt stability and Lipschitz perturbations (Domínguez Corella).

Source: A. Domínguez Corella, *On the geometry of sharp minimizers* (poster 09/2024);
THEORY.md section 1.

:math:`\bar x` is a sharp minimizer of f with modulus :math:`\alpha > 0` when
:math:`f(x) \ge f(\bar x) + \alpha \|x - \bar x\|` for **all** x (a global inequality). The best
constant is :math:`\alpha^* = \inf_{x \ne \bar x} (f(x) - f(\bar x)) / \|x - \bar x\|`.

Deciders, strongest first:

* z3 over the reals (nlsat, a complete decision procedure for polynomial arithmetic) for f built
  from polynomials, rational powers, ``Abs``, ``Max``, ``Min``: ``unsat`` of
  :math:`\exists x: f(x) < f(\bar x) + m\|x - \bar x\|` proves the claim;
* numerical search for the worst ratio (multi-scale sampling + Nelder-Mead), whose witnesses are
  re-evaluated in ball arithmetic before anything is refuted;
* exact directional limits (SymPy) at the point and at infinity, which bound :math:`\alpha^*`
  from above by exact numbers.

A derived fact used by the ``tilt-stable`` and ``lipschitz-stable`` kinds [D]: when the claim is
that the argmin *equals* :math:`\{\bar x\}` for every tilt of dual norm below R, it is
equivalent to sharpness with modulus R, with no assumption. If
:math:`f(x_0) - f(\bar x) < R\|x_0 - \bar x\|`, a tilt :math:`\xi` with
:math:`\|\xi\|_* < R` and :math:`\langle \xi, x_0 - \bar x\rangle = s\|x_0 - \bar x\|` for
some s between the ratio and R makes :math:`x_0` strictly better than :math:`\bar x`. Assumption 1
matters only for the poster's weaker form (``form = "implication"``: x in S(xi) implies
x = x-bar), which holds vacuously when S(xi) is empty (the |x|^(1/2) counterexample).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np
import sympy as sp

from theorems import _exact
import z3

from theorems._exact import (Z3_QUERY_RLIMIT, Z3Budget, Z3Encoder, arb_eval, arb_hi, arb_lo,
                             encode_bool, pieces, rational_point, z3_find)
from verify.errors import InvalidClaim, SafetyTimeout, SolverFailure, UnsupportedFunction
from verify.formula import as_expression, parse_number
from verify.registry import check, decider
from verify.verdict import Assumption, Claim, Status, Verdict, combine, expected_status

NORMS = ("2", "1", "inf")
PAPER = "Dominguez Corella"
#: numerical search supports a claim (status evidence) only with this relative margin
EVIDENCE_MARGIN = 1e-2
#: z3 resource units one claim may use (deterministic: the same answer on a busy machine)
DEFAULT_BUDGET = 20_000_000


def _share(budget: Z3Budget, units: int) -> Z3Budget:
    """A sub-budget of at most ``units`` that charges what it uses to ``budget``."""
    return _ChargedBudget(budget, min(units, budget.left))


class _ChargedBudget(Z3Budget):
    def __init__(self, parent: Z3Budget, total: int):
        super().__init__(total, parent.per_query)
        self._parent = parent

    @property
    def used(self) -> int:
        return self._used

    @used.setter
    def used(self, value: int) -> None:
        delta = value - getattr(self, "_used", 0)
        self._used = value
        if delta:
            self._parent.used += delta


# --------------------------------------------------------------------------------------------
# claims (the Python API)
# --------------------------------------------------------------------------------------------

def _function_params(f: Any, at: Sequence[Any], norm: Any, variables: Any) -> dict[str, Any]:
    f = as_expression(f, variables)
    if variables is None:
        variables = tuple(sorted(f.free_symbols, key=lambda s: s.name))
    variables = tuple(variables)
    point = tuple(parse_number(v, what="point coordinate") for v in at)
    return {"variables": variables, "f": f, "point": point, "norm": str(norm)}


def sharp_minimizer(f: Any, at: Sequence[Any], modulus: Any, *, norm: Any = "2",
                    variables: Sequence[sp.Symbol] | None = None, id: str = "") -> Claim:
    """Claim: f(x) >= f(at) + modulus * ||x - at|| for all x."""
    params = _function_params(f, at, norm, variables)
    params["modulus"] = parse_number(modulus, what="modulus")
    return Claim("sharp-minimizer", params, id=id)


def sharpness_modulus(f: Any, at: Sequence[Any], value: Any, *, norm: Any = "2",
                      variables: Sequence[sp.Symbol] | None = None, id: str = "") -> Claim:
    """Claim: the best constant alpha* of (1) at ``at`` equals ``value``."""
    params = _function_params(f, at, norm, variables)
    params["value"] = parse_number(value, what="value")
    return Claim("sharpness-modulus", params, id=id)


def tilt_stable(f: Any, at: Sequence[Any], radius: Any, *, norm: Any = "2",
                form: str = "argmin", variables: Sequence[sp.Symbol] | None = None,
                id: str = "") -> Claim:
    """Claim: argmin_y f(y) - <xi, y> = {at} for every xi with dual norm < radius.

    ``form="implication"`` is the poster's wording: x in argmin implies x = at (true when the
    argmin is empty)."""
    params = _function_params(f, at, norm, variables)
    params["radius"] = parse_number(radius, what="radius")
    params["form"] = form
    return Claim("tilt-stable", params, id=id)


def lipschitz_stable(f: Any, at: Sequence[Any], radius: Any, *, norm: Any = "2",
                     variables: Sequence[sp.Symbol] | None = None, id: str = "") -> Claim:
    """Claim: argmin (f + zeta) = {at} for every Lipschitz zeta with Lip(zeta) < radius."""
    params = _function_params(f, at, norm, variables)
    params["radius"] = parse_number(radius, what="radius")
    return Claim("lipschitz-stable", params, id=id)


# --------------------------------------------------------------------------------------------
# the problem: f, point, norm, validated
# --------------------------------------------------------------------------------------------

@dataclass
class SharpProblem:
    """f at a point in a norm, validated; with numeric and exact evaluators."""

    f: sp.Expr
    variables: tuple[sp.Symbol, ...]
    point: tuple[sp.Expr, ...]
    norm: str
    f_point: sp.Expr = field(init=False)

    def __post_init__(self) -> None:
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
        value = self.f.subs(dict(zip(self.variables, self.point)))
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
        self._np = sp.lambdify(self.variables, self.f, modules="numpy")
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
                   point=tuple(parse_number(v, what="point") for v in params["point"]),
                   norm=str(params.get("norm", "2")))

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
            r = (self.fvalues(X) - self._fp) / self.norms(X - self._p)
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


# --------------------------------------------------------------------------------------------
# numeric search for the worst ratio
# --------------------------------------------------------------------------------------------

@dataclass
class RatioSearch:
    x: np.ndarray | None
    ratio: float
    evaluations: int
    candidates: list[np.ndarray] = field(default_factory=list)  # points with low ratios


def search_worst_ratio(problem: SharpProblem, *, seed: int = 0, directions: int = 96,
                       refine: int = 6) -> RatioSearch:
    """Minimize (f(x) - f(p)) / ||x - p|| by multi-scale sampling and Nelder-Mead polishing."""
    from scipy.optimize import minimize

    rng = np.random.default_rng(seed)
    d = problem.dim
    dirs = [rng.standard_normal((directions, d))]
    eye = np.eye(d)
    dirs += [eye, -eye]
    if d <= 4:
        signs = np.array(np.meshgrid(*[[-1.0, 1.0]] * d)).reshape(d, -1).T
        dirs += [signs, signs * np.linspace(0.25, 2.0, d)]
    U = np.concatenate(dirs)
    U /= np.linalg.norm(U, axis=1, keepdims=True)
    radii = np.logspace(-7, 7, 57)
    X = problem._p + radii[None, :, None] * U[:, None, :]
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
        scale = max(np.linalg.norm(x0 - problem._p), 1e-12)

        def objective(z: np.ndarray) -> float:
            x = problem._p + z * scale
            if np.linalg.norm(z) * scale < 1e-9 * (1 + np.linalg.norm(problem._p)):
                return 1e300  # too close to p: the ratio drowns in round-off
            value = problem.ratios(x[None, :])[0]
            return float(value) if np.isfinite(value) else 1e300

        res = minimize(objective, (x0 - problem._p) / scale, method="Nelder-Mead",
                       options={"xatol": 1e-12, "fatol": 1e-14, "maxiter": 400 * d})
        evaluations += int(res.nfev)
        candidates = [(R[idx], x0), (res.fun, problem._p + res.x * scale)]
        for r, x in candidates:
            if r < best_r:
                best_r, best_x = float(r), np.array(x, dtype=float)
    if best_x is None and np.isfinite(R[order[0]]):
        best_x, best_r = X.reshape(-1, d)[order[0]], float(R[order[0]])
    candidates = ([best_x] if best_x is not None else []) + seen
    return RatioSearch(best_x, best_r, evaluations, candidates)


# --------------------------------------------------------------------------------------------
# z3
# --------------------------------------------------------------------------------------------

@dataclass
class Z3Outcome:
    answer: str                    # "holds" | "violated" | "unknown" | "unsupported"
    detail: str = ""
    point: tuple[sp.Rational, ...] | None = None
    gap: Any = None
    seconds: float = 0.0


def z3_sharp(problem: SharpProblem, m: sp.Expr, *, budget: Z3Budget | None = None
             ) -> Z3Outcome:
    """Decide f(x) >= f(p) + m ||x - p|| for all x, bracketing an irrational m by rationals.

    nlsat is much faster on rational constants. If the inequality holds for a rational
    m_hi >= m it holds for m; if it fails for a rational m_lo <= m (a violation that is then
    re-checked with m itself) it fails for m. Only when neither settles it is m used exactly.
    """
    m = parse_number(m, what="modulus")
    budget = budget if budget is not None else Z3Budget(DEFAULT_BUDGET)
    if m.is_Rational:
        return _z3_sharp_exact(problem, m, budget=budget)
    t0 = time.perf_counter()
    m_hi = _simple_rational_beside(m, +1)
    m_lo = _simple_rational_beside(m, -1)
    third = max(1, budget.left // 3)
    first = _z3_sharp_exact(problem, m_hi, budget=_share(budget, third))
    if first.answer == "holds":
        first.detail += f" (with the rational {m_hi} >= {m})"
        return first
    second = _z3_sharp_exact(problem, m_lo, budget=_share(budget, third), recheck_with=m)
    if second.answer == "violated":
        second.detail += f" (found with the rational {m_lo} <= {m}, re-checked with {m})"
        return second
    if budget.left <= 0:
        return Z3Outcome("unknown", "resource budget exhausted after rational brackets",
                         seconds=time.perf_counter() - t0)
    return _z3_sharp_exact(problem, m, budget=budget)


def _simple_rational_beside(m: sp.Expr, side: int, rel: float = 1e-6) -> sp.Rational:
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


def _z3_sharp_exact(problem: SharpProblem, m: sp.Expr, *, budget: Z3Budget,
                    recheck_with: sp.Expr | None = None) -> Z3Outcome:
    """Decide f(x) >= f(p) + m ||x - p|| for all x in the domain of f, with z3.

    The violation set is split into pieces (case analysis on Abs/Max/Min, see
    :func:`theorems._exact.pieces`) and each piece, a semialgebraic system, is decided by z3's
    nlsat; this is much faster than handing z3 the ``If`` terms. In the 2-norm the violation
    g < m ||x - p|| (g = f(x) - f(p)) is written g < 0 or g^2 < m^2 ||x - p||^2 with g >= 0,
    which needs no square root. Falls back to the ``If`` encoding when the split is too large.
    """
    t0 = time.perf_counter()
    variables = problem.variables
    f = problem.f
    shift = all(c.is_Rational for c in problem.point) and any(c != 0 for c in problem.point)
    if shift:  # coordinates centred at the point: sparser polynomials for nlsat
        variables = tuple(sp.Symbol(f"_u{i}", real=True) for i in range(problem.dim))
        f = sp.expand(f.subs({v: c + u for v, c, u in zip(problem.variables, problem.point,
                                                          variables)}, simultaneous=True))
        diff = list(variables)
    else:
        diff = [v - p for v, p in zip(variables, problem.point)]
    sq = sum(d**2 for d in diff)
    if problem.norm == "2":
        lhs = f - problem.f_point
    else:
        norm = sum(sp.Abs(d) for d in diff) if problem.norm == "1" else sp.Max(
            *[sp.Abs(d) for d in diff])
        lhs = f - problem.f_point - m * norm
    try:
        try:
            cases = pieces(lhs)
        except UnsupportedFunction:
            cases = [(lhs, sp.true)]
        unknown = ""
        queries = []
        for piece, cond in cases:
            if problem.norm == "2":  # g < 0, or 0 <= g with g^2 < m^2 ||x - p||^2
                queries += [(piece, cond, "negative"), (piece, cond, "squared")]
            else:
                queries.append((piece, cond, "negative"))
        for piece, cond, how in queries:
            enc = Z3Encoder(variables)
            g = enc.encode(piece)
            if how == "squared":
                mm, s2 = enc.encode(m), enc.encode(sq)
                goal = z3.And(g >= 0, g * g < mm * mm * s2)
            else:
                goal = g < 0
            guard = encode_bool(enc, cond)
            if budget.left <= 0:
                unknown = "resource budget exhausted"
                break
            answer, payload = z3_find(enc, [guard, goal], budget=budget)
            if answer == "unknown":
                unknown = str(payload)
                continue
            if answer == "sat":
                return _recheck_model(problem, m if recheck_with is None else recheck_with,
                                      enc, payload, t0, variables)
    except UnsupportedFunction as exc:
        return Z3Outcome("unsupported", str(exc), seconds=time.perf_counter() - t0)
    seconds = time.perf_counter() - t0
    if unknown:
        return Z3Outcome("unknown", f"z3 returned unknown ({unknown})", seconds=seconds)
    return Z3Outcome("holds", f"z3 (nlsat): no x violates the inequality "
                              f"({len(cases)} cases)", seconds=seconds)


def _recheck_model(problem: SharpProblem, m: sp.Expr, enc: Z3Encoder, model: Any,
                   t0: float, variables: Sequence[sp.Symbol]) -> Z3Outcome:
    seconds = time.perf_counter() - t0
    shifted = tuple(variables) != tuple(problem.variables)
    for digits in (40, 80, 160):
        x = [_exact.z3_value(model, enc.vars[v], digits) for v in variables]
        if shifted:
            x = [c + u for c, u in zip(problem.point, x)]
        simple = simplest_violation(problem, x, m)
        if simple is not None:
            return Z3Outcome("violated", "z3 model re-checked in ball arithmetic",
                             point=simple[0], gap=simple[1], seconds=seconds)
    return Z3Outcome("unknown", "z3 found a model that could not be re-checked",
                     seconds=seconds)


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
        try:
            value = _limit_with_safety_net(ratio, t, to)
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
# the best constant alpha*
# --------------------------------------------------------------------------------------------

@dataclass
class ModulusResult:
    """alpha* in [lower, upper]; ``exact`` when both sides meet at an exact number."""

    lower: float
    upper: float
    exact: sp.Expr | None
    lower_how: str
    upper_how: str
    witness: dict[str, Any]
    evaluations: int
    z3_calls: int = 0

    @property
    def width(self) -> float:
        return self.upper - self.lower


def best_constant(problem: SharpProblem, *, seed: int = 0, budget: int | None = None,
                  rel_tol: float = 1e-7) -> ModulusResult:
    """alpha* = inf (f(x) - f(p)) / ||x - p|| with sound two-sided bounds.

    Upper bound: an exact directional limit, or a witness point whose ratio is enclosed in
    ball arithmetic. Lower bound: z3 proofs of "sharp with modulus m" (exact candidate first,
    then bisection). ``exact`` is set when an exact witness and a z3 proof meet. ``budget``:
    z3 resource units for all the proofs together (deterministic; default
    :data:`DEFAULT_BUDGET`).
    """
    z3_budget = Z3Budget(DEFAULT_BUDGET if budget is None else budget)
    search = search_worst_ratio(problem, seed=seed)
    upper, upper_how, witness = math.inf, "none", {}
    exact_uppers: list[sp.Expr] = []
    tried_directions: list[tuple] = []
    for x in search.candidates[:4]:
        if np.linalg.norm(x - problem._p) < 1e-9 * (1 + np.linalg.norm(problem._p)):
            continue
        for denominator in (10**6, 10**10, 10**14):
            try:
                xq = rational_point(x, denominator)
                if xq == problem.point:
                    continue
                ball = problem.ratio_ball(xq)
            except (ValueError, ZeroDivisionError):
                continue
            if not (ball.is_finite() and math.isfinite(arb_hi(ball))):
                continue
            if arb_hi(ball) < upper:
                upper = arb_hi(ball)
                upper_how = "ratio at a witness point, enclosed in ball arithmetic"
                witness = {"point": [str(c) for c in xq], "ratio_upper": upper}
                ratio_exact = sp.nsimplify(
                    (problem.f.subs(dict(zip(problem.variables, xq))) - problem.f_point)
                    / problem.exact_norm(xq))
                if ratio_exact.is_number and not ratio_exact.has(sp.Float):
                    exact_uppers.append(ratio_exact)
            break
        limits = directional_limits(problem, x - problem._p)
        for where, value, u in limits:
            if (where, u) in tried_directions:
                continue
            tried_directions.append((where, u))
            exact_uppers.append(value)
            value_hi = arb_hi(arb_eval(value))
            if value_hi <= upper:
                upper = value_hi
                upper_how = (f"exact limit of the ratio along the ray direction {list(u)} at "
                             f"t->{where}")
                witness = {"direction": [str(c) for c in u], "limit_at": where,
                           "limit": str(value)}
    lower, lower_how, exact, z3_calls = -math.inf, "none", None, 0
    if math.isfinite(upper):
        candidates = sorted(set(exact_uppers), key=lambda e: float(e))
        guess = sp.nsimplify(search.ratio, [sp.sqrt(2), sp.sqrt(3), sp.sqrt(5)], tolerance=1e-8)
        if guess.is_number and guess.is_real and abs(float(guess) - search.ratio) < 1e-6:
            candidates.append(guess)
        for cand in candidates:
            if float(cand) > upper + 1e-12 or z3_budget.left <= 0:
                continue
            outcome = z3_sharp(problem, cand, budget=z3_budget)
            z3_calls += 1
            if outcome.answer == "unsupported":
                break
            if outcome.answer == "holds":
                lower, lower_how = arb_lo(arb_eval(cand)), f"z3 proof that modulus {cand} holds"
                if cand in exact_uppers or any(sp.simplify(cand - e) == 0 for e in exact_uppers):
                    exact = cand
                    lower = arb_lo(arb_eval(cand))
                    upper = min(upper, arb_hi(arb_eval(cand)))
                break
        if exact is None:
            # bisection with z3 on simple rationals: "holds" raises the lower bound, a re-checked
            # violation lowers the upper bound (the violating point has a smaller ratio)
            lo_val = None
            for _ in range(48):
                if z3_budget.left <= 0:
                    break
                if lo_val is None:
                    m = sp.Integer(0)
                else:
                    width = upper - lo_val
                    if width <= rel_tol * max(1.0, abs(upper)):
                        break
                    m = simplest_between(lo_val + 0.25 * width, sp.Rational(lo_val + 0.75 * width))
                outcome = z3_sharp(problem, m, budget=z3_budget)
                z3_calls += 1
                if outcome.answer in ("unsupported", "unknown"):
                    break
                if outcome.answer == "holds":
                    lo_val = float(m)
                    lower, lower_how = arb_lo(arb_eval(m)), f"z3 proof that modulus {m} holds"
                else:
                    upper = min(upper, arb_hi(arb_eval(m)))
                    upper_how = "z3 model re-checked in ball arithmetic"
                    witness = {"point": [str(c) for c in outcome.point], "ratio_below": str(m)}
                    if lo_val is None:
                        break  # the point is not even a global minimizer: alpha* < 0
    return ModulusResult(lower=lower, upper=upper, exact=exact, lower_how=lower_how,
                         upper_how=upper_how, witness=witness, evaluations=search.evaluations,
                         z3_calls=z3_calls)


def sharpness_modulus_of(f: Any, at: Sequence[Any], *, norm: str = "2",
                         variables: Sequence[sp.Symbol] | None = None, seed: int = 0,
                         budget: int | None = None) -> ModulusResult:
    """alpha*(f, at) with sound bounds: the public function behind ``sharpness-modulus``."""
    return best_constant(SharpProblem.from_params(_function_params(f, at, norm, variables)),
                         seed=seed, budget=budget)


# --------------------------------------------------------------------------------------------
# deciding sharp-minimizer claims
# --------------------------------------------------------------------------------------------

def _counterexample(problem: SharpProblem, x: Sequence[sp.Rational], gap: Any, m: sp.Expr,
                    how: str) -> dict[str, Any]:
    return {"x": [str(c) for c in x], "x_float": [float(c) for c in x],
            "f(x) - f(point) - modulus*||x - point||": {"upper": arb_hi(gap), "lower":
                                                         arb_lo(gap)},
            "modulus": str(m), "rechecked_by": "python-flint ball arithmetic", "found_by": how}


def decide_sharp(problem: SharpProblem, m: sp.Expr, *, seed: int = 0,
                 budget: int | None = None, claim_id: str = "sharp",
                 kind: str = "sharp-minimizer") -> Verdict:
    """Decide f(x) >= f(p) + m ||x - p|| for all x: proved, refuted, evidence or inconclusive."""
    t0 = time.perf_counter()
    search = search_worst_ratio(problem, seed=seed)
    numeric_hit = None
    if search.x is not None and search.ratio < float(m):
        numeric_hit = simplest_violation(problem, search.x, m)
    z3_budget = Z3Budget(DEFAULT_BUDGET if budget is None else budget)
    outcome = z3_sharp(problem, m, budget=z3_budget)
    ev: dict[str, Any] = {"worst_ratio_found": search.ratio, "evaluations": search.evaluations,
                          "z3": {"answer": outcome.answer, "detail": outcome.detail,
                                 "seconds": outcome.seconds, "rlimit_used": z3_budget.used,
                                 "rlimit_budget": z3_budget.total}, "norm": problem.norm}
    common = dict(id=claim_id, kind=kind, evidence=ev, elapsed=None)
    if outcome.answer == "holds" and numeric_hit is not None:
        return Verdict(status=Status.ERROR, method="z3 + ball arithmetic",
                       message="deciders disagree: z3 proved the inequality but a point "
                               "violates it in ball arithmetic (please report this)",
                       **common)
    if outcome.answer == "holds":
        cross = ("worst ratio found numerically "
                 f"{search.ratio:.6g} >= {float(m):.6g}" if search.ratio >= float(m) - 1e-9
                 else "numeric search agrees up to round-off")
        convex = tilted_cross_check(problem, m, seed=seed, tilts=6, sides=("below",),
                                    convex_only=True)
        if convex is not None:
            ev["convex_cross_check"] = convex
            if convex["below_moved"]:
                return Verdict(status=Status.ERROR, method="z3 + cvxpy",
                               message="deciders disagree: z3 proved the inequality but a conic "
                                       "tilted problem below the modulus has a better point, "
                                       "re-checked in ball arithmetic (please report this)",
                               **common)
            cross += f"; {convex['summary']}"
        return Verdict(status=Status.PROVED, method="z3 nlsat (exact real arithmetic)",
                       message=f"f(x) >= f(point) + {m}*||x - point||_{problem.norm} for all x; "
                               f"{cross}", bounds=(float(m), search.ratio), **common)
    hit = numeric_hit
    how = "multi-scale search of the ratio"
    if outcome.answer == "violated":
        hit, how = (outcome.point, outcome.gap), "z3 model"
    if hit is not None:
        x, gap = hit
        return Verdict(status=Status.REFUTED, method=f"{how}, re-checked in ball arithmetic",
                       message=f"f(x) < f(point) + {m}*||x - point|| at x = "
                               f"{[str(c) for c in x]}",
                       counterexample=_counterexample(problem, x, gap, m, how), **common)
    if search.ratio < float(m) * (1 + EVIDENCE_MARGIN) + 1e-12:
        if search.ratio >= float(m):
            return Verdict(status=Status.INCONCLUSIVE, method="multi-scale search",
                           message=f"no violation found, but the worst ratio found "
                                   f"({search.ratio:.8g}) is within {EVIDENCE_MARGIN:.0%} of the "
                                   f"modulus: sampling cannot support the claim; "
                                   f"z3: {outcome.detail or outcome.answer}", **common)
        return Verdict(status=Status.INCONCLUSIVE, method="multi-scale search",
                       message=f"the ratio {search.ratio:.6g} < {float(m):.6g} was found "
                               "numerically but could not be re-checked; "
                               f"z3: {outcome.detail or outcome.answer}", **common)
    return Verdict(status=Status.EVIDENCE, method="multi-scale search of the ratio",
                   message=f"no violation in {search.evaluations} evaluations (worst ratio "
                           f"{search.ratio:.6g}); no exact decider: {outcome.detail}",
                   sample_size=search.evaluations, **common)


def decide_modulus(problem: SharpProblem, value: sp.Expr, *, seed: int = 0,
                   budget: int | None = None, claim_id: str = "modulus") -> Verdict:
    """Decide alpha* = value."""
    result = best_constant(problem, seed=seed, budget=budget)
    v = float(value)
    ev = {"lower": result.lower, "upper": result.upper, "lower_how": result.lower_how,
          "upper_how": result.upper_how, "witness": result.witness,
          "exact": str(result.exact) if result.exact is not None else None,
          "evaluations": result.evaluations, "z3_calls": result.z3_calls}
    common = dict(id=claim_id, kind="sharpness-modulus", evidence=ev,
                  bounds=(result.lower, result.upper))
    if result.exact is not None:
        equal = sp.simplify(result.exact - value) == 0
        if equal:
            return Verdict(status=Status.PROVED, method="z3 proof + exact witness",
                           message=f"alpha* = {result.exact} ({result.lower_how}; "
                                   f"{result.upper_how})", **common)
        return Verdict(status=Status.REFUTED, method="z3 proof + exact witness",
                       message=f"alpha* = {result.exact} != {value}",
                       counterexample={"alpha*": str(result.exact), "claimed": str(value),
                                       **result.witness}, **common)
    if math.isnan(result.lower) or math.isnan(result.upper):
        return Verdict(status=Status.INCONCLUSIVE, method="bounds", message="a bound is NaN",
                       **{**common, "bounds": None})
    # sound bounds: value above the upper bound, or below a proved lower bound
    if v > result.upper:
        gap_bound = sp.Rational(result.upper) if math.isfinite(result.upper) else None
        return Verdict(status=Status.REFUTED, method=result.upper_how,
                       message=f"alpha* <= {result.upper:.10g} < {value}",
                       counterexample={"claimed": str(value), "upper": gap_bound and
                                       str(gap_bound), **result.witness}, **common)
    if v < result.lower:
        return Verdict(status=Status.REFUTED, method=result.lower_how,
                       message=f"alpha* >= {result.lower:.10g} > {value}",
                       counterexample={"claimed": str(value), "proved_modulus": result.lower,
                                       "proof": result.lower_how}, **common)
    if math.isfinite(result.lower):
        return Verdict(status=Status.EVIDENCE, method="z3 lower bound + witness upper bound",
                       message=f"{value} lies in the sound interval [{result.lower:.10g}, "
                               f"{result.upper:.10g}] but equality was not proved",
                       sample_size=result.evaluations, **common)
    return Verdict(status=Status.INCONCLUSIVE, method=result.upper_how,
                   message=f"no lower bound could be proved (z3 cannot encode f, or timed out);"
                           f" alpha* <= {result.upper:.10g}", **common)


# --------------------------------------------------------------------------------------------
# tilt and Lipschitz stability
# --------------------------------------------------------------------------------------------

def tilt_for(problem: SharpProblem, x: Sequence[sp.Rational], radius: sp.Expr
             ) -> tuple[tuple[sp.Expr, ...], sp.Expr]:
    """An exact tilt xi (dual norm s < radius) for which x beats the point (see module doc).

    ``xi`` is s times a unit dual vector aligned with d = x - p, with
    s = (max(ratio(x), 0) + radius) / 2.
    """
    d = [sp.Integer(a) - b if isinstance(a, int) else a - b for a, b in zip(x, problem.point)]
    ratio = (problem.f.subs(dict(zip(problem.variables, x))) - problem.f_point) / \
        problem.exact_norm(x)
    s = simplest_between(max(arb_hi(arb_eval(ratio)), 0.0), radius)
    if problem.norm == "2":
        length = sp.sqrt(sum(c**2 for c in d))
        direction = [c / length for c in d]
    elif problem.norm == "1":          # dual norm inf: xi = s * sign(d)
        direction = [sp.sign(c) for c in d]
    else:                              # dual norm 1: xi = s * e_k * sign(d_k), |d_k| maximal
        k = max(range(len(d)), key=lambda i: abs(float(d[i])))
        direction = [sp.sign(d[k]) if i == k else sp.Integer(0) for i in range(len(d))]
    return tuple(s * c for c in direction), s


def simplest_between(low: float, high: sp.Expr) -> sp.Rational:
    """A rational with a small denominator strictly between ``low`` and ``high`` (> low)."""
    from fractions import Fraction

    mid = (low + float(high)) / 2
    for denominator in (1, 2, 4, 10, 100, 10**3, 10**4, 10**6, 10**9, 10**12):
        q = sp.Rational(Fraction(mid).limit_denominator(denominator))
        if low < q and q < high:
            return q
    return sp.Rational(mid)


def assumption1(problem: SharpProblem, *, rlimit: int = Z3_QUERY_RLIMIT) -> Assumption:
    """Assumption 1 through a sufficient condition: f continuous with closed domain and
    supercoercive, proved by z3 as f(x) >= eps ||x - p||^2 - K for all x."""
    if problem.f.has(sp.log) or any(a.is_Pow and a.exp.is_negative
                                    for a in sp.preorder_traversal(problem.f)):
        return Assumption("Assumption 1", None, "f has log or division: lower semicontinuity on "
                          "a closed domain is not checked")
    eps = sp.Rational(1, 1000)
    K = sp.Integer(1)
    try:
        X = problem._p + np.logspace(-3, 3, 25)[:, None, None] * np.random.default_rng(0)\
            .standard_normal((1, 64, problem.dim))
        vals = problem.fvalues(X.reshape(-1, problem.dim)) - float(eps) * np.sum(
            (X.reshape(-1, problem.dim) - problem._p) ** 2, axis=-1)
        finite = vals[np.isfinite(vals)]
        if finite.size:
            K = sp.Integer(int(max(0.0, -float(np.min(finite)))) * 2 + 1)
        enc = Z3Encoder(problem.variables)
        sq = sum((v - p) ** 2 for v, p in zip(problem.variables, problem.point))
        goal = enc.encode(problem.f) < enc.encode(eps * sq - K)
        answer, _ = z3_find(enc, [goal], rlimit=rlimit)
    except UnsupportedFunction as exc:
        return Assumption("Assumption 1", None, f"supercoercivity not checked: {exc}")
    if answer == "unsat":
        return Assumption("Assumption 1", True, f"f continuous on a closed domain and "
                          f"supercoercive: z3 proved f(x) >= {eps}*||x - p||^2 - {K}; then every "
                          "tilted problem has a minimizer (Theta = X*)")
    return Assumption("Assumption 1", None, f"supercoercivity not proved (z3: {answer})")


def decide_stability(problem: SharpProblem, radius: sp.Expr, *, kind: str, form: str,
                     seed: int = 0, budget: int | None = None, claim_id: str = "tilt"
                     ) -> Verdict:
    """tilt-stable / lipschitz-stable: reduce to sharpness with modulus ``radius`` (exact
    equivalence, see the module docstring) and cross-check with tilted problems."""
    if form not in ("argmin", "implication"):
        raise InvalidClaim(f"form must be 'argmin' or 'implication', got {form!r}")
    sharp_verdict = decide_sharp(problem, radius, seed=seed, budget=budget,
                                 claim_id=claim_id, kind=kind)
    source = "Proposition 1" if kind == "tilt-stable" else "Theorem 2 (easy direction)"
    ev = {"reduction": f"sharp with modulus {radius} <=> claim ({'Theorem 2' if kind == 'lipschitz-stable' else 'derived'})",
          "sharpness": sharp_verdict.to_dict()}
    common = dict(id=claim_id, kind=kind, evidence=ev)
    cross = tilted_cross_check(problem, radius, seed=seed)
    ev["tilted_problems"] = cross
    if sharp_verdict.status is Status.PROVED:
        if cross["below_moved"]:
            return Verdict(status=Status.ERROR, method="z3 + tilted problems",
                           message="deciders disagree: z3 proved sharpness but a tilted problem "
                                   "below the radius has a better point, re-checked in ball "
                                   "arithmetic (please report this)", **common)
        return Verdict(status=Status.PROVED, method=f"z3 sharpness proof + {source}",
                       message=f"sharp with modulus {radius}, hence the claim ({source}); "
                               f"{cross['summary']}", **common)
    if sharp_verdict.status is Status.REFUTED:
        x = [sp.Rational(c) for c in sharp_verdict.counterexample["x"]]
        xi, s = tilt_for(problem, x, radius)
        lin = sum(c * (a - b) for c, a, b in zip(xi, x, problem.point))
        gap = arb_eval(problem.f.subs(dict(zip(problem.variables, x))) - problem.f_point - lin)
        if not gap < 0:
            return Verdict(status=Status.INCONCLUSIVE, method="ball arithmetic",
                           message="a violating x was found but the tilt could not be "
                                   "re-checked", **common)
        what = ("zeta(y) = -<xi, y>" if kind == "lipschitz-stable" else "xi")
        counter = {"xi": [str(c) for c in xi], "dual_norm_of_xi": str(s), "x": [str(c) for c in x],
                   "tilted_gap_upper": arb_hi(gap), "perturbation": what,
                   "meaning": "f(x) - <xi, x> < f(point) - <xi, point>: the point is not a "
                              "minimizer of the tilted function"}
        if form == "argmin":
            return Verdict(status=Status.REFUTED, method="explicit tilt, re-checked in ball "
                           "arithmetic", message=f"for xi = {counter['xi']} (dual norm {s} < "
                           f"{radius}) the point is not in the argmin", counterexample=counter,
                           **common)
        a1 = assumption1(problem)
        if a1.holds:
            return Verdict(status=Status.REFUTED, method="explicit tilt + Assumption 1",
                           message=f"for xi = {counter['xi']} the tilted problem has a minimizer"
                                   " (Assumption 1 verified) and it is not the point",
                           counterexample=counter, assumptions=[a1], **common)
        return Verdict(status=Status.INCONCLUSIVE, method="explicit tilt",
                       message="the point is not sharp with this modulus, but Assumption 1 could"
                               " not be verified: in the implication form the condition may hold"
                               " vacuously (empty argmin, as for |x|^(1/2))",
                       assumptions=[a1], **common)
    return Verdict(status=sharp_verdict.status, method=sharp_verdict.method,
                   message=f"sharpness with modulus {radius}: {sharp_verdict.message}",
                   sample_size=sharp_verdict.sample_size, **common)


def tilted_cross_check(problem: SharpProblem, radius: sp.Expr, *, seed: int = 0,
                       tilts: int = 8, margin: float = 0.05,
                       sides: tuple[str, ...] = ("below", "above"),
                       convex_only: bool = False) -> dict[str, Any] | None:
    """Solve argmin f - <xi, .> for tilts of dual norm (1 -/+ margin) * radius.

    Below the radius the minimizer must stay at the point; above it, it may move. Convex f
    (certified by cvxpy's DCP rules) are solved as conic programs with Clarabel; the rest by
    multi-start Nelder-Mead. This is a numerical cross-check of the exact decision, not a
    decider: its outcome is recorded in the evidence.

    A tilted problem counts as *moved* only when the point y it returned is re-checked in ball
    arithmetic: f(y) - <xi, y> < f(p) - <xi, p> with xi rounded to a rational tilt whose dual
    norm is still below the radius (so y violates sharpness with modulus ``radius``). A solver
    that fails, or a move that does not survive the re-check, is recorded (``solver_failures``,
    ``unverified``) and never counted. With ``convex_only`` it returns None when f is not
    certified convex.
    """
    import warnings

    from scipy.optimize import minimize

    from theorems._convex import tilted_argmin

    rng = np.random.default_rng(seed)
    d = problem.dim
    p = problem._p
    result: dict[str, Any] = {"below_moved": 0, "above_moved": 0, "tilts": tilts,
                              "solver": "cvxpy/Clarabel", "solver_failures": [],
                              "unverified": {"below": 0, "above": 0}}
    tol = 1e-5 * (1 + np.linalg.norm(p))
    for side, factor in (("below", 1 - margin), ("above", 1 + margin)):
        if side not in sides:
            continue
        moved = 0
        for _ in range(tilts):
            u = rng.standard_normal(d)
            dual = {"2": np.linalg.norm(u), "1": np.max(np.abs(u)), "inf": np.sum(np.abs(u))}
            xi = u / dual[problem.norm] * factor * float(radius)
            try:
                y, _ = tilted_argmin(problem.f, problem.variables, xi)
                candidates = [y] if np.linalg.norm(y - p) > tol else []
            except UnsupportedFunction:
                if convex_only:
                    return None
                result["solver"] = "multi-start Nelder-Mead"
                candidates = _nelder_mead_tilted(problem, xi, u, rng, minimize, warnings)
            except SolverFailure as exc:
                result["solver_failures"].append(f"{side}: {exc}")
                continue
            if not candidates:
                continue
            if any(_tilt_beats_point(problem, y, xi) for y in candidates):
                moved += 1
            else:
                result["unverified"][side] += 1
        result[f"{side}_moved"] = moved
    failures = len(result["solver_failures"])
    result["summary"] = (f"tilted problems ({result['solver']}): {result['below_moved']}/"
                         f"{tilts} moved below the radius, {result['above_moved']}/{tilts} "
                         "above it (moves re-checked in ball arithmetic)"
                         + (f"; {failures} solves failed (not counted)" if failures else ""))
    return result


def _nelder_mead_tilted(problem: SharpProblem, xi: np.ndarray, u: np.ndarray,
                        rng: np.random.Generator, minimize: Any, warnings: Any
                        ) -> list[np.ndarray]:
    """Points found by multi-start Nelder-Mead with a lower tilted value than the point."""
    d, p = problem.dim, problem._p

    def tilted(x: np.ndarray) -> float:
        value = problem.fvalues(x[None, :])[0] - xi @ x
        return float(value) if np.isfinite(value) else 1e300

    base = tilted(p)
    found = []
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        for start in [p + 0.5 * rng.standard_normal(d) for _ in range(3)] + [p + 1e-3 * u]:
            res = minimize(tilted, start, method="Nelder-Mead",
                           options={"xatol": 1e-10, "fatol": 1e-13, "maxiter": 2000})
            if float(res.fun) < base - 1e-9 * (1 + abs(base)):
                found.append(np.asarray(res.x, dtype=float))
    return found


def _tilt_beats_point(problem: SharpProblem, y: np.ndarray, xi: np.ndarray) -> bool:
    """True when a rational point near ``y`` and a rational tilt near ``xi`` satisfy
    f(y) - <xi, y> < f(p) - <xi, p> in ball arithmetic (the tilt's dual norm is recomputed
    exactly and the comparison uses it: the move is real, not round-off)."""
    try:
        xq = rational_point(xi, 10**12)
    except ValueError:
        return False
    for denominator in (10**6, 10**12, 10**16):
        try:
            yq = rational_point(y, denominator)
            if yq == tuple(problem.point):
                continue
            lin = sum(c * (a - b) for c, a, b in zip(xq, yq, problem.point))
            gap = arb_eval(problem.f.subs(dict(zip(problem.variables, yq))) - problem.f_point
                           - lin)
        except (ValueError, ZeroDivisionError):
            continue
        if gap < 0:
            return True
    return False


# --------------------------------------------------------------------------------------------
# deciders of the claim kinds
# --------------------------------------------------------------------------------------------

@decider("sharp-minimizer", "sharpness-modulus", "tilt-stable", "lipschitz-stable")
def decide_claim(claim: Claim, *, seed: int = 0, budget: int | None = None) -> Verdict:
    problem = SharpProblem.from_params(claim.params)
    kind = claim.kind
    claim = Claim(kind, claim.params, id=claim.id or kind, source=claim.source)
    if kind == "sharp-minimizer":
        m = claim.params["modulus"]
        if not m > 0:
            raise InvalidClaim(f"modulus must be positive, got {m}")
        return decide_sharp(problem, m, seed=seed, budget=budget, claim_id=claim.id)
    if kind == "sharpness-modulus":
        return decide_modulus(problem, claim.params["value"], seed=seed, budget=budget,
                              claim_id=claim.id)
    radius = claim.params["radius"]
    if not radius > 0:
        raise InvalidClaim(f"radius must be positive, got {radius}")
    return decide_stability(problem, radius, kind=kind,
                            form=claim.params.get("form", "argmin") if kind == "tilt-stable"
                            else "argmin", seed=seed, budget=budget, claim_id=claim.id)


# --------------------------------------------------------------------------------------------
# families with a modulus known by construction (used by the checks and by verify.strategies)
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class KnownSharp:
    """f with a point and its sharpness modulus in each norm, known by construction."""

    name: str
    f: sp.Expr
    variables: tuple[sp.Symbol, ...]
    point: tuple[sp.Expr, ...]
    modulus: dict[str, sp.Expr]
    convex: bool

    def problem(self, norm: str = "2") -> SharpProblem:
        return SharpProblem(self.f, self.variables, self.point, norm)


def _vars(dim: int) -> tuple[sp.Symbol, ...]:
    return tuple(sp.Symbol(f"x{i + 1}", real=True) for i in range(dim))


def polytope_function(normals: Sequence[Sequence[int]], offsets: Sequence[Any],
                      point: Sequence[Any], tail: str = "square", weight: Any = 1,
                      name: str = "polytope") -> KnownSharp:
    r"""f(x) = \sigma_P(x - p) + tail, with P = {xi : <n_j, xi> <= h_j} (0 in its interior).

    ``tail`` is ``"square"`` (+ w ||x - p||^2: convex), ``"capped"`` (+ Min(||x - p||^2, w):
    nonconvex, same modulus) or ``"dip"`` (- Min(||x - p||^2, w): nonconvex, 2-norm modulus
    alpha_P - sqrt(w)). The subdifferential of sigma_P at 0 is P, so the modulus in a norm is the
    in-radius of P in the dual norm: min_j h_j / ||n_j||_dual.
    """
    dim = len(point)
    xs = _vars(dim)
    N = [sp.Matrix([list(map(sp.Integer, n))]) for n in normals]
    h = [sp.nsimplify(v) for v in offsets]
    if any(not v > 0 for v in h):
        raise ValueError("offsets must be positive (0 must be interior to P)")
    vertices = set()
    from itertools import combinations

    for rows in combinations(range(len(N)), dim):
        A = sp.Matrix.vstack(*[N[i] for i in rows])
        if A.det() == 0:
            continue
        v = A.LUsolve(sp.Matrix([h[i] for i in rows]))
        if all((N[j] * v)[0] <= h[j] for j in range(len(N))):
            vertices.add(tuple(v))
    if len(vertices) < dim + 1:
        raise ValueError("the constraints do not describe a bounded polytope with 0 inside")
    d = [x - sp.nsimplify(p) for x, p in zip(xs, point)]
    support = sp.Max(*[sum(c * di for c, di in zip(v, d)) for v in sorted(vertices, key=str)])
    sq = sum(di**2 for di in d)
    w = sp.nsimplify(weight)
    # Largest r with r * (dual unit ball) inside P: the support of the dual ball of the primal
    # norm in direction n is ||n|| in the primal norm itself, so r = min_j h_j / ||n_j||.
    dual = {"2": lambda n: sp.sqrt(sum(c**2 for c in n)), "1": lambda n: sum(abs(c) for c in n),
            "inf": lambda n: max(abs(c) for c in n)}
    radius = {k: min(hj / fn(n) for n, hj in zip(normals, h)) for k, fn in dual.items()}
    if tail == "square":
        f, convex = support + w * sq, True
    elif tail == "capped":
        f, convex = support + sp.Min(sq, w), False
    elif tail == "dip":
        f, convex = support - sp.Min(sq, w), False
        radius = {"2": radius["2"] - sp.sqrt(w)}
        if not radius["2"] > 0:
            raise ValueError("the dip is deeper than the in-radius: not sharp")
    else:
        raise ValueError(f"unknown tail {tail!r}")
    return KnownSharp(name, f, xs, tuple(sp.nsimplify(p) for p in point), radius, convex)


def random_polytope_function(rng: np.random.Generator, dim: int = 2,
                             tail: str = "square") -> KnownSharp:
    """A random instance of :func:`polytope_function` (integer normals, positive offsets)."""
    while True:
        m = dim + int(rng.integers(1, 4))
        normals = [list(rng.integers(-3, 4, size=dim)) for _ in range(m - 1)]
        normals.append([-sum(col) for col in zip(*normals)])
        if any(all(c == 0 for c in n) for n in normals):
            continue
        if np.linalg.matrix_rank(np.array(normals, dtype=float)) < dim:
            continue
        offsets = [sp.Rational(int(rng.integers(1, 9)), int(rng.integers(1, 3))) for _ in normals]
        point = [int(v) for v in rng.integers(-2, 3, size=dim)]
        weight = sp.Rational(int(rng.integers(1, 5)), 4)
        try:
            known = polytope_function(normals, offsets, point, tail=tail, weight=weight,
                                      name=f"polytope-{tail}-{dim}d")
        except ValueError:
            continue
        if tail == "dip":
            known = polytope_function(normals, offsets, point, tail=tail,
                                      weight=min(weight, (known.modulus["2"] + sp.sqrt(weight))
                                                 ** 2 / 4), name=f"polytope-dip-{dim}d")
        return known


def random_piecewise_1d(rng: np.random.Generator, nonconvex: bool = False) -> KnownSharp:
    """a+ max(x - p, 0) + a- max(p - x, 0) + tail: modulus min(a+, a-)."""
    (x,) = _vars(1)
    p = sp.Rational(int(rng.integers(-4, 5)), int(rng.integers(1, 4)))
    a_plus = sp.Rational(int(rng.integers(1, 12)), int(rng.integers(1, 5)))
    a_minus = sp.Rational(int(rng.integers(1, 12)), int(rng.integers(1, 5)))
    w = sp.Rational(int(rng.integers(1, 9)), 4)
    tail = sp.Min((x - p) ** 2, w) if nonconvex else w * (x - p) ** 2
    f = a_plus * sp.Max(x - p, 0) + a_minus * sp.Max(p - x, 0) + tail
    alpha = min(a_plus, a_minus)
    return KnownSharp("piecewise-1d" + ("-nonconvex" if nonconvex else ""), f, (x,), (p,),
                      {"2": alpha, "1": alpha, "inf": alpha}, not nonconvex)


def generated_family(seed: int, count: int = 6) -> list[KnownSharp]:
    rng = np.random.default_rng(seed)
    out = []
    for i in range(count):
        kind = i % 5
        if kind == 0:
            out.append(random_polytope_function(rng, 2, "square"))
        elif kind == 1:
            out.append(random_polytope_function(rng, 2, "capped"))
        elif kind == 2:
            out.append(random_polytope_function(rng, 2, "dip"))
        elif kind == 3:
            out.append(random_piecewise_1d(rng, nonconvex=False))
        else:
            out.append(random_piecewise_1d(rng, nonconvex=True))
    return out


def _known_from_toy(toy: Any) -> KnownSharp:
    return KnownSharp(toy.name, toy.expr, toy.variables, toy.point, toy.facts["modulus"],
                      toy.facts.get("convex", False))


# --------------------------------------------------------------------------------------------
# registered checks (THEORY.md 1.6)
# --------------------------------------------------------------------------------------------

def _modulus_instance(known: KnownSharp, norm: str, seed: int, tol: float = 1e-4) -> Verdict:
    """alpha* computed by the toolkit against the modulus known for the instance."""
    problem = known.problem(norm)
    expected = known.modulus[norm]
    result = best_constant(problem, seed=seed)
    iid = f"{known.name}[{norm}] f={known.f}"
    ev = {"expected": str(expected), "lower": result.lower, "upper": result.upper,
          "exact": str(result.exact) if result.exact is not None else None,
          "lower_how": result.lower_how, "upper_how": result.upper_how}
    if result.exact is not None:
        if sp.simplify(result.exact - expected) == 0:
            return Verdict(id=iid, kind="instance", status=Status.PROVED,
                           method="z3 proof + exact witness", message=f"alpha* = {expected}",
                           bounds=(result.lower, result.upper), evidence=ev)
        return Verdict(id=iid, kind="instance", status=Status.REFUTED, method="exact",
                       message=f"alpha* = {result.exact}, not {expected}",
                       counterexample={"alpha*": str(result.exact), "expected": str(expected)},
                       evidence=ev)
    e = float(expected)
    if math.isnan(result.lower) or math.isnan(result.upper):
        return Verdict(id=iid, kind="instance", status=Status.INCONCLUSIVE, method="bounds",
                       message="a bound is NaN", evidence=ev)
    if result.lower - 1e-12 <= e <= result.upper + 1e-12:
        if result.upper - result.lower <= tol * max(1.0, abs(e)):
            return Verdict(id=iid, kind="instance", status=Status.CERTIFIED,
                           method="z3 lower bound + ball-arithmetic witness",
                           message=f"alpha* in [{result.lower:.10g}, {result.upper:.10g}] "
                                   f"contains {expected}", confidence=1.0,
                           bounds=(result.lower, result.upper), evidence=ev)
        return Verdict(id=iid, kind="instance", status=Status.INCONCLUSIVE, method="bounds",
                       message=f"interval [{result.lower:.6g}, {result.upper:.6g}] too wide",
                       bounds=(result.lower, result.upper), evidence=ev)
    return Verdict(id=iid, kind="instance", status=Status.REFUTED, method="sound bounds",
                   message=f"{expected} lies outside the sound interval "
                           f"[{result.lower:.10g}, {result.upper:.10g}]",
                   counterexample={"expected": str(expected), "lower": result.lower,
                                   "upper": result.upper, **result.witness}, evidence=ev)


def _toys() -> list[KnownSharp]:
    from theorems import toys

    return [_known_from_toy(t) for t in toys.SHARP_TOYS]


@check("sharp.best-constant.toys", paper=PAPER, statement="THEORY 1.6 item 1 (best constant)",
       summary="alpha* of the toy table (all norms) matches the closed forms")
def check_best_constant_toys(seed: int) -> Verdict:
    parts = [_modulus_instance(k, norm, seed) for k in _toys() for norm in k.modulus]
    return combine("x", "check", parts, method="best_constant on each toy and norm")


@check("sharp.best-constant.families", paper=PAPER,
       statement="THEORY 1.6 item 1 (generated families)",
       summary="alpha* of random polyhedral+quadratic, capped, dipped and 1-D piecewise "
               "functions equals the in-radius known by construction")
def check_best_constant_families(seed: int) -> Verdict:
    parts = []
    for known in generated_family(seed, count=5):
        for norm in known.modulus:
            parts.append(_modulus_instance(known, norm, seed))
    exact = sum(p.status is Status.PROVED for p in parts)
    return combine("x", "check", parts, method="best_constant vs construction",
                   evidence={"decided_exactly": exact, "instance_count": len(parts)})


def _stability_pair(known: KnownSharp, kind: str, seed: int, margin: sp.Expr) -> list[Verdict]:
    """The claim just below alpha* must be proved; just above it must be refuted."""
    out = []
    alpha = known.modulus["2"]
    builder = tilt_stable if kind == "tilt-stable" else lipschitz_stable
    for side, radius, want in (("below", alpha * (1 - margin), Status.PROVED),
                               ("above", alpha * (1 + margin), Status.REFUTED)):
        claim = builder(known.f, known.point, radius, variables=known.variables,
                        id=f"{known.name} {side} alpha*")
        out.append(expected_status(claim.id, claim.check(seed=seed), want))
    return out


@check("sharp.prop1", paper=PAPER, statement="Proposition 1",
       summary="sharp with modulus alpha => S(xi) = {x} for ||xi|| < alpha; above alpha* the "
               "tilted argmin moves")
def check_prop1(seed: int) -> Verdict:
    parts = []
    for known in _toys()[:3] + generated_family(seed, count=3):
        if "2" in known.modulus and known.modulus["2"] > 0:
            parts += _stability_pair(known, "tilt-stable", seed, sp.Rational(1, 100))
    # the explicit threshold behaviour of alpha0|x| + x^2: the tilted argmin (xi - a sign xi)/2
    from theorems import toys

    toy = toys.abs_plus_square(sp.Rational(3, 2))
    (x,) = toy.variables
    xi = sp.Symbol("xi", positive=True)
    a = toy.facts["modulus"]["2"]
    minimizer = (xi - a) / 2
    tilted = toy.expr - xi * x
    on_right = sp.diff(tilted.subs(sp.Abs(x), x), x).subs(x, minimizer)
    holds = sp.simplify(on_right) == 0
    parts.append(Verdict(id="abs_plus_square tilted argmin (xi - a)/2 for xi > a", kind="instance",
                         status=Status.PROVED if holds else Status.REFUTED, method="sympy",
                         message="d/dx (a x + x^2 - xi x) vanishes at (xi - a)/2 > 0, the "
                                 "tilted function is strictly convex: argmin = {(xi - a)/2}",
                         counterexample=None if holds else {"derivative": str(on_right)}))
    return combine("x", "check", parts, method="tilt-stable claims at (1 -/+ 1%) alpha*")


@check("sharp.thm1", paper=PAPER, statement="Theorem 1",
       summary="under Assumption 1 (supercoercive f), the largest tilt radius with S(xi) = {x} "
               "equals alpha* (grid of tilts on spheres)")
def check_thm1(seed: int) -> Verdict:
    from scipy.optimize import minimize

    parts = []
    for known in _toys()[:3] + generated_family(seed + 1, count=1):
        if not known.convex or known.modulus.get("2", 0) == 0:
            continue
        problem = known.problem("2")
        a1 = assumption1(problem)
        d = problem.dim
        p = problem._p
        angles = 24 if d == 2 else 2
        dirs = (np.stack([np.cos(np.linspace(0, 2 * np.pi, angles, endpoint=False)),
                          np.sin(np.linspace(0, 2 * np.pi, angles, endpoint=False))], axis=1)
                if d == 2 else np.array([[1.0], [-1.0]]))

        def stays(radius: float) -> bool:
            for u in dirs:
                xi = radius * u

                def tilted(x: np.ndarray) -> float:
                    return float(problem.fvalues(x[None, :])[0] - xi @ x)

                base = tilted(p)
                for start in (p + 0.3 * u, p + 1e-3 * u):
                    res = minimize(tilted, start, method="Nelder-Mead",
                                   options={"xatol": 1e-12, "fatol": 1e-14, "maxiter": 4000})
                    if res.fun < base - 1e-10:
                        return False
            return True

        lo, hi = 0.0, 4.0 * float(known.modulus["2"]) + 1.0
        solves = 0
        for _ in range(17):
            mid = (lo + hi) / 2
            solves += len(dirs) * 2
            if stays(mid):
                lo = mid
            else:
                hi = mid
        alpha = float(known.modulus["2"])
        agree = abs((lo + hi) / 2 - alpha) <= 2e-3 * max(1.0, alpha)
        iid = f"{known.name}: threshold {lo:.6f}..{hi:.6f} vs alpha* {alpha:.6f}"
        if a1.holds is not True:
            parts.append(Verdict(id=iid, kind="instance", status=Status.INCONCLUSIVE,
                                 method="grid of tilted problems", message=a1.how,
                                 assumptions=[a1]))
        elif agree:
            parts.append(Verdict(id=iid, kind="instance", status=Status.EVIDENCE,
                                 method="bisection on the tilt radius, grid of tilt directions",
                                 message="the largest stable radius matches alpha*",
                                 sample_size=solves, assumptions=[a1],
                                 bounds=(lo, hi)))
        else:
            parts.append(Verdict(id=iid, kind="instance", status=Status.INCONCLUSIVE,
                                 method="bisection on the tilt radius",
                                 message="numerical threshold differs from alpha* by more than "
                                         "the tolerance (numerical tilted solves, not a proof)",
                                 assumptions=[a1], bounds=(lo, hi)))
    return combine("x", "check", parts, method="numerical tilt threshold vs alpha*")


@check("sharp.thm2", paper=PAPER, statement="Theorem 2",
       summary="argmin(f + zeta) = {x} for Lipschitz zeta with Lip < alpha*; at Lip = alpha* "
               "the argmin can be non-unique")
def check_thm2(seed: int) -> Verdict:
    from scipy.optimize import minimize

    rng = np.random.default_rng(seed)
    parts = []
    for known in _toys()[:3] + generated_family(seed + 2, count=3):
        alpha = known.modulus.get("2")
        if alpha is None or not alpha > 0:
            continue
        parts += _stability_pair(known, "lipschitz-stable", seed, sp.Rational(1, 100))
        # random nonlinear Lipschitz perturbations, exact Lipschitz constants
        problem = known.problem("2")
        d = problem.dim
        found_better = 0
        trials = 0
        for _ in range(4):
            a = rng.standard_normal(d)
            a /= np.linalg.norm(a)
            L = float(alpha) * float(rng.uniform(0.1, 0.95))
            c = float(rng.uniform(0, 2 * np.pi))
            z = problem._p + rng.standard_normal(d)
            for zeta in (lambda x: L * np.sin(x @ a + c),
                         lambda x: -L * np.linalg.norm(x - z, axis=-1)):
                trials += 1

                def total(x: np.ndarray, zeta=zeta) -> float:
                    return float(problem.fvalues(x[None, :])[0] + zeta(x[None, :])[0])

                base = total(problem._p)
                for start in [problem._p + rng.standard_normal(d) * s for s in (0.1, 1, 3)]:
                    res = minimize(total, start, method="Nelder-Mead",
                                   options={"xatol": 1e-12, "fatol": 1e-14, "maxiter": 4000})
                    if res.fun < base - 1e-8 * (1 + abs(base)):
                        found_better += 1
                        break
        iid = f"{known.name}: random zeta (L sin(<a,x>+c), -L||x - z||)"
        if found_better:
            parts.append(Verdict(id=iid, kind="instance", status=Status.INCONCLUSIVE,
                                 method="multi-start minimization",
                                 message=f"{found_better} perturbed problems found a point "
                                         "better than x (numerical, not re-checked)"))
        else:
            parts.append(Verdict(id=iid, kind="instance", status=Status.EVIDENCE,
                                 method="multi-start minimization",
                                 message=f"x minimized f + zeta in all {trials} trials",
                                 sample_size=trials))
    # at Lip zeta = alpha* the argmin need not be unique: alpha*|x| - alpha*|x| == 0
    x = sp.Symbol("x", real=True)
    a = sp.Rational(7, 5)
    total = a * sp.Abs(x) + (-a * sp.Abs(x))
    parts.append(Verdict(id="Lip zeta = alpha*: f + zeta = alpha|x| - alpha|x| is constant",
                         kind="instance",
                         status=Status.PROVED if sp.simplify(total) == 0 else Status.REFUTED,
                         method="sympy", message="f + zeta vanishes identically: argmin = R",
                         counterexample=None if sp.simplify(total) == 0 else {"f+zeta":
                                                                              str(total)}))
    return combine("x", "check", parts, method="Lipschitz-stable claims and random zeta")


@check("sharp.threshold", paper=PAPER, statement="Threshold remark (strict inequalities)",
       summary="for alpha0|x| + x^2 the argmin stays {0} at |xi| = alpha0; for alpha0|x| the "
               "tilt xi = alpha0 gives argmin [0, oo)")
def check_threshold(seed: int) -> Verdict:
    x = sp.Symbol("x", real=True)
    a = sp.Rational(3, 2)
    parts = []
    # (a) f = a|x| + x^2, xi = a: f(x) - a x > f(0) for x != 0, decided by z3
    problem = SharpProblem(a * sp.Abs(x) + x**2 - a * x, (x,), (sp.Integer(0),), "2")
    enc = Z3Encoder(problem.variables)
    xv = enc.vars[problem.variables[0]]
    goal = z3.And(xv != 0, enc.encode(problem.f) <= 0)
    answer, _ = z3_find(enc, [goal])
    parts.append(Verdict(id="a|x| + x^2 with xi = a: argmin = {0}", kind="instance",
                         status=Status.PROVED if answer == "unsat" else Status.INCONCLUSIVE,
                         method="z3", message=f"no x != 0 with f(x) - a x <= 0 (z3: {answer})"))
    # (b) f = a|x|, xi = a: f - a x = 0 on [0, oo) and > 0 on (-oo, 0)
    t = sp.Symbol("t", positive=True)
    flat = sp.simplify((a * sp.Abs(x) - a * x).subs(x, t)) == 0
    rising = sp.simplify((a * sp.Abs(x) - a * x).subs(x, -t) - 2 * a * t) == 0
    parts.append(Verdict(id="a|x| with xi = a: argmin = [0, oo)", kind="instance",
                         status=Status.PROVED if flat and rising else Status.REFUTED,
                         method="sympy", message="a|t| - a t = 0 for t >= 0 and 2 a t > 0 on the "
                                                 "left: the argmin is not unique",
                         counterexample=None if flat and rising else {"flat": flat}))
    # (c) the claims "sharp with modulus a" hold, "modulus a + 1/1000" fails: equality is sharp
    for m, want in ((a, Status.PROVED), (a + sp.Rational(1, 1000), Status.REFUTED)):
        v = decide_sharp(SharpProblem(a * sp.Abs(x) + x**2, (x,), (sp.Integer(0),), "2"), m,
                         seed=seed, claim_id=f"modulus {m}")
        parts.append(expected_status(f"a|x| + x^2 sharp with modulus {m}: {want.value}", v,
                                     want))
    return combine("x", "check", parts, method="exact threshold instances")


@check("sharp.counterexample", paper=PAPER, statement="Counterexample ||x||^(1/2)",
       summary="for |x|^(1/2): tilted infimum -oo for xi != 0 (vacuous tilt condition), "
               "Assumption 1 fails, f(x)/|x| -> 0 (not sharp)")
def check_counterexample(seed: int) -> Verdict:
    from theorems import toys

    toy = toys.sqrt_abs()
    (x,) = toy.variables
    xi = sp.Symbol("xi", positive=True)
    t = sp.Symbol("t", positive=True)
    parts = []
    # tilted function along the tilt direction: sqrt(t) - xi t -> -oo (xi > 0; xi < 0 mirrors)
    lim = sp.limit(toy.expr.subs(x, t) - xi * t, t, sp.oo)
    lim_neg = sp.limit(toy.expr.subs(x, -t) - (-xi) * (-t), t, sp.oo)
    ok = lim == -sp.oo and lim_neg == -sp.oo
    parts.append(Verdict(id="inf of |x|^(1/2) - xi x is -oo for every xi != 0", kind="instance",
                         status=Status.PROVED if ok else Status.REFUTED, method="sympy limit",
                         message=f"limits along the tilt: {lim}, {lim_neg}; S(xi) is empty, so "
                                 "'x in S(xi) => x = 0' holds vacuously and Assumption 1 fails "
                                 "(only xi = 0 has a minimizer; {0} is not dense)",
                         counterexample=None if ok else {"limits": [str(lim), str(lim_neg)]}))
    ratio = sp.limit(toy.expr.subs(x, t) / t, t, sp.oo)
    parts.append(Verdict(id="f(x)/|x| -> 0 as |x| -> oo", kind="instance",
                         status=Status.PROVED if ratio == 0 else Status.REFUTED,
                         method="sympy limit", message=f"limit {ratio}: no cone fits globally",
                         counterexample=None if ratio == 0 else {"limit": str(ratio)}))
    # for every alpha > 0, x = 4/alpha^2 violates the cone: sqrt(x) = 2/alpha < alpha x = 4/alpha
    alpha = sp.Symbol("alpha", positive=True)
    witness = 4 / alpha**2
    gap = sp.simplify(sp.sqrt(witness) - alpha * witness)
    parts.append(Verdict(id="x = 4/alpha^2 violates |x|^(1/2) >= alpha |x|", kind="instance",
                         status=Status.PROVED if sp.simplify(gap + 2 / alpha) == 0 else
                         Status.REFUTED, method="sympy",
                         message=f"f(x) - alpha|x| = {gap} < 0 for every alpha > 0",
                         counterexample=None if sp.simplify(gap + 2 / alpha) == 0 else
                         {"gap": str(gap)}))
    # the toolkit's own deciders agree: implication form inconclusive (Assumption 1 unverified),
    # argmin form refuted, sharpness refuted
    for claim, want in ((tilt_stable(toy.expr, (0,), 1, form="implication"), Status.INCONCLUSIVE),
                        (tilt_stable(toy.expr, (0,), 1), Status.REFUTED),
                        (sharp_minimizer(toy.expr, (0,), sp.Rational(1, 10)), Status.REFUTED)):
        parts.append(expected_status(f"decider on {claim.kind} ({claim.params.get('form', '')})",
                                     claim.check(seed=seed), want))
    return combine("x", "check", parts, method="symbolic limits and the toolkit's deciders")


@check("sharp.smooth-not-sharp", paper=PAPER, statement="Remark: C^1 at a critical point => "
       "not sharp", summary="for smooth functions alpha* = 0 and the ratio on spheres of radius "
       "r shrinks like r")
def check_smooth(seed: int) -> Verdict:
    from theorems import toys

    parts = []
    x1, x2 = sp.symbols("x1 x2", real=True)
    smooth = [_known_from_toy(toys.smooth_bowl(2)),
              KnownSharp("quartic-saddle-free", x1**2 + x1 * x2 + x2**2 + x1**4, (x1, x2),
                         (sp.Integer(0), sp.Integer(0)), {"2": sp.Integer(0)}, True)]
    rng = np.random.default_rng(seed)
    for known in smooth:
        parts.append(_modulus_instance(known, "2", seed))
        problem = known.problem("2")
        U = rng.standard_normal((256, problem.dim))
        U /= np.linalg.norm(U, axis=1, keepdims=True)
        radii = np.logspace(-1, -5, 5)
        mins = [float(np.min(problem.ratios(problem._p + r * U))) for r in radii]
        slope = float(np.polyfit(np.log(radii), np.log(np.maximum(mins, 1e-300)), 1)[0])
        ok = all(b < a for a, b in zip(mins, mins[1:])) and 0.8 < slope < 1.2
        parts.append(Verdict(id=f"{known.name}: min ratio on spheres of radius r ~ r",
                             kind="instance", status=Status.EVIDENCE if ok else
                             Status.INCONCLUSIVE, method="sampling on spheres",
                             message=f"min ratios {['%.3g' % m for m in mins]}, log-log slope "
                                     f"{slope:.3f} (1 expected)", sample_size=256 * len(radii),
                             evidence={"radii": radii.tolist(), "min_ratio": mins}))
    return combine("x", "check", parts, method="exact alpha* and shrinking ratios")


@check("sharp.volume-ratio", paper=PAPER, statement="Deep-learning remark (basin volumes)",
       summary="uniform initialization hits two basins in the ratio (r_flat/r_sharp)^d "
               "(Monte Carlo in d = 10 and 20, 99.9% intervals)")
def check_volume_ratio(seed: int) -> Verdict:
    from scipy.stats import norm as normal

    rng = np.random.default_rng(seed)
    parts = []
    z = normal.ppf(1 - 0.001 / 2)
    for d, ratio_r, ball in ((10, 1.25, "2"), (20, 1 / 0.9, "inf")):
        r_flat, r_sharp = 1.0, 1.0 / ratio_r
        expected = ratio_r**d
        # box holding both basins side by side along axis 0
        lo = np.full(d, -r_flat)
        hi = np.full(d, r_flat)
        hi[0] = r_flat + 2 * r_sharp
        centre_sharp = np.zeros(d)
        centre_sharp[0] = r_flat + r_sharp
        n = 400_000 if d == 10 else 200_000
        hits_f = hits_s = 0
        for _ in range(n // 100_000):
            X = rng.uniform(lo, hi, size=(100_000, d))
            order = 2 if ball == "2" else np.inf
            hits_f += int(np.sum(np.linalg.norm(X, ord=order, axis=1) <= r_flat))
            hits_s += int(np.sum(np.linalg.norm(X - centre_sharp, ord=order, axis=1) <= r_sharp))
        if hits_s == 0 or hits_f == 0:
            parts.append(Verdict(id=f"d={d}", kind="instance", status=Status.INCONCLUSIVE,
                                 method="Monte Carlo", message="no hits in one basin"))
            continue
        estimate = hits_f / hits_s
        # delta method on log of a ratio of (approximately independent) Poisson counts
        half = z * math.sqrt(1 / hits_f + 1 / hits_s)
        low, high = estimate * math.exp(-half), estimate * math.exp(half)
        inside = low <= expected <= high
        parts.append(Verdict(id=f"d={d}, {ball}-norm balls, r_f/r_s={ratio_r:.4g}",
                             kind="instance", status=Status.EVIDENCE if inside else
                             Status.INCONCLUSIVE, method="Monte Carlo, 99.9% interval",
                             message=f"hit ratio {estimate:.4g} in [{low:.4g}, {high:.4g}]; "
                                     f"(r_f/r_s)^d = {expected:.4g}", sample_size=n,
                             bounds=(low, high),
                             evidence={"hits_flat": hits_f, "hits_sharp": hits_s,
                                       "expected": expected,
                                       "examples": {"1.1^1000": 1.1**1000,
                                                    "1.01^10000": float(
                                                        sp.N(sp.Rational(101, 100)**10000))}}))
    return combine("x", "check", parts, method="Monte Carlo hit ratios")
