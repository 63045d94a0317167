"""Kernel checks of Positivstellensatz (sum-of-squares) certificates, and the polynomial
statements they are about, rebuilt here from a claim's own fields.

A Psatz certificate of ``p >= 0`` on ``K = {g_1 >= 0, ..., h_1 = 0, ...}`` is plain data:

``{"blocks": [{"gens": [k, ...], "basis": [[e, ...], ...], "gram": [[...], ...]}, ...],
"multipliers": [{"h": j, "coeffs": [[[e, ...], "p/q"], ...]}, ...]}``

Each block is ``(prod of the g_k named in gens) * z^T Q z`` with ``z`` the monomials of
``basis`` and ``Q`` the symmetric rational matrix whose upper triangle ``gram`` lists row by
row (row i holds ``Q[i][i], ..., Q[i][n-1]``); each multiplier is a polynomial times ``h_j``.
:func:`check_psatz` accepts when every ``Q`` is positive semidefinite (exact fraction-free
LDL^T over the integers, python-flint ``fmpz``: a negative pivot, or a zero pivot above a
nonzero entry, rejects) and ``p == sum of the blocks + sum of the multipliers`` holds
coefficient by coefficient (python-flint ``fmpq_mpoly``). Then on K every block is ``>= 0``
and every multiplier term ``= 0``, so ``p >= 0`` on K. The polynomials ``p``, ``g``, ``h`` are
never read from the certificate: the callers below derive them from the claim.

**Lifting** (:func:`lift`). Max and Min are first written with Abs (``max(a, b) = (a + b +
|a - b|) / 2``). Each Abs, innermost first, is either *lifted*, replaced by a new variable
``s >= 0`` with ``s^2 = A^2`` (A its argument; one variable per argument up to sign), or
*split* into the branches ``A`` on ``A >= 0`` and ``-A`` on ``-A >= 0``. For every x, the
branch of the actual signs with ``s = |A(x)|`` satisfies its constraints and its polynomial
equals f(x); so a certificate on every branch's lifted set proves the statement for all x.

Statements (their derivations are the kernel's; the deciders call them to know what to prove):

* :func:`sharp_cases` ``(claim, m)``: "f(x) >= f(p) + m ||x - p|| for all x" for a piecewise
  polynomial f (polynomials, Abs, Max, Min) at a rational point p, m rational. With u = x - p
  and F(u) = f(p + u) - f(p), an Abs whose argument vanishes at u = 0 is lifted, any other is
  split (near u = 0 its sign is fixed). Then the polar blow-up u = r v, ``r >= 0``,
  ``||v|| = 1``: a lifted ``|A(u)|`` is ``r^e |A~(r, v)|`` (``r^e`` the largest power of r
  dividing ``A(r v)``), so it is lifted as ``s = |A~|``; the target is
  ``(F(r v) - m r) / r^k`` and each split condition ``c(r v) / r^j`` (k, j the largest powers
  of r dividing them; r > 0 for u != 0, and u = 0 satisfies the inequality). The unit sphere:
  2-norm ``sum v_i^2 = 1``; 1-norm ``sum w_i = 1`` with ``w_i = |v_i|`` lifted (or the lifted
  ``|v_i|`` of f itself); inf-norm the 2n cases ``v_k = +-1`` (substituted), ``1 - v_i^2 >= 0``.
  For x != p the point r = ||u||, v = u / r, s = |A~| of its branch and norm case lies in the
  case's set and ``r^k target = F(u) - m ||u||`` there, so certificates for all cases prove the
  claim. (Without the blow-up the target's linear part -m ||u|| cannot be matched: the
  degree-1 part of a Putinar certificate is a nonnegative combination of the generators.)
  Square roots (:func:`lift_roots`): ``sqrt(G)`` with G a rational quadratic that is
  nonnegative everywhere (its homogenized matrix PSD, exact) becomes ``q >= 0, q^2 = G``, and
  in the blow-up ``r^(e/2) q~`` with ``q~^2 = G~``, ``G(r v) = r^e G~`` (e = 2 for a quadratic
  form, a Euclidean norm of x - p; e = 0 when G(0) > 0), so ``||A (x - p)||_2`` and
  ``sqrt(c + ...)`` terms of a nonconvex f have exact certificates too.
* :func:`ball_case` ``(problem, U)``: "f(y) - f(x) <= U on the ball ||y - x|| <= r" for a
  piecewise polynomial f, rational x, r, U: every Abs lifted, target ``U - F(u)`` on
  ``r^2 - |u|^2 >= 0`` (2-norm), ``r^2 - u_i^2 >= 0`` (inf-norm) or ``r - sum w_i >= 0`` with
  ``w_i = |u_i|`` lifted (1-norm).

Certificates: ``sharp-sos`` ``{modulus m' >= m (rational), cases: [psatz, ...]}`` (one per
case of :func:`sharp_cases`, in its order; registered here, checked as
:mod:`verify.kernel.sharp` checks ``sharp-smt``, whose claims it proves), and the upper-bound
certificate ``sos`` ``{bound U, blocks, multipliers}`` of ``max-variation-bounds``
(:mod:`verify.kernel.geometry`; the bound is compared exactly with the claim's ``at_most``).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Mapping, Sequence

import flint
import sympy as sp

from verify.errors import UnsupportedFunction
from verify.kernel import checker

#: the most cases one sharp-sos statement may have (split branches times norm cases)
MAX_CASES = 4096
Exponent = tuple

# --------------------------------------------------------------------------------------------
# exact polynomials and the Psatz check
# --------------------------------------------------------------------------------------------

def _q(x: Any) -> flint.fmpq:
    """An exact rational from an int or a ``"p/q"`` string (floats and bools refused)."""
    if isinstance(x, bool) or not isinstance(x, (int, str)):
        raise TypeError(f"not an exact rational: {x!r}")
    v = Fraction(x)
    return flint.fmpq(v.numerator, v.denominator)


def _exponent(e: Any, nvars: int) -> Exponent:
    t = tuple(e)
    if len(t) != nvars or not all(isinstance(k, int) and not isinstance(k, bool) and k >= 0
                                  for k in t):
        raise ValueError(f"bad exponent {e!r} for {nvars} variables")
    return t


def poly_of(expr: sp.Expr, variables: Sequence[sp.Symbol]) -> dict:
    """``{exponent: fmpq}`` of a polynomial with rational coefficients (UnsupportedFunction for
    anything else)."""
    try:
        P = sp.Poly(sp.expand(expr), *variables)
    except sp.PolynomialError as exc:
        raise UnsupportedFunction(f"not a polynomial: {expr}") from exc
    out = {}
    for m, c in P.terms():
        if not c.is_Rational:
            raise UnsupportedFunction(f"the coefficient {c} is not rational")
        out[tuple(int(k) for k in m)] = flint.fmpq(int(c.p), int(c.q))
    return out


def psd(Q: Sequence[Sequence[flint.fmpq]]) -> bool:
    """Exact LDL^T test of a symmetric rational matrix, fraction-free (Bareiss).

    Q is scaled by the common denominator of its entries (a positive factor) to an integer
    matrix A. Eliminating with pivots k_1, k_2, ... keeps every entry an integer minor of A
    (Sylvester's identity: the division by the previous pivot is exact) and the pivot at step t
    is the principal minor M_t on {k_1..k_t}, so the LDL^T pivot is d_t = M_t / M_(t-1). The
    rule: M_t < 0 rejects; M_t = 0 needs the rest of its column to vanish (else a 2x2
    principal minor of the Schur complement is negative), and then the index is dropped (its
    row and column of the Schur complement are zero); Q is PSD when no index rejects.
    """
    n = len(Q)
    den = flint.fmpz(1)
    for row in Q:
        for v in row:
            den = den * v.q // den.gcd(v.q)
    A = [[(Q[i][j] * den).p for j in range(n)] for i in range(n)]
    prev = flint.fmpz(1)
    active = list(range(n))
    while active:
        k, rest = active[0], active[1:]
        d, Ak = A[k][k], A[k]
        if d < 0:
            return False
        if d == 0:
            if any(Ak[i] != 0 for i in rest):
                return False
            active = rest
            continue
        for t, i in enumerate(rest):
            aik, Ai = Ak[i], A[i]
            for j in rest[t:]:
                value, remainder = divmod(d * Ai[j] - aik * Ak[j], prev)
                if remainder != 0:
                    raise ArithmeticError("a Bareiss division is not exact")
                Ai[j] = value
        prev, active = d, rest
    return True


def _gram(block: Mapping, nvars: int) -> tuple[list, list]:
    basis = [_exponent(e, nvars) for e in block["basis"]]
    if len(set(basis)) != len(basis):
        raise ValueError("a basis lists a monomial twice")
    rows = block["gram"]
    n = len(basis)
    if len(rows) != n or any(len(row) != n - i for i, row in enumerate(rows)):
        raise ValueError("the Gram rows are not the upper triangle of a basis-sized matrix")
    Q = [[flint.fmpq(0)] * n for _ in range(n)]
    for i, row in enumerate(rows):
        for j, v in enumerate(row, start=i):
            Q[i][j] = Q[j][i] = _q(v)
    return basis, Q


def check_psatz(p: Mapping, gs: Sequence[Mapping], hs: Sequence[Mapping], cert: Mapping,
                nvars: int) -> tuple[bool, str]:
    """Does ``cert`` (the format of the module docstring) prove ``p >= 0`` on
    ``{g >= 0, h = 0}``? ``p``, ``gs``, ``hs``: ``{exponent: fmpq}`` derived by the caller."""
    if nvars < 1:
        raise ValueError("a Psatz certificate is about at least one variable")
    ctx = flint.fmpq_mpoly_ctx.get(tuple(f"z{i}" for i in range(nvars)), "lex")

    def P(d: Mapping) -> Any:
        return ctx.from_dict(dict(d))

    G, H = [P(g) for g in gs], [P(h) for h in hs]
    total = ctx.from_dict({})
    for b, block in enumerate(cert.get("blocks") or []):
        gens = block.get("gens") or []
        if not all(isinstance(k, int) and not isinstance(k, bool) and 0 <= k < len(G)
                   for k in gens):
            return False, f"block {b}: a generator index out of range"
        basis, Q = _gram(block, nvars)
        if not psd(Q):
            return False, f"block {b}: the Gram matrix is not positive semidefinite"
        form: dict = {}
        for i, bi in enumerate(basis):
            for j in range(i, len(basis)):
                if Q[i][j] != 0:
                    e = tuple(a + c for a, c in zip(bi, basis[j]))
                    form[e] = form.get(e, 0) + (Q[i][j] if i == j else 2 * Q[i][j])
        term = ctx.from_dict({e: c for e, c in form.items() if c != 0})
        for k in gens:
            term *= G[k]
        total += term
    for t, mult in enumerate(cert.get("multipliers") or []):
        j = mult.get("h")
        if not (isinstance(j, int) and not isinstance(j, bool) and 0 <= j < len(H)):
            return False, f"multiplier {t}: no equation {j!r}"
        coeffs: dict = {}
        for e, c in mult["coeffs"]:
            e = _exponent(e, nvars)
            if e in coeffs:
                raise ValueError("a multiplier lists a monomial twice")
            coeffs[e] = _q(c)
        total += P(coeffs) * H[j]
    if total != P(p):
        return False, "the polynomial identity p = sum of the terms does not hold"
    return True, ""


# --------------------------------------------------------------------------------------------
# the statements
# --------------------------------------------------------------------------------------------

@dataclass
class Case:
    """``target >= 0`` on ``{g >= 0 for g in gs, h = 0 for h in hs}``, polynomials as
    ``{exponent: fmpq}`` in the variables ``names`` (``r`` is the polar radius, ``s*`` and
    ``w*`` lifted absolute values)."""

    target: dict
    gs: list
    hs: list
    names: tuple
    label: str


def abs_form(e: sp.Expr) -> sp.Expr:
    """``e`` with Max and Min written with Abs (``max(a, b) = (a + b + |a - b|) / 2``); raises
    UnsupportedFunction unless ``e`` is built from symbols, rationals, +, *, nonnegative integer
    powers, Abs, Max and Min."""
    if e.is_Symbol:
        return e
    if e.is_Number:
        if not e.is_Rational:
            raise UnsupportedFunction(f"the number {e} is not rational")
        return e
    args = [abs_form(a) for a in e.args]
    if isinstance(e, (sp.Max, sp.Min)):
        sign = 1 if isinstance(e, sp.Max) else -1
        out = args[0]
        for a in args[1:]:
            out = (out + a + sign * sp.Abs(out - a)) / 2
        return out
    if isinstance(e, sp.Abs):
        return sp.Abs(args[0])
    if e.is_Add:
        return sp.Add(*args)
    if e.is_Mul:
        return sp.Mul(*args)
    if e.is_Pow and e.exp.is_Integer and e.exp >= 0:
        return args[0] ** e.exp
    raise UnsupportedFunction(f"{e} is not piecewise polynomial (polynomials, Abs, Max, Min)")


@dataclass
class _Lifted:
    """One branch of the lifting of an expression: ``expr`` is a polynomial in the original
    symbols and the lifted ``symbols``; ``lifts[k] = (s_k, A_k)`` says ``s_k = |A_k|`` (A_k a
    polynomial in the original symbols and s_0..s_(k-1)); ``conds`` are expressions ``>= 0``
    that hold on the branch (a split Abs: its argument's sign)."""

    expr: sp.Expr
    lifts: list
    conds: list


def _innermost_abs(e: sp.Expr) -> sp.Abs | None:
    return next((a for a in sp.postorder_traversal(e) if isinstance(a, sp.Abs)), None)


def lift(e: sp.Expr, split: Any, prefix: str = "_s") -> list[_Lifted]:
    """Remove the Abs of ``e`` (in :func:`abs_form`), innermost first: an Abs whose argument
    ``A`` satisfies ``split(A, lifts)`` is split into the branches ``A`` (``A >= 0``) and ``-A``
    (``-A >= 0``); any other becomes a symbol ``s`` with ``s >= 0, s^2 = A^2`` (one symbol per
    argument up to sign). For every value of the original symbols, some branch with
    ``s_k = |A_k|`` satisfies its conditions and its ``expr`` equals ``e``."""
    out: list[_Lifted] = []
    todo = [_Lifted(e, [], [])]
    while todo:
        item = todo.pop()
        node = _innermost_abs(item.expr)
        if node is None:
            out.append(item)
            continue
        A = sp.expand(node.args[0])
        if split(A, item.lifts):
            for sign in (1, -1):
                todo.append(_Lifted(item.expr.xreplace({node: sign * A}), list(item.lifts),
                                    item.conds + [sign * A]))
            if len(out) + len(todo) > MAX_CASES:
                raise UnsupportedFunction(f"more than {MAX_CASES} cases")
            continue
        s = next((s for s, B in item.lifts if sp.expand(A - B) == 0 or sp.expand(A + B) == 0),
                 None)
        lifts = list(item.lifts)
        if s is None:
            s = sp.Symbol(f"{prefix}{len(lifts)}", real=True)
            lifts.append((s, A))
        todo.append(_Lifted(item.expr.xreplace({node: s}), lifts, item.conds))
    return out[::-1]


def _vanishes_at_zero(u: Sequence[sp.Symbol], roots: Sequence[tuple] = ()) -> Any:
    """The split rule of the sharpness statements: split an Abs unless its argument vanishes
    at u = 0 (every lifted symbol vanishes there too; a lifted square root sqrt(G) is
    sqrt(G(0)))."""
    def split(A: sp.Expr, lifts: list) -> bool:
        zero = {x: 0 for x in u}
        zero.update({q: sp.sqrt(G.xreplace({x: 0 for x in u})) for q, G in roots})
        zero.update({s: 0 for s, _ in lifts})
        return sp.expand(A.xreplace(zero)) != 0
    return split


def lift_roots(F: sp.Expr, u: Sequence[sp.Symbol]) -> tuple[sp.Expr, list[tuple]]:
    """F with every square root sqrt(G) (and G^(k/2), k odd) replaced by a symbol q (q^k),
    and the list of (q, G): q = sqrt(G) >= 0, q^2 = G. Each G must be a polynomial of degree
    at most 2 in ``u`` that is nonnegative everywhere (its homogenized matrix PSD, decided
    exactly), so that f is real-valued and q is determined: a Euclidean norm of an affine map,
    sqrt(c + ||A u||^2), ... Raises UnsupportedFunction otherwise."""
    from verify.kernel.cone import nonnegative_quadratic

    roots: list[tuple[sp.Symbol, sp.Expr]] = []
    while True:
        node = next((a for a in sp.postorder_traversal(F) if a.is_Pow and a.exp.is_Rational
                     and a.exp.q == 2 and a.base.free_symbols), None)
        if node is None:
            return F, roots
        G = sp.expand(node.base)
        nonnegative = nonnegative_quadratic(G, u) if G.free_symbols <= set(u) else None
        if nonnegative is None:
            raise UnsupportedFunction(f"sqrt of {node.base}: only rational quadratics of the "
                                      "variables are lifted")
        if not nonnegative:
            raise UnsupportedFunction(f"sqrt of {node.base}: not shown nonnegative everywhere")
        q = next((q for q, H in roots if sp.expand(H - G) == 0), None)
        if q is None:
            q = sp.Symbol(f"_q{len(roots)}", real=True)
            roots.append((q, G))
        F = F.xreplace({node: q ** int(node.exp.p)})


def _polys(exprs: Sequence[sp.Expr], gens: Sequence[sp.Symbol]) -> list[dict]:
    return [p for p in (poly_of(e, gens) for e in exprs) if p]


def _r_order(p: sp.Poly, k: int) -> int:
    """The largest power of the generator k that divides the polynomial p."""
    return min((m[k] for m in p.monoms()), default=0)


def _divide_r(e: sp.Expr, gens: Sequence[sp.Symbol], k: int) -> tuple[sp.Expr, int]:
    """(e / r^j, j) for the largest j with r^j | e (r = gens[k])."""
    P = sp.Poly(sp.expand(e), *gens)
    if P.is_zero:
        return sp.Integer(0), 0
    j = _r_order(P, k)
    return sp.expand(e / gens[k] ** j), j


def _polar(branch: _Lifted, u: Sequence[sp.Symbol], m: sp.Rational, norm: str,
           roots: Sequence[tuple] = ()) -> list[tuple[sp.Expr, list, list, list, str]]:
    """The polar blow-up u = r v (r = ||u||, ||v|| = 1) of one branch of F(u) - m ||u||:
    (target, expressions >= 0, expressions = 0, generators, label) per norm case. A lifted
    square root q = sqrt(G(u)) becomes r^(e/2) q~ with q~ >= 0, q~^2 = G~ where
    G(r v) = r^e G~ (e = 2 when G vanishes at 0, a quadratic form; else 0)."""
    n = len(u)
    r = sp.Symbol("_r", real=True)
    v = [sp.Symbol(f"_v{i}", real=True) for i in range(n)]
    s = [q for q, _ in roots] + [sym for sym, _ in branch.lifts]
    gens = [*v, r, *s]
    at = {x: r * y for x, y in zip(u, v)}
    ge: list = [r]
    eq: list = []
    for q, G in roots:
        Gt, e = _divide_r(G.xreplace(at), gens, n)
        if e % 2:
            raise UnsupportedFunction(f"sqrt of {G}: an odd order at the point")
        at[q] = r ** (e // 2) * q
        ge.append(q)
        eq.append(q ** 2 - Gt)
    lifted: list = []   # (s_k, A~_k): s_k = |A~_k|, and |A_k(u)| = r^e_k s_k
    for sym, A in branch.lifts:
        At, e = _divide_r(A.xreplace(at), gens, n)
        at[sym] = r ** e * sym
        lifted.append((sym, At))
        ge.append(sym)
        eq.append(sym ** 2 - At ** 2)
    for c in branch.conds:
        ge.append(_divide_r(c.xreplace(at), gens, n)[0])
    body = sp.expand(branch.expr.xreplace(at) - m * r)
    cases = []
    if norm == "2":
        cases.append((body, ge, eq + [sum(y ** 2 for y in v) - 1], gens, "sphere"))
    elif norm == "1":
        ws = []
        for i, y in enumerate(v):
            w = next((sym for sym, At in lifted if sp.expand(At - y) == 0 or
                      sp.expand(At + y) == 0), None)
            if w is None:
                w = sp.Symbol(f"_w{i}", real=True)
                gens = gens + [w]
                ge = ge + [w]
                eq = eq + [w ** 2 - y ** 2]
            ws.append(w)
        cases.append((body, ge, eq + [sum(ws) - 1], gens, "cross-polytope, w = |v|"))
    else:
        for k in range(n):
            for sign in (1, -1):
                fix = {v[k]: sign}
                g2 = [*v[:k], *v[k + 1:], r, *s]
                cases.append((body.xreplace(fix), [c.xreplace(fix) for c in ge] +
                              [1 - y ** 2 for i, y in enumerate(v) if i != k],
                              [h.xreplace(fix) for h in eq], g2,
                              f"v_{k} = {sign}, |v_i| <= 1"))
    out = []
    for body, ge_, eq_, gens_, label in cases:
        target, _ = _divide_r(body, gens_, gens_.index(r))
        out.append((target, ge_, eq_, gens_, label))
    return out


def _names(gens: Sequence[sp.Symbol]) -> tuple:
    return tuple(g.name.lstrip("_") for g in gens)


def sharp_cases(claim: Mapping[str, Any], m: sp.Expr) -> list[Case]:
    """The cases of "f(x) >= f(p) + m ||x - p||" (module docstring), in a fixed order (a
    pure function of the claim's f, variables, point and norm and of m: cached; the cases are
    not to be modified)."""
    key = (str(claim["f"]), tuple(claim["variables"]), tuple(str(c) for c in claim["point"]),
           str(claim.get("norm", "2")), str(m))
    return _sharp_cases(key)


@functools.lru_cache(maxsize=64)
def _sharp_cases(key: tuple) -> list[Case]:
    from verify.kernel.sharp import Problem
    from verify.kernel.facts import parse_constant

    f, variables, point, norm, m = key
    problem = Problem({"f": f, "variables": list(variables), "point": list(point),
                       "norm": norm})
    m = parse_constant(m)
    if not (m.is_Rational and all(c.is_Rational for c in problem.point)):
        raise UnsupportedFunction("sharp-sos needs a rational modulus and a rational point")
    n = len(problem.variables)
    u = tuple(sp.Symbol(f"_u{i}", real=True) for i in range(n))
    F = problem.f.xreplace({x: c + y for x, c, y in zip(problem.variables, problem.point, u)})
    F = F - F.xreplace({y: 0 for y in u})
    F, roots = lift_roots(F, u)
    F = abs_form(F)
    cases: list[Case] = []
    branches = lift(F, _vanishes_at_zero(u, roots))
    for b, branch in enumerate(branches):
        for target, ge, eq, gens, label in _polar(branch, u, m, problem.norm, roots):
            cases.append(Case(poly_of(target, gens), _polys(ge, gens), _polys(eq, gens),
                              _names(gens), f"branch {b + 1}/{len(branches)}, {label}"))
            if len(cases) > MAX_CASES:
                raise UnsupportedFunction(f"more than {MAX_CASES} cases")
    return cases


def check_sharp_sos(claim: Mapping, m: sp.Expr, cert: Mapping) -> tuple[bool, str]:
    """Every case of :func:`sharp_cases` ``(claim, m)`` has its Psatz certificate."""
    return cases_hold(sharp_cases(claim, m), cert)


def cases_hold(cases: Sequence[Case], cert: Mapping) -> tuple[bool, str]:
    """Every case (derived from the claim) has its Psatz certificate in ``cert["cases"]``."""
    given = cert.get("cases")
    if not isinstance(given, list) or len(given) != len(cases):
        return False, (f"the statement has {len(cases)} cases, the certificate "
                       f"{len(given) if isinstance(given, list) else 'no list of'} cases")
    for i, (case, c) in enumerate(zip(cases, given)):
        if not isinstance(c, Mapping):
            return False, f"case {i + 1}: not a certificate"
        ok, why = check_psatz(case.target, case.gs, case.hs, c, len(case.names))
        if not ok:
            return False, f"case {i + 1}/{len(cases)} ({case.label}): {why}"
    return True, ""


def ball_case(p: Any, bound: sp.Expr) -> Case:
    """``bound - (f(x + u) - f(x)) >= 0`` on the ball of a
    :class:`verify.kernel.geometry.BallProblem` (module docstring)."""
    U, r = sp.Rational(bound), sp.Rational(p.r)
    if U != bound or r != p.r or not all(sp.Rational(c) == c for c in p.x):
        raise ValueError("the bound, the radius and the point must be rational")
    n, u = p.n, list(p.u)
    F = abs_form(p.f).xreplace({x: c + y for x, c, y in zip(p.variables, p.x, u)})
    F = F - F.xreplace({y: 0 for y in u})
    (branch,) = lift(F, lambda A, lifts: False)
    s = [sym for sym, _ in branch.lifts]
    gens = [*u, *s]
    ge = list(s)
    eq = [sym ** 2 - A ** 2 for sym, A in branch.lifts]
    if p.norm == "2":
        ge.append(r ** 2 - sum(y ** 2 for y in u))
    elif p.norm == "inf":
        ge += [r ** 2 - y ** 2 for y in u]
    else:
        ws = []
        for i, y in enumerate(u):
            w = next((sym for sym, A in branch.lifts if sp.expand(A - y) == 0 or
                      sp.expand(A + y) == 0), None)
            if w is None:
                w = sp.Symbol(f"_w{i}", real=True)
                gens.append(w)
                ge.append(w)
                eq.append(w ** 2 - y ** 2)
            ws.append(w)
        ge.append(r - sum(ws))
    target = U - branch.expr
    return Case(poly_of(target, gens), _polys(ge, gens), _polys(eq, gens), _names(gens),
                f"ball ({p.norm}-norm)")


def ball_sos_bound(p: Any, cert: Mapping) -> sp.Rational:
    """The exact bound U that an ``sos`` certificate ``{bound U, blocks, multipliers}`` proves
    for sup over the ball of f(y) - f(x) (raises ValueError when it does not check)."""
    from verify.kernel.facts import parse_constant

    U = parse_constant(cert["bound"])
    if not U.is_Rational:
        raise ValueError("the bound must be rational")
    case = ball_case(p, U)
    ok, why = check_psatz(case.target, case.gs, case.hs, cert, len(case.names))
    if not ok:
        raise ValueError(f"sos upper bound: {why}")
    return U


def ball_sos_upper(p: Any, cert: Mapping) -> float:
    """A float >= the bound of :func:`ball_sos_bound`."""
    U = ball_sos_bound(p, cert)
    up = float(U)
    return math.nextafter(up, math.inf) if Fraction(up) < Fraction(int(U.p), int(U.q)) else up


@checker("sharp-sos")
def _check_sharp_sos(claim: Mapping, status: str, cert: Mapping) -> tuple[bool, str]:
    """A sharp-sos certificate proves what a sharp-smt certificate proves (the same claim
    kinds and modulus rules, :mod:`verify.kernel.sharp`)."""
    from verify.kernel.sharp import check_sharpness

    return check_sharpness(claim, status, cert)


# --------------------------------------------------------------------------------------------
# forall claims in several variables
# --------------------------------------------------------------------------------------------

def _nonnegative_parts(cond: Any, where: str) -> tuple[list, list]:
    """(expressions >= 0, expressions = 0) whose conjunction is ``cond`` (a strict inequality
    is weakened to >= 0, which only enlarges a hypothesis's set); UnsupportedFunction for
    anything else (or, not, !=)."""
    if isinstance(cond, sp.And):
        ge, eq = [], []
        for a in cond.args:
            g, e = _nonnegative_parts(a, where)
            ge += g
            eq += e
        return ge, eq
    if isinstance(cond, (sp.GreaterThan, sp.StrictGreaterThan)):
        return [cond.lhs - cond.rhs], []
    if isinstance(cond, (sp.LessThan, sp.StrictLessThan)):
        return [cond.rhs - cond.lhs], []
    if isinstance(cond, sp.Eq):
        return [], [cond.lhs - cond.rhs]
    if cond is sp.true:
        return [], []
    raise UnsupportedFunction(f"{where} {cond} is not a conjunction of (in)equalities")


#: a forall statement with at most this many Abs (Max, Min) is split into branches
FORALL_SPLIT_KINKS = 6


def forall_cases(claim: Mapping[str, Any]) -> list[Case]:
    """The statements of a ``forall`` claim for Psatz certificates: for each conjunct
    ``p >= 0`` of the conclusion (an equation p = 0 gives p >= 0 and -p >= 0; a strict conclusion
    is refused), "p >= 0 on the set of the hypotheses" (strict ones weakened to >= 0, equations
    kept, the assumed signs of the variables added). A square root sqrt(g) becomes a variable
    r with r >= 0 and r^2 = g (a Euclidean norm, for instance). Abs, Max and Min are split into
    branches
    (the argument's sign a hypothesis of each) when there are at most
    :data:`FORALL_SPLIT_KINKS`, else lifted (``s >= 0, s^2 = A^2``). Polynomials with rational
    coefficients only."""
    from verify.kernel.facts import forall_parts

    variables, hyps, concl = forall_parts(claim)
    ge, eq = [], []
    for h in hyps:
        g, e = _nonnegative_parts(h, "the hypothesis")
        ge += g
        eq += e
    for v in variables:
        if v.is_positive or v.is_nonnegative:
            ge.append(v)
        elif v.is_negative:
            ge.append(-v)
    targets = []
    for part in (concl.args if isinstance(concl, sp.And) else (concl,)):
        if isinstance(part, (sp.StrictGreaterThan, sp.StrictLessThan)) or not isinstance(
                part, (sp.GreaterThan, sp.LessThan, sp.Eq)):
            raise UnsupportedFunction(f"the conclusion {part} is not a non-strict inequality "
                                      "or an equation")
        g, e = _nonnegative_parts(part, "the conclusion")
        targets += g + e + [-x for x in e]
    plain = {v: sp.Symbol(v.name, real=True) for v in variables}
    exprs = [e.xreplace(plain) for e in targets + ge + eq]
    # square roots lifted: sqrt(g) = r with r >= 0, r^2 = g (innermost first)
    roots: list[tuple[sp.Symbol, sp.Expr]] = []
    while True:
        node = next((a for e in exprs for a in sp.postorder_traversal(e)
                     if a.is_Pow and a.exp == sp.Rational(1, 2) and a.base.free_symbols), None)
        if node is None:
            break
        r = sp.Symbol(f"_r{len(roots)}", real=True)
        roots.append((r, node.base))
        exprs = [e.xreplace({node: r}) for e in exprs]
    ge += [r for r, _ in roots]
    eq += [r ** 2 - g for r, g in roots]
    exprs += [r for r, _ in roots] + [r ** 2 - g for r, g in roots]
    n_extra_ge = len(roots)
    exprs = sp.Tuple(*[abs_form(e) for e in exprs])
    kinks = len(exprs.atoms(sp.Abs))
    # few kinks: split them (each branch a plain polynomial statement); many: lift them
    branches = lift(exprs, lambda A, lifts: kinks <= FORALL_SPLIT_KINKS)
    n_t, n_g, n_e = len(targets), len(ge) - n_extra_ge, len(eq) - n_extra_ge
    cases = []
    for b, branch in enumerate(branches):
        gens = tuple(plain[v] for v in variables) + tuple(r for r, _ in roots) + \
            tuple(s for s, _ in branch.lifts)
        if not gens:
            raise UnsupportedFunction("a statement about constants has no Psatz certificate")
        lifted = list(branch.expr)
        tail = lifted[n_t + n_g + n_e:]
        gs = lifted[n_t:n_t + n_g] + tail[:n_extra_ge] + [s for s, _ in branch.lifts] + \
            list(branch.conds)
        hs = lifted[n_t + n_g:n_t + n_g + n_e] + tail[n_extra_ge:] + \
            [s ** 2 - A ** 2 for s, A in branch.lifts]
        for i, t in enumerate(lifted[:n_t]):
            cases.append(Case(poly_of(t, gens), _polys(gs, gens), _polys(hs, gens),
                              _names(gens), f"branch {b + 1}/{len(branches)}, conclusion "
                                            f"part {i + 1}/{n_t}"))
    return cases


@checker("psatz")
def _check_forall_psatz(claim: Mapping, status: str, cert: Mapping) -> tuple[bool, str]:
    """``{cases}``: one Psatz certificate per case of :func:`forall_cases`."""
    if status != "proved":
        return False, "Psatz certificates prove"
    return cases_hold(forall_cases(claim), cert)
