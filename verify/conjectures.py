"""Conjectures from users: TOML files and Python scripts -> :class:`~verify.verdict.Claim`.

TOML format: a list of ``[[claim]]`` tables. Common fields: ``id`` (unique, required),
``kind`` (required), ``variables`` (list of names), ``f`` (formula over them), ``point``
(numbers or formula strings), ``norm`` ("2" default, "1", "inf"). Each kind adds the fields in
:data:`KIND_FIELDS`. Every field is validated (type, length, variables used) before any claim is
decided; a malformed claim becomes an ``error`` verdict naming the field, and the others are
still decided.

Python scripts are run as programs (they are code the user wrote, like a test file) and must
define ``claims``: a list of claims, or a function returning one.
"""

from __future__ import annotations

import decimal
import runpy
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import sympy as sp

from verify.errors import InvalidClaim, UsageError
from verify.formula import make_symbols, parse_formula, parse_number, parse_set
from verify.registry import KIND_MODULES, known_kinds
from verify.verdict import Claim, Verdict, error_verdict

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

NORMS = ("2", "1", "inf")
METHODS = ("gd", "heavy-ball", "nesterov", "usam", "usam-heavy-ball", "two-step-usam",
           "hessian-usam")

# field type names: formula, number, point, numbers, set, norm, method, string, bool
_COMMON_FUNCTION = {"variables": ("variables", True), "f": ("formula", True),
                    "point": ("point", True), "norm": ("norm", False)}
KIND_FIELDS: dict[str, dict[str, tuple[str, bool]]] = {
    "sharp-minimizer": {**_COMMON_FUNCTION, "modulus": ("number", True)},
    "sharpness-modulus": {**_COMMON_FUNCTION, "value": ("number", True)},
    "tilt-stable": {**_COMMON_FUNCTION, "radius": ("number", True),
                    "form": ("string", False)},
    "lipschitz-stable": {**_COMMON_FUNCTION, "radius": ("number", True)},
    "filter-set": {"method": ("method", True), "alpha": ("number", True),
                   "beta": ("number", False), "rho": ("number", False),
                   "equals": ("set", False), "contains": ("numbers", False),
                   "excludes": ("numbers", False), "variant": ("string", False)},
    "stable-point": {**_COMMON_FUNCTION, "method": ("method", True),
                     "alpha": ("number", True), "beta": ("number", False),
                     "rho": ("number", False), "variant": ("string", False)},
    "conserved-quantity": {"variables": ("variables", True), "f": ("formula", True),
                           "quantity": ("formula", True)},
    "flat-minimum": {**_COMMON_FUNCTION, "eps": ("number", False),
                     "eps2": ("number", False), "first": ("string", False)},
    "max-variation": {**_COMMON_FUNCTION, "radius": ("number", True),
                      "at_most": ("number", False), "at_least": ("number", False),
                      "normalization": ("string", False), "method": ("string", False)},
    "flatter": {"variables": ("variables", True), "f": ("formula", True),
                "x": ("point", True), "y": ("point", True), "radius": ("number", True),
                "norm": ("norm", False), "rule": ("string", False),
                "normalization": ("string", False)},
}
_AT_LEAST_ONE = {"filter-set": ("equals", "contains", "excludes"),
                 "max-variation": ("at_most", "at_least")}
assert set(KIND_FIELDS) == set(KIND_MODULES), "every kind needs its field list"


@dataclass
class LoadedFile:
    """Claims read from one file, and verdicts for the entries that could not be read."""

    path: str
    claims: list[Claim]
    errors: list[Verdict]


def load(path: str | Path) -> LoadedFile:
    """Load a ``.toml`` or ``.py`` conjecture file."""
    path = Path(path)
    if not path.is_file():
        raise UsageError(f"no conjecture file at {str(path)!r}")
    if path.suffix == ".toml":
        return load_toml(path)
    if path.suffix == ".py":
        return load_python(path)
    raise UsageError(f"{path}: a conjecture file ends in .toml or .py")


def load_toml(path: str | Path) -> LoadedFile:
    path = Path(path)
    try:
        # floats as decimal.Decimal: a number is read exactly as written (0.1 is 1/10, and
        # 20 digits stay 20 digits), never through a binary double
        data = tomllib.loads(path.read_text(encoding="utf-8"), parse_float=decimal.Decimal)
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise UsageError(f"{path}: not valid TOML: {exc}") from None
    return claims_from_tables(data, source=str(path))


