"""Verdicts and claims: the data types every layer speaks.

This module imports nothing of the project (and nothing heavy), so that ``theorems`` can build
claims and return verdicts without pulling in the engine.

A :class:`Verdict` has exactly one :class:`Status` (ARCHITECTURE.md, "Verdicts"):

========== ================================================================================
proved      holds, by exact reasoning (SymPy identity, exact rationals, re-checked certificate)
certified   holds, by a numerical certificate with a stated rigorous or probabilistic guarantee
evidence    no counterexample found; numerical support only (the sample size is recorded)
refuted     false, with a re-checked counterexample
inconclusive could not decide (the reason is in ``message``)
error       the input or the program failed (the message says what to try next)
========== ================================================================================

The invariants that make a verdict sound are enforced once, in :meth:`Verdict.__post_init__`:
a verdict that breaks them cannot be constructed.

JSON schema (``SCHEMA_VERSION`` = 3, which added ``trust``; versions 1 and 2 are still read):
an object with the keys of :data:`VERDICT_FIELDS`. ``trust`` is the tier the kernel's re-check
of a decided verdict rests on (``exact``, ``solvers``, ``probabilistic``; null otherwise).
``status`` is one of the six strings above; ``bounds`` is ``null`` or ``[lower, upper]``;
non-finite floats are written as the strings ``"nan"``, ``"inf"``, ``"-inf"``; exact numbers
(SymPy) are written as strings in SymPy syntax. :data:`VERDICT_JSON_SCHEMA` is the same
description as a JSON Schema document.
"""

from __future__ import annotations

import enum
import math
import numbers
import time
from dataclasses import dataclass, field, fields
from typing import Any, Callable, Iterable, Mapping

SCHEMA_VERSION = 3


class Status(str, enum.Enum):
    """The six verdict statuses, ordered from strongest to weakest."""

    PROVED = "proved"
    CERTIFIED = "certified"
    EVIDENCE = "evidence"
    REFUTED = "refuted"
    INCONCLUSIVE = "inconclusive"
    ERROR = "error"

    def __str__(self) -> str:  # pragma: no cover - trivial
        return self.value


#: The claim holds (exactly or by a certificate).
HOLDS = frozenset({Status.PROVED, Status.CERTIFIED})
#: The claim is supported (holds, or numerical evidence only).
SUPPORTED = HOLDS | {Status.EVIDENCE}
#: A decision was reached either way.
DECIDED = HOLDS | {Status.REFUTED}
#: No decision.
NOT_DECIDED = frozenset({Status.INCONCLUSIVE, Status.ERROR})
#: Statuses that make a run fail (non-zero exit).
FAILING = frozenset({Status.REFUTED, Status.ERROR})


class VerdictInvariantError(ValueError):
    """A verdict was built that would break a soundness rule (a programming error)."""


# --------------------------------------------------------------------------------------------
# JSON conversion
# --------------------------------------------------------------------------------------------

def to_jsonable(obj: Any) -> Any:
    """Convert ``obj`` to plain JSON types.

    Non-finite floats become ``"nan"``/``"inf"``/``"-inf"``; NumPy scalars and arrays become
    numbers and lists; SymPy objects (and anything else with a SymPy-style ``free_symbols``)
    become their string form, which the formula parser reads back; tuples become lists.
    """
    if obj is None or isinstance(obj, (bool, str)):
        return obj
    if isinstance(obj, enum.Enum):
        return obj.value
    if isinstance(obj, numbers.Integral) and type(obj).__module__ in ("builtins", "numpy"):
        return int(obj)
    if isinstance(obj, float) or (type(obj).__module__ == "numpy" and hasattr(obj, "dtype")
                                  and getattr(obj, "shape", None) == ()):
        value = float(obj)
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return value
    if isinstance(obj, Mapping):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if hasattr(obj, "tolist") and type(obj).__module__.startswith(("numpy", "torch")):
        return to_jsonable(obj.tolist())
    if isinstance(obj, (list, tuple, set, frozenset)):
        items = sorted(obj, key=str) if isinstance(obj, (set, frozenset)) else obj
        return [to_jsonable(v) for v in items]
    if hasattr(obj, "free_symbols") or type(obj).__module__.startswith("sympy"):
        return str(obj)
    if isinstance(obj, numbers.Number):
        return to_jsonable(float(obj))
    raise TypeError(f"cannot convert {type(obj).__name__} to JSON: {obj!r}")


