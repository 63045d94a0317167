"""Convex cone bounds for sharp minimizers (Dominguez Corella, Definition 1).

For a *convex* f the difference quotient (f(p + t h) - f(p)) / t is nondecreasing in t > 0,
so its infimum is the one-sided directional derivative sigma(h) = f'(p; h), and

    f(x) >= f(p) + m ||x - p|| for all x   <=>   sigma(h) >= m ||h|| for all h
                                           <=>   m B_* is contained in the subdifferential,

where B_* is the unit ball of the dual norm; alpha* = min over ||h|| = 1 of sigma(h). This
module recognises convexity by its own rules, computes sigma exactly, and checks certificates
of the cone inequality with exact rational arithmetic (:class:`fractions.Fraction`).

**Convexity rules** (:func:`analyze`; anything else is "not recognised", never "convex"):
rational constants and variables are affine; a polynomial of degree <= 2 is convex when its
Hessian is positive semidefinite (exact LDL^T) and nonnegative when its homogenised matrix is;
``sqrt`` of a nonnegative quadratic is convex (a Euclidean norm of an affine map); a
nonnegative combination of convex terms, a negative multiple of a concave one, ``Max`` of
convex and ``Min`` of concave terms; ``Abs(g)`` for g affine, convex and nonnegative, or
concave and nonpositive; ``g**n`` for an affine g and even n, or a nonnegative convex g.

**sigma** (:class:`Form`): the chain rules of directional derivatives at p, exactly, give a
positively homogeneous convex function of h written as a tree: a linear form, plus positive
multiples of maxima of subtrees (an ``Abs`` whose argument vanishes at p is the maximum of
a.h and -a.h; a ``Max`` keeps its active arguments), plus positive multiples of
sqrt(h^T Q h) (a norm whose argument vanishes at p). Values at p must be rational (an
irrational value, e.g. sqrt(2) from a norm, is not supported). The subdifferential is the
set of sums  sum_F w_F lin_F  over the tree's forms F, with weights w >= 0 that start at 1
at the root and split, at each maximum of coefficient c under a form of weight w, into
children weights summing to c w (Minkowski sums and convex hulls).

**Certificate** ``convex-cone`` ``{modulus, norm proof, upper?}`` proves alpha* >= modulus:

* norm ``inf`` (dual ball = cross-polytope): ``members``, weights putting +-m e_i in the
  subdifferential, i = 1..d;
* norm ``1`` (dual ball = cube): ``affine`` ``{base, slopes}``, weights w(s) = base +
  sum_i s_i slopes_i that put m s in the subdifferential for *every* sign vector s at once
  (affine in s, so the equations are checked on base and slopes and w(s) >= 0 as
  base >= sum_i |slopes_i|), or ``members``, one weight list per vertex (2^d of them);
* norm ``2``: ``slemma`` ``{products, equalities}``, a degree-2 S-lemma certificate that
  L(z)^2 - m^2 ||h||^2 - sum lambda_pq l_p(z) l_q(z) - sum nu_k e_k(z) is a positive
  semidefinite quadratic form (exact LDL^T), where z lifts every maximum to a variable t with
  linear constraints l(z) = t - (child) >= 0 and every norm to e >= 0, lambda >= 0, and
  e_k are the valid equalities (the product of the two constraints of a two-child maximum,
  e^2 - h^T Q h). At the true lifted values it gives sigma(h)^2 >= m^2 ||h||^2; sigma is
  continuous and nonzero on R^d minus 0 (connected for d >= 2), and sigma(h) + sigma(-h) >= 0,
  so sigma > 0 there and sigma >= m ||h||. In one variable every norm is |h|: use ``inf``.
  Or ``via: "1"`` with a norm-``1`` proof (``affine`` or ``members``, a rational m):
  sigma(h) >= m ||h||_1 >= m ||h||_2;
* any norm: ``reduced-smt`` ``{texts}``, the sharp-smt queries of the *reduced* claim
  sigma(h) >= m ||h|| (f replaced by sigma, the point by 0), re-generated here and refuted by
  z3 and cvc5.

``upper`` ``{direction}``: alpha* <= sigma(h) / ||h|| (the ratio tends to it along p + t h),
checked exactly; with it a ``sharpness-modulus`` claim alpha* = v is proved (modulus >= v,
upper <= v). A modulus > v refutes alpha* = v; for the other kinds the certificate proves
sharpness with the claimed modulus (tilt-stable, lipschitz-stable: with the radius, Proposition
1 and Theorem 2). Refutations go through the ``point`` certificate of :mod:`.sharp`.
"""

from __future__ import annotations

from fractions import Fraction
from functools import lru_cache
from typing import Any, Mapping, Sequence

import sympy as sp

