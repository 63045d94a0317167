"""Filters side by side: ``sharpflat filters METHOD... --alpha ...`` (Bolte, Le, Pauwels).

For each method (built-in, or ``"file.py:name"``) the exact filter set at the given
hyperparameters (each method takes those it declares), its edge (the largest curvature it
admits) and the negative curvatures it admits; for each pair, which set contains which (exact
set algebra), so which method excludes more curvature; the claims that certify all of it
(``filter-set`` claims with ``equals`` and ``subset_of``, decided and re-checked by the kernel);
and the stable regions over (alpha, lambda) or (rho, lambda) as a report plot.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import sympy as sp

from theorems.filters.mathematics import (LAM, declared_hyper, filter_condition, filter_set,
                                          label)
from verify.errors import InvalidClaim, NoFilter


def hyper_for(method: str, alpha: Any, beta: Any, rho: Any, hyper: dict[str, Any]
              ) -> dict[str, Any]:
    """The given hyperparameters that ``method`` declares (alpha, beta, rho and its others);
    InvalidClaim naming the one it needs and was not given."""
    info = declared_hyper(method)
    given = {"alpha": alpha, "beta": beta, "rho": rho, **hyper}
    out: dict[str, Any] = {}
    for name, _, _ in info["hyper"]:
        if given.get(name) is None:
            option = f"--{name}" if name in ("alpha", "beta", "rho") else f"--hyper {name}=..."
            raise InvalidClaim(f"{label(method)} needs {name} ({option})")
        out[name] = given[name]
    return out


def _split(values: dict[str, Any]) -> tuple[Any, Any, Any, dict[str, Any]]:
    return (values.get("alpha"), values.get("beta"), values.get("rho"),
            {k: v for k, v in values.items() if k not in ("alpha", "beta", "rho")})


def _text(S: sp.Set) -> str:
    """An exact set with the decimal values of its endpoints."""
    def num(e: sp.Expr) -> str:
        return str(e) if e.is_Rational else f"{float(e):.6g}"

    pieces = S.args if isinstance(S, sp.Union) else (S,)
    parts = []
    for p in sorted(pieces, key=lambda q: float(q.inf) if q != sp.S.EmptySet else 0):
        if isinstance(p, sp.Interval):
            parts.append(f"{'(' if p.left_open else '['}{num(p.inf)}, {num(p.sup)}"
                         f"{')' if p.right_open else ']'}")
        elif isinstance(p, sp.FiniteSet):
            parts.append("{" + ", ".join(num(v) for v in p) + "}")
        elif p == sp.S.EmptySet:
            parts.append("empty")
        else:
            parts.append(str(p))
    return " u ".join(parts)


def filter_table(methods: Sequence[str], alpha: Any, beta: Any = None, rho: Any = None,
                 hyper: dict[str, Any] | None = None, variant: str = "A"
                 ) -> list[dict[str, Any]]:
    """One row per method: its exact filter set (or why it has none), edge, negative part."""
    rows = []
    for method in methods:
        row: dict[str, Any] = {"method": method, "label": label(method)}
        try:
            info = declared_hyper(method)
            if not info["filter"]:
                raise NoFilter(f"{method} has no eigenvalue filter: {info['no_filter']}")
            values = hyper_for(method, alpha, beta, rho, dict(hyper or {}))
            form = variant if info["forms"] else "A"
            S = filter_set(method, *_split(values)[:3], form=form, hyper=_split(values)[3])
        except NoFilter as exc:
            row.update({"set": None, "no_filter": str(exc)})
            rows.append(row)
            continue
        negative = sp.Intersection(S, sp.Interval.open(-sp.oo, 0))
        row.update({"set": S, "text": _text(S), "hyper": values, "variant": form,
                    "edge": S.sup, "edge_float": float(S.sup) if S.sup.is_finite else None,
                    "negative": None if negative == sp.S.EmptySet else _text(negative)})
        rows.append(row)
    return rows


def rational_member(S: sp.Set) -> sp.Expr | None:
    """A short point of a nonempty set: a rational with few digits inside an interval of
    positive length, else one of its points (exact)."""
    pieces = S.args if isinstance(S, sp.Union) else (S,)
    for p in pieces:
        if isinstance(p, sp.Interval) and p.measure.is_positive:
            lo, hi = p.inf, p.sup
            if not lo.is_finite:
                return sp.floor(hi) - 1
            if not hi.is_finite:
                return sp.ceiling(lo) + 1
            for digits in range(1, 12):
                q = sp.nsimplify(round(float((lo + hi) / 2), digits), rational=True)
                if p.contains(q) is sp.true:
                    return q
    for p in pieces:
        if isinstance(p, sp.FiniteSet) and len(p):
            return next(iter(p))
        if isinstance(p, sp.Interval):
            return p.inf if p.contains(p.inf) is sp.true else p.sup
    return None


def inclusions(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """For each pair of methods with a filter: equal, one inside the other (that one excludes
    more curvature), or neither; with a curvature that only one of them admits where they
    differ (``only_a``, ``only_b``)."""
    out = []
    having = [r for r in rows if r["set"] is not None]
    for i, a in enumerate(having):
        for b in having[i + 1:]:
            a_not_b = sp.simplify(sp.Complement(a["set"], b["set"]))
            b_not_a = sp.simplify(sp.Complement(b["set"], a["set"]))
            pair = {"a": a["method"], "b": b["method"],
                    "only_a": None if a_not_b == sp.S.EmptySet else rational_member(a_not_b),
                    "only_b": None if b_not_a == sp.S.EmptySet else rational_member(b_not_a)}
            if pair["only_a"] is None and pair["only_b"] is None:
                pair.update(relation="equal", text=f"{a['label']} and {b['label']} have the "
                            "same filter set")
            elif pair["only_a"] is None:
                pair.update(relation="a-inside-b", text=f"{a['label']} excludes more "
                            f"curvature: its set lies inside {b['label']}'s, which also admits "
                            f"{_text(b_not_a)}")
            elif pair["only_b"] is None:
                pair.update(relation="b-inside-a", text=f"{b['label']} excludes more "
                            f"curvature: its set lies inside {a['label']}'s, which also admits "
                            f"{_text(a_not_b)}")
            else:
                pair.update(relation="neither", text=f"neither set contains the other: only "
                            f"{a['label']} admits {_text(a_not_b)}, only {b['label']} admits "
                            f"{_text(b_not_a)}")
            out.append(pair)
    return out


def claims(rows: list[dict[str, Any]], pairs: list[dict[str, Any]]) -> list[Any]:
    """``filter-set`` claims certifying the table: each method's set (``equals``) with the
    curvatures that tell it apart from the others (``contains`` what only it admits,
    ``excludes`` what only the other admits), and each inclusion (``subset_of``)."""
    from theorems.filters.kinds import filter_set_claim

    by_method = {r["method"]: r for r in rows}
    inside: dict[str, list] = {r["method"]: [] for r in rows}
    outside: dict[str, list] = {r["method"]: [] for r in rows}
    subsets = []
    for pair in pairs:
        a, b = pair["a"], pair["b"]
        for point, has, lacks in ((pair["only_a"], a, b), (pair["only_b"], b, a)):
            if point is not None:
                inside[has].append(point)
                outside[lacks].append(point)
        if pair["only_a"] is None:
            subsets.append((a, b))
        if pair["only_b"] is None:
            subsets.append((b, a))
    out = []
    for r in rows:
        if r["set"] is None:
            continue
        alpha, beta, rho, rest = _split(r["hyper"])
        out.append(filter_set_claim(r["method"], alpha, beta=beta, rho=rho, hyper=rest or None,
                                    form=r["variant"], equals=r["set"],
                                    contains=sorted(set(inside[r["method"]]), key=float) or None,
                                    excludes=sorted(set(outside[r["method"]]), key=float)
                                    or None, id=f"{r['label']} filter set"))
    for inner, outer in subsets:
        r, o = by_method[inner], by_method[outer]
        alpha, beta, rho, rest = _split({**o["hyper"], **r["hyper"]})
        out.append(filter_set_claim(inner, alpha, beta=beta, rho=rho, hyper=rest or None,
                                    form=r["variant"], subset_of=outer,
                                    subset_variant=o["variant"] if o["variant"] != "A"
                                    else None, id=f"{r['label']} inside {o['label']}"))
    return out


def region_plot(rows: list[dict[str, Any]], over: str, *, lam_range: tuple[float, float],
                points: int = 120, lam_points: int = 600) -> dict[str, Any]:
    """The stable region of each method over (``over``, lambda), ``over`` = alpha or rho from
    a tenth to twice its given value (the others fixed): at each value, the intervals of
    lambda where the filter condition holds, from its exact condition evaluated on a grid."""
    regions: dict[str, list[list[float]]] = {}
    grid = np.linspace(lam_range[0], lam_range[1], lam_points)
    center = None
    for r in rows:
        if r["set"] is None or over not in r["hyper"]:
            continue
        center = float(r["hyper"][over])
        symbol = sp.Symbol(over, positive=True)
        values = {**r["hyper"], over: symbol}
        alpha, beta, rho, rest = _split(values)
        rest = {k: v for k, v in rest.items()}
        cond = filter_condition(r["method"], alpha=alpha, beta=beta, rho=rho,
                                form=r["variant"], hyper=rest)
        test = sp.lambdify((symbol, LAM), cond, "numpy")
        xs = np.linspace(center / 10, 2 * center, points)
        segments = []
        for x in xs:
            inside = np.asarray(test(x, grid), dtype=bool) & np.ones_like(grid, dtype=bool)
            edges = np.flatnonzero(np.diff(np.concatenate([[0], inside.astype(int), [0]])))
            for lo, hi in zip(edges[::2], edges[1::2]):
                segments.append([float(x), float(grid[lo]), float(grid[hi - 1])])
        regions[r["label"]] = segments
    return {"title": f"stable regions over ({over}, lambda)", "xlabel": over,
            "ylabel": "lambda (Hessian eigenvalue)", "regions": regions,
            "marker": center}
