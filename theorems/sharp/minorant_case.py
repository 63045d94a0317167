"""Sharpness of a nonconvex f from a convex minorant: the minorant case of
:func:`theorems.sharp.deciders.prove_sharp`.

f = g + t with g the sum of the terms of f that the convex cone rules recognise and t the rest,
shifted so that t(p) = 0: when g is sharp with modulus m at p (the convex cone decider,
:mod:`theorems.sharp.convex_cone`) and t >= 0 everywhere (exact Positivstellensatz
certificates of the ``forall`` statement "f - g >= 0", :func:`verify.kernel.sos.forall_cases`),
f is sharp with modulus m (:mod:`verify.kernel.minorant`). A capped or bounded nonnegative tail
on a polyhedral sharp part is the typical case; the certificate is exact at an irrational
modulus too (the cone's S-lemma needs only m^2 rational). None when f does not split so, or a
part has no certificate (the other routes are tried).
"""

from __future__ import annotations

import time
from typing import Any

import sympy as sp


def split(problem: Any) -> tuple[sp.Expr, sp.Expr] | None:
    """(g, t): f = g + t, g the convex-recognised terms plus t's value at p, t(p) = 0."""
    from verify.kernel import cone as K

    at = dict(zip(problem.variables, problem.point))
    convex, rest = [], []
    for term in sp.Add.make_args(problem.f):
        claim = {"f": str(term), "variables": [v.name for v in problem.variables],
                 "point": [str(c) for c in problem.point], "norm": problem.norm}
        try:
            K.analyze(claim)
            convex.append(term)
        except (K.NotRecognised, ValueError):
            rest.append(term)
    if not convex or not rest:
        return None
    t = sp.Add(*rest)
    c = t.xreplace(at)
    if not c.is_Rational:
        return None
    return sp.Add(*convex) + c, t - c


def prove(problem: Any, m: sp.Expr) -> Any:
    """A "holds" :class:`~theorems.sharp.deciders.SharpOutcome` with a ``convex-minorant``
    certificate, or None."""
    from theorems.psatz import PsatzBudget, certify
    from theorems.sharp import convex_cone, kinds
    from theorems.sharp.deciders import SharpOutcome
    from theorems.sharp.problem import SharpProblem
    from verify.errors import UnsupportedFunction
    from verify.kernel import sharp as sharp_kernel
    from verify.kernel.facts import parse_constant
    from verify.kernel.minorant import minorant_claims
    from verify.kernel.sos import forall_cases

    t0 = time.perf_counter()
    parts = split(problem)
    if parts is None:
        return None
    g, t = parts
    radial = _prove_radial(problem, m, g, t)
    if radial is not None:
        radial.seconds = time.perf_counter() - t0
        return radial
    c = slack_needed(problem, t)
    if c is None:
        return None
    g_problem = SharpProblem(g, problem.variables, problem.point, problem.norm)
    g_claim = g_problem.claim(kinds.SHARP_MINIMIZER, modulus=m + c)
    verdict = convex_cone.decide_sharp(g_problem, m + c, claim=g_claim)
    if verdict is None or verdict.status.value != "proved":
        return None
    cone = verdict.certificate
    claim = problem.claim(kinds.SHARP_MINIMIZER, modulus=m)
    cone_modulus = parse_constant(cone["modulus"])
    modulus = cone_modulus - c if cone_modulus.is_Rational else m
    draft = {"kind": "convex-minorant", "modulus": str(modulus), "minorant": str(g),
             "cone": cone}
    if c:
        draft["slack"] = str(c)
    _, gap, _ = minorant_claims(claim, draft)
    try:
        cases = forall_cases(gap)
        certs = []
        for case in cases:
            cert, _ = certify(case, PsatzBudget(levels=2, max_basis=60, max_unknowns=15_000))
            if cert is None:
                return None
            certs.append(cert)
    except (UnsupportedFunction, ValueError, ImportError):
        return None
    certificate = {**draft, "gap": {"kind": "psatz", "cases": certs}}
    ok, _ = sharp_kernel.check_sharpness(claim, "proved", certificate)
    if not ok:
        return None
    return SharpOutcome("holds", f"f = g + t with g = {g} convex and sharp (cone certificate) "
                        f"and t >= 0 ({len(certs)} exact Psatz certificate(s))",
                        certificate=certificate, seconds=time.perf_counter() - t0,
                        method="convex minorant: cone and Positivstellensatz certificates")


