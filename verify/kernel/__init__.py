"""The certificate kernel: the small, independent code every decided verdict rests on.

Deciders may be large, clever and heuristic (z3 case splits, multi-start search, SDP solvers,
Lanczos); what they hand back with a decided verdict (proved, certified, refuted) is a
*certificate*: plain JSON data from which the conclusion follows by a short computation. This
package runs that computation.

**The claim decides the obligation.** :func:`check_result` first reads the claim against the
obligation table of :mod:`verify.kernel.statements`: the claim's kind must have a statement,
its fields must be that statement's (defaults filled in), and the certificate's kind must be
one the statement declares for the verdict's status. Only then is the checker of that
certificate kind run; it derives what must hold from the claim's fields and reads only
witnesses (points, multipliers, Gram matrices, boxes, input pairs, raw numbers) from the
certificate. So a valid certificate of one fact cannot decide another claim.

**Trust tiers.** Every accepted check says what it trusted (:data:`TIERS`, strongest first):

* ``exact``: Python's ``fractions``, python-flint (arb balls, fmpq, exact polynomials), SymPy's
  exact algebra on expressions parsed from the claim by :mod:`verify.formula`, and the
  optimizer definitions of :mod:`numerics.updates` (what a method name means);
* ``solvers``: in addition, z3 *and* cvc5 both answered ``unsat`` on SMT-LIB2 text the kernel
  generated from the claim (agreement of two decision procedures, not a proof: cvc5's nonlinear
  coverings steps are trusted and z3 gives no nonlinear proofs);
* ``probabilistic``: in addition, a stated confidence computed from recorded raw data (Lanczos
  Ritz values, the dimension), and the floating-point products that produced them.

A checker reports what it used with :func:`uses` (the SMT layer does it itself, so no checker
can forget); a combination (``all-of``, nested verdicts) has the weakest tier of its parts.
Inside :func:`exact_only` every non-exact step fails instead, without importing z3 or cvc5.

:class:`verify.verdict.Verdict` cannot be constructed with a decided status unless the kernel
accepts it, and :func:`recheck_verdicts` re-checks stored verdicts from their JSON alone
(``sharpflat recheck``). Results are memoized by the canonical JSON of what was checked, so a
certificate nested in many verdicts is checked once per process.

Certificate kinds of this module: ``all-of`` (every instance of a registered check, bound to
the check's claim by the SHA-256 of the instance claims), ``refuted-part`` (one refuted
instance of that list) and ``verdict`` (a decider's verdict inside an ``expected-status``
instance). The others are in the modules of this package (see ``sharpflat kinds`` and
docs/architecture.md for the whole table).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Iterator, Mapping

from verify.kernel.statements import DECIDED, META, REQUIRED, STATEMENTS, Statement

CERTIFICATE_VERSION = 2
STATUSES = ("proved", "certified", "evidence", "refuted", "inconclusive", "error")
#: trust tiers, strongest first
TIERS = ("exact", "solvers", "probabilistic")

#: certificate kind -> checker(claim, status, certificate) -> (ok, reason)
CHECKERS: dict[str, Callable[[Mapping, str, Mapping], tuple[bool, str]]] = {}
_MODULES = ("verify.kernel.facts", "verify.kernel.sharp", "verify.kernel.cone",
            "verify.kernel.sos", "verify.kernel.univariate", "verify.kernel.minorant",
            "verify.kernel.filters",
            "verify.kernel.geometry", "verify.kernel.escape", "verify.kernel.networks",
            "verify.kernel.estimates")
#: the largest certificate or claim (characters of canonical JSON) the kernel reads
MAX_TEXT = 50_000_000


def checker(*kinds: str) -> Callable:
    """Register a checker for certificates of ``kinds``."""
    def register(fn: Callable) -> Callable:
        for kind in kinds:
            CHECKERS[kind] = fn
        return fn
    return register


_LOADED: list[bool] = []


def _load() -> None:
    import importlib

    _LOADED.append(True)
    for name in _MODULES:
        importlib.import_module(name)


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


# --------------------------------------------------------------------------------------------
# what a check trusted and established
# --------------------------------------------------------------------------------------------

class NotExact(Exception):
    """A non-exact step was asked for inside :func:`exact_only`."""


@dataclass(frozen=True)
class Result:
    """The kernel's answer: ``ok``, the ``reason`` when not, and for an accepted check the
    weakest ``tier`` it trusted, the ``confidence`` it established (1 unless probabilistic)
    and the ``bounds`` it established (when the statement gives bounds a meaning)."""

    ok: bool
    reason: str = ""
    tier: str | None = None
    confidence: float = 1.0
    bounds: tuple[float, float] | None = None
    pure: bool = True              # a function of the checked data alone (memoizable)


class _Frame:
    def __init__(self) -> None:
        self.tier = "exact"
        self.failure = 0.0          # union bound of the failure probabilities established
        self.bounds: tuple[float, float] | None = None
        self.pure = True            # no file read: the answer is a function of the data


_STATE = threading.local()


def _frames() -> list[_Frame]:
    if not hasattr(_STATE, "frames"):
        _STATE.frames = []
        _STATE.exact_only = False
    return _STATE.frames


def weaker(a: str, b: str) -> str:
    return a if TIERS.index(a) >= TIERS.index(b) else b


def uses(tier: str, what: str = "") -> None:
    """Record that the check under way trusts ``tier`` (``solvers``, ``probabilistic``);
    inside :func:`exact_only` a non-exact step raises :class:`NotExact` instead."""
    if tier not in TIERS:
        raise ValueError(f"unknown trust tier {tier!r}")
    frames = _frames()
    if tier != "exact" and _STATE.exact_only:
        raise NotExact(f"{what or tier} is not exact (recheck --exact-only)")
    if frames:
        frames[-1].tier = weaker(frames[-1].tier, tier)


def establishes(*, confidence: float | None = None,
                bounds: tuple[float, float] | None = None) -> None:
    """Record what the check under way established: a probability (its failure probability is
    added to the check's union bound) and an interval (the verdict's bounds must contain it)."""
    frames = _frames()
    if not frames:
        return
    if confidence is not None:
        if not 0 < confidence <= 1:
            raise ValueError(f"confidence {confidence} is not in (0, 1]")
        frames[-1].failure += 1 - confidence
        if confidence < 1:
            uses("probabilistic", f"a confidence of {confidence}")
    if bounds is not None:
        frames[-1].bounds = (float(bounds[0]), float(bounds[1]))


def reads_files() -> None:
    """Record that the check under way read a file (a user's optimizer, pinned by its hash): its
    answer is not memoized, so an edited or removed file is seen by the next check."""
    frames = _frames()
    if frames:
        frames[-1].pure = False


@contextlib.contextmanager
def exact_only() -> Iterator[None]:
    """Within this block every non-exact step of a check fails (and z3 and cvc5 are never
    imported); memoized results of other tiers are not reused."""
    _frames()
    old = _STATE.exact_only
    _STATE.exact_only = True
    try:
        yield
    finally:
        _STATE.exact_only = old


def is_exact_only() -> bool:
    _frames()
    return bool(_STATE.exact_only)


# --------------------------------------------------------------------------------------------
# canonical forms
# --------------------------------------------------------------------------------------------

def canonical(data: Any) -> str:
    """The canonical JSON text of plain data (sorted keys, no spaces, ASCII); raises
    ValueError on anything that is not plain JSON data (or is too deep or too large)."""
    try:
        text = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=True,
                          allow_nan=False)
    except (TypeError, ValueError, RecursionError) as exc:
        raise ValueError(f"not plain JSON data ({type(exc).__name__})") from None
    if len(text) > MAX_TEXT:
        raise ValueError(f"more than {MAX_TEXT} characters of JSON")
    return text


def sha256(data: Any) -> str:
    """SHA-256 of the canonical JSON of ``data``."""
    return hashlib.sha256(canonical(data).encode("ascii")).hexdigest()


def instances_sha256(claims: Iterable[Mapping[str, Any]]) -> str:
    """The hash that binds a registered check's verdict to its list of instance claims."""
    return sha256([dict(c) if isinstance(c, Mapping) else c for c in claims])


class ClaimError(ValueError):
    """The claim does not match its kind's statement."""


def normalize(claim: Any) -> tuple[Statement, dict[str, Any]]:
    """The claim's statement and the claim with its defaults filled in (raises ClaimError)."""
    if not isinstance(claim, Mapping):
        raise ClaimError("a decided verdict needs its claim (an object with a kind)")
    kind = claim.get("kind")
    if not isinstance(kind, str):
        raise ClaimError("the claim has no kind")
    statement = STATEMENTS.get(kind)
    if statement is None:
        raise ClaimError(f"no claim kind {kind!r} has a statement the kernel can check")
    unknown = set(claim) - set(statement.fields) - set(statement.meta)
    if unknown:
        raise ClaimError(f"{kind}: fields {sorted(unknown)} are not in its statement "
                         f"(allowed: {sorted(statement.fields)})")
    out = dict(claim)
    for name, default in statement.fields.items():
        if out.get(name) is None:
            if default is REQUIRED:
                raise ClaimError(f"{kind}: the claim lacks its field {name!r}")
            if default is not None:
                out[name] = default
            else:
                out.pop(name, None)
    return statement, out


# --------------------------------------------------------------------------------------------
# checking
# --------------------------------------------------------------------------------------------

_MEMO: "OrderedDict[str, Result]" = OrderedDict()
_MEMO_SIZE = 4096


#: ``bounds`` not given to :func:`check_result` (a certificate's validity alone): a certificate
#: that states its verdict's bounds is then not asked about them
NOT_GIVEN: Any = type("NotGiven", (), {"__repr__": lambda self: "NOT_GIVEN"})()


def check_result(claim: Any, status: Any, certificate: Any, *, bounds: Any = NOT_GIVEN,
                 confidence: Any = None) -> Result:
    """Does ``certificate`` establish ``status`` for ``claim``, and the verdict's reported
    ``bounds`` and ``confidence``? Never raises on bad data: it is rejected with its reason."""
    status = getattr(status, "value", status)
    if not isinstance(status, str) or status not in STATUSES:
        return Result(False, f"unknown status {status!r} (one of {', '.join(STATUSES)})")
    if status not in DECIDED:
        if states_bounds(certificate) and bounds is not NOT_GIVEN:   # a certified bracket
            ok, reason = check_bounds(claim, bounds, certificate)
            return Result(ok, reason, "exact" if ok else None)
        return Result(True)
    try:
        statement, full = normalize(claim)
    except ClaimError as exc:
        return Result(False, str(exc))
    if not isinstance(certificate, Mapping) or not isinstance(certificate.get("kind"), str):
        return Result(False, "no certificate")
    kind = certificate["kind"]
    allowed = statement.certificates(status)
    if kind not in allowed:
        return Result(False, f"a {kind!r} certificate does not decide {status} for a "
                             f"{statement.kind} claim (allowed: {', '.join(allowed) or 'none'})")
    if not _LOADED:
        _load()
    fn = CHECKERS.get(kind)
    if fn is None:
        return Result(False, f"unknown certificate kind {kind!r}")
    try:
        key = canonical([full, status, certificate, is_exact_only()])
    except ValueError as exc:
        return Result(False, f"the claim or certificate is malformed: {exc}")
    result = _MEMO.get(key)
    if result is None:
        effective = "proved" if (status == "certified" and kind in statement.proved
                                 and kind not in statement.certified) else status
        result = _run(fn, full, effective, certificate, statement)
        if result.pure:
            _MEMO[key] = result
            if len(_MEMO) > _MEMO_SIZE:
                _MEMO.popitem(last=False)
    if result.ok:
        result = _reported(result, statement, status, bounds, confidence)
    if result.ok and states_bounds(certificate) and bounds is not NOT_GIVEN:   # ... and bounds
        ok, reason = check_bounds(full, bounds, certificate)
        if not ok:
            result = Result(False, reason, pure=result.pure)
    frames = _frames()
    if frames:
        frames[-1].pure = frames[-1].pure and result.pure
    if result.ok and frames:                 # a nested check: its trust is its parent's too
        frames[-1].tier = weaker(frames[-1].tier, result.tier or "exact")
        frames[-1].failure += 1 - result.confidence
    return result


def _run(fn: Callable, claim: dict, status: str, certificate: Mapping, statement: Statement
         ) -> Result:
    frames = _frames()
    frame = _Frame()
    frames.append(frame)
    try:
        ok, reason = fn(claim, status, certificate)
    except NotExact as exc:
        return Result(False, str(exc), pure=frame.pure)
    except Exception as exc:  # noqa: BLE001 - a certificate that breaks the check fails it
        return Result(False, f"{certificate.get('kind')}: the check failed on this data "
                             f"({type(exc).__name__}: {_short(exc)})", pure=frame.pure)
    finally:
        frames.pop()
    if not ok:
        return Result(False, reason or "rejected", pure=frame.pure)
    confidence = max(0.0, 1.0 - frame.failure)
    if confidence <= 0:
        return Result(False, "the established probability is not positive")
    return Result(True, "", frame.tier, confidence, frame.bounds, frame.pure)


def _short(exc: BaseException) -> str:
    text = str(exc)
    return text if len(text) <= 300 else text[:300] + "..."


def _reported(result: Result, statement: Statement, status: str, bounds: Any,
              confidence: Any) -> Result:
    """The verdict reports no more than the certificate established."""
    if confidence is not None:
        try:
            c = float(confidence)
        except (TypeError, ValueError):
            return Result(False, f"the verdict's confidence {confidence!r} is not a number",
                          pure=result.pure)
        if not (0 < c <= 1) or c > result.confidence + 1e-12:
            return Result(False, f"the verdict states confidence {c}, the certificate "
                                 f"establishes {result.confidence}", pure=result.pure)
    elif status == "certified" and result.confidence < 1:
        return Result(False, "a probabilistic certificate needs the verdict's confidence",
                      pure=result.pure)
    if statement.bounds and bounds is not None and bounds is not NOT_GIVEN and \
            status != "refuted":
        if result.bounds is None:
            return Result(False, "the certificate does not establish the verdict's bounds",
                          pure=result.pure)
        try:
            lo, hi = (float(b) for b in bounds)
        except (TypeError, ValueError):
            return Result(False, f"the verdict's bounds {bounds!r} are not two numbers",
                          pure=result.pure)
        elo, ehi = result.bounds
        # the established ends are themselves computed in floating point (probabilistic tier):
        # the verdict's may differ from them by rounding, 1e-12 relative, never more
        slack = 1e-12
        if math.isnan(lo) or math.isnan(hi) or lo > elo + slack * abs(elo) or \
                hi < ehi - slack * abs(ehi):
            return Result(False, f"the verdict's bounds [{lo}, {hi}] are narrower than the "
                                 f"established [{elo}, {ehi}]", pure=result.pure)
    return result


def check(claim: Any, status: Any, certificate: Any) -> tuple[bool, str]:
    """(ok, reason) of :func:`check_result` without reported bounds or confidence."""
    r = check_result(claim, status, certificate)
    return r.ok, r.reason


def check_verdict(data: Mapping[str, Any]) -> Result:
    """Check a verdict's JSON form: its claim, status, certificate, bounds and confidence."""
    if not isinstance(data, Mapping):
        return Result(False, "a verdict must be a JSON object")
    return check_result(data.get("claim"), data.get("status"), data.get("certificate"),
                        bounds=data.get("bounds"), confidence=data.get("confidence"))


# --------------------------------------------------------------------------------------------
# combinations
# --------------------------------------------------------------------------------------------

def _part_result(part: Any, status: str | None = None) -> Result:
    if not isinstance(part, Mapping):
        return Result(False, "a part is not an object")
    return check_result(part.get("claim"), status or part.get("status"),
                        part.get("certificate"), confidence=part.get("confidence"),
                        bounds=part.get("bounds"))


@checker("all-of")
def _all_of(claim: Mapping, status: str, cert: Mapping) -> tuple[bool, str]:
    """Every instance claim of the check holds; the instance claims hash to the claim's
    ``instances_sha256`` (which recheck compares with the registered check's generation)."""
    parts = cert.get("parts")
    if not isinstance(parts, list) or not parts:
        return False, "all-of: no parts"
    claims = [p.get("claim") if isinstance(p, Mapping) else None for p in parts]
    if instances_sha256(claims) != claim["instances_sha256"]:
        return False, "all-of: the parts are not the instances of this check"
    for p in parts:
        part_status = p.get("status")
        if part_status not in ("proved", "certified") or (status == "proved"
                                                          and part_status != "proved"):
            return False, f"part {p.get('id')!r}: {part_status} cannot make the check {status}"
        r = _part_result(p)
        if not r.ok:
            return False, f"part {p.get('id')!r}: {r.reason}"
    return True, ""


@checker("refuted-part")
def _refuted_part(claim: Mapping, status: str, cert: Mapping) -> tuple[bool, str]:
    """One instance claim of the check is refuted: ``claims`` is the check's list of instance
    claims (hashing to ``instances_sha256``), ``index`` the refuted one, ``part`` its verdict."""
    claims, index, part = cert.get("claims"), cert.get("index"), cert.get("part")
    if not isinstance(claims, list) or isinstance(index, bool) or not isinstance(index, int) \
            or not 0 <= index < len(claims) or not isinstance(part, Mapping):
        return False, "refuted-part: the instance claims, an index into them and the part"
    if instances_sha256(claims) != claim["instances_sha256"]:
        return False, "refuted-part: the claims are not the instances of this check"
    if canonical(part.get("claim")) != canonical(claims[index]):
        return False, "refuted-part: the part is not the instance at that index"
    r = _part_result(part, "refuted")
    return require(r.ok, f"part {part.get('id')!r}: {r.reason}")


@checker("verdict")
def _nested(claim: Mapping, status: str, cert: Mapping) -> tuple[bool, str]:
    """An expected-status instance: the decider's verdict on the inner claim (``status`` and
    ``certificate`` of the certificate, re-checked against the claim's inner claim) was
    ``want`` (proved; certified when the decider certified it) or its opposite (refuted)."""
    want, got = claim["want"], cert.get("status")
    if want not in DECIDED or got not in DECIDED:
        return False, "an expected status and the decider's status are decided statuses"
    r = check_result(claim["claim"], got, cert.get("certificate"),
                     confidence=cert.get("confidence"), bounds=cert.get("bounds"))
    if not r.ok:
        return False, f"the decider's certificate: {r.reason}"
    if status in ("proved", "certified"):
        if got != want:
            return False, f"the decider gave {got}, not {want}"
        return require(status == "certified" or got != "certified",
                       "a certified decision makes the instance certified, not proved")
    holds = ("proved", "certified")
    opposite = (want in holds and got == "refuted") or (want == "refuted" and got in holds)
    return require(opposite, "not the opposite decision")


# --------------------------------------------------------------------------------------------
# re-checking stored verdicts
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Rechecked:
    """One stored verdict after :func:`recheck_verdicts`."""

    id: str
    status: str
    ok: bool
    reason: str = ""
    tier: str | None = None
    note: str = ""


def recheck_verdicts(verdicts: Iterable[Any], *, exact: bool = False,
                     bind: Callable[[Mapping[str, Any]], tuple[bool, str]] | None = None
                     ) -> list[Rechecked]:
    """Re-check stored verdicts (their JSON form). Every decided verdict is checked; a verdict
    with a status outside the six, or that is not an object, is a failure; undecided ones are
    listed as such. ``exact``: every non-exact tier fails. ``bind(claim)``: a further test of a
    check verdict's claim (the engine compares it with the registered check)."""
    out = []
    for v in verdicts:
        if not isinstance(v, Mapping):
            out.append(Rechecked("?", "?", False, "a verdict must be a JSON object"))
            continue
        vid = v.get("id")
        vid = vid if isinstance(vid, str) and vid else "?"
        status = v.get("status")
        if not isinstance(status, str) or status not in STATUSES:
            out.append(Rechecked(vid, str(status), False, f"unknown status {status!r}"))
            continue
        if status not in DECIDED:
            if states_bounds(v.get("certificate")):
                with exact_only() if exact else contextlib.nullcontext():
                    r = check_verdict(v)
                out.append(Rechecked(vid, status, r.ok, r.reason, r.tier,
                                     note="undecided: its certified bounds re-checked"))
                continue
            out.append(Rechecked(vid, status, True, note="not decided: nothing to re-check"))
            continue
        with exact_only() if exact else contextlib.nullcontext():
            r = check_verdict(v)
        if r.ok and exact and r.tier != "exact":
            r = Result(False, f"trusts {r.tier}, not exact")
        if not r.ok:
            out.append(Rechecked(vid, status, False, r.reason))
            continue
        stated = v.get("trust")
        if stated is not None and (stated not in TIERS or TIERS.index(stated) <
                                   TIERS.index(r.tier or "exact")):
            out.append(Rechecked(vid, status, False, f"the verdict states trust {stated!r}, its "
                                                     f"certificate rests on {r.tier}"))
            continue
        note = ""
        claim = v.get("claim")
        if bind is not None and isinstance(claim, Mapping) and claim.get("kind") == "check":
            bound, note = bind(claim)
            if not bound:
                out.append(Rechecked(vid, status, False, note))
                continue
        out.append(Rechecked(vid, status, True, tier=r.tier, note=note))
    return out


def recheck(verdicts: Iterable[Mapping[str, Any]]) -> list[tuple[str, str]]:
    """(id, reason) of each stored verdict that fails :func:`recheck_verdicts`."""
    return [(r.id, r.reason) for r in recheck_verdicts(verdicts) if not r.ok]
