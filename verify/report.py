"""Certificate reports of a stored run: HTML (one self-contained file), Markdown and JSON.

A report is a document a user hands a colleague. Per item: the statement with its formulas
typeset (SymPy's MathML printer; no script, no network), the verdict, its certificate in readable
form (the inequality or fact, the point, the exact values, the solvers that agreed, the
enclosure), the counterexample as a table, assumptions, timings, and how to re-check the whole
run (``sharpflat recheck``). Before them: a summary by paper (``run``) or by claim kind
(``check``), a status chart, and the changes since the previous run of the same command and
target (new failures first).

Both documents are rendered from the same blocks (:class:`Para`, :class:`Fields`,
:class:`Grid`, :class:`Group`, :class:`Pre`), so HTML and Markdown say the same things; the
Markdown escapes what it prints (formulas in code spans).

Plots: the status chart, plus any figure a check attaches to its evidence under ``"plots"`` as
``[{"title", "xlabel", "ylabel", "x": [...], "lines": {name: [...]}, "logx", "logy"}]``
(optional ``"ylim": [lo, hi]`` and ``"dashed": [names]``), or with ``"regions": {name: [[x,
low, high], ...]}`` (a shaded set over x: the vertical segments low..high at each x;
``"marker"``: an x drawn as a dashed line), or a filled contour plot ``{"type": "contour", "x",
"y", "z": [[...], ...]}``, rendered with matplotlib (Agg, 150 dpi) and embedded as base64 PNG;
and any table under ``"tables"`` as ``[{"title", "header", "rows"}]``.
"""

from __future__ import annotations

import base64
import datetime as dt
import functools
import html
import io
import json
import platform
import re
from dataclasses import dataclass, field
from typing import Any, Iterable, Sequence, Union

from verify.store import Store
from verify.verdict import DECIDED, FAILING, Status, Verdict

_ORDER = [s.value for s in Status]
#: longest list shown whole in a cell; longer ones show their start and how many are left out
_LIST_LIMIT = 12
#: longest run of rows in a counterexample or certificate table
_ROW_LIMIT = 40
NO_VALUE = "—"


# --------------------------------------------------------------------------------------------
# the report's data
# --------------------------------------------------------------------------------------------

def build(store: Store, ref: str | int = "latest") -> dict[str, Any]:
    """The report's data: the run, its verdicts, summaries and the comparison (plain JSON)."""
    run = store.run(ref)
    verdicts = store.verdicts(run.id)
    previous = store.previous_run(run)
    before = {v.id: v for v in store.verdicts(previous.id)} if previous else {}
    changes = []
    for v in verdicts if previous else ():
        old = before.get(v.id)
        old_status = old.status.value if old else None
        if old_status != v.status.value:
            changes.append({"id": v.id, "before": old_status, "after": v.status.value,
                            "new_failure": v.status in FAILING and (old is None or
                                                                     old.status not in FAILING)})
    for item_id in sorted(set(before) - {v.id for v in verdicts}):
        changes.append({"id": item_id, "before": before[item_id].status.value, "after": None,
                        "new_failure": False})
    changes.sort(key=lambda c: (not c["new_failure"], c["id"]))
    group = "paper" if run.command == "run" else "kind"
    summary: dict[str, dict[str, int]] = {}
    for v in verdicts:
        key = (v.claim.get("paper") or v.kind) if group == "paper" else v.kind
        row = summary.setdefault(key, {})
        row[v.status.value] = row.get(v.status.value, 0) + 1
    return {"run": run.to_dict(), "store": store.path,
            "previous_run": previous.id if previous else None,
            "verdicts": [v.to_dict() for v in verdicts], "summary_by": group,
            "summary": summary, "changes": changes, "environment": _environment(verdicts)}


def _environment(verdicts: list[Verdict]) -> dict[str, Any]:
    env = {"platform": platform.platform(), "machine": platform.machine()}
    if verdicts:
        env.update(verdicts[0].versions)
    return env


def render(data: dict[str, Any], fmt: str) -> str:
    if fmt == "json":
        return json.dumps(data, indent=2, allow_nan=False) + "\n"
    if fmt == "md":
        return _markdown(data)
    if fmt == "html":
        return _html(data)
    raise ValueError(f"unknown report format {fmt!r}; use html, md or json")


# --------------------------------------------------------------------------------------------
# blocks: what both renderers print
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Math:
    """A formula: its plain text (SymPy syntax) and its MathML (None: not a formula)."""

    plain: str
    mathml: str | None = None


@dataclass(frozen=True)
class Code:
    text: str


@dataclass(frozen=True)
class Badge:
    """A verdict status (coloured in HTML, bold in Markdown)."""

    value: str


@dataclass(frozen=True)
class Link:
    text: str
    anchor: str


Inline = Union[str, Math, Code, Badge, Link, list]


@dataclass
class Para:
    parts: list


@dataclass
class Fields:
    """label: value rows."""

    rows: list


@dataclass
class Grid:
    header: list
    rows: list
    note: str = ""


@dataclass
class Pre:
    summary: str
    text: str


@dataclass
class Group:
    """A titled part of a verdict's section (``collapsed``: folded in HTML)."""

    title: str
    blocks: list = field(default_factory=list)
    collapsed: bool = False


# --------------------------------------------------------------------------------------------
# formulas
# --------------------------------------------------------------------------------------------

@functools.lru_cache(maxsize=4096)
def _mathml(text: str, names: tuple[str, ...], what: str) -> str | None:
    """MathML of ``text`` read by the whitelisting parser (None when it does not parse)."""
    try:
        from sympy.printing.mathml import mathml

        from verify import formula

        if what == "set":
            expr = formula.parse_set(text)
        else:
            expr = formula.parse_formula(text, formula.make_symbols(names) if names else ())
        return mathml(expr, printer="presentation")
    except Exception:  # noqa: BLE001 - not a formula: shown as text
        return None


def math(value: Any, names: Sequence[str] = (), what: str = "formula") -> Inline:
    """A value as a formula where it is one (exact numbers, expressions, sets)."""
    if isinstance(value, bool) or value is None:
        return Code(json.dumps(value))
    if isinstance(value, float):
        return Math(_float(value))
    if isinstance(value, int):
        return Math(str(value), f"<mn>{value}</mn>" if value >= 0 else None)
    if isinstance(value, str):
        if len(value) > 2000:
            return Code(value)
        markup = _mathml(value, tuple(names), what)
        return Math(value, markup) if markup else Code(value)
    if isinstance(value, (list, tuple)):
        return vector(value, names)
    return Code(json.dumps(value, default=str))


