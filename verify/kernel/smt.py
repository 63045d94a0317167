"""SMT-LIB2 for the kernel: SymPy -> text, case splits on kinks, and two independent solvers.

:class:`SmtEncoder` writes expressions built from polynomials, rational powers, ``Abs``,
``Max``, ``Min`` and ``sign`` as SMT-LIB2 (QF_NRA) text: a rational power ``b**(p/q)`` becomes
an auxiliary ``s >= 0`` with ``s**q = b`` and the domain condition ``b >= 0`` (SymPy's real
branch); ``1/b`` adds ``b != 0``; kinks become ``ite`` terms. Anything else raises
:class:`~verify.errors.UnsupportedFunction`.

:func:`pieces` splits an expression on its kinks into kink-free pieces with their conditions,
which nlsat and cylindrical algebraic coverings decide much faster than ``ite`` terms.

:func:`solve` runs one text on z3 or on cvc5 (cylindrical algebraic coverings, ``nl-cov``,
which is complete for nonlinear real arithmetic) with a deterministic resource limit; answers
are remembered per process (by solver and text), so that a decider's query and the kernel's
re-check of the same text cost one solve. :func:`confirm_unsat` is the kernel's rule: a text
counts as unsatisfiable only when both solvers answer ``unsat``; a disagreement is reported.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Sequence

import sympy as sp

from verify.errors import UnsupportedFunction

#: resource units one query may use on each solver (deterministic, not seconds)
Z3_RLIMIT = 2_000_000
CVC5_RLIMIT = 2_000_000
#: wall-clock safety net of one cvc5 query (seconds): when it fires the text is not confirmed
CVC5_SAFETY_SECONDS = 120.0
MAX_PIECES = 512
_KINKS = (sp.Abs, sp.Max, sp.Min, sp.sign)


# --------------------------------------------------------------------------------------------
# SymPy -> SMT-LIB2
# --------------------------------------------------------------------------------------------

def _numeral(q: sp.Rational) -> str:
    q = sp.Rational(q)
    body = str(abs(q.p)) if q.q == 1 else f"(/ {abs(q.p)} {q.q})"
    return body if q >= 0 else f"(- {body})"


class SmtEncoder:
    """SymPy -> SMT-LIB2 terms over the reals, collecting auxiliary definitions and domain
    conditions; :meth:`script` writes a complete QF_NRA problem."""

    def __init__(self, variables: Sequence[sp.Symbol]):
        self.names: dict[sp.Symbol, str] = {}
        for v in variables:
            name = v.name
            if not name.replace("_", "a").isalnum() or name[0].isdigit():
                raise UnsupportedFunction(f"variable name {name!r} cannot be written as SMT")
            self.names[v] = name
        self.aux: list[str] = []
        self.side: list[str] = []
        self.domain: list[str] = []
        # a symbol's assumptions are part of the problem (SymPy already simplifies with them:
        # for a positive symbol a, "a > 0" is just true)
        for v, name in self.names.items():
            if v.is_positive:
                self.domain.append(f"(> {name} 0)")
            elif v.is_nonnegative:
                self.domain.append(f"(>= {name} 0)")
            elif v.is_negative:
                self.domain.append(f"(< {name} 0)")
            elif v.is_nonpositive:
                self.domain.append(f"(<= {name} 0)")
        self._cache: dict[sp.Basic, str] = {}

    def fresh(self, stem: str) -> str:
        name = f"_{stem}{len(self.aux) + 1}"
        self.aux.append(name)
        return name

    def term(self, e: sp.Basic) -> str:
        if e not in self._cache:
            self._cache[e] = self._term(e)
        return self._cache[e]

    def _term(self, e: sp.Basic) -> str:
        if e.is_Symbol:
            if e not in self.names:
                raise UnsupportedFunction(f"unknown symbol {e}")
            return self.names[e]
        if e.is_Rational:
            return _numeral(e)
        if e.is_Float:
            return _numeral(sp.Rational(e))
        if e.is_number and not e.free_symbols and not (e.is_Add or e.is_Mul):
            return self._algebraic(e)
        # a sum or product of constants is encoded term by term, so that each irrational
        # constant is one auxiliary root however often it occurs (-2**(1/6) and 2**(1/6) as two
        # unrelated roots of degree 6 made cvc5's coverings run past every resource limit)
        if e.is_Add:
            return "(+ " + " ".join(self.term(a) for a in e.args) + ")"
        if e.is_Mul:
            return "(* " + " ".join(self.term(a) for a in e.args) + ")"
        if e.is_Pow:
            return self._pow(e.base, e.exp)
        if isinstance(e, sp.Abs):
            a = self.term(e.args[0])
            return self._define(f"(ite (>= {a} 0) {a} (- {a}))")
        if isinstance(e, (sp.Max, sp.Min)):
            args = [self.term(a) for a in e.args]
            out = args[0]
            op = ">=" if isinstance(e, sp.Max) else "<="
            for a in args[1:]:
                out = self._define(f"(ite ({op} {a} {out}) {a} {out})")
            return out
        if isinstance(e, sp.sign):
            a = self.term(e.args[0])
            return self._define(f"(ite (> {a} 0) 1 (ite (< {a} 0) (- 1) 0))")
        raise UnsupportedFunction(f"SMT cannot encode {type(e).__name__} (in {e})")

    def _algebraic(self, value: sp.Expr) -> str:
        """An irrational algebraic constant: an auxiliary root of its minimal polynomial in an
        isolating interval with rational ends (both computed exactly by SymPy)."""
        if value.is_algebraic is not True:
            raise UnsupportedFunction(f"SMT cannot encode the constant {value} (not algebraic)")
        from verify.kernel.balls import arb_eval

        X = sp.Symbol("X")
        poly = sp.Poly(sp.minimal_polynomial(value, X), X)
        ball = arb_eval(value)
        for lo, hi in (iv for iv, _ in poly.intervals()):
            if sp.Rational(lo) <= float(ball.mid()) <= sp.Rational(hi) and \
                    arb_eval(value - sp.Rational(lo)) >= 0 and arb_eval(sp.Rational(hi) - value) >= 0:
                break
        else:
            raise UnsupportedFunction(f"could not isolate the root {value}")
        name = self.fresh("alg")
        self.side += [f"(= {_poly_text(poly, name)} 0)", f"(<= {_numeral(lo)} {name})",
                      f"(<= {name} {_numeral(hi)})"]
        return name

    def _define(self, body: str) -> str:
        name = self.fresh("t")
        self.side.append(f"(= {name} {body})")
        return name

    def _pow(self, base: sp.Basic, exp: sp.Basic) -> str:
        if not exp.is_Rational:
            raise UnsupportedFunction(f"SMT cannot encode the power {base}**{exp}")
        b = self.term(base)
        p, q = int(exp.p), int(exp.q)
        if q == 1:
            if p == 0:
                return "1"
            power = _product(b, abs(p))
            if p > 0:
                return power
            self.domain.append(f"(not (= {b} 0))")
            return f"(/ 1 {power})"
        s = self.fresh("root")
        self.domain.append(f"(>= {b} 0)")
        self.side += [f"(>= {s} 0)", f"(= {_product(s, q)} {b})"]
        power = _product(s, abs(p))
        if p > 0:
            return power
        self.domain.append(f"(not (= {b} 0))")
        return f"(/ 1 {power})"

    def boolean(self, cond: Any) -> str:
        """A SymPy boolean (relations with And/Or/Not) as an SMT-LIB2 formula."""
        if cond is sp.true or cond is True:
            return "true"
        if cond is sp.false or cond is False:
            return "false"
        if isinstance(cond, sp.And):
            return "(and " + " ".join(self.boolean(a) for a in cond.args) + ")"
        if isinstance(cond, sp.Or):
            return "(or " + " ".join(self.boolean(a) for a in cond.args) + ")"
        if isinstance(cond, sp.Not):
            return f"(not {self.boolean(cond.args[0])})"
        if isinstance(cond, sp.Implies):
            return f"(=> {self.boolean(cond.args[0])} {self.boolean(cond.args[1])})"
        if isinstance(cond, sp.Equivalent):
            parts = [self.boolean(a) for a in cond.args]
            return "(and " + " ".join(f"(= {a} {b})" for a, b in zip(parts, parts[1:])) + ")"
        ops = {sp.StrictLessThan: "<", sp.LessThan: "<=", sp.StrictGreaterThan: ">",
               sp.GreaterThan: ">=", sp.Eq: "="}
        if isinstance(cond, sp.Ne):
            return f"(not (= {self.term(cond.lhs)} {self.term(cond.rhs)}))"
        op = ops.get(type(cond))
        if op is None:
            raise UnsupportedFunction(f"SMT cannot encode the condition {cond}")
        return f"({op} {self.term(cond.lhs)} {self.term(cond.rhs)})"

    def script(self, assertions: Sequence[str]) -> str:
        """A complete QF_NRA problem: declarations, definitions, domain, ``assertions``."""
        lines = ["(set-logic QF_NRA)"]
        lines += [f"(declare-fun {n} () Real)" for n in [*self.names.values(), *self.aux]]
        lines += [f"(assert {a})" for a in [*self.side, *self.domain, *assertions]]
        lines.append("(check-sat)")
        return "\n".join(lines) + "\n"


def _poly_text(poly: sp.Poly, name: str) -> str:
    """A univariate polynomial with rational coefficients in the variable ``name``."""
    terms = []
    for (k,), c in poly.terms():
        terms.append(_numeral(c) if k == 0 else f"(* {_numeral(c)} {_product(name, k)})")
    return terms[0] if len(terms) == 1 else "(+ " + " ".join(terms) + ")"


def _product(term: str, n: int) -> str:
    return term if n == 1 else "(* " + " ".join([term] * n) + ")"


def pieces(expr: sp.Expr) -> list[tuple[sp.Expr, Any]]:
    """Case analysis on the kinks of ``expr``: pieces free of Abs/Max/Min/sign, each with the
    condition under which ``expr`` equals it. The conditions cover every x (they may overlap,
    which is harmless for the existential queries they serve).

    Raises UnsupportedFunction when there would be more than ``MAX_PIECES`` pieces.
    """
    node = next((a for a in sp.postorder_traversal(expr) if isinstance(a, _KINKS)), None)
    if node is None:
        return [(expr, sp.true)]
    args = node.args
    if isinstance(node, sp.Abs):
        branches = [(args[0], args[0] >= 0), (-args[0], args[0] < 0)]
    elif isinstance(node, sp.sign):
        branches = [(sp.Integer(1), args[0] > 0), (sp.Integer(-1), args[0] < 0),
                    (sp.Integer(0), sp.Eq(args[0], 0))]
    else:
        better = (lambda a, b: a >= b) if isinstance(node, sp.Max) else (lambda a, b: a <= b)
        branches = [(a, sp.And(*[better(a, b) for b in args if b is not a]))
                    for a in args]
    out: list[tuple[sp.Expr, Any]] = []
    for value, cond in branches:
        for piece, sub in pieces(expr.xreplace({node: value})):
            out.append((piece, sp.And(cond, sub)))
            if len(out) > MAX_PIECES:
                raise UnsupportedFunction(f"case split of {expr} gives over {MAX_PIECES} pieces")
    return out


# --------------------------------------------------------------------------------------------
# solving
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Answer:
    """One solver's answer on one text: ``result`` is "sat", "unsat" or "unknown"."""

    solver: str
    result: str
    used: int                       # resource units used (z3); 0 when not reported
    limit: int
    reason: str = ""
    model: tuple[tuple[str, str], ...] = ()   # name -> rational (as text), for "sat"

    def values(self) -> dict[str, sp.Rational]:
        return {name: sp.Rational(value) for name, value in self.model}


