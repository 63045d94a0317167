"""The geometry of flat minima (Josz 2025, *On the geometry of flat minima*).

The paper's exact definitions were only partly recovered; each flagged choice is an option:

* **Maximal variation** ``f°(x, r) = sup {f(y) - f(x) : ||y - x|| <= r}`` (smaller is flatter)
  and the **level-set distance** ``f̄(x, t) = inf {||y - x|| : f(y) >= f(x) + t}`` (larger is
  flatter), each a sound interval (:class:`theorems.bounds.Bounds`) with the certificates of
  its ends. ``norm``: ``"2"`` (default), ``"inf"``, ``"1"``. The bounds are for the closed
  ball; for a continuous f the open ball has the same supremum. ``normalization``: ``"none"``
  (default), ``"r2"`` (divide by r**2) or ``"one-plus-f"`` (divide by 1 + f(x), Dinh et al.).
* **The preorder** "x is at least as flat as y" with the comparison ``rule``: ``"fixed"``
  (default: f°(x, r) <= f°(y, r) at the given radius), ``"all-radii"`` (every radius in
  (0, r]), ``"ratio-limit"`` (limsup_{s -> 0} f°(x, s) / f°(y, s) <= 1). Decided only when
  intervals separate.

The bounds come from the generic engine :mod:`theorems.bounds` (ascent witnesses, exact-1d,
interval subdivision, Taylor bounds); leading orders and their certified coefficients from the
kernel (:func:`verify.kernel.geometry.leading_order`). A claimed ``at_most`` that these bounds
do not establish is tried as a Positivstellensatz certificate of ``at_most - (f(y) - f(x)) >= 0``
on the ball (:func:`sos_at_most`, piecewise polynomial f, any dimension and norm).
"""

from __future__ import annotations

import functools
import math
from typing import Any, Sequence

import flint
import sympy as sp

from theorems.bounds import Bounds, sup_over_ball
from theorems.exact import arb_eval, arb_hi, arb_lo, exact_number
from verify.errors import InvalidClaim
from verify.kernel.geometry import is_c2, leading_order
from verify.verdict import Assumption, Decision, Verdict

NORMALIZATIONS = ("none", "r2", "one-plus-f")
RULES = ("fixed", "all-radii", "ratio-limit")
FlatnessBounds = Bounds

__all__ = ["FlatnessBounds", "NORMALIZATIONS", "RULES", "decide_flatter",
           "decide_max_variation", "is_c2", "is_flatter", "leading_order", "level_set_distance",
           "max_variation", "normalize"]


@functools.lru_cache(maxsize=256)
def _cached(f: sp.Expr, variables: tuple, x: tuple, r: sp.Expr, norm: str, method: str,
            rtol: float, atol: float, max_boxes: int, seed: int, stop_above: float | None,
            stop_below: float | None) -> Bounds:
    return sup_over_ball(f, variables, x, r, norm=norm, method=method, rtol=rtol, atol=atol,
                         max_boxes=max_boxes, seed=seed, stop_above=stop_above,
                         stop_below=stop_below)


def max_variation(f: sp.Expr, variables: Sequence[sp.Symbol], x: Sequence[Any], r: Any, *,
                  norm: str = "2", method: str = "auto", rtol: float = 1e-6,
                  atol: float = 1e-12, max_boxes: int = 20_000, seed: int = 0,
                  stop_above: float | None = None, stop_below: float | None = None) -> Bounds:
    """Sound bounds on f°(x, r) = sup over the closed ball of f(y) - f(x), with certificates
    (:func:`theorems.bounds.sup_over_ball`; results are cached per arguments)."""
    point = tuple(exact_number(c, "point coordinate") for c in x)
    radius = exact_number(r, "radius")
    if len(point) != len(variables):
        raise InvalidClaim(f"the point has {len(point)} coordinates, f has {len(variables)} "
                           "variables")
    return _cached(f, tuple(variables), point, radius, norm, method, rtol, atol, max_boxes, seed,
                   stop_above, stop_below)