def vector(values: Sequence[Any], names: Sequence[str] = ()) -> Inline:
    """A tuple of numbers as one formula (long ones shortened, saying how many are left out)."""
    shown = list(values[:_LIST_LIMIT])
    parts = [math(v, names) for v in shown]
    if not all(isinstance(p, Math) for p in parts):
        return Code(_compact(values))
    more = len(values) - len(shown)
    plain = "(" + ", ".join(p.plain for p in parts) + (f", … {more} more" if more else "") + ")"
    if all(p.mathml for p in parts):
        inner = "<mo>,</mo>".join(p.mathml for p in parts)
        if more:
            inner += f"<mo>,</mo><mtext>… {more} more</mtext>"
        return Math(plain, f"<mrow><mo>(</mo>{inner}<mo>)</mo></mrow>")
    return Math(plain)


def _float(value: float) -> str:
    return repr(value) if abs(value) < 1e16 else f"{value:.6g}"


def _compact(value: Any) -> str:
    return json.dumps(value, default=str, separators=(", ", ": "))


# --------------------------------------------------------------------------------------------
# claims
# --------------------------------------------------------------------------------------------

def _declared(kind: str) -> Any:
    try:
        from verify import registry

        return registry.kind(kind)
    except Exception:  # noqa: BLE001 - a kind this version does not know
        return None


_FIELD_WHAT = {"formula": "formula", "number": "formula", "point": "formula",
               "numbers": "formula", "set": "set"}
_META = ("id", "kind", "source")
#: what a registered check is, in words
NATURE_WORDS = {"statement": "statement: instances of a theorem, proposition or derived fact "
                             "(expected proved; a refuted instance is a finding)",
                "experiment": "experiment: a reproduction (evidence, with its intervals and "
                              "sample sizes)"}


def statement_blocks(v: dict[str, Any]) -> list:
    """The claim: its statement and its fields, formulas typeset."""
    claim = v.get("claim") or {}
    if claim.get("paper"):                       # a registered check
        rows = [("paper", [claim["paper"]]), ("statement", [claim.get("statement", "")]),
                ("summary", [claim.get("summary", "")])]
        if claim.get("nature"):
            rows.append(("nature", [NATURE_WORDS.get(claim["nature"], claim["nature"])]))
        return [Fields(rows)]
    declared = _declared(claim.get("kind", v.get("kind", "")))
    blocks: list = []
    if declared is not None:
        blocks.append(Para([declared.statement, f" ({declared.paper})."]))
    names = tuple(str(n) for n in claim.get("variables") or ())
    formula = claim_formula(claim)
    if formula is not None:
        blocks.append(Para(formula))
    rows = []
    for key, value in claim.items():
        if key in _META:
            continue
        ftype = None
        if declared is not None and key in declared.field_names:
            ftype = declared.field(key).type
        if ftype == "variables":
            rows.append((key, [vector(value, names)]))
        elif ftype in _FIELD_WHAT:
            rows.append((key, [math(value, names, _FIELD_WHAT[ftype])]))
        elif isinstance(value, str):
            rows.append((key, [Code(value)]))
        else:
            rows.append((key, [math(value, names)]))
    if claim.get("source"):
        rows.append(("source", [Code(str(claim["source"]))]))
    blocks.append(Fields(rows))
    return blocks


def _sympy_claim(claim: dict[str, Any]) -> tuple[Any, tuple, Any]:
    """(variables, f, point) of a claim, parsed by the whitelisting parser."""
    from verify import formula

    xs = formula.make_symbols([str(n) for n in claim["variables"]])
    f = formula.parse_formula(str(claim["f"]), xs)
    point = tuple(formula.parse_number(c) for c in claim.get("point") or ())
    return xs, f, point


def _norm(diff: Sequence[Any], norm: str) -> Any:
    import sympy as sp

    if norm == "1":
        return sp.Add(*[sp.Abs(d) for d in diff])
    if norm == "inf":
        return sp.Max(*[sp.Abs(d) for d in diff]) if len(diff) > 1 else sp.Abs(diff[0])
    return sp.sqrt(sp.Add(*[d**2 for d in diff]))


def _typeset(expr: Any) -> Math:
    from sympy.printing.mathml import mathml

    return Math(str(expr), mathml(expr, printer="presentation"))


def sharpness_inequality(claim: dict[str, Any], modulus: Any) -> list | None:
    """``for all x: f(x) >= f(p) + m ||x - p||`` with the claim's f, p and norm."""
    try:
        import sympy as sp

        from verify import formula

        xs, f, point = _sympy_claim(claim)
        m = formula.parse_number(modulus)
        fp = f.subs(dict(zip(xs, point)))
        term = sp.Mul(m, _norm([x - c for x, c in zip(xs, point)], str(claim.get("norm", "2"))),
                      evaluate=False)
        rhs = term if fp == 0 else sp.Add(fp, term, evaluate=False)
        return ["for all x: ", _typeset(sp.GreaterThan(f, rhs, evaluate=False))]
    except Exception:  # noqa: BLE001 - a claim the report cannot typeset: shown as fields
        return None


def claim_formula(claim: dict[str, Any]) -> list | None:
    """The claim's statement as a formula over its own fields, where the report knows how.

    Recognized by the fields it states (kind names are written only in their declarations):
    a ``modulus`` at a ``point`` is a sharpness inequality, a ``quantity`` is a conserved one."""
    try:
        import sympy as sp

        from verify import formula

        if "modulus" in claim and "point" in claim and "f" in claim:
            return sharpness_inequality(claim, claim["modulus"])
        if "quantity" in claim and "f" in claim and "variables" in claim:
            xs = formula.make_symbols([str(n) for n in claim["variables"]])
            f = formula.parse_formula(str(claim["f"]), xs)
            q = formula.parse_formula(str(claim["quantity"]), xs)
            pairing = sp.Add(*[sp.Mul(sp.Derivative(q, x), sp.Derivative(f, x),
                                      evaluate=False) for x in xs], evaluate=False)
            return ["<grad q, grad f> = ", _typeset(sp.Eq(pairing, 0, evaluate=False)),
                    " identically"]
    except Exception:  # noqa: BLE001
        return None
    return None


def _exact_gap(claim: dict[str, Any], cert: dict[str, Any]) -> list | None:
    """The exact value a refuting point or tilt makes negative."""
    try:
        import sympy as sp

        from verify import formula

        xs, f, point = _sympy_claim(claim)
        x = tuple(formula.parse_number(c) for c in cert["x"])
        at_x, at_p = dict(zip(xs, x)), dict(zip(xs, point))
        if cert.get("kind") == "point":
            m = formula.parse_number(claim.get("modulus", claim.get("value")))
            gap = f.subs(at_x) - f.subs(at_p) - m * _norm(
                [a - b for a, b in zip(x, point)], str(claim.get("norm", "2")))
            label = "f(x) - f(p) - m ||x - p|| = "
        elif cert.get("kind") == "tilt":
            xi = tuple(formula.parse_number(c) for c in cert["xi"])
            tilt = lambda y: sum(a * b for a, b in zip(xi, y))  # noqa: E731
            gap = (f.subs(at_x) - tilt(x)) - (f.subs(at_p) - tilt(point))
            label = "(f(x) - <xi, x>) - (f(p) - <xi, p>) = "
        else:
            return None
        gap = sp.nsimplify(sp.simplify(gap)) if gap.free_symbols == set() else gap
        return [label, _typeset(gap), f" ≈ {float(gap):.6g} < 0"]
    except Exception:  # noqa: BLE001 - the kernel decides; the report only shows
        return None


