"""Kernel obligations of the geometry of flat minima (Josz) and of conserved quantities.

The maximal variation f°(x, r) = sup over the closed ball ||y - x|| <= r of f(y) - f(x)
(normalized by r^2 or by 1 + f(x) when the claim says so) is bounded by certificates the kernel
re-evaluates in python-flint ball arithmetic:

* lower bounds: ``witness`` ``{u}`` (a rational offset inside the ball, checked exactly) or
  ``{w}`` in the polar coordinates of the ball (radius <= r, any angles): f° >= F(witness);
* upper bounds: ``enclosure`` ``{coordinates, tree}``: a subdivision of the ball's coordinate
  boxes given as a preorder code (``L`` a leaf, a digit k a bisection of coordinate k, ``X`` a
  box that misses the ball, checked), every leaf bounded by the natural interval extension and
  the mean-value form F(c) + grad F(B).(B - c) (continuous f only); ``taylor`` (polynomials:
  exact Taylor pieces P_k of F, sup |P_k| <= r^k S_k with S_2 = lambda_max/2 certified by an
  exact rational Cholesky factorization); ``exact-1d`` (a polynomial in one variable: the end
  points and the real roots of f' isolated exactly by SymPy); ``sos`` ``{bound U, blocks,
  multipliers}`` (piecewise polynomial f, any dimension: a Positivstellensatz certificate of
  U - F >= 0 on the ball, :mod:`verify.kernel.sos`; against ``at_most`` U is compared
  exactly); ``zero-radius``.

Claims: ``max-variation`` (at_most: an upper certificate; at_least: a witness; refuted by the
other side), ``flatter`` (rule fixed: f°(x, r) <= f°(y, r) from an upper bound at x and a
witness at y; all-radii refuted at one radius; ratio-limit by the certified leading orders,
recomputed here, for C^2 f), ``conserved-quantity`` (<grad q, grad f> identically zero, or not
zero at a rational point).
"""

from __future__ import annotations

import math
from fractions import Fraction
from typing import Any, Callable, Mapping, Sequence

import flint
import numpy as np
import sympy as sp

from verify.kernel import checker, require
from verify.kernel.balls import arb_compile, arb_eval, arb_hi, arb_lo, rational_point, to_fmpq
from verify.kernel.facts import identically_zero, parse, parse_constant, sign_holds

INTERVAL_PRECISION = 64  # bits of the ball arithmetic on boxes
NORMS = ("2", "inf", "1")


class BallProblem:
    """F(u) = f(x + u) - f(x) on the ball ||u|| <= r, with exact rational x and r."""

    def __init__(self, f: sp.Expr, variables: Sequence[sp.Symbol], x: Sequence[sp.Expr],
                 r: sp.Expr, norm: str):
        self.variables = tuple(variables)
        self.n = len(self.variables)
        if len(x) != self.n:
            raise ValueError(f"the point has {len(x)} coordinates, f has {self.n} variables")
        if norm not in NORMS:
            raise ValueError(f"norm must be '2', 'inf' or '1', got {norm!r}")
        self.f, self.norm, self.x, self.r = f, norm, list(x), r
        if not (self.r.is_real and self.r >= 0):
            raise ValueError(f"the radius must be a nonnegative number, got {r}")
        self.fx = arb_eval(f, dict(zip(self.variables, self.x)))
        self.u = sp.symbols(f"_u0:{self.n}", real=True)
        self.shifted = f.subs(dict(zip(self.variables, [xi + ui for xi, ui in
                                                        zip(self.x, self.u)])),
                              simultaneous=True)
        self.polar = norm == "2" and self.n >= 2

    def value(self, u: Sequence[sp.Rational]) -> Any:
        """Ball enclosure of F at a rational offset."""
        y = dict(zip(self.variables, [xi + ui for xi, ui in zip(self.x, u)]))
        return arb_eval(self.f, y) - self.fx

    def inside(self, u: Sequence[sp.Rational]) -> bool:
        """Exact test ||u|| <= r."""
        if self.norm == "2":
            return sum(c ** 2 for c in u) <= self.r ** 2
        if self.norm == "inf":
            return all(abs(c) <= self.r for c in u)
        return sum(abs(c) for c in u) <= self.r


