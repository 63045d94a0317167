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
    from verify.kernel.minorant import minorant_claims
    from verify.kernel.sos import forall_cases

    t0 = time.perf_counter()
    parts = split(problem)
    if parts is None:
        return None
    g, t = parts
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
    modulus = sp.Rational(cone["modulus"]) - c if sp.sympify(cone["modulus"]).is_Rational \
        else m
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