# --------------------------------------------------------------------------------------------
# certificates
# --------------------------------------------------------------------------------------------

_Z3_CVC5 = "z3 and cvc5 both answered unsat"
#: what the re-check of a decided verdict trusts, in words
TRUST_WORDS = {"exact": "exact: rational and ball arithmetic, SymPy's exact algebra",
               "solvers": "solver agreement: z3 and cvc5 both refute the negation (not a "
                          "proof: their nonlinear steps are trusted)",
               "probabilistic": "probabilistic: a stated confidence computed from recorded "
                                "numbers"}
#: certificate kind -> (what it establishes, how the kernel re-checks it)
CERTIFICATES: dict[str, tuple[str, str]] = {
    "all-of": ("every instance of the conjunction holds", "each part's certificate"),
    "refuted-part": ("one instance of the conjunction is refuted", "that part's certificate"),
    "verdict": ("a decider's verdict on the inner claim, as the statement predicts",
                "the inner certificate and its status"),
    "exact-zero": ("the expression is identically zero",
                   "exact expansion or SymPy's simplification, confirmed by balls at rational "
                   "points"),
    "nonzero-point": ("the expression does not vanish at a rational point",
                      "a ball that excludes 0"),
    "exact-sign": ("relations between constants", "balls, and minimal polynomials for zeros"),
    "real-roots": ("a statement for every real value of one variable",
                   "exact real-root isolation of every polynomial in it (cylindrical "
                   "decomposition of the line)"),
    "smt-agreement": ("a universal statement, by refuting its negation",
                      "the negation written from the claim; " + _Z3_CVC5),
    "counterexample-point": ("a rational point where the statement fails",
                             "exact evaluation of hypotheses and conclusion"),
    "sympy-limit": ("the value of a limit", "SymPy's limit and a far-point ball check"),
    "exact-rank": ("whether two lists of polynomials span the same space",
                   "exact ranks over Q"),
    "sharp-univariate": ("f(x) >= f(p) + m |x - p| for every real x (one variable)",
                         "exact real-root isolation (no solver)"),
    "filter-set-exact": ("the filter set of the method (equality or containment)",
                         "the Jury conditions re-derived from numerics.updates; exact real "
                         "roots in lambda"),
    "sharp-smt": ("f(x) >= f(p) + m ||x - p|| for all x, with the modulus m below",
                  "the case-split queries rebuilt from the claim; " + _Z3_CVC5),
    "point": ("a point where the sharpness inequality fails", "ball arithmetic"),
    "point-ratio": ("a point where the ratio (f(x) - f(p)) / ||x - p|| is at most the value",
                    "exact arithmetic"),
    "ray-limit": ("the limit of the ratio along a ray", "SymPy's limit"),
    "modulus-exact": ("the sharpness modulus: a lower bound and an upper bound that meet",
                      "the two certificates"),
    "tilt": ("a tilt whose problem has a minimizer other than the point", "ball arithmetic"),
    "filter-set-smt": ("the filter set of the method (equality or containment)",
                       "the Jury conditions re-derived from numerics.updates; " + _Z3_CVC5),
    "filter-witness": ("a curvature where the filter set and the claim differ", "exact"),
    "spectral-radius": ("the spectral radius of the Jacobian at the point",
                        "exact characteristic polynomial, certified root isolation"),
    "flat-exact": ("Definition 2: gradient zero, Hessian PSD, tangential gradient zero",
                   "exact derivatives and an exact PSD test"),
    "nonzero-gradient": ("the gradient does not vanish at the point", "exact"),
    "negative-curvature": ("a direction of negative curvature", "exact"),
    "tangential-gradient": ("a non-zero tangential gradient of tr-bar", "exact"),
    "max-variation-bounds": ("bounds on the maximal variation f°(x, r)",
                             "a tree of boxes re-bounded in ball arithmetic, a ball-evaluated "
                             "witness"),
    "flatter-fixed": ("f°(x, r) <= f°(y, r)", "an enclosure at x and a witness at y"),
    "flatter-radius": ("the flatness comparison at a radius", "enclosures and witnesses"),
    "flatter-leading": ("the flatness comparison by the leading orders", "exact"),
    "reflexive": ("a point is as flat as itself", "x = y"),
    "conserved": ("<grad q, grad f> is identically zero", "exact expansion"),
    "conserved-witness": ("a rational point where <grad q, grad f> is not zero",
                          "exact evaluation"),
    "kw-bound": ("an upper bound of lambda_max with the stated probability",
                 "the Kuczynski-Wozniakowski bound recomputed from the Lanczos data"),
    "spectrum-in-filter": ("the spectrum enclosure lies in the optimizer's filter set",
                           "two recomputed bounds; " + _Z3_CVC5),
    "eigenvalue-outside-filter": ("an eigenvalue interval outside the filter set",
                                  "exact membership, an independent Rayleigh quotient"),
    "kw-lambda-max": ("lambda_max <= at_most with the claim's probability",
                      "the Kuczynski-Wozniakowski bound recomputed from the Lanczos data with "
                      "the claim's dimension and confidence"),
    "rayleigh-above": ("a Rayleigh quotient, hence lambda_max, above at_most",
                       "the quotient recomputed by finite-difference products within the "
                       "kernel's tolerance, compared exactly"),
}
#: (certificate kind, key, inner kind) -> what the inner certificate establishes there
ROLES: dict[tuple[str, str, str], tuple[str, str]] = {
    ("spectrum-in-filter", "top", "kw-bound"): CERTIFICATES["kw-bound"],
    ("spectrum-in-filter", "bottom", "kw-bound"): (
        "a lower bound of lambda_min with the stated probability (an upper bound of "
        "lambda_max(-H), from Lanczos on -H, negated)",
        "the Kuczynski-Wozniakowski bound recomputed from the Lanczos data of -H"),
}
_SOLVER_TEXT = re.compile(r"\((assert|declare-fun|set-logic|check-sat)")