from verify.kernel import checker, require
from verify.kernel.facts import parse_constant, sign_holds
from verify.kernel.sharp import _FIELD, KINDS, Problem, sharp_queries
from verify.kernel.smt import confirm_unsat

Vector = tuple  # of Fraction


class NotRecognised(ValueError):
    """f is outside what the rules recognise (not shown convex, or irrational data)."""


# --------------------------------------------------------------------------------------------
# exact linear algebra
# --------------------------------------------------------------------------------------------

def psd(matrix: Sequence[Sequence[Any]]) -> bool:
    """Is the symmetric rational matrix positive semidefinite? (exact LDL^T, no pivoting: a
    zero pivot needs a zero row)"""
    a = [[Fraction(v) for v in row] for row in matrix]
    n = len(a)
    if any(len(row) != n for row in a) or any(a[i][j] != a[j][i] for i in range(n)
                                              for j in range(i)):
        return False
    for k in range(n):
        pivot = a[k][k]
        if pivot < 0:
            return False
        if pivot == 0:
            if any(a[k][j] != 0 for j in range(k + 1, n)):
                return False
            continue
        row = a[k]
        for i in range(k + 1, n):
            factor = a[i][k] / pivot
            if factor:
                ai = a[i]
                for j in range(k + 1, n):
                    if row[j]:
                        ai[j] -= factor * row[j]
    return True


def _dot(a: Sequence[Fraction], b: Sequence[Fraction]) -> Fraction:
    return sum((x * y for x, y in zip(a, b)), Fraction(0))


def _rational(value: Any) -> Fraction:
    """A certificate number: an int, or a string "p/q" (or an exact decimal)."""
    if isinstance(value, bool) or not isinstance(value, (int, str, Fraction)):
        raise ValueError(f"{value!r} is not a rational number")
    return Fraction(value)


def _sqrt_rational(q: Fraction) -> Fraction:
    from math import isqrt

    if q < 0:
        raise NotRecognised("square root of a negative number")
    a, b = isqrt(q.numerator), isqrt(q.denominator)
    if a * a != q.numerator or b * b != q.denominator:
        raise NotRecognised(f"sqrt({q}) is irrational")
    return Fraction(a, b)


# --------------------------------------------------------------------------------------------
# the directional derivative as a tree
# --------------------------------------------------------------------------------------------

class Form:
    """lin.h + sum_k c_k OP_k(children_k)(h) + sum_b c_b sqrt(h^T Q_b h): a positively
    homogeneous function of h (OP max for convex parts, min for concave ones)."""

    __slots__ = ("lin", "parts", "balls")

    def __init__(self, lin: Vector, parts: tuple = (), balls: tuple = ()):
        self.lin = tuple(lin)
        self.parts = tuple(parts)      # (c > 0, "max" | "min", (Form, ...))
        self.balls = tuple(balls)      # (c > 0, Q: tuple of rows)

    def __add__(self, other: "Form") -> "Form":
        return Form(tuple(a + b for a, b in zip(self.lin, other.lin)),
                    self.parts + other.parts, self.balls + other.balls)

    def scale(self, c: Fraction) -> "Form":
        if c == 0:
            return Form((Fraction(0),) * len(self.lin))
        if c > 0:
            return Form(tuple(c * a for a in self.lin), tuple((c * k, op, ch) for k, op, ch
                                                              in self.parts),
                        tuple((c * k, Q) for k, Q in self.balls))
        if self.balls:
            raise NotRecognised("a negative multiple of a norm is concave")
        flip = {"max": "min", "min": "max"}
        return Form(tuple(c * a for a in self.lin),
                    tuple((-c * k, flip[op], tuple(ch.scale(Fraction(-1)) for ch in kids))
                          for k, op, kids in self.parts))

    def value(self, h: Sequence[Fraction]) -> Fraction:
        """sigma(h) exactly (no norms: they are irrational in general)."""
        if self.balls:
            raise ValueError("sigma with a norm term is not rational")
        out = _dot(self.lin, h)
        for c, op, kids in self.parts:
            values = [ch.value(h) for ch in kids]
            out += c * (max(values) if op == "max" else min(values))
        return out

    def text(self, names: Sequence[str]) -> str:
        """sigma as formula text in the variable names (for reports; no SymPy)."""
        def rat(q: Fraction) -> str:
            return str(q.numerator) if q.denominator == 1 else \
                f"({q.numerator}/{q.denominator})"

        terms = [f"{rat(a)}*{s}" for a, s in zip(self.lin, names) if a]
        for c, op, kids in self.parts:
            inner = ", ".join(ch.text(names) for ch in kids)
            terms.append(f"{rat(c)}*{'Max' if op == 'max' else 'Min'}({inner})")
        for c, Q in self.balls:
            quad = " + ".join(f"{rat(Q[i][j])}*{names[i]}*{names[j]}"
                              for i in range(len(names)) for j in range(len(names))
                              if Q[i][j]) or "0"
            terms.append(f"{rat(c)}*sqrt({quad})")
        return " + ".join(terms) or "0"

    def expr(self, hs: Sequence[sp.Symbol]) -> sp.Expr:
        """sigma as a SymPy expression in the symbols ``hs``."""
        def rat(q: Fraction) -> sp.Rational:
            return sp.Rational(q.numerator, q.denominator)

        out = sum((rat(a) * s for a, s in zip(self.lin, hs)), sp.Integer(0))
        for c, op, kids in self.parts:
            fn = sp.Max if op == "max" else sp.Min
            out += rat(c) * fn(*[ch.expr(hs) for ch in kids], evaluate=False)
        for c, Q in self.balls:
            out += rat(c) * sp.sqrt(sum(rat(Q[i][j]) * hs[i] * hs[j] for i in range(len(hs))
                                        for j in range(len(hs))))
        return out