_MEMO: dict[tuple[str, str], Answer] = {}


def digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def solve(text: str, solver: str = "z3", *, rlimit: int | None = None) -> Answer:
    """Check the SMT-LIB2 ``text`` with ``solver`` ("z3" or "cvc5") within ``rlimit`` resource
    units (default :data:`Z3_RLIMIT` / :data:`CVC5_RLIMIT`)."""
    limit = int(rlimit if rlimit is not None else (Z3_RLIMIT if solver == "z3" else CVC5_RLIMIT))
    key = (solver, digest(text))
    known = _MEMO.get(key)
    if known is not None and ((known.result != "unknown" and known.used <= limit)
                              or (known.result == "unknown" and known.limit >= limit)):
        return known
    if limit <= 0:
        return Answer(solver, "unknown", 0, limit, "resource budget exhausted")
    answer = _z3(text, limit) if solver == "z3" else _cvc5(text, limit)
    _MEMO[key] = answer
    return answer


def _z3(text: str, limit: int) -> Answer:
    import z3

    ctx = z3.Context()
    s = z3.Solver(ctx=ctx)
    s.set("rlimit", limit)
    s.from_string(text)
    result = s.check()
    stats = s.statistics()
    used = int(stats.get_key_value("rlimit count")) if "rlimit count" in stats.keys() else 0
    if result == z3.sat:
        model = s.model()
        values = []
        for d in model.decls():
            value = model[d]
            if isinstance(value, z3.AlgebraicNumRef):
                value = value.approx(40)
            try:
                frac = value.as_fraction()
            except AttributeError:
                continue
            values.append((d.name(), f"{frac.numerator}/{frac.denominator}"))
        return Answer("z3", "sat", used, limit, model=tuple(sorted(values)))
    if result == z3.unsat:
        return Answer("z3", "unsat", used, limit)
    return Answer("z3", "unknown", used, limit, s.reason_unknown())