def float_from_json(value: Any) -> float | None:
    """Inverse of :func:`to_jsonable` for one float (accepts ``"nan"``, ``"inf"``...)."""
    if value is None:
        return None
    if isinstance(value, str):
        return float(value)
    return float(value)


# --------------------------------------------------------------------------------------------
# Claims
# --------------------------------------------------------------------------------------------

@dataclass
class Claim:
    """A statement to decide: a claim ``kind`` with its parameters.

    ``params`` holds parsed values (SymPy expressions, tuples of numbers, strings). Theorem
    modules provide constructors that read like the mathematics, e.g.
    ``theorems.sharp.sharp_minimizer(f, at=(0, 0), modulus=Rational(8, 10))``.
    """

    kind: str
    params: dict[str, Any]
    id: str = ""
    source: str = ""

    def describe(self) -> dict[str, Any]:
        """JSON form of the claim (exact numbers as strings)."""
        return {"id": self.id, "kind": self.kind, "source": self.source,
                **{k: to_jsonable(v) for k, v in self.params.items()}}

    def check(self, *, seed: int = 0, budget: int | None = None) -> "Verdict":
        """Decide this claim in the current process with its kind's decider.

        ``budget``: deterministic solver resource units (None: the kind's default)."""
        from verify.registry import decide  # local: keeps this module free of the engine

        return decide(self, seed=seed, budget=budget)


# --------------------------------------------------------------------------------------------
# Verdicts
# --------------------------------------------------------------------------------------------

@dataclass
class Assumption:
    """A hypothesis of a theorem and whether it was checked: True, False, or None (unknown)."""

    name: str
    holds: bool | None
    how: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "holds": self.holds, "how": self.how}


