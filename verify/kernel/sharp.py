"""Kernel obligations of the sharp-minimizer kinds (Dominguez Corella).

For a claim ``{f, variables, point, norm}`` the kernel itself writes what must hold:

* ``sharp-minimizer`` (modulus m): f(x) >= f(p) + m ||x - p|| for all x.
  proved by ``sharp-smt`` ``{modulus m' >= m, texts}``: the negation for m', case-split on the
  kinks of f, in SMT-LIB2 (:func:`sharp_queries`, regenerated here and compared), refuted by z3
  and cvc5, or by ``sharp-sos`` ``{modulus m' >= m, cases}``: Positivstellensatz certificates
  of the lifted polar statement (:mod:`verify.kernel.sos`), accepted wherever sharp-smt is,
  or, for f of one variable, by ``sharp-univariate`` ``{modulus m' >= m}``: decided exactly by
  :mod:`verify.kernel.univariate` (no SMT);
  refuted by ``point`` ``{x}``: f(x) - f(p) - m ||x - p|| < 0 in ball arithmetic.
* ``sharpness-modulus`` (value v): alpha* = v. proved by ``modulus-exact`` ``{lower, upper}``:
  ``lower`` a ``sharp-smt`` certificate for some m' >= v (so alpha* >= v) and ``upper`` a
  ``ray-limit`` (the ratio's limit along p + t u, recomputed by SymPy, is <= v) or a
  ``point-ratio`` (the ratio at a rational x is exactly <= v); refuted by ``point`` (a ratio
  below v: alpha* < v), ``ray-limit`` (a limit below v) or ``sharp-smt`` with m' > v.
* ``tilt-stable`` / ``lipschitz-stable`` (radius R): sharp with modulus R is equivalent to the
  argmin form and implies the implication form: proved by ``sharp-smt`` with m' >= R; refuted
  by ``tilt`` ``{xi, x}``: ||xi||_* < R exactly and f(x) - <xi, x> < f(p) - <xi, p> in balls (the
  tilt zeta(y) = -<xi, y> for lipschitz-stable); the implication form also needs
  ``supercoercive`` ``{eps, K, texts}``: f continuous on a closed domain (checked from the
  formula) and f(x) >= eps ||x - p||^2 - K for all x (z3 and cvc5), so every tilted problem has
  a minimizer, which is then not the point.
  A ``lipschitz-stable`` claim that names a network perturbation (``zeta_network``) is proved
  by ``sharp-lipsdp`` only (:mod:`verify.kernel.networks`); a tilt still refutes its radius part.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import sympy as sp

from verify.errors import UnsupportedFunction
from verify.kernel import checker, require
from verify.kernel.balls import arb_eval
from verify.kernel.facts import identically_zero, parse, parse_constant, sign_holds
from verify.kernel.smt import SmtEncoder, confirm_unsat, pieces

KINDS = ("sharp-minimizer", "sharpness-modulus", "tilt-stable", "lipschitz-stable")
_FIELD = {"sharp-minimizer": "modulus", "sharpness-modulus": "value", "tilt-stable": "radius",
          "lipschitz-stable": "radius"}


class Problem:
    """f, its variables, the point and the norm, read from a claim's JSON form
    (``evaluate_extrema=False``: ``Max`` / ``Min`` kept as written, see
    :func:`verify.formula.parse_formula`)."""

    def __init__(self, claim: Mapping[str, Any], *, evaluate_extrema: bool = True):
        from verify.formula import make_symbols

        self.variables = make_symbols(claim["variables"])
        self.f = parse(claim["f"], self.variables, evaluate_extrema=evaluate_extrema)
        self.point = tuple(parse_constant(c) for c in claim["point"])
        self.norm = str(claim.get("norm", "2"))
        if self.norm not in ("2", "1", "inf"):
            raise ValueError(f"unknown norm {self.norm!r}")
        if len(self.point) != len(self.variables):
            raise ValueError("the point and the variables differ in length")
        self.f_point = self.f.xreplace(dict(zip(self.variables, self.point)))  # one pass

    def norm_of(self, diff: Sequence[sp.Expr], which: str | None = None) -> sp.Expr:
        which = which or self.norm
        if which == "2":
            return sp.sqrt(sum(d ** 2 for d in diff))
        if which == "1":
            return sum(sp.Abs(d) for d in diff)
        return sp.Max(*[sp.Abs(d) for d in diff])

    def dual_norm_below(self, xi: Sequence[sp.Expr], bound: sp.Expr) -> bool:
        """||xi||_* < bound, decided exactly (the dual of 2 is 2, of 1 is inf, of inf is 1)."""
        if self.norm == "2":
            return sign_holds(sum(c ** 2 for c in xi) - bound ** 2, "<") and \
                sign_holds(bound, ">")
        dual = "inf" if self.norm == "1" else "1"
        return sign_holds(self.norm_of(xi, dual) - bound, "<")

    def gap_ball(self, x: Sequence[sp.Expr], m: sp.Expr) -> Any:
        """A ball containing f(x) - f(p) - m ||x - p|| at a rational x."""
        diff = [a - b for a, b in zip(x, self.point)]
        return (arb_eval(self.f, dict(zip(self.variables, x))) - arb_eval(self.f_point)
                - arb_eval(m) * arb_eval(self.norm_of(diff)))


def sharp_queries(claim: Mapping[str, Any], modulus: sp.Expr) -> list[str]:
    """The SMT-LIB2 texts of the negation of "f(x) >= f(p) + m ||x - p|| for all x" for an
    algebraic m (an irrational m is a root of its minimal polynomial), one per kink-free piece (two per piece in the 2-norm: g < 0, or g >= 0 and
    g^2 < m^2 ||x - p||^2, which needs no square root). Coordinates are centred at a rational
    point. Unsatisfiable together exactly when the inequality holds on the domain of f.
    Raises UnsupportedFunction when f leaves the SMT-encodable class."""
    problem = Problem(claim)
    m = sp.nsimplify(modulus) if not isinstance(modulus, sp.Basic) else modulus
    variables, f = problem.variables, problem.f
    shift = all(c.is_Rational for c in problem.point) and any(c != 0 for c in problem.point)
    if shift:
        variables = tuple(sp.Symbol(f"_u{i}", real=True) for i in range(len(variables)))
        f = sp.expand(f.subs({v: c + u for v, c, u in zip(problem.variables, problem.point,
                                                          variables)}, simultaneous=True))
        diff = list(variables)
    else:
        diff = [v - p for v, p in zip(variables, problem.point)]
    if problem.norm == "2":
        lhs = f - problem.f_point
    else:
        lhs = f - problem.f_point - m * problem.norm_of(diff)
    try:
        cases = pieces(lhs)
    except UnsupportedFunction:
        cases = [(lhs, sp.true)]
    texts = []
    for piece, cond in cases:
        goals = ["negative"] + (["squared"] if problem.norm == "2" else [])
        for how in goals:
            enc = SmtEncoder(variables)
            g = enc.term(piece)
            if how == "squared":
                goal = (f"(and (>= {g} 0) (< (* {g} {g}) (* {enc.term(m * m)} "
                        f"{enc.term(sum(d ** 2 for d in diff))})))")
            else:
                goal = f"(< {g} 0)"
            texts.append(enc.script([enc.boolean(cond), goal]))
    return texts


def _sharp_smt(claim: Mapping, cert: Mapping, at_least: sp.Expr, strict: bool = False
               ) -> tuple[bool, str]:
    """``cert`` (sharp-smt, or sharp-sos: :mod:`verify.kernel.sos`) proves sharpness with a
    rational m' >= at_least (> if strict)."""
    if cert.get("kind") == "convex-cone":          # a convex f: the cone under f
        from verify.kernel.cone import sharpness_holds

        m = parse_constant(cert["modulus"])
        if strict and not sign_holds(m - at_least, ">"):
            return False, f"the certificate's modulus {m} is not above {at_least}"
        return sharpness_holds(claim, cert, at_least)
    if cert.get("kind") not in ("sharp-smt", "sharp-sos", "sharp-univariate",
                                "convex-minorant"):
        return False, ("expected a sharp-smt, sharp-sos, sharp-univariate, convex-minorant or "
                       f"convex-cone certificate, got {cert.get('kind')!r}")
    m = parse_constant(cert["modulus"])
    if not sign_holds(m - at_least, ">" if strict else ">="):
        return False, f"the certificate's modulus {m} is below {at_least}"
    if cert["kind"] == "sharp-univariate":
        return univariate_sharpness(claim, m)
    if cert["kind"] == "convex-minorant":
        from verify.kernel.minorant import check_minorant

        return check_minorant(claim, cert)
    if cert["kind"] == "sharp-sos":
        from verify.kernel.sos import check_sharp_sos

        return check_sharp_sos(claim, m, cert)
    texts = sharp_queries(claim, m)
    if list(cert.get("texts") or []) != texts:
        return False, "the SMT texts are not the negation of this claim"
    return confirm_unsat(texts)


