"""The statements of Josz, *On the geometry of flat minima*, as registered checks (named after
the statement or figure they reproduce).

Exact instances are claims (max-variation, flatter, conserved-quantity) decided with
certificates the kernel re-evaluates, or exact facts; consistency checks between certified
intervals and flows are evidence.
"""

from __future__ import annotations

import math
from fractions import Fraction

from verify.registry import check, lazy_import
from verify.verdict import Instances, Status, Verdict

PAPER = "Josz 2025 (On the geometry of flat minima)"
np = lazy_import("numpy")
sp = lazy_import("sympy")
flint = lazy_import("flint")
M = lazy_import("theorems.flat_geometry.mathematics")
C = lazy_import("theorems.flat_geometry.conserved")
E = lazy_import("theorems.flat_geometry.experiments")
K = lazy_import("theorems.flat_geometry.kinds")
exact = lazy_import("theorems.exact")
lambdify = lazy_import("numerics.lambdify")


def _enclosed(checks: Instances, id: str, f, variables, point, r, low, high, seed: int,
              **kw) -> None:
    """Two instances: f°(point, r) <= high and f°(point, r) >= low, each a max-variation
    claim decided with its certificate."""
    for name, value in (("at_most", high), ("at_least", low)):
        claim = K.max_variation_claim(f, point, r, variables=variables, id=f"{id}: {name}",
                                      **{name: value}, **kw)
        checks.claim(f"{id}: f° {'<=' if name == 'at_most' else '>='} {value}", claim,
                     seed=seed)


def _decimal(value: float, *, up: bool, digits: int = 6):
    """The float ``value`` rounded outward (up or down) to ``digits`` significant decimal
    digits, as an exact rational.

    Instance claims state such roundings of certified bounds (with a relative margin before
    rounding), so that a last-bit difference of a float computation between machines does not
    change the claim: it would have to land within 1e-15 of a rounding point."""
    if value == 0:
        return sp.Integer(0)
    q = sp.Rational(Fraction(value))
    shift = digits - 1 - int(math.floor(math.log10(abs(value))))
    scale = sp.Integer(10) ** shift if shift >= 0 else sp.Rational(1, 10 ** -shift)
    return (sp.ceiling(q * scale) if up else sp.floor(q * scale)) / scale


def _enclosure(f, variables, point, r, seed: int, margin: float = 1e-5):
    """Rationals L <= f°(point, r) <= U: the certified bounds of the decider's own first
    computation (cached, so deciding the claims costs nothing more), widened by ``margin``
    (relative) and rounded outward (:func:`_decimal`)."""
    b = M.max_variation(f, variables, point, r, seed=seed)
    if not (math.isfinite(b.lower) and math.isfinite(b.upper)):
        raise ValueError(f"no finite certified bounds on f° of {f} at {point}, r = {r}")
    return (_decimal(b.lower - margin * abs(b.lower), up=False),
            _decimal(b.upper + margin * abs(b.upper), up=True))


def _random_rational_symmetric(rng, n: int):
    A = sp.Matrix(n, n, lambda i, j: sp.Rational(int(rng.integers(-6, 7)), 2))
    return (A + A.T) / 2


@check("geometry.quadratic-expansion", paper=PAPER, statement="derived fact 1 (quadratic "
       "expansion of the maximal variation)", summary="for random quadratics x^T H x/2, "
       "f°(0, r) lies within 1e-6 (relative) of max(lambda_max, 0) r^2/2 (exact eigenvalues, "
       "certified both ways); for smooth non-quadratic f at a critical point f°(x, r)/r^2 -> "
       "lambda_max/2 and at a non-critical point f°/r -> ||grad f|| (certified to within a "
       "relative r at r = 1e-1, 1e-2, 1e-3)", smoke={"trials": 2})