@dataclass
class Verdict:
    """The outcome of deciding one claim or running one check."""

    id: str
    kind: str
    status: Status
    method: str
    message: str = ""
    claim: dict[str, Any] = field(default_factory=dict)
    evidence: dict[str, Any] = field(default_factory=dict)
    bounds: tuple[Any, Any] | None = None
    counterexample: dict[str, Any] | None = None
    confidence: float | None = None
    sample_size: int | None = None
    assumptions: list[Assumption] = field(default_factory=list)
    certificate: dict[str, Any] | None = None
    trust: str | None = None
    elapsed: float | None = None
    seed: int | None = None
    versions: dict[str, str] = field(default_factory=dict)
    schema_version: int = SCHEMA_VERSION

    def __post_init__(self) -> None:
        self.status = Status(self.status)
        self.assumptions = [a if isinstance(a, Assumption) else Assumption(**a)
                            for a in self.assumptions]
        if self.bounds is not None:
            self.bounds = (self.bounds[0], self.bounds[1])
        self._check_invariants()

    def _check_invariants(self) -> None:
        s = self.status
        if not self.id or not self.kind or not self.method:
            raise VerdictInvariantError("a verdict needs a non-empty id, kind and method")
        numbers_seen = list(_floats_in(self.bounds)) + list(_floats_in(self.confidence))
        if s in DECIDED | {Status.EVIDENCE} and any(math.isnan(v) for v in numbers_seen):
            raise VerdictInvariantError(f"{self.id}: NaN in bounds/confidence cannot give {s.value}")
        if s is Status.REFUTED and not self.counterexample:
            raise VerdictInvariantError(f"{self.id}: refuted needs a re-checked counterexample")
        if s is Status.REFUTED and any(isinstance(v, float) and math.isnan(v)
                                       for v in _leaves(self.counterexample)):
            raise VerdictInvariantError(f"{self.id}: a counterexample with NaN cannot refute")
        if s is Status.CERTIFIED and self.confidence is None:
            raise VerdictInvariantError(f"{self.id}: certified needs a confidence (1.0 if rigorous)")
        if self.confidence is not None and not (0.0 < float(self.confidence) <= 1.0):
            raise VerdictInvariantError(f"{self.id}: confidence must lie in (0, 1]")
        if s is Status.EVIDENCE and self.sample_size is None:
            raise VerdictInvariantError(f"{self.id}: evidence needs its sample size")
        if s in HOLDS and any(a.holds is not True for a in self.assumptions):
            bad = [a.name for a in self.assumptions if a.holds is not True]
            raise VerdictInvariantError(
                f"{self.id}: {s.value} with unverified assumptions {bad}")
        if s in DECIDED and not _LOADING:
            if not self.certificate:
                raise VerdictInvariantError(f"{self.id}: {s.value} needs a certificate that "
                                            "the kernel re-checks")
            from verify import kernel  # local: the kernel is imported when something decides

            result = kernel.check_result(self.claim, s.value, self.certificate,
                                         bounds=self.bounds, confidence=self.confidence)
            if not result.ok:
                raise VerdictInvariantError(f"{self.id}: the kernel rejected the certificate "
                                            f"of this {s.value} verdict: {result.reason}")
            self.trust = result.tier
        elif not _LOADING:
            self.trust = None

    # -- convenience ------------------------------------------------------------------------
    @property
    def holds(self) -> bool:
        return self.status in HOLDS

    @property
    def failing(self) -> bool:
        return self.status in FAILING

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "assumptions":
                value = [a.to_dict() for a in value]
            out[f.name] = to_jsonable(value)
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "Verdict":
        """Rebuild a verdict from its JSON form; raises ValueError on a malformed object.

        Deserialization does not re-run the kernel (the verdict was checked when it was made;
        ``sharpflat recheck`` re-checks stored verdicts, :func:`verify.kernel.recheck`)."""
        global _LOADING
        validate_verdict_dict(data)
        kwargs = {k: data[k] for k in VERDICT_FIELDS if k in data}
        kwargs["schema_version"] = SCHEMA_VERSION
        if kwargs.get("bounds") is not None:
            kwargs["bounds"] = tuple(kwargs["bounds"])
        _LOADING = True
        try:
            return cls(**kwargs)
        finally:
            _LOADING = False

    def to_json(self, **kw: Any) -> str:
        import json

        return json.dumps(self.to_dict(), allow_nan=False, **kw)

    @classmethod
    def from_json(cls, text: str) -> "Verdict":
        import json

        return cls.from_dict(json.loads(text))

    def _repr_html_(self) -> str:
        """A notebook's view: the verdict's report section (:func:`verify.report.verdict_html`)."""
        from verify.report import verdict_html  # local: the report is loaded when shown

        return verdict_html(self)


VERDICT_FIELDS = tuple(f.name for f in fields(Verdict))
_LOADING = False

_NUMBER_OR_STRING = {"type": ["number", "string", "null"]}
VERDICT_JSON_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "sharpflat verdict",
    "type": "object",
    "required": ["id", "kind", "status", "method", "message", "schema_version"],
    "properties": {
        "id": {"type": "string", "minLength": 1},
        "kind": {"type": "string", "minLength": 1},
        "status": {"enum": [s.value for s in Status]},
        "method": {"type": "string", "minLength": 1},
        "message": {"type": "string"},
        "claim": {"type": "object"},
        "evidence": {"type": "object"},
        "bounds": {"oneOf": [{"type": "null"},
                             {"type": "array", "items": _NUMBER_OR_STRING,
                              "minItems": 2, "maxItems": 2}]},
        "counterexample": {"type": ["object", "null"]},
        "confidence": {"type": ["number", "null"]},
        "sample_size": {"type": ["integer", "null"]},
        "certificate": {"type": ["object", "null"]},
        "trust": {"enum": ["exact", "solvers", "probabilistic", None]},
        "assumptions": {"type": "array", "items": {
            "type": "object", "required": ["name", "holds"],
            "properties": {"name": {"type": "string"}, "holds": {"type": ["boolean", "null"]},
                           "how": {"type": "string"}}}},
        "elapsed": {"type": ["number", "null"]},
        "seed": {"type": ["integer", "null"]},
        "versions": {"type": "object"},
        "schema_version": {"enum": [1, 2, SCHEMA_VERSION]},
    },
    "additionalProperties": False,
}


