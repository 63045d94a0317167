"""Sharpness from a convex minorant (Dominguez Corella, Definition 1).

If f >= g - c ||x - p|| everywhere (c >= 0, the *slack*), g(p) = f(p) and g is a convex
function with g'(p; h) >= (m + c) ||h|| at p (its cone certificate, :mod:`verify.kernel.cone`),
then for every x

    f(x) >= g(x) - c ||x - p|| >= g(p) + (m + c) ||x - p|| - c ||x - p|| = f(p) + m ||x - p||,

so f is sharp at p with modulus m. Nonconvex functions built as a convex sharp part plus a
bounded or capped tail that vanishes at p (``sigma_P(x - p) + Min(||x - p||^2, w)``) are the
typical case: their sharpness then has an exact certificate, at an irrational modulus too
(the cone's S-lemma needs only m^2 rational).

``convex-minorant`` ``{modulus m, minorant g, slack c?, cone, gap}``: ``g`` a formula over
the claim's variables and c a rational (witnesses), ``cone`` a ``convex-cone`` certificate of
"g is sharp with modulus m + c at the claim's point in the claim's norm", ``gap`` a ``psatz``
certificate of the ``forall`` statement "f - g + c ||x - p|| >= 0"
(:func:`verify.kernel.sos.forall_cases`; the norm's square root or absolute values lifted).
The gap may instead be ``{"kind": "radial"}`` (2-norm only): the kernel shows that f - g is a
function phi of r = ||x - p||_2 alone (:func:`radial_profile`) and decides "phi(r) + c r >= 0
for every r >= 0" exactly in one variable (:mod:`verify.kernel.univariate`); the slack may then
be any real algebraic number >= 0. A dip -Min(||x - p||^2, w) below a polyhedral sharp part
needs the slack sqrt(w), irrational in general: its sharpness, at alpha* = alpha_P - sqrt(w)
itself, is proved this way. The kernel derives every statement from the claim (its f, point,
norm and variables) and the witness g, and checks g(p) = f(p) exactly. It proves what
``sharp-smt`` proves (the same claim kinds and modulus rules, :mod:`verify.kernel.sharp`).
"""

from __future__ import annotations

from typing import Any, Mapping

import sympy as sp

from verify.kernel import checker, require
from verify.kernel.facts import identically_zero, parse, parse_constant


def slack(cert: Mapping) -> sp.Expr:
    """The certificate's slack c >= 0 (0 when absent): f - g >= -c ||x - p||. Rational, or
    a real algebraic number with a radial gap."""
    from verify.kernel.facts import sign_holds

    c = parse_constant(cert.get("slack", "0"))
    if c.is_Rational:
        if c < 0:
            raise ValueError("the slack is >= 0")
        return c
    gap = cert.get("gap")
    if not (isinstance(gap, Mapping) and gap.get("kind") == "radial"):
        raise ValueError("an irrational slack needs a radial gap")
    if not (c.is_number and c.is_algebraic and c.is_real and sign_holds(c, ">=")):
        raise ValueError("the slack is a real algebraic number >= 0")
    return c


def radial_profile(e: sp.Expr, variables: Any, point: Any, r: sp.Symbol) -> sp.Expr | None:
    """phi with e(x) = phi(||x - p||_2) for every real x, as an expression in the positive
    symbol ``r``; None when e is not recognised as radial.

    With d = x - p and rest = d_2^2 + ... + d_n^2, e is written with d_1 = +sqrt(r^2 - rest)
    and with d_1 = -sqrt(r^2 - rest) (every x has one of the two forms with r = ||d||_2); both
    must be free of d_2..d_n and agree at every r >= 0 (decided exactly in one variable)."""
    from verify.kernel.univariate import Unsupported, decide

    ds = [sp.Dummy(f"d{i}", real=True) for i in range(len(variables))]
    e = e.xreplace({v: p + d for v, p, d in zip(variables, point, ds)})
    root = sp.sqrt(r ** 2 - sum(d ** 2 for d in ds[1:]))
    plus, minus = e.xreplace({ds[0]: root}), e.xreplace({ds[0]: -root})
    if (plus.free_symbols | minus.free_symbols) - {r}:
        return None
    t = sp.Symbol("t", real=True)
    try:
        same = decide(sp.Implies(t >= 0, sp.Eq(plus.xreplace({r: t}), minus.xreplace({r: t}))),
                      t)
    except (Unsupported, ValueError, TypeError, sp.PolynomialError):
        return None
    return plus if same.holds else None


