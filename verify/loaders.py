"""Everything sharpflat reads from users' files, in one place.

* **Conjecture files** (:func:`load`): a TOML file of ``[[claim]]`` tables, or a Python script
  that defines ``claims`` (a list of claims built with the theorem packages' constructors, or
  a function returning one). TOML fields are read by the kinds' declarations
  (:mod:`verify.fields`); a malformed claim becomes an ``error`` verdict naming the field and
  the others are still decided. A Python script is code the user wrote (like a test file): it
  runs in a worker process under a timeout, so a script that hangs or kills its process gives
  a clear error instead of hanging or killing sharpflat.
* **Network and model files** (:func:`load_model_file`, :func:`load_network_file`): Python
  files that define ``model`` (and, for model certificates, ``loss_fn`` and ``data``).
"""

from __future__ import annotations

import decimal
import pickle
import runpy
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from verify.errors import InvalidClaim, NothingSelected, UsageError
from verify.verdict import Claim, Verdict, error_verdict

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

#: wall-clock limit of a conjecture script's own run (seconds)
SCRIPT_TIMEOUT = 120.0


@dataclass
class LoadedFile:
    """Claims read from one file, verdicts for the entries that could not be read, and the
    ids of both in file order."""

    path: str
    claims: list[Claim]
    errors: list[Verdict]
    order: list[str] = field(default_factory=list)


def load(path: str | Path, *, timeout: float | None = None) -> LoadedFile:
    """Load a ``.toml`` or ``.py`` conjecture file."""
    path = Path(path)
    if path.is_dir():
        raise UsageError(f"{path} is a directory; give a conjecture file (.toml or .py)")
    if not path.is_file():
        raise UsageError(f"no conjecture file at {str(path)!r}")
    if path.suffix == ".toml":
        return load_toml(path)
    if path.suffix == ".py":
        return load_python(path, timeout=timeout)
    raise UsageError(f"{path}: a conjecture file ends in .toml or .py")


def load_toml(path: str | Path) -> LoadedFile:
    path = Path(path)
    try:
        # floats as decimal.Decimal: a number is read exactly as written (0.1 is 1/10, and
        # 20 digits stay 20 digits), never through a binary double
        data = tomllib.loads(path.read_text(encoding="utf-8"), parse_float=decimal.Decimal)
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise UsageError(f"{path}: not valid TOML: {exc}") from None
    return claims_from_tables(data, source=str(path), base=path.parent)


def claims_from_tables(data: dict[str, Any], *, source: str = "<toml>",
                       base: Path | None = None) -> LoadedFile:
    """The claims of the ``claim`` array of a parsed TOML document, in file order."""
    from verify import registry
    from verify.fields import claim_from_table

    extra = set(data) - {"claim"}
    if extra:
        raise UsageError(f"{source}: unknown top-level keys {sorted(extra)}; "
                         "claims go in [[claim]] tables")
    tables = data.get("claim")
    if tables is None:
        raise NothingSelected(f"{source}: no [[claim]] tables found; nothing to check")
    if not isinstance(tables, list):
        raise UsageError(f"{source}: 'claim' must be an array of tables ([[claim]]), got "
                         f"{type(tables).__name__}")
    if not tables:
        raise NothingSelected(f"{source}: the claim list is empty; add [[claim]] tables")
    claims: list[Claim] = []
    errors: list[Verdict] = []
    order: list[str] = []
    seen: set[str] = set()
    for index, table in enumerate(tables):
        label = f"claim[{index}]"
        raw_id = table.get("id") if isinstance(table, dict) else None
        item_id = raw_id if isinstance(raw_id, str) and raw_id else label
        kind = table.get("kind") if isinstance(table, dict) else None
        where = f"{source}:{label}"
        try:
            if not isinstance(table, dict):
                raise InvalidClaim(f"{where}: a claim must be a table")
            if not isinstance(raw_id, str) or not raw_id.strip():
                raise InvalidClaim(f"{where}: the field 'id' (a non-empty string) is required")
            if raw_id in seen:
                item_id = f"{raw_id}#{index}"
                raise InvalidClaim(f"{where}: the id {raw_id!r} is used twice; ids are unique")
            if not isinstance(kind, str):
                raise InvalidClaim(f"{where} ({raw_id}): the field 'kind' is required; known "
                                   f"kinds: {', '.join(registry.known_kinds())}")
            declared = registry.kind(kind)
            claim = claim_from_table(declared, table, where=where, base=base)
            seen.add(claim.id)
            claims.append(claim)
        except InvalidClaim as exc:
            message = str(exc)
            if not message.startswith(where):
                message = f"{where} ({item_id}): {message}"
            errors.append(error_verdict(item_id, kind if isinstance(kind, str) else "?",
                                        message, claim={"id": item_id, "source": where}))
        order.append(item_id)
    return LoadedFile(path=source, claims=claims, errors=errors, order=order)


# --------------------------------------------------------------------------------------------
# Python scripts, in a worker process
# --------------------------------------------------------------------------------------------

class _ScriptError(Exception):
    """A conjecture script ran but did not define usable ``claims`` (its message is final)."""