def validate_verdict_dict(data: Any) -> None:
    """Check ``data`` against :data:`VERDICT_JSON_SCHEMA` (the subset it uses)."""
    if not isinstance(data, Mapping):
        raise ValueError("a verdict must be a JSON object")
    props = VERDICT_JSON_SCHEMA["properties"]
    unknown = set(data) - set(props)
    if unknown:
        raise ValueError(f"unknown verdict fields: {sorted(unknown)}")
    for key in VERDICT_JSON_SCHEMA["required"]:
        if key not in data:
            raise ValueError(f"verdict is missing the field {key!r}")
    if data["schema_version"] not in (1, 2, SCHEMA_VERSION):
        raise ValueError(f"verdict schema version {data['schema_version']!r} is not "
                         f"{SCHEMA_VERSION}; re-run with this version of sharpflat")
    if data["status"] not in props["status"]["enum"]:
        raise ValueError(f"unknown status {data['status']!r}")
    types = {"string": str, "object": Mapping, "array": list, "number": (int, float),
             "integer": int, "boolean": bool, "null": type(None)}
    for key, value in data.items():
        spec = props[key]
        if "enum" in spec and value not in spec["enum"]:
            raise ValueError(f"verdict field {key!r} is not one of {spec['enum']}: {value!r}")
        allowed = spec.get("type")
        if allowed is None:
            continue
        allowed = [allowed] if isinstance(allowed, str) else allowed
        ok = any(isinstance(value, types[t]) and not (t in ("number", "integer")
                                                      and isinstance(value, bool))
                 for t in allowed)
        if not ok:
            raise ValueError(f"verdict field {key!r} has the wrong type: {value!r}")
    if data.get("bounds") is not None and (not isinstance(data["bounds"], list)
                                           or len(data["bounds"]) != 2):
        raise ValueError("verdict field 'bounds' must be null or a pair")


def _leaves(value: Any) -> Iterable[Any]:
    if isinstance(value, Mapping):
        for v in value.values():
            yield from _leaves(v)
    elif isinstance(value, (list, tuple)):
        for v in value:
            yield from _leaves(v)
    else:
        yield value


def _floats_in(value: Any) -> Iterable[float]:
    if value is None:
        return
    if isinstance(value, (tuple, list)):
        for v in value:
            yield from _floats_in(v)
        return
    if isinstance(value, str):
        try:
            yield float(value)
        except ValueError:
            return
        return
    try:
        yield float(value)
    except (TypeError, ValueError):
        return


# --------------------------------------------------------------------------------------------
# Building verdicts
# --------------------------------------------------------------------------------------------

_STRENGTH = [Status.ERROR, Status.REFUTED, Status.INCONCLUSIVE, Status.EVIDENCE,
             Status.CERTIFIED, Status.PROVED]


def weakest(statuses: Iterable[Status]) -> Status:
    """The status of a conjunction: any error, else any refuted, else the weakest support."""
    statuses = [Status(s) for s in statuses]
    if not statuses:
        raise ValueError("weakest() of no statuses")
    return min(statuses, key=_STRENGTH.index)


