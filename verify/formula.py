"""Whitelisted formula parser: user text in SymPy syntax -> SymPy objects, never ``eval``.

The text is parsed by :func:`ast.parse` and the tree is walked node by node; each allowed node
builds the SymPy object directly. Anything else (attribute access, subscripts, lambdas,
comprehensions, keyword arguments, dunder names, calls of anything but the whitelisted
functions) raises :class:`~verify.errors.UnparsableFormula` naming what was rejected. Nothing of
the user's text is executed.

Decimal literals are read exactly (``0.1`` is ``1/10``), so exact deciders see what was typed.
Sizes are bounded (text length, nesting depth, integer digits, constant powers) so that hostile
input cannot exhaust memory.
"""

from __future__ import annotations

import ast
import decimal
import keyword
from fractions import Fraction
from typing import Iterable, Sequence

import sympy as sp

from verify.errors import UnparsableFormula

MAX_LENGTH = 20_000
MAX_DEPTH = 60
MAX_INT_DIGITS = 200
MAX_CONST_EXPONENT = 1_000
MAX_SET_ELEMENTS = 1_000

#: name -> (SymPy callable, allowed argument counts (None = 1 or more))
FUNCTIONS: dict[str, tuple[object, tuple[int, ...] | None]] = {
    "Abs": (sp.Abs, (1,)), "abs": (sp.Abs, (1,)),
    "Max": (sp.Max, None), "Min": (sp.Min, None),
    "sqrt": (sp.sqrt, (1,)), "cbrt": (sp.cbrt, (1,)),
    "exp": (sp.exp, (1,)), "log": (sp.log, (1,)),
    "sin": (sp.sin, (1,)), "cos": (sp.cos, (1,)), "tan": (sp.tan, (1,)),
    "tanh": (sp.tanh, (1,)), "sinh": (sp.sinh, (1,)), "cosh": (sp.cosh, (1,)),
    "atan": (sp.atan, (1,)), "sign": (sp.sign, (1,)),
    "Rational": (sp.Rational, (1, 2)),
}
CONSTANTS: dict[str, sp.Basic] = {"pi": sp.pi, "E": sp.E}

#: Extra names and functions allowed in set expressions (filter-set ``equals``).
SET_FUNCTIONS: dict[str, tuple[object, tuple[int, ...] | None]] = {
    "Interval": (sp.Interval, (2, 3, 4)), "Union": (sp.Union, None),
    "Intersection": (sp.Intersection, None), "FiniteSet": (sp.FiniteSet, None),
    "Complement": (sp.Complement, (2,)),
}
SET_CONSTANTS: dict[str, sp.Basic] = {"EmptySet": sp.S.EmptySet, "Reals": sp.S.Reals,
                                      "oo": sp.oo, "True": sp.true, "False": sp.false}

#: Interval constructors SymPy prints for open and half-open intervals (``Interval.Ropen(a, b)``)
INTERVAL_METHODS = {"open": sp.Interval.open, "Ropen": sp.Interval.Ropen,
                    "Lopen": sp.Interval.Lopen}
#: Extra functions and names allowed in conditions (relations combined by and/or/not)
CONDITION_FUNCTIONS: dict[str, tuple[object, tuple[int, ...] | None]] = {
    "And": (sp.And, None), "Or": (sp.Or, None), "Not": (sp.Not, (1,)),
    "Eq": (sp.Eq, (2,)), "Ne": (sp.Ne, (2,)), "Implies": (sp.Implies, (2,)),
    "Equivalent": (sp.Equivalent, None),
}
CONDITION_CONSTANTS: dict[str, sp.Basic] = {"True": sp.true, "False": sp.false}

RESERVED = set(FUNCTIONS) | set(CONSTANTS) | set(SET_FUNCTIONS) | set(SET_CONSTANTS) \
    | set(CONDITION_FUNCTIONS)