def level_set_distance(f: sp.Expr, variables: Sequence[sp.Symbol], x: Sequence[Any], t: Any, *,
                       rtol: float = 1e-6, max_steps: int = 60, norm: str = "2",
                       seed: int = 0, **kw: Any) -> Bounds:
    """Sound bounds on f̄(x, t) = inf {||y - x|| : f(y) >= f(x) + t}, by bisection on the
    radius: f°(x, s) < t certified gives f̄ >= s; a point y with f(y) - f(x) >= t certified and
    ||y - x|| <= s gives f̄ <= s. Needs no duality theorem."""
    t = exact_number(t, "level t")
    if not (t.is_real and t > 0):
        raise InvalidClaim(f"t must be a positive number, got {t}")
    tf = float(t)
    lo, hi, steps = sp.Integer(0), sp.Integer(1), 0
    witness = None

    def probe(s):
        return max_variation(f, variables, x, s, norm=norm, seed=seed, stop_above=tf,
                             stop_below=tf, **kw)

    while True:
        b = probe(hi)
        steps += 1
        if b.lower >= tf:
            witness = b.witness
            break
        if b.upper < tf:
            lo = hi
        if steps > max_steps:
            return Bounds(float(lo), math.inf, "bisection on certified f° bounds", None, steps,
                          {"note": "no point reaching f(x) + t found"})
        hi *= 2
    while steps < max_steps and float(hi - lo) > rtol * float(hi):
        mid = (lo + hi) / 2
        b = probe(mid)
        steps += 1
        if b.lower >= tf:
            hi, witness = mid, b.witness
        elif b.upper < tf:
            lo = mid
        else:   # f°(x, mid) is within the bounds' width of t: f̄ is close to mid
            moved = False
            for s in (mid * (1 + sp.Rational(rtol) / 8), mid * (1 - sp.Rational(rtol) / 8)):
                b = probe(s)
                steps += 1
                if b.lower >= tf and s < hi:
                    hi, witness, moved = s, b.witness, True
                elif b.upper < tf and s > lo:
                    lo, moved = s, True
            if not moved:
                break   # the bounds straddle t on both sides: the interval stays wider
    return Bounds(math.nextafter(float(lo), -math.inf), math.nextafter(float(hi), math.inf),
                  "bisection on certified f° bounds", witness, steps)


def normalize(b: Bounds, f: sp.Expr, variables: Sequence[sp.Symbol], x: Sequence[Any],
              r: Any, normalization: str) -> Bounds:
    """Bounds on f°(x, r) divided by r**2 (``"r2"``) or by 1 + f(x) (``"one-plus-f"``); the
    certificates are those of f° (the kernel divides as the claim says)."""
    if normalization == "none":
        return b
    if normalization not in NORMALIZATIONS:
        raise InvalidClaim(f"normalization must be one of {NORMALIZATIONS}, got "
                           f"{normalization!r}")
    if normalization == "r2":
        d = arb_eval(exact_number(r, "radius") ** 2, {})
    else:
        d = 1 + arb_eval(f, dict(zip(variables, [exact_number(c, "point coordinate")
                                                  for c in x])))
    if not d > 0:
        raise InvalidClaim(f"cannot normalize by {normalization}: the divisor is not positive")
    lo = arb_lo(flint.arb(b.lower) / d) if b.lower >= 0 else -math.inf
    hi = arb_hi(flint.arb(b.upper) / d) if math.isfinite(b.upper) else math.inf
    return Bounds(max(lo, 0.0), hi, b.method + f" / {normalization}", b.witness, b.work,
                  b.details, b.lower_certificate, b.upper_certificate)


#: boxes a max-variation decision may subdivide when its first interval contains the threshold
REFINE_BOXES = 100_000