class Decision:
    """The verdicts of one claim's decision, built against the claim they are about.

    Every decided verdict (proved, certified, refuted) needs a ``certificate`` that the kernel
    (:mod:`verify.kernel`) re-checks against ``claim`` when the verdict is constructed; the other
    statuses carry what they need (a sample size, a reason). Deciders return
    ``Decision(claim).proved(...)`` and the like, never a hand-built :class:`Verdict`.
    """

    def __init__(self, claim: "Claim | Mapping[str, Any]", *, id: str | None = None):
        self.claim = claim.describe() if isinstance(claim, Claim) else dict(claim)
        self.id = id or self.claim.get("id") or self.claim.get("kind") or "claim"
        self.kind = self.claim.get("kind") or "instance"

    def verdict(self, status: Status, method: str, message: str = "", **kw: Any) -> Verdict:
        return Verdict(id=self.id, kind=self.kind, status=status, method=method,
                       message=message, claim=dict(self.claim), **kw)

    def proved(self, method: str, message: str, *, certificate: dict, **kw: Any) -> Verdict:
        return self.verdict(Status.PROVED, method, message, certificate=certificate, **kw)

    def certified(self, method: str, message: str, *, certificate: dict,
                  confidence: float = 1.0, **kw: Any) -> Verdict:
        return self.verdict(Status.CERTIFIED, method, message, certificate=certificate,
                            confidence=confidence, **kw)

    def refuted(self, method: str, message: str, *, certificate: dict,
                counterexample: dict | None = None, **kw: Any) -> Verdict:
        return self.verdict(Status.REFUTED, method, message, certificate=certificate,
                            counterexample=counterexample or _readable(certificate), **kw)

    def evidence(self, method: str, message: str, *, sample_size: int, **kw: Any) -> Verdict:
        return self.verdict(Status.EVIDENCE, method, message, sample_size=sample_size, **kw)

    def inconclusive(self, method: str, message: str, **kw: Any) -> Verdict:
        return self.verdict(Status.INCONCLUSIVE, method, message, **kw)

    def error(self, message: str, **kw: Any) -> Verdict:
        return self.verdict(Status.ERROR, "none", message, **kw)

    def decided(self, status: Status, method: str, message: str, *, certificate: dict,
                **kw: Any) -> Verdict:
        """A decided verdict whose status a certificate-producing function chose."""
        if status is Status.CERTIFIED:
            kw.setdefault("confidence", 1.0)
        if status is Status.REFUTED:
            kw.setdefault("counterexample", _readable(certificate))
        return self.verdict(status, method, message, certificate=certificate, **kw)


def _readable(certificate: dict) -> dict:
    """The counterexample of a refuting certificate, for people (the certificate is for the
    kernel): its data without the bookkeeping keys."""
    return {k: v for k, v in certificate.items() if k not in ("kind", "version")} or \
        {"certificate": certificate.get("kind", "?")}


def instance_claim(id: str, statement: str) -> dict[str, Any]:
    """The claim of one *observation* of a check (numerical; never decided): free text that no
    certificate can establish. Decided instances are formal claims (:meth:`Instances.claim`)."""
    return {"id": id, "kind": "instance", "statement": statement}


#: the registered check under way (set by :meth:`verify.registry.Check.run`): its description,
#: seed and scale, from which :meth:`Instances.verdict` builds the check's claim
CHECK_CONTEXT: dict[str, Any] = {}
#: while a check's instance claims are being generated without deciding them
#: (:func:`verify.registry.plan_instances`), the list they are recorded in
PLAN: list[dict[str, Any]] | None = None


def _planned(id: str, claim: dict[str, Any]) -> "Verdict":
    return Verdict(id=id, kind=claim.get("kind") or "instance", status=Status.INCONCLUSIVE,
                   method="none", message="planned, not decided", claim=claim)


