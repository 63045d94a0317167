"""The claim kinds of the eigenvalue filters (Bolte, Le, Pauwels), each declared once.

``filter-set`` and ``stable-point``: their fields (the methods and their hyperparameters come
from the optimizer declarations of :data:`numerics.updates.OPTIMIZERS`) and deciders.
"""

from __future__ import annotations

from typing import Any

from numerics.updates import FILTER_METHODS, OPTIMIZERS
from verify.errors import InvalidClaim
from verify.registry import Field, claim_kind, constructor, lazy_import
from verify.verdict import Claim, Verdict

PAPER = "Bolte, Le, Pauwels"
deciders = lazy_import("theorems.filters.deciders")
VARIANTS = ("A", "B")

METHOD = (Field("method", "method", "the optimizer (an eigenvalue filter is defined for it)",
                required=True, choices=FILTER_METHODS),
          Field("alpha", "number", "step size", required=True, check="positive"),
          Field("beta", "number", "momentum (methods with momentum)", check="unit-interval"),
          Field("rho", "number", "perturbation radius (SAM-type methods); 0 is plain GD",
                check="nonnegative"),
          Field("variant", "choice", "reconstructed form of two-step-usam / hessian-usam",
                default="A", choices=VARIANTS))


def _validate_method(params: dict[str, Any]) -> None:
    """The hyperparameters a method declares, no more and no fewer; variants where declared."""
    declared = OPTIMIZERS[params["method"]]
    names = {h.name for h in declared.hyper}
    for name in ("beta", "rho"):
        if name in names and params.get(name) is None:
            raise InvalidClaim(f"method {params['method']!r} needs {name}")
        if name not in names and params.get(name) is not None:
            raise InvalidClaim(f"method {params['method']!r} takes no {name}")
    if params.get("variant", "A") != "A" and not declared.forms:
        raise InvalidClaim(f"variant applies to {[n for n, o in OPTIMIZERS.items() if o.forms]}"
                           " only")


@claim_kind("filter-set", paper=PAPER,
            statement="the set of Hessian eigenvalues lambda at which the method's map has "
                      "spectral radius <= 1 equals / contains / excludes the given values",
            fields=(*METHOD,
                    Field("equals", "set", "the claimed filter set (Interval, Union, ...)"),
                    Field("contains", "numbers", "curvatures claimed inside the filter set"),
                    Field("excludes", "numbers", "curvatures claimed outside it")),
            one_of=(("equals", "contains", "excludes"),), validate=_validate_method)
def decide_filter_set(claim: Claim, *, seed: int = 0, budget: int | None = None) -> Verdict:
    return deciders.decide_filter_set(claim)


@claim_kind("stable-point", paper=PAPER,
            statement="the Jacobian of the method's map at the point has spectral radius <= 1 "
                      "(the point can be a limit of the iterates, Theorem 2.1)",
            fields=(Field("variables", "variables", "the variables of f", required=True),
                    Field("f", "formula", "the function", required=True),
                    Field("point", "point", "the fixed point", required=True), *METHOD),
            validate=_validate_method)
def decide_stable_point(claim: Claim, *, seed: int = 0, budget: int | None = None) -> Verdict:
    return deciders.decide_stable_point(claim)


filter_set_claim = constructor("filter-set", positional=("method", "alpha"),
                               aliases={"form": "variant"},
                               doc="Claim about the filter set of ``method``: equality with "
                               "a set, members, non-members.")
stable_point_claim = constructor("stable-point", positional=("method", "f", "point", "alpha"),
                                 aliases={"at": "point", "form": "variant"},
                                 doc="Claim: the spectral radius of the Jacobian of the map "
                                 "at ``at`` is <= 1.")