def _violation_at(claim: Mapping, x: Sequence[Any], m: sp.Expr) -> tuple[bool, str]:
    problem = Problem(claim, evaluate_extrema=False)      # only evaluated at x and p
    point = tuple(parse_constant(c) for c in x)
    if len(point) != len(problem.variables) or not all(c.is_Rational for c in point):
        return False, "the counterexample needs one rational coordinate per variable"
    if point == problem.point:
        return False, "the counterexample is the point itself"
    gap = problem.gap_ball(point, m)
    return require(gap < 0, f"f(x) - f(p) - {m}*||x - p|| < 0 is not certain at {list(x)}")


def sharpness_formula(claim: Mapping[str, Any], m: sp.Expr) -> tuple[Any, sp.Symbol]:
    """"f(x) >= f(p) + m |x - p|" for an f of one variable (every norm of R is |.|), as a
    formula in x for :mod:`verify.kernel.univariate`."""
    problem = Problem(claim)
    if len(problem.variables) != 1:
        raise ValueError("sharp-univariate is about functions of one variable")
    (x,) = problem.variables
    (p,) = problem.point
    return sp.GreaterThan(problem.f - problem.f_point - m * sp.Abs(x - p), 0), x


def univariate_sharpness(claim: Mapping[str, Any], m: sp.Expr) -> tuple[bool, str]:
    """Sharpness with modulus m of a function of one variable, decided exactly by the
    cylindrical decomposition of the line (the whole domain of f)."""
    from verify.kernel.univariate import decide

    formula, x = sharpness_formula(claim, m)
    result = decide(formula, x)
    return require(result.holds, f"f(x) < f(p) + {m}|x - p| at x = "
                                 f"{result.witness.text() if result.witness else '?'}")