class Instances:
    """The instances of one registered check, and the check's verdict built from them.

    A decided instance is a *formal claim* (a paper's claim kind, or an exact fact kind such as
    ``identity``, ``inequalities``, ``forall``) decided by its kind's decider, whose
    certificate the kernel re-checks against that claim (:meth:`claim`); numerical
    observations carry their sample size and are never refuted (a numerical disagreement is
    inconclusive). :meth:`verdict` combines them: the status is the weakest of the instances',
    decided only when their certificates decide it, and the check's claim binds the list of
    instance claims (their SHA-256), which ``sharpflat recheck`` compares with a fresh
    generation of the check.
    """

    def __init__(self, method: str):
        self.method = method
        self.parts: list[Verdict] = []

    def add(self, verdict: Verdict) -> Verdict:
        self.parts.append(verdict)
        return verdict

    def claim(self, id: str, claim: Any, want: Status = Status.PROVED, *, seed: int = 0,
              decide: Callable[[Any], Verdict] | None = None) -> Verdict:
        """Decide the formal ``claim`` (a :class:`Claim`) and add it as the instance ``id``.

        ``want`` is the status the statement predicts. For proved (or certified) the instance is
        the claim's own verdict: proved or certified as decided, refuted when the claim is
        refuted (a finding), evidence or inconclusive otherwise. For refuted the instance is an
        ``expected-status`` claim wrapping it (see :meth:`expect`). ``decide`` replaces the
        kind's decider (``claim.check(seed=seed)``); it must not change the claim."""
        want = Status(want)
        if want is Status.REFUTED:
            return self.expect(id, claim, want, seed=seed, decide=decide)
        described = _described(claim)
        if PLAN is not None:
            PLAN.append(described)
            return _planned(id, described)
        verdict = _decide(claim, seed, decide, described)
        if verdict.status is Status.ERROR:        # a failure, never a finding about the claim
            verdict = Decision(described).inconclusive(
                verdict.method, f"the decider failed: {verdict.message}")
        verdict.id = id
        return self.add(verdict)

    def expect(self, id: str, claim: Any, want: Status, *, seed: int = 0,
               decide: Callable[[Any], Verdict] | None = None) -> Verdict:
        """An instance that decides ``claim`` and compares the status with ``want``, the status
        a statement predicts (a claim of kind ``expected-status``).

        proved when a decided ``want`` came out (the decider's certificate is re-checked as the
        instance's; certified when the decider certified); refuted only when the decider reached
        the *opposite decision* (a finding, with the decider's certificate); evidence when an
        undecided ``want`` (inconclusive) came out; inconclusive otherwise. A budget that ran
        out, an error or a timeout is never read as the opposite answer."""
        want = Status(want)
        inner = _described(claim)
        outer = {"id": id, "kind": "expected-status", "want": want.value, "claim": inner}
        if PLAN is not None:
            PLAN.append(outer)
            return _planned(id, outer)
        verdict = _decide(claim, seed, decide, inner)
        got = verdict.status
        record = {"verdict": verdict.to_dict()}
        d = Decision(outer)
        nested = {"kind": "verdict", "status": got.value, "certificate": verdict.certificate,
                  "confidence": verdict.confidence,
                  "bounds": to_jsonable(verdict.bounds) if verdict.bounds is not None else None}
        if got is want and want in DECIDED:
            text = f"{got.value} as the statement predicts: {verdict.message}"
            if got is Status.CERTIFIED:
                return self.add(d.certified(verdict.method, text, certificate=nested,
                                            confidence=verdict.confidence, evidence=record))
            return self.add(d.proved(verdict.method, text, certificate=nested, evidence=record))
        opposite = ((want in HOLDS and got is Status.REFUTED)
                    or (want is Status.REFUTED and got in HOLDS))
        if opposite:
            return self.add(d.refuted(verdict.method, f"expected {want.value}, the decider says "
                                      f"{got.value}: {verdict.message}", certificate=nested,
                                      counterexample=record, evidence=record))
        if got is want:
            return self.add(d.evidence(verdict.method, f"{got.value} as the statement "
                                       f"predicts: {verdict.message}", sample_size=1,
                                       evidence=record))
        return self.add(d.inconclusive(verdict.method, f"expected {want.value}, the decider "
                                       f"gave {got.value} (no decision either way): "
                                       f"{verdict.message}", evidence=record))

    def observed(self, id: str, ok: bool | None, message: str, *, sample_size: int,
                 method: str = "numerical", **kw: Any) -> Verdict:
        """A numerical observation: evidence when it agrees with the statement, inconclusive
        otherwise (a numerical disagreement is reported, never a refutation)."""
        d = Decision(instance_claim(id, message))
        if ok:
            return self.add(d.evidence(method, message, sample_size=sample_size, **kw))
        return self.add(d.inconclusive(method, message, **kw))

    def inconclusive(self, id: str, message: str, *, method: str = "none", **kw: Any
                     ) -> Verdict:
        return self.add(Decision(instance_claim(id, message)).inconclusive(method, message,
                                                                            **kw))

    def verdict(self, *, message: str = "", evidence: dict[str, Any] | None = None,
                method: str | None = None, **extra: Any) -> Verdict:
        """The check's verdict: the conjunction of the instances (see :func:`conjunction`)."""
        if PLAN is not None:
            return _planned(CHECK_CONTEXT.get("id") or "check", {"kind": "check"})
        return conjunction(self.parts, method=method or self.method, message=message,
                           evidence=evidence, **extra)