def problem_from_claim(claim: Mapping, point_key: str = "point", radius: Any = None
                       ) -> BallProblem:
    from verify.formula import make_symbols

    variables = make_symbols(claim["variables"])
    f = parse(claim["f"], variables)
    x = [parse_constant(c) for c in claim[point_key]]
    r = parse_constant(claim["radius"] if radius is None else radius)
    return BallProblem(f, variables, x, r, str(claim.get("norm", "2")))


# --------------------------------------------------------------------------------------------
# coordinates and boxes
# --------------------------------------------------------------------------------------------

def compile_objective(shifted: sp.Expr, u: tuple, polar: bool):
    """Coordinates w of the ball (polar: radius and angles in turns of pi; else the offsets),
    offsets u(w), and ball-arithmetic closures of F(w) = f(x + u(w)) and of its partials (None
    when f jumps or a partial cannot be evaluated: the natural extension alone is used)."""
    n = len(u)
    if polar:
        rho, *ts = sp.symbols(f"_rho _t0:{n - 1}", real=True)
        offsets, prod = [], rho
        for a in [sp.pi * t for t in ts]:
            offsets.append(prod * sp.cos(a))
            prod = prod * sp.sin(a)
        offsets.append(prod)
        w = (rho, *ts)
    else:
        w = sp.symbols(f"_w0:{n}", real=True)
        offsets = list(w)
    F_expr = shifted.subs(dict(zip(u, offsets)), simultaneous=True)
    objective = arb_compile(F_expr, w)  # ValueError: f has no ball-arithmetic evaluation
    partials = None
    if not any(a.free_symbols for a in F_expr.atoms(sp.sign)):  # sign jumps: no mean value
        try:
            partials = [arb_compile(sp.diff(F_expr, v), w) for v in w]
        except ValueError:
            partials = None
    return w, offsets, objective, partials


def initial_boxes(p: BallProblem) -> tuple[list, Callable | None]:
    """The initial boxes (rational bounds) of the coordinates of :func:`compile_objective`, and
    a test whether a box meets the ball (None when every box lies in it)."""
    r = to_fmpq(p.r)
    if p.polar:
        bounds = [(flint.fmpq(0), r)] + [(flint.fmpq(0), flint.fmpq(1))] * (p.n - 2) \
            + [(flint.fmpq(0), flint.fmpq(2))]
        lo, hi = bounds[-1]
        step = (hi - lo) / 8
        return [bounds[:-1] + [(lo + i * step, lo + (i + 1) * step)] for i in range(8)], None
    meets = None
    if p.norm == "1" and p.n >= 2:
        def meets(box):
            return sum((flint.fmpq(0) if lo <= 0 <= hi else min(abs(lo), abs(hi)))
                       for lo, hi in box) <= r
    return [[(-r, r)] * p.n], meets


def box_ball(lo: Any, hi: Any) -> Any:
    return flint.arb(lo).union(flint.arb(hi))


def box_bound(F: Callable, dF: list | None, box: Sequence, fx: Any) -> tuple[float, Any, list]:
    """(upper bound of F - f(x) over the box, the ball of F - f(x) at its centre, the
    mean-value contributions per coordinate); upper is inf where nothing finite is known."""
    mids = [(lo + hi) / 2 for lo, hi in box]
    balls = [box_ball(lo, hi) for lo, hi in box]
    centre = F([flint.arb(m) for m in mids]) - fx
    natural = F(balls) - fx
    up = arb_hi(natural) if natural.is_finite() else math.inf
    contrib = [0.0]
    if dF is not None:
        try:
            spread, contrib = flint.arb(0), []
            for d, (lo, hi) in zip(dF, box):
                g = d(balls)
                spread += g * (flint.arb((hi - lo) / 2) * flint.arb(0, 1))
                contrib.append(float(abs(g).upper()) * float((hi - lo) / 2))
            mean_value = centre + spread
            if mean_value.is_finite():
                up = min(up, arb_hi(mean_value))
        except ValueError:  # a partial is undefined on this box: the natural bound only
            contrib = [0.0]
    return up, centre, contrib


def halves(box: Sequence, k: int) -> tuple[list, list]:
    lo, hi = box[k]
    mid = (lo + hi) / 2
    left, right = list(box), list(box)
    left[k], right[k] = (lo, mid), (mid, hi)
    return left, right


