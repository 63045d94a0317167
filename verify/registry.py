"""The two registries of sharpflat: claim kinds and checks, each declared once.

A **claim kind** (``sharp-minimizer``, ``filter-set``...) is one :class:`ClaimKind`
declaration next to its mathematics, in ``theorems/<paper>/kinds.py``: its statement, its
fields (:class:`Field`: type, default, constraint, documentation), its at-least-one groups and
its decider. The TOML loader, the Python constructors (:func:`constructor`), ``sharpflat
kinds`` and the README's table all read these declarations; nothing else lists kinds.

A **check** is a function registered with :func:`check` in ``theorems/<paper>/checks.py``: it
encodes one numbered statement of a paper and returns a :class:`~verify.verdict.Verdict`.

Discovery imports the ``kinds`` and ``checks`` modules of every package under ``theorems``
(:func:`discover`, :func:`kinds`), so there is no hand-kept list either. Those modules are
light: their mathematics is imported on first use (:func:`lazy_import`), so that ``sharpflat
list`` and ``sharpflat kinds`` answer without loading SymPy, z3 or torch.

This module imports nothing heavy; theorem modules import it freely.
"""

from __future__ import annotations

import contextlib
import fnmatch
import importlib
import importlib.util
import inspect
import pkgutil
import sys
import time
import zlib
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any, Callable, Iterable, Iterator, Sequence

from verify.errors import InvalidClaim, SafetyTimeout, UnknownKind
from verify.verdict import Claim, Status, Verdict, error_verdict, timeout_verdict, versions

PROFILES = ("quick", "full")
NATURES = ("statement", "experiment")
DEVICES = ("cpu", "cuda")
THEOREMS = ("theorems",)


def lazy_import(name: str) -> ModuleType:
    """The module ``name``, executed on first attribute access (``importlib.util.LazyLoader``).

    Kind and check modules use it for their mathematics, so that discovering them is cheap.
    """
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.find_spec(name)
    if spec is None or spec.loader is None:
        raise ModuleNotFoundError(f"no module named {name!r}", name=name)
    loader = importlib.util.LazyLoader(spec.loader)
    spec.loader = loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    loader.exec_module(module)
    return module


# --------------------------------------------------------------------------------------------
# claim kinds
# --------------------------------------------------------------------------------------------

#: Field types of conjecture files (their parsers are in :mod:`verify.fields`).
FIELD_TYPES = ("variables", "formula", "number", "point", "numbers", "set", "norm", "method",
               "choice", "string", "path", "bool", "integer", "formulas", "condition",
               "conditions", "assumptions", "limit-value", "table")
#: Constraints a number field may declare (checked exactly by :mod:`verify.fields`).
NUMBER_CHECKS = ("positive", "nonnegative", "unit-interval", "open-unit-interval")


@dataclass(frozen=True)
class Field:
    """One field of a claim kind.

    ``type`` is one of :data:`FIELD_TYPES`; ``default`` is filled in when the field is absent
    (None: no default); ``check`` constrains a number (:data:`NUMBER_CHECKS`); ``choices`` lists
    the values of a ``choice`` field (for ``method`` fields they come from
    :data:`numerics.updates.OPTIMIZERS`).
    """

    name: str
    type: str
    doc: str
    required: bool = False
    default: Any = None
    check: str | None = None
    choices: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.type not in FIELD_TYPES:
            raise ValueError(f"field {self.name}: unknown type {self.type!r}")
        if self.check is not None and self.check not in NUMBER_CHECKS:
            raise ValueError(f"field {self.name}: unknown check {self.check!r}")
        if self.type == "choice" and not self.choices:
            raise ValueError(f"field {self.name}: a choice field lists its choices")

    def describe(self) -> str:
        """One line for ``sharpflat kinds`` and the README table."""
        parts = [self.type if self.type != "choice" else "|".join(self.choices)]
        if self.check:
            parts.append(self.check)
        if self.default is not None:
            parts.append(f"default {self.default!r}")
        return f"{self.name}{'*' if self.required else ''} ({', '.join(parts)}): {self.doc}"


@dataclass(frozen=True)
class ClaimKind:
    """A claim kind: its statement, fields, decider and where it is declared.

    ``decide(claim, *, seed, budget) -> Verdict`` receives a :class:`~verify.verdict.Claim`
    whose ``params`` are already parsed (SymPy objects, tuples, strings) and defaulted.
    ``one_of`` lists groups of fields of which at least one must be given. ``validate``
    (optional) checks relations between fields and raises :class:`InvalidClaim`.
    """

    name: str
    statement: str
    fields: tuple[Field, ...]
    decide: Callable[..., Verdict]
    paper: str
    one_of: tuple[tuple[str, ...], ...] = ()
    validate: Callable[[dict[str, Any]], None] | None = None
    module: str = ""

    def field(self, name: str) -> Field:
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(name)

    @property
    def field_names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields)

    def describe(self) -> dict[str, Any]:
        return {"kind": self.name, "paper": self.paper, "statement": self.statement,
                "module": self.module, "fields": [f.describe() for f in self.fields],
                "one_of": [list(g) for g in self.one_of]}