def _described(claim: Any) -> dict[str, Any]:
    """The JSON form of a formal claim with its kind's defaults filled in (what the decider
    will state)."""
    if isinstance(claim, Claim):
        from verify.registry import kind as declared

        for f in declared(claim.kind).fields:
            if f.default is not None and claim.params.get(f.name) is None:
                claim.params[f.name] = f.default
        return claim.describe()
    if isinstance(claim, Mapping):
        return dict(claim)
    raise TypeError(f"an instance is a formal claim, not {type(claim).__name__}")


def _decide(claim: Any, seed: int, decide: Callable[[Any], Verdict] | None,
            described: dict[str, Any]) -> Verdict:
    verdict = decide(claim) if decide is not None else claim.check(seed=seed)
    if verdict.claim != described:
        if verdict.status in DECIDED:
            raise RuntimeError(f"the decider of {described.get('kind')} changed the claim it "
                               f"decided: {described} became {verdict.claim}")
        verdict.claim = dict(described)      # undecided: the instance states the claim as built
    return verdict


def check_claim(parts: Iterable["Verdict"] = (), *, formal: list | None = None
                ) -> dict[str, Any]:
    """The claim of the registered check under way: its description, seed and scale, and the
    SHA-256 of its formal instance claims (``formal``, or those of ``parts``)."""
    import hashlib
    import json

    if formal is None:
        formal = [p.claim for p in parts if p.claim.get("kind") != "instance"]
    text = json.dumps([dict(c) for c in formal], sort_keys=True, separators=(",", ":"),
                      ensure_ascii=True, allow_nan=False)
    context = CHECK_CONTEXT or {"id": "check", "paper": "?", "statement": "?",
                                "profile": "quick", "seed": 0}
    claim = {"id": context.get("id", "check"), "kind": "check"}
    for key in ("paper", "statement", "summary", "profile", "device", "module", "nature",
                "seed", "scale"):
        if context.get(key) is not None:
            claim[key] = context[key]
    claim["instances_sha256"] = hashlib.sha256(text.encode("ascii")).hexdigest()
    return claim