class _Cvc5Process:
    """The kernel's cvc5 worker process (:mod:`verify.kernel.cvc5_worker`), started on first
    use, killed and restarted when a text runs past the safety net."""

    def __init__(self) -> None:
        self.proc = None
        self.pid = None

    def _start(self) -> None:
        import os
        import subprocess
        import sys

        self.proc = subprocess.Popen([sys.executable, "-m", "verify.kernel.cvc5_worker"],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL, text=True, bufsize=1)
        self.pid = os.getpid()

    def ask(self, text: str, limit: int, seconds: float) -> str:
        import json
        import os
        import select

        if self.proc is None or self.proc.poll() is not None or self.pid != os.getpid():
            self._start()
        try:
            self.proc.stdin.write(json.dumps({"text": text, "rlimit": limit}) + "\n")
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError):
            self.proc = None
            return "unknown (the cvc5 process ended)"
        ready, _, _ = select.select([self.proc.stdout], [], [], seconds)
        if not ready:
            self.proc.kill()
            self.proc.wait()
            self.proc = None
            return f"unknown (timeout: no answer in {seconds:g} s, the safety net)"
        line = self.proc.stdout.readline()
        if not line:
            self.proc = None
            return "unknown (the cvc5 process ended)"
        return json.loads(line)["result"]


