r"""Deciding sharpness (Dominguez Corella): proofs by z3 and cvc5, counterexamples in balls.

* :func:`prove_sharp` decides f(x) >= f(p) + m ||x - p|| for all x with z3 on the kernel's
  SMT-LIB2 texts (:func:`verify.kernel.sharp.sharp_queries`: the negation, case-split on the
  kinks of f); an irrational m is bracketed by simple rationals first (nlsat is much faster on
  rational constants). A proof counts once cvc5 agrees on the same texts; a z3 model is
  re-checked in ball arithmetic before it refutes. For piecewise polynomial f the
  Positivstellensatz path of :mod:`theorems.sharp.sos_case` is tried too (first, unless the
  problem is small: two variables and pieces of degree two), a ``sharp-sos`` certificate of
  exact rational Gram matrices.
* :func:`best_constant` brackets alpha* = inf (f(x) - f(p)) / ||x - p|| between proved moduli
  and exact upper bounds (ray limits, witness ratios), each with its certificate.
* :func:`decide_sharp`, :func:`decide_modulus` and :func:`decide_stability` turn these into
  verdicts of the claim kinds of :mod:`theorems.sharp.kinds`.

A derived fact used by the ``tilt-stable`` and ``lipschitz-stable`` kinds [D]: when the claim is
that the argmin *equals* :math:`\{\bar x\}` for every tilt of dual norm below R, it is
equivalent to sharpness with modulus R, with no assumption. If
:math:`f(x_0) - f(\bar x) < R\|x_0 - \bar x\|`, a tilt :math:`\xi` with
:math:`\|\xi\|_* < R` and :math:`\langle \xi, x_0 - \bar x\rangle = s\|x_0 - \bar x\|` for
some s between the ratio and R makes :math:`x_0` strictly better than :math:`\bar x`.
Assumption 1 matters only for the poster's weaker form (``form = "implication"``: x in S(xi)
implies x = x-bar), which holds vacuously when S(xi) is empty (the |x|^(1/2) counterexample).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import sympy as sp

from theorems.exact import (Budget, arb_eval, arb_hi, arb_lo, exact_number, rational_point,
                            solve)
from theorems.sharp.problem import (SharpProblem, directional_limits, search_worst_ratio,
                                    simple_rational_beside, simplest_between,
                                    simplest_violation)
from verify.errors import InvalidClaim, SolverFailure, UnsupportedFunction
from verify.kernel import sharp as sharp_kernel
from verify.kernel.smt import confirm_unsat
from theorems.sharp import convex_cone, kinds, line_case, minorant_case, sos_case
from theorems.sharp.coercive import assumption1
from theorems.sharp.tilted import tilt_beats_point, tilted_cross_check
from verify.verdict import Assumption, Decision, Status, Verdict

#: numerical search supports a claim (status evidence) only with this relative margin
EVIDENCE_MARGIN = 1e-2
#: z3 resource units one claim may use (deterministic: the same answer on a busy machine)
DEFAULT_BUDGET = 20_000_000


# --------------------------------------------------------------------------------------------
# proving one modulus
# --------------------------------------------------------------------------------------------

@dataclass
class SharpOutcome:
    """What z3 (and cvc5) said about one modulus: ``answer`` is "holds" (with ``certificate``,
    a ``sharp-smt`` the kernel accepts), "violated" (with a ball-checked ``point``),
    "unknown" or "unsupported"."""

    answer: str
    detail: str = ""
    certificate: dict[str, Any] | None = None
    point: tuple[sp.Rational, ...] | None = None
    gap: Any = None
    seconds: float = 0.0
    method: str = "z3 and cvc5 (exact real arithmetic)"


def prove_sharp(problem: SharpProblem, m: sp.Expr, *, budget: Budget | None = None,
                cone: bool = True) -> SharpOutcome:
    """Decide f(x) >= f(p) + m ||x - p|| for all x (see the module docstring): z3 and the
    SOS path of :mod:`theorems.sharp.sos_case`, in the order that module chooses."""
    m = exact_number(m, "modulus")
    budget = budget if budget is not None else Budget(DEFAULT_BUDGET)
    if problem.dim == 1:
        outcome = line_case.prove(problem, m)
        if outcome is not None:
            return outcome
    else:
        outcome = (_prove_cone(problem, m) if cone else None) or \
            minorant_case.prove(problem, m)
        if outcome is not None:
            return outcome
    return sos_case.prove(problem, m, lambda confirm=True: _prove_z3(problem, m, budget,
                                                                     confirm=confirm))


def _prove_cone(problem: SharpProblem, m: sp.Expr) -> SharpOutcome | None:
    """A convex f: the exact cone certificate of the convex decider (None otherwise)."""
    claim = problem.claim(kinds.SHARP_MINIMIZER, modulus=m)
    verdict = convex_cone.decide_sharp(problem, m, claim=claim)
    if verdict is None or verdict.status is not Status.PROVED:
        return None
    return SharpOutcome("holds", verdict.message, certificate=verdict.certificate,
                        method=verdict.method)


def _prove_z3(problem: SharpProblem, m: sp.Expr, budget: Budget, *, confirm: bool = True
              ) -> SharpOutcome:
    """z3 on the kernel's texts; with ``confirm=False`` an all-unsat answer comes back as
    "unconfirmed" (cvc5 not asked yet)."""
    if m.is_Rational:
        return _prove_rational(problem, m, budget=budget, confirm=confirm)
    m_hi = simple_rational_beside(m, +1)
    first = _prove_rational(problem, m_hi, budget=budget.share(max(1, budget.left // 3)),
                            confirm=confirm)
    if first.answer in ("holds", "unconfirmed"):
        first.detail += f" (with the rational {m_hi} >= {m})"
        return first
    if problem.dim > 1 and convex_cone.analyse(problem) is None:
        # z3's algebraic arithmetic on a nonconvex f in several variables ran past every
        # resource limit (minutes per query on the capped and dipped families)
        return SharpOutcome("unknown", f"z3 is not asked about the irrational modulus {m} for "
                            f"a nonconvex f in {problem.dim} variables (its algebraic-number "
                            "steps run past any resource limit; the exact routes did not "
                            "apply)")
    # the modulus itself, an algebraic number encoded by its minimal polynomial
    return _prove_rational(problem, m, budget=budget, confirm=confirm)


def _prove_rational(problem: SharpProblem, m: sp.Expr, *, budget: Budget,
                    recheck_with: sp.Expr | None = None, confirm: bool = True
                    ) -> SharpOutcome:
    """One modulus (rational, or algebraic through its minimal polynomial)."""
    t0 = time.perf_counter()
    try:
        texts = sharp_kernel.sharp_queries(problem.claim(), m)
    except UnsupportedFunction as exc:
        return SharpOutcome("unsupported", str(exc), seconds=time.perf_counter() - t0)
    unknown = ""
    for text in texts:
        answer = solve(text, budget)
        if answer.result == "sat":
            return _recheck_model(problem, recheck_with if recheck_with is not None else m,
                                  answer.values(), t0)
        if answer.result == "unknown":
            unknown = answer.reason or "unknown"
            if budget.left <= 0:
                break
    seconds = time.perf_counter() - t0
    if unknown:
        return SharpOutcome("unknown", f"z3 returned unknown ({unknown})", seconds=seconds)
    if not confirm:
        return SharpOutcome("unconfirmed", f"z3 refuted all {len(texts)} cases (cvc5 not "
                            "asked yet)", seconds=seconds)
    ok, reason = confirm_unsat(texts)
    if not ok:
        return SharpOutcome("unknown", f"z3 refuted every case but the kernel did not confirm: "
                            f"{reason}", seconds=time.perf_counter() - t0)
    return SharpOutcome("holds", f"z3 and cvc5: no x violates the inequality ({len(texts)} "
                        "queries)", certificate={"kind": "sharp-smt", "modulus": str(m),
                                                  "texts": texts},
                        seconds=time.perf_counter() - t0)


def _recheck_model(problem: SharpProblem, m: sp.Expr, values: dict[str, sp.Rational],
                   t0: float) -> SharpOutcome:
    seconds = time.perf_counter() - t0
    names = [v.name for v in problem.variables]
    shifted = all(n in values for n in (f"_u{i}" for i in range(problem.dim))) and \
        not all(n in values for n in names)
    if shifted:
        x = [c + values[f"_u{i}"] for i, c in enumerate(problem.point)]
    else:
        x = [values.get(n, sp.Integer(0)) for n in names]
    simple = simplest_violation(problem, x, m)
    if simple is not None:
        return SharpOutcome("violated", "z3 model re-checked in ball arithmetic",
                            point=simple[0], gap=simple[1], seconds=seconds)
    return SharpOutcome("unknown", "z3 found a model that could not be re-checked",
                        seconds=seconds)


# --------------------------------------------------------------------------------------------
# the best constant alpha*
# --------------------------------------------------------------------------------------------

@dataclass
class ModulusResult:
    """alpha* in [lower, upper]; ``exact`` when both sides meet at an exact number.

    ``lower_certificate`` (a ``sharp-smt``) proves alpha* >= its modulus; ``upper_certificate``
    (a ``ray-limit``, ``point-ratio`` or ``point``) bounds alpha* from above.
    """

    lower: float
    upper: float
    exact: sp.Expr | None
    lower_how: str
    upper_how: str
    witness: dict[str, Any]
    evaluations: int
    z3_calls: int = 0
    lower_value: sp.Expr | None = None
    upper_value: sp.Expr | None = None
    lower_certificate: dict[str, Any] | None = None
    upper_certificate: dict[str, Any] | None = None

    @property
    def width(self) -> float:
        return self.upper - self.lower


def best_constant(problem: SharpProblem, *, seed: int = 0, budget: int | None = None,
                  rel_tol: float = 1e-7, cone: bool = True) -> ModulusResult:
    """alpha* = inf (f(x) - f(p)) / ||x - p|| with sound two-sided bounds.

    Upper bound: an exact directional limit, or a witness point whose ratio is enclosed in
    ball arithmetic. Lower bound: proofs of "sharp with modulus m" (exact candidates first,
    then bisection). ``exact`` is set when an exact upper bound and a proof meet. ``budget``:
    z3 resource units for all the proofs together (default :data:`DEFAULT_BUDGET`). ``cone``:
    a convex f goes to :mod:`theorems.sharp.convex_cone` first.
    """
    exact = convex_cone.best_constant(problem, seed=seed) if cone else None
    if exact is not None:
        return exact
    radial = minorant_case.radial_best_constant(problem, seed=seed) if cone else None
    if radial is not None:
        return radial
    z3_budget = Budget(DEFAULT_BUDGET if budget is None else budget)
    search = search_worst_ratio(problem, seed=seed)
    r = ModulusResult(lower=-math.inf, upper=math.inf, exact=None, lower_how="none",
                      upper_how="none", witness={}, evaluations=search.evaluations)
    exact_uppers: list[tuple[sp.Expr, dict]] = []
    tried: list[tuple] = []

    def lower_upper(value: sp.Expr, how: str, certificate: dict, witness: dict) -> None:
        hi = arb_hi(arb_eval(value))
        if hi < r.upper:
            r.upper, r.upper_how, r.witness = hi, how, witness
            r.upper_value, r.upper_certificate = value, certificate

    def ray_limits(h: Any, note: str) -> None:
        """Exact limits of the ratio along the ray through ``h``, as upper bounds."""
        for where, value, u in directional_limits(problem, h):
            if (where, u) in tried:
                continue
            tried.append((where, u))
            cert = {"kind": "ray-limit", "direction": [str(c) for c in u], "at": where,
                    "limit": str(value)}
            exact_uppers.append((value, cert))
            lower_upper(value, f"exact limit of the ratio along the ray direction {list(u)} "
                               f"at t->{where}{note}", cert,
                        {"direction": [str(c) for c in u], "limit_at": where,
                         "limit": str(value)})

    for x in search.candidates[:4]:
        if np.linalg.norm(x - problem.p) < 1e-9 * (1 + np.linalg.norm(problem.p)):
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
            ratio = ((problem.f.subs(dict(zip(problem.variables, xq))) - problem.f_point)
                     / problem.exact_norm(xq))
            cert = {"kind": "point-ratio", "x": [str(c) for c in xq]}
            lower_upper(ratio, "ratio at a witness point, enclosed in ball arithmetic", cert,
                        {"point": [str(c) for c in xq]})
            simple = sp.nsimplify(ratio)
            if simple.is_number and not simple.has(sp.Float) and \
                    sp.simplify(simple - ratio) == 0:
                exact_uppers.append((simple, cert))
            break
        ray_limits(x - problem.p, "")
    # a nonconvex f with a convex sharp part: the directions of least ratio of that part
    for h in (minorant_case.upper_directions(problem, seed=seed) if problem.dim > 1 else []):
        ray_limits(h, " (least ratio of the convex part)")
    if not math.isfinite(r.upper):
        return r
    candidates = sorted({e for e, _ in exact_uppers}, key=lambda e: float(e))
    guess = sp.nsimplify(search.ratio, [sp.sqrt(2), sp.sqrt(3), sp.sqrt(5)], tolerance=1e-8)
    if guess.is_number and guess.is_real and abs(float(guess) - search.ratio) < 1e-6:
        candidates.append(guess)
    for cand in candidates:
        if float(cand) > r.upper + 1e-12 or z3_budget.left <= 0:
            continue
        outcome = prove_sharp(problem, cand, budget=z3_budget, cone=cone)
        r.z3_calls += 1
        if outcome.answer == "unsupported":
            break
        if outcome.answer == "holds":
            r.lower, r.lower_how = arb_lo(arb_eval(cand)), f"proof that modulus {cand} holds"
            r.lower_value, r.lower_certificate = cand, outcome.certificate
            for value, cert in exact_uppers:
                if sp.simplify(cand - value) == 0:
                    r.exact = cand
                    r.upper = min(r.upper, arb_hi(arb_eval(cand)))
                    r.upper_value, r.upper_certificate = value, cert
                    break
            break
    if r.exact is None:
        _bisect(problem, r, z3_budget, rel_tol, cone)
    return r


def _bisect(problem: SharpProblem, r: ModulusResult, budget: Budget, rel_tol: float,
            cone: bool = True) -> None:
    """Bisection with proofs on simple rationals: "holds" raises the lower bound, a re-checked
    violation lowers the upper bound (the violating point has a smaller ratio)."""
    lo_val = None if not math.isfinite(r.lower) else r.lower
    for _ in range(48):
        if budget.left <= 0:
            break
        if lo_val is None:
            m = sp.Integer(0)
        else:
            width = r.upper - lo_val
            if width <= rel_tol * max(1.0, abs(r.upper)):
                break
            m = simplest_between(lo_val + 0.25 * width, sp.Rational(lo_val + 0.75 * width))
        outcome = prove_sharp(problem, m, budget=budget, cone=cone)
        r.z3_calls += 1
        if outcome.answer in ("unsupported", "unknown"):
            break
        if outcome.answer == "holds":
            lo_val = float(m)
            r.lower, r.lower_how = arb_lo(arb_eval(m)), f"proof that modulus {m} holds"
            r.lower_value, r.lower_certificate = m, outcome.certificate
        else:
            r.upper = min(r.upper, arb_hi(arb_eval(m)))
            r.upper_how = "z3 model re-checked in ball arithmetic"
            r.upper_value = m
            r.upper_certificate = {"kind": "point", "x": [str(c) for c in outcome.point],
                                   "ratio_below": str(m)}
            r.witness = {"point": [str(c) for c in outcome.point], "ratio_below": str(m)}
            if lo_val is None:
                break  # the point is not even a global minimizer: alpha* < 0


# --------------------------------------------------------------------------------------------
# deciding the claims
# --------------------------------------------------------------------------------------------

def _counterexample(problem: SharpProblem, x: Sequence[sp.Rational], gap: Any, m: sp.Expr,
                    how: str) -> dict[str, Any]:
    return {"x": [str(c) for c in x], "x_float": [float(c) for c in x],
            "f(x) - f(point) - modulus*||x - point||": {"upper": arb_hi(gap), "lower":
                                                         arb_lo(gap)},
            "modulus": str(m), "rechecked_by": "python-flint ball arithmetic", "found_by": how}


def decide_sharp(problem: SharpProblem, m: sp.Expr, *, seed: int = 0,
                 budget: int | None = None, claim: dict | None = None,
                 cone: bool = True) -> Verdict:
    """Decide f(x) >= f(p) + m ||x - p|| for all x: proved, refuted, evidence or inconclusive.

    ``claim``: the JSON form of the claim decided (default: a sharp-minimizer claim).
    ``cone``: a convex f goes to the cone bound of :mod:`theorems.sharp.convex_cone` first."""
    d = Decision(claim or problem.claim(kinds.SHARP_MINIMIZER, modulus=m))
    verdict = convex_cone.decide_sharp(problem, m, claim=d.claim, seed=seed) if cone else None
    if verdict is not None:
        return verdict
    search = search_worst_ratio(problem, seed=seed)
    numeric_hit = None
    if search.x is not None and search.ratio < float(m):
        numeric_hit = simplest_violation(problem, search.x, m)
    z3_budget = Budget(DEFAULT_BUDGET if budget is None else budget)
    # a violation re-checked in balls settles the claim: no proof attempt spends the budget
    outcome = prove_sharp(problem, m, budget=z3_budget, cone=cone) if numeric_hit is None \
        else SharpOutcome("unknown", "not attempted: a violation was found",
                          method="multi-scale search")
    ev: dict[str, Any] = {"worst_ratio_found": search.ratio, "evaluations": search.evaluations,
                          # the exact proof attempt: SMT queries (z3 and cvc5) or a
                          # sum-of-squares certificate, whichever sos_case.prove chose
                          "exact_proof": {"answer": outcome.answer, "detail": outcome.detail,
                                          "method": outcome.method,
                                          "seconds": outcome.seconds,
                                          "z3_rlimit_used": z3_budget.used,
                                          "z3_rlimit_budget": z3_budget.total},
                          "norm": problem.norm}
    if outcome.answer == "holds" and numeric_hit is not None:
        return d.error(f"deciders disagree: {outcome.method} proved the inequality but a point "
                       "violates it in ball arithmetic (please report this)", evidence=ev)
    if outcome.answer == "holds":
        cross = ("worst ratio found numerically "
                 f"{search.ratio:.6g} >= {float(m):.6g}" if search.ratio >= float(m) - 1e-9
                 else "numeric search agrees up to round-off")
        convex = tilted_cross_check(problem, m, seed=seed, tilts=6, sides=("below",),
                                    convex_only=True)
        if convex is not None:
            ev["convex_cross_check"] = convex
            if convex["below_moved"]:
                return d.error("deciders disagree: the proof holds but a conic tilted problem "
                               "below the modulus has a better point, re-checked in ball "
                               "arithmetic (please report this)", evidence=ev)
            cross += f"; {convex['summary']}"
        return d.proved(outcome.method,
                        f"f(x) >= f(point) + {m}*||x - point||_{problem.norm} for all x; "
                        f"{cross}", certificate=outcome.certificate,
                        bounds=(float(m), search.ratio), evidence=ev)
    hit, how = numeric_hit, "multi-scale search of the ratio"
    if outcome.answer == "violated":
        hit, how = (outcome.point, outcome.gap), "z3 model"
    if hit is not None:
        x, gap = hit
        return d.refuted(f"{how}, re-checked in ball arithmetic",
                         f"f(x) < f(point) + {m}*||x - point|| at x = {[str(c) for c in x]}",
                         certificate={"kind": "point", "x": [str(c) for c in x]},
                         counterexample=_counterexample(problem, x, gap, m, how), evidence=ev)
    if search.ratio < float(m) * (1 + EVIDENCE_MARGIN) + 1e-12:
        if search.ratio >= float(m):
            return d.inconclusive("multi-scale search", f"no violation found, but the worst "
                                  f"ratio found ({search.ratio:.8g}) is within "
                                  f"{EVIDENCE_MARGIN:.0%} of the modulus: sampling cannot "
                                  f"support the claim; z3: {outcome.detail or outcome.answer}",
                                  evidence=ev)
        return d.inconclusive("multi-scale search", f"the ratio {search.ratio:.6g} < "
                              f"{float(m):.6g} was found numerically but could not be "
                              f"re-checked; z3: {outcome.detail or outcome.answer}",
                              evidence=ev)
    return d.evidence("multi-scale search of the ratio",
                      f"no violation in {search.evaluations} evaluations (worst ratio "
                      f"{search.ratio:.6g}); no exact decision: {outcome.detail}",
                      sample_size=search.evaluations, evidence=ev)


def decide_modulus(problem: SharpProblem, value: sp.Expr, *, seed: int = 0,
                   budget: int | None = None, claim: dict | None = None,
                   cone: bool = True) -> Verdict:
    """Decide alpha* = value (a convex f by the cone bound first, see ``decide_sharp``)."""
    d = Decision(claim or problem.claim(kinds.SHARPNESS_MODULUS, value=value))
    verdict = convex_cone.decide_modulus(problem, value, claim=d.claim, seed=seed) \
        if cone else None
    if verdict is not None:
        return verdict
    r = best_constant(problem, seed=seed, budget=budget, cone=cone)
    v = float(value)
    ev = {"lower": r.lower, "upper": r.upper, "lower_how": r.lower_how,
          "upper_how": r.upper_how, "witness": r.witness,
          "exact": str(r.exact) if r.exact is not None else None,
          "evaluations": r.evaluations, "z3_calls": r.z3_calls}
    common = dict(evidence=ev, bounds=(r.lower, r.upper))
    if math.isnan(r.lower) or math.isnan(r.upper):
        return d.inconclusive("bounds", "a bound is NaN", evidence=ev)
    if r.exact is not None and sp.simplify(r.exact - value) == 0:
        return d.proved("proof + exact upper bound", f"alpha* = {r.exact} ({r.lower_how}; "
                        f"{r.upper_how})", certificate={"kind": "modulus-exact",
                                                        "lower": r.lower_certificate,
                                                        "upper": r.upper_certificate},
                        **common)
    if r.upper_certificate is not None and _certainly(r.upper_value - value, "<"):
        return d.refuted(r.upper_how, f"alpha* <= {r.upper_value} < {value}",
                         certificate=r.upper_certificate,
                         counterexample={"claimed": str(value), "upper": str(r.upper_value),
                                         **r.witness}, **common)
    if r.lower_certificate is not None and _certainly(r.lower_value - value, ">"):
        return d.refuted(r.lower_how, f"alpha* >= {r.lower_value} > {value}",
                         certificate=r.lower_certificate,
                         counterexample={"claimed": str(value),
                                         "proved_modulus": str(r.lower_value)}, **common)
    if math.isfinite(r.lower) and r.lower <= v <= r.upper:
        return d.evidence("proved lower bound + witness upper bound",
                          f"{value} lies in the sound interval [{r.lower:.10g}, "
                          f"{r.upper:.10g}] but equality was not proved",
                          sample_size=r.evaluations, **common)
    return d.inconclusive(r.upper_how, "no lower bound could be proved (z3 cannot encode f, "
                          f"or the budget ran out); alpha* <= {r.upper:.10g}", **common)


def _certainly(value: sp.Expr, relation: str) -> bool:
    ball = arb_eval(value)
    return bool(ball < 0) if relation == "<" else bool(ball > 0)


def sharpness_modulus_of(f: sp.Expr, at: Sequence[Any], *, norm: str = "2",
                         variables: Sequence[sp.Symbol] | None = None, seed: int = 0,
                         budget: int | None = None) -> ModulusResult:
    """alpha*(f, at) with sound bounds: the public function behind ``sharpness-modulus``."""
    variables = tuple(variables) if variables is not None else tuple(
        sorted(f.free_symbols, key=lambda s: s.name))
    return best_constant(SharpProblem(f, variables, tuple(at), str(norm)), seed=seed,
                         budget=budget)


# --------------------------------------------------------------------------------------------
# tilt and Lipschitz stability
# --------------------------------------------------------------------------------------------

def tilt_for(problem: SharpProblem, x: Sequence[sp.Rational], radius: sp.Expr
             ) -> tuple[tuple[sp.Expr, ...], sp.Expr]:
    """A rational tilt xi (dual norm s < radius) for which x beats the point (see the module
    docstring): s times a dual unit vector aligned with d = x - p, with s between the ratio at x
    and the radius (in the 2-norm the direction is rounded, keeping the dual norm below the
    radius; the kernel re-checks both)."""
    d = [sp.Rational(a) - b for a, b in zip(x, problem.point)]
    ratio = (problem.f.subs(dict(zip(problem.variables, x))) - problem.f_point) / \
        problem.exact_norm(x)
    s = simplest_between(max(arb_hi(arb_eval(ratio)), 0.0), radius)
    if problem.norm == "2":
        length = sp.sqrt(sum(c**2 for c in d))
        target = [float(sp.Rational(s) * c / length) for c in d]
        for denominator in (10, 100, 10**3, 10**4, 10**6, 10**9, 10**12):
            xi = list(rational_point(target, denominator))
            lin = sum(c * (a - b) for c, a, b in zip(xi, x, problem.point))
            gap = arb_eval(problem.f.subs(dict(zip(problem.variables, x))) - problem.f_point
                           - lin)
            if (sum(c**2 for c in xi) < radius**2) is sp.true and gap < 0:
                break
    elif problem.norm == "1":          # dual norm inf: xi = s * sign(d)
        xi = [s * sp.sign(c) for c in d]
    else:                              # dual norm 1: xi = s * e_k * sign(d_k), |d_k| maximal
        k = max(range(len(d)), key=lambda i: abs(float(d[i])))
        xi = [s * sp.sign(d[k]) if i == k else sp.Integer(0) for i in range(len(d))]
    return tuple(xi), s


def decide_stability(problem: SharpProblem, radius: sp.Expr, *, kind: str, form: str,
                     seed: int = 0, budget: int | None = None,
                     claim: dict | None = None, cone: bool = True) -> Verdict:
    """tilt-stable / lipschitz-stable: reduce to sharpness with modulus ``radius`` (exact
    equivalence, see the module docstring) and cross-check with tilted problems."""
    if form not in ("argmin", "implication"):
        raise InvalidClaim(f"form must be 'argmin' or 'implication', got {form!r}")
    claim = claim or problem.claim(kind, radius=radius, **({"form": form}
                                                          if kind == kinds.TILT_STABLE
                                                          else {}))
    d = Decision(claim)
    sharp_verdict = decide_sharp(problem, radius, seed=seed, budget=budget, cone=cone)
    tilt = kind == kinds.TILT_STABLE
    source = "Proposition 1" if tilt else "Theorem 2 (easy direction)"
    ev: dict[str, Any] = {"reduction": f"sharp with modulus {radius} <=> claim "
                          f"({'derived' if tilt else 'Theorem 2'})",
                          "sharpness": sharp_verdict.to_dict()}
    cross = tilted_cross_check(problem, radius, seed=seed)
    ev["tilted_problems"] = cross
    if sharp_verdict.status is Status.PROVED:
        if cross["below_moved"]:
            return d.error("deciders disagree: sharpness is proved but a tilted problem below "
                           "the radius has a better point, re-checked in ball arithmetic "
                           "(please report this)", evidence=ev)
        return d.proved(f"sharpness proof + {source}", f"sharp with modulus {radius}, hence "
                        f"the claim ({source}); {cross['summary']}",
                        certificate=sharp_verdict.certificate, evidence=ev)
    if sharp_verdict.status is Status.REFUTED:
        x = [sp.Rational(c) for c in sharp_verdict.certificate["x"]]
        xi, s = tilt_for(problem, x, radius)
        lin = sum(c * (a - b) for c, a, b in zip(xi, x, problem.point))
        gap = arb_eval(problem.f.subs(dict(zip(problem.variables, x))) - problem.f_point - lin)
        if not gap < 0:
            return d.inconclusive("ball arithmetic", "a violating x was found but the tilt "
                                  "could not be re-checked", evidence=ev)
        what = "xi" if tilt else "zeta(y) = -<xi, y>"
        counter = {"xi": [str(c) for c in xi], "dual_norm_of_xi": str(s),
                   "x": [str(c) for c in x], "tilted_gap_upper": arb_hi(gap),
                   "perturbation": what,
                   "meaning": "f(x) - <xi, x> < f(point) - <xi, point>: the point is not a "
                              "minimizer of the tilted function"}
        cert = {"kind": "tilt", "xi": counter["xi"], "x": counter["x"]}
        if form == "argmin":
            return d.refuted("explicit tilt, re-checked in ball arithmetic",
                             f"for xi = {counter['xi']} (dual norm < {radius}) the point is "
                             "not in the argmin", certificate=cert, counterexample=counter,
                             evidence=ev)
        a1, a1_cert = assumption1(problem)
        if a1.holds:
            return d.refuted("explicit tilt + Assumption 1", f"for xi = {counter['xi']} the "
                             "tilted problem has a minimizer (Assumption 1 verified) and it is "
                             "not the point", certificate={**cert, "assumption1": a1_cert},
                             counterexample=counter, assumptions=[a1], evidence=ev)
        return d.inconclusive("explicit tilt", "the point is not sharp with this modulus, but "
                              "Assumption 1 could not be verified: in the implication form the "
                              "condition may hold vacuously (empty argmin, as for |x|^(1/2))",
                              assumptions=[a1], evidence=ev)
    return d.verdict(sharp_verdict.status, sharp_verdict.method,
                     f"sharpness with modulus {radius}: {sharp_verdict.message}",
                     sample_size=sharp_verdict.sample_size, evidence=ev)


__all__ = ["DEFAULT_BUDGET", "ModulusResult", "SharpOutcome", "assumption1", "best_constant",
           "decide_modulus", "decide_sharp", "decide_stability", "prove_sharp",
           "sharpness_modulus_of", "tilt_beats_point", "tilt_for", "tilted_cross_check"]
