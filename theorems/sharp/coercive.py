"""Assumption 1 of Dominguez Corella's Theorem 1 (every tilted problem has a minimizer),
through a sufficient condition: f continuous on a closed domain and supercoercive,
f(x) >= eps ||x - p||^2 - K for all x. The supercoercivity is the kernel's own ``forall``
statement (:func:`verify.kernel.sharp.coercivity_claim`), proved exactly where it can be (real
roots in one variable, Positivstellensatz certificates in several), else by z3 and cvc5.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import sympy as sp

from theorems.exact import Budget, solve
from theorems.sharp.problem import SharpProblem
from verify.errors import UnsupportedFunction
from verify.kernel import sharp as sharp_kernel
from verify.kernel.smt import confirm_unsat
from verify.verdict import Assumption, Status


def assumption1(problem: SharpProblem, *, budget: Budget | None = None
                ) -> tuple[Assumption, dict[str, Any] | None]:
    """Assumption 1 through a sufficient condition: f continuous on a closed domain and
    supercoercive, f(x) >= eps ||x - p||^2 - K for all x (z3 and cvc5). Returns the assumption
    and, when it holds, its ``supercoercive`` certificate."""
    name = "Assumption 1"
    if not sharp_kernel.continuous_on_closed_domain(problem.f):
        return Assumption(name, None, "f has a division, a log, a jump or a transcendental "
                          "function: lower semicontinuity on a closed domain is not checked"), None
    eps = sp.Rational(1, 1000)
    X = problem.p + np.logspace(-3, 3, 25)[:, None, None] * np.random.default_rng(0) \
        .standard_normal((1, 64, problem.dim))
    flat = X.reshape(-1, problem.dim)
    vals = problem.fvalues(flat) - float(eps) * np.sum((flat - problem.p) ** 2, axis=-1)
    finite = vals[np.isfinite(vals)]
    K = sp.Integer(int(max(0.0, -float(np.min(finite)))) * 2 + 1) if finite.size else \
        sp.Integer(1)
    claim = problem.claim()
    exact = _exact_supercoercivity(claim, eps, K)
    if exact is not None:
        return (Assumption(name, True, f"f continuous on a closed domain and supercoercive: "
                           f"f(x) >= {eps}*||x - p||^2 - {K} proved exactly ("
                           f"{exact['kind']}); then every tilted problem has a minimizer"),
                {"kind": "supercoercive", "eps": str(eps), "K": str(K), "proof": exact})
    try:
        text = sharp_kernel.coercivity_query(claim, eps, K)
    except UnsupportedFunction as exc:
        return Assumption(name, None, f"supercoercivity not checked: {exc}"), None
    answer = solve(text, budget)
    if answer.result == "unsat":
        ok, reason = confirm_unsat([text])
        if ok:
            return (Assumption(name, True, f"f continuous on a closed domain and "
                               f"supercoercive: z3 and cvc5 proved f(x) >= {eps}*||x - p||^2 - "
                               f"{K}; then every tilted problem has a minimizer (Theta = X*)"),
                    {"kind": "supercoercive", "eps": str(eps), "K": str(K), "texts": [text]})
        return Assumption(name, None, f"supercoercivity: z3 unsat, not confirmed: {reason}"), None
    return Assumption(name, None, f"supercoercivity not proved (z3: {answer.result})"), None


def _exact_supercoercivity(claim: dict, eps: sp.Rational, K: sp.Rational) -> dict | None:
    """An exact proof of f(x) >= eps ||x - p||^2 - K (the kernel's forall statement): real
    roots in one variable, Psatz certificates in several; None when neither applies."""
    from theorems.facts.kinds import FORALL, decide_forall
    from verify.verdict import Claim

    forall = sharp_kernel.coercivity_claim(claim, eps, K)
    verdict = decide_forall(Claim(FORALL, {}, id="supercoercive"), data=forall)
    if verdict.status is Status.PROVED and verdict.certificate["kind"] in ("real-roots",
                                                                           "psatz"):
        return verdict.certificate
    return None
