"""Probabilistic and numerical certificates of curvature estimates (model certificates).

The kernel cannot re-run a network; it re-derives every bound from the raw numbers stored in
the certificate, with its own formulas, and decides exactly what can be decided exactly:

The claim states the dimension (``parameters``), the ``confidence`` and the flat band
(``flat_tolerance``); the certificates carry only the raw numbers of the runs.

* ``kw-bound`` ``{theta_max, theta_min, steps, breakdown?, residual?}``: an upper bound of
  lambda_max valid with probability >= the claim's confidence after ``steps`` Lanczos steps from
  a random start (Kuczynski and Wozniakowski 1992, Theorem 4.2, applied to H and -H),
  recomputed here; the verdict's bounds must contain [theta_max, that bound] and its confidence
  must not exceed the claim's. Certifies ``model-certificate`` claims of part
  ``top-eigenvalues``.
* ``spectrum-in-filter`` ``{top, bottom}``: two kw-bounds enclose the spectrum in
  [lambda_min_low, lambda_max_up] (probability >= 1 - the two failure probabilities); outside
  the flat band that interval lies in the optimizer's filter set, decided exactly by
  :mod:`verify.kernel.univariate` on the kernel's own closed-disk conditions. Certifies part
  ``filter``.
* ``eigenvalue-outside-filter`` ``{value, tol, residual, recheck}``: an eigenvalue estimate
  whose interval [value - tol, value + tol] (tol >= its Lanczos residual) misses the filter
  set, decided exactly, and whose Rayleigh quotient was recomputed through an independent
  product path (finite differences) within tol. Refutes part ``filter``; the floating-point
  products themselves are trusted as measured.
* ``kw-lambda-max`` ``{theta_max, theta_min, steps, breakdown, residual, upper}``: lambda_max
  <= the claim's ``at_most`` with probability >= the claim's ``confidence``; the bound is
  recomputed with the claim's dimension (``parameters``) and confidence and must equal the
  stored ``upper``. Certifies part ``lambda-max``.
* ``rayleigh-above`` ``{value, recheck}``: a Rayleigh quotient above ``at_most`` by more than
  the kernel's re-check tolerance, recomputed by finite differences within it. Refutes part
  ``lambda-max``.
"""

from __future__ import annotations

import math
from fractions import Fraction
from typing import Mapping

import sympy as sp

from verify.kernel import checker, establishes, require


def kw_upper(theta_max: float, theta_min: float, steps: int, dim: int, confidence: float
             ) -> float:
    """theta_max + eps (theta_max - theta_min) / (1 - 2 eps), eps from KW Theorem 4.2 with
    failure probability (1 - confidence)/2 on each of H and -H (inf when eps >= 1/2)."""
    q = int(steps) - 1
    if q < 1 or not 0 < confidence < 1:
        return math.inf
    root = math.log(1.648 * math.sqrt(dim) / ((1 - confidence) / 2)) / (2 * q - 1)
    eps = max(root, 0.0) ** 2
    if not eps < 0.5:
        return math.inf
    return theta_max + eps * max(theta_max - theta_min, 0.0) / (1 - 2 * eps)


def _confidence(claim: Mapping) -> float:
    c = float(claim["confidence"])
    if not 0 < c < 1:
        raise ValueError("the claim's confidence must lie in (0, 1)")
    return c


def _dimension(claim: Mapping) -> int:
    dim = claim["parameters"]
    if isinstance(dim, bool) or not isinstance(dim, int) or dim < 1:
        raise ValueError("the claim's number of parameters must be a positive integer")
    return dim


def kw_bound(cert: Mapping, claim: Mapping) -> tuple[float, float]:
    """(the Rayleigh lower end theta_max, the upper bound of lambda_max valid with the claim's
    confidence) recomputed from the raw Lanczos numbers of ``cert``, the claim's dimension and
    confidence. The raw numbers are trusted as measured (tier probabilistic)."""
    from verify.kernel import uses

    uses("probabilistic", "Lanczos Ritz values trusted as measured")
    theta_max, theta_min = float(cert["theta_max"]), float(cert["theta_min"])
    if not (math.isfinite(theta_max) and math.isfinite(theta_min) and theta_min <= theta_max):
        raise ValueError("the Ritz values must be finite, theta_min <= theta_max")
    if cert.get("breakdown"):  # an invariant Krylov subspace: a Ritz value plus its residual
        residual = float(cert["residual"])
        if not (math.isfinite(residual) and residual >= 0):
            raise ValueError("the residual must be finite and >= 0")
        upper = theta_max + residual
    else:
        steps = cert["steps"]
        if isinstance(steps, bool) or not isinstance(steps, int):
            raise ValueError("steps is an integer")
        upper = kw_upper(theta_max, theta_min, steps, _dimension(claim), _confidence(claim))
    if not math.isfinite(upper):
        raise ValueError("too few Lanczos steps for a finite bound at this confidence")
    return theta_max, upper


