"""The exact fact kinds (``identically-zero``, ``inequalities``, ``forall``, ``same-span``,
``limit-equals``), each declared once, with their deciders and Python constructors.

Deciders search; the kernel (:mod:`verify.kernel.facts`, :mod:`verify.kernel.univariate`)
re-derives each obligation from the claim and checks what the decider found.
"""

from __future__ import annotations

from typing import Any

from verify.errors import InvalidClaim
from verify.registry import Field, claim_kind, constructor, lazy_import
from verify.verdict import Claim, Decision, Verdict

PAPER = "exact facts (the instances of the papers' checks)"
sp = lazy_import("sympy")
K = lazy_import("verify.kernel.facts")
U = lazy_import("verify.kernel.univariate")
smt = lazy_import("verify.kernel.smt")
exact = lazy_import("theorems.exact")

VARIABLES = Field("variables", "variables", "the variables (none: a fact about constants)",
                  default=())
ASSUME = Field("assume", "assumptions", "signs assumed for variables: positive, nonnegative, "
               "negative, integer (default real)")
LIMIT_POINTS = ("0+", "0-", "oo", "-oo")
#: the kind's name, written once
FORALL = "forall"


def _validate_limit(params: dict[str, Any]) -> None:
    names = [v.name for v in params.get("variables") or ()]
    if params["variable"] not in names:
        raise InvalidClaim(f"variable {params['variable']!r} is not among the variables {names}")


def _symbols(claim: Claim) -> tuple:
    return K.assumed_symbols(claim.describe())


def _assumed(expr: Any, variables: tuple) -> Any:
    by_name = {v.name: v for v in variables}
    return expr.xreplace({s: by_name[s.name] for s in expr.free_symbols if s.name in by_name})


def _witness_points(variables: tuple, tries: int = 40) -> list[list[Any]]:
    """Rational points that respect the variables' assumed signs (deterministic)."""
    out = []
    for k in range(1, tries):
        point = [sp.Rational((-1) ** (i + k) * (k + i), 2 + (k * (i + 3)) % 7)
                 for i in range(len(variables))]
        point = [abs(c) if (v.is_positive or v.is_nonnegative) else
                 -abs(c) if v.is_negative else c for c, v in zip(point, variables)]
        point = [sp.floor(c) + (1 if v.is_positive else 0) if v.is_integer else c
                 for c, v in zip(point, variables)]
        out.append(point)
    return out


@claim_kind("identically-zero", paper=PAPER,
            statement="expr = 0 for every real value of the variables (under their assumed "
                      "signs)", fields=(VARIABLES, ASSUME, Field("expr", "formula",
                                                                  "the expression",
                                                                  required=True)))
def decide_identity(claim: Claim, *, seed: int = 0, budget: int | None = None) -> Verdict:
    d = Decision(claim)
    variables = _symbols(claim)
    expr = _assumed(claim.params["expr"], variables)
    if K.identically_zero(expr):
        return d.proved("exact expansion / SymPy simplification, confirmed in balls",
                        f"{expr} = 0 identically", certificate={"kind": "exact-zero"})
    for point in _witness_points(variables):
        try:
            ball = exact.arb_eval(expr, dict(zip(variables, point)))
        except (ValueError, ZeroDivisionError):
            continue
        if not ball.contains(0):
            where = [str(c) for c in point]
            return d.refuted("ball arithmetic at a rational point",
                             f"{expr} does not vanish at {where}",
                             certificate={"kind": "nonzero-point", "point": where})
    return d.inconclusive("SymPy", f"{expr} was not shown zero and no point where it does not "
                          "vanish was found")


@claim_kind("inequalities", paper=PAPER,
            statement="every condition (a relation between constants) holds",
            fields=(Field("conditions", "conditions", "relations between constants",
                          required=True),))
def decide_inequalities(claim: Claim, *, seed: int = 0, budget: int | None = None
                        ) -> Verdict:
    d = Decision(claim)
    conditions = claim.params["conditions"]
    for i, cond in enumerate(conditions):
        try:
            truth = K.truth_of_constants(cond)
        except (ValueError, ZeroDivisionError) as exc:
            return d.inconclusive("balls and minimal polynomials",
                                  f"{cond}: not decided ({exc})")
        if truth is False:
            return d.refuted("balls and minimal polynomials", f"{cond} is false",
                             certificate={"kind": "exact-sign", "index": i})
    return d.proved("balls and minimal polynomials",
                    f"{len(conditions)} condition(s) hold", certificate={"kind": "exact-sign"})


@claim_kind(FORALL, paper=PAPER,
            statement="every real point satisfying the hypotheses satisfies the conclusion",
            fields=(VARIABLES, ASSUME,
                    Field("hypotheses", "conditions", "conditions on the variables",
                          default=()),
                    Field("conclusion", "condition", "what holds at every such point",
                          required=True)))
