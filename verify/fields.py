"""Reading the fields of a claim: TOML tables and Python arguments -> parsed parameters.

One parser per field type of :data:`verify.registry.FIELD_TYPES`, used by the TOML loader
(:mod:`verify.loaders`) and by the Python constructors (:func:`verify.registry.constructor`),
so that a claim means the same whichever way it was written:

* ``variables``: a non-empty list of names (or SymPy symbols, in Python) -> real symbols;
* ``formula``: a string through the whitelisting parser (:mod:`verify.formula`), or a SymPy
  expression (Python) over the declared variables;
* ``number``: an int, a decimal (TOML floats are read as :class:`decimal.Decimal`, exactly), a
  formula string without variables, or a SymPy number; finite and real, with the field's
  ``check`` (positive, nonnegative...) decided exactly;
* ``point``: one number per variable; ``numbers``: a non-empty list of numbers;
* ``set``: a SymPy set formula (``Interval``, ``Union``, ``FiniteSet``...);
* ``norm``: ``"2"``, ``"1"`` or ``"inf"``; ``method``: an optimizer declared in
  :data:`numerics.updates.OPTIMIZERS`, or a user's ``"file.py:name"`` (the file relative to the
  claim file); ``choice``: one of the field's choices; ``table``: names to numbers (a TOML
  inline table, a Python dict);
* ``string``, ``bool``, ``integer``; ``path``: a file path, relative to the claim file;
* ``formulas``: a non-empty list of formulas; ``condition``: relations joined by and/or/not
  (:func:`verify.formula.parse_condition`); ``conditions``: a list of them;
* ``assumptions``: a table variable -> sign (``positive``, ``nonnegative``, ``negative``,
  ``integer``, ``real``); ``limit-value``: a number, ``oo`` or ``-oo``.

Every failure raises :class:`~verify.errors.InvalidClaim` naming the claim, the field and the
value, and what is allowed.
"""

from __future__ import annotations

import numbers
from pathlib import Path
from typing import Any, Callable

from verify.errors import InvalidClaim
from verify.registry import ClaimKind, Field
from verify.verdict import Claim

NORMS = ("2", "1", "inf")
#: keys a TOML claim table may have besides its kind's fields
META_KEYS = ("id", "kind", "note")


def claim_from_table(declared: ClaimKind, table: dict[str, Any], *, where: str,
                     base: Path | None = None) -> Claim:
    """A claim from one ``[[claim]]`` table (``id`` and ``kind`` already read)."""
    claim_id = table["id"]
    unknown = set(table) - set(declared.field_names) - set(META_KEYS)
    if unknown:
        raise InvalidClaim(f"{where} ({claim_id}): unknown fields {sorted(unknown)} for kind "
                           f"{declared.name!r}; allowed: {sorted(declared.field_names)}")
    values = {k: v for k, v in table.items() if k not in META_KEYS}
    params = parse_fields(declared, values, label=f"{where} ({claim_id})", base=base)
    return Claim(kind=declared.name, params=params, id=claim_id, source=where)


def claim_from_python(declared: ClaimKind, values: dict[str, Any], *, id: str = "") -> Claim:
    """A claim from the arguments of a Python constructor."""
    unknown = set(values) - set(declared.field_names)
    if unknown:
        raise InvalidClaim(f"{declared.name}: unknown arguments {sorted(unknown)}; allowed: "
                           f"{sorted(declared.field_names)}")
    values = dict(values)
    if "variables" in declared.field_names and values.get("variables") is None:
        values.pop("variables", None)
        expr = values.get("f")
        if expr is not None and hasattr(expr, "free_symbols"):
            values["variables"] = sorted(expr.free_symbols, key=lambda s: s.name)
        elif isinstance(expr, str):
            raise InvalidClaim(f"{declared.name}: a formula given as a string needs its "
                               "variables; pass variables=[...] or a SymPy expression")
    params = parse_fields(declared, values, label=f"{declared.name} {id or ''}".strip(),
                          base=Path.cwd())
    return Claim(kind=declared.name, params=params, id=id, source="python")


def parse_fields(declared: ClaimKind, values: dict[str, Any], *, label: str,
                 base: Path | None) -> dict[str, Any]:
    """Parse and default every field of ``declared`` from ``values``; validate the claim."""
    for f in declared.fields:
        if f.required and values.get(f.name) is None:
            raise InvalidClaim(f"{label}: kind {declared.name!r} requires the field {f.name!r}")
    for group in declared.one_of:
        if not any(values.get(name) is not None for name in group):
            raise InvalidClaim(f"{label}: kind {declared.name!r} needs at least one of "
                               f"{list(group)}")
    params: dict[str, Any] = {}
    symbols: tuple = ()
    if "variables" in declared.field_names and values.get("variables") is not None:
        given = values["variables"]
        if isinstance(given, (list, tuple)) and not given and \
                not declared.field("variables").required:
            symbols = ()                       # a fact about constants
        else:
            symbols = parse_variables(given, f"{label} field 'variables'")
        params["variables"] = symbols
    for f in declared.fields:
        if f.name == "variables":
            continue
        value = values.get(f.name)
        if value is None:
            if f.default is not None:
                params[f.name] = f.default
            continue
        params[f.name] = parse_value(f, value, f"{label} field {f.name!r}", symbols, base)
    if declared.validate is not None:
        try:
            declared.validate(params)
        except InvalidClaim as exc:
            raise InvalidClaim(f"{label}: {exc}") from None
    return params