def _zero(d: int) -> Vector:
    return (Fraction(0),) * d


class _Info:
    """What the rules know of a subexpression: curvature, sign, value at p, sigma."""

    __slots__ = ("curv", "sign", "value", "form")

    def __init__(self, curv: str, sign: int, value: Fraction, form: Form):
        self.curv, self.sign, self.value, self.form = curv, sign, value, form


def _sign_of(value: Fraction) -> int:
    return 1 if value > 0 else (-1 if value < 0 else 0)


class _Quadratic:
    """c0 + b.x + x^T Q x with rational data (a polynomial of degree <= 2)."""

    def __init__(self, d: int, poly: dict):
        self.c0 = poly.get((), Fraction(0))
        self.b = [Fraction(0)] * d
        self.Q = [[Fraction(0)] * d for _ in range(d)]
        for mono, c in poly.items():
            if len(mono) == 1:
                self.b[mono[0]] += c
            elif len(mono) == 2:
                i, j = mono
                if i == j:
                    self.Q[i][i] += c
                else:
                    self.Q[i][j] += c / 2
                    self.Q[j][i] += c / 2

    def homogenised(self) -> list:
        d = len(self.b)
        return [self.Q[i] + [self.b[i] / 2] for i in range(d)] + \
            [[v / 2 for v in self.b] + [self.c0]]

    def at(self, p: Sequence[Fraction]) -> Fraction:
        return self.c0 + _dot(self.b, p) + sum(p[i] * _dot(self.Q[i], p) for i in range(len(p)))

    def gradient(self, p: Sequence[Fraction]) -> Vector:
        return tuple(self.b[i] + 2 * _dot(self.Q[i], p) for i in range(len(p)))


def nonnegative_quadratic(e: sp.Basic, variables: Sequence[sp.Symbol]) -> bool | None:
    """Is ``e`` >= 0 at every real point? Decided exactly (its homogenized matrix PSD) when
    ``e`` is a polynomial of degree <= 2 in ``variables`` with rational coefficients; None
    when it is not one."""
    poly = Analysis(variables, [Fraction(0)] * len(variables)).poly(e)
    if poly is None:
        return None
    return psd(_Quadratic(len(variables), poly).homogenised())