_CVC5 = _Cvc5Process()


def _cvc5(text: str, limit: int) -> Answer:
    result = _CVC5.ask(text, limit, CVC5_SAFETY_SECONDS)
    if result in ("sat", "unsat"):
        return Answer("cvc5", result, 0, limit)
    return Answer("cvc5", "unknown", 0, limit, result)


def confirm_unsat(texts: Sequence[str], *, z3_rlimit: int | None = None,
                  cvc5_rlimit: int | None = None) -> tuple[bool, str]:
    """The kernel's rule for an unsatisfiability fact: every text is ``unsat`` for z3 *and* for
    cvc5 (two independent decision procedures). Returns (True, "") or (False, the reason,
    naming the first text either solver did not refute and what each said).

    A kernel check that calls it trusts the ``solvers`` tier (:func:`verify.kernel.uses`);
    inside :func:`verify.kernel.exact_only` it fails before any solver is imported."""
    from verify.kernel import uses

    uses("solvers", "agreement of z3 and cvc5")
    for i, text in enumerate(texts):
        a = solve(text, "z3", rlimit=z3_rlimit)
        if a.result != "unsat":
            return False, f"query {i + 1}/{len(texts)}: z3 says {a.result} {a.reason}".strip()
        b = solve(text, "cvc5", rlimit=cvc5_rlimit)
        if b.result != "unsat":
            return False, (f"query {i + 1}/{len(texts)}: z3 says unsat but cvc5 says "
                           f"{b.result} {b.reason}".strip() + " (the solvers disagree or cvc5 "
                           "ran out of resources)")
    return True, ""


def rational_text(q: Fraction | sp.Rational | int) -> str:
    q = sp.Rational(q)
    return str(q.p) if q.q == 1 else f"{q.p}/{q.q}"