def certificate_blocks(cert: Any, names: Sequence[str] = (), depth: int = 0,
                       claim: dict[str, Any] | None = None) -> list:
    """A certificate for people: what it establishes, how it is re-checked, its data (and,
    for the sharpness kinds, the inequality or the exact value it rests on)."""
    if not isinstance(cert, dict):
        return [Para(["no certificate"])]
    claim = claim or {}
    kind = str(cert.get("kind", "?"))
    what, how = CERTIFICATES.get(kind, ("", ""))
    blocks: list = [Para([Code(kind)] + ([f": {what}." if what else "."]) +
                         ([f" Re-checked by: {how}."] if how else []))]
    if kind == "sharp-smt" and "modulus" in cert and claim.get("f"):
        inequality = sharpness_inequality(claim, cert["modulus"])
        if inequality:
            blocks.append(Para(["Proved: "] + inequality))
    if kind in ("point", "tilt") and "x" in cert and claim.get("f"):
        gap = _exact_gap(claim, cert)
        if gap:
            blocks.append(Para(["At the certificate's point: "] + gap))
    rows, nested, texts = [], [], []
    for key, value in cert.items():
        if key in ("kind", "version"):
            continue
        if key in ("parts",) and isinstance(value, list):
            nested.append(_parts_block(value, depth))
        elif isinstance(value, dict) and "kind" in value and depth < 4:
            inner = certificate_blocks(value, names, depth + 1, claim)
            role = ROLES.get((kind, key, value["kind"]))
            if role:   # what this part bounds inside its parent (not what it does alone)
                inner[0] = Para([Code(value["kind"]), f": {role[0]}. Re-checked by: {role[1]}."])
            nested.append(Group(f"{key.replace('_', ' ')}: {value['kind']}", inner))
        elif key == "part" and isinstance(value, dict):
            nested.append(_parts_block([value], depth, title="the refuted part"))
        elif isinstance(value, list) and value and all(isinstance(t, str) and
                                                        _SOLVER_TEXT.search(t) for t in value):
            texts.append((key, value))
        elif isinstance(value, str) and _SOLVER_TEXT.search(value):
            texts.append((key, [value]))
        else:
            rows.append((key.replace("_", " "), [_value(value, names)]))
    if rows:
        blocks.append(Fields(rows[:_ROW_LIMIT]))
        if len(rows) > _ROW_LIMIT:
            blocks.append(Para([f"… {len(rows) - _ROW_LIMIT} more entries (--format json "
                                "has them all)"]))
    for key, items in texts:
        blocks.append(Para([f"{len(items)} SMT-LIB2 quer{'y' if len(items) == 1 else 'ies'} "
                            f"({key}): {_Z3_CVC5} on each."]))
        blocks.append(Pre(f"the {key}", "\n\n".join(items)))
    blocks.extend(nested)
    return blocks


def _value(value: Any, names: Sequence[str]) -> Inline:
    if isinstance(value, dict):
        parts: list = []
        for i, (k, v) in enumerate(value.items()):
            parts += ([", "] if i else []) + [f"{k} = ", _value(v, names)]
        return parts
    if isinstance(value, list) and value and all(isinstance(x, list) for x in value):
        if len(value) <= _LIST_LIMIT:
            return [vector(x, names) if i == 0 else [", ", vector(x, names)]
                    for i, x in enumerate(value)]
        return Code(f"{len(value)} lists (--format json has them)")
    if isinstance(value, list) and any(isinstance(x, dict) for x in value):
        return Code(f"{len(value)} entries (--format json has them)")
    return math(value, names)


def _parts_block(parts: list, depth: int, title: str = "") -> Group:
    rows = []
    for p in parts:
        if not isinstance(p, dict):
            continue
        claim = p.get("claim") or {}
        cert = p.get("certificate") or {}
        rows.append([[Code(str(p.get("id", "?")))], [Badge(str(p.get("status", "?")))],
                     [str(claim.get("statement") or claim.get("kind") or "")],
                     [Code(str(cert.get("kind", "-")))], [_brief(cert, claim)]])
    grid = Grid(["instance", "status", "statement", "certificate", "data"], rows[:_ROW_LIMIT],
                note=(f"… {len(rows) - _ROW_LIMIT} more instances (--format json has them all)"
                      if len(rows) > _ROW_LIMIT else ""))
    return Group(title or f"{len(rows)} instances", [grid], collapsed=depth > 0)


def _brief(cert: dict, claim: dict) -> Inline:
    """The key datum of an instance's certificate, in one cell."""
    names = tuple(str(n) for n in cert.get("variables") or claim.get("variables") or ())
    kind = cert.get("kind")
    if kind in ("zero", "nonzero") and "expr" in cert:
        return [math(cert["expr"], names), " = 0" if kind == "zero" else " ≠ 0"]
    if kind == "sign" and "expr" in cert:
        return [math(cert["expr"], names), f" {cert.get('relation', '?')} 0"]
    if kind == "limit" and "expr" in cert:
        return [f"lim {cert.get('variable', '')} → {cert.get('to', '')}: ",
                math(cert["expr"], (str(cert.get("variable", "")),)), " = ",
                math(cert.get("value"))]
    if kind == "smt-unsat":
        return f"{len(cert.get('texts') or [])} queries; {_Z3_CVC5}"
    if kind == "verdict":
        inner = cert.get("certificate") or {}
        return [f"the decider said {cert.get('status')}, ", Code(str(inner.get("kind", "-")))]
    keys = [k for k in cert if k not in ("kind", "version")]
    if not keys:
        return ""
    shown = [(k, cert[k]) for k in keys[:3] if not isinstance(cert[k], (dict, list))
             or (isinstance(cert[k], list) and len(cert[k]) <= 6
                 and not any(isinstance(x, (dict, list)) for x in cert[k]))]
    parts: list = []
    for i, (k, val) in enumerate(shown):
        if isinstance(val, str) and len(val) > 200:
            val = val[:199] + "…"
        parts += ([", "] if i else []) + [f"{k} = ", math(val, names)]
    return parts or f"{', '.join(keys[:4])}"


# --------------------------------------------------------------------------------------------
# a verdict's section
# --------------------------------------------------------------------------------------------

def counterexample_grid(cx: Any, names: Sequence[str]) -> Grid:
    """A counterexample as a table of its entries (nested entries as dotted names)."""
    rows = []
    for key, value in _flatten(cx):
        rows.append([[Code(key)], [_value(value, names)]])
    note = ""
    if len(rows) > _ROW_LIMIT:
        note = f"… {len(rows) - _ROW_LIMIT} more entries (--format json has them all)"
        rows = rows[:_ROW_LIMIT]
    return Grid(["entry", "value"], rows, note=note)


def _flatten(value: Any, prefix: str = "") -> Iterable[tuple[str, Any]]:
    if isinstance(value, dict) and value:
        for k, v in value.items():
            name = f"{prefix}.{k}" if prefix else str(k)
            if isinstance(v, dict) and v and len(v) <= 12 and not prefix.count(".") > 2:
                yield from _flatten(v, name)
            else:
                yield name, v
    else:
        yield prefix or "value", value