class Analysis:
    """Convexity (by the rules of the module docstring) and sigma = f'(p; .) of a claim's f."""

    def __init__(self, variables: Sequence[sp.Symbol], point: Sequence[Fraction]):
        self.variables = tuple(variables)
        self.index = {v: i for i, v in enumerate(self.variables)}
        self.point = tuple(point)
        self.d = len(self.variables)

    # polynomials of degree <= 2 -------------------------------------------------------------
    def poly(self, e: sp.Basic) -> dict | None:
        """e as {sorted variable-index tuple: coefficient} when it is a polynomial of degree
        <= 2 with rational coefficients; None otherwise."""
        if e.is_Symbol:
            return {(self.index[e],): Fraction(1)} if e in self.index else None
        if e.is_Rational:
            return {(): Fraction(int(e.p), int(e.q))}
        if e.is_Add:
            out: dict = {}
            for a in e.args:
                pa = self.poly(a)
                if pa is None:
                    return None
                for m, c in pa.items():
                    out[m] = out.get(m, Fraction(0)) + c
            return out
        if e.is_Mul:
            out = {(): Fraction(1)}
            for a in e.args:
                pa = self.poly(a)
                if pa is None:
                    return None
                out = self._times(out, pa)
                if out is None:
                    return None
            return out
        if e.is_Pow and e.exp.is_Integer and 0 <= int(e.exp) <= 2:
            base = self.poly(e.base)
            if base is None:
                return None
            out = {(): Fraction(1)}
            for _ in range(int(e.exp)):
                out = self._times(out, base)
                if out is None:
                    return None
            return out
        return None

    @staticmethod
    def _times(a: dict, b: dict) -> dict | None:
        out: dict = {}
        for ma, ca in a.items():
            for mb, cb in b.items():
                if not ca or not cb:
                    continue
                m = tuple(sorted(ma + mb))
                if len(m) > 2:
                    return None
                out[m] = out.get(m, Fraction(0)) + ca * cb
        return out

    def quadratic(self, q: _Quadratic) -> _Info:
        lin = q.gradient(self.point)
        value = q.at(self.point)
        neg = [[-v for v in row] for row in q.Q]
        if not any(v for row in q.Q for v in row):
            curv = "affine"
        elif psd(q.Q):
            curv = "convex"
        elif psd(neg):
            curv = "concave"
        else:
            raise NotRecognised("a quadratic with an indefinite Hessian")
        sign = _sign_of(value) if curv == "affine" and not any(q.b) else 0
        if curv == "convex" and psd(q.homogenised()):
            sign = 1
        elif curv == "concave" and psd([[-v for v in row] for row in q.homogenised()]):
            sign = -1
        return _Info(curv, sign, value, Form(lin))

    # the rules -----------------------------------------------------------------------------
    def info(self, e: sp.Basic) -> _Info:
        d = self.d
        poly = self.poly(e)
        if poly is not None:
            return self.quadratic(_Quadratic(d, poly))
        if e.is_Number:
            raise NotRecognised(f"the constant {e} is not rational")
        if e.is_Add:
            pooled, rest = [], []
            for a in e.args:
                (pooled if self.poly(a) is not None else rest).append(a)
            infos = [self.info(a) for a in rest]
            if pooled:
                infos.append(self.info(sp.Add(*pooled)))
            return self._sum(infos)
        if e.is_Mul:
            coeff, rest = e.as_coeff_Mul()
            if not coeff.is_Rational or rest.is_Mul:
                raise NotRecognised(f"not a rational multiple of one factor: {e}")
            return self._scaled(self.info(rest), Fraction(int(coeff.p), int(coeff.q)))
        if e.is_Pow:
            return self._power(e)
        if isinstance(e, sp.Abs):
            return self._abs(self.info(e.args[0]))
        if isinstance(e, (sp.Max, sp.Min)):
            return self._extremum([self.info(a) for a in e.args], isinstance(e, sp.Max))
        raise NotRecognised(f"no convexity rule for {type(e).__name__}")

    def _sum(self, infos: list) -> _Info:
        curvs = {i.curv for i in infos} - {"affine"}
        if len(curvs) > 1:
            raise NotRecognised("a sum of convex and concave terms")
        curv = curvs.pop() if curvs else "affine"
        signs = {i.sign for i in infos}
        sign = 1 if signs == {1} else (-1 if signs == {-1} else 0)
        form = infos[0].form
        for i in infos[1:]:
            form = form + i.form
        return _Info(curv, sign, sum((i.value for i in infos), Fraction(0)), form)

    def _scaled(self, inner: _Info, c: Fraction) -> _Info:
        flip = {"convex": "concave", "concave": "convex", "affine": "affine"}
        curv = inner.curv if c > 0 else flip[inner.curv]
        sign = inner.sign if c > 0 else -inner.sign
        return _Info(curv if c else "affine", sign if c else 0, c * inner.value,
                     inner.form.scale(c))

    def _power(self, e: sp.Pow) -> _Info:
        base, exp = e.base, e.exp
        if exp == sp.Rational(1, 2):
            poly = self.poly(base)
            if poly is None:
                raise NotRecognised(f"sqrt of a non-quadratic: {e}")
            q = _Quadratic(self.d, poly)
            if not psd(q.homogenised()):
                raise NotRecognised(f"sqrt of a quadratic that is not a squared norm: {e}")
            value = q.at(self.point)
            if value > 0:
                root = _sqrt_rational(value)
                grad = q.gradient(self.point)
                return _Info("convex", 1, root, Form(tuple(g / (2 * root) for g in grad)))
            # q(p) = 0 at a minimum of q >= 0: q(p + h) = h^T Q h
            Q = tuple(tuple(row) for row in q.Q)
            return _Info("convex", 1, Fraction(0), Form(_zero(self.d), (), ((Fraction(1), Q),)))
        if not exp.is_Integer or int(exp) < 1:
            raise NotRecognised(f"no convexity rule for the power {e}")
        n = int(exp)
        inner = self.info(base)
        v = inner.value
        slope = n * v ** (n - 1)
        if inner.curv == "affine" and n % 2 == 0:
            return _Info("convex", 1, v ** n, inner.form.scale(slope))
        if inner.curv in ("convex", "affine") and inner.sign == 1:
            return _Info("convex", 1, v ** n, inner.form.scale(slope))
        if inner.curv in ("concave", "affine") and inner.sign == -1 and n % 2 == 0:
            return _Info("convex", 1, v ** n, inner.form.scale(slope))
        raise NotRecognised(f"no convexity rule for the power {e}")

    def _abs(self, inner: _Info) -> _Info:
        v = inner.value
        if inner.curv == "affine":
            if v != 0:
                return _Info("convex", 1, abs(v), inner.form.scale(Fraction(_sign_of(v))))
            a = inner.form
            return _Info("convex", 1, Fraction(0),
                         Form(_zero(self.d), ((Fraction(1), "max",
                                               (a, a.scale(Fraction(-1)))),)))
        if inner.curv == "convex" and inner.sign == 1:
            return inner
        if inner.curv == "concave" and inner.sign == -1:
            return self._scaled(inner, Fraction(-1))
        raise NotRecognised("Abs of an argument that is neither affine, convex and "
                            "nonnegative, nor concave and nonpositive")

    def _extremum(self, infos: list, is_max: bool) -> _Info:
        want = "convex" if is_max else "concave"
        if any(i.curv not in ("affine", want) for i in infos):
            raise NotRecognised(f"{'Max' if is_max else 'Min'} of a "
                                f"{'nonconvex' if is_max else 'nonconcave'} argument")
        best = max(i.value for i in infos) if is_max else min(i.value for i in infos)
        active = [i.form for i in infos if i.value == best]
        strong, weak = (1, -1) if is_max else (-1, 1)
        sign = strong if any(i.sign == strong for i in infos) else (
            weak if all(i.sign == weak for i in infos) else 0)
        form = active[0] if len(active) == 1 else Form(
            _zero(self.d), ((Fraction(1), "max" if is_max else "min", tuple(active)),))
        return _Info(want if len(infos) > 1 else infos[0].curv, sign, best, form)