def quadratic_expansion(seed: int, trials: int = 6) -> Verdict:
    rng = np.random.default_rng(seed)
    checks = Instances("max_variation bounds")
    for trial in range(trials):
        n = 2 + trial % 2
        H = _random_rational_symmetric(rng, n)
        xs = sp.symbols(f"x0:{n}", real=True)
        v = sp.Matrix(xs)
        f = sp.expand((v.T * H * v)[0] / 2)
        lam = max(max(sp.Poly(H.charpoly().as_expr()).real_roots()), 0)  # exact (CRootOf)
        r = sp.Rational(int(rng.integers(1, 20)), 10)
        value = sp.nsimplify(sp.N(lam * r ** 2 / 2, 40), rational=True)
        tol = sp.Rational(1, 10 ** 6) * value    # f° = 0 exactly when H <= 0 (SOS route)
        _enclosed(checks, f"quadratic {n}x{n} #{trial} (H = {H.tolist()}, r = {r})", f, xs,
                  [0] * n, r, max(value - tol, 0), value + tol, seed, method="taylor")
    # smooth f, not quadratic: |f°(0, r) / r^order - target| <= target r at r = 10^-1..10^-3
    x, y = sp.symbols("x y", real=True)
    for name, f, order, target in (
            ("cos(x)cosh(y) + x^2 y^2 at 0 (critical, lambda_max = 1)",
             sp.cos(x) * sp.cosh(y) + x ** 2 * y ** 2, 2, sp.Rational(1, 2)),
            ("x^3 + 2y + xy at 0 (non-critical, ||grad f|| = 2)", x ** 3 + 2 * y + x * y, 1,
             sp.Integer(2))):
        for r in (sp.Rational(1, 10), sp.Rational(1, 100), sp.Rational(1, 1000)):
            scale = target * r ** order
            _enclosed(checks, f"{name}: f°/r^{order} within {target} r of {target}, r = {r}",
                      f, (x, y), (0, 0), r, scale * (1 - r), scale * (1 + r), seed)
    return checks.verdict()


def _distance_bracket(f, variables, point, t, seed: int, steps: int = 10):
    """Dyadic radii lo < hi with f°(point, lo) < t and f°(point, hi) >= t certified, by
    doubling and then ``steps`` bisections (stopped early where the certified bounds at a
    midpoint straddle t). Every move rests on a certified fact, so the bracket is the same on
    any machine where the bounds separate t. (None, None) if no radius up to 2^10 reaches t."""
    tf = float(t)

    def probe(r):
        return M.max_variation(f, variables, point, r, seed=seed, stop_above=tf, stop_below=tf)

    lo, hi = sp.Integer(0), sp.Integer(1)
    for _ in range(11):
        b = probe(hi)
        if b.lower >= tf:
            break
        if b.upper < tf:
            lo = hi
        hi *= 2
    else:
        return None, None
    for _ in range(steps):
        mid = (lo + hi) / 2
        b = probe(mid)
        if b.lower >= tf:
            hi = mid
        elif b.upper < tf:
            lo = mid
        else:
            break
    return lo, hi


@check("geometry.duality", paper=PAPER, statement="reconstructed definitions (duality f̄(x,t) <= r iff "
       "f°(x,r) >= t)", summary="random continuous 2-D functions (polynomial + sin): the "
       "level-set distance f̄(x, 1/2) is enclosed in [lo, hi] (10 bisections on certified "
       "bounds), and the duality is certified at both ends: f°(x, hi) >= 1/2 (a witness "
       "point, so f̄ <= hi) and f°(x, lo) <= t' < 1/2 (so f̄ > lo)", smoke={"trials": 1})
def duality(seed: int, trials: int = 3) -> Verdict:
    rng = np.random.default_rng(seed)
    x, y = sp.symbols("x y", real=True)
    t = sp.Rational(1, 2)
    checks = Instances("certified f° bounds at both ends of the level-set distance")
    for trial in range(trials):
        c = [sp.Rational(int(v), 4) for v in rng.integers(-4, 5, size=4)]
        f = (x ** 2 + 2 * y ** 2 + c[0] * x * y + c[1] * x ** 3 + c[2] * sp.sin(3 * x)
             + c[3] * y ** 2 * x ** 2)
        point = tuple(sp.Rational(int(rng.integers(-4, 5)), 8) for _ in range(2))
        lo, hi = _distance_bracket(f, (x, y), point, t, seed)
        if hi is None:
            checks.inconclusive(f"f{trial}", f"{f} at {point}: no point reaching f(x) + {t} "
                                "was found within radius 2^10")
            continue
        label = f"f{trial} = {f} at {point}"
        claim = K.max_variation_claim(f, point, hi, variables=(x, y), at_least=t,
                                      id=f"{label}: f°(x, {hi}) >= {t}")
        checks.claim(f"{label}: f̄(x, {t}) <= {hi}", claim, seed=seed)
        if lo == 0:
            continue
        below = M.max_variation(f, (x, y), point, lo, seed=seed)
        t_below = _decimal(below.upper * (1 + 1e-5), up=True)
        if not t_below < t:
            checks.inconclusive(f"{label}: f̄(x, {t}) > {lo}", f"f°(x, {lo}) is not certified "
                                f"below {t} (upper bound {below.upper:.8g})")
            continue
        claim = K.max_variation_claim(f, point, lo, variables=(x, y), at_most=t_below,
                                      id=f"{label}: f°(x, {lo}) <= {t_below} < {t}")
        checks.claim(f"{label}: f̄(x, {t}) > {lo}", claim, seed=seed)
    return checks.verdict()