_KINDS: dict[str, ClaimKind] = {}


def claim_kind(name: str, *, statement: str, fields: Sequence[Field], paper: str,
               one_of: Sequence[Sequence[str]] = (),
               validate: Callable[[dict[str, Any]], None] | None = None) -> Callable:
    """Declare the claim kind ``name``; decorates its decider ``fn(claim, *, seed, budget)``."""
    names = [f.name for f in fields]
    if len(set(names)) != len(names):
        raise ValueError(f"kind {name}: a field is declared twice in {names}")
    for group in one_of:
        missing = set(group) - set(names)
        if missing:
            raise ValueError(f"kind {name}: one_of names unknown fields {sorted(missing)}")

    _agrees_with_statement(name, fields)

    def register(fn: Callable[..., Verdict]) -> Callable[..., Verdict]:
        existing = _KINDS.get(name)
        if existing is not None and existing.module != fn.__module__:
            raise ValueError(f"claim kind {name!r} is declared twice ({existing.module} and "
                             f"{fn.__module__})")
        _KINDS[name] = ClaimKind(name=name, statement=statement, fields=tuple(fields),
                                 decide=fn, paper=paper, one_of=tuple(map(tuple, one_of)),
                                 validate=validate, module=fn.__module__)
        return fn

    return register


def _agrees_with_statement(name: str, fields: Sequence[Field]) -> None:
    """A claim kind's fields and defaults are those of its statement in the kernel's obligation
    table (:mod:`verify.kernel.statements`): the kernel reads claims as the parsers write them."""
    from verify.kernel.statements import REQUIRED, STATEMENTS
    from verify.verdict import to_jsonable

    statement = STATEMENTS.get(name)
    if statement is None:
        raise ValueError(f"claim kind {name!r} has no statement in verify/kernel/statements.py")
    declared = {f.name: (REQUIRED if f.required else f.default) for f in fields}
    if list(declared) != list(statement.fields):
        raise ValueError(f"claim kind {name!r}: fields {list(declared)} differ from its "
                         f"statement's {list(statement.fields)}")
    for key, default in declared.items():
        stated = statement.fields[key]
        same = stated is default if REQUIRED in (stated, default) else \
            to_jsonable(stated) == to_jsonable(default)
        if not same:
            raise ValueError(f"claim kind {name!r}: field {key!r} defaults to {default!r}, its "
                             f"statement to {stated!r}")


def certificates_of(name: str) -> dict[str, tuple[str, ...]]:
    """The certificate kinds that may decide each status of the claim kind ``name``."""
    from verify.kernel.statements import STATEMENTS

    s = STATEMENTS[name]
    return {"proved": s.proved, "certified": s.certified + s.proved, "refuted": s.refuted}


def _paper_modules(leaf: str, packages: Iterable[str]) -> list[str]:
    """``<package>.<paper>.<leaf>`` for every paper package that has such a module."""
    found = []
    for name in packages:
        package = importlib.import_module(name)
        for info in pkgutil.iter_modules(getattr(package, "__path__", [])):
            if not info.ispkg:
                continue
            module = f"{name}.{info.name}.{leaf}"
            if importlib.util.find_spec(module) is not None:
                found.append(module)
    return found


def kinds(packages: Iterable[str] = THEOREMS) -> dict[str, ClaimKind]:
    """Every declared claim kind, by name (imports the ``kinds`` modules)."""
    for module in _paper_modules("kinds", packages):
        importlib.import_module(module)
    return dict(sorted(_KINDS.items()))


def kind(name: str) -> ClaimKind:
    """The declaration of ``name``; raises :class:`UnknownKind` naming the known kinds."""
    if name not in _KINDS:
        kinds()
    try:
        return _KINDS[name]
    except KeyError:
        raise UnknownKind(f"unknown claim kind {name!r}; known kinds: "
                          f"{', '.join(sorted(_KINDS))}") from None


def known_kinds() -> list[str]:
    return list(kinds())