@checker("sharp-univariate")
def _check_sharp_univariate(claim: Mapping, status: str, cert: Mapping) -> tuple[bool, str]:
    """``{modulus}``: f of one variable is sharp with that modulus, exactly (the same claim
    kinds and modulus rules as ``sharp-smt``)."""
    return _check_sharp_smt(claim, status, cert)


@checker("sharp-smt")
def _check_sharp_smt(claim: Mapping, status: str, cert: Mapping) -> tuple[bool, str]:
    kind = claim.get("kind")
    if kind not in KINDS:
        return False, f"sharp-smt certifies sharpness claims, not {kind!r}"
    if kind == "lipschitz-stable" and (claim.get("zeta_network") or
                                       claim.get("zeta_network_sha256")):
        return False, "a network perturbation zeta also needs its Lipschitz bound (sharp-lipsdp)"
    value = parse_constant(claim[_FIELD[kind]])
    if kind == "sharpness-modulus":
        # m' > v proved: alpha* >= m' > v, so alpha* = v is false
        return _sharp_smt(claim, cert, value, strict=True) if status == "refuted" else \
            (False, "alpha* = v needs a lower and an upper certificate (modulus-exact)")
    if status != "proved":
        return False, "an SMT proof of sharpness proves"
    return _sharp_smt(claim, cert, value)