@check("geometry.calculus", paper=PAPER, statement="derived facts 2-4 (monotone "
       "transformation, isometry invariance, sum rule, monotonicity)", summary="with f° of "
       "f = x^2 y + y^2 - x/3 certified in [L, U]: (phi o f)° lies in [phi(f(x) + L) - "
       "phi(f(x)), phi(f(x) + U) - phi(f(x))] for phi = exp, t^3, atan; f o Q^T = f o Q^{-1} "
       "for a rational rotation Q and (f o Q^T)°(Qx, r) lies in [L, U]; (g + h)° <= U <= "
       "lower bounds of g° + h°; f° at r = 0.1, ..., 0.7 certified increasing (all bounds "
       "certified, rounded outward)")
def calculus(seed: int) -> Verdict:
    x, y = sp.symbols("x y", real=True)
    g, h = x ** 2 * y, y ** 2 - x / 3
    f = g + h
    point, r = (sp.Rational(1, 2), sp.Rational(-1, 4)), sp.Rational(3, 5)
    low, up = _enclosure(f, (x, y), point, r, seed)
    fx = f.subs(dict(zip((x, y), point)))
    checks = Instances("certified max_variation bounds")
    _enclosed(checks, f"f = {f} at {point}, r = {r}", f, (x, y), point, r, low, up, seed)
    for name, phi in (("exp", sp.exp), ("t^3", lambda e: e ** 3), ("atan", sp.atan)):
        _enclosed(checks, f"phi = {name}: (phi o f)° within phi(f(x) + [L, U]) - phi(f(x))",
                  phi(f), (x, y), point, r, phi(fx + low) - phi(fx), phi(fx + up) - phi(fx),
                  seed)
    Q = sp.Matrix([[sp.Rational(3, 5), -sp.Rational(4, 5)],
                   [sp.Rational(4, 5), sp.Rational(3, 5)]])
    checks.claim("Q = [[3/5, -4/5], [4/5, 3/5]] is orthogonal",
                 exact.signs_claim([(e, "==") for e in Q.T * Q - sp.eye(2)],
                                   id="Q^T Q - I = 0"))
    v = sp.Matrix([x, y])
    rotated = f.subs(dict(zip((x, y), Q.T * v)), simultaneous=True)
    checks.claim("(f o Q^T)(Q v) = f(v)",
                 exact.identity_claim(rotated.subs(dict(zip((x, y), Q * v)), simultaneous=True)
                                      - f, (x, y), id=f"(f o Q^T)(Q v) - f(v) = 0, f = {f}"))
    _enclosed(checks, "rotation: (f o Q^T)°(Qx, r) within [L, U]", rotated, (x, y),
              tuple(Q * sp.Matrix(point)), r, low, up, seed)
    # the sum rule: (g + h)° <= U <= Lg + Lh <= g° + h°
    low_g, _ = _enclosure(g, (x, y), point, r, seed)
    low_h, _ = _enclosure(h, (x, y), point, r, seed)
    for name, part, value in (("g", g, low_g), ("h", h, low_h)):
        claim = K.max_variation_claim(part, point, r, variables=(x, y), at_least=value,
                                      id=f"sum rule: {name}° >= {value}, {name} = {part}")
        checks.claim(claim.id, claim, seed=seed)
    checks.claim("sum rule: U <= Lg + Lh", exact.signs_claim(
        [(low_g + low_h - up, ">=")], id=f"sum rule: (g + h)° <= {up} <= {low_g} + {low_h}"))
    # monotone in r: f°(r_k) <= U_k <= L_(k+1) <= f°(r_(k+1))
    radii = [sp.Rational(k, 10) for k in range(1, 8)]
    enclosures = [_enclosure(f, (x, y), point, rk, seed) for rk in radii]
    for rk, (lk, uk) in zip(radii, enclosures):
        _enclosed(checks, f"monotone: f° at r = {rk}", f, (x, y), point, rk, lk, uk, seed)
    checks.claim("monotone in r: U_k <= L_(k+1)", exact.signs_claim(
        [(nxt[0] - cur[1], ">=") for cur, nxt in zip(enclosures, enclosures[1:])],
        id="monotone in r: " + ", ".join(f"[{lk}, {uk}]" for lk, uk in enclosures)))
    return checks.verdict()


#: the paper's toy example: f°((a, 0), r) by a polar grid, as printed (r -> {a: value}).
TOY_TABLE = {"0.1": {"0": "0.0100", "0.5": "0.010025", "1": "0.0101", "2": "0.0104",
                     "3": "0.0109"},
             "0.5": {"0": "0.2500", "0.5": "0.2665", "1": "0.3151", "2": "0.5052",
                     "3": "0.8189"},
             "1": {"0": "1.0000", "0.5": "1.4400", "1": "2.3134", "2": "5.4206",
                   "3": "10.4586"}}
