"""What each claim kind states, and which certificates may decide it: the obligation table.

This module is the one declaration of every claim kind's *statement* as the kernel reads it:
its fields (with their defaults), which of them only steer the search (``hints``: they do not
change what is claimed), and, for each decided status, the certificate kinds that may establish
it. :func:`verify.kernel.check` reads this table *before* it looks at a certificate: a claim of
an unknown kind, a claim with a field the statement does not have, a missing required field, or
a certificate kind not declared for the claim's kind and status is rejected, whatever the
certificate says. The checkers (``verify/kernel/*.py``) then derive the obligation from the
claim's fields and read only witnesses from the certificate.

The theorem packages declare the user-facing side of the same kinds (documentation, parsers,
deciders) with :func:`verify.registry.claim_kind`, which verifies at declaration that its fields
and defaults are this table's; ``sharpflat kinds`` and docs/architecture.md show the table.

The module is plain data (no SymPy), so the registry can read it when ``sharpflat list`` runs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

#: a field without a default that every claim of the kind must have
REQUIRED = object()
#: keys every stored claim may carry besides its statement fields (identity and provenance)
META = ("id", "kind", "source", "note")
DECIDED = ("proved", "certified", "refuted")


@dataclass(frozen=True)
class Statement:
    """The statement of one claim kind, as the kernel reads it.

    ``fields`` maps each field to its default (:data:`REQUIRED`, or None for an optional field
    without a default); ``hints`` are fields that steer a decider without changing what is
    claimed; ``proved`` / ``certified`` / ``refuted`` list the certificate kinds that may
    establish each status (a proof also certifies); ``bounds`` says what the verdict's
    ``bounds`` mean when the statement gives them a meaning (then a decided verdict's bounds
    must be established by its certificate)."""

    kind: str
    meaning: str
    fields: Mapping[str, Any]
    proved: tuple[str, ...] = ()
    certified: tuple[str, ...] = ()
    refuted: tuple[str, ...] = ()
    hints: tuple[str, ...] = ()
    bounds: str = ""
    internal: bool = False      # a kind the engine builds (instances, checks), not a user kind
    meta: tuple[str, ...] = field(default=META)

    def certificates(self, status: str) -> tuple[str, ...]:
        """The certificate kinds that may establish ``status`` for this kind."""
        if status == "proved":
            return self.proved
        if status == "certified":
            return self.certified + self.proved
        if status == "refuted":
            return self.refuted
        return ()

    @property
    def required(self) -> tuple[str, ...]:
        return tuple(k for k, v in self.fields.items() if v is REQUIRED)

    def defaults(self) -> dict[str, Any]:
        return {k: v for k, v in self.fields.items() if v is not REQUIRED and v is not None}

    def describe(self) -> dict[str, Any]:
        return {"kind": self.kind, "meaning": self.meaning,
                "fields": {k: ("required" if v is REQUIRED else v) for k, v in
                           self.fields.items()},
                "hints": list(self.hints), "proved": list(self.proved),
                "certified": list(self.certified), "refuted": list(self.refuted),
                "bounds": self.bounds}


STATEMENTS: dict[str, Statement] = {}


def statement(kind: str, meaning: str, fields: Mapping[str, Any], **kw: Any) -> Statement:
    """Declare the statement of ``kind`` (once)."""
    if kind in STATEMENTS:
        raise ValueError(f"the statement of {kind!r} is declared twice")
    s = Statement(kind=kind, meaning=meaning, fields=dict(fields), **kw)
    unknown = set(s.hints) - set(s.fields)
    if unknown:
        raise ValueError(f"{kind}: hints {sorted(unknown)} are not fields")
    STATEMENTS[kind] = s
    return s


# --------------------------------------------------------------------------------------------
# the papers' claim kinds
# --------------------------------------------------------------------------------------------

_FUNCTION = {"variables": REQUIRED, "f": REQUIRED, "point": REQUIRED}
_SHARP_PROOFS = ("sharp-smt", "sharp-sos", "convex-cone", "sharp-univariate",
                 "convex-minorant")

statement("sharp-minimizer", "f(x) >= f(point) + modulus ||x - point|| for all x",
          {**_FUNCTION, "modulus": REQUIRED, "norm": "2"},
          proved=_SHARP_PROOFS, refuted=("point",))
statement("sharpness-modulus", "alpha* = inf (f(x) - f(point)) / ||x - point|| equals value",
          {**_FUNCTION, "value": REQUIRED, "norm": "2"},
          proved=("modulus-exact", "convex-cone"),
          refuted=("point", "ray-limit", "point-ratio") + _SHARP_PROOFS)
statement("tilt-stable", "argmin f - <xi, .> = {point} for every xi with ||xi||_* < radius",
          {**_FUNCTION, "radius": REQUIRED, "norm": "2", "form": "argmin"},
          proved=_SHARP_PROOFS, refuted=("tilt",))
statement("lipschitz-stable", "argmin (f + zeta) = {point} for every zeta with Lip < radius "
          "(and for the network zeta when one is named)",
          {**_FUNCTION, "radius": None, "norm": "2", "zeta_network": None,
           "zeta_network_sha256": None},
          proved=_SHARP_PROOFS + ("sharp-lipsdp",), refuted=("tilt",),
          hints=("zeta_network",))
statement("filter-set", "the set of curvatures lambda where the method's map has spectral "
          "radius <= 1 equals / contains / excludes the given values",
          {"method": REQUIRED, "alpha": REQUIRED, "beta": None, "rho": None, "variant": "A",
           "hyper": None, "method_sha256": None, "equals": None, "contains": None,
           "excludes": None, "subset_of": None, "subset_variant": None,
           "subset_of_sha256": None},
          proved=("filter-set-exact", "filter-set-smt"), refuted=("filter-witness",))
statement("stable-point", "the Jacobian of the method's map at the point has spectral radius "
          "<= 1", {**_FUNCTION, "method": REQUIRED, "alpha": REQUIRED, "beta": None,
                   "rho": None, "variant": "A", "hyper": None, "method_sha256": None},
          proved=("spectral-radius",), certified=("spectral-radius",),
          refuted=("spectral-radius",))
statement("max-variation", "f°(point, radius) (normalized as asked) is at most / at least the "
          "given numbers",
          {**_FUNCTION, "radius": REQUIRED, "at_most": None, "at_least": None, "norm": "2",
           "normalization": "none", "method": "auto"},
          proved=("max-variation-bounds",), refuted=("max-variation-bounds",),
          hints=("method",))
statement("flatter", "f°(x, .) <= f°(y, .) under the rule",
          {"variables": REQUIRED, "f": REQUIRED, "x": REQUIRED, "y": REQUIRED,
           "radius": REQUIRED, "norm": "2", "rule": "fixed", "normalization": "none"},
          proved=("flatter-fixed", "flatter-leading", "reflexive"),
          refuted=("flatter-fixed", "flatter-radius", "flatter-leading"))
statement("conserved-quantity", "<grad quantity, grad f> = 0 identically",
          {"variables": REQUIRED, "f": REQUIRED, "quantity": REQUIRED},
          proved=("conserved",), refuted=("conserved-witness",))
statement("flat-minimum", "the point is a flat local minimum (Definition 2; with eps, the "
          "numerical Definition 3, never decided)",
          {**_FUNCTION, "eps": None, "eps2": None, "first": "distance"},
          proved=("flat-exact",),
          refuted=("nonzero-gradient", "negative-curvature", "tangential-gradient"))
statement("network-lipschitz", "||f(x) - f(y)|| <= at_most ||x - y|| for all x, y (in the "
          "claim's norm), f the network with the exact layers that hash to network_sha256, on "
          "inputs of input_shape",
          {"network": REQUIRED, "at_most": REQUIRED, "norm": "2", "input_shape": None,
           "time_limit": None, "network_sha256": None},
          certified=("lipschitz-bracket", "lipschitz-upper", "lipschitz-abs-product", "lipsdp",
                     "lipschitz-product"),
          refuted=("lipschitz-bracket", "lipschitz-pair"),
          hints=("network", "time_limit"))
statement("model-certificate", "a curvature statement about a model's loss at its parameters: "
          "part top-eigenvalues (lambda_max lies in the verdict's bounds with probability >= "
          "confidence), filter (outside the flat band, the spectrum lies in the optimizer's "
          "filter set) or lambda-max (lambda_max <= at_most with probability >= confidence)",
          {"model": REQUIRED, "part": REQUIRED, "parameters": REQUIRED, "examples": None,
           "dtype": None, "device": None, "k": None, "grad_tol": None, "probes": None,
           "method": None, "optimizer": None, "alpha": None, "beta": None, "rho": None,
           "flat_tolerance": None, "confidence": None, "optimizer_sha256": None, "hyper": None,
           "at_most": None},
          certified=("kw-bound", "spectrum-in-filter", "kw-lambda-max"),
          refuted=("eigenvalue-outside-filter", "rayleigh-above"),
          hints=("examples", "dtype", "device", "k", "grad_tol", "probes", "method"),
          bounds="top-eigenvalues, lambda-max (held): an interval holding lambda_max with "
                 "probability >= the claim's confidence")

# --------------------------------------------------------------------------------------------
# exact facts: the instances of the papers' checks, each a formal claim
# --------------------------------------------------------------------------------------------

_ASSUMED = {"variables": (), "assume": None}

statement("identically-zero", "expr = 0 for every real value of the variables (under their assumed "
          "signs)", {**_ASSUMED, "expr": REQUIRED},
          proved=("exact-zero",), refuted=("nonzero-point",))
statement("inequalities", "every condition (a relation between constants) holds",
          {"conditions": REQUIRED}, proved=("exact-sign",), refuted=("exact-sign",))
statement("forall", "every real point satisfying the hypotheses satisfies the conclusion",
          {**_ASSUMED, "hypotheses": (), "conclusion": REQUIRED},
          proved=("real-roots", "psatz", "smt-agreement"),
          refuted=("real-roots", "counterexample-point"))
statement("same-span", "two lists of polynomials span the same space over Q",
          {"variables": REQUIRED, "found": REQUIRED, "expected": REQUIRED},
          proved=("exact-rank",), refuted=("exact-rank",))
statement("limit-equals", "the limit of expr as variable tends to `to` equals value",
          {**_ASSUMED, "expr": REQUIRED, "variable": REQUIRED, "to": REQUIRED,
           "value": REQUIRED}, proved=("sympy-limit",), refuted=("sympy-limit",))

# --------------------------------------------------------------------------------------------
# what the engine builds from the claims above
# --------------------------------------------------------------------------------------------

statement("expected-status", "the decider's verdict on the inner claim is `want` (a refuted "
          "expected-status: it reached the opposite decision)",
          {"want": REQUIRED, "claim": REQUIRED}, proved=("verdict",), certified=("verdict",),
          refuted=("verdict",), internal=True)
statement("check", "every instance claim of the registered check holds (the instances hash "
          "to instances_sha256 and are those the check generates at this seed and scale)",
          {"paper": REQUIRED, "statement": REQUIRED, "summary": None, "profile": REQUIRED,
           "device": None, "module": None, "seed": REQUIRED, "scale": "full",
           "instances_sha256": REQUIRED, "nature": None},
          proved=("all-of",), certified=("all-of",), refuted=("refuted-part",),
          hints=("summary", "device", "module", "nature"), internal=True)


def certificate_kinds() -> set[str]:
    """Every certificate kind some statement declares."""
    return {c for s in STATEMENTS.values() for c in s.proved + s.certified + s.refuted}


def table() -> list[dict[str, Any]]:
    """The obligation table (docs, ``sharpflat kinds --json``)."""
    return [STATEMENTS[k].describe() for k in sorted(STATEMENTS)]


# --------------------------------------------------------------------------------------------
# what each certificate kind carries
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Witnesses:
    """A certificate kind: the keys it may carry besides ``kind`` (witnesses only, never a
    parameter of the statement), what the kernel re-derives from the claim, and the weakest
    trust tier its check may rest on."""

    keys: tuple[str, ...]
    rederived: str
    tier: str = "exact"


CERTIFICATES: dict[str, Witnesses] = {
    "all-of": Witnesses(("parts",), "the instance claims hash to the claim's instances_sha256; "
                        "each part re-checked against its own claim", "probabilistic"),
    "refuted-part": Witnesses(("claims", "index", "part"), "the claims hash to "
                              "instances_sha256; the part is the claim at the index, refuted",
                              "probabilistic"),
    "verdict": Witnesses(("status", "certificate", "confidence", "bounds"), "the inner "
                         "certificate "
                         "against the claim's inner claim; its status against want",
                         "probabilistic"),
    "exact-zero": Witnesses((), "expr = 0 by exact expansion or simplification, confirmed in "
                            "balls"),
    "nonzero-point": Witnesses(("point",), "expr at the rational point, in balls"),
    "exact-sign": Witnesses(("index",), "each condition in balls; zeros by minimal "
                            "polynomials"),
    "real-roots": Witnesses((), "the formula at every real root of its polynomials and "
                            "between them"),
    "smt-agreement": Witnesses((), "the SMT-LIB2 text of hypotheses and not conclusion",
                               "solvers"),
    "psatz": Witnesses(("cases",), "each part of the conclusion on the set of the hypotheses "
                       "(Abs, Max, Min lifted); Gram matrices PSD, the identity exactly"),
    "counterexample-point": Witnesses(("point",), "hypotheses and conclusion at the point"),
    "exact-rank": Witnesses((), "ranks of the coefficient matrices over Q"),
    "sympy-limit": Witnesses((), "SymPy's limit; the expression near the limit point"),
    "sharp-smt": Witnesses(("modulus", "texts"), "the case-split SMT texts of the negation, "
                           "compared with the stored ones", "solvers"),
    "sharp-sos": Witnesses(("modulus", "cases"), "the lifted polar statement of each case; "
                           "Gram matrices PSD, the identity exactly"),
    "sharp-univariate": Witnesses(("modulus",), "f(x) - f(p) - m|x - p| >= 0 at every real x "
                                  "by real roots"),
    "convex-cone": Witnesses(("modulus", "members", "affine", "slemma", "via", "zero",
                              "reduced-smt", "upper"),
                             "convexity and f'(p; .) by the kernel's rules; the cone "
                             "inequality from the weights", "solvers"),
    "convex-minorant": Witnesses(("modulus", "minorant", "slack", "cone", "gap"),
                                 "g(p) = f(p); g sharp at the claim's point and norm (a cone "
                                 "certificate); f - g + c||x - p|| >= 0 (Psatz certificates, "
                                 "or exactly in r = ||x - p||_2 when f - g is radial)",
                                 "solvers"),
    "point": Witnesses(("x",), "the sharpness gap at x, in balls"),
    "point-ratio": Witnesses(("x",), "the ratio at x, exactly"),
    "ray-limit": Witnesses(("direction", "at", "limit"), "the ratio's limit along the ray"),
    "modulus-exact": Witnesses(("lower", "upper"), "a sharpness proof at the value and an "
                               "upper bound at most the value", "solvers"),
    "tilt": Witnesses(("xi", "x", "assumption1"), "the tilt's dual norm below the radius; the "
                      "tilted gap at x", "solvers"),
    "filter-set-exact": Witnesses((), "the Jury conditions of the named map; "
                                  "condition <=> membership at every lambda"),
    "filter-set-smt": Witnesses(("texts",), "the Jury conditions of the named map; the SMT "
                                "texts of the equality", "solvers"),
    "filter-witness": Witnesses(("lambda", "part"), "the condition and the claim at lambda"),
    "spectral-radius": Witnesses(("eigenvalues",), "the exact Jacobian at the point and the "
                                 "roots of its characteristic polynomial"),
    "max-variation-bounds": Witnesses(("upper", "lower", "part"), "enclosures, Taylor or SOS "
                                      "bounds and witnesses over the claim's ball"),
    "flatter-fixed": Witnesses(("upper_x", "lower_y", "lower_x", "upper_y"),
                               "bounds over the claim's balls at x and y"),
    "flatter-radius": Witnesses(("radius", "upper_x", "lower_y", "lower_x", "upper_y"),
                                "bounds at a witness radius in (0, r]"),
    "flatter-leading": Witnesses((), "the leading orders of f° at x and y"),
    "reflexive": Witnesses((), "x = y"),
    "conserved": Witnesses((), "<grad q, grad f> expands to 0"),
    "conserved-witness": Witnesses(("point",), "<grad q, grad f> at the point, in balls"),
    "flat-exact": Witnesses((), "gradient, Hessian, Assumption 1 and P grad tr-bar at the "
                            "point"),
    "nonzero-gradient": Witnesses(("index",), "that partial derivative at the point"),
    "negative-curvature": Witnesses(("direction",), "v^T Hess f v at the point"),
    "tangential-gradient": Witnesses(("index",), "that component of P grad tr-bar"),
    "lipschitz-bracket": Witnesses(("layers", "upper", "lower"), "the layers hash to "
                                   "network_sha256; the upper stage certificates bound L by "
                                   "at_most (certified) or the pair exceeds it (refuted); the "
                                   "verdict's bounds [lower, upper] by the same witnesses, "
                                   "whatever its status"),
    "lipschitz-upper": Witnesses(("layers", "stages"), "the layers hash to network_sha256; "
                                 "each stage's bound (products of exact or Gram-checked layer "
                                 "norms, LipSDP blocks PSD exactly, residual blocks); the "
                                 "product at most at_most, in the claim's norm"),
    "lipschitz-abs-product": Witnesses(("layers",), "the layers hash to network_sha256; the "
                                       "product of absolute weight matrices in the claim's "
                                       "norm at most at_most"),
    "lipsdp": Witnesses(("layers", "rho", "multipliers"), "the layers hash to network_sha256; "
                        "M(rho, T) negative semidefinite; rho <= at_most^2"),
    "lipschitz-product": Witnesses(("layers", "norms"), "the layers hash to network_sha256; "
                                   "each layer norm; the product <= at_most"),
    "lipschitz-pair": Witnesses(("layers", "x", "y"), "the layers hash to network_sha256; the "
                                "quotient at the pair exceeds at_most"),
    "sharp-lipsdp": Witnesses(("sharp", "lipschitz"), "a sharpness proof with modulus m and a "
                              "LipSDP bound rho of zeta with m^2 > k rho", "solvers"),
    "kw-bound": Witnesses(("theta_max", "theta_min", "steps", "breakdown", "residual"),
                          "the KW bound at the claim's dimension and confidence",
                          "probabilistic"),
    "spectrum-in-filter": Witnesses(("top", "bottom"), "two KW bounds; the enclosure outside "
                                    "the claim's flat band inside the filter set",
                                    "probabilistic"),
    "kw-lambda-max": Witnesses(("theta_max", "theta_min", "steps", "breakdown", "residual",
                                "upper"), "the KW bound at the claim's dimension and "
                               "confidence, at most the claim's at_most", "probabilistic"),
    "rayleigh-above": Witnesses(("value", "recheck"), "a Rayleigh quotient above the claim's "
                                "at_most by more than the kernel's re-check tolerance",
                                "probabilistic"),
    "eigenvalue-outside-filter": Witnesses(("value", "tol", "residual", "recheck"),
                                           "the interval outside the claim's flat band and "
                                           "the filter set", "probabilistic"),
}
