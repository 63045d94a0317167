"""The claim kinds of the eigenvalue filters (Bolte, Le, Pauwels), each declared once.

``filter-set`` and ``stable-point``: their fields (the methods and their hyperparameters come
from the optimizer declarations of :data:`numerics.updates.OPTIMIZERS`, or from a user's file
named ``"file.py:name"``) and deciders.
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

USER_METHOD = ("or 'file.py:name', an optimizer declared in a Python file (relative to the "
               "claim file; its SHA-256 is pinned in method_sha256)")
SHA_DOC = ("SHA-256 of the optimizer file of a 'file.py:name' method; written when the claim is "
           "read (give it to pin the file: a changed file is an error)")
METHOD = (Field("method", "method", "the optimizer (an eigenvalue filter is defined for it), "
                + USER_METHOD, required=True, choices=FILTER_METHODS),
          Field("alpha", "number", "step size", required=True, check="positive"),
          Field("beta", "number", "momentum (methods with momentum)", check="unit-interval"),
          Field("rho", "number", "perturbation radius (SAM-type methods); 0 is plain GD",
                check="nonnegative"),
          Field("variant", "choice", "reconstructed form of two-step-usam / hessian-usam",
                default="A", choices=VARIANTS),
          Field("hyper", "table", "the other hyperparameters of a user's optimizer, by name "
                "({c = 0.5, k = 3}); alpha, beta and rho are given as the fields above"),
          Field("method_sha256", "string", SHA_DOC))


def _check_hyperparameters(method: str, params: dict[str, Any], *, sha_key: str,
                           variant: str | None) -> set[str]:
    """The hyperparameters ``method`` declares are given, in their ranges; its variant is one
    it declares. A user's file is read in a worker and its SHA-256 pinned in
    ``params[sha_key]``. Returns the names it declares."""
    from numerics.updates import Hyper, validate_hyper

    if ":" in method:
        from theorems.filters.mathematics import declared_hyper, pin_method

        _, _, sha = pin_method(method, params.get(sha_key))
        params[sha_key] = sha
        info = declared_hyper(method, sha)
        hyper = [tuple(h) for h in info["hyper"]]
        forms = tuple(info["forms"])
    else:
        declared = OPTIMIZERS[method]
        if params.get(sha_key):
            raise InvalidClaim(f"{sha_key} pins the file of a 'file.py:name' method, not "
                               f"{method!r}")
        hyper = [tuple(h) for h in declared.hyper]
        forms = declared.forms
    table = params.get("hyper") or {}
    for name, doc, check in hyper:
        value = params.get(name) if name in ("alpha", "beta", "rho") else table.get(name)
        if value is None:
            raise InvalidClaim(f"method {method!r} needs {name}" + (
                "" if name in ("alpha", "beta", "rho") else f" (hyper = {{{name} = ...}})"))
        try:
            validate_hyper(value, Hyper(name, doc, check))
        except ValueError as exc:
            raise InvalidClaim(f"method {method!r}: {exc}") from None
    if variant not in (None, "A") and not forms:
        raise InvalidClaim(f"variant applies to methods with reconstructed forms "
                           f"({[n for n, o in OPTIMIZERS.items() if o.forms]}) only")
    return {h[0] for h in hyper}


def _validate_method(params: dict[str, Any]) -> None:
    """The hyperparameters the method (and subset_of's method) declare, no more and no fewer;
    variants where declared; users' files pinned."""
    names = _check_hyperparameters(params["method"], params, sha_key="method_sha256",
                                   variant=params.get("variant", "A"))
    other = params.get("subset_of")
    if other is not None:
        names |= _check_hyperparameters(other, params, sha_key="subset_of_sha256",
                                        variant=params.get("subset_variant"))
    elif params.get("subset_variant") is not None or params.get("subset_of_sha256"):
        raise InvalidClaim("subset_variant and subset_of_sha256 go with subset_of")
    methods = f"method {params['method']!r}" + (f" (nor {other!r})" if other else "")
    for name in ("beta", "rho"):
        if name not in names and params.get(name) is not None:
            raise InvalidClaim(f"{methods} takes no {name}")
    extra = set(params.get("hyper") or {}) - names
    if extra:
        raise InvalidClaim(f"{methods} takes no {sorted(extra)}; declared: {sorted(names)}")


@claim_kind("filter-set", paper=PAPER,
            statement="the set of Hessian eigenvalues lambda at which the method's map has "
                      "spectral radius <= 1 equals / contains / excludes the given values, or "
                      "lies inside the set of another method (subset_of)",
            fields=(*METHOD,
                    Field("equals", "set", "the claimed filter set (Interval, Union, ...)"),
                    Field("contains", "numbers", "curvatures claimed inside the filter set"),
                    Field("excludes", "numbers", "curvatures claimed outside it"),
                    Field("subset_of", "method", "a method whose filter set (at the claim's "
                          "hyperparameters that it declares) contains this one's, "
                          + USER_METHOD.replace("method_sha256", "subset_of_sha256"),
                          choices=FILTER_METHODS),
                    Field("subset_variant", "choice", "the form of subset_of (default: the "
                          "claim's variant where subset_of has forms)", choices=VARIANTS),
                    Field("subset_of_sha256", "string", SHA_DOC.replace("method", "subset_of "
                                                                         "method", 1))),
            one_of=(("equals", "contains", "excludes", "subset_of"),),
            validate=_validate_method)
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
