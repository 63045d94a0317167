"""The certificate kernel: the small, independent code every decided verdict rests on.

Deciders may be large, clever and heuristic (z3 case splits, multi-start search, SDP solvers,
Lanczos); what they hand back with a decided verdict (proved, certified, refuted) is a
*certificate*: plain JSON data from which the conclusion follows by a short computation. This
package runs that computation: exact rational arithmetic, python-flint ball arithmetic,
SymPy's exact algebra (expansion, polynomial arithmetic, derivatives, limits), and for
unsatisfiability facts two independent SMT solvers (z3 and cvc5 with cylindrical algebraic
coverings) that must both answer ``unsat``.

:class:`verify.verdict.Verdict` cannot be constructed with a decided status unless
:func:`check` accepts its certificate against its claim, and :func:`recheck` re-checks stored
verdicts from their JSON alone (``sharpflat recheck``). The kernel imports nothing of the
deciders (``theorems``); it reads the claim's own fields and derives what must hold from
them, so an edited claim or a flipped status fails.

What it trusts: Python's ``fractions``, python-flint (arb balls, fmpq), SymPy's exact
arithmetic on the expressions it parses from the claim (with the whitelisting parser of
:mod:`verify.formula`), z3 *and* cvc5 together, and the optimizer definitions of
:mod:`numerics.updates` (the meaning of a method name). Certificate kinds:

========================= ====================================================================
``all-of``                 every part of a conjunction decided, each part re-checked
``refuted-part``           one refuted part of a conjunction, re-checked
``verdict``                a decider's verdict inside an expected-status instance
``zero``                   an expression that is identically zero (exact expansion / SymPy)
``nonzero-at``             an expression that does not vanish at a rational point (balls)
``sign``                   a constant's sign relation (balls, or exact equality)
``smt-unsat``              SMT-LIB2 texts that z3 and cvc5 both refute
``limit``                  a limit recomputed by SymPy and checked against a far point
``sharp-sos``, ``sos``     Positivstellensatz certificates: rational Gram matrices checked
                           PSD by exact LDL^T, the polynomial identity exactly
                           (:mod:`verify.kernel.sos`)
``sharp-smt``, ...         claim-kind certificates: see the modules of this package
``convex-cone``            sharpness of a convex f from its directional derivative
                           (:mod:`verify.kernel.cone`)
========================= ====================================================================
"""

from __future__ import annotations

from typing import Any, Callable, Iterable, Mapping

CERTIFICATE_VERSION = 1

#: certificate kind -> checker(claim, status, certificate) -> (ok, reason)
CHECKERS: dict[str, Callable[[Mapping, str, Mapping], tuple[bool, str]]] = {}
_DECIDED = ("proved", "certified", "refuted")
_MODULES = ("verify.kernel.facts", "verify.kernel.sharp", "verify.kernel.cone", "verify.kernel.sos",
            "verify.kernel.filters",
            "verify.kernel.geometry", "verify.kernel.escape", "verify.kernel.networks",
            "verify.kernel.estimates")


def checker(*kinds: str) -> Callable:
    """Register a checker for certificates of ``kinds``."""
    def register(fn: Callable) -> Callable:
        for kind in kinds:
            CHECKERS[kind] = fn
        return fn
    return register


_LOADED = []


def _load() -> None:
    import importlib

    _LOADED.append(True)
    for name in _MODULES:
        try:
            importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise


def check(claim: Mapping[str, Any] | None, status: str, certificate: Mapping | None
          ) -> tuple[bool, str]:
    """Does ``certificate`` establish ``status`` for ``claim``? Returns (ok, reason).

    Never raises on bad data: a malformed certificate is rejected with its reason.
    """
    status = getattr(status, "value", status)
    if status not in _DECIDED:
        return True, ""
    if not isinstance(certificate, Mapping) or "kind" not in certificate:
        return False, "no certificate"
    if not _LOADED:
        _load()
    fn = CHECKERS.get(certificate["kind"])
    if fn is None:
        return False, f"unknown certificate kind {certificate['kind']!r}"
    try:
        ok, reason = fn(claim or {}, status, certificate)
        if not ok and status == "certified":   # what is proved is certified (confidence 1)
            ok = fn(claim or {}, "proved", certificate)[0]
    except Exception as exc:  # noqa: BLE001 - a certificate that breaks the check fails it
        return False, (f"{certificate['kind']}: the check failed on this data "
                       f"({type(exc).__name__}: {exc})")
    return bool(ok), reason if not ok else ""