class Cone:
    """sigma = f'(p; .) of a convex f, flattened: forms in preorder (0 is the root), each
    maximum as (owner form, coefficient, children form indices), each norm as (owner form,
    coefficient, Q)."""

    def __init__(self, root: Form, d: int):
        self.root, self.d = root, d
        self.forms: list[Form] = [root]
        self.hulls: list[tuple[int, Fraction, list[int]]] = []
        self.balls: list[tuple[int, Fraction, tuple]] = []
        self._flatten(0)

    def _flatten(self, fi: int) -> None:
        form = self.forms[fi]
        for c, Q in form.balls:
            self.balls.append((fi, c, Q))
        for c, op, kids in form.parts:
            if op != "max":
                raise NotRecognised("sigma of a convex f has only maxima")
            first = len(self.forms)
            self.forms.extend(kids)
            index = list(range(first, first + len(kids)))
            self.hulls.append((fi, c, index))
            for k in index:
                self._flatten(k)

    @property
    def polyhedral(self) -> bool:
        return not self.balls

    # membership of a vector in the subdifferential ------------------------------------------
    def residual(self, weights: Sequence[Fraction], root: Fraction = Fraction(1)
                 ) -> tuple[list[Fraction], Vector]:
        """(the hull balances, the vector sum_F w_F lin_F) for weights of the non-root forms;
        the balances are all zero exactly when the weights split correctly."""
        w = [root] + list(weights)
        if len(w) != len(self.forms):
            raise ValueError(f"{len(self.forms) - 1} weights expected, got {len(w) - 1}")
        balances = [sum((w[k] for k in kids), Fraction(0)) - c * w[fi]
                    for fi, c, kids in self.hulls]
        vector = [Fraction(0)] * self.d
        for wf, form in zip(w, self.forms):
            if wf:
                for i, a in enumerate(form.lin):
                    if a:
                        vector[i] += wf * a
        return balances, tuple(vector)

    def member(self, weights: Sequence[Fraction], target: Sequence[Fraction]) -> bool:
        """Do the weights (>= 0) put ``target`` in the subdifferential?"""
        if any(w < 0 for w in weights):
            return False
        balances, vector = self.residual(weights)
        return not any(balances) and vector == tuple(target)

    # the lifted quadratic forms of the S-lemma certificate ---------------------------------
    def lifted(self) -> tuple[int, list[dict], list[dict], list[dict]]:
        """z = (h, t per maximum, e per norm): (its size, L_F(z) per form, the constraints
        l_p(z) >= 0, the equalities e_k(z) = 0). Linear forms are {index: coefficient},
        quadratic forms {(i, j), i <= j: coefficient of z_i z_j}."""
        d, H = self.d, len(self.hulls)
        n = d + H + len(self.balls)
        linear = [{i: a for i, a in enumerate(form.lin) if a} for form in self.forms]
        for k, (fi, c, _) in enumerate(self.hulls):
            linear[fi][d + k] = linear[fi].get(d + k, Fraction(0)) + c
        for b, (fi, c, _) in enumerate(self.balls):
            linear[fi][d + H + b] = c
        constraints, equalities = [], []
        for k, (_, _, kids) in enumerate(self.hulls):
            rows = []
            for g in kids:
                row = {i: -a for i, a in linear[g].items()}
                row[d + k] = row.get(d + k, Fraction(0)) + 1
                rows.append(row)
            constraints.extend(rows)
            if len(rows) == 2:              # t = max of two: one of them is tight
                equalities.append(quadratic_product(rows[0], rows[1]))
        for b, (_, _, Q) in enumerate(self.balls):
            constraints.append({d + H + b: Fraction(1)})
            E = {(d + H + b, d + H + b): Fraction(1)}
            for i in range(d):
                for j in range(i, d):
                    c = Q[i][j] if i == j else 2 * Q[i][j]
                    if c:
                        E[(i, j)] = E.get((i, j), Fraction(0)) - c
            equalities.append(E)
        return n, linear, constraints, equalities


