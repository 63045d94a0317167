"""The claim kinds of Josz's geometry of flat minima, each declared once: ``max-variation``,
``flatter`` and ``conserved-quantity``."""

from __future__ import annotations

from verify.registry import Field, claim_kind, constructor, lazy_import
from verify.verdict import Claim, Decision, Verdict

PAPER = "Josz 2025 (On the geometry of flat minima)"
M = lazy_import("theorems.flat_geometry.mathematics")
sp = lazy_import("sympy")
NORMALIZATIONS = ("none", "r2", "one-plus-f")
RULES = ("fixed", "all-radii", "ratio-limit")
METHODS = ("auto", "exact-1d", "interval-subdivision", "taylor", "witness-only")

VARIABLES = Field("variables", "variables", "the variables of f", required=True)
F = Field("f", "formula", "the function", required=True)
NORM = Field("norm", "norm", "the norm of the ball", default="2")
NORMALIZATION = Field("normalization", "choice", "divide f° by r^2 or by 1 + f(x)",
                      default="none", choices=NORMALIZATIONS)


@claim_kind("max-variation", paper=PAPER,
            statement="f°(point, radius) = sup over ||y - point|| <= radius of f(y) - f(point) "
                      "(normalized as asked) is at most / at least the given numbers",
            fields=(VARIABLES, F, Field("point", "point", "the point x", required=True),
                    Field("radius", "number", "the radius r", required=True,
                          check="nonnegative"),
                    Field("at_most", "number", "claimed upper bound of f°"),
                    Field("at_least", "number", "claimed lower bound of f°"), NORM,
                    NORMALIZATION,
                    Field("method", "choice", "how the upper bound is computed",
                          default="auto", choices=METHODS)),
            one_of=(("at_most", "at_least"),))
def decide_max_variation(claim: Claim, *, seed: int = 0, budget: int | None = None) -> Verdict:
    p = claim.params
    return M.decide_max_variation(claim.describe(), p["f"], p["variables"], p["point"],
                                  p["radius"], at_most=p.get("at_most"),
                                  at_least=p.get("at_least"), norm=p["norm"],
                                  normalization=p["normalization"], method=p["method"],
                                  seed=seed)


@claim_kind("flatter", paper=PAPER,
            statement="x is at least as flat as y: f°(x, .) <= f°(y, .) under the rule (at the "
                      "radius, at every radius up to it, or in the limit ratio)",
            fields=(VARIABLES, F, Field("x", "point", "the first point", required=True),
                    Field("y", "point", "the second point", required=True),
                    Field("radius", "number", "the radius r", required=True,
                          check="positive"), NORM,
                    Field("rule", "choice", "the comparison rule", default="fixed",
                          choices=RULES), NORMALIZATION))
def decide_flatter(claim: Claim, *, seed: int = 0, budget: int | None = None) -> Verdict:
    p = claim.params
    return M.decide_flatter(claim.describe(), p["f"], p["variables"], p["x"], p["y"],
                            p["radius"], rule=p["rule"], norm=p["norm"],
                            normalization=p["normalization"], seed=seed)


@claim_kind("conserved-quantity", paper=PAPER,
            statement="q is constant along the gradient flow of f: <grad q, grad f> = 0",
            fields=(VARIABLES, F, Field("quantity", "formula", "the quantity q",
                                        required=True)))
def decide_conserved_quantity(claim: Claim, *, seed: int = 0, budget: int | None = None
                              ) -> Verdict:
    p = claim.params
    variables = tuple(p["variables"])
    d = Decision(claim)
    product = sp.expand(sum(p["quantity"].diff(v) * p["f"].diff(v) for v in variables))
    facts = lazy_import("theorems.facts.kinds")
    identity = facts.decide_identity(facts.identity(product, variables=variables))
    if identity.status.value == "proved":
        return d.proved("exact: <grad q, grad f> expands to 0",
                        "q is conserved by the gradient flow of f",
                        certificate={"kind": "conserved"})
    if identity.status.value == "refuted":
        point = identity.certificate["point"]
        return d.refuted("exact evaluation at a rational point",
                         f"<grad q, grad f> does not vanish at {point}: q changes "
                         "along the gradient flow",
                         certificate={"kind": "conserved-witness", "point": point},
                         counterexample={"point": point, "product": str(product)})
    return d.inconclusive("SymPy", f"<grad q, grad f> = {product} was not shown zero and no "
                          "rational witness was found")


max_variation_claim = constructor("max-variation", positional=("f", "point", "radius"),
                                  aliases={"at": "point"})
flatter_claim = constructor("flatter", positional=("f", "x", "y", "radius"))
conserved_quantity_claim = constructor("conserved-quantity", positional=("f", "quantity"))