def conjunction(parts: list[Verdict], *, method: str, message: str = "",
                evidence: dict[str, Any] | None = None, **extra: Any) -> Verdict:
    """One verdict for the conjunction of ``parts``, about the check under way.

    The status is :func:`weakest` of the parts. A proved or certified conjunction carries the
    certificate ``all-of`` (every part, its claim and certificate); a refuted one ``refuted-part``
    (the list of formal instance claims, the index of the first refuted part and that part).
    The claim is the check's (:func:`check_claim`). The confidence of a certified conjunction is
    the union bound 1 - sum(1 - c_i), which holds whether or not the parts are independent.
    """
    if not parts:
        raise ValueError("a conjunction of no instances")
    status = weakest(p.status for p in parts)
    formal = [p.claim for p in parts if p.claim.get("kind") != "instance"]
    claim = check_claim(formal=formal)
    refuted = next((p for p in parts if p.status is Status.REFUTED), None)
    confs = [p.confidence for p in parts if p.confidence is not None]
    confidence = None
    if status is Status.CERTIFIED:
        confidence = max(1e-12, 1.0 - sum(1.0 - c for c in confs)) if confs else 1.0
    samples = [p.sample_size for p in parts if p.sample_size is not None]
    sample_size = sum(samples) if status is Status.EVIDENCE else (sum(samples) or None)
    counts: dict[str, int] = {}
    for p in parts:
        counts[p.status.value] = counts.get(p.status.value, 0) + 1
    summary = ", ".join(f"{n} {s}" for s, n in counts.items())
    ev = {"instances": [p.to_dict() for p in parts], "counts": counts}
    ev.update(evidence or {})
    first_bad = next((p for p in parts if p.status in FAILING | {Status.INCONCLUSIVE}), None)
    if not message:
        message = f"{len(parts)} instances: {summary}"
        if first_bad is not None:
            message += f"; first not holding: {first_bad.id}: {first_bad.message}"
    certificate = None
    if status in HOLDS:
        certificate = {"kind": "all-of", "parts": [_part(p) for p in parts]}
    elif status is Status.REFUTED:
        index = next(i for i, c in enumerate(formal) if c is refuted.claim)
        certificate = {"kind": "refuted-part", "claims": formal, "index": index,
                       "part": _part(refuted)}
    return Verdict(id=claim["id"], kind="check", status=status, method=method,
                   message=message, evidence=ev,
                   counterexample=refuted.counterexample if refuted else None,
                   confidence=confidence, sample_size=sample_size, certificate=certificate,
                   claim=claim, **extra)


def _part(v: Verdict) -> dict[str, Any]:
    return {"id": v.id, "status": v.status.value, "claim": dict(v.claim),
            "certificate": v.certificate, "confidence": v.confidence,
            "bounds": to_jsonable(v.bounds) if v.bounds is not None else None}


def error_verdict(id: str, kind: str, exc: BaseException | str, *, claim: dict | None = None,
                  hint: str = "") -> Verdict:
    """The one place an exception becomes a verdict."""
    if isinstance(exc, BaseException):
        text = f"{type(exc).__name__}: {exc}"
    else:
        text = str(exc)
    if hint:
        text += f" ({hint})"
    return Verdict(id=id or "?", kind=kind or "?", status=Status.ERROR, method="none",
                   message=text, claim=claim or {})


def timeout_verdict(id: str, kind: str, reason: str, *, claim: dict | None = None,
                    elapsed: float | None = None) -> Verdict:
    """The one place a wall-clock limit becomes a verdict: always inconclusive."""
    return Verdict(id=id or "?", kind=kind or "?", status=Status.INCONCLUSIVE, method="none",
                   message=f"timeout: {reason}", claim=claim or {}, elapsed=elapsed)


def timed(fn: Callable[..., Verdict]) -> Callable[..., Verdict]:
    """Decorator: record ``elapsed`` on the returned verdict if the function did not."""
    import functools

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Verdict:
        t0 = time.perf_counter()
        verdict = fn(*args, **kwargs)
        if isinstance(verdict, Verdict) and verdict.elapsed is None:
            verdict.elapsed = time.perf_counter() - t0
        return verdict

    return wrapper


_VERSION_PACKAGES = ("sharpflat", "numpy", "scipy", "sympy", "cvxpy", "torch", "z3-solver",
                     "python-flint", "hypothesis")


def versions() -> dict[str, str]:
    """Versions of Python and of the packages a verdict depends on (without importing them)."""
    import platform
    from importlib import metadata

    out = {"python": platform.python_version()}
    for name in _VERSION_PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "absent"
    return out