#: the paper's toy example: the dual f̄((a, 0), t), as printed (t -> {a: value}).
TOY_DUAL_TABLE = {"0.01": {"0": "0.1000", "0.5": "0.0999", "1": "0.0996", "2": "0.0982",
                           "3": "0.0961"},
                  "0.25": {"0": "0.5000", "0.5": "0.4853", "1": "0.4541", "2": "0.3926",
                           "3": "0.3464"}}
#: How far above the certified distance a printed dual entry may lie (a grid over directions
#: overestimates the distance; the paper does not state its grid).
DUAL_GRID_ACCURACY = Fraction(15, 100000)


def _half_unit(printed: str):
    """Half a unit in the last printed decimal place (the rounding of a table entry)."""
    decimals = len(printed.split(".")[1]) if "." in printed else 0
    return sp.Rational(5, 10 ** (decimals + 1))


@check("geometry.toy-example", paper=PAPER, statement="toy example (x2^2 + x1^2 x2^4: "
       "flatness vs Hessian sharpness)", summary="the Hessian is diag(0, 2) on the whole "
       "minimizer line (trace and lambda_max cannot rank the minima); the certified f° "
       "intervals lie in the rounding of the paper's table, the dual table is a grid "
       "upper estimate within 1.5e-4; (0,0) is strictly flatter than (a,0), a = 0.5..3",
       smoke={"radii": ("0.1",), "points": ("0.5",), "levels": ("0.01",)})
def toy_example(seed: int, radii: tuple = tuple(TOY_TABLE),
                points: tuple = ("0", "0.5", "1", "2", "3"),
                levels: tuple = tuple(TOY_DUAL_TABLE)) -> Verdict:
    f, (x1, x2) = E.toy()
    a = sp.Symbol("a", real=True)
    checks = Instances("max_variation bounds")
    H = sp.hessian(f, (x1, x2)).subs({x1: a, x2: 0})
    checks.claim("Hessian on the minimizer line",
                 exact.identity_claim(sum((H - sp.diag(0, 2)).applyfunc(lambda e: e ** 2)),
                                      (a,), id=f"Hessian at (a, 0) = {H.tolist()} = diag(0, 2)"))
    for r in radii:
        for av in points:
            printed = TOY_TABLE[r][av]
            v, h = sp.Rational(printed), _half_unit(printed)
            _enclosed(checks, f"f° table r={r} a={av} (printed {printed})", f, (x1, x2),
                      (sp.Rational(av), 0), sp.Rational(r), v - h, v + h, seed)
    misrounded = []
    for t in levels:
        row = TOY_DUAL_TABLE[t]
        for av in points:
            printed = row[av]
            v, h = sp.Rational(printed), _half_unit(printed)
            # f̄ <= v + h  <=  f°(x, v + h) >= t ;  f̄ >= v - g  <=  f°(x, v - g) < t
            point = (sp.Rational(av), 0)
            claim = K.max_variation_claim(f, point, v + h, variables=(x1, x2), at_least=t,
                                          id=f"dual t={t} a={av}: f°(x, {v + h}) >= {t}")
            checks.claim(claim.id, claim, seed=seed)
            below = M.max_variation(f, (x1, x2), point, v - sp.Rational(DUAL_GRID_ACCURACY),
                                    seed=seed)   # the decider's own bounds (cached)
            bound = (_decimal(below.upper * (1 + 1e-5), up=True) if math.isfinite(below.upper)
                     else None)
            if bound is not None and bound < sp.Rational(t):
                claim = K.max_variation_claim(f, point, v - sp.Rational(DUAL_GRID_ACCURACY),
                                              variables=(x1, x2), at_most=bound,
                                              id=f"dual t={t} a={av}: f°(x, d - 1.5e-4) <= "
                                                 f"{float(bound):.6g} < {t}")
                checks.claim(claim.id, claim, seed=seed)
            else:
                checks.inconclusive(f"dual t={t} a={av}", f"printed {printed}: f°(x, d - "
                                    f"1.5e-4) is not certified below {t}")
            rounding = M.max_variation(f, (x1, x2), point, v - h, seed=seed,
                                       stop_below=float(t))
            if not rounding.upper < float(t):
                misrounded.append(f"a={av}, t={t}: printed {printed}")
    for r in radii:
        for av in points:
            if av == "0":
                continue
            for x, y, want in (((0, 0), (av, 0), Status.PROVED), ((av, 0), (0, 0),
                                                                   Status.REFUTED)):
                claim = K.flatter_claim(f, x, y, sp.Rational(r), variables=(x1, x2),
                                        id=f"{x} vs {y} at r={r}")
                checks.claim(f"{'(0,0) flatter than' if want is Status.PROVED else 'not'} "
                             f"({av},0){' flatter than (0,0)' if want is Status.REFUTED else ''}"
                             f" at r={r}", claim, want, seed=seed)
    finding = (f"{len(misrounded)} printed dual distances lie above their rounding of the "
               f"certified distance ({'; '.join(misrounded)}): the dual table is a grid upper "
               "estimate" if misrounded else "all dual entries are correctly rounded")
    return checks.verdict(evidence={"finding": finding, "misrounded": misrounded})