def decide_forall(claim: Claim, *, seed: int = 0, budget: int | None = None,
                  data: dict | None = None) -> Verdict:
    """``data``: the claim's JSON form, when the claim was built by the kernel (a statement
    another decider needs proved) rather than parsed."""
    data = data if data is not None else claim.describe()
    d = Decision(data)
    formula, plain = U.forall_formula(data)
    if len(plain) <= 1:
        try:
            if not plain:
                holds = K.truth_of_constants(formula)
                status = "proved" if holds else "refuted"
                return d.decided(_status(status), "exact evaluation",
                                 "holds" if holds else "fails",
                                 certificate={"kind": "real-roots"})
            result = U.decide(formula, plain[0])
        except U.Unsupported as exc:
            note = f" (the exact route does not apply: {exc})"
        else:
            if result.holds:
                return d.proved("exact real roots (cylindrical decomposition of the line)",
                                f"holds at every real {plain[0]} ({result.samples} sample "
                                "points)", certificate={"kind": "real-roots"})
            return d.refuted("exact real roots (cylindrical decomposition of the line)",
                             f"fails at {plain[0]} = {result.witness.text()}",
                             certificate={"kind": "real-roots"},
                             counterexample={str(plain[0]): result.witness.text()})
    else:
        note = ""
        proof = _psatz(data) if len(plain) > 1 else None
        if proof is not None:
            return d.proved("Positivstellensatz certificates, checked exactly",
                            f"holds: {len(proof['cases'])} exact sum-of-squares "
                            "certificate(s)", certificate=proof)
    text = K.forall_query(data)
    answer = exact.solve(text, rlimit=budget or exact.QUERY_RLIMIT)
    if answer.result == "sat":
        values = answer.values()
        point = [str(values.get(v.name, 0)) for v in plain]
        cert = {"kind": "counterexample-point", "point": point}
        from verify.kernel import check

        if check(data, "refuted", cert)[0]:
            return d.refuted("z3 model, re-checked exactly", f"fails at {point}",
                             certificate=cert)
        return d.inconclusive("z3", f"z3 found a model that did not re-check exactly{note}")
    if answer.result == "unsat":
        ok, reason = smt.confirm_unsat([text])
        if ok:
            return d.proved("z3 and cvc5 agree (unsat)", "holds (solver agreement)" + note,
                            certificate={"kind": "smt-agreement"})
        return d.inconclusive("z3 and cvc5", reason + note)
    return d.inconclusive("z3", f"z3: {answer.result} {answer.reason}{note}")


def _psatz(data: dict) -> dict | None:
    """A ``psatz`` certificate of a forall claim in several variables, or None (outside the
    polynomial class, or no certificate within the search budget)."""
    from verify.errors import UnsupportedFunction
    from verify.kernel.sos import forall_cases

    try:
        cases = forall_cases(data)
    except (UnsupportedFunction, ValueError):
        return None
    psatz = lazy_import("theorems.psatz")
    certs = []
    try:
        for case in cases:
            cert, _ = psatz.certify(case, psatz.PsatzBudget(levels=2, max_basis=60,
                                                            max_unknowns=15_000))
            if cert is None:
                return None
            certs.append(cert)
    except ImportError:
        return None
    return {"kind": "psatz", "cases": certs}


def _status(name: str) -> Any:
    from verify.verdict import Status

    return Status(name)


@claim_kind("same-span", paper=PAPER,
            statement="two lists of polynomials span the same space over Q",
            fields=(Field("variables", "variables", "the variables", required=True),
                    Field("found", "formulas", "the first list", required=True),
                    Field("expected", "formulas", "the second list", required=True)))
def decide_same_span(claim: Claim, *, seed: int = 0, budget: int | None = None) -> Verdict:
    p = claim.params
    same = K.same_span(list(p["found"]), list(p["expected"]), tuple(p["variables"]))
    return Decision(claim).decided(_status("proved" if same else "refuted"), "exact ranks over Q",
                                   "the spans are equal" if same else "the spans differ",
                                   certificate={"kind": "exact-rank"})


@claim_kind("limit-equals", paper=PAPER,
            statement="the limit of expr as the variable tends to `to` equals value",
            fields=(VARIABLES, ASSUME, Field("expr", "formula", "the expression", required=True),
                    Field("variable", "string", "the variable that moves", required=True),
                    Field("to", "choice", "where it goes", required=True,
                          choices=LIMIT_POINTS),
                    Field("value", "limit-value", "the limit (a number, oo or -oo)",
                          required=True)),
            validate=_validate_limit)
def decide_limit(claim: Claim, *, seed: int = 0, budget: int | None = None) -> Verdict:
    d = Decision(claim)
    data = claim.describe()
    from verify.kernel import check

    for status in ("proved", "refuted"):
        if check(data, status, {"kind": "sympy-limit"})[0]:
            return d.decided(_status(status), "SymPy's limit, recomputed exactly",
                             f"the limit {'is' if status == 'proved' else 'is not'} "
                             f"{data['value']}", certificate={"kind": "sympy-limit"})
    return d.inconclusive("SymPy", "SymPy gives no definite limit that decides the claim")


identity = constructor("identically-zero", positional=("expr",),
                       doc="Claim: expr = 0 identically (variables=..., assume={...}).")
inequalities = constructor("inequalities", positional=("conditions",),
                           doc="Claim: every condition between constants holds.")
forall = constructor(FORALL, positional=("conclusion",),
                     doc="Claim: the conclusion holds at every real point satisfying the "
                         "hypotheses (variables=..., hypotheses=[...]).")
same_span = constructor("same-span", positional=("found", "expected"),
                        doc="Claim: two lists of polynomials span the same space over Q.")
limit = constructor("limit-equals", positional=("expr", "variable", "to", "value"),
                    doc="Claim: the limit of expr as variable -> to equals value.")
