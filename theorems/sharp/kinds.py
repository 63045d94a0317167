"""The claim kinds of Dominguez Corella's sharp minimizers, each declared once.

``sharp-minimizer``, ``sharpness-modulus``, ``tilt-stable`` and ``lipschitz-stable``: their
fields, defaults and deciders. The mathematics is imported when a claim is decided.
"""

from __future__ import annotations

from typing import Any

from verify.registry import Field, claim_kind, constructor, lazy_import
from verify.verdict import Claim, Verdict

PAPER = "Dominguez Corella"
#: the kinds' names, written once
SHARP_MINIMIZER, SHARPNESS_MODULUS = "sharp-minimizer", "sharpness-modulus"
TILT_STABLE, LIPSCHITZ_STABLE = "tilt-stable", "lipschitz-stable"
deciders = lazy_import("theorems.sharp.deciders")
problem_module = lazy_import("theorems.sharp.problem")
perturbation = lazy_import("theorems.sharp.perturbation")

VARIABLES = Field("variables", "variables", "the names of the variables of f", required=True)
F = Field("f", "formula", "the function, a formula over the variables", required=True)
POINT = Field("point", "point", "the point x-bar, one number per variable", required=True)
NORM = Field("norm", "norm", "the norm of ||x - point||", default="2")
FUNCTION = (VARIABLES, F, POINT)


def _problem(claim: Claim) -> Any:
    return problem_module.SharpProblem.from_params(claim.params)


@claim_kind(SHARP_MINIMIZER, paper=PAPER,
            statement="f(x) >= f(point) + modulus * ||x - point|| for all x",
            fields=(*FUNCTION, Field("modulus", "number", "the modulus alpha", required=True,
                                     check="positive"), NORM))
def decide_sharp_minimizer(claim: Claim, *, seed: int = 0, budget: int | None = None
                           ) -> Verdict:
    return deciders.decide_sharp(_problem(claim), claim.params["modulus"], seed=seed,
                                 budget=budget, claim=claim.describe())


@claim_kind(SHARPNESS_MODULUS, paper=PAPER,
            statement="the best constant alpha* = inf (f(x) - f(point)) / ||x - point|| "
                      "equals value",
            fields=(*FUNCTION, Field("value", "number", "the claimed alpha*", required=True),
                    NORM))
def decide_sharpness_modulus(claim: Claim, *, seed: int = 0, budget: int | None = None
                             ) -> Verdict:
    return deciders.decide_modulus(_problem(claim), claim.params["value"], seed=seed,
                                   budget=budget, claim=claim.describe())


@claim_kind(TILT_STABLE, paper=PAPER,
            statement="argmin_y f(y) - <xi, y> = {point} for every xi with dual norm < radius "
                      "(form 'implication': x in the argmin implies x = point)",
            fields=(*FUNCTION, Field("radius", "number", "the tilt radius", required=True,
                                     check="positive"), NORM,
                    Field("form", "choice", "argmin equality, or the poster's implication",
                          default="argmin", choices=("argmin", "implication"))))
def decide_tilt_stable(claim: Claim, *, seed: int = 0, budget: int | None = None) -> Verdict:
    return deciders.decide_stability(_problem(claim), claim.params["radius"],
                                     kind=TILT_STABLE, form=claim.params["form"], seed=seed,
                                     budget=budget, claim=claim.describe())


@claim_kind(LIPSCHITZ_STABLE, paper=PAPER,
            statement="argmin (f + zeta) = {point} for every Lipschitz zeta with Lip(zeta) < "
                      "radius; with zeta_network, (also) for zeta = that network R^d -> R",
            fields=(*FUNCTION, Field("radius", "number", "the Lipschitz radius",
                                     check="positive"), NORM,
                    Field("zeta_network", "path", "a network file (defines `model`, R^d -> R, "
                          "d the number of variables): the perturbation zeta; relative to "
                          "the claims file"),
                    Field("zeta_network_sha256", "string", "SHA-256 of zeta's exact layers; "
                          "written when the claim is decided (give it to pin the file)")),
            one_of=(("radius", "zeta_network"),))
def decide_lipschitz_stable(claim: Claim, *, seed: int = 0, budget: int | None = None
                            ) -> Verdict:
    if claim.params.get("zeta_network") is not None:
        return perturbation.decide_claim(claim, _problem(claim), seed=seed, budget=budget)
    return deciders.decide_stability(_problem(claim), claim.params["radius"],
                                     kind=LIPSCHITZ_STABLE, form="argmin", seed=seed,
                                     budget=budget, claim=claim.describe())


_AT = {"at": "point"}
sharp_minimizer = constructor(SHARP_MINIMIZER, positional=("f", "point", "modulus"),
                              aliases=_AT, doc="Claim: f(x) >= f(at) + modulus*||x - at|| for "
                              "all x.")
sharpness_modulus = constructor(SHARPNESS_MODULUS, positional=("f", "point", "value"),
                                aliases=_AT, doc="Claim: the best constant alpha* at ``at`` "
                                "equals ``value``.")
tilt_stable = constructor(TILT_STABLE, positional=("f", "point", "radius"), aliases=_AT,
                          doc="Claim: argmin_y f(y) - <xi, y> = {at} for every xi with dual "
                          "norm < radius (``form='implication'``: the poster's wording).")
lipschitz_stable = constructor(LIPSCHITZ_STABLE, positional=("f", "point", "radius"),
                               aliases=_AT, doc="Claim: argmin (f + zeta) = {at} for every "
                               "Lipschitz zeta with Lip(zeta) < radius.")
CONSTRUCTORS = {SHARP_MINIMIZER: sharp_minimizer, SHARPNESS_MODULUS: sharpness_modulus,
                TILT_STABLE: tilt_stable, LIPSCHITZ_STABLE: lipschitz_stable}