def _span(checks: Instances, id: str, found, expected, variables, message: str) -> None:
    """An exact instance: the discovered quantities span the expected space (exact ranks)."""
    if not found:
        checks.inconclusive(id, f"no quantity found: {message}")
        return
    checks.claim(id, exact.same_span_claim(found, expected, variables, id=id))


@check("geometry.conserved-quantities", paper=PAPER, statement="matrix factorization (symmetries, "
       "conserved quantities)", summary="linear-symmetry discovery reproduces X^T X - Y^T Y for "
       "matrix factorization (several sizes) and the balancedness quantities of deep scalar "
       "products; each discovered quantity is proved conserved", smoke={"sizes": ((2, 2, 1),)})
def conserved_quantities(seed: int, sizes: tuple = ((2, 2, 1), (2, 3, 2), (3, 2, 2))) -> Verdict:
    checks = Instances("symmetry discovery")
    for m, n, k in sizes:
        f, vs, X, Y = C.matrix_factorization(m, n, k)
        found = C.quadratic_conserved_quantities(f, vs)
        Cm = X.T * X - Y.T * Y
        expected = [sp.expand(Cm[i, j]) for i in range(k) for j in range(i, k)]
        _span(checks, f"matrix factorization {m}x{n}, k={k}: span", found, expected, vs,
              f"{len(found)} quadratic conserved quantities found; span equal to the entries "
              "of X^T X - Y^T Y")
        for i, q in enumerate(found):
            claim = K.conserved_quantity_claim(f, q, variables=vs,
                                               id=f"{m}x{n}, k={k}: quantity {i}")
            checks.claim(f"{m}x{n}, k={k}: {q} is conserved", claim, seed=seed)
    w = sp.symbols("w1:4", real=True)
    f = (w[0] * w[1] * w[2] - 2) ** 2
    found = C.quadratic_conserved_quantities(f, w)
    _span(checks, "deep scalar product w1 w2 w3: span", found,
          [w[0] ** 2 - w[1] ** 2, w[1] ** 2 - w[2] ** 2], w,
          f"found {found}; span = {{w1^2 - w2^2, w2^2 - w3^2}}")
    for q in found:
        claim = K.conserved_quantity_claim(f, q, variables=w, id=f"deep product: {q}")
        checks.claim(f"deep product: {q} is conserved", claim, seed=seed)
    return checks.verdict()


@check("geometry.figure1", paper=PAPER, statement="Figure 1 (1000 GD steps with step length "
       "(k+1)^(-1/6) from (3.2, 0.6))", summary="both readings: normalized steps of length "
       "alpha_k drift to the flattest minimizer (0,0) (|x1| < 0.05 after 1000 steps, the "
       "max of |x1| over windows of 100 steps decreasing); plain steps x - alpha_k grad f "
       "overflow within 5 steps, and with scale factors 0.1, 0.01, 0.001 stop near the start "
       "of the valley (no drift); plots in the report", nature="experiment")