def _script_claims(path: str) -> bytes:
    """Run the script (in the worker) and return its claims, pickled."""
    namespace = runpy.run_path(path, run_name="__sharpflat_conjectures__")
    claims = namespace.get("claims")
    if callable(claims):
        claims = claims()
    if claims is None:
        raise _ScriptError(f"{path}: the script must define `claims` (a list of claims built "
                           "with theorems.*, or a function returning one)")
    if isinstance(claims, Claim):
        claims = [claims]
    try:
        items = list(claims)
    except TypeError:
        raise _ScriptError(f"{path}: `claims` must be a list of claims, got "
                           f"{type(claims).__name__}") from None
    return pickle.dumps(items)


def load_python(path: str | Path, *, timeout: float | None = None) -> LoadedFile:
    """Run a Python conjecture script in a worker process and collect its ``claims``."""
    from verify.kernel.isolated import IsolatedFailure, run_isolated

    path = Path(path)
    limit = SCRIPT_TIMEOUT if timeout is None else timeout
    try:
        status, payload = run_isolated(_script_claims, (str(path),), timeout=limit)
    except IsolatedFailure as exc:
        if exc.reason == "timeout":
            raise UsageError(f"{path}: the script did not finish within {limit:g} s (a loop? "
                             "use --timeout to allow more)") from None
        if exc.reason == "died":
            raise UsageError(f"{path}: the script ended its process (exit code "
                             f"{exc.exitcode}) before defining claims") from None
        raise UsageError(f"{path}: {exc}") from None
    if status != "ok":
        if payload.startswith("_ScriptError: "):
            raise UsageError(payload[len("_ScriptError: "):])
        if payload.startswith("the code called exit("):
            raise UsageError(f"{path}: the script called exit(" + payload.split("exit(", 1)[1])
        raise UsageError(f"{path}: the script raised {payload}")
    try:
        items = pickle.loads(payload)
    except Exception as exc:  # noqa: BLE001
        raise UsageError(f"{path}: the claims could not be read back ({exc})") from None
    return _collect(items, path)


def _collect(items: list, path: Path) -> LoadedFile:
    if not items:
        raise NothingSelected(f"{path}: `claims` is empty; nothing to check")
    out: list[Claim] = []
    errors: list[Verdict] = []
    order: list[str] = []
    seen: set[str] = set()
    for index, claim in enumerate(items):
        if not isinstance(claim, Claim):
            errors.append(error_verdict(f"claims[{index}]", "?",
                                        f"{path}: claims[{index}] is a "
                                        f"{type(claim).__name__}, not a Claim (build claims "
                                        "with the theorems.* constructors)"))
            order.append(f"claims[{index}]")
            continue
        if not claim.id:
            claim.id = f"claims[{index}]"
        claim.source = claim.source if claim.source not in ("", "python") else \
            f"{path}:claims[{index}]"
        if claim.id in seen:
            errors.append(error_verdict(f"{claim.id}#{index}", claim.kind,
                                        f"the id {claim.id!r} is used twice; ids are unique"))
            order.append(f"{claim.id}#{index}")
            continue
        seen.add(claim.id)
        out.append(claim)
        order.append(claim.id)
    return LoadedFile(path=str(path), claims=out, errors=errors, order=order)


# --------------------------------------------------------------------------------------------
# model and network files
# --------------------------------------------------------------------------------------------

def _run_python_file(path: Path, what: str) -> dict[str, Any]:
    if not path.is_file():
        raise UsageError(f"{what} file {path} does not exist")
    if path.suffix != ".py":
        raise UsageError(f"{what} file {path} must be a Python file (.py)")
    try:
        return runpy.run_path(str(path), run_name=f"sharpflat_{what}")
    except SystemExit as exc:
        raise UsageError(f"{path}: the file called exit({exc.code})") from None
    except Exception as exc:  # the user's file failed: say where, keep the cause
        raise UsageError(f"running {path} failed: {type(exc).__name__}: {exc}") from exc


def load_model_file(path: str | Path) -> dict[str, Any]:
    """Run a Python model file and return its ``model``, ``loss_fn`` and ``data``.

    The file is ordinary Python (it is executed, as a conjecture script is) and must define:

    * ``model``: a ``torch.nn.Module`` at the parameters to certify (eval mode if it has
      BatchNorm or dropout);
    * ``loss_fn``: ``loss_fn(model(inputs), targets)`` -> scalar, averaging over the batch;
    * ``data``: one ``(inputs, targets)`` batch or a deterministic iterable of batches;

    and may define ``params`` (names of the parameters to certify) and ``name``.
    """
    path = Path(path)
    namespace = _run_python_file(path, "model")
    missing = [n for n in ("model", "loss_fn", "data") if n not in namespace]
    if missing:
        raise UsageError(f"{path} must define model, loss_fn and data; missing: {missing}")
    return {"model": namespace["model"], "loss_fn": namespace["loss_fn"],
            "data": namespace["data"], "params": namespace.get("params"),
            "name": str(namespace.get("name", path.stem))}


def load_network_file(path: str | Path) -> Any:
    """Run a Python network file and return its ``model`` (a ``torch.nn.Sequential``)."""
    path = Path(path)
    namespace = _run_python_file(path, "network")
    if "model" not in namespace:
        raise UsageError(f"{path} must define `model` (a torch.nn.Sequential)")
    return namespace["model"]