def parse_value(f: Field, value: Any, label: str, symbols: tuple, base: Path | None) -> Any:
    """One field value, parsed according to ``f.type`` and checked."""
    out = _PARSERS[f.type](value, label, symbols, f)
    if f.type == "path":
        out = str((base or Path.cwd()) / out) if not Path(out).is_absolute() else out
    if f.type == "method" and ":" in out:
        where, _, name = out.rpartition(":")
        if not Path(where).is_absolute():
            out = f"{(base or Path.cwd()) / where}:{name}"
    if f.check is not None:
        for v in (out if isinstance(out, tuple) else (out,)):
            check_number(v, f.check, label)
    return out


def check_number(value: Any, check: str, label: str) -> None:
    """Decide ``value``'s constraint exactly (SymPy's three-valued answer must be true)."""
    import sympy as sp

    tests = {"positive": (value > 0, "positive"),
             "nonnegative": (value >= 0, "nonnegative"),
             "unit-interval": (sp.And(value >= 0, value < 1), "in [0, 1)"),
             "open-unit-interval": (sp.And(value > 0, value < 1), "in (0, 1)")}
    relation, words = tests[check]
    if relation is not sp.true and relation is not True:
        raise InvalidClaim(f"{label}: must be {words}, got {value}")


def parse_variables(value: Any, label: str) -> tuple:
    from verify.formula import make_symbols

    if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple)) or not value:
        raise InvalidClaim(f"{label}: a non-empty list of names (the variables of f)")
    names = []
    for v in value:
        if isinstance(v, str):
            names.append(v)
        elif type(v).__module__.startswith("sympy") and getattr(v, "is_Symbol", False):
            names.append(v.name)
        else:
            raise InvalidClaim(f"{label}: {v!r} is not a variable name")
    return make_symbols(names)


def _formula(value: Any, label: str, symbols: tuple, f: Field) -> Any:
    import sympy as sp

    from verify.formula import parse_formula

    if isinstance(value, str):
        expr = parse_formula(value, symbols, what=label)
    elif isinstance(value, sp.Basic):
        expr = _realify(value, symbols)
    else:
        raise InvalidClaim(f"{label}: a formula string is required, got {value!r}")
    if not isinstance(expr, sp.Expr):
        raise InvalidClaim(f"{label}: {value!r} is not an expression")
    extra = expr.free_symbols - set(symbols)
    if extra:
        raise InvalidClaim(f"{label}: uses {sorted(map(str, extra))}, which are not among the "
                           f"variables {[s.name for s in symbols]}")
    return expr


def _realify(expr: Any, symbols: tuple) -> Any:
    """Replace the user's symbols by the real symbols of the same name."""
    by_name = {s.name: s for s in symbols}
    subs = {s: by_name[s.name] for s in expr.free_symbols
            if s.name in by_name and s is not by_name[s.name]}
    return expr.xreplace(subs) if subs else expr


def _number(value: Any, label: str, symbols: tuple, f: Field) -> Any:
    from verify.formula import parse_number

    return parse_number(value, what=label)


def _point(value: Any, label: str, symbols: tuple, f: Field) -> tuple:
    from verify.formula import parse_number

    if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple)):
        raise InvalidClaim(f"{label}: a list of numbers is required, got {value!r}")
    if len(value) != len(symbols):
        raise InvalidClaim(f"{label}: has {len(value)} coordinates but there are "
                           f"{len(symbols)} variables")
    return tuple(parse_number(v, what=f"{label}[{i}]") for i, v in enumerate(value))


def _numbers(value: Any, label: str, symbols: tuple, f: Field) -> tuple:
    from verify.formula import parse_number

    if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple)) or not value:
        raise InvalidClaim(f"{label}: a non-empty list of numbers is required, got {value!r}")
    return tuple(parse_number(v, what=f"{label}[{i}]") for i, v in enumerate(value))


def _set(value: Any, label: str, symbols: tuple, f: Field) -> Any:
    import sympy as sp

    from verify.formula import parse_set

    if isinstance(value, sp.Set):
        return value
    if not isinstance(value, str):
        raise InvalidClaim(f"{label}: a set formula string is required, got {value!r}")
    return parse_set(value, what=label)


def _norm(value: Any, label: str, symbols: tuple, f: Field) -> str:
    text = str(value) if isinstance(value, (int, str)) and not isinstance(value, bool) else None
    if text in ("oo", "infinity"):
        text = "inf"
    if text not in NORMS:
        raise InvalidClaim(f"{label}: the norm must be one of {list(NORMS)}, got {value!r}")
    return text


