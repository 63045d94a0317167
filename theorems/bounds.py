"""Certified bounds of the supremum of a function over a ball, with certificates.

:func:`sup_over_ball` encloses ``sup {f(y) - f(x) : ||y - x|| <= r}`` (any norm of "2", "inf",
"1") in a sound interval and returns the certificates of both ends, which the kernel
(:mod:`verify.kernel.geometry`) re-evaluates:

* lower: the best of a multi-start projected gradient ascent (its end point rounded to a
  rational point exactly inside the ball) and the box centres met by the subdivision, each a
  ``witness`` enclosed in ball arithmetic;
* upper, the first that applies (or the one asked for): ``exact-1d`` (a polynomial in one
  variable), ``interval-subdivision`` (up to 3 variables by default, any formula ball
  arithmetic evaluates: best-first branch and bound over the coordinate boxes of the ball,
  polar for the Euclidean norm, with the natural extension and the mean-value form; the
  subdivision tree is the ``enclosure`` certificate), ``taylor`` (polynomials in any
  dimension), and the smaller of the two for low-dimensional polynomials.

Nothing here is specific to one paper: the maximal variation of Josz is ``sup_over_ball`` of f
at x, and any check that needs a certified maximum over a ball uses it.
"""

from __future__ import annotations

import heapq
import itertools
import math
from dataclasses import dataclass, field
from typing import Any, Sequence

import flint
import numpy as np
import sympy as sp

from numerics.lambdify import numpy_function

from theorems.exact import arb_lo, gradient, rational_point
from verify.errors import InvalidClaim
from verify.kernel import geometry as G

METHODS = ("auto", "exact-1d", "interval-subdivision", "taylor", "witness-only")


@dataclass
class Bounds:
    """A sound interval [lower, upper] for a supremum over a ball, how it was obtained, and
    the certificates of its ends (``lower_certificate`` a witness, ``upper_certificate`` an
    enclosure, a Taylor or an exact-1d bound; None where there is none)."""

    lower: float
    upper: float
    method: str
    witness: tuple[float, ...] | None = None
    work: int = 0          # boxes evaluated, roots isolated
    details: dict = field(default_factory=dict)
    lower_certificate: dict | None = None
    upper_certificate: dict | None = None

    @property
    def width(self) -> float:
        return self.upper - self.lower

    def to_dict(self) -> dict[str, Any]:
        return {"lower": self.lower, "upper": self.upper, "width": self.width,
                "method": self.method, "witness": None if self.witness is None
                else list(self.witness), "work": self.work, **self.details}


def _project(u: np.ndarray, r: float, norm: str) -> np.ndarray:
    if norm == "inf":
        return np.clip(u, -r, r)
    size = np.linalg.norm(u, 2 if norm == "2" else 1)
    return u if size <= r else u * (r / size)


def _numeric(f: sp.Expr, variables: tuple):
    """NumPy callables of f and its gradient; the gradient only steers the ascent (witnesses
    are re-evaluated exactly), so kinks and jumps get plain numeric stand-ins."""
    kinks = {"DiracDelta": lambda a, *k: 0.0 * a,
             "Heaviside": lambda a, *h: np.heaviside(a, 0.5)}
    return (numpy_function([variables], f),
            numpy_function([variables], list(gradient(f, variables)), extra=kinks))


def ascent_witness(p: G.BallProblem, seed: int, starts: int = 12, steps: int = 150
                   ) -> tuple[tuple, Any]:
    """Multi-start projected gradient ascent of F on the ball; the best end point rounded to a
    rational point exactly inside the ball, and its value enclosed in a ball."""
    r = float(p.r)
    if r == 0:
        return (0,) * p.n, flint.arb(0)
    num_f, num_g = _numeric(p.f, p.variables)
    x = np.array([float(c) for c in p.x])
    rng = np.random.default_rng(seed)
    dirs = rng.standard_normal((starts, p.n))
    dirs = [d / np.linalg.norm(d) * r * s for d, s in zip(dirs, itertools.cycle((1.0, 0.5)))]
    with np.errstate(all="ignore"):
        g0 = np.asarray(num_g(x), dtype=float)
        if np.all(np.isfinite(g0)) and np.linalg.norm(g0) > 0:
            dirs.append(g0 / np.linalg.norm(g0) * r)
        best_u, best_val = np.zeros(p.n), 0.0
        for u in dirs:
            u = _project(u, r, p.norm)
            step = r / 4
            val = float(num_f(x + u))
            for _ in range(steps):
                g = np.asarray(num_g(x + u), dtype=float)
                if not np.all(np.isfinite(g)) or np.linalg.norm(g) == 0:
                    break
                cand = _project(u + step * g / np.linalg.norm(g), r, p.norm)
                cval = float(num_f(x + cand))
                if np.isfinite(cval) and cval > val:
                    u, val = cand, cval
                else:
                    step /= 2
                    if step < r * 1e-12:
                        break
            if np.isfinite(val) and val > best_val:
                best_u, best_val = u, val
    q = list(rational_point(best_u))
    shrink = sp.Integer(1)
    while not p.inside([shrink * c for c in q]):
        shrink *= sp.Rational(999_999_999, 1_000_000_000)
    q = [shrink * c for c in q]
    try:
        return tuple(q), p.value(q)
    except ValueError:
        return (0,) * p.n, flint.arb(0)