def make_symbols(names: Iterable[str]) -> tuple[sp.Symbol, ...]:
    """Real SymPy symbols for the declared variable names (validated)."""
    out = []
    seen = set()
    for name in names:
        if not isinstance(name, str) or not name.isidentifier() or keyword.iskeyword(name):
            raise UnparsableFormula(f"variable name {name!r} is not a valid identifier")
        if name.startswith("_"):
            raise UnparsableFormula(f"variable name {name!r} may not start with '_'")
        if name in RESERVED:
            raise UnparsableFormula(f"variable name {name!r} is a reserved function or constant")
        if name in seen:
            raise UnparsableFormula(f"variable {name!r} is declared twice")
        seen.add(name)
        out.append(sp.Symbol(name, real=True))
    return tuple(out)


def parse_formula(text: str, variables: Sequence[sp.Symbol] = (), *, what: str = "formula",
                  sets: bool = False, evaluate_extrema: bool = True,
                  conditions: bool = False) -> sp.Expr:
    """Parse ``text`` into a SymPy expression over ``variables`` (no other names allowed).

    ``evaluate_extrema=False`` builds ``Max`` / ``Min`` unevaluated (the same function: SymPy's
    evaluation only merges and drops arguments, and its pairwise comparisons are slow for
    many arguments).

    Raises
    ------
    UnparsableFormula
        If the text is not a formula of the whitelisted language, or uses an undeclared name.
    """
    if isinstance(text, bool) or not isinstance(text, (str, int, float)):
        raise UnparsableFormula(f"{what}: expected a formula string, got {type(text).__name__}")
    if not isinstance(text, str):
        text = repr(text)
    if len(text) > MAX_LENGTH:
        raise UnparsableFormula(f"{what}: formula longer than {MAX_LENGTH} characters")
    if not text.strip():
        raise UnparsableFormula(f"{what}: empty formula")
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as exc:
        raise UnparsableFormula(f"{what}: cannot parse {text!r}: {exc.msg}") from None
    except (RecursionError, MemoryError):
        raise UnparsableFormula(f"{what}: formula nested too deeply") from None
    builder = _Builder({s.name: s for s in variables}, what=what, text=text, sets=sets,
                       evaluate_extrema=evaluate_extrema, conditions=conditions)
    result = builder.build(tree.body, 0)
    if not isinstance(result, sp.Basic):
        raise UnparsableFormula(f"{what}: {text!r} is not an expression")
    return result


def parse_number(value: object, *, what: str = "number") -> sp.Expr:
    """A constant: an int, a float (read exactly from its shortest decimal form, ``repr``), a
    :class:`decimal.Decimal` (exactly, as TOML files are read) or a formula string without
    variables (``"2**(1/6)"``). Must be real and finite."""
    if isinstance(value, bool):
        raise UnparsableFormula(f"{what}: expected a number, got a boolean")
    if isinstance(value, int):
        expr = sp.Integer(value)
    elif isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise UnparsableFormula(f"{what}: non-finite value {value!r}")
        expr = sp.Rational(repr(value))
    elif isinstance(value, decimal.Decimal):  # TOML numbers, read exactly as written
        if not value.is_finite():
            raise UnparsableFormula(f"{what}: non-finite value {value}")
        sign, digits, exponent = value.as_tuple()
        if len(digits) > MAX_INT_DIGITS or abs(value.adjusted()) > MAX_INT_DIGITS:
            raise UnparsableFormula(f"{what}: {value} has more than {MAX_INT_DIGITS} digits")
        exact = Fraction(value)
        expr = sp.Rational(exact.numerator, exact.denominator)
    elif isinstance(value, str):
        expr = parse_formula(value, (), what=what)
    elif isinstance(value, sp.Basic):
        expr = value
    else:
        raise UnparsableFormula(f"{what}: expected a number or a formula string, got "
                                f"{type(value).__name__}")
    if expr.free_symbols:
        raise UnparsableFormula(f"{what}: {value!r} must be a constant")
    if expr.is_real is False or expr.has(sp.zoo, sp.oo, -sp.oo, sp.nan):
        raise UnparsableFormula(f"{what}: {value!r} is not a finite real number")
    try:
        approx = complex(sp.N(expr, 30))
    except (TypeError, ValueError):
        raise UnparsableFormula(f"{what}: {value!r} does not evaluate to a number") from None
    if abs(approx.imag) > 1e-25 * max(1.0, abs(approx.real)) or approx.real != approx.real \
            or abs(approx.real) == float("inf"):
        raise UnparsableFormula(f"{what}: {value!r} is not a finite real number")
    return expr