def decide_max_variation(claim: dict[str, Any], f: sp.Expr, variables: Sequence[sp.Symbol],
                         point: Sequence[Any], radius: Any, *, at_most: Any = None,
                         at_least: Any = None, norm: str = "2", normalization: str = "none",
                         method: str = "auto", seed: int = 0) -> Verdict:
    """Does f°(point, radius) (normalized as asked) lie below ``at_most`` / above ``at_least``?
    Proved from the certified interval, refuted when it lies on the wrong side."""
    if at_most is None and at_least is None:
        raise InvalidClaim("a max-variation claim needs at_most or at_least")
    d = Decision(claim)
    parts = [(name, exact_number(value, name)) for name, value in
             (("at_most", at_most), ("at_least", at_least)) if value is not None]

    def bounds(**refine: Any) -> FlatnessBounds:
        return normalize(max_variation(f, variables, point, radius, norm=norm, method=method,
                                       seed=seed, **refine), f, variables, point, radius,
                         normalization)

    b = bounds()
    at_most_v = dict(parts).get("at_most")
    sos_upper = None
    if at_most_v is not None and not (b.upper <= float(at_most_v) and b.upper_certificate) \
            and not b.lower > float(at_most_v):
        sos_upper = sos_at_most(f, variables, point, radius, norm, normalization, at_most_v)
    straddled = [v for name, v in parts if b.lower <= float(v) <= b.upper
                 and not (name == "at_most" and sos_upper)]
    if len(straddled) == 1 and normalization == "none" and math.isfinite(b.upper):
        # the interval contains the threshold: subdivide on, until the threshold is separated
        # (a deterministic budget of boxes, not a tolerance)
        v = float(straddled[0])
        b = bounds(rtol=0.0, atol=0.0, max_boxes=REFINE_BOXES, stop_above=v, stop_below=v)
    shown = f"f°(x, r){'' if normalization == 'none' else ' / ' + normalization}"
    upper, method = b.upper, b.method
    if sos_upper:
        upper, method = min(upper, float(at_most_v)), f"{b.method}; Positivstellensatz (sos)"
    msg = f"{shown} in [{b.lower:.10g}, {upper:.10g}] ({method})"
    kw = dict(bounds=(b.lower, upper), evidence={"bounds": b.to_dict(),
                                                 **({"sos": True} if sos_upper else {})})
    for name, v in parts:
        if name == "at_most" and b.lower > float(v) and b.lower_certificate:
            return d.refuted(b.method, f"{msg}: at_most {v} fails",
                             certificate={"kind": "max-variation-bounds", "part": "at_most",
                                          "lower": b.lower_certificate},
                             counterexample={"witness": list(b.witness or ()),
                                             "certified_lower": b.lower}, **kw)
        if name == "at_least" and b.upper < float(v) and b.upper_certificate:
            return d.refuted(b.method, f"{msg}: at_least {v} fails",
                             certificate={"kind": "max-variation-bounds", "part": "at_least",
                                          "upper": b.upper_certificate},
                             counterexample={"certified_upper": b.upper, "method": b.method},
                             **kw)
    holds = all((sos_upper is not None or (b.upper <= float(v) and b.upper_certificate
                                          is not None)) if name == "at_most"
                else b.lower >= float(v) for name, v in parts)
    if holds:
        cert = {"kind": "max-variation-bounds", "upper": sos_upper or b.upper_certificate,
                "lower": b.lower_certificate}
        return d.proved(method, f"{msg}: holds", certificate=cert, **kw)
    return d.inconclusive(method, f"{msg}: the interval contains the threshold", **kw)


def sos_at_most(f: sp.Expr, variables: Sequence[sp.Symbol], point: Sequence[Any], radius: Any,
                norm: str, normalization: str, value: Any) -> dict | None:
    """An ``sos`` certificate of "f°(point, radius) (normalized) <= value" for a piecewise
    polynomial f at a rational point and radius, any dimension: U - (f(y) - f(x)) >= 0 on the
    ball with U = value times the normalization (:func:`theorems.psatz.certify_ball`), or
    None (no certificate within the budget, or f outside the class)."""
    from theorems import psatz
    from verify.errors import UnsupportedFunction
    from verify.kernel.geometry import BallProblem

    try:
        x = [exact_number(c, "point coordinate") for c in point]
        r = exact_number(radius, "radius")
        v = exact_number(value, "at_most")
        if not (r.is_Rational and r > 0 and v.is_Rational and all(c.is_Rational for c in x)):
            return None
        d = {"none": sp.Integer(1), "r2": r ** 2}.get(normalization)
        if d is None:
            d = 1 + f.subs(dict(zip(variables, x)))
        U = v * d
        if not (U.is_Rational and d > 0):
            return None
        cert, _ = psatz.certify_ball(BallProblem(f, tuple(variables), x, r, norm), U)
        return cert
    except (UnsupportedFunction, ValueError, ImportError, ArithmeticError):
        return None