def constructor(kind_name: str, *, positional: Sequence[str] = (),
                aliases: dict[str, str] | None = None, doc: str = "") -> Callable[..., Claim]:
    """The Python constructor of a claim kind, built from its declaration.

    ``positional`` names the fields that may be passed by position; ``aliases`` maps keyword
    names of the Python API to field names (``at`` for ``point``). Values are read like TOML
    values (:mod:`verify.fields`): SymPy objects pass through, strings go through the
    whitelisting parser, numbers are read exactly, ``variables`` may be symbols or names.
    """
    aliases = dict(aliases or {})

    def make(*args: Any, id: str = "", **kwargs: Any) -> Claim:
        from verify import fields as field_parsers

        if len(args) > len(positional):
            raise TypeError(f"{kind_name}: at most {len(positional)} positional arguments "
                            f"({', '.join(positional)}), got {len(args)}")
        values = dict(zip(positional, args))
        for key, value in kwargs.items():
            name = aliases.get(key, key)
            if name in values:
                raise TypeError(f"{kind_name}: {name!r} given twice")
            values[name] = value
        return field_parsers.claim_from_python(kind(kind_name), values, id=id)

    make.__name__ = kind_name.replace("-", "_")
    make.__doc__ = doc or f"A ``{kind_name}`` claim (see ``sharpflat kinds``)."
    return make


# --------------------------------------------------------------------------------------------
# checks
# --------------------------------------------------------------------------------------------

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
    smoke: dict[str, Any] = field(default_factory=dict)
    nature: str = "statement"

    def describe(self) -> dict[str, Any]:
        return {"id": self.id, "paper": self.paper, "statement": self.statement,
                "summary": self.summary, "profile": self.profile, "device": self.device,
                "module": self.module, "nature": self.nature}

    def claim_fields(self, seed: int, scale: str) -> dict[str, Any]:
        """What the claim of this check's verdict states besides its instances."""
        return {**self.describe(), "kind": "check", "seed": seed, "scale": scale}

    def arguments(self, seed: int, device: str, scale: str) -> dict[str, Any]:
        params = inspect.signature(self.fn).parameters
        kwargs: dict[str, Any] = {"seed": seed}
        if "device" in params:
            kwargs["device"] = device
        if scale == "smoke":
            kwargs.update(self.smoke)
        return kwargs

    @contextlib.contextmanager
    def context(self, seed: int, scale: str) -> Iterator[None]:
        """Within it, :class:`~verify.verdict.Instances` builds this check's claim."""
        from verify import verdict as V

        old = dict(V.CHECK_CONTEXT)
        V.CHECK_CONTEXT.clear()
        V.CHECK_CONTEXT.update(self.claim_fields(seed, scale))
        try:
            yield
        finally:
            V.CHECK_CONTEXT.clear()
            V.CHECK_CONTEXT.update(old)

    def plan(self, *, seed: int, scale: str = "full", device: str = "cpu"
             ) -> list[dict[str, Any]]:
        """The formal instance claims this check states at ``seed`` and ``scale``, generated
        without deciding them (what ``sharpflat recheck`` compares a stored verdict with)."""
        from verify import verdict as V

        if V.PLAN is not None:
            raise RuntimeError("plans do not nest")
        V.PLAN = []
        try:
            with self.context(seed, scale):
                self.fn(**self.arguments(seed, device, scale))
            return list(V.PLAN)
        finally:
            V.PLAN = None

    def run(self, *, seed: int, device: str = "cpu", scale: str = "full") -> Verdict:
        """Run the check in this process; exceptions become ``error`` verdicts.

        ``scale="smoke"`` passes the check's ``smoke`` arguments (a tiny instance, for the
        test suite)."""
        t0 = time.perf_counter()
        with captured_warnings() as caught:
            try:
                with self.context(seed, scale):
                    verdict = self.fn(**self.arguments(seed, device, scale))
                if not isinstance(verdict, Verdict):
                    raise TypeError(f"check {self.id} returned {type(verdict).__name__}, "
                                    "not a Verdict")
            except SafetyTimeout as exc:
                verdict = timeout_verdict(self.id, "check", str(exc))
            except Exception as exc:  # noqa: BLE001 - every failure becomes a verdict
                verdict = error_verdict(self.id, "check", exc)
        attach_warnings(verdict, caught)
        verdict.id = self.id
        verdict.kind = "check"
        if verdict.status not in (Status.PROVED, Status.CERTIFIED, Status.REFUTED):
            verdict.claim = {**self.claim_fields(seed, scale), **verdict.claim,
                             "kind": "check"}
        verdict.seed = seed
        verdict.elapsed = time.perf_counter() - t0
        verdict.versions = versions()
        return verdict


@contextlib.contextmanager
def captured_warnings() -> Iterator[list]:
    """Warnings raised while a check or a claim is decided, kept for its verdict instead of
    being printed in the middle of the progress lines."""
    import warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("default")
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        warnings.filterwarnings("ignore", category=PendingDeprecationWarning)
        yield caught