def claims_from_tables(data: dict[str, Any], *, source: str = "<toml>") -> LoadedFile:
    extra = set(data) - {"claim"}
    if extra:
        raise UsageError(f"{source}: unknown top-level keys {sorted(extra)}; "
                         "claims go in [[claim]] tables")
    tables = data.get("claim")
    if not isinstance(tables, list) or not tables:
        raise UsageError(f"{source}: no [[claim]] tables found")
    claims: list[Claim] = []
    errors: list[Verdict] = []
    seen: set[str] = set()
    for index, table in enumerate(tables):
        label = f"claim[{index}]"
        raw_id = table.get("id") if isinstance(table, dict) else None
        item_id = raw_id if isinstance(raw_id, str) and raw_id else label
        kind = table.get("kind") if isinstance(table, dict) else None
        try:
            if isinstance(raw_id, str) and raw_id in seen:
                item_id = f"{raw_id}#{index}"
                raise InvalidClaim(f"{label}: the id {raw_id!r} is used twice; ids are unique")
            claim = parse_claim(table, where=f"{source}:{label}")
            seen.add(claim.id)
            claims.append(claim)
        except InvalidClaim as exc:
            errors.append(error_verdict(item_id, kind if isinstance(kind, str) else "?", exc,
                                        claim={"id": item_id, "source": f"{source}:{label}"}))
    return LoadedFile(path=source, claims=claims, errors=errors)


def parse_claim(table: Any, *, where: str = "<claim>") -> Claim:
    """Validate one ``[[claim]]`` table and build its :class:`Claim`."""
    if not isinstance(table, dict):
        raise InvalidClaim(f"{where}: a claim must be a table")
    claim_id = table.get("id")
    if not isinstance(claim_id, str) or not claim_id.strip():
        raise InvalidClaim(f"{where}: the field 'id' (a non-empty string) is required")
    kind = table.get("kind")
    if not isinstance(kind, str):
        raise InvalidClaim(f"{where} ({claim_id}): the field 'kind' is required; known kinds: "
                           f"{', '.join(known_kinds())}")
    if kind not in KIND_FIELDS:
        raise InvalidClaim(f"{where} ({claim_id}): unknown kind {kind!r}; known kinds: "
                           f"{', '.join(known_kinds())}")
    spec = KIND_FIELDS[kind]
    unknown = set(table) - set(spec) - {"id", "kind", "note"}
    if unknown:
        raise InvalidClaim(f"{where} ({claim_id}): unknown fields {sorted(unknown)} for kind "
                           f"{kind!r}; allowed: {sorted(spec)}")
    for name, (_, required) in spec.items():
        if required and name not in table:
            raise InvalidClaim(f"{where} ({claim_id}): kind {kind!r} requires the field "
                               f"{name!r}")
    group = _AT_LEAST_ONE.get(kind)
    if group and not any(name in table for name in group):
        raise InvalidClaim(f"{where} ({claim_id}): kind {kind!r} needs at least one of "
                           f"{list(group)}")
    params: dict[str, Any] = {}
    symbols: tuple[sp.Symbol, ...] = ()
    if "variables" in spec:
        symbols = _field_variables(table.get("variables"), where, claim_id)
        params["variables"] = symbols
    for name, (typ, _) in spec.items():
        if name == "variables" or name not in table:
            continue
        label = f"{where} ({claim_id}) field {name!r}"
        params[name] = _PARSERS[typ](table[name], label, symbols)
    if "norm" in spec and "norm" not in params:
        params["norm"] = "2"
    if "f" in params:
        used = params["f"].free_symbols - set(symbols)
        if used:  # cannot happen through the parser; kept for claims built by hand
            raise InvalidClaim(f"{where} ({claim_id}): f uses undeclared {sorted(map(str, used))}")
    return Claim(kind=kind, params=params, id=claim_id, source=where)


def _field_variables(value: Any, where: str, claim_id: str) -> tuple[sp.Symbol, ...]:
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise InvalidClaim(f"{where} ({claim_id}) field 'variables': a non-empty list of names")
    return make_symbols(value)