def quadratic_product(a: Mapping[int, Fraction], b: Mapping[int, Fraction]) -> dict:
    """The quadratic form (a.z)(b.z) as {(i, j), i <= j: coefficient}."""
    out: dict = {}
    for i, x in a.items():
        for j, y in b.items():
            key = (i, j) if i <= j else (j, i)
            out[key] = out.get(key, Fraction(0)) + x * y
    return out


def _add_to(acc: dict, form: Mapping, scale: Fraction) -> None:
    for key, c in form.items():
        acc[key] = acc.get(key, Fraction(0)) + scale * c


def symmetric_matrix(form: Mapping[tuple, Fraction], n: int) -> list[list[Fraction]]:
    """The symmetric matrix of a quadratic form {(i, j), i <= j: coefficient}."""
    S = [[Fraction(0)] * n for _ in range(n)]
    for (i, j), c in form.items():
        if i == j:
            S[i][i] += c
        else:
            S[i][j] += c / 2
            S[j][i] += c / 2
    return S


def slemma_target(cone: Cone, m2: Fraction) -> tuple[int, dict, list[dict], list[dict]]:
    """(size of z, L(z)^2 - m2 ||h||^2, the constraints, the equalities) of the S-lemma."""
    n, linear, constraints, equalities = cone.lifted()
    target = quadratic_product(linear[0], linear[0])
    for i in range(cone.d):
        target[(i, i)] = target.get((i, i), Fraction(0)) - m2
    return n, target, constraints, equalities


def analyze(claim: Mapping[str, Any]) -> tuple[Problem, Cone]:
    """The claim's f at its point, with sigma = f'(p; .) (Dominguez Corella, Definition 1: the
    cone condition of a sharp minimizer of a convex f). Raises NotRecognised when f is not
    shown convex by the rules or its data at the point are not rational.

    Remembered per (f, variables, point, norm) text: parsing a long ``Max`` is slow, and the
    decider's analysis and the kernel's check of the same claim then cost one."""
    key = (str(claim["f"]), tuple(claim["variables"]), tuple(str(c) for c in claim["point"]),
           str(claim.get("norm", "2")))
    return _analyze(*key)


@lru_cache(maxsize=64)
def _analyze(f: str, variables: tuple, point: tuple, norm: str) -> tuple[Problem, Cone]:
    problem = Problem({"f": f, "variables": list(variables), "point": list(point),
                       "norm": norm}, evaluate_extrema=False)
    f_at = problem.f
    if all(c.is_Rational for c in problem.point):
        p = [Fraction(int(c.p), int(c.q)) for c in problem.point]
    else:
        # an irrational point: f(p + u) as a function of u at 0 (the same cone, the same
        # convexity); recognised when the irrational constants cancel in the shift
        f_at = problem.f.xreplace({v: v + c for v, c in zip(problem.variables, problem.point)})
        p = [Fraction(0)] * len(problem.variables)
    info = Analysis(problem.variables, p).info(f_at)
    if info.curv not in ("convex", "affine"):
        raise NotRecognised("f is not shown convex")
    return problem, Cone(info.form, len(p))


# --------------------------------------------------------------------------------------------
# the norm proofs
# --------------------------------------------------------------------------------------------

def _unit(d: int, i: int, c: Fraction) -> Vector:
    return tuple(c if j == i else Fraction(0) for j in range(d))


def _weights(values: Sequence[Any]) -> list[Fraction]:
    return [_rational(v) for v in values]