#: the checker of every proof of "sharp with modulus m" (sharp-smt here, sharp-sos there)
check_sharpness = _check_sharp_smt


@checker("point")
def _check_point(claim: Mapping, status: str, cert: Mapping) -> tuple[bool, str]:
    kind = claim.get("kind")
    if status != "refuted" or kind not in ("sharp-minimizer", "sharpness-modulus"):
        return False, "a violating point refutes sharp-minimizer or sharpness-modulus claims"
    return _violation_at(claim, cert["x"], parse_constant(claim[_FIELD[kind]]))


def _eventual_sign(a: sp.Expr, t: sp.Symbol) -> int:
    """The sign of a(t) for all small t > 0, for a rational function of t with constant
    coefficients: the sign of the lowest-order coefficient of its numerator and denominator
    (decided exactly); ValueError outside that class."""
    num, den = sp.fraction(sp.together(sp.expand(a)))
    signs = []
    for part in (num, den):
        P = sp.Poly(sp.expand(part), t)
        if P.is_zero:
            return 0
        low = min(P.monoms())[0]
        c = P.coeff_monomial(t ** low)
        if c.free_symbols:
            raise ValueError(f"{a} has coefficients with symbols")
        signs.append(1 if sign_holds(c, ">") else -1 if sign_holds(c, "<") else 0)
    if 0 in signs:
        raise ValueError(f"the sign of {a} near 0 is not decided")
    return signs[0] * signs[1]


def resolve_near_zero(e: sp.Expr, t: sp.Symbol) -> sp.Expr:
    """``e`` with each Abs, Max, Min and sign replaced, innermost first, by the piece it equals
    for all small t > 0 (its arguments are rational functions of t: their eventual signs decide
    it exactly); ValueError where that cannot be told."""
    while True:
        node = next((a for a in sp.postorder_traversal(e)
                     if isinstance(a, (sp.Abs, sp.Max, sp.Min, sp.sign))), None)
        if node is None:
            return e
        if isinstance(node, (sp.Abs, sp.sign)):
            s = _eventual_sign(node.args[0], t)
            piece = s * node.args[0] if isinstance(node, sp.Abs) else sp.Integer(s)
        else:
            want = 1 if isinstance(node, sp.Max) else -1
            piece = next((a for a in node.args
                          if all(b is a or want * _eventual_sign(a - b, t) >= 0
                                 for b in node.args)), None)
            if piece is None:
                raise ValueError(f"no piece of {node} is eventually extreme")
        e = e.xreplace({node: piece})


def _ray_limit(claim: Mapping, cert: Mapping) -> sp.Expr:
    """The limit of the ratio (f(p + t u) - f(p)) / (t ||u||) at t -> 0+ or oo (SymPy)."""
    problem = Problem(claim)
    u = [parse_constant(c) for c in cert["direction"]]
    if not all(c.is_Rational for c in u) or all(c == 0 for c in u):
        raise ValueError("the direction must be a nonzero rational vector")
    t = sp.Symbol("t", positive=True)
    ray = dict(zip(problem.variables, [p + t * c for p, c in zip(problem.point, u)]))
    ratio = (problem.f.subs(ray) - problem.f_point) / (t * problem.norm_of(u))
    target = {"0+": 0, "oo": sp.oo}[cert["at"]]
    if target == 0 and ratio.has(sp.Abs, sp.Max, sp.Min, sp.sign):
        try:                  # kinks: the pieces f equals along the ray near the point
            ratio = resolve_near_zero(ratio, t)
        except (ValueError, sp.PolynomialError):
            pass
    value = sp.limit(ratio, t, target, "+" if target == 0 else "-")
    if value.has(sp.oo, -sp.oo, sp.zoo, sp.nan, sp.AccumBounds, sp.Limit) or value.free_symbols:
        raise ValueError(f"the limit {value} is not a finite number")
    claimed = parse_constant(cert["limit"])
    if not identically_zero(value - claimed):
        raise ValueError(f"the limit is {value}, not {claimed}")
    return value