def _p_formula(value: Any, label: str, symbols: tuple) -> sp.Expr:
    if not isinstance(value, str):
        raise InvalidClaim(f"{label}: a formula string is required, got {value!r}")
    expr = parse_formula(value, symbols, what=label)
    if isinstance(expr, (sp.Set, sp.logic.boolalg.Boolean)) and not isinstance(expr, sp.Expr):
        raise InvalidClaim(f"{label}: {value!r} is not an expression")
    return expr


def _p_number(value: Any, label: str, symbols: tuple) -> sp.Expr:
    return parse_number(value, what=label)


def _p_point(value: Any, label: str, symbols: tuple) -> tuple[sp.Expr, ...]:
    if not isinstance(value, list):
        raise InvalidClaim(f"{label}: a list of numbers is required, got {value!r}")
    if len(value) != len(symbols):
        raise InvalidClaim(f"{label}: has {len(value)} coordinates but there are "
                           f"{len(symbols)} variables")
    return tuple(parse_number(v, what=f"{label}[{i}]") for i, v in enumerate(value))


def _p_numbers(value: Any, label: str, symbols: tuple) -> tuple[sp.Expr, ...]:
    if not isinstance(value, list) or not value:
        raise InvalidClaim(f"{label}: a non-empty list of numbers is required, got {value!r}")
    return tuple(parse_number(v, what=f"{label}[{i}]") for i, v in enumerate(value))


def _p_set(value: Any, label: str, symbols: tuple) -> sp.Set:
    if not isinstance(value, str):
        raise InvalidClaim(f"{label}: a set formula string is required, got {value!r}")
    return parse_set(value, what=label)


def _p_norm(value: Any, label: str, symbols: tuple) -> str:
    text = str(value) if isinstance(value, (int, str)) and not isinstance(value, bool) else None
    if text in ("oo", "infinity"):
        text = "inf"
    if text not in NORMS:
        raise InvalidClaim(f"{label}: the norm must be one of {list(NORMS)}, got {value!r}")
    return text


def _p_method(value: Any, label: str, symbols: tuple) -> str:
    if value not in METHODS:
        raise InvalidClaim(f"{label}: unknown method {value!r}; known: {list(METHODS)}")
    return value


def _p_string(value: Any, label: str, symbols: tuple) -> str:
    if not isinstance(value, str):
        raise InvalidClaim(f"{label}: a string is required, got {value!r}")
    return value


_PARSERS: dict[str, Callable[[Any, str, tuple], Any]] = {
    "formula": _p_formula, "number": _p_number, "point": _p_point, "numbers": _p_numbers,
    "set": _p_set, "norm": _p_norm, "method": _p_method, "string": _p_string,
}


def load_python(path: str | Path) -> LoadedFile:
    """Run a Python conjecture script and collect its ``claims``."""
    path = Path(path)
    try:
        namespace = runpy.run_path(str(path), run_name="__sharpflat_conjectures__")
    except SystemExit as exc:
        raise UsageError(f"{path}: the script called exit({exc.code})") from None
    except Exception as exc:  # noqa: BLE001 - the user's script failed
        raise UsageError(f"{path}: the script raised {type(exc).__name__}: {exc}") from None
    claims = namespace.get("claims")
    if callable(claims):
        claims = claims()
    if claims is None:
        raise UsageError(f"{path}: the script must define `claims` (a list of claims built "
                         "with theorems.*, or a function returning one)")
    if isinstance(claims, Claim):
        claims = [claims]
    out: list[Claim] = []
    errors: list[Verdict] = []
    seen: set[str] = set()
    for index, claim in enumerate(list(claims)):
        if not isinstance(claim, Claim):
            errors.append(error_verdict(f"claims[{index}]", "?",
                                        f"claims[{index}] is a {type(claim).__name__}, "
                                        "not a Claim"))
            continue
        if not claim.id:
            claim.id = f"claims[{index}]"
        claim.source = claim.source or f"{path}:claims[{index}]"
        if claim.id in seen:
            errors.append(error_verdict(f"{claim.id}#{index}", claim.kind,
                                        f"the id {claim.id!r} is used twice; ids are unique"))
            continue
        seen.add(claim.id)
        out.append(claim)
    return LoadedFile(path=str(path), claims=out, errors=errors)