def enclosure_upper(p: BallProblem, tree: str) -> float:
    """The largest leaf bound of the subdivision coded by ``tree`` (preorder: ``L`` leaf, digit
    k split along coordinate k, ``X`` a box that misses the ball). Raises ValueError when the
    code does not describe a complete subdivision of the initial boxes."""
    _, _, F, dF = compile_objective(p.shifted, p.u, p.polar)
    boxes, meets = initial_boxes(p)
    tokens = iter(tree)
    best = -math.inf
    old = flint.ctx.prec
    flint.ctx.prec = INTERVAL_PRECISION

    def walk(box):
        nonlocal best
        code = next(tokens)
        if code == "X":
            if meets is None or meets(box):
                raise ValueError("a box marked as missing the ball meets it")
            return
        if code == "L":
            up = box_bound(F, dF, box, p.fx)[0]
            best = max(best, up)
            return
        k = int(code)
        if not 0 <= k < len(box):
            raise ValueError(f"no coordinate {k}")
        for half in halves(box, k):
            walk(half)

    try:
        for box in boxes:
            walk(box)
        if next(tokens, None) is not None:
            raise ValueError("the tree code is longer than its subdivision")
    except StopIteration:
        raise ValueError("the tree code ends before its subdivision does") from None
    finally:
        flint.ctx.prec = old
    return best


def exact_1d(p: BallProblem) -> tuple[float, float, int]:
    """sup F over [x - r, x + r] for a polynomial in one variable: end points and the real
    roots of f' isolated exactly (SymPy), each enclosed in ball arithmetic."""
    v = p.variables[0]
    a, b = p.x[0] - p.r, p.x[0] + p.r
    candidates = [p.value([-p.r]), p.value([p.r])]
    derivative = sp.Poly(sp.diff(p.f, v), v)
    roots = 0
    if not derivative.is_zero:
        old = flint.ctx.prec
        flint.ctx.prec = 128
        try:
            F = arb_compile(p.f, [v])
            for (lo, hi), _ in derivative.intervals(inf=a, sup=b, eps=sp.Rational(1, 10 ** 12)):
                roots += 1
                candidates.append(F([box_ball(to_fmpq(lo), to_fmpq(hi))]) - p.fx)
        finally:
            flint.ctx.prec = old
    return max(arb_lo(c) for c in candidates), max(arb_hi(c) for c in candidates), roots


def cholesky_positive(A: list[list[Fraction]]) -> bool:
    """Exact test that a symmetric rational matrix is positive definite (LDL^T)."""
    n = len(A)
    A = [row[:] for row in A]
    for k in range(n):
        if A[k][k] <= 0:
            return False
        for i in range(k + 1, n):
            factor = A[i][k] / A[k][k]
            if factor:
                for j in range(k + 1, n):
                    A[i][j] -= factor * A[k][j]
    return True


def certified_lambda_max_upper(H: sp.Matrix) -> float:
    """A float certainly >= lambda_max of a symmetric rational matrix: the numerical value plus
    a margin, certified by an exact Cholesky test of mu I - H."""
    Hq = [[Fraction(int(sp.Rational(c).p), int(sp.Rational(c).q)) for c in H.row(i)]
          for i in range(H.rows)]
    lam = float(np.linalg.eigvalsh(np.array(H.tolist(), dtype=float))[-1])
    scale = max(1.0, float(np.abs(np.array(H.tolist(), dtype=float)).max()))
    for margin in (1e-12, 1e-9, 1e-6, 1e-3, 1.0):
        mu = Fraction(lam + margin * scale).limit_denominator(10 ** 15)
        A = [[(mu if i == j else 0) - Hq[i][j] for j in range(H.rows)] for i in range(H.rows)]
        if cholesky_positive(A):
            return math.nextafter(float(mu), math.inf) if float(mu) < mu else float(mu)
    return math.inf