class _Node:
    __slots__ = ("box", "split", "children", "outside")

    def __init__(self, box: list):
        self.box, self.split, self.children, self.outside = box, None, [], False


def _code(node: _Node) -> str:
    """The preorder code of a subdivision tree (``L`` leaf, digit split, ``X`` outside)."""
    out, stack = [], [node]
    while stack:
        n = stack.pop()
        if n.outside:
            out.append("X")
        elif n.split is None:
            out.append("L")
        else:
            out.append(str(n.split))
            stack.extend(reversed(n.children))
    return "".join(out)


def branch_and_bound(p: G.BallProblem, *, lower: float, rtol: float, atol: float,
                     max_boxes: int, stop_above: float | None = None,
                     stop_below: float | None = None) -> dict[str, Any]:
    """Sound upper bound of sup F over the ball by best-first subdivision of its coordinate
    boxes; also a lower bound from box centres (points of the ball), the number of boxes, and
    the subdivision's preorder code (the kernel's ``enclosure`` certificate)."""
    w, u, F, dF = G.compile_objective(p.shifted, p.u, p.polar)
    roots = [_Node(b) for b in G.initial_boxes(p)[0]]
    meets = G.initial_boxes(p)[1]
    fx = p.fx
    best_lo, best_at = lower, None
    heap, count = [], 0
    tie = itertools.count()

    def evaluate(node: _Node) -> tuple[float, int]:
        nonlocal best_lo, best_at, count
        count += 1
        box = node.box
        try:
            up, centre, contrib = G.box_bound(F, dF, box, fx)
            mids = [(lo + hi) / 2 for lo, hi in box]
            centre_in = meets is None or sum(abs(sp.Rational(int(m.p), int(m.q)))
                                             for m in mids) <= p.r
            if centre_in and centre.is_finite() and arb_lo(centre) > best_lo:
                best_lo, best_at = arb_lo(centre), mids
        except ValueError:
            up, contrib = math.inf, [0.0]
        widths = [float(hi - lo) for lo, hi in box]
        widest = int(np.argmax(contrib)) if max(contrib) > 0 else int(np.argmax(widths))
        return up, widest

    old = flint.ctx.prec
    flint.ctx.prec = G.INTERVAL_PRECISION
    try:
        for node in roots:
            up, k = evaluate(node)
            heapq.heappush(heap, (-up, next(tie), node, k))
        upper_done = -math.inf   # the largest bound of a leaf taken off the heap for good
        while heap:
            neg, _, node, k = heap[0]
            top = -neg
            if top <= best_lo or top - best_lo <= max(atol, rtol * abs(best_lo)):
                break
            if stop_above is not None and best_lo >= stop_above:
                break
            if stop_below is not None and top < stop_below:
                break
            if count >= max_boxes:
                break
            heapq.heappop(heap)
            node.split = k
            for half in G.halves(node.box, k):
                child = _Node(half)
                node.children.append(child)
                if meets is not None and not meets(half):
                    child.outside = True
                    continue
                up, kk = evaluate(child)
                if up <= best_lo:
                    upper_done = max(upper_done, up)
                    continue
                heapq.heappush(heap, (-up, next(tie), child, kk))
    finally:
        flint.ctx.prec = old
    upper = max(-heap[0][0] if heap else -math.inf, upper_done, best_lo)
    tree = "".join(_code(node) for node in roots)
    return {"upper": upper, "lower": best_lo, "at": best_at, "count": count, "tree": tree,
            "w": w, "u": u}