def figure1(seed: int) -> Verdict:
    checks = Instances("numerics.updates scheduled-gd")
    norm_run = E.figure1_run("normalized")
    windows = [float(np.abs(norm_run[i:i + 100, 0]).max()) for i in range(0, 1000, 100)]
    decreasing = all(b < a for a, b in zip(windows, windows[1:]))
    final = norm_run[-1]
    checks.observed("normalized steps (reading 1)", abs(final[0]) < 0.05 and decreasing,
                    f"x_1000 = ({final[0]:.4f}, {final[1]:.4f}) (the paper: (0.0440, "
                    f"0.260)); window maxima of |x1|: {', '.join(f'{w:.3f}' for w in windows)}",
                    sample_size=1000)
    plain = E.figure1_run("plain", steps=5)
    diverged = not np.all(np.isfinite(plain[-1])) or len(plain) < 6 or \
        float(np.abs(plain[-1]).max()) > 1e100
    checks.observed("plain steps, scale 1 (reading 2)", diverged, f"first step "
                    f"{plain[1].round(3).tolist()}; non-finite within 5 steps: {diverged}",
                    sample_size=5)
    scaled, drifting = {}, []
    for c in (0.1, 0.01, 0.001):
        run = E.figure1_run("plain", scale=c)
        scaled[c] = run
        end = run[-1]
        drift = bool(np.all(np.isfinite(end)) and abs(end[0]) < 0.05)
        if drift:
            drifting.append(c)
        checks.observed(f"plain steps, scale {c}", True, f"x_{len(run) - 1} = "
                        f"{end.round(4).tolist()}: drift to (0,0) reproduced: {drift}",
                        sample_size=len(run) - 1, evidence={"drift": drift})
    k = list(range(len(norm_run)))
    plots = [{"title": "Figure 1: x1 over the iterations (both readings)", "xlabel": "k",
              "ylabel": "x1", "x": k,
              "lines": {"normalized steps": norm_run[:, 0].tolist(),
                        **{f"plain, scale {c}": (list(run[:, 0]) + [None] * (len(k) - len(run)))
                           for c, run in scaled.items()}}},
             {"title": "Figure 1: normalized iterates in the plane (x2 against x1)",
              "xlabel": "x1", "ylabel": "x2", "x": norm_run[:, 0].tolist(),
              "lines": {"x2": norm_run[:, 1].tolist()}}]
    message = ("the normalized reading reproduces the drift toward the flattest minimizer "
               "(0,0); plain steps diverge at scale 1 and do not drift at scales 0.1, 0.01, "
               "0.001" if not drifting else f"drift also reproduced by plain steps at {drifting}")
    return checks.verdict(message=message, evidence={"plots": plots,
                                                     "reading_reproducing_drift": "normalized"})


def _equal(checks: Instances, id: str, pairs) -> None:
    """The exact instance "each computed value equals its expected value", stated as the pairs
    of values (Eq(value, expected), kept as written)."""
    from theorems.facts.kinds import inequalities

    checks.claim(id, inequalities([f"Eq({a}, {b})" for a, b in pairs], id=id))


def _charpoly(H, t):
    """The characteristic polynomial det(t I - H) of a rational matrix, exactly (FLINT)."""
    A = flint.fmpq_mat(H.rows, H.cols, [flint.fmpq(int(e.p), int(e.q)) for e in H])
    coeffs = A.charpoly().coeffs()
    return sum(sp.Rational(int(c.p), int(c.q)) * t ** i for i, c in enumerate(coeffs))


def _random_skew(rng, n: int):
    S = sp.zeros(n, n)
    for i in range(n):
        for j in range(i + 1, n):
            S[i, j] = sp.Rational(int(rng.integers(-3, 4)), 2)
            S[j, i] = -S[i, j]
    return S