def taylor_upper(p: BallProblem) -> float:
    """sup_{||u|| <= r} F(u) <= sum_k r^k S_k for a polynomial F = sum_k P_k: S_1 = ||grad||,
    S_2 = lambda_max(H)/2 (exact Cholesky), S_k = sum |c_a| prod (a_i/|a|)^(a_i/2) for k >= 3;
    r is the Euclidean radius of the ball (r sqrt(n) for the inf-norm ball)."""
    poly = sp.Poly(sp.expand(p.shifted - p.f.subs(dict(zip(p.variables, p.x)))), *p.u)
    r2 = {"2": p.r, "inf": p.r * sp.sqrt(p.n), "1": p.r}[p.norm]
    by_degree: dict[int, list] = {}
    for monom, coeff in poly.terms():
        by_degree.setdefault(sum(monom), []).append((monom, coeff))
    old = flint.ctx.prec
    flint.ctx.prec = 128
    try:
        total = flint.arb(0)
        radius = arb_eval(r2, {}) if not r2.is_Rational else flint.arb(to_fmpq(r2))
        for k, terms in sorted(by_degree.items()):
            if k == 0:
                continue
            if k == 1:
                s = sum((flint.arb(to_fmpq(c)) ** 2 for _, c in terms), flint.arb(0)).sqrt()
            elif k == 2:
                H = sp.zeros(p.n, p.n)
                for monom, c in terms:
                    idx = [i for i, e in enumerate(monom) for _ in range(e)]
                    if idx[0] == idx[1]:
                        H[idx[0], idx[0]] = 2 * c
                    else:
                        H[idx[0], idx[1]] = H[idx[1], idx[0]] = c
                s = flint.arb(max(certified_lambda_max_upper(H), 0.0) / 2)
            else:
                s = flint.arb(0)
                for monom, c in terms:
                    num = math.prod(e ** e for e in monom if e)
                    s += abs(flint.arb(to_fmpq(c))) * (flint.arb(num) / flint.arb(k) ** k).sqrt()
            total += radius ** k * s.max(flint.arb(0))
        return arb_hi(total)
    finally:
        flint.ctx.prec = old


def upper_of(p: BallProblem, cert: Mapping) -> float:
    """The upper bound of f°(x, r) a certificate establishes (raises when it does not check)."""
    kind = cert.get("kind")
    if kind == "zero-radius":
        if p.r != 0:
            raise ValueError("the radius is not zero")
        return 0.0
    if kind == "enclosure":
        if cert.get("coordinates") != ("polar" if p.polar else "box"):
            raise ValueError("the coordinates do not match the norm and dimension")
        return enclosure_upper(p, cert["tree"])
    if kind == "taylor":
        if not p.f.is_polynomial(*p.variables):
            raise ValueError("the Taylor bound needs a polynomial")
        return taylor_upper(p)
    if kind == "exact-1d":
        if not (p.n == 1 and p.f.is_polynomial(*p.variables)):
            raise ValueError("exact-1d needs a polynomial in one variable")
        return exact_1d(p)[1]
    if kind == "sos":
        from verify.kernel.sos import ball_sos_upper

        return ball_sos_upper(p, cert)
    raise ValueError(f"unknown upper-bound certificate {kind!r}")


def sos_at_most(claim: Mapping, p: BallProblem, cert: Mapping, value: sp.Expr
                ) -> tuple[bool, str]:
    """An ``sos`` upper certificate against ``at_most``, exactly: its bound U (checked by
    :func:`verify.kernel.sos.ball_sos_bound`) satisfies U <= at_most * divisor."""
    from verify.kernel.sos import ball_sos_bound

    U = ball_sos_bound(p, cert)
    how = claim.get("normalization", "none")
    d = sp.Integer(1) if how == "none" else p.r ** 2 if how == "r2" else \
        1 + p.f.subs(dict(zip(p.variables, p.x)))
    if not sign_holds(d, ">"):
        return False, "the normalization divides by a number that is not positive"
    return require(sign_holds(value * d - U, ">="),
                   f"the sos bound {U} exceeds at_most {value} (times the normalization)")


def lower_of(p: BallProblem, cert: Mapping) -> float:
    """The lower bound of f°(x, r) a witness establishes (f° >= 0 always: y = x)."""
    if cert.get("kind") != "witness":
        raise ValueError(f"expected a witness, got {cert.get('kind')!r}")
    if "u" in cert:
        u = [parse_constant(c) for c in cert["u"]]
        if not all(c.is_Rational for c in u) or len(u) != p.n or not p.inside(u):
            raise ValueError("the witness offset is not a rational point of the ball")
        return max(arb_lo(p.value(u)), 0.0)
    w = [sp.Rational(parse_constant(c)) for c in cert["w"]]
    if not p.polar or len(w) != p.n or not (0 <= w[0] <= p.r):
        raise ValueError("the polar witness is not a point of the ball")
    _, _, F, _ = compile_objective(p.shifted, p.u, True)
    old = flint.ctx.prec
    flint.ctx.prec = INTERVAL_PRECISION
    try:
        value = F([flint.arb(to_fmpq(c)) for c in w]) - p.fx
    finally:
        flint.ctx.prec = old
    return max(arb_lo(value), 0.0)


