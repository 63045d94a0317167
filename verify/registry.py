"""Registry of checks (paper statements) and of claim-kind deciders.

A *check* is a function registered with :func:`check`: it encodes one numbered statement of a
paper and returns a :class:`~verify.verdict.Verdict`. A *decider* is registered with
:func:`decider` for one claim kind (``sharp-minimizer``, ``filter-set``...).

Both registries are filled at import time of the theorem modules; :func:`discover` imports every
module of the ``theorems`` package (or of any package named), so there is no hand-kept list.
This module is light: theorem modules import it freely.
"""

from __future__ import annotations

import fnmatch
import importlib
import inspect
import pkgutil
import time
import zlib
from dataclasses import dataclass
from typing import Any, Callable, Iterable

from verify.errors import InvalidClaim, SafetyTimeout, UnknownKind
from verify.verdict import Claim, Status, Verdict, error_verdict, timeout_verdict, versions

PROFILES = ("quick", "full")
DEVICES = ("cpu", "cuda")

#: Every claim kind of the conjecture format and the theorem module that decides it.
KIND_MODULES: dict[str, str] = {
    "sharp-minimizer": "theorems.sharp",
    "sharpness-modulus": "theorems.sharp",
    "tilt-stable": "theorems.sharp",
    "lipschitz-stable": "theorems.sharp",
    "filter-set": "theorems.filters",
    "stable-point": "theorems.filters",
    "conserved-quantity": "theorems.flat_geometry",
    "max-variation": "theorems.flat_geometry",
    "flatter": "theorems.flat_geometry",
    "flat-minimum": "theorems.escape",
}


@dataclass(frozen=True)
class Check:
    """A registered check: one statement of one paper, with its instances."""

    id: str
    paper: str
    statement: str
    summary: str
    profile: str
    device: str
    module: str
    fn: Callable[..., Verdict]
    timeout: float | None = None

    def describe(self) -> dict[str, Any]:
        return {"id": self.id, "paper": self.paper, "statement": self.statement,
                "summary": self.summary, "profile": self.profile, "device": self.device,
                "module": self.module}

    def run(self, *, seed: int, device: str = "cpu") -> Verdict:
        """Run the check in this process; exceptions become ``error`` verdicts."""
        t0 = time.perf_counter()
        try:
            params = inspect.signature(self.fn).parameters
            kwargs: dict[str, Any] = {"seed": seed}
            if "device" in params:
                kwargs["device"] = device
            verdict = self.fn(**kwargs)
            if not isinstance(verdict, Verdict):
                raise TypeError(f"check {self.id} returned {type(verdict).__name__}, "
                                "not a Verdict")
        except SafetyTimeout as exc:
            verdict = timeout_verdict(self.id, "check", str(exc))
        except Exception as exc:  # noqa: BLE001 - every failure becomes a verdict
            verdict = error_verdict(self.id, "check", exc)
        verdict.id = self.id
        verdict.kind = "check"
        verdict.claim = {**self.describe(), **verdict.claim}
        verdict.seed = seed
        verdict.elapsed = time.perf_counter() - t0
        verdict.versions = versions()
        return verdict


_CHECKS: dict[str, Check] = {}
_DECIDERS: dict[str, Callable[..., Verdict]] = {}


def check(id: str, *, paper: str, statement: str, summary: str, profile: str = "quick",
          device: str = "cpu", timeout: float | None = None) -> Callable:
    """Register ``fn(seed[, device]) -> Verdict`` as the check ``id``.

    ``id`` starts with the paper's short key (``sharp.``, ``filters.``, ``escape.``,
    ``geometry.``, ``xor.``) so that ``sharpflat run --only sharp`` selects a paper.
    """
    if profile not in PROFILES:
        raise ValueError(f"check {id}: profile must be one of {PROFILES}, not {profile!r}")
    if device not in DEVICES:
        raise ValueError(f"check {id}: device must be one of {DEVICES}, not {device!r}")

    def register(fn: Callable[..., Verdict]) -> Callable[..., Verdict]:
        existing = _CHECKS.get(id)
        if existing is not None and (existing.module, existing.fn.__qualname__) != (
                fn.__module__, fn.__qualname__):
            raise ValueError(f"check id {id!r} is registered twice "
                             f"({existing.module} and {fn.__module__})")
        _CHECKS[id] = Check(id=id, paper=paper, statement=statement, summary=summary,
                            profile=profile, device=device, module=fn.__module__, fn=fn,
                            timeout=timeout)
        return fn

    return register


