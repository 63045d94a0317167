r"""Lipschitz stability under one network perturbation (Dominguez Corella, Theorem 2).

If :math:`\bar x` is a sharp minimizer of f with modulus m, :math:`f(x) \ge f(\bar x) +
m\|x - \bar x\|` for all x, and :math:`|\zeta(x) - \zeta(y)| \le L\|x - y\|_2` with L < m, then
for :math:`x \ne \bar x`

.. math:: f(x) + \zeta(x) \ge f(\bar x) + \zeta(\bar x) + (m - L)\|x - \bar x\|_2
          > f(\bar x) + \zeta(\bar x),

so :math:`\operatorname{argmin}(f + \zeta) = \{\bar x\}` (Theorem 2, its easy direction, for
this one zeta). Here zeta is a network R^d -> R (a ``zeta_network`` file): L is certified by
LipSDP with an exact check (:mod:`theorems.networks`), m by z3 and cvc5
(:func:`theorems.sharp.deciders.prove_sharp`). LipSDP bounds the 2-norm constant; a modulus in
the 1-norm serves as it is (:math:`\|u\|_1 \ge \|u\|_2`), one in the inf-norm as
:math:`m / \sqrt d` (:math:`\|u\|_\infty \ge \|u\|_2 / \sqrt d`).

When the certified L is not below a provable modulus, the sufficient condition does not apply
and the verdict is inconclusive, never refuted on that basis: the argmin may still be
:math:`\{\bar x\}` (zeta = |x| and f = |x|/2 + x^2: L = 1 > 1/2 = m, yet 0 is the unique
minimizer of f + zeta). A claim that also has a radius R states, besides, the argmin for every
zeta with Lip(zeta) < R; a tilt refutes that part
(:func:`~theorems.sharp.deciders.decide_stability`).
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np
import sympy as sp

from theorems.exact import Budget
from theorems.networks import mathematics as networks
from theorems.sharp import kinds
from theorems.sharp.deciders import DEFAULT_BUDGET, decide_stability, prove_sharp
from theorems.sharp.problem import SharpProblem, simple_rational_beside
from verify.errors import InvalidClaim
from verify.kernel.facts import parse_constant, sign_holds
from verify.verdict import Decision, Status, Verdict

#: relative gaps above the certified Lipschitz bound at which a modulus is tried
MODULUS_GAPS = (1e-2, 1e-6)


def decide_claim(claim: Any, problem: SharpProblem, *, seed: int = 0,
                 budget: int | None = None) -> Verdict:
    """A ``lipschitz-stable`` claim with ``zeta_network``: load zeta, pin its fingerprint."""
    params = claim.params
    net = networks.load_network(params["zeta_network"])
    if net.in_features != problem.dim or net.out_features != 1:
        raise InvalidClaim(f"zeta_network {net.source} maps R^{net.in_features} to "
                           f"R^{net.out_features}; the perturbation of f needs R^{problem.dim} "
                           "-> R")
    networks.pin_fingerprint(params, "zeta_network_sha256", net)
    return decide_perturbed(problem, net, params.get("radius"), claim=claim.describe(),
                            seed=seed, budget=budget)


def _sampled_gap(problem: SharpProblem, net: networks.Network, seed: int
                 ) -> tuple[float, float]:
    """min over sampled x of (f + zeta)(x) - (f + zeta)(point), and (f + zeta)(point), in
    floats (a cross-check of a proof, never a decision)."""
    rng = np.random.default_rng(seed)
    scales = np.logspace(-4, 2, 13)[:, None, None]
    X = (problem.p + scales * rng.standard_normal((1, 128, problem.dim))).reshape(-1,
                                                                                 problem.dim)
    values = problem.fvalues(X) + networks.forward_f64(net, X)[:, 0]
    at_p = problem.p[None, :]
    level = float(problem.fvalues(at_p)[0] + networks.forward_f64(net, at_p)[0, 0])
    finite = (values - level)[np.isfinite(values)]
    return (float(finite.min()) if finite.size else float("nan")), level


def decide_perturbed(problem: SharpProblem, net: networks.Network, radius: sp.Expr | None, *,
                     claim: Mapping[str, Any], seed: int = 0,
                     budget: int | None = None) -> Verdict:
    """argmin (f + zeta) = {point} (and, with ``radius``, for every zeta' with Lip < radius)."""
    d = Decision(claim)
    k = problem.dim if problem.norm == "inf" else 1
    ev: dict[str, Any] = {"reduction": "f sharp with modulus m, Lip_2(zeta) <= L, m > sqrt(k) L "
                                       f"(k = {k}) => argmin (f + zeta) = {{point}} (Theorem 2)",
                          "zeta": {"source": net.source, "sizes": net.sizes,
                                   "sha256": net.sha256}}
    sharp_cert, modulus = None, None
    if radius is not None:
        plain = {key: v for key, v in claim.items() if not key.startswith("zeta_network")}
        rv = decide_stability(problem, radius, kind=kinds.LIPSCHITZ_STABLE, form="argmin",
                              seed=seed, budget=budget, claim=plain)
        ev["radius_part"] = {"status": rv.status.value, "message": rv.message}
        if rv.status is Status.REFUTED:
            return d.refuted(rv.method, f"the radius part is false: {rv.message}",
                             certificate=rv.certificate, counterexample=rv.counterexample,
                             evidence=ev)
        if rv.status is not Status.PROVED:
            return d.inconclusive(rv.method, f"the radius part is not decided "
                                  f"({rv.status.value}: {rv.message})", evidence=ev)
        sharp_cert, modulus = rv.certificate, parse_constant(rv.certificate["modulus"])
    up = networks.lipsdp_bound(net)
    if up.rho is None:
        why = up.too_large or "; ".join(up.notes) or "no certificate"
        return d.inconclusive("LipSDP", f"no certified Lipschitz bound of zeta: {why}",
                              evidence=ev)
    rho = sp.Rational(int(up.rho.p), int(up.rho.q))
    lip = sp.sqrt(k * rho)                    # the 2-norm bound, in the claim's norm's terms
    ev["zeta_lipschitz"] = {"rho": str(up.rho), "bound": up.bound_float, "how": up.how,
                            "effective_bound": float(lip)}
    tried = []
    if modulus is None or not sign_holds(modulus ** 2 - k * rho, ">"):
        sharp_cert = None
        z3_budget = Budget(DEFAULT_BUDGET if budget is None else budget)
        for rel in MODULUS_GAPS:
            m = simple_rational_beside(lip, +1, rel=rel)
            outcome = prove_sharp(problem, m, budget=z3_budget)
            tried.append({"modulus": str(m), "answer": outcome.answer,
                          "detail": outcome.detail})
            if outcome.answer == "holds":
                sharp_cert, modulus = outcome.certificate, m
                break
            if outcome.answer != "violated":
                break
        ev["moduli_tried"] = tried
    if sharp_cert is None:
        last = tried[-1] if tried else {"modulus": "?", "answer": "?"}
        return d.inconclusive("sharpness proof + LipSDP", f"zeta's certified Lipschitz bound "
                              f"{float(lip):.8g} is not below a proved sharpness modulus of f "
                              f"at the point (modulus {last['modulus']}: {last['answer']}): "
                              "Theorem 2's condition Lip(zeta) < m does not apply, and the "
                              "argmin of f + zeta may still be {point}", evidence=ev)
    gap, level = _sampled_gap(problem, net, seed)
    ev["sampled_min_gap"] = gap
    if gap < -1e-9 * (1 + abs(level)):
        return d.error("deciders disagree: the composition is proved but a sampled point has "
                       f"(f + zeta)(x) < (f + zeta)(point) by {-gap:.3g} in floats (please "
                       "report this)", evidence=ev)
    scaled = "sqrt(d) Lip_2(zeta)" if k > 1 else "Lip_2(zeta)"
    return d.proved("sharpness proof (z3, cvc5) + LipSDP (exact) + Theorem 2",
                    f"f is sharp at the point with modulus {modulus} > {float(lip):.8g} >= "
                    f"{scaled}, hence argmin (f + zeta) = {{point}}",
                    certificate={"kind": "sharp-lipsdp", "sharp": sharp_cert,
                                 "lipschitz": up.certificate}, evidence=ev)