def divisor(claim: Mapping, p: BallProblem) -> Any:
    """The ball by which the claim's normalization divides f° (1 without normalization)."""
    how = claim.get("normalization", "none")
    if how == "none":
        return flint.arb(1)
    d = arb_eval(p.r ** 2, {}) if how == "r2" else 1 + arb_eval(p.f, dict(zip(p.variables,
                                                                              p.x)))
    if not d > 0:
        raise ValueError("the normalization divides by a number that is not positive")
    return d


def _normalized(value: float, d: Any, side: str) -> float:
    if not math.isfinite(value):
        return value
    ball = flint.arb(value) / d
    return arb_hi(ball) if side == "upper" else arb_lo(ball)


@checker("max-variation-bounds")
def _check_max_variation(claim: Mapping, status: str, cert: Mapping) -> tuple[bool, str]:
    if claim.get("kind") != "max-variation":
        return False, "a max-variation certificate is about a max-variation claim"
    p = problem_from_claim(claim)
    d = divisor(claim, p)
    parts = [(name, parse_constant(claim[name])) for name in ("at_most", "at_least")
             if claim.get(name) is not None]
    if status == "proved":
        for name, value in parts:
            if name == "at_most" and (cert.get("upper") or {}).get("kind") == "sos":
                ok, why = sos_at_most(claim, p, cert["upper"], value)
                if not ok:
                    return False, why
            elif name == "at_most":
                up = _normalized(upper_of(p, cert["upper"]), d, "upper")
                if not (math.isfinite(up) and sign_holds(sp.Rational(repr(up)) - value, "<=")):
                    return False, f"the upper bound {up} exceeds at_most {value}"
            else:
                lo = _normalized(lower_of(p, cert["lower"]), d, "lower")
                if not sign_holds(sp.Rational(repr(lo)) - value, ">="):
                    return False, f"the lower bound {lo} is below at_least {value}"
        return True, ""
    part = cert.get("part")
    value = dict(parts).get(part)
    if value is None:
        return False, f"the claim has no {part!r}"
    if part == "at_most":
        lo = _normalized(lower_of(p, cert["lower"]), d, "lower")
        return require(sign_holds(sp.Rational(repr(lo)) - value, ">"),
                       "the witness does not exceed at_most")
    up = _normalized(upper_of(p, cert["upper"]), d, "upper")
    return require(math.isfinite(up) and sign_holds(sp.Rational(repr(up)) - value, "<"),
                   "the upper bound is not below at_least")


def leading_order(f: sp.Expr, variables: Sequence[sp.Symbol], x: Sequence[sp.Expr]) -> dict:
    """The leading term of f°(x, r) as r -> 0: ``order`` 1 with the coefficient ||grad f(x)||
    at non-critical points, ``order`` 2 with max(lambda_max, 0)/2 at critical points; each
    coefficient as a certified interval. ``order`` None when neither a zero gradient nor a
    nonzero one could be certified."""
    at = dict(zip(variables, x))
    g = sp.Matrix([sp.diff(f, v) for v in variables]).subs(at).applyfunc(sp.simplify)
    gnorm2 = sp.simplify(sum(c ** 2 for c in g))
    if not identically_zero(gnorm2):
        ball = arb_eval(gnorm2, {})
        if not ball > 0:
            return {"order": None, "lower": 0.0, "upper": math.inf,
                    "note": f"||grad f||^2 = {gnorm2}: not certified nonzero"}
        ball = ball.sqrt()
        return {"order": 1, "lower": arb_lo(ball), "upper": arb_hi(ball)}
    H = sp.hessian(f, variables).subs(at).applyfunc(sp.simplify)
    if not all(c.is_Rational for c in H):
        return {"order": 2, "lower": 0.0, "upper": math.inf,
                "note": "irrational Hessian entries: no certified eigenvalue bounds"}
    A = np.array(H.tolist(), dtype=float)
    v = sp.Matrix(rational_point(np.linalg.eigh(A)[1][:, -1]))
    lower = (v.T * H * v)[0] / (v.T * v)[0]
    lo, hi = arb_lo(arb_eval(lower, {})), certified_lambda_max_upper(H)
    return {"order": 2, "lower": max(lo, 0.0) / 2, "upper": max(hi, 0.0) / 2}