def decide_flatter(claim: dict[str, Any], f: sp.Expr, variables: Sequence[sp.Symbol],
                   x: Sequence[Any], y: Sequence[Any], r: Any, *, rule: str = "fixed",
                   norm: str = "2", normalization: str = "none", seed: int = 0,
                   samples: int = 6, **kw: Any) -> Verdict:
    """Is x at least as flat as y under the comparison ``rule`` (module docstring)? Decided
    only when intervals separate; inconclusive when they overlap."""
    variables = tuple(variables)
    if rule not in RULES:
        raise InvalidClaim(f"rule must be one of {RULES}, got {rule!r}")
    d = Decision(claim)
    xs = [exact_number(c, "point coordinate") for c in x]
    ys = [exact_number(c, "point coordinate") for c in y]
    if len(xs) != len(variables) or len(ys) != len(variables):
        raise InvalidClaim(f"x and y need {len(variables)} coordinates each")
    if xs == ys:
        return d.proved("reflexivity", "x = y: the preorder is reflexive",
                        certificate={"kind": "reflexive"})

    def bounds(point, s, **extra):
        b = max_variation(f, variables, point, s, norm=norm, seed=seed, **{**kw, **extra})
        return normalize(b, f, variables, point, s, normalization)

    if rule == "fixed":
        bx, by = bounds(xs, r), bounds(ys, r)
        ev = {"x": bx.to_dict(), "y": by.to_dict(), "strict": bx.upper < by.lower}
        msg = (f"f°(x, r) in [{bx.lower:.6g}, {bx.upper:.6g}], "
               f"f°(y, r) in [{by.lower:.6g}, {by.upper:.6g}]")
        method = f"certified intervals ({bx.method}, {by.method})"
        if bx.upper <= by.lower and bx.upper_certificate:
            return d.proved(method, msg + ": x is at least as flat as y" + (
                " (strictly)" if bx.upper < by.lower else ""), evidence=ev,
                certificate={"kind": "flatter-fixed", "upper_x": bx.upper_certificate,
                             "lower_y": by.lower_certificate})
        if bx.lower > by.upper and by.upper_certificate:
            return d.refuted(method, msg + ": y is strictly flatter", evidence=ev,
                             certificate={"kind": "flatter-fixed", "lower_x": bx.lower_certificate,
                                          "upper_y": by.upper_certificate},
                             counterexample={"witness_near_x": list(bx.witness or ()),
                                             "lower_at_x": bx.lower, "upper_at_y": by.upper})
        return d.inconclusive("certified intervals", msg + ": the intervals overlap",
                              evidence=ev)

    if rule == "all-radii":
        rr = exact_number(r, "radius")
        radii = [rr * sp.Rational(k, samples) for k in range(1, samples + 1)]
        table = [(s, bounds(xs, s), bounds(ys, s)) for s in radii]
        ev = {"radii": [float(s) for s, _, _ in table],
              "x": [b.to_dict() for _, b, _ in table], "y": [b.to_dict() for _, _, b in table]}
        for s, bx, by in table:
            if bx.lower > by.upper and by.upper_certificate:
                return d.refuted("certified intervals at a radius in (0, r]",
                                 f"at radius {float(s):.4g}, f°(x) >= {bx.lower:.6g} > "
                                 f"{by.upper:.6g} >= f°(y)", evidence=ev,
                                 certificate={"kind": "flatter-radius", "radius": str(s),
                                              "lower_x": bx.lower_certificate,
                                              "upper_y": by.upper_certificate},
                                 counterexample={"radius": float(s), "lower_at_x": bx.lower,
                                                 "upper_at_y": by.upper,
                                                 "witness_near_x": list(bx.witness or ())})
        bracket = all(table[i + 1][1].upper <= table[i][2].lower for i in range(len(table) - 1))
        pointwise = all(bx.upper <= by.lower for _, bx, by in table)
        if bracket or pointwise:
            how = (f"proved on [{float(radii[0]):.4g}, {float(rr):.4g}] by monotone bracketing "
                   "(f°(x, s_i+1) <= f°(y, s_i))" if bracket
                   else f"f°(x, s) <= f°(y, s) certified at {samples} radii")
            return d.evidence("certified intervals at sampled radii", how + f"; radii below "
                              f"{float(radii[0]):.4g} are not covered", sample_size=samples,
                              evidence=ev)
        return d.inconclusive("certified intervals at sampled radii",
                              "the intervals overlap at some sampled radius", evidence=ev)

    # ratio-limit: the leading order decides when it differs
    smooth = is_c2(f)
    lx, ly = leading_order(f, variables, xs), leading_order(f, variables, ys)
    ev = {"leading_x": lx, "leading_y": ly}
    assumption = Assumption("f is C^2 near x and y", True if smooth else None,
                            "syntactic: no Abs/sign/Max/Min, integer powers only")
    if normalization == "one-plus-f":
        for lead, pt in ((lx, xs), (ly, ys)):
            div = arb_eval(1 + f, dict(zip(variables, pt)))
            if not div > 0:
                raise InvalidClaim("cannot normalize by 1 + f: not positive")
            lead["lower"] = arb_lo(flint.arb(lead["lower"]) / div)
            lead["upper"] = arb_hi(flint.arb(lead["upper"]) / div) if math.isfinite(
                lead["upper"]) else math.inf
    known = lx["order"] is not None and ly["order"] is not None
    if known and (lx["order"] != ly["order"] or lx["upper"] < ly["lower"]
                  or lx["lower"] > ly["upper"]):
        x_smaller = (lx["order"] > ly["order"]) if lx["order"] != ly["order"] \
            else lx["upper"] < ly["lower"]
        msg = (f"f°(x, s) ~ [{lx['lower']:.6g}, {lx['upper']:.6g}] s^{lx['order']}, "
               f"f°(y, s) ~ [{ly['lower']:.6g}, {ly['upper']:.6g}] s^{ly['order']}: the "
               f"ratio tends to a limit {'< 1' if x_smaller else '> 1'}")
        method = "leading order of f° (gradient norm or lambda_max/2, certified)"
        if smooth:
            cert = {"kind": "flatter-leading"}
            if x_smaller:
                return d.proved(method, msg, certificate=cert, evidence=ev,
                                assumptions=[assumption])
            return d.refuted(method, msg, certificate=cert, evidence=ev,
                             counterexample={"leading_x": lx, "leading_y": ly},
                             assumptions=[assumption])
        if x_smaller:
            return d.evidence(method, msg, sample_size=1, evidence=ev)
        return d.inconclusive(method, msg + " (f is not shown C^2)", evidence=ev,
                              assumptions=[assumption])
    rr = exact_number(r, "radius")
    ratios = []
    for s in [rr / 10 ** j for j in range(3)]:   # the ratios approach the tie value 1
        bx, by = bounds(xs, s, rtol=1e-11, atol=0.0), bounds(ys, s, rtol=1e-11, atol=0.0)
        ratios.append((float(s), bx.lower / by.upper if by.upper > 0 else math.inf,
                       bx.upper / by.lower if by.lower > 0 else math.inf))
    ev["ratio_intervals"] = ratios
    msg = (f"the leading orders tie or are not certified ({lx['order']}, {ly['order']}); "
           "f°(x,s)/f°(y,s) in "
           + ", ".join(f"[{a:.4g}, {b:.4g}] at s={s:.1e}" for s, a, b in ratios))
    if all(b <= 1 for _, _, b in ratios):
        return d.evidence("certified ratio intervals at decreasing radii", msg + ": all <= 1",
                          sample_size=len(ratios), evidence=ev)
    return d.inconclusive("certified ratio intervals at decreasing radii",
                          msg + ": a limit above 1 is not excluded and a sampled ratio does not "
                          "refute a limit", evidence=ev)


def is_flatter(f: sp.Expr, variables: Sequence[sp.Symbol], x: Sequence[Any], y: Sequence[Any],
            r: Any, *, rule: str = "fixed", norm: str = "2", normalization: str = "none",
            id: str = "x-flatter-than-y", seed: int = 0, **kw: Any) -> Verdict:
    """:func:`decide_flatter` on the claim ``flatter`` built from these arguments."""
    from theorems.flat_geometry.kinds import flatter_claim

    claim = flatter_claim(f, x, y, r, variables=variables, rule=rule, norm=norm,
                          normalization=normalization, id=id)
    return decide_flatter(claim.describe(), f, claim.params["variables"], x, y, r, rule=rule,
                          norm=norm, normalization=normalization, seed=seed, **kw)
