"""The claim kind of Ahn, Jadbabaie and Sra's flat minima, declared once: ``flat-minimum``."""

from __future__ import annotations

from verify.errors import InvalidClaim
from verify.registry import Field, claim_kind, constructor, lazy_import
from verify.verdict import Claim, Verdict

PAPER = "Ahn, Jadbabaie, Sra 2024 (How to Escape Sharp Minima with Random Perturbations)"
deciders = lazy_import("theorems.escape.deciders")
FIRST_CONDITIONS = ("distance", "value", "gradient")


def _validate_smooth(params: dict) -> None:
    """f is C^2: flat minima are defined through its Hessian (checked when the claim is read,
    so a kinked f is an error naming the field, before anything is decided)."""
    import sympy as sp

    f = params["f"]
    kinks = sorted({a.func.__name__ for a in f.atoms(sp.Abs, sp.Max, sp.Min, sp.sign)})
    if kinks:
        raise InvalidClaim(f"field 'f': {f} uses {', '.join(kinks)}; a flat-minimum claim needs "
                           "a C^2 function (flat minima are defined through the Hessian)")


@claim_kind("flat-minimum", paper=PAPER,
            statement="the point is a flat local minimum (Definition 2: grad f = 0, Hess f PSD, "
                      "d Phi grad tr-bar = 0), or with eps an (eps, eps2)-flat one "
                      "(Definition 3, numerical)",
            fields=(Field("variables", "variables", "the variables of f", required=True),
                    Field("f", "formula", "a C^2 function (no Abs/Max/Min/sign)",
                          required=True),
                    Field("point", "point", "the point", required=True),
                    Field("eps", "number", "Definition 3: bound on the first condition",
                          check="nonnegative"),
                    Field("eps2", "number", "Definition 3: bound on ||d Phi grad tr-bar||",
                          check="nonnegative"),
                    Field("first", "choice", "Definition 3's first condition: ||x - Phi(x)||, "
                          "f(x) - f(Phi(x)) or ||grad f(x)||", default="distance",
                          choices=FIRST_CONDITIONS)),
            validate=_validate_smooth)
def decide_flat_minimum(claim: Claim, *, seed: int = 0, budget: int | None = None) -> Verdict:
    p = claim.params
    return deciders.decide_flat_minimum(claim.describe(), p["f"], p["variables"], p["point"],
                                        eps=p.get("eps"), eps2=p.get("eps2"),
                                        first=p.get("first", "distance"))


flat_minimum = constructor("flat-minimum", positional=("f", "point"), aliases={"at": "point"},
                           doc="Claim: ``at`` is a flat local minimum of f (Definition 2), or "
                           "an (eps, eps2)-flat one (Definition 3).")