def _factorization_instances(checks: Instances, rng, m: int, n: int, k: int, r: int) -> None:
    """The explicit forms at an exact balanced minimizer of ||XY^T - M||^2/2 (rational U, V, Q
    by Cayley transforms, singular values s_i^2 with integer s_i)."""
    U, V, Q = (C.cayley_orthogonal(_random_skew(rng, d)) for d in (m, n, k))
    s = sorted({int(v) for v in rng.integers(1, 6, size=r)} | set(), reverse=True)
    while len(s) < r:
        s.append(s[-1] + 1)
        s = sorted(set(s), reverse=True)
    s = [sp.Integer(v) for v in s]
    M, X, Y = C.exact_balanced_minimizer(U, s, V, k, Q)
    f, vs, Xs, Ys = C.matrix_factorization(m, n, k, M)
    label = f"{m}x{n}, k={k}, rank {r}, sigma = {[v ** 2 for v in s]}"
    at = dict(zip(vs, list(X) + list(Y)))
    _equal(checks, f"{label}: X Y^T = M", zip(X * Y.T, M))
    _equal(checks, f"{label}: X^T X = Y^T Y (balanced)", zip(X.T * X, Y.T * Y))
    trace_form = m * sum(c ** 2 for c in Ys) + n * sum(c ** 2 for c in Xs)
    checks.claim(f"{m}x{n}, k={k}: tr Hess f = m ||Y||^2 + n ||X||^2 everywhere",
                 exact.identity_claim(sum(sp.diff(f, v, 2) for v in vs) - trace_form, vs,
                                      id=f"{m}x{n}, k={k}: tr Hess ||XY^T - M||^2/2 - "
                                         f"({m} ||Y||^2 + {n} ||X||^2) = 0"))
    # lambda_max = 2 sigma_1: the characteristic polynomial of H (symmetric: real roots) has
    # no root above 2 sigma_1, and the Rayleigh quotient at u attains it
    hessian = sp.hessian(f, vs)
    H = hessian.xreplace(at)
    top = 2 * s[0] ** 2
    t = sp.Symbol("t", real=True)
    checks.claim(f"{label}: no eigenvalue of Hess f above 2 sigma_1",
                 exact.forall_claim(sp.Ne(_charpoly(H, t), 0), (t,), hypotheses=[t > top],
                                    id=f"{label}: det(t I - Hess f) != 0 for t > {top}"))
    a = Q.T * sp.eye(k)[:, 0]
    u = sp.Matrix(list(U[:, 0] * a.T) + list(V[:, 0] * a.T))
    _equal(checks, f"{label}: u^T H u = 2 sigma_1 ||u||^2 at u = (u1 a^T, v1 a^T)",
           [((u.T * H * u)[0], top * (u.T * u)[0])])
    # on the orbit (X G, Y G^-T): the trace is smallest at the weighted balance g^4 = m/n
    g = sp.root(sp.Rational(m, n), 4)
    Xw, Yw = g * X, Y / g
    minimum = 2 * sp.sqrt(m * n) * sum(v ** 2 for v in s)

    def trace_at(A, B):
        return m * sum(c ** 2 for c in B) + n * sum(c ** 2 for c in A)

    _equal(checks, f"{label}: at g = (m/n)^(1/4), tr H = 2 sqrt(mn) tr Sigma",
           [(sp.simplify(trace_at(Xw, Yw)), minimum)])
    _equal(checks, f"{label}: n Xw^T Xw = m Yw^T Yw (weighted balance)",
           zip((n * Xw.T * Xw).applyfunc(sp.simplify), (m * Yw.T * Yw).applyfunc(sp.simplify)))
    conditions = [(trace_at(X, Y) - minimum, ">")]
    for _ in range(8):
        G = sp.eye(k) + _random_skew(rng, k) + sp.diag(*[sp.Rational(int(v), 4) for v in
                                                        rng.integers(-2, 3, size=k)])
        if G.det() != 0:
            conditions.append((trace_at(X * G, Y * G.inv().T) - minimum, ">="))
    checks.claim(f"{label}: the balanced point and {len(conditions) - 1} random orbit points "
                 "have trace >= the minimum", exact.signs_claim(
                     conditions, id=f"{label}: trace at (X, Y) > {minimum}, trace at (XG, "
                                    f"YG^-T) >= {minimum} at {len(conditions) - 1} rational G"))
    # the notions disagree: at the weighted point lambda_max >= (g^2 + g^-2) sigma_1 > 2 sigma_1
    Hw = hessian.xreplace(dict(zip(vs, list(Xw) + list(Yw))))
    uw = sp.Matrix(list(U[:, 0] * a.T / g) + list(V[:, 0] * a.T * g))
    checks.claim(f"{label}: lambda_max at the weighted point > 2 sigma_1",
                 exact.sign_claim(sp.expand((uw.T * Hw * uw)[0] - top * (uw.T * uw)[0]), ">",
                                  id=f"{label}: u^T Hw u > 2 sigma_1 ||u||^2 at the weighted "
                                     "point"))


@check("geometry.matrix-factorization", paper=PAPER, statement="matrix factorization (balanced minima, "
       "explicit forms; trace vs lambda_max vs maximal variation)", summary="exactly, at "
       "balanced minimizers with rational singular vectors: they interpolate and are balanced; "
       "tr H = m||Y||^2 + n||X||^2 (an identity) and lambda_max = 2 sigma_1(M) (no root of "
       "the characteristic polynomial above it, and an attaining vector); on the symmetry "
       "orbit the trace 2 sqrt(mn) tr Sigma is attained at n X^T X = m Y^T Y and not beaten at the balanced point or at 8 random "
       "orbit points when m != n; there lambda_max > 2 sigma_1, and the balanced point is "
       "strictly flatter in certified maximal variation: the notions disagree")
def matrix_factorization(seed: int) -> Verdict:
    rng = np.random.default_rng(seed)
    checks = Instances("matrix factorization, exact")
    for m, n, k, r in ((3, 2, 2, 2), (4, 3, 3, 2), (2, 5, 2, 1)):
        _factorization_instances(checks, rng, m, n, k, r)
    # exact instance, k = 1: the balanced point against a rational point near the weighted
    # balance g^4 = m/n, compared by certified maximal variation (Taylor bounds, 5 variables)
    x = [sp.Integer(3), sp.Integer(4)]
    y = [sp.Rational(5, 3), sp.Rational(10, 3), sp.Rational(10, 3)]
    f, vs, _, _ = C.matrix_factorization(2, 3, 1, sp.Matrix(2, 1, x) * sp.Matrix(1, 3, y))
    g = sp.Rational(Fraction(str(sp.N(sp.root(sp.Rational(2, 3), 4), 30)))
                    .limit_denominator(1000))
    balanced = x + y
    weighted = [g * c for c in x] + [c / g for c in y]

    def trace(p):  # tr H = m ||Y||^2 + n ||X||^2 with m = 2, n = 3
        return 2 * sum(c ** 2 for c in p[2:]) + 3 * sum(c ** 2 for c in p[:2])

    checks.claim(f"g = {g}: the weighted point has the smaller trace",
                 exact.sign_claim(trace(weighted) - trace(balanced), "<",
                                  id=f"g = {g}: trace weighted < trace balanced"))
    radius = sp.Rational(1, 1000)
    for a, b, want, label in ((balanced, weighted, Status.PROVED, "balanced flatter than "
                                                                  "weighted"),
                              (weighted, balanced, Status.REFUTED, "weighted not flatter than "
                                                                   "balanced")):
        claim = K.flatter_claim(f, a, b, radius, variables=vs, id=label)
        checks.claim(f"{label} (certified f°, r = 1/1000)", claim, want, seed=seed)
    return checks.verdict()