def as_expression(f: object, variables: Sequence[sp.Symbol] | None = None) -> sp.Expr:
    """A SymPy expression from the Python API: SymPy objects pass through, numbers are read
    exactly, strings go through :func:`parse_formula` (they need ``variables``)."""
    if isinstance(f, sp.Expr):
        return f
    if isinstance(f, str):
        if variables is None:
            raise UnparsableFormula("a formula given as a string needs its variables; pass "
                                    "variables=... or a SymPy expression")
        return parse_formula(f, tuple(variables))
    if isinstance(f, (int, float)) and not isinstance(f, bool):
        return parse_number(f, what="f")
    raise UnparsableFormula(f"f must be a SymPy expression, got {type(f).__name__}")


def parse_condition(text: str, variables: Sequence[sp.Symbol] = (), *,
                    what: str = "condition") -> sp.Basic:
    """Parse a condition: relations (``<``, ``<=``, ``>``, ``>=``, ``==``, ``!=``, chained, or
    ``Eq``/``Ne``) combined with ``and``/``or``/``not``, ``&``/``|``/``~`` or ``And``, ``Or``,
    ``Not``, ``Implies``, ``Equivalent`` (SymPy's printed form reads back)."""
    result = parse_formula(text, variables, what=what, conditions=True)
    if not isinstance(result, (sp.logic.boolalg.Boolean, sp.core.relational.Relational)):
        raise UnparsableFormula(f"{what}: {text!r} is not a condition (a relation such as "
                                "'x >= 0', or relations joined by and/or/not)")
    return result


def condition_text(cond: sp.Basic) -> str:
    """The text of a condition that :func:`parse_condition` reads back."""
    return str(cond)


def parse_set(text: str, *, what: str = "set") -> sp.Set:
    """Parse a SymPy set such as ``"Union(Interval(0, 1), FiniteSet(3))"``."""
    result = parse_formula(text, (), what=what, sets=True)
    if not isinstance(result, sp.Set):
        raise UnparsableFormula(f"{what}: {text!r} is not a set (use Interval, Union, "
                                "FiniteSet, EmptySet...)")
    return result