#: certificate kind -> check(claim, bounds, certificate) -> (ok, reason), for certificates
#: whose data also proves a verdict's ``bounds`` [lower, upper] whatever its status (an
#: inconclusive network-lipschitz verdict's bracket: :func:`verify.kernel.networks.check_bracket`)
BOUNDS_CHECKERS: dict[str, Callable[[Mapping, Any, Mapping], tuple[bool, str]]] = {}


def bounds_checker(*kinds: str) -> Callable:
    """Register a checker of verdict bounds for certificates of ``kinds``."""
    def register(fn: Callable) -> Callable:
        for kind in kinds:
            BOUNDS_CHECKERS[kind] = fn
        return fn
    return register


def states_bounds(certificate: Any) -> bool:
    """Does this certificate's kind state its verdict's bounds (:data:`BOUNDS_CHECKERS`)?"""
    if not _LOADED:
        _load()
    return isinstance(certificate, Mapping) and certificate.get("kind") in BOUNDS_CHECKERS


def check_bounds(claim: Mapping[str, Any] | None, bounds: Any, certificate: Mapping | None
                 ) -> tuple[bool, str]:
    """Do a verdict's ``bounds`` hold, by its certificate? True when its kind states nothing
    about bounds; never raises."""
    if not isinstance(certificate, Mapping):
        return True, ""
    if not _LOADED:
        _load()
    fn = BOUNDS_CHECKERS.get(certificate.get("kind"))
    if fn is None:
        return True, ""
    try:
        return fn(claim or {}, bounds, certificate)
    except Exception as exc:  # noqa: BLE001 - data that breaks the check fails it
        return False, f"bounds: the check failed on this data ({type(exc).__name__}: {exc})"


def require(condition: bool, reason: str) -> tuple[bool, str]:
    return (True, "") if condition else (False, reason)


@checker("all-of")
def _all_of(claim: Mapping, status: str, cert: Mapping) -> tuple[bool, str]:
    parts = cert.get("parts")
    if not isinstance(parts, list) or not parts:
        return False, "all-of: no parts"
    strength = {"proved": 2, "certified": 1}
    weakest = min(strength.get(p.get("status"), 0) for p in parts)
    if weakest == 0:
        return False, "all-of: a part does not hold"
    if status == "proved" and weakest != 2:
        return False, "all-of: proved needs every part proved"
    if status == "refuted":
        return False, "all-of cannot refute"
    for p in parts:
        ok, reason = check(p.get("claim"), p.get("status"), p.get("certificate"))
        if not ok:
            return False, f"part {p.get('id')!r}: {reason}"
    return True, ""


@checker("refuted-part")
def _refuted_part(claim: Mapping, status: str, cert: Mapping) -> tuple[bool, str]:
    part = cert.get("part") or {}
    if status != "refuted" or part.get("status") != "refuted":
        return False, "refuted-part refutes, with a refuted part"
    ok, reason = check(part.get("claim"), "refuted", part.get("certificate"))
    return (True, "") if ok else (False, f"part {part.get('id')!r}: {reason}")


@checker("verdict")
def _nested(claim: Mapping, status: str, cert: Mapping) -> tuple[bool, str]:
    """An expected-status instance: the decider's verdict on the inner claim was ``want``
    (proved) or its opposite (refuted); the decider's certificate is re-checked."""
    if claim.get("kind") != "expected-status":
        return False, "a nested verdict certifies an expected-status instance"
    want, got = claim.get("want"), cert.get("status")
    holds = {"proved", "certified"}
    ok, reason = check(claim.get("claim"), got, cert.get("certificate"))
    if not ok:
        return False, f"the decider's certificate: {reason}"
    if status == "proved":
        return require(got == want, f"the decider gave {got}, not {want}")
    opposite = (want in holds and got == "refuted") or (want == "refuted" and got in holds)
    return require(status == "refuted" and opposite, "not the opposite decision")


def recheck(verdicts: Iterable[Mapping[str, Any]]) -> list[tuple[str, str]]:
    """Re-check stored verdicts (their JSON form). Returns (id, reason) for each decided
    verdict whose certificate fails (missing, malformed, or not establishing its status), and
    for each verdict whose certificate states its ``bounds`` (:data:`BOUNDS_CHECKERS`) when
    they fail."""
    failures = []
    for v in verdicts:
        status = v.get("status")
        ok, reason = check_bounds(v.get("claim"), v.get("bounds"), v.get("certificate"))
        if not ok:
            failures.append((str(v.get("id")), reason))
            continue
        if status not in _DECIDED:
            continue
        ok, reason = check(v.get("claim"), status, v.get("certificate"))
        if not ok:
            failures.append((str(v.get("id")), reason))
    return failures