def decider(*kinds: str) -> Callable:
    """Register ``fn(claim, *, seed, budget) -> Verdict`` as the decider of ``kinds``."""
    for kind in kinds:
        if kind not in KIND_MODULES:
            raise ValueError(f"unknown claim kind {kind!r}; add it to KIND_MODULES")

    def register(fn: Callable[..., Verdict]) -> Callable[..., Verdict]:
        for kind in kinds:
            _DECIDERS[kind] = fn
        return fn

    return register


def discover(packages: Iterable[str] = ("theorems",)) -> list[Check]:
    """Import every module under ``packages`` and return their checks, sorted by id."""
    modules: set[str] = set()
    for name in packages:
        package = importlib.import_module(name)
        modules.add(package.__name__)
        for info in pkgutil.walk_packages(getattr(package, "__path__", []), name + "."):
            importlib.import_module(info.name)
            modules.add(info.name)
    return sorted((c for c in _CHECKS.values() if c.module in modules), key=lambda c: c.id)


def get_check(id: str, packages: Iterable[str] = ("theorems",)) -> Check:
    if id not in _CHECKS:
        discover(packages)
    try:
        return _CHECKS[id]
    except KeyError:
        raise KeyError(f"no check with id {id!r}") from None


def select(checks: Iterable[Check], *, profile: str = "quick", only: str | None = None,
           device: str = "cpu") -> tuple[list[Check], list[Check]]:
    """Checks to run and checks skipped (they need a device that was not asked for).

    ``profile='quick'`` selects quick checks; ``'full'`` selects all. ``only`` is a glob
    (``sharp.*``) or, without glob characters, a prefix or substring of the id.
    """
    chosen, skipped = [], []
    for c in checks:
        if profile == "quick" and c.profile != "quick":
            continue
        if only and not _matches(c.id, only):
            continue
        (skipped if c.device == "cuda" and device != "cuda" else chosen).append(c)
    return chosen, skipped


def _matches(id: str, pattern: str) -> bool:
    if any(ch in pattern for ch in "*?["):
        return fnmatch.fnmatchcase(id, pattern)
    return pattern in id


def check_seed(base_seed: int, id: str) -> int:
    """A stable per-check seed derived from the run's seed and the check id."""
    return (zlib.crc32(id.encode()) ^ (base_seed * 0x9E3779B1)) & 0x7FFFFFFF


def known_kinds() -> list[str]:
    return sorted(KIND_MODULES)


def decider_for(kind: str) -> Callable[..., Verdict]:
    """The decider of ``kind``; raises UnknownKind or InvalidClaim (module not built yet)."""
    if kind not in KIND_MODULES:
        raise UnknownKind(f"unknown claim kind {kind!r}; known kinds: {', '.join(known_kinds())}")
    if kind not in _DECIDERS:
        module = KIND_MODULES[kind]
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name != module:
                raise
            raise InvalidClaim(f"claim kind {kind!r} is decided by {module}, which is not built "
                               "yet in this version of sharpflat") from None
    if kind not in _DECIDERS:
        raise InvalidClaim(f"claim kind {kind!r}: {KIND_MODULES[kind]} declares no decider yet")
    return _DECIDERS[kind]


def decide(claim: Claim, *, seed: int = 0, budget: int | None = None) -> Verdict:
    """Decide one claim in this process; every failure becomes an ``error`` verdict.

    ``budget``: deterministic solver resource units for the decision (None: the kind's
    default); a wall-clock safety net that fires inside the decider gives ``inconclusive``.
    """
    t0 = time.perf_counter()
    try:
        verdict = decider_for(claim.kind)(claim, seed=seed, budget=budget)
    except SafetyTimeout as exc:
        verdict = timeout_verdict(claim.id, claim.kind, str(exc))
    except Exception as exc:  # noqa: BLE001
        verdict = error_verdict(claim.id, claim.kind, exc)
    verdict.id = claim.id or verdict.id
    verdict.kind = claim.kind
    try:
        verdict.claim = claim.describe()
    except TypeError as exc:
        verdict = error_verdict(claim.id, claim.kind, exc)
    verdict.seed = seed
    if verdict.elapsed is None or verdict.status is Status.ERROR:
        verdict.elapsed = time.perf_counter() - t0
    verdict.versions = versions()
    return verdict