class _Builder:
    def __init__(self, names: dict[str, sp.Symbol], *, what: str, text: str, sets: bool,
                 evaluate_extrema: bool = True, conditions: bool = False):
        self.names = names
        self.evaluate_extrema = evaluate_extrema
        self.what = what
        self.text = text
        self.sets = sets
        self.conditions = conditions
        self.functions = dict(FUNCTIONS, **(SET_FUNCTIONS if sets else {}),
                              **(CONDITION_FUNCTIONS if conditions else {}))
        self.constants = dict(CONSTANTS, **(SET_CONSTANTS if sets else {}),
                              **(CONDITION_CONSTANTS if conditions else {}))

    def fail(self, message: str) -> UnparsableFormula:
        return UnparsableFormula(f"{self.what}: {message} in {self.text!r}")

    def build(self, node: ast.AST, depth: int) -> sp.Basic:
        if depth > MAX_DEPTH:
            raise self.fail(f"nesting deeper than {MAX_DEPTH}")
        method = getattr(self, "_" + type(node).__name__, None)
        if method is None:
            raise self.fail(f"'{type(node).__name__}' is not allowed")
        return method(node, depth + 1)

    def _Constant(self, node: ast.Constant, depth: int) -> sp.Basic:
        value = node.value
        if isinstance(value, bool) and "True" in self.constants:  # sets and conditions
            return sp.true if value else sp.false
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise self.fail(f"the constant {value!r} is not allowed")
        if isinstance(value, int):
            if len(str(abs(value))) > MAX_INT_DIGITS:
                raise self.fail(f"an integer with more than {MAX_INT_DIGITS} digits")
            return sp.Integer(value)
        if value != value or value in (float("inf"), float("-inf")):
            raise self.fail("a non-finite number")
        segment = ast.get_source_segment(self.text.strip(), node) or repr(value)
        try:
            return sp.Rational(segment.replace("_", ""))
        except (TypeError, ValueError):
            return sp.Rational(repr(value))

    def _Set(self, node: ast.Set, depth: int) -> sp.Basic:
        """``{a, b}``: SymPy's printed form of ``FiniteSet(a, b)`` (only where sets are read)."""
        if "FiniteSet" not in self.functions:
            raise self.fail("'Set' is not allowed")
        if len(node.elts) > MAX_SET_ELEMENTS:
            raise self.fail(f"a set of more than {MAX_SET_ELEMENTS} elements")
        return sp.FiniteSet(*(self.build(e, depth) for e in node.elts))

    def _Name(self, node: ast.Name, depth: int) -> sp.Basic:
        name = node.id
        if name.startswith("__"):
            raise self.fail(f"the name {name!r} is not allowed")
        if name in self.names:
            return self.names[name]
        if name in self.constants:
            return self.constants[name]
        if name in self.functions:
            raise self.fail(f"the function {name!r} must be called with arguments")
        known = ", ".join(sorted(self.names)) or "none"
        raise self.fail(f"unknown name {name!r} (declared variables: {known})")

    def _UnaryOp(self, node: ast.UnaryOp, depth: int) -> sp.Basic:
        operand = self.build(node.operand, depth)
        if isinstance(node.op, (ast.USub, ast.UAdd)) and not isinstance(operand, sp.Expr):
            raise self.fail("a sign in front of something that is not an expression")
        if isinstance(node.op, ast.USub):
            return -operand
        if isinstance(node.op, ast.UAdd):
            return operand
        if self.conditions and isinstance(node.op, (ast.Not, ast.Invert)):
            return sp.Not(self._boolean(operand), evaluate=False)
        raise self.fail(f"the operator '{type(node.op).__name__}' is not allowed")

    def _boolean(self, value: sp.Basic) -> sp.Basic:
        if not isinstance(value, (sp.logic.boolalg.Boolean, sp.core.relational.Relational)):
            raise self.fail(f"{value} is not a condition")
        return value

    def _BoolOp(self, node: ast.BoolOp, depth: int) -> sp.Basic:
        if not self.conditions:
            raise self.fail("'and'/'or' are allowed in conditions only")
        args = [self._boolean(self.build(v, depth)) for v in node.values]
        return sp.And(*args, evaluate=False) if isinstance(node.op, ast.And) else \
            sp.Or(*args, evaluate=False)

    def _Compare(self, node: ast.Compare, depth: int) -> sp.Basic:
        if not self.conditions:
            raise self.fail("comparisons are allowed in conditions only")
        ops = {ast.Lt: sp.StrictLessThan, ast.LtE: sp.LessThan, ast.Gt: sp.StrictGreaterThan,
               ast.GtE: sp.GreaterThan, ast.Eq: sp.Eq, ast.NotEq: sp.Ne}
        terms = [self.build(node.left, depth)] + [self.build(c, depth)
                                                  for c in node.comparators]
        out = []
        for op, a, b in zip(node.ops, terms, terms[1:]):
            relation = ops.get(type(op))
            if relation is None:
                raise self.fail(f"the comparison '{type(op).__name__}' is not allowed")
            if not (isinstance(a, sp.Expr) and isinstance(b, sp.Expr)):
                raise self.fail("a comparison compares two expressions")
            out.append(relation(a, b, evaluate=False))   # kept as written, even for constants
        return out[0] if len(out) == 1 else sp.And(*out, evaluate=False)

    def _BinOp(self, node: ast.BinOp, depth: int) -> sp.Basic:
        if isinstance(node.op, ast.BitXor):
            raise self.fail("'^' is not a power here; write '**'")
        left = self.build(node.left, depth)
        right = self.build(node.right, depth)
        op = node.op
        if self.conditions and isinstance(op, (ast.BitAnd, ast.BitOr)):
            pair = (self._boolean(left), self._boolean(right))
            return sp.And(*pair, evaluate=False) if isinstance(op, ast.BitAnd) else \
                sp.Or(*pair, evaluate=False)
        if not (isinstance(left, sp.Expr) and isinstance(right, sp.Expr)):
            raise self.fail("arithmetic on something that is not an expression")
        if isinstance(op, ast.Add):
            return left + right
        if isinstance(op, ast.Sub):
            return left - right
        if isinstance(op, ast.Mult):
            return left * right
        if isinstance(op, ast.Div):
            return left / right
        if isinstance(op, ast.Pow):
            if right.is_number and not right.free_symbols:
                if right.is_Integer and abs(int(right)) > MAX_CONST_EXPONENT:
                    raise self.fail(f"exponent {right} larger than {MAX_CONST_EXPONENT}")
                if right.is_Rational and max(abs(right.p), abs(right.q)) > MAX_CONST_EXPONENT:
                    raise self.fail(f"exponent {right} too large")
                if not right.is_Rational and left.is_number and abs(float(sp.N(right))) > \
                        MAX_CONST_EXPONENT:
                    raise self.fail(f"exponent {right} too large")
            return sp.Pow(left, right)
        raise self.fail(f"the operator '{type(op).__name__}' is not allowed")

    def _Call(self, node: ast.Call, depth: int) -> sp.Basic:
        if isinstance(node.func, ast.Attribute) and self.sets and \
                isinstance(node.func.value, ast.Name) and node.func.value.id == "Interval" \
                and node.func.attr in INTERVAL_METHODS and not node.keywords \
                and len(node.args) == 2:
            ends = [self.build(a, depth) for a in node.args]
            try:
                return INTERVAL_METHODS[node.func.attr](*ends)
            except (TypeError, ValueError) as exc:
                raise self.fail(f"Interval.{node.func.attr} is invalid: {exc}") from None
        if not isinstance(node.func, ast.Name):
            raise self.fail("only calls of whitelisted functions by name are allowed")
        name = node.func.id
        if name not in self.functions:
            allowed = ", ".join(sorted(self.functions))
            raise self.fail(f"the function {name!r} is not allowed (allowed: {allowed})")
        if node.keywords:
            raise self.fail(f"keyword arguments to {name} are not allowed")
        if any(isinstance(a, ast.Starred) for a in node.args):
            raise self.fail("starred arguments are not allowed")
        function, counts = self.functions[name]
        if counts is None and not node.args:
            raise self.fail(f"{name} needs at least one argument")
        if counts is not None and len(node.args) not in counts:
            raise self.fail(f"{name} takes {' or '.join(map(str, counts))} arguments, "
                            f"not {len(node.args)}")
        args = [self.build(a, depth) for a in node.args]
        if name == "Rational" and not all(a.is_Integer for a in args):
            raise self.fail("Rational takes integer arguments")
        try:
            if name in ("Max", "Min") and not self.evaluate_extrema:
                return function(*args, evaluate=False)  # type: ignore[operator]
            if name in CONDITION_FUNCTIONS:
                if name in ("Eq", "Ne") and not all(isinstance(a, sp.Expr) for a in args):
                    raise self.fail(f"{name} compares two expressions")
                if name not in ("Eq", "Ne"):
                    args = [self._boolean(a) for a in args]
                return function(*args, evaluate=False)  # type: ignore[operator]
            return function(*args)  # type: ignore[operator]
        except (TypeError, ValueError) as exc:
            raise self.fail(f"{name}{tuple(map(str, args))} is invalid: {exc}") from None
