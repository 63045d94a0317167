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


# --------------------------------------------------------------------------------------------
# are two methods the same map?
# --------------------------------------------------------------------------------------------

#: the function and point on which two maps are compared when they are not the same map
#: structurally: a cubic with no symmetry, at a rational point
CUBIC = "x0**3/3 + x0*x1**2/2 - x1**3/5 + x0*x1 + x0**2/2"
CUBIC_POINT = ("1/2", "-1/3")


def _load(method: str) -> Any:
    from numerics import updates

    return updates.load_method(method)


def _maps_worker(a: tuple, b: tuple) -> dict[str, Any]:
    """In a worker (the files are users' code): run both maps (method, hyper texts, form) on
    two variables with uninterpreted oracles (the gradient at y is (g0(y), g1(y)), the Hessian
    at y the symmetric matrix of h00(y), h01(y), h11(y)), and on the cubic :data:`CUBIC`."""
    from numerics import updates
    from verify.kernel.facts import parse, parse_constant
    from verify.kernel.filters import sympy_oracles

    x = sp.Matrix(sp.symbols("x0 x1", real=True))
    g = [sp.Function(f"g{i}") for i in range(2)]
    h = {(0, 0): sp.Function("h00"), (0, 1): sp.Function("h01"), (1, 1): sp.Function("h11")}

    def grad_fn(y: sp.Matrix) -> sp.Matrix:
        return sp.Matrix([g[i](*y) for i in range(2)])

    def hvp_fn(y: sp.Matrix, v: sp.Matrix) -> sp.Matrix:
        H = sp.Matrix(2, 2, lambda i, j: h[(min(i, j), max(i, j))](*y))
        return H * v

    variables = tuple(x)
    cubic_grad, cubic_hvp = sympy_oracles(parse(CUBIC, variables), variables)
    point = sp.Matrix([parse_constant(c) for c in CUBIC_POINT])
    out = {}
    for key, (method, hyper, form) in (("a", a), ("b", b)):
        declared = _load(method)
        umap = updates.build(declared, form=form,
                             **{k: parse_constant(v) for k, v in hyper.items()})
        if umap.momentum or not isinstance(umap.init(x), tuple) or len(umap.init(x)):
            raise ValueError(f"{method}: maps are compared when they keep no state")
        new, _ = umap.update(x, umap.init(x), grad_fn, hvp_fn=hvp_fn)
        on_cubic, _ = umap.update(point, umap.init(point), cubic_grad, hvp_fn=cubic_hvp)
        out[key] = {"oracles": [sp.expand(e) for e in new],
                    "cubic": [str(sp.nsimplify(e)) for e in on_cubic]}
    difference = [sp.expand(p - q) for p, q in zip(out["a"]["oracles"], out["b"]["oracles"])]
    return {"same_map": all(d == 0 for d in difference),
            "difference": [str(d) for d in difference],
            "a_update": [str(e) for e in out["a"]["oracles"]],
            "b_update": [str(e) for e in out["b"]["oracles"]],
            "a_cubic": out["a"]["cubic"], "b_cubic": out["b"]["cubic"]}


def compare_maps(a: str, b: str, hyper: dict[str, Any], *, form_a: str = "A",
                 form_b: str = "A") -> dict[str, Any]:
    """What two memoryless methods have in common, at the same hyperparameters (each takes
    those it declares):

    * ``same_map``: the two updates are the same expression of the oracle values (gradients
      and Hessian-vector products at the points each map asks for), so the same map for every
      f; otherwise ``cubic``: their updates on :data:`CUBIC` at :data:`CUBIC_POINT`, exact,
      which differ;
    * ``same_linearization``: the same M(lambda), hence the same Jacobian at every critical
      point of every quadratic;
    * ``same_filter``: the same exact filter set.

    The maps run in a worker process (users' files are users' code)."""
    from verify.kernel.isolated import IsolatedFailure, run_isolated

    def spec(method: str, form: str) -> tuple:
        names = [h[0] for h in declared_hyper(method)["hyper"]]
        missing = [n for n in names if hyper.get(n) is None]
        if missing:
            raise InvalidClaim(f"{label(method)} needs {missing}")
        return method, {n: str(hyper[n]) for n in names}, form

    a_spec, b_spec = spec(a, form_a), spec(b, form_b)
    try:
        status, answer = run_isolated(_maps_worker, (a_spec, b_spec), timeout=120)
    except IsolatedFailure as exc:
        raise InvalidClaim(f"comparing {label(a)} and {label(b)}: the worker {exc}") from None
    if status != "ok":
        raise InvalidClaim(f"comparing {label(a)} and {label(b)}: {answer}")
    values = [{k: sp.nsimplify(hyper[k], rational=True) for k in s[1]} for s in (a_spec, b_spec)]
    Ma = method_matrix_of(a, values[0], form_a)
    Mb = method_matrix_of(b, values[1], form_b)
    Sa = filter_set(a, *_split(values[0])[:3], form=form_a, hyper=_split(values[0])[3] or None)
    Sb = filter_set(b, *_split(values[1])[:3], form=form_b, hyper=_split(values[1])[3] or None)
    answer.update({
        "a": label(a), "b": label(b),
        "cubic_differ": answer["a_cubic"] != answer["b_cubic"],
        "linearization_a": str(Ma.tolist()), "linearization_b": str(Mb.tolist()),
        "same_linearization": Ma.shape == Mb.shape and all(
            sp.expand(p - q) == 0 for p, q in zip(Ma, Mb)),
        "filter_a": str(Sa), "filter_b": str(Sb),
        "same_filter": sp.simplify(sp.Union(sp.Complement(Sa, Sb), sp.Complement(Sb, Sa)))
        == sp.S.EmptySet})
    return answer


def method_matrix_of(method: str, values: dict[str, Any], form: str) -> sp.Matrix:
    from theorems.filters.mathematics import method_matrix

    alpha, beta, rho, rest = _split(values)
    return method_matrix(method, alpha, beta, rho, form, rest or None)