def verdict_blocks(v: dict[str, Any], run_id: Any) -> list:
    """Every part of one verdict's section."""
    claim = v.get("claim") or {}
    names = tuple(str(n) for n in claim.get("variables") or ())
    blocks: list = [Group("Statement", statement_blocks(v))]
    rows = [("status", [Badge(v["status"])])]
    if v.get("trust"):
        rows.append(("trust", [TRUST_WORDS.get(v["trust"], v["trust"])]))
    rows += [("method", [v.get("method", "")]), ("message", [v.get("message") or NO_VALUE])]
    if v.get("bounds") is not None:
        lo, hi = v["bounds"]
        rows.append(("bounds", [Math(f"[{_num(lo)}, {_num(hi)}]")]))
    if v.get("confidence") is not None:
        rows.append(("confidence", [_confidence(v["confidence"])]))
    if v.get("sample_size") is not None:
        rows.append(("sample size", [str(v["sample_size"])]))
    if v.get("seed") is not None:
        rows.append(("seed", [str(v["seed"])]))
    if isinstance(v.get("elapsed"), (int, float)):
        rows.append(("time", [_seconds(v["elapsed"])]))
    blocks.append(Group("Verdict", [Fields(rows)]))
    if v.get("assumptions"):
        blocks.append(Group("Assumptions", [Grid(
            ["assumption", "holds", "how it was checked"],
            [[[a.get("name", "")], [{True: "yes", False: "no"}.get(a.get("holds"), "unknown")],
              [a.get("how") or NO_VALUE]] for a in v["assumptions"]])]))
    if v.get("counterexample"):
        blocks.append(Group("Counterexample", [counterexample_grid(v["counterexample"], names)]))
    if v.get("certificate") and v["status"] in {s.value for s in DECIDED}:
        blocks.append(Group("Certificate", certificate_blocks(v["certificate"], names,
                                                              claim=claim)
                            + [Para(["Re-check it: ", Code(f"sharpflat recheck {run_id}"),
                                     "."])]))
    for table in evidence_tables(v):
        blocks.append(table)
    evidence = {k: val for k, val in (v.get("evidence") or {}).items()
                if k not in ("plots", "instances", "tables")}
    if evidence:
        blocks.append(Group("Evidence", [Pre("the numbers", json.dumps(
            _abridged(evidence), indent=1, default=str))], collapsed=True))
    return blocks


def evidence_tables(v: dict[str, Any]) -> list[Group]:
    """The tables a verdict attaches to its evidence under ``"tables"`` as
    ``[{"title", "header": [...], "rows": [[...], ...]}]``, as titled grids."""
    out = []
    for spec in (v.get("evidence") or {}).get("tables") or []:
        if not isinstance(spec, dict) or not isinstance(spec.get("rows"), list):
            continue
        header = [str(h) for h in spec.get("header") or []]
        rows = [[[str(c)] for c in row] for row in spec["rows"][:_ROW_LIMIT]
                if isinstance(row, list)]
        note = (f"… {len(spec['rows']) - _ROW_LIMIT} more rows (--format json has them all)"
                if len(spec["rows"]) > _ROW_LIMIT else "")
        out.append(Group(str(spec.get("title") or "table"), [Grid(header, rows, note=note)]))
    return out


#: longest list of numbers the evidence dump of a report shows whole
_DUMP_LIST = 24


def _abridged(value: Any) -> Any:
    """Evidence for people: long lists of numbers (densities, grids) are counted, not
    printed (``--format json`` has them whole)."""
    if isinstance(value, dict):
        return {k: _abridged(val) for k, val in value.items()}
    if isinstance(value, list):
        if len(value) > _DUMP_LIST:
            return f"[{len(value)} entries: --format json has them]"
        return [_abridged(x) for x in value]
    return value