def members_hold(cone: Cone, m: Fraction, norm: str, members: Sequence[Sequence[Any]]
                 ) -> tuple[bool, str]:
    """The listed weights put every vertex of m B_* in the subdifferential: +-m e_i in order
    (i = 1..d, + then -) for ``inf``, m s for the sign vectors s in binary order (s_1 slowest,
    + before -) for ``1``."""
    from itertools import product

    d = cone.d
    if norm == "inf":
        targets = [_unit(d, i, s * m) for i in range(d) for s in (1, -1)]
    else:
        if d > 16:
            return False, "too many vertices"
        targets = [tuple(s * m for s in signs) for signs in product((1, -1), repeat=d)]
    if len(members) != len(targets):
        return False, f"{len(targets)} weight lists expected, got {len(members)}"
    for target, weights in zip(targets, members):
        if not cone.member(_weights(weights), target):
            return False, f"the weights do not put {[str(t) for t in target]} in the " \
                          "subdifferential"
    return True, ""


def affine_holds(cone: Cone, m: Fraction, base: Sequence[Any], slopes: Sequence[Sequence[Any]]
                 ) -> tuple[bool, str]:
    """w(s) = base + sum_i s_i slopes_i puts m s in the subdifferential for every s in
    {-1, 1}^d: the balances vanish and the vectors are 0 and m e_i, and base >= sum |slopes|."""
    d = cone.d
    base_w = _weights(base)
    slope_w = [_weights(s) for s in slopes]
    if len(slope_w) != d:
        return False, f"{d} slopes expected"
    balances, vector = cone.residual(base_w)
    if any(balances) or any(vector):
        return False, "the base weights do not put 0 in the subdifferential"
    for i, s in enumerate(slope_w):
        balances, vector = cone.residual(s, root=Fraction(0))
        if any(balances) or vector != _unit(d, i, m):
            return False, f"slope {i + 1} does not move the vector by m e_{i + 1}"
    for j, b in enumerate(base_w):
        if b < sum((abs(s[j]) for s in slope_w), Fraction(0)):
            return False, f"weight {j + 1} can be negative at some vertex"
    return True, ""


def slemma_holds(cone: Cone, m2: Fraction, products: Sequence[Sequence[Any]],
                 equalities: Sequence[Sequence[Any]]) -> tuple[bool, str]:
    """L(z)^2 - m2 ||h||^2 - sum lambda_pq l_p l_q - sum nu_k e_k is PSD, with lambda >= 0.

    The products are summed as C^T Lambda C (C the constraint rows, Lambda the symmetric
    matrix of the halved multipliers), exactly in python-flint rationals."""
    n, rest, constraints, eqs = slemma_target(cone, m2)
    count = len(constraints)
    lam: dict[tuple[int, int], Fraction] = {}
    for p, q, value in products:
        value, p, q = _rational(value), int(p), int(q)
        if value < 0 or not (0 <= p < count and 0 <= q < count):
            return False, "a product multiplier is negative or names no constraint"
        for key, share in (((p, p), value),) if p == q else (((p, q), value / 2),
                                                            ((q, p), value / 2)):
            lam[key] = lam.get(key, Fraction(0)) + share
    for k, nu in equalities:
        nu, k = _rational(nu), int(k)
        if not 0 <= k < len(eqs):
            return False, "an equality multiplier names no equality"
        _add_to(rest, eqs[k], -nu)
    S = fmpq_matrix(symmetric_matrix(rest, n))
    if lam and count:
        C = fmpq_matrix([[row.get(j, Fraction(0)) for j in range(n)] for row in constraints])
        L = fmpq_matrix([[lam.get((p, q), Fraction(0)) for q in range(count)]
                          for p in range(count)])
        S = S - C.transpose() * L * C
    remainder = [[Fraction(int(S[i, j].p), int(S[i, j].q)) for j in range(n)]
                 for i in range(n)]
    return require(psd(remainder), "the remaining quadratic form is not positive semidefinite")


def fmpq_matrix(rows: Sequence[Sequence[Fraction]]) -> Any:
    """A python-flint rational matrix of rational rows."""
    import flint

    return flint.fmpq_mat(len(rows), len(rows[0]) if rows else 0,
                          [flint.fmpq(v.numerator, v.denominator) for row in rows for v in row])


def reduced_claim(claim: Mapping[str, Any], cone: Cone) -> dict[str, Any]:
    """The claim sigma(h) >= m ||h|| for all h: f replaced by sigma, the point by 0."""
    from verify.formula import make_symbols

    hs = make_symbols(claim["variables"])
    return {"variables": list(claim["variables"]), "f": str(cone.root.expr(hs)),
            "point": ["0"] * cone.d, "norm": str(claim.get("norm", "2"))}