def _upper(claim: Mapping, cert: Mapping) -> sp.Expr:
    """An exact number >= alpha* from an upper certificate (raises when it does not check)."""
    if cert.get("kind") == "ray-limit":
        return _ray_limit(claim, cert)
    if cert.get("kind") == "point-ratio":
        problem = Problem(claim)
        x = tuple(parse_constant(c) for c in cert["x"])
        if len(x) != len(problem.point) or x == problem.point:
            raise ValueError("point-ratio needs a point other than p, one coordinate per "
                             "variable")
        if all(c.is_Rational for c in x):
            diff = [a - b for a, b in zip(x, problem.point)]
            return (problem.f.subs(dict(zip(problem.variables, x))) - problem.f_point) / \
                problem.norm_of(diff)
        if not all(c.is_number and c.is_algebraic and c.is_real for c in x):
            raise ValueError("point-ratio needs real algebraic coordinates")
        diff = [a - b for a, b in zip(x, problem.point)]
        if all(identically_zero(c) for c in diff):
            raise ValueError("point-ratio needs a point other than p")
        at = dict(zip(problem.variables, x))
        return (exact_value(problem.f, at) - exact_value(problem.f, dict(zip(
            problem.variables, problem.point)))) / exact_value(problem.norm_of(
                list(problem.variables)), {v: c for v, c in zip(problem.variables, diff)})
    raise ValueError(f"unknown upper-bound certificate {cert.get('kind')!r}")


def exact_value(e: sp.Expr, at: Mapping[sp.Symbol, sp.Expr]) -> sp.Expr:
    """e at a point with real algebraic coordinates, every Max, Min, Abs and sign resolved
    by the exact sign of its arguments' differences (:func:`verify.kernel.univariate.
    constant_sign`), never by SymPy's floating comparisons."""
    from verify.kernel.univariate import constant_sign

    if e.is_Symbol:
        if e not in at:
            raise ValueError(f"no value for {e}")
        return at[e]
    if e.is_Atom:
        return e
    args = [exact_value(a, at) for a in e.args]
    if isinstance(e, (sp.Max, sp.Min)):
        best, want = args[0], 1 if isinstance(e, sp.Max) else -1
        for a in args[1:]:
            if constant_sign(a - best) == want:
                best = a
        return best
    if isinstance(e, sp.Abs):
        return args[0] if constant_sign(args[0]) >= 0 else -args[0]
    if isinstance(e, sp.sign):
        return sp.Integer(constant_sign(args[0]))
    if isinstance(e, sp.Piecewise):
        raise ValueError("Piecewise is not evaluated exactly here")
    return e.func(*args)


@checker("modulus-exact")
def _check_modulus_exact(claim: Mapping, status: str, cert: Mapping) -> tuple[bool, str]:
    if claim.get("kind") != "sharpness-modulus" or status != "proved":
        return False, "modulus-exact proves a sharpness-modulus claim"
    value = parse_constant(claim["value"])
    ok, reason = _sharp_smt(claim, cert["lower"], value)
    if not ok:
        return False, f"lower bound: {reason}"
    upper = _upper(claim, cert["upper"])
    return require(sign_holds(upper - value, "<="), f"the upper bound {upper} exceeds {value}")


@checker("ray-limit", "point-ratio")
def _check_upper(claim: Mapping, status: str, cert: Mapping) -> tuple[bool, str]:
    """alpha* <= upper < v refutes alpha* = v."""
    if claim.get("kind") != "sharpness-modulus" or status != "refuted":
        return False, "an upper bound refutes a sharpness-modulus claim that is too large"
    upper = _upper(claim, cert)
    return require(sign_holds(upper - parse_constant(claim["value"]), "<"),
                   "the upper bound is not below the claimed value")