def _prove_radial(problem: Any, m: sp.Expr, g: sp.Expr, t: sp.Expr,
                  alpha_g: sp.Expr | None = None) -> Any:
    """The radial route (2-norm): t a function of r = ||x - p|| alone, g convex with exact
    alpha*(g) = M (``alpha_g``: passed by a caller that has found t radial in the 2-norm and
    M exactly); the slack M - m (exact, irrational too) makes the cone certificate of g at M
    and the one-variable statement t(r) + (M - m) r >= 0 prove f sharp with modulus m. None
    when the route does not apply or the statement fails (m above alpha*(f))."""
    from theorems.sharp import convex_cone, kinds
    from theorems.sharp.deciders import SharpOutcome
    from theorems.sharp.problem import SharpProblem
    from verify.kernel import sharp as sharp_kernel
    from verify.kernel.facts import sign_holds
    from verify.kernel.minorant import radial_profile

    g_problem = SharpProblem(g, problem.variables, problem.point, problem.norm)
    if alpha_g is None:
        if problem.norm != "2" or radial_profile(t, problem.variables, problem.point,
                                                 sp.Symbol("r", positive=True)) is None:
            return None
        best = convex_cone.best_constant(g_problem)
        if best is None or best.exact is None:
            return None
        alpha_g = best.exact
    M = alpha_g
    c = sp.nsimplify(M - m) if not (M - m).is_Rational else M - m
    if not (c.is_number and c.is_algebraic and sign_holds(c, ">=")):
        return None
    verdict = convex_cone.decide_sharp(g_problem, M, claim=g_problem.claim(
        kinds.SHARP_MINIMIZER, modulus=M))
    if verdict is None or verdict.status.value != "proved":
        return None
    claim = problem.claim(kinds.SHARP_MINIMIZER, modulus=m)
    certificate = {"kind": "convex-minorant", "modulus": str(m), "minorant": str(g),
                   "slack": str(c), "cone": verdict.certificate, "gap": {"kind": "radial"}}
    ok, _ = sharp_kernel.check_sharpness(claim, "proved", certificate)
    if not ok:
        return None
    return SharpOutcome("holds", f"f = g + t with g = {g} convex, alpha*(g) = {M} (cone "
                        f"certificate), and t a function of r = ||x - p|| with t(r) >= -({c}) r "
                        "for every r >= 0 (exact, in one variable)", certificate=certificate,
                        seconds=0.0, method="convex minorant: cone certificate and an exact "
                        "radial gap")


def radial_best_constant(problem: Any, *, seed: int = 0) -> Any:
    """alpha*(f) exactly for f = g + t as in :func:`_prove_radial`: alpha*(g) - c* with
    c* = max over r > 0 of -t(r)/r, attained at r*; a ModulusResult whose lower certificate is
    the radial convex-minorant proof at alpha*(f) and whose upper one is the ratio at the
    algebraic point p + r* h/||h|| (h the cone's direction of least ratio of g). None when the
    route does not apply or c* is not found among the kinks and critical points of -t(r)/r."""
    import math

    from theorems.sharp import convex_cone
    from theorems.sharp.deciders import ModulusResult
    from theorems.sharp.problem import SharpProblem
    from verify.kernel.balls import arb_eval, arb_hi, arb_lo
    from verify.kernel.minorant import radial_profile
    from verify.kernel.univariate import Unsupported, constant_sign

    parts = split(problem) if problem.norm == "2" and problem.dim > 1 else None
    if parts is None:
        return None
    g, t = parts
    r = sp.Symbol("r", positive=True)
    phi = radial_profile(t, problem.variables, problem.point, r)
    if phi is None:
        return None
    best = convex_cone.best_constant(SharpProblem(g, problem.variables, problem.point, "2"),
                                     seed=seed)
    if best is None or best.exact is None or "direction" not in best.witness:
        return None
    found = None
    try:
        for r_star in _critical_radii(-phi / r, r):
            value = sp.nsimplify(sp.simplify((-phi / r).subs(r, r_star)))
            if found is None or constant_sign(value - found[1]) > 0:
                found = (r_star, value)
    except (Unsupported, ValueError, TypeError, NotImplementedError, sp.PolynomialError):
        return None
    if found is None or constant_sign(found[1]) < 0:
        return None
    r_star, c = found
    alpha = best.exact - c
    if constant_sign(alpha) <= 0:
        return None
    lower = _prove_radial(problem, alpha, g, t, alpha_g=best.exact)
    if lower is None:
        return None
    h = [sp.Rational(v) for v in best.witness["direction"]]
    length = sp.sqrt(sum(v ** 2 for v in h))
    x = [p + r_star * v / length for p, v in zip(problem.point, h)]
    ball = arb_eval(alpha)
    return ModulusResult(lower=arb_lo(ball), upper=arb_hi(ball), exact=alpha,
                         lower_how=f"convex minorant with a radial gap (proof that alpha* >= "
                                   f"{alpha})", upper_how=f"the ratio equals {alpha} at x = "
                                   f"p + {r_star} h/||h||, h = {best.witness['direction']}",
                         witness={"point": [str(v) for v in x]}, evaluations=0,
                         lower_value=alpha, upper_value=alpha,
                         lower_certificate=lower.certificate,
                         upper_certificate={"kind": "point-ratio",
                                            "x": [str(v) for v in x]}) \
        if math.isfinite(arb_hi(ball)) else None