def sup_over_ball(f: sp.Expr, variables: Sequence[sp.Symbol], x: Sequence[Any], r: Any, *,
                  norm: str = "2", method: str = "auto", rtol: float = 1e-6,
                  atol: float = 1e-12, max_boxes: int = 20_000, seed: int = 0,
                  stop_above: float | None = None, stop_below: float | None = None) -> Bounds:
    """Sound bounds on sup over the closed ball ||y - x|| <= r of f(y) - f(x), with the
    certificates of both ends (see the module docstring).

    ``method``: ``"auto"``, ``"exact-1d"``, ``"interval-subdivision"``, ``"taylor"`` or
    ``"witness-only"`` (upper bound +inf). ``stop_above``/``stop_below`` end the subdivision
    as soon as the value is known to be >= / < that number (used by bisections)."""
    if method not in METHODS:
        raise InvalidClaim(f"unknown method {method!r}; known: {', '.join(METHODS)}")
    try:
        p = G.BallProblem(f, tuple(variables), [sp.nsimplify(c) if not isinstance(c, sp.Basic)
                                                else c for c in x],
                          sp.nsimplify(r) if not isinstance(r, sp.Basic) else r, norm)
    except ValueError as exc:
        raise InvalidClaim(str(exc)) from None
    if p.r == 0:
        return Bounds(0.0, 0.0, "r = 0", tuple([0.0] * p.n),
                      lower_certificate={"kind": "witness", "u": ["0"] * p.n},
                      upper_certificate={"kind": "zero-radius"})
    witness, ball = ascent_witness(p, seed)
    lower = max(arb_lo(ball), 0.0)
    lower_cert = {"kind": "witness", "u": [str(c) for c in witness]}
    lower_at = [float(c) for c in witness]
    poly = f.is_polynomial(*p.variables)
    if method == "auto":
        method = ("exact-1d" if p.n == 1 and poly else
                  "interval-subdivision" if p.n <= 3 else "taylor" if poly else "witness-only")
    work, details, upper_cert = 0, {}, None
    if method == "exact-1d":
        if not (p.n == 1 and poly):
            raise InvalidClaim("exact-1d needs a polynomial in one variable")
        lo, upper, work = G.exact_1d(p)
        upper_cert = {"kind": "exact-1d"}
    elif method == "interval-subdivision":
        try:
            run = branch_and_bound(p, lower=lower, rtol=rtol, atol=atol, max_boxes=max_boxes,
                                   stop_above=stop_above, stop_below=stop_below)
        except ValueError as exc:  # f has no ball-arithmetic evaluation: no upper bound
            run = None
            upper = math.inf
            details["no_upper_bound"] = f"ball arithmetic cannot evaluate f: {exc}"
        if run is not None:
            upper, work = run["upper"], run["count"]
            details["max_boxes_reached"] = work >= max_boxes
            upper_cert = {"kind": "enclosure", "coordinates": "polar" if p.polar else "box",
                          "tree": run["tree"]}
            if run["lower"] > lower and run["at"] is not None:
                lower = run["lower"]
                at = [sp.Rational(int(m.p), int(m.q)) for m in run["at"]]
                lower_cert = ({"kind": "witness", "w": [str(c) for c in at]} if p.polar else
                              {"kind": "witness", "u": [str(c) for c in at]})
                sub = dict(zip(run["w"], at))
                lower_at = [float(sp.N(c.subs(sub))) for c in run["u"]] if p.polar else \
                    [float(c) for c in at]
        if poly and math.isfinite(upper) and upper - lower > max(atol, rtol * abs(lower)):
            taylor = G.taylor_upper(p)      # a degenerate maximum subdivides slowly: Taylor
            if taylor < upper:              # bounds are exact for quadratics
                upper, upper_cert = taylor, {"kind": "taylor"}
                details["taylor_tighter"] = True
    elif method == "taylor":
        if not poly:
            raise InvalidClaim("the Taylor bound needs a polynomial")
        upper, upper_cert = G.taylor_upper(p), {"kind": "taylor"}
    else:
        upper = math.inf
    upper = max(upper, lower)
    return Bounds(lower, upper, method, tuple(float(xi) + ui for xi, ui in zip(p.x, lower_at)),
                  work, details, lower_certificate=lower_cert,
                  upper_certificate=upper_cert if math.isfinite(upper) else None)