@checker("tilt")
def _check_tilt(claim: Mapping, status: str, cert: Mapping) -> tuple[bool, str]:
    kind = claim.get("kind")
    if status != "refuted" or kind not in ("tilt-stable", "lipschitz-stable"):
        return False, "a tilt refutes tilt-stable or lipschitz-stable claims"
    problem = Problem(claim)
    radius = parse_constant(claim["radius"])
    xi = [parse_constant(c) for c in cert["xi"]]
    x = [parse_constant(c) for c in cert["x"]]
    if not all(c.is_Rational for c in xi + x) or len(xi) != len(x) != len(problem.point):
        return False, "the tilt and the point are rational vectors of the right length"
    if not problem.dual_norm_below(xi, radius):
        return False, f"the tilt's dual norm is not below {radius}"
    lin = sum(c * (a - b) for c, a, b in zip(xi, x, problem.point))
    gap = arb_eval(problem.f.subs(dict(zip(problem.variables, x))) - problem.f_point - lin)
    if not gap < 0:
        return False, "f(x) - <xi, x> < f(p) - <xi, p> is not certain"
    if claim.get("form", "argmin") == "implication":
        return _check_supercoercive(claim, cert.get("assumption1") or {})
    return True, ""


def coercivity_query(claim: Mapping, eps: sp.Rational, K: sp.Rational) -> str:
    """SMT-LIB2 text of "f(x) < eps ||x - p||^2 - K for some x" (unsat: supercoercive)."""
    problem = Problem(claim)
    enc = SmtEncoder(problem.variables)
    sq = sum((v - p) ** 2 for v, p in zip(problem.variables, problem.point))
    return enc.script([f"(< {enc.term(problem.f)} {enc.term(eps * sq - K)})"])


def continuous_on_closed_domain(f: sp.Expr) -> bool:
    """f is built from +, *, nonnegative rational powers, Abs, Max, Min: continuous, and its
    domain (where every fractional power's base is >= 0) is closed."""
    for node in sp.preorder_traversal(f):
        if node.is_Atom or node.is_Add or node.is_Mul or isinstance(node, (sp.Abs, sp.Max,
                                                                           sp.Min)):
            continue
        if node.is_Pow and node.exp.is_Rational and node.exp >= 0:
            continue
        return False
    return True


def coercivity_claim(claim: Mapping, eps: sp.Rational, K: sp.Rational) -> dict:
    """The ``forall`` claim "f(x) >= eps ||x - p||^2 - K" of a sharpness claim's f and point."""
    problem = Problem(claim)
    sq = sum((v - p) ** 2 for v, p in zip(problem.variables, problem.point))
    return {"kind": "forall", "variables": [v.name for v in problem.variables],
            "conclusion": f"{problem.f - eps * sq + K} >= 0"}


def _check_supercoercive(claim: Mapping, cert: Mapping) -> tuple[bool, str]:
    """Assumption 1 through supercoercivity, f(x) >= eps ||x - p||^2 - K: proved exactly by a
    ``forall`` proof of the kernel's own statement (``proof``: ``real-roots`` in one variable,
    ``psatz`` in several), or by z3 and cvc5 on the kernel's text (``texts``)."""
    if cert.get("kind") != "supercoercive":
        return False, "the implication form needs Assumption 1 (a supercoercive certificate)"
    problem = Problem(claim)
    if not continuous_on_closed_domain(problem.f):
        return False, "f is not shown continuous on a closed domain"
    eps, K = parse_constant(cert["eps"]), parse_constant(cert["K"])
    if not (eps.is_Rational and K.is_Rational and eps > 0):
        return False, "eps > 0 and K are rationals"
    proof = cert.get("proof")
    if proof is not None:
        from verify.kernel import CHECKERS

        if not isinstance(proof, Mapping) or proof.get("kind") not in ("real-roots", "psatz"):
            return False, "supercoercivity is proved by real roots or Psatz certificates"
        return CHECKERS[proof["kind"]](coercivity_claim(claim, eps, K), "proved", proof)
    text = coercivity_query(claim, eps, K)
    if list(cert.get("texts") or []) != [text]:
        return False, "the SMT text is not the supercoercivity of this f"
    return confirm_unsat([text])