def _critical_radii(psi: sp.Expr, r: sp.Symbol) -> list:
    """The positive real r where psi (built from Min, Max, Abs and rational functions of r)
    may have its supremum: the kinks (arguments of an extremum equal, an Abs argument 0) and
    the critical points of each smooth branch, exactly (SymPy's real roots)."""
    from itertools import combinations

    equations = []
    for node in sp.preorder_traversal(psi):
        if isinstance(node, (sp.Max, sp.Min)):
            equations += [a - b for a, b in combinations(node.args, 2)]
        elif isinstance(node, sp.Abs):
            equations.append(node.args[0])
    branches = [psi]
    for node in [n for n in sp.preorder_traversal(psi) if isinstance(n, (sp.Max, sp.Min))]:
        branches = [b.xreplace({node: a}) for b in branches for a in node.args]
    equations += [sp.diff(b, r) for b in branches]
    radii = []
    for eq in equations:
        num = sp.numer(sp.together(eq))
        if num.has(sp.Abs, sp.Max, sp.Min) or not num.free_symbols <= {r}:
            continue
        if num.free_symbols:
            for root in sp.Poly(num, r).real_roots():
                if root.is_positive and root not in radii:
                    radii.append(root)
    return radii


def slack_needed(problem: Any, t: sp.Expr, samples: int = 64) -> sp.Rational | None:
    """The slack c of the certificate: 0 when the rest t looks nonnegative, else a simple
    rational just above the largest -t(x) / ||x - p|| seen on spheres around p (a guess: the
    kernel checks f - g + c ||x - p|| >= 0 exactly). None when t is not finite there."""
    import numpy as np

    from theorems.sharp.problem import simplest_between

    fn = sp.lambdify(problem.variables, t, "numpy")
    rng = np.random.default_rng(0)
    d = problem.dim
    U = rng.standard_normal((samples, d))
    U /= np.linalg.norm(U, axis=1, keepdims=True)
    worst = 0.0
    for r in np.logspace(-3, 2, 41):
        X = problem.p + r * U
        with np.errstate(all="ignore"):
            vals = np.asarray(fn(*X.T), dtype=float) * np.ones(samples)
        dist = {"2": r, "1": r * np.abs(U).sum(axis=1), "inf": r * np.abs(U).max(axis=1)}[
            problem.norm]
        if not np.all(np.isfinite(vals)):
            return None
        worst = max(worst, float(np.max(-vals / dist)))
    if worst <= 0:
        return sp.Integer(0)
    return simplest_between(worst * (1 + 1e-7) + 1e-12, sp.Rational(worst * (1 + 1e-3)))


def upper_directions(problem: Any, *, seed: int = 0) -> list:
    """Directions of least ratio of the convex part g of :func:`split` (the cone decider's
    upper-bound search on g): along them f's ratio tends to g's when the rest vanishes to
    first order at p, so their exact ray limits for f are the candidate upper bounds of
    alpha*(f). Numeric arrays (for :func:`theorems.sharp.problem.directional_limits`)."""
    import numpy as np

    from theorems.sharp.cone_case import analyse
    from theorems.sharp.cone_upper import upper
    from theorems.sharp.problem import SharpProblem

    parts = split(problem)
    if parts is None:
        return []
    case = analyse(SharpProblem(parts[0], problem.variables, problem.point, problem.norm))
    if case is None:
        return []
    found = upper(case, seed=seed)
    if found is None:
        return []
    return [np.array([float(c) for c in found[0]])]