def lower_bound_holds(claim: Mapping[str, Any], cone: Cone, m: sp.Expr, cert: Mapping
                      ) -> tuple[bool, str]:
    """Does ``cert`` prove sigma(h) >= m ||h|| for all h, i.e. alpha* >= m (Definition 1)?

    Membership proofs use the linear forms only: a norm term's ellipsoid contains 0, so what
    they put in the polyhedral part is in the subdifferential."""
    norm = str(claim.get("norm", "2"))
    if sign_holds(m, "=="):                   # alpha* >= 0: 0 is in the subdifferential
        return require("zero" in cert and cone.member(_weights(cert["zero"]),
                                                      _zero(cone.d)),
                       "the weights do not put 0 in the subdifferential")
    if not sign_holds(m, ">"):
        return False, "the modulus must be nonnegative"
    if "reduced-smt" in cert:
        texts = sharp_queries(reduced_claim(claim, cone), m)
        if list(cert["reduced-smt"]) != texts:
            return False, "the SMT texts are not the reduced claim's"
        return confirm_unsat(texts)
    via = cert.get("via")
    if via is not None and not (via == "1" and norm == "2"):
        return False, "only a 2-norm claim can go via the 1-norm (||h||_2 <= ||h||_1)"
    if via == "1" and cone.d > 1:              # sigma >= m ||h||_1 >= m ||h||_2
        norm = "1"
    if norm == "2" and cone.d > 1:
        m2 = sp.expand(m ** 2)
        if not m2.is_Rational or "slemma" not in cert:
            return False, "the 2-norm needs an S-lemma certificate with a rational m^2"
        proof = cert["slemma"]
        return slemma_holds(cone, Fraction(int(m2.p), int(m2.q)), proof.get("products", []),
                            proof.get("equalities", []))
    if not m.is_Rational:
        return False, "the membership proofs need a rational modulus"
    mq = Fraction(int(m.p), int(m.q))
    if "members" in cert:
        return members_hold(cone, mq, "1" if norm == "1" else "inf", cert["members"])
    if "affine" in cert and norm == "1":
        return affine_holds(cone, mq, cert["affine"]["base"], cert["affine"]["slopes"])
    return False, "no proof of the cone inequality for this norm"


def sharpness_holds(claim: Mapping[str, Any], cert: Mapping, at_least: sp.Expr
                    ) -> tuple[bool, str]:
    """``cert`` (convex-cone) proves f(x) >= f(p) + m ||x - p|| for all x with m >= at_least,
    for the f, point and norm of ``claim`` (a part of a larger certificate)."""
    if cert.get("kind") != "convex-cone":
        return False, f"expected a convex-cone certificate, got {cert.get('kind')!r}"
    m = parse_constant(cert["modulus"])
    if not sign_holds(m - at_least, ">="):
        return False, f"the certificate's modulus {m} is below {at_least}"
    try:
        _, cone = analyze(claim)
    except NotRecognised as exc:
        return False, f"f is not recognised as convex with rational data: {exc}"
    return lower_bound_holds(claim, cone, m, cert)


def upper_bound(problem: Problem, cone: Cone, direction: Sequence[Any]) -> sp.Expr:
    """sigma(h) / ||h|| >= alpha* for a nonzero rational h, exactly (raises otherwise)."""
    h = _weights(direction)
    if len(h) != cone.d or not any(h):
        raise ValueError("the direction must be a nonzero rational vector of the right length")
    sigma = cone.root.value(h)
    exact = [sp.Rational(c.numerator, c.denominator) for c in h]
    return sp.Rational(sigma.numerator, sigma.denominator) / problem.norm_of(exact)


@checker("convex-cone")
def _check_convex_cone(claim: Mapping, status: str, cert: Mapping) -> tuple[bool, str]:
    kind = claim.get("kind")
    if kind not in KINDS:
        return False, f"convex-cone certifies sharpness claims, not {kind!r}"
    try:
        problem, cone = analyze(claim)
    except NotRecognised as exc:
        return False, f"f is not recognised as convex with rational data: {exc}"
    value = parse_constant(claim[_FIELD[kind]])
    m = parse_constant(cert["modulus"])
    if kind == "sharpness-modulus" and status == "refuted":
        if not sign_holds(m - value, ">"):
            return False, "a refutation needs a proved modulus above the claimed value"
    elif status != "proved":
        return False, "convex-cone proves sharpness (or refutes a too small alpha*)"
    elif not sign_holds(m - value, ">="):
        return False, f"the certificate's modulus {m} is below {value}"
    ok, reason = lower_bound_holds(claim, cone, m, cert)
    if not ok:
        return False, reason
    if kind == "sharpness-modulus" and status == "proved":
        if "upper" not in cert:
            return False, "alpha* = v needs an upper bound too"
        upper = upper_bound(problem, cone, cert["upper"]["direction"])
        return require(sign_holds(upper - value, "<="), f"the upper bound {upper} exceeds "
                                                         f"{value}")
    return True, ""