@checker("kw-bound")
def _check_kw(claim: Mapping, status: str, cert: Mapping) -> tuple[bool, str]:
    """lambda_max lies in [theta_max, upper] with probability >= the claim's confidence: the
    verdict's bounds must contain that interval and its confidence must not exceed the claim's."""
    if claim.get("part") != "top-eigenvalues" or status != "certified":
        return False, "a kw-bound certifies the top eigenvalues of a model certificate"
    lower, upper = kw_bound(cert, claim)
    establishes(confidence=_confidence(claim), bounds=(lower, upper))
    return True, ""


def _filter_condition(claim: Mapping) -> sp.Basic:
    from verify.kernel.filters import LAM, filter_condition

    hyper = {"method": claim["optimizer"], **{k: claim[k] for k in ("alpha", "beta", "rho")
                                               if claim.get(k) is not None},
             "method_sha256": claim.get("optimizer_sha256"), "hyper": claim.get("hyper")}
    return filter_condition(hyper, LAM)


def _flat(claim: Mapping) -> sp.Rational:
    flat = sp.Rational(str(claim["flat_tolerance"]))
    if flat < 0:
        raise ValueError("the flat tolerance is >= 0")
    return flat


@checker("spectrum-in-filter")
def _check_spectrum(claim: Mapping, status: str, cert: Mapping) -> tuple[bool, str]:
    """Two kw-bounds (H and -H) enclose the spectrum in [lambda_min_low, lambda_max_up] with
    probability >= 1 - 2 (1 - confidence); outside the claim's flat band that interval lies in
    the filter set, decided exactly (:mod:`verify.kernel.univariate`)."""
    from verify.kernel.filters import LAM
    from verify.kernel.univariate import decide

    if claim.get("part") != "filter" or status != "certified":
        return False, "spectrum-in-filter certifies the filter part of a model certificate"
    _, upper = kw_bound(cert["top"], claim)
    _, neg_lower = kw_bound(cert["bottom"], claim)
    lo, hi = sp.Rational(repr(-neg_lower)), sp.Rational(repr(upper))
    flat = _flat(claim)
    inside = sp.And(LAM >= lo, LAM <= hi, sp.Or(LAM < -flat, LAM > flat))
    result = decide(sp.Implies(inside, _filter_condition(claim)), LAM)
    if not result.holds:
        return False, f"the enclosure leaves the filter set at lambda = {result.witness.text()}"
    establishes(confidence=max(1e-12, 1 - 2 * (1 - _confidence(claim))))
    return True, ""


@checker("eigenvalue-outside-filter")
def _check_outside(claim: Mapping, status: str, cert: Mapping) -> tuple[bool, str]:
    """An eigenvalue estimate whose interval [value - tol, value + tol] (tol >= its residual, the
    independent re-check within tol) misses the flat band and the filter set, decided exactly;
    the measured numbers are trusted as measured."""
    from verify.kernel import uses
    from verify.kernel.filters import LAM
    from verify.kernel.univariate import decide

    if claim.get("part") != "filter" or status != "refuted":
        return False, "an eigenvalue outside the filter refutes the filter part"
    uses("probabilistic", "an eigenvalue estimate trusted as measured")
    value, tol = float(cert["value"]), float(cert["tol"])
    if not all(math.isfinite(v) for v in (value, tol, float(cert["residual"]),
                                          float(cert["recheck"]))):
        return False, "the measured numbers must be finite"
    if not (tol >= float(cert["residual"]) and abs(float(cert["recheck"]) - value) <= tol):
        return False, "the interval is narrower than the residual, or the re-check disagrees"
    flat = _flat(claim)
    lo, hi = sp.Rational(repr(value - tol)), sp.Rational(repr(value + tol))
    if not (lo > flat or hi < -flat):
        return False, "the eigenvalue interval meets the flat band"
    result = decide(sp.Implies(sp.And(LAM >= lo, LAM <= hi), sp.Not(_filter_condition(claim))),
                    LAM)
    return require(result.holds, "the eigenvalue interval meets the filter set")