def _method(value: Any, label: str, symbols: tuple, f: Field) -> str:
    from numerics.updates import OPTIMIZERS, split_method

    if isinstance(value, str) and ":" in value:
        try:
            split_method(value)
        except ValueError as exc:
            raise InvalidClaim(f"{label}: {exc}") from None
        return value
    known = f.choices or tuple(OPTIMIZERS)
    if value in OPTIMIZERS and value not in known and OPTIMIZERS[value].no_filter:
        raise InvalidClaim(f"{label}: {value} has no eigenvalue filter: "
                           f"{OPTIMIZERS[value].no_filter}")
    if value not in known:
        raise InvalidClaim(f"{label}: unknown method {value!r}; known: {list(known)}, or "
                           "'file.py:name' for an optimizer declared in a file")
    return value


def _table(value: Any, label: str, symbols: tuple, f: Field) -> dict[str, Any]:
    from verify.formula import parse_number

    if not isinstance(value, dict):
        raise InvalidClaim(f"{label}: a table of names to numbers is required (TOML: "
                           f"{{c = 0.5, k = 3}}), got {value!r}")
    out = {}
    for name, number in value.items():
        if not isinstance(name, str) or not name.isidentifier():
            raise InvalidClaim(f"{label}: {name!r} is not a name")
        out[name] = parse_number(number, what=f"{label}[{name!r}]")
    return out


def _choice(value: Any, label: str, symbols: tuple, f: Field) -> str:
    if value not in f.choices:
        raise InvalidClaim(f"{label}: must be one of {list(f.choices)}, got {value!r}")
    return value


def _string(value: Any, label: str, symbols: tuple, f: Field) -> str:
    if not isinstance(value, str):
        raise InvalidClaim(f"{label}: a string is required, got {value!r}")
    return value


def _path(value: Any, label: str, symbols: tuple, f: Field) -> str:
    if not isinstance(value, str) or not value:
        raise InvalidClaim(f"{label}: a file path is required, got {value!r}")
    return value


def _bool(value: Any, label: str, symbols: tuple, f: Field) -> bool:
    if not isinstance(value, bool):
        raise InvalidClaim(f"{label}: true or false is required, got {value!r}")
    return value


def _integer(value: Any, label: str, symbols: tuple, f: Field) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise InvalidClaim(f"{label}: an integer is required, got {value!r}")
    return int(value)


def _formulas(value: Any, label: str, symbols: tuple, f: Field) -> tuple:
    if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple)) or not value:
        raise InvalidClaim(f"{label}: a non-empty list of formulas is required, got {value!r}")
    return tuple(_formula(v, f"{label}[{i}]", symbols, f) for i, v in enumerate(value))


def _condition(value: Any, label: str, symbols: tuple, f: Field) -> Any:
    import sympy as sp

    from verify.formula import parse_condition

    if isinstance(value, str):
        cond = parse_condition(value, symbols, what=label)
    elif isinstance(value, (sp.logic.boolalg.Boolean, sp.core.relational.Relational)):
        if isinstance(value, sp.logic.boolalg.BooleanAtom):
            raise InvalidClaim(f"{label}: SymPy already evaluated this condition to {value}; "
                               "give it as text (or unevaluated) so the claim states it")
        cond = _realify(value, symbols)
    else:
        raise InvalidClaim(f"{label}: a condition string is required, got {value!r}")
    extra = getattr(cond, "free_symbols", set()) - set(symbols)
    if extra:
        raise InvalidClaim(f"{label}: uses {sorted(map(str, extra))}, which are not among the "
                           f"variables {[s.name for s in symbols]}")
    return cond


def _conditions(value: Any, label: str, symbols: tuple, f: Field) -> tuple:
    if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple)):
        raise InvalidClaim(f"{label}: a list of conditions is required, got {value!r}")
    return tuple(_condition(v, f"{label}[{i}]", symbols, f) for i, v in enumerate(value))


def _assumptions(value: Any, label: str, symbols: tuple, f: Field) -> dict:
    from verify.kernel.facts import ASSUMPTIONS

    if not isinstance(value, dict):
        raise InvalidClaim(f"{label}: a table variable -> sign is required, got {value!r}")
    names = {s.name for s in symbols}
    out = {}
    for name, sign in value.items():
        if name not in names:
            raise InvalidClaim(f"{label}: {name!r} is not a variable")
        if sign not in ASSUMPTIONS:
            raise InvalidClaim(f"{label}: the sign of {name} must be one of "
                               f"{list(ASSUMPTIONS)}, got {sign!r}")
        out[str(name)] = sign
    return out


def _limit_value(value: Any, label: str, symbols: tuple, f: Field) -> Any:
    import sympy as sp

    if value in ("oo", "-oo"):
        return value
    if value in (sp.oo, -sp.oo):
        return "oo" if value == sp.oo else "-oo"
    return _number(value, label, symbols, f)


_PARSERS: dict[str, Callable[[Any, str, tuple, Field], Any]] = {
    "formulas": _formulas, "condition": _condition, "conditions": _conditions,
    "assumptions": _assumptions, "limit-value": _limit_value,
    "formula": _formula, "number": _number, "point": _point, "numbers": _numbers,
    "set": _set, "norm": _norm, "method": _method, "choice": _choice, "string": _string,
    "path": _path, "bool": _bool, "integer": _integer, "table": _table,
}