def attach_warnings(verdict: Verdict, caught: list) -> None:
    """The distinct warnings of a decision, in its evidence; in the message of an undecided
    verdict (where a solver's accuracy warning may be why it is undecided)."""
    texts = []
    for w in caught:
        text = f"{w.category.__name__}: {str(w.message).strip()}"
        if text not in texts:
            texts.append(text)
    if not texts:
        return
    verdict.evidence = {**(verdict.evidence or {}), "warnings": texts[:20]}
    if verdict.status not in (Status.PROVED, Status.CERTIFIED, Status.REFUTED):
        first = texts[0] if len(texts[0]) <= 160 else texts[0][:157] + "..."
        more = f" (+{len(texts) - 1} more)" if len(texts) > 1 else ""
        verdict.message = f"{verdict.message} [warning: {first}{more}]".strip()


_CHECKS: dict[str, Check] = {}


def check(id: str, *, paper: str, statement: str, summary: str, profile: str = "quick",
          device: str = "cpu", timeout: float | None = None,
          smoke: dict[str, Any] | None = None, nature: str = "statement") -> Callable:
    """Register ``fn(seed[, device], **smoke) -> Verdict`` as the check ``id``.

    ``id`` starts with the paper's short key (``sharp.``, ``filters.``, ``escape.``,
    ``geometry.``, ``xor.``) so that ``sharpflat run --only sharp`` selects a paper. ``smoke``
    holds keyword arguments that make the check tiny (the test suite runs every quick check at
    that scale and requires a non-error verdict). ``nature``: ``statement`` (instances of a
    theorem, proposition, lemma or derived fact: the expected verdict is proved, a refuted
    instance is a finding) or ``experiment`` (training runs, sampled frequencies, figures: the
    verdict is evidence with its intervals and sample sizes).
    """
    if nature not in NATURES:
        raise ValueError(f"check {id}: nature must be one of {NATURES}, not {nature!r}")
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
                            timeout=timeout, smoke=dict(smoke or {}), nature=nature)
        return fn

    return register


def discover(packages: Iterable[str] = THEOREMS) -> list[Check]:
    """The checks of the ``checks`` modules under ``packages`` (or of the modules named, for
    test registries such as ``tiny_checks``), sorted by id."""
    modules: set[str] = set()
    for name in packages:
        spec = importlib.util.find_spec(name)
        if spec is not None and spec.submodule_search_locations is None:
            importlib.import_module(name)       # a plain module of checks
            modules.add(name)
            continue
        for module in _paper_modules("checks", [name]):
            importlib.import_module(module)
            modules.add(module)
    return sorted((c for c in _CHECKS.values() if c.module in modules), key=lambda c: c.id)


def get_check(id: str, packages: Iterable[str] = THEOREMS) -> Check:
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
        if only and not id_matches(c.id, only):
            continue
        (skipped if c.device == "cuda" and device != "cuda" else chosen).append(c)
    return chosen, skipped


def id_matches(id: str, pattern: str) -> bool:
    """``pattern`` is a glob (``sharp.*``) or, without glob characters, a substring of ``id``."""
    if any(ch in pattern for ch in "*?["):
        return fnmatch.fnmatchcase(id, pattern)
    return pattern in id


def check_seed(base_seed: int, id: str) -> int:
    """A stable per-check seed derived from the run's seed and the check id."""
    return (zlib.crc32(id.encode()) ^ (base_seed * 0x9E3779B1)) & 0x7FFFFFFF


# --------------------------------------------------------------------------------------------
# deciding
# --------------------------------------------------------------------------------------------

def decide(claim: Claim, *, seed: int = 0, budget: int | None = None) -> Verdict:
    """Decide one claim in this process; every failure becomes an ``error`` verdict.

    ``budget``: deterministic solver resource units for the decision (None: the kind's
    default); a wall-clock safety net that fires inside the decider gives ``inconclusive``.
    """
    t0 = time.perf_counter()
    with captured_warnings() as caught:
        verdict = _decide(claim, seed, budget)
    attach_warnings(verdict, caught)
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


def _decide(claim: Claim, seed: int, budget: int | None) -> Verdict:
    try:
        declared = kind(claim.kind)
        if set(claim.params) - set(declared.field_names):
            raise InvalidClaim(f"{claim.id or claim.kind}: unknown fields "
                               f"{sorted(set(claim.params) - set(declared.field_names))} for "
                               f"kind {claim.kind!r}")
        for f in declared.fields:     # a claim built by hand gets the declared defaults
            if f.default is not None and claim.params.get(f.name) is None:
                claim.params[f.name] = f.default
        verdict = declared.decide(claim, seed=seed, budget=budget)
    except SafetyTimeout as exc:
        verdict = timeout_verdict(claim.id, claim.kind, str(exc))
    except Exception as exc:  # noqa: BLE001
        verdict = error_verdict(claim.id, claim.kind, exc)
    return verdict


__all__ = ["Check", "ClaimKind", "Field", "check", "check_seed", "claim_kind", "constructor",
           "decide", "discover", "get_check", "kind", "kinds", "known_kinds", "lazy_import",
           "select", "InvalidClaim"]