@check("geometry.flattening-flow", paper=PAPER, statement="matrix factorization (conserved quantity of "
       "the gradient flow; flattening flow of the imbalance)", summary="along the gradient flow "
       "of f, X^T X - Y^T Y stays constant (relative drift < 1e-6); along the flow of "
       "||X^TX - Y^TY||^2/4, XY^T stays constant, ||C|| decreases monotonically and lambda_max "
       "of the Hessian of f decreases to 2 sigma_1(M); plot in the report", nature="experiment")
def flattening_flow(seed: int) -> Verdict:
    rng = np.random.default_rng(seed)
    checks = Instances("flows of matrix factorization")
    plots = []
    m, n, k = 5, 4, 3
    X0, Y0 = rng.standard_normal((m, k)), rng.standard_normal((n, k))
    Mx = rng.standard_normal((m, k)) @ rng.standard_normal((k, n))
    run = E.flattening_flow(X0, Y0, 5.0, objective="loss", M=Mx)
    C0 = X0.T @ X0 - Y0.T @ Y0
    drift = max(np.abs(X.T @ X - Y.T @ Y - C0).max() for X, Y in run["states"]) / np.abs(C0).max()
    losses = [E.factorization_loss(X, Y, Mx) for X, Y in run["states"]]
    checks.observed("gradient flow of f: X^T X - Y^T Y conserved", drift < 1e-6,
                    f"max relative drift {drift:.2e} over t in [0, 5] (loss {losses[0]:.4g} -> "
                    f"{losses[-1]:.4g})", sample_size=len(losses), method="LSODA, rtol 1e-11")
    for trial in range(2):
        X0, Y0 = rng.standard_normal((m, k)) * 1.5, rng.standard_normal((n, k)) * 0.6
        M0 = X0 @ Y0.T
        sigma1 = np.linalg.svd(M0, compute_uv=False)[0]
        run = E.flattening_flow(X0, Y0, 20.0)
        prod_drift = max(np.abs(X @ Y.T - M0).max() for X, Y in run["states"]) / np.abs(M0).max()
        Cn = [float(np.linalg.norm(X.T @ X - Y.T @ Y)) for X, Y in run["states"]]
        lam = [float(np.linalg.eigvalsh(E.factorization_hessian(X, Y, M0))[-1])
               for X, Y in run["states"]]
        monotone = all(b <= a * (1 + 1e-9) + 1e-12 * Cn[0] for a, b in zip(Cn, Cn[1:]))
        lam_down = all(b <= a * (1 + 1e-9) for a, b in zip(lam, lam[1:]))
        ok = (prod_drift < 1e-6 and monotone and Cn[-1] < 1e-6 * Cn[0]
              and abs(lam[-1] - 2 * sigma1) < 1e-5 * sigma1)
        checks.observed(f"imbalance flow #{trial}", ok,
                        f"XY^T drift {prod_drift:.1e}; ||C|| {Cn[0]:.4g} -> {Cn[-1]:.2e} "
                        f"(monotone: {monotone}); lambda_max {lam[0]:.6g} -> {lam[-1]:.8g} vs "
                        f"2 sigma_1 = {2 * sigma1:.8g} (monotone: {lam_down})",
                        sample_size=len(Cn), method="LSODA, rtol 1e-11; torch.func Hessian")
        if trial == 0:
            plots.append({"title": "flattening flow of the imbalance (5x4, k=3)", "xlabel": "t",
                          "ylabel": "value", "x": run["t"].tolist(),
                          "lines": {"||X^T X - Y^T Y||_F": Cn, "lambda_max of f": lam,
                                    "2 sigma_1(M)": [2 * sigma1] * len(lam)}})
    return checks.verdict(evidence={"plots": plots})