def radial_gap_holds(claim: Mapping[str, Any], cert: Mapping) -> tuple[bool, str]:
    """f - g + c ||x - p||_2 >= 0 for every x, through the radial profile of f - g."""
    from verify.formula import make_symbols
    from verify.kernel.univariate import Unsupported, decide

    if str(claim.get("norm", "2")) != "2":
        return False, "a radial gap needs the 2-norm"
    variables = make_symbols(claim["variables"])
    e = parse(claim["f"], variables) - parse(cert["minorant"], variables)
    point = [parse_constant(c) for c in claim["point"]]
    r = sp.Symbol("r", positive=True)
    phi = radial_profile(e, variables, point, r)
    if phi is None:
        return False, "f - g is not recognised as a function of ||x - p||_2"
    t = sp.Symbol("t", real=True)
    gap = (phi + slack(cert) * r).xreplace({r: t})
    try:
        result = decide(sp.Implies(t > 0, gap >= 0), t)
    except (Unsupported, ValueError, TypeError, sp.PolynomialError) as exc:
        return False, f"f - g + c r >= 0 is outside the one-variable procedure ({exc})"
    return require(result.holds, f"f - g + c r < 0 at r = "
                                 f"{result.witness.text() if result.witness else '?'}")


def minorant_claims(claim: Mapping[str, Any], cert: Mapping) -> tuple[dict, dict, sp.Expr]:
    """(the sharpness claim of g with modulus m + c, the forall claim
    f - g + c ||x - p|| >= 0, the difference g(p) - f(p) that must vanish), derived from the
    claim (its f, point, norm, variables) and the witnesses g, m and c."""
    from verify.formula import make_symbols
    from verify.kernel.sharp import Problem

    variables = make_symbols(claim["variables"])
    f = parse(claim["f"], variables)
    g = parse(cert["minorant"], variables)
    point = [parse_constant(c) for c in claim["point"]]
    at = dict(zip(variables, point))
    c = slack(cert)
    m = parse_constant(cert["modulus"])
    norm = str(claim.get("norm", "2"))
    sharp = {"kind": "sharp-minimizer", "variables": list(claim["variables"]), "f": str(g),
             "point": list(claim["point"]), "modulus": str(m + c), "norm": norm}
    distance = Problem({"f": "0", "variables": list(claim["variables"]),
                        "point": list(claim["point"]), "norm": norm}).norm_of(
        [v - p for v, p in zip(variables, point)])
    gap = {"kind": "forall", "variables": list(claim["variables"]),
           "conclusion": f"{f - g + c * distance} >= 0"}
    return sharp, gap, (g - f).xreplace(at)


def check_minorant(claim: Mapping[str, Any], cert: Mapping) -> tuple[bool, str]:
    """``cert`` proves f sharp with its modulus at the claim's point (module docstring)."""
    from verify.kernel.cone import sharpness_holds
    from verify.kernel.sos import _check_forall_psatz

    sharp, gap, at_point = minorant_claims(claim, cert)
    if not identically_zero(at_point):
        return False, "the minorant does not equal f at the point"
    ok, why = sharpness_holds(sharp, cert.get("cone") or {}, parse_constant(sharp["modulus"]))
    if not ok:
        return False, f"the minorant's cone: {why}"
    gap_cert = cert.get("gap")
    if isinstance(gap_cert, Mapping) and gap_cert.get("kind") == "radial":
        return radial_gap_holds(claim, cert)
    if not isinstance(gap_cert, Mapping) or gap_cert.get("kind") != "psatz":
        return False, "the gap f - g >= 0 needs a psatz or a radial certificate"
    ok, why = _check_forall_psatz(gap, "proved", gap_cert)
    return require(ok, f"f - g >= 0: {why}")


@checker("convex-minorant")
def _check_convex_minorant(claim: Mapping, status: str, cert: Mapping) -> tuple[bool, str]:
    from verify.kernel.sharp import check_sharpness

    return check_sharpness(claim, status, cert)