# --------------------------------------------------------------------------------------------
# lambda_max <= at_most for a model (part "lambda-max"): the claim states at_most, the
# confidence and the dimension; the certificate holds only the Lanczos witnesses
# --------------------------------------------------------------------------------------------

#: relative accuracy of the finite-difference re-check of a Rayleigh quotient (float32 or
#: float64 products of a model); the kernel's own constant, never the certificate's
RAYLEIGH_RECHECK_RTOL = 1e-3
#: what the stored bound and the kernel's recomputation may differ by (rounding of the formula)
_AGREE_RTOL = 1e-12

def _lambda_max_claim(claim: Mapping) -> tuple[bool, str]:
    if claim.get("kind") != "model-certificate" or claim.get("part") != "lambda-max":
        return False, "this certificate decides the lambda-max part of a model certificate"
    for key in ("at_most", "parameters"):
        if claim.get(key) is None:
            return False, f"the claim has no {key}"
    return True, ""


def _exact(value: object) -> Fraction:
    """A claim's number (a float, or an exact string such as "1/3") or a float, exactly."""
    return Fraction(str(value)) if isinstance(value, str) else Fraction(repr(float(value)))


@checker("kw-lambda-max")
def _check_kw_lambda_max(claim: Mapping, status: str, cert: Mapping) -> tuple[bool, str]:
    """lambda_max(H) <= at_most with probability >= the claim's confidence: the
    Kuczynski-Wozniakowski bound recomputed from the witnesses (top and bottom Ritz values, the
    number of Lanczos steps; on a breakdown the top Ritz value plus its residual) with the
    claim's dimension and confidence, equal to the stored bound (so that no witness can be
    edited alone) and at most the claim's at_most."""
    from verify.kernel import uses

    ok, reason = _lambda_max_claim(claim)
    if not ok or status != "certified":
        return False, reason or "a probabilistic bound certifies"
    uses("probabilistic", "Lanczos Ritz values trusted as measured")
    confidence = claim.get("confidence")
    if confidence is None or not 0 < float(confidence) < 1:
        return False, "the claim states no confidence in (0, 1)"
    if isinstance(cert.get("steps"), bool) or not isinstance(cert.get("steps"), int):
        return False, "steps must be an integer"
    if cert.get("breakdown"):
        recomputed = float(cert["theta_max"]) + abs(float(cert["residual"]))
    else:
        recomputed = kw_upper(float(cert["theta_max"]), float(cert["theta_min"]),
                              int(cert["steps"]), int(claim["parameters"]), float(confidence))
    upper = float(cert["upper"])
    if not (math.isfinite(upper) and math.isfinite(recomputed)):
        return False, "no finite bound (too few Lanczos steps)"
    if abs(upper - recomputed) > _AGREE_RTOL * max(1.0, abs(recomputed)):
        return False, f"the stored bound {upper} is not the recomputed {recomputed}"
    bound = _exact(max(upper, recomputed))
    bound += Fraction(_AGREE_RTOL) * max(1, abs(bound))     # the formula's rounding, upwards
    if bound > _exact(claim["at_most"]):
        return False, f"the bound {float(bound)} exceeds at_most = {claim['at_most']}"
    establishes(confidence=float(confidence), bounds=(float(cert["theta_max"]), recomputed))
    return True, ""


@checker("rayleigh-above")
def _check_rayleigh_above(claim: Mapping, status: str, cert: Mapping) -> tuple[bool, str]:
    """lambda_max(H) > at_most: a Rayleigh quotient v^T H v (v a unit vector, so at most
    lambda_max) that exceeds at_most by more than the re-check tolerance, and its recomputation
    through finite-difference products within that tolerance. The products are trusted as
    measured; the tolerance is the kernel's."""
    from verify.kernel import uses

    ok, reason = _lambda_max_claim(claim)
    if not ok or status != "refuted":
        return False, reason or "a Rayleigh quotient above at_most refutes"
    uses("probabilistic", "Rayleigh quotients trusted as measured")
    value, recheck = float(cert["value"]), float(cert["recheck"])
    if not (math.isfinite(value) and math.isfinite(recheck)):
        return False, "non-finite Rayleigh quotient"
    v = _exact(value)
    tol = Fraction(RAYLEIGH_RECHECK_RTOL) * abs(v)
    if abs(_exact(recheck) - v) > tol:
        return False, f"the re-check {recheck} is not within {float(tol):.3g} of {value}"
    return require(v - tol > _exact(claim["at_most"]),
                   f"{value} - {float(tol):.3g} does not exceed at_most = {claim['at_most']}")