def _num(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def _seed(value: Any) -> str:
    return NO_VALUE if value is None else f"seed {value}"


def _seconds(value: Any) -> str:
    return f"{value:.2f} s" if isinstance(value, (int, float)) else NO_VALUE


def _confidence(value: Any) -> str:
    """A probability for people: 0.8999999999999999 -> 0.9; 1 is rigorous."""
    try:
        c = float(value)
    except (TypeError, ValueError):
        return str(value)
    return "1 (rigorous)" if c == 1 else f"{c:.6g}"


def _when(stamp: Any) -> str:
    if not isinstance(stamp, (int, float)):
        return NO_VALUE
    return dt.datetime.fromtimestamp(stamp).strftime("%Y-%m-%d %H:%M:%S")


def _recheck_lines(data: dict[str, Any]) -> list[str]:
    run = data["run"]
    if data.get("standalone"):
        return ["sharpflat recheck verdicts.json    # the file Verdicts.to_json(path) wrote"]
    db = "" if data.get("store") in (None, ".sharpflat/results.db") else f" --db {data['store']}"
    return [f"sharpflat recheck {run['id']}{db}",
            f"sharpflat report {run['id']} --format json --out run{run['id']}.json{db}",
            f"sharpflat recheck run{run['id']}.json"]


def _change_text(status: str | None, previous: Any, *, after: bool) -> Inline:
    if status is not None:
        return Badge(status)
    return "(removed)" if after else f"(not in run {previous})"


def document(data: dict[str, Any]) -> tuple[list, list]:
    """The report's front matter and its per-verdict sections, as blocks."""
    run = data["run"]
    decided = [v for v in data["verdicts"] if v["status"] in {s.value for s in DECIDED}]
    front: list = []
    meta = [("command", [Code(run["command"]), " on ", Code(run["target"])]),
            ("status", [run["status"]]),
            ("verdicts", [", ".join(f"{n} {s}" for s, n in sorted(run["counts"].items()))
                          or NO_VALUE]),
            ("started", [_when(run.get("started"))]), ("finished", [_when(run.get("finished"))]),
            ("profile", [run.get("profile") or NO_VALUE]),
            ("seed", [NO_VALUE if run.get("seed") is None else str(run["seed"])]),
            ("previous run", [str(data["previous_run"]) if data["previous_run"]
                              else "none (no earlier run of this command and target)"])]
    front.append(Group("Run", [Fields(meta)]))
    front.append(Group("How to re-check", [
        Para([f"{len(decided)} verdict{' is' if len(decided) == 1 else 's are'} decided "
              "(proved, certified or refuted); each carries a certificate that sharpflat's "
              "kernel re-checks from the claim's own fields, without the code that decided "
              "it. To re-check them from the store, or from the JSON of this run on another "
              "machine:"]),
        Pre("", "\n".join(_recheck_lines(data)))]))
    label = "paper" if data["summary_by"] == "paper" else "claim kind"
    rows = [[[Code(k) if label == "claim kind" else k]] + [[str(row.get(s, 0))] for s in _ORDER]
            for k, row in sorted(data["summary"].items())]
    front.append(Group(f"Summary by {label}", [Grid([label] + _ORDER, rows)]))
    if data["changes"]:
        noted = any(c["new_failure"] for c in data["changes"])   # a note column if needed
        rows = [[[Link(c["id"], _anchor(c["id"]))],
                 [_change_text(c["before"], data["previous_run"], after=False)],
                 [_change_text(c["after"], data["previous_run"], after=True)]]
                + ([["new failure" if c["new_failure"] else ""]] if noted else [])
                for c in data["changes"]]
        changes: list = [Grid(["item", f"run {data['previous_run']}", f"run {run['id']}"]
                              + (["note"] if noted else []), rows)]
    else:
        changes = [Para(["No changes." if data["previous_run"] else
                         "No previous run to compare."])]
    front.append(Group("Changes since the previous run", changes))
    rows = [[[Link(v["id"], _anchor(v["id"]))], [Badge(v["status"])], [v.get("method", "")],
             [f"{v['elapsed']:.2f}" if isinstance(v.get("elapsed"), (int, float))
              else NO_VALUE],
             [_shorten(v.get("message") or "", 240)]] for v in data["verdicts"]]
    front.append(Group("Verdicts", [Grid(["item", "status", "method", "s", "message"], rows)]))
    where = "verdicts.json" if data.get("standalone") else run["id"]
    sections = [(v, verdict_blocks(v, where)) for v in data["verdicts"]]
    return front, sections


def _shorten(text: str, limit: int) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[:limit - 1].rstrip() + "…"


def _anchor(item_id: str) -> str:
    return "v-" + re.sub(r"[^A-Za-z0-9_.-]", lambda m: f"_{ord(m.group()):x}", item_id)


# --------------------------------------------------------------------------------------------
# Markdown
# --------------------------------------------------------------------------------------------

_MD_SPECIAL = re.compile(r"([\\`*_\[\]|~])")
_MD_LINE_START = re.compile(r"^(\s*)([#+>-]|\d+[.)])")


def md_text(text: str) -> str:
    """Plain text safe in Markdown: no emphasis, link, table cell break or HTML is made of
    it (``*`` stays a multiplication sign, ``<b>`` stays text)."""
    text = " ".join(str(text).split("\n"))
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _MD_SPECIAL.sub(r"\\\1", text)


def md_line(text: str) -> str:
    """A Markdown line that does not start a heading, list or quote by accident."""
    return _MD_LINE_START.sub(lambda m: m.group(1) + "\\" + m.group(2), text)


def md_code(text: str, in_table: bool = False) -> str:
    text = " ".join(str(text).split("\n"))
    fence = "`"
    while fence in text:
        fence += "`"
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    out = f"{fence}{pad}{text}{pad}{fence}"
    return out.replace("|", "\\|") if in_table else out


def md_inline(x: Inline, in_table: bool = False) -> str:
    if isinstance(x, list):
        return "".join(md_inline(p, in_table) for p in x)
    if isinstance(x, Math):
        return md_code(x.plain, in_table)
    if isinstance(x, Code):
        return md_code(x.text, in_table)
    if isinstance(x, Badge):
        return f"**{md_text(x.value)}**"
    if isinstance(x, Link):
        return f"[{md_text(x.text)}](#{x.anchor})"
    return md_text(x)


def md_blocks(blocks: list, level: int) -> list[str]:
    lines: list[str] = []
    for b in blocks:
        if isinstance(b, Para):
            lines += [md_line(md_inline(b.parts)), ""]
        elif isinstance(b, Fields):
            lines += [f"- {md_text(label)}: {md_inline(value)}" for label, value in b.rows]
            lines.append("")
        elif isinstance(b, Grid):
            lines.append("| " + " | ".join(md_text(h) or " " for h in b.header) + " |")
            lines.append("|" + "---|" * len(b.header))
            for row in b.rows:
                lines.append("| " + " | ".join(md_inline(c, True) or " " for c in row) + " |")
            if b.note:
                lines += ["", md_text(b.note)]
            lines.append("")
        elif isinstance(b, Pre):
            fence = "```"
            while fence in b.text:
                fence += "`"
            if b.summary:
                lines.append(md_text(b.summary) + ":")
                lines.append("")
            lines += [fence, b.text, fence, ""]
        elif isinstance(b, Group):
            lines += [f"{'#' * level} {md_text(b.title)}", ""]
            lines += md_blocks(b.blocks, level + 1)
    return lines


def _markdown(data: dict[str, Any]) -> str:
    run = data["run"]
    front, sections = document(data)
    lines = [f"# sharpflat certificate report: run {run['id']}", ""]
    lines += md_blocks(front, 2)
    lines += ["## Verdicts in detail", ""]
    for v, blocks in sections:
        lines += [f'<a id="{_anchor(v["id"])}"></a>', "",
                  f"### {md_text(v['id'])}: **{md_text(v['status'])}**", ""]
        lines += md_blocks(blocks, 4)
    lines += ["## Environment", ""]
    lines += [f"- {md_text(k)}: {md_text(val)}" for k, val in data["environment"].items()]
    return "\n".join(lines).rstrip() + "\n"


# --------------------------------------------------------------------------------------------
# HTML
# --------------------------------------------------------------------------------------------

_E = html.escape


def html_inline(x: Inline) -> str:
    if isinstance(x, list):
        return "".join(html_inline(p) for p in x)
    if isinstance(x, Math):
        if x.mathml:
            return (f'<math display="inline" aria-label="{_E(x.plain)}">{x.mathml}</math>')
        return f'<code class="formula">{_E(x.plain)}</code>'
    if isinstance(x, Code):
        return f"<code>{_E(x.text)}</code>"
    if isinstance(x, Badge):
        return f'<span class="status {_E(x.value)}">{_E(x.value)}</span>'
    if isinstance(x, Link):
        return f'<a href="#{_E(x.anchor)}">{_E(x.text)}</a>'
    return _E(str(x))


def html_blocks(blocks: list, level: int) -> str:
    out = []
    for b in blocks:
        if isinstance(b, Para):
            out.append(f"<p>{html_inline(b.parts)}</p>")
        elif isinstance(b, Fields):
            rows = "".join(f"<tr><th>{_E(label)}</th><td>{html_inline(value)}</td></tr>"
                           for label, value in b.rows)
            out.append(f'<table class="fields">{rows}</table>')
        elif isinstance(b, Grid):
            head = "".join(f"<th>{_E(h)}</th>" for h in b.header)
            body = "".join("<tr>" + "".join(f"<td>{html_inline(c)}</td>" for c in row) + "</tr>"
                           for row in b.rows)
            out.append(f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")
            if b.note:
                out.append(f'<p class="note">{_E(b.note)}</p>')
        elif isinstance(b, Pre):
            if b.summary:
                out.append(f"<details><summary>{_E(b.summary)}</summary><pre>{_E(b.text)}"
                           "</pre></details>")
            else:
                out.append(f"<pre>{_E(b.text)}</pre>")
        elif isinstance(b, Group):
            inner = html_blocks(b.blocks, level + 1)
            h = min(level, 6)
            if b.collapsed:
                out.append(f"<details><summary>{_E(b.title)}</summary>{inner}</details>")
            else:
                out.append(f'<section><h{h}>{_E(b.title)}</h{h}>{inner}</section>')
    return "\n".join(out)


_CSS = """
:root{--fg:#1f2328;--muted:#59636e;--line:#d0d7de;--soft:#f6f8fa}
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;max-width:1100px;margin:2em auto;
padding:0 1em;color:var(--fg);line-height:1.45}
h1{font-size:1.6em;border-bottom:1px solid var(--line);padding-bottom:.3em}
h2{font-size:1.3em;margin-top:1.6em;border-bottom:1px solid var(--line);padding-bottom:.2em}
h3{font-size:1.1em}h4{font-size:1em;margin:1em 0 .3em}
table{border-collapse:collapse;margin:.5em 0 1em}
td,th{border:1px solid var(--line);padding:4px 8px;text-align:left;vertical-align:top;
font-size:14px}thead th{background:var(--soft)}
table.fields th{background:var(--soft);font-weight:600;white-space:nowrap}
.status{font-weight:600}.proved,.certified{color:#1a7f37}.evidence{color:#0969da}
.refuted{color:#cf222e}.inconclusive{color:#9a6700}.error{color:#6e7781}
pre{background:var(--soft);padding:8px;overflow-x:auto;font-size:12px;max-height:320px}
code{font-size:13px;background:var(--soft);padding:0 3px;border-radius:3px;
word-break:break-word}math{font-size:1.15em;math-style:normal}
details{margin:.4em 0}summary{cursor:pointer;color:var(--muted)}
.note{color:var(--muted);font-size:13px}.verdict{border-top:2px solid var(--line);
margin-top:2em}img{max-width:100%;height:auto}
"""


def _html(data: dict[str, Any]) -> str:
    run = data["run"]
    front, sections = document(data)
    parts = [f'<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
             f'<meta name="viewport" content="width=device-width, initial-scale=1">'
             f"<title>sharpflat report: run {_E(str(run['id']))}</title>"
             f"<style>{_CSS}</style></head><body>",
             f"<h1>sharpflat certificate report: run {_E(str(run['id']))}</h1>"]
    chart = _summary_plot(data)
    body = html_blocks(front, 2)
    if chart:
        marker = "<section><h2>Changes since the previous run</h2>"
        body = body.replace(marker, f'<img alt="verdicts by status" {chart}>\n' + marker, 1)
    parts.append(body)
    parts.append("<h2>Verdicts in detail</h2>")
    for v, blocks in sections:
        parts.append(f'<section class="verdict" id="{_E(_anchor(v["id"]))}"><h3>'
                     f'{_E(v["id"])}: <span class="status {_E(v["status"])}">'
                     f'{_E(v["status"])}</span></h3>')
        parts.append(html_blocks(blocks, 4))
        for png in _evidence_plots(v):
            parts.append(f'<img alt="plot of {_E(v["id"])}" {png}>')
        parts.append("</section>")
    env = "".join(f"<tr><th>{_E(str(k))}</th><td>{_E(str(val))}</td></tr>"
                  for k, val in data["environment"].items())
    parts.append(f'<h2>Environment</h2><table class="fields">{env}</table></body></html>')
    return "\n".join(parts) + "\n"


# --------------------------------------------------------------------------------------------
# plots
# --------------------------------------------------------------------------------------------

_COLORS = {"proved": "#1a7f37", "certified": "#4ac26b", "evidence": "#0969da",
           "refuted": "#cf222e", "inconclusive": "#d4a72c", "error": "#6e7781"}
DPI = 150


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _png(fig: Any) -> str:
    """An ``<img>`` of ``fig`` at DPI, shown at its size in inches (crisp on dense screens)."""
    buf = io.BytesIO()
    width = int(fig.get_size_inches()[0] * 96)
    fig.savefig(buf, format="png", dpi=DPI, bbox_inches="tight")
    _pyplot().close(fig)
    return (f'src="data:image/png;base64,{base64.b64encode(buf.getvalue()).decode()}" '
            f'style="width:{width}px"')


def _summary_plot(data: dict[str, Any]) -> str | None:
    """Verdicts by status, one bar per paper (or kind); the legend above the bars."""
    if not data["summary"]:
        return None
    plt = _pyplot()
    from matplotlib.ticker import MaxNLocator

    groups = sorted(data["summary"], reverse=True)
    present = [s for s in _ORDER if any(data["summary"][g].get(s) for g in groups)]
    totals = [sum(data["summary"][g].values()) for g in groups]
    fig, ax = plt.subplots(figsize=(8, 1.2 + 0.42 * len(groups)))
    left = [0] * len(groups)
    for status in present:
        counts = [data["summary"][g].get(status, 0) for g in groups]
        bars = ax.barh(groups, counts, left=left, color=_COLORS[status], label=status,
                       edgecolor="white", height=0.62)
        for bar, n in zip(bars, counts):
            if n:
                ax.text(bar.get_x() + bar.get_width() / 2, bar.get_y() + bar.get_height() / 2,
                        str(n), ha="center", va="center", fontsize=8,
                        color="white" if status in ("proved", "refuted", "evidence", "error")
                        else "black")
        left = [a + b for a, b in zip(left, counts)]
    ax.set_xlim(0, max(totals) * 1.04)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("verdicts")
    ax.spines[["top", "right"]].set_visible(False)
    ax.legend(loc="lower left", bbox_to_anchor=(0, 1.02), ncol=len(present), frameon=False,
              fontsize=8, handlelength=1.2)
    return _png(fig)


def _draw_regions(ax: Any, regions: dict[str, list], marker: Any) -> None:
    """Shaded sets over x: each [x, low, high] a vertical segment, one colour a region."""
    for index, (name, segments) in enumerate(regions.items()):
        if not segments:
            continue
        xs = sorted({float(seg[0]) for seg in segments})
        width = (xs[-1] - xs[0]) / max(len(xs) - 1, 1) if len(xs) > 1 else 1.0
        colour = f"C{index % 10}"
        for x, low, high in segments:
            ax.fill_between([float(x) - width / 2, float(x) + width / 2], float(low),
                            float(high), color=colour, alpha=0.3, linewidth=0)
        ax.fill_between([], [], [], color=colour, alpha=0.3, label=name)
    if marker is not None and regions:
        ax.axvline(float(marker), color="0.3", linestyle="--", linewidth=0.8)


def _evidence_plots(v: dict[str, Any]) -> list[str]:
    plots = (v.get("evidence") or {}).get("plots") or []
    if not plots:
        return []
    plt = _pyplot()
    out = []
    for spec in plots:
        try:
            if spec.get("type") == "contour":
                out.append(_contour_plot(plt, spec))
                continue
            fig, ax = plt.subplots(figsize=(6.4, 3.6))
            lines = spec.get("lines", {})
            _draw_regions(ax, spec.get("regions") or {}, spec.get("marker"))
            for name, ys in lines.items():
                xs = spec.get("x") or list(range(len(ys)))
                ax.plot(xs[:len(ys)], [float(y) for y in ys], label=name, marker="." if
                        len(ys) <= 30 else None,
                        linestyle="--" if name in spec.get("dashed", ()) else "-")
            ax.set_title(spec.get("title", ""))
            ax.set_xlabel(spec.get("xlabel", ""))
            ax.set_ylabel(spec.get("ylabel", ""))
            if spec.get("logx"):
                ax.set_xscale("log")
            if spec.get("logy"):
                ax.set_yscale("log")
            ax.margins(x=0.02, y=0.08)
            if spec.get("ylim"):
                ax.set_ylim(*map(float, spec["ylim"]))
            ax.grid(alpha=0.3)
            if len(lines) + len(spec.get("regions") or {}) > 1:
                ax.legend(fontsize=8, loc="best")
            out.append(_png(fig))
        except (TypeError, ValueError):
            plt.close("all")
            continue
    return out


def _contour_plot(plt: Any, spec: dict[str, Any]) -> str:
    """A filled contour plot of ``z[i][j]`` at (``x[j]``, ``y[i]``), the origin marked; levels
    spaced in log(z - min z) so that the basin and the walls both show."""
    import numpy as np

    x, y = np.asarray(spec["x"], float), np.asarray(spec["y"], float)
    z = np.asarray(spec["z"], float)
    fig, ax = plt.subplots(figsize=(5.2, 4.4))
    shift = z - z.min()
    positive = shift[shift > 0]
    floor = positive.min() if positive.size else 1.0
    zz = np.log10(shift + floor)
    filled = ax.contourf(x, y, zz, levels=20, cmap="viridis")
    ax.contour(x, y, zz, levels=20, colors="white", linewidths=0.3, alpha=0.5)
    bar = fig.colorbar(filled, ax=ax)
    bar.set_label("log10(loss - min + floor)")
    ax.plot([0], [0], marker="+", color="red", markersize=10)
    ax.set_title(spec.get("title", ""))
    ax.set_xlabel(spec.get("xlabel", ""))
    ax.set_ylabel(spec.get("ylabel", ""))
    ax.set_aspect("equal")
    return _png(fig)



# --------------------------------------------------------------------------------------------
# verdicts outside a stored run: notebooks and the Python API
# --------------------------------------------------------------------------------------------

#: the report's look inside a notebook, scoped to the fragment (nothing leaks into the page)
_FRAGMENT_CSS = """
.sharpflat{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;line-height:1.45;
color:#1f2328;max-width:1000px}
.sharpflat table{border-collapse:collapse;margin:.4em 0 .8em}
.sharpflat td,.sharpflat th{border:1px solid #d0d7de;padding:3px 7px;text-align:left;
vertical-align:top;font-size:13px}.sharpflat thead th,.sharpflat table.fields th{
background:#f6f8fa}.sharpflat .status{font-weight:600}
.sharpflat .proved,.sharpflat .certified{color:#1a7f37}.sharpflat .evidence{color:#0969da}
.sharpflat .refuted{color:#cf222e}.sharpflat .inconclusive{color:#9a6700}
.sharpflat .error{color:#6e7781}.sharpflat pre{background:#f6f8fa;padding:6px;
font-size:12px;max-height:240px;overflow:auto}.sharpflat img{max-width:100%;height:auto}
.sharpflat h4,.sharpflat h5{margin:.8em 0 .3em}
"""


def verdict_html(v: Verdict | dict[str, Any], *, plots: bool = True) -> str:
    """One verdict as a self-contained HTML fragment (its report section, with its plots and
    tables): what a notebook shows for a :class:`~verify.verdict.Verdict`."""
    d = v.to_dict() if isinstance(v, Verdict) else v
    parts = [f'<div class="sharpflat"><style>{_FRAGMENT_CSS}</style>',
             f'<h3>{_E(d["id"])}: <span class="status {_E(d["status"])}">{_E(d["status"])}'
             f"</span></h3>", html_blocks(verdict_blocks(d, "verdicts.json"), 4)]
    if plots:
        parts += [f'<img alt="plot of {_E(d["id"])}" {png}>' for png in _evidence_plots(d)]
    parts.append("</div>")
    return "\n".join(parts)


def verdicts_html(verdicts: Sequence[Verdict]) -> str:
    """Several verdicts: a summary table, then each verdict's section."""
    rows = "".join(
        f'<tr><td>{_E(v.id)}</td><td><span class="status {_E(v.status.value)}">'
        f"{_E(v.status.value)}</span></td><td>{_E(v.method)}</td>"
        f"<td>{_E(_shorten(v.message or '', 240))}</td></tr>" for v in verdicts)
    head = (f'<div class="sharpflat"><style>{_FRAGMENT_CSS}</style><table><thead><tr>'
            "<th>item</th><th>status</th><th>method</th><th>message</th></tr></thead>"
            f"<tbody>{rows}</tbody></table>")
    body = "".join(f"<details><summary>{_E(v.id)}: {_E(v.status.value)}</summary>"
                   f"{verdict_html(v)}</details>" for v in verdicts)
    return head + body + "</div>"


def standalone(verdicts: Sequence[Verdict], *, command: str = "python",
               target: str = "<session>", seed: int | None = None) -> dict[str, Any]:
    """The report data of verdicts that are not in a store (``render`` makes the document)."""
    import time

    counts: dict[str, int] = {}
    summary: dict[str, dict[str, int]] = {}
    for v in verdicts:
        counts[v.status.value] = counts.get(v.status.value, 0) + 1
        row = summary.setdefault(v.kind, {})
        row[v.status.value] = row.get(v.status.value, 0) + 1
    now = time.time()
    run = {"id": "-", "command": command, "target": target, "status": "complete",
           "counts": counts, "started": now, "finished": now, "profile": None, "seed": seed}
    return {"run": run, "store": None, "previous_run": None, "standalone": True,
            "verdicts": [v.to_dict() for v in verdicts], "summary_by": "kind",
            "summary": summary, "changes": [], "environment": _environment(list(verdicts))}