def is_c2(f: sp.Expr) -> bool:
    """A sufficient syntactic test that f is C^2 where it is finite: no Abs, sign, Max, Min,
    and only integer powers."""
    if f.has(sp.Abs, sp.sign, sp.Max, sp.Min, sp.floor, sp.ceiling, sp.Piecewise):
        return False
    return all(p.exp.is_Integer for p in f.atoms(sp.Pow))


@checker("flatter-fixed", "flatter-radius", "flatter-leading", "reflexive")
def _check_flatter(claim: Mapping, status: str, cert: Mapping) -> tuple[bool, str]:
    if claim.get("kind") != "flatter":
        return False, "a flatter certificate is about a flatter claim"
    kind, rule = cert["kind"], claim.get("rule", "fixed")
    xs = [parse_constant(c) for c in claim["x"]]
    ys = [parse_constant(c) for c in claim["y"]]
    if kind == "reflexive":
        return require(status == "proved" and all(identically_zero(a - b) for a, b in
                                                  zip(xs, ys)), "x and y differ")
    if kind == "flatter-leading":
        from verify.formula import make_symbols

        variables = make_symbols(claim["variables"])
        f = parse(claim["f"], variables)
        if rule != "ratio-limit" or not is_c2(f):
            return False, "the leading order decides the ratio-limit rule for C^2 f"
        lx, ly = leading_order(f, variables, xs), leading_order(f, variables, ys)
        if claim.get("normalization", "none") == "one-plus-f":
            for l, pt in ((lx, xs), (ly, ys)):
                dd = arb_eval(1 + f, dict(zip(variables, pt)))
                if not dd > 0:
                    return False, "cannot normalize by 1 + f"
                l["lower"], l["upper"] = _normalized(l["lower"], dd, "lower"), \
                    _normalized(l["upper"], dd, "upper")
        if lx["order"] is None or ly["order"] is None:
            return False, "a leading order is not certified"
        if lx["order"] != ly["order"]:
            x_smaller = lx["order"] > ly["order"]
        elif lx["upper"] < ly["lower"]:
            x_smaller = True
        elif lx["lower"] > ly["upper"]:
            x_smaller = False
        else:
            return False, "the leading coefficients overlap"
        return require(x_smaller == (status == "proved"), "the leading orders say otherwise")
    # the radius is the claim's, except for the witness radius in (0, r] at which a refutation
    # of the all-radii rule compares the two points
    radius = claim["radius"]
    if kind == "flatter-radius":
        radius = cert["radius"]
        if rule != "all-radii" or status != "refuted" or \
                not 0 < parse_constant(radius) <= parse_constant(claim["radius"]):
            return False, "a radius in (0, r] refutes the all-radii rule"
    if kind == "flatter-fixed" and rule != "fixed":
        return False, "the fixed-radius comparison decides the fixed rule"
    px = problem_from_claim(claim, "x", radius)
    py = problem_from_claim(claim, "y", radius)
    dx, dy = divisor(claim, px), divisor(claim, py)
    if status == "proved":
        up = _normalized(upper_of(px, cert["upper_x"]), dx, "upper")
        lo = _normalized(lower_of(py, cert["lower_y"]), dy, "lower")
        return require(up <= lo, f"f°(x) <= {up} is not below f°(y) >= {lo}")
    lo = _normalized(lower_of(px, cert["lower_x"]), dx, "lower")
    up = _normalized(upper_of(py, cert["upper_y"]), dy, "upper")
    return require(lo > up, f"f°(x) >= {lo} is not above f°(y) <= {up}")


@checker("conserved", "conserved-witness")
def _check_conserved(claim: Mapping, status: str, cert: Mapping) -> tuple[bool, str]:
    from verify.formula import make_symbols

    if claim.get("kind") != "conserved-quantity":
        return False, "a conserved certificate is about a conserved-quantity claim"
    variables = make_symbols(claim["variables"])
    f, q = parse(claim["f"], variables), parse(claim["quantity"], variables)
    product = sp.expand(sum(sp.diff(q, v) * sp.diff(f, v) for v in variables))
    if cert["kind"] == "conserved":
        return require(status == "proved" and identically_zero(product),
                       "<grad q, grad f> is not shown to vanish")
    point = [parse_constant(c) for c in cert["point"]]
    if status != "refuted" or not all(c.is_Rational for c in point):
        return False, "a rational point refutes"
    ball = arb_eval(product, dict(zip(variables, point)))
    return require(not ball.contains(0), "<grad q, grad f> may vanish at the point")
