r"""Eigenvalue filters of optimizers, derived from their implemented update maps.

Source: J. Bolte, Q.-T. Le, E. Pauwels, *Convergence of optimizers implies eigenvalues filtering
at equilibrium* (arXiv 2510.09034); THEORY.md section 5.

Theorem 2.1: for almost every initialization, if the iterates of :math:`x^+ = G_\alpha(x)`
converge to :math:`\bar x` then :math:`\rho(\mathrm{Jac}\,G_\alpha(\bar x)) \le 1`. At a critical
point with Hessian H the Jacobian acts on each eigenvector of H through a 1x1 (memoryless
methods) or 2x2 (momentum methods) matrix :math:`M(\lambda)`. The *filter* is the set of
:math:`\lambda` with :math:`\rho(M(\lambda)) \le 1`.

Nothing is retyped: :func:`eigen_matrix` runs the map of :mod:`numerics.updates` on SymPy
symbols with the gradient oracle :math:`v \mapsto \lambda v` and differentiates the result;
:func:`stability_condition` applies the Jury conditions for the closed unit disk to its
characteristic polynomial (degree 1: :math:`|a_0| \le 1`; degree 2, :math:`\mu^2 + a_1\mu +
a_0`: :math:`|a_0| \le 1` and :math:`|a_1| \le 1 + a_0`); :func:`filter_set` solves the
resulting polynomial inequalities in :math:`\lambda` exactly.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np
import sympy as sp

from numerics import updates
from verify.errors import InvalidClaim, UnsupportedFunction
from verify.formula import as_expression, parse_number, parse_set
from verify.registry import check, decider
from verify.verdict import Claim, Status, Verdict, combine, expected_status

PAPER = "Bolte, Le, Pauwels"
LAM = sp.Symbol("lambda", real=True)
MU = sp.Symbol("mu")
ALPHA, BETA, RHO = sp.symbols("alpha beta rho", positive=True)


# --------------------------------------------------------------------------------------------
# derivation from the implemented maps
# --------------------------------------------------------------------------------------------

def eigen_matrix(update_map: updates.UpdateMap, lam: sp.Expr = LAM) -> sp.Matrix:
    """M(lambda): the Jacobian of the map on one eigen-direction of a quadratic with curvature
    lambda (state (x, x_prev) for momentum methods)."""
    x, p = sp.symbols("x_state p_state", real=True)
    X = sp.Matrix([x])
    state = updates.MomentumState(prev=sp.Matrix([p])) if update_map.momentum else \
        update_map.init(X)
    new_x, new_state = update_map.update(X, state, lambda v: lam * v,
                                         hvp_fn=lambda y, v: lam * v)
    outputs = [new_x[0]] + ([new_state.prev[0]] if update_map.momentum else [])
    inputs = [x] + ([p] if update_map.momentum else [])
    return sp.Matrix(outputs).jacobian(inputs).applyfunc(sp.expand)


def stability_condition(matrix: sp.Matrix) -> sp.Basic:
    """rho(matrix) <= 1 as polynomial inequalities (Jury conditions for the closed disk)."""
    poly = sp.Poly(matrix.charpoly(MU).as_expr(), MU)
    coeffs = poly.all_coeffs()
    if coeffs[0] != 1:
        raise UnsupportedFunction("characteristic polynomial is not monic")
    if poly.degree() == 1:
        a0 = sp.expand(coeffs[1])
        return sp.And(a0 <= 1, a0 >= -1)
    if poly.degree() == 2:
        a1, a0 = sp.expand(coeffs[1]), sp.expand(coeffs[2])
        return sp.And(a0 <= 1, a0 >= -1, a1 <= 1 + a0, -a1 <= 1 + a0)
    raise UnsupportedFunction(f"Jury conditions of degree {poly.degree()} are not implemented")


def _map_for(method: str, alpha: Any, beta: Any = None, rho: Any = None, form: str = "A"
             ) -> updates.UpdateMap:
    try:
        return updates.make(method, alpha=alpha, beta=beta, rho=rho, form=form)
    except ValueError as exc:
        raise InvalidClaim(str(exc)) from None


def filter_condition(method: str, *, alpha: Any = ALPHA, beta: Any = None, rho: Any = None,
                     form: str = "A") -> sp.Basic:
    """The filter of ``method`` as a condition on LAM (hyperparameters may be symbols)."""
    if beta is None and method in ("heavy-ball", "nesterov", "usam-heavy-ball"):
        beta = BETA
    if rho is None and method in ("usam", "usam-heavy-ball", "two-step-usam", "hessian-usam"):
        rho = RHO
    return stability_condition(eigen_matrix(_map_for(method, alpha, beta, rho, form)))


def filter_set(method: str, alpha: Any, beta: Any = None, rho: Any = None, form: str = "A"
               ) -> sp.Set:
    """The exact set of Hessian eigenvalues lambda at which the implemented map of ``method``
    has spectral radius <= 1 (numeric hyperparameters, read exactly)."""
    alpha = _positive(alpha, "alpha")
    beta = None if beta is None else _in_unit(beta)
    rho = None if rho is None else _positive(rho, "rho")
    cond = stability_condition(eigen_matrix(_map_for(method, alpha, beta, rho, form)))
    result: sp.Set = sp.S.Reals
    for rel in (cond.args if isinstance(cond, sp.And) else (cond,)):
        if rel in (sp.true, sp.false):
            part = sp.S.Reals if rel == sp.true else sp.S.EmptySet
        else:
            part = sp.solve_univariate_inequality(rel, LAM, relational=False)
        result = sp.Intersection(result, part)
    return sp.simplify(result) if not isinstance(result, sp.Interval) else result


def _positive(value: Any, name: str) -> sp.Expr:
    v = parse_number(value, what=name)
    if not v > 0:
        raise InvalidClaim(f"{name} must be positive, got {v}")
    return v


def _in_unit(value: Any) -> sp.Expr:
    v = parse_number(value, what="beta")
    if not (v >= 0 and v < 1):
        raise InvalidClaim(f"beta must satisfy 0 <= beta < 1, got {v}")
    return v


#: THEORY.md 5.2/5.3 closed forms (the check proves the derived conditions equivalent).
def closed_form(method: str, form: str = "A") -> sp.Basic:
    lam = LAM
    p_usam = lam * (1 + RHO * lam)
    forms = {
        "gd": sp.And(lam >= 0, lam <= 2 / ALPHA),
        "heavy-ball": sp.And(lam >= 0, lam <= 2 * (1 + BETA) / ALPHA),
        "nesterov": sp.And(lam >= 0, lam <= 2 * (1 + BETA) / ((1 + 2 * BETA) * ALPHA)),
        "usam": sp.And(p_usam >= 0, p_usam <= 2 / ALPHA),
        "usam-heavy-ball": sp.And(p_usam >= 0, p_usam <= 2 * (1 + BETA) / ALPHA),
    }
    if method == "two-step-usam":
        p = lam * (1 + RHO * lam + RHO**2 * lam**2) if form == "A" else lam * (1 + RHO * lam)**2
        return sp.And(p >= 0, p <= 2 / ALPHA)
    if method == "hessian-usam":
        p = lam * (1 + RHO * lam)**2 if form == "A" else p_usam
        return sp.And(p >= 0, p <= 2 / ALPHA)
    return forms[method]


# --------------------------------------------------------------------------------------------
# spectral radius of a Jacobian, decided exactly or enclosed rigorously
# --------------------------------------------------------------------------------------------

def spectral_radius_le_one(J: sp.Matrix) -> tuple[bool | None, str, dict[str, Any]]:
    """Decide rho(J) <= 1. Rational J: exact (certified root isolation of the characteristic
    polynomial over Q, with exact treatment of roots +-1). Otherwise: ball arithmetic.
    Returns (answer, how, evidence); answer None when the enclosure cannot decide."""
    import flint

    from theorems._exact import arb_eval

    mu = sp.Symbol("mu")
    poly = sp.Poly(J.charpoly(mu).as_expr(), mu)
    coeffs = poly.all_coeffs()[::-1]  # constant term first
    exact = all(c.is_Rational for c in coeffs)
    if exact:
        fpoly = flint.fmpq_poly([flint.fmpq(int(c.p), int(c.q)) for c in coeffs])
        roots = [r for r, _ in fpoly.complex_roots()]
        how = "exact characteristic polynomial, certified root isolation (python-flint)"
    else:
        balls = [flint.acb(arb_eval(c)) for c in coeffs]
        roots = list(flint.acb_poly(balls).roots())
        how = "characteristic polynomial in ball arithmetic (python-flint acb roots)"
    moduli = [abs(r) for r in roots]
    evidence = {"eigenvalues": [str(r) for r in roots],
                "moduli_upper": [float(m.upper()) for m in moduli]}
    if all(m <= 1 for m in moduli):
        return True, how, evidence
    for r, m in zip(roots, moduli):
        if m > 1:
            evidence["eigenvalue_outside"] = str(r)
            return False, how, evidence
    # moduli straddling 1: exact roots at +-1?
    undecided = [r for r, m in zip(roots, moduli) if not m <= 1 and not m > 1]
    # an isolating ball that contains +-1 where the characteristic polynomial vanishes
    # exactly (rational arithmetic, or a SymPy identity) is that root
    roots_at_unit = {unit for unit in (1, -1)
                     if sp.simplify(sum(c * unit**k for k, c in enumerate(coeffs))) == 0}
    on_circle = sum(1 for r in undecided
                    if any(r.contains(flint.acb(u)) for u in roots_at_unit))
    if undecided and on_circle == len(undecided) and _isolated(roots, undecided):
        return True, how + "; eigenvalues of modulus 1 are exactly +-1", evidence
    return None, how + "; an eigenvalue has modulus too close to 1 to decide", evidence


def _isolated(roots: list, chosen: list) -> bool:
    """The chosen root balls are pairwise disjoint from all other root balls."""
    for r in chosen:
        if sum(1 for q in roots if q.overlaps(r)) != 1:
            return False
    return True


def sympy_oracles(f: sp.Expr, variables: Sequence[sp.Symbol]):
    """Exact gradient and Hessian-vector oracles of f for maps run on SymPy matrices."""
    grad = sp.Matrix([sp.diff(f, v) for v in variables])
    hess = sp.hessian(f, variables)

    def grad_fn(y: sp.Matrix) -> sp.Matrix:
        return grad.subs(dict(zip(variables, y)), simultaneous=True)

    def hvp_fn(y: sp.Matrix, v: sp.Matrix) -> sp.Matrix:
        return hess.subs(dict(zip(variables, y)), simultaneous=True) * v

    return grad_fn, hvp_fn


def update_jacobian(update_map: updates.UpdateMap, f: sp.Expr,
                    variables: Sequence[sp.Symbol], point: Sequence[sp.Expr]) -> sp.Matrix:
    """Exact Jacobian of the implemented map at the fixed point (x = x_prev = point)."""
    n = len(variables)
    grad_fn, hvp_fn = sympy_oracles(f, variables)
    xs = sp.Matrix(sp.symbols(f"s0:{n}", real=True))
    ps = sp.Matrix(sp.symbols(f"q0:{n}", real=True))

    state = updates.MomentumState(prev=ps) if update_map.momentum else update_map.init(xs)
    new_x, new_state = update_map.update(xs, state, grad_fn, hvp_fn=hvp_fn)
    outputs = list(new_x) + (list(new_state.prev) if update_map.momentum else [])
    inputs = list(xs) + (list(ps) if update_map.momentum else [])
    J = sp.Matrix(outputs).jacobian(inputs)
    at = {s: parse_number(c, what="point") for s, c in zip(xs, point)}
    at.update({s: parse_number(c, what="point") for s, c in zip(ps, point)})
    return J.subs(at, simultaneous=True).applyfunc(sp.simplify)


# --------------------------------------------------------------------------------------------
# claim kinds
# --------------------------------------------------------------------------------------------

def _method_params(method: str, alpha: Any, beta: Any, rho: Any, form: str) -> dict[str, Any]:
    params: dict[str, Any] = {"method": method, "alpha": parse_number(alpha, what="alpha")}
    if beta is not None:
        params["beta"] = parse_number(beta, what="beta")
    if rho is not None:
        params["rho"] = parse_number(rho, what="rho")
    if form != "A":
        params["variant"] = form
    return params


def filter_set_claim(method: str, alpha: Any, *, beta: Any = None, rho: Any = None,
                     form: str = "A", equals: Any = None, contains: Sequence[Any] = (),
                     excludes: Sequence[Any] = (), id: str = "") -> Claim:
    """Claim about filter_set(method, ...): equality with a set, members, non-members."""
    params = _method_params(method, alpha, beta, rho, form)
    if equals is not None:
        params["equals"] = equals if isinstance(equals, sp.Set) else parse_set(equals,
                                                                              what="equals")
    if contains:
        params["contains"] = tuple(parse_number(c) for c in contains)
    if excludes:
        params["excludes"] = tuple(parse_number(c) for c in excludes)
    return Claim("filter-set", params, id=id)


def stable_point_claim(method: str, f: Any, at: Sequence[Any], alpha: Any, *, beta: Any = None,
                       rho: Any = None, form: str = "A",
                       variables: Sequence[sp.Symbol] | None = None, id: str = "") -> Claim:
    """Claim: the spectral radius of the Jacobian of the map at ``at`` is <= 1."""
    f = as_expression(f, variables)
    variables = tuple(variables or sorted(f.free_symbols, key=lambda s: s.name))
    params = {"f": f, "variables": variables, "point": tuple(parse_number(c) for c in at),
              **_method_params(method, alpha, beta, rho, form)}
    return Claim("stable-point", params, id=id)


def _form(params: dict[str, Any]) -> str:
    form = params.get("variant", "A")
    if form not in ("A", "B"):
        raise InvalidClaim(f"variant must be 'A' or 'B', got {form!r}")
    if form == "B" and params["method"] not in ("two-step-usam", "hessian-usam"):
        raise InvalidClaim("variant applies to two-step-usam and hessian-usam only")
    return form


@decider("filter-set", "stable-point")
def decide_claim(claim: Claim, *, seed: int = 0, budget: int | None = None) -> Verdict:
    p = claim.params
    cid = claim.id or claim.kind
    form = _form(p)
    if claim.kind == "filter-set":
        S = filter_set(p["method"], p["alpha"], p.get("beta"), p.get("rho"), form)
        parts = []
        ev = {"filter_set": str(S), "derivation": "Jury conditions on the Jacobian of the "
              "implemented map (numerics.updates)"}
        if "equals" in p:
            target = p["equals"]
            diff = sp.Union(sp.Complement(S, target), sp.Complement(target, S))
            diff = sp.simplify(diff)
            if diff == sp.S.EmptySet:
                parts.append(("equals", True, None))
            else:
                # refute only with a curvature whose membership differs, decided exactly
                witness = _member(diff)
                verdicts = (None, None) if witness is None else (_membership(S, witness),
                                                                 _membership(target, witness))
                decided = all(v is not None for v in verdicts)
                if decided and verdicts[0] != verdicts[1]:
                    parts.append(("equals", False, {"symmetric_difference": str(diff),
                                                    "lambda": str(witness),
                                                    "in_filter_set": verdicts[0]}))
                else:
                    parts.append(("equals", None, {"symmetric_difference": str(diff)}))
        for lam in p.get("contains", ()):
            inside = _membership(S, lam)
            parts.append((f"contains {lam}", inside, {"lambda": str(lam)}))
        for lam in p.get("excludes", ()):
            inside = _membership(S, lam)
            parts.append((f"excludes {lam}", None if inside is None else not inside,
                          {"lambda": str(lam)}))
        failed = [(what, info) for what, ok, info in parts if ok is False]
        unknown = [what for what, ok, _ in parts if ok is None]
        if failed:
            what, info = failed[0]
            return Verdict(id=cid, kind=claim.kind, status=Status.REFUTED, method="exact sets",
                           message=f"{what} fails: the filter set is {S}",
                           counterexample={"part": what, **(info or {}), "filter_set": str(S)},
                           evidence=ev)
        if unknown:
            return Verdict(id=cid, kind=claim.kind, status=Status.INCONCLUSIVE,
                           method="exact sets", message=f"SymPy could not decide {unknown}",
                           evidence=ev)
        return Verdict(id=cid, kind=claim.kind, status=Status.PROVED, method="exact sets",
                       message=f"filter set {S}: " + ", ".join(w for w, _, _ in parts),
                       evidence=ev)
    # stable-point
    f, variables, point = p["f"], tuple(p["variables"]), tuple(p["point"])
    if len(point) != len(variables):
        raise InvalidClaim(f"the point has {len(point)} coordinates, f has {len(variables)} "
                           "variables")
    update_map = _map_for(p["method"], p["alpha"], p.get("beta"), p.get("rho"), form)
    grad_at = [sp.simplify(sp.diff(f, v).subs(dict(zip(variables, point)))) for v in variables]
    grad_fn, hvp_fn = sympy_oracles(f, variables)
    start = sp.Matrix(point)
    x_next, _ = update_map.update(start, updates.MomentumState(prev=start)
                                  if update_map.momentum else update_map.init(start),
                                  grad_fn, hvp_fn=hvp_fn)
    moved = [sp.simplify(a - b) for a, b in zip(x_next, point)]
    J = update_jacobian(update_map, f, variables, point)
    answer, how, ev = spectral_radius_le_one(J)
    ev.update({"jacobian": str(J.tolist()), "gradient_at_point": [str(g) for g in grad_at],
               "fixed_point": all(m == 0 for m in moved)})
    note = "" if ev["fixed_point"] else " (the point is not a fixed point of the map)"
    exact = "exact" in how and "ball" not in how
    if answer is True:
        status = Status.PROVED if exact else Status.CERTIFIED
        return Verdict(id=cid, kind=claim.kind, status=status, method=how,
                       message=f"rho(Jac G) <= 1 at the point{note}", evidence=ev,
                       confidence=None if exact else 1.0)
    if answer is False:
        return Verdict(id=cid, kind=claim.kind, status=Status.REFUTED, method=how,
                       message=f"rho(Jac G) > 1: eigenvalue {ev['eigenvalue_outside']}{note}",
                       counterexample={"eigenvalue": ev["eigenvalue_outside"],
                                       "jacobian": ev["jacobian"]}, evidence=ev)
    return Verdict(id=cid, kind=claim.kind, status=Status.INCONCLUSIVE, method=how,
                   message=how, evidence=ev)


def _membership(S: sp.Set, value: sp.Expr) -> bool | None:
    """``value in S`` as a Python bool, or None when SymPy cannot decide.

    ``S.contains`` returns SymPy's ``true``/``false`` (never Python's ``True``/``False``) or an
    unevaluated ``Contains``; only the two SymPy constants count as decided.
    """
    answer = S.contains(value)
    if answer is sp.true:
        return True
    if answer is sp.false:
        return False
    return None


def _member(s: sp.Set) -> sp.Expr | None:
    """A point of a nonempty set (for counterexamples)."""
    if isinstance(s, sp.FiniteSet):
        return next(iter(s))
    if isinstance(s, sp.Interval):
        lo, hi = s.inf, s.sup
        if lo.is_finite and hi.is_finite:
            return (lo + hi) / 2
        return (lo + 1) if lo.is_finite else (hi - 1)
    if isinstance(s, sp.Union):
        return _member(s.args[0])
    return None


# --------------------------------------------------------------------------------------------
# toy functions with manifolds of minima (THEORY.md 6.3, F1, F3, F4) and numeric runs
# --------------------------------------------------------------------------------------------

def hyperbola_grad(X: np.ndarray) -> np.ndarray:
    """Gradient of (x1 x2 - 1)^2 on a batch of points, shape (N, 2)."""
    r = X[:, 0] * X[:, 1] - 1
    return np.stack([2 * r * X[:, 1], 2 * r * X[:, 0]], axis=1)


def products_grad(X: np.ndarray) -> np.ndarray:
    """Gradient of (1/n) sum_i (x_{2i-1} x_{2i} - 1)^2 on a batch, shape (N, 2n)."""
    n = X.shape[1] // 2
    a, b = X[:, 0::2], X[:, 1::2]
    r = a * b - 1
    G = np.empty_like(X)
    G[:, 0::2] = 2 * r * b / n
    G[:, 1::2] = 2 * r * a / n
    return G


def numeric_hessian(grad_fn, x: np.ndarray, h: float = 1e-5) -> np.ndarray:
    """Central differences of a batched gradient at one point."""
    d = x.size
    H = np.empty((d, d))
    for i in range(d):
        e = np.zeros(d)
        e[i] = h
        H[:, i] = (grad_fn((x + e)[None])[0] - grad_fn((x - e)[None])[0]) / (2 * h)
    return (H + H.T) / 2


def step_jacobian(update_map: updates.UpdateMap, grad_fn, x: np.ndarray, h: float = 1e-6,
                  hvp_fn=None) -> np.ndarray:
    """Jacobian of the implemented numpy step at a fixed point, by central differences
    (state (x, x_prev) for momentum maps, evaluated at x_prev = x)."""
    d = x.size
    size = 2 * d if update_map.momentum else d

    def step(z: np.ndarray) -> np.ndarray:
        cur = z[:d][None]
        state = updates.MomentumState(prev=z[d:][None]) if update_map.momentum else \
            update_map.init(cur)
        new, new_state = update_map.update(cur, state, grad_fn, hvp_fn=hvp_fn)
        out = [new[0]] + ([new_state.prev[0]] if update_map.momentum else [])
        return np.concatenate(out)

    z0 = np.concatenate([x, x]) if update_map.momentum else x.copy()
    J = np.empty((size, size))
    for i in range(size):
        e = np.zeros(size)
        e[i] = h
        J[:, i] = (step(z0 + e) - step(z0 - e)) / (2 * h)
    return J


def quadratic_jacobians(update_map: updates.UpdateMap, lams: np.ndarray, h: float = 1e-6
                        ) -> np.ndarray:
    """Jacobians (by central differences of the implemented numpy step) on the 1-D quadratics
    f = lambda x^2 / 2, one per curvature; shape (len(lams), k, k), k = 1 or 2."""
    lam = np.asarray(lams, dtype=float)[:, None]
    size = 2 if update_map.momentum else 1

    def step(Z: np.ndarray) -> np.ndarray:
        X = Z[:, :1]
        state = updates.MomentumState(prev=Z[:, 1:]) if update_map.momentum else \
            update_map.init(X)
        new, new_state = update_map.update(X, state, lambda V: lam * V,
                                           hvp_fn=lambda Y, V: lam * V)
        return np.concatenate([new] + ([new_state.prev] if update_map.momentum else []), axis=1)

    J = np.empty((lam.shape[0], size, size))
    for i in range(size):
        E = np.zeros((lam.shape[0], size))
        E[:, i] = h
        J[:, :, i] = (step(E) - step(-E)) / (2 * h)
    return J


def float_membership(S: sp.Set, values: np.ndarray) -> np.ndarray:
    """Membership of floats in a union of intervals and points (exact endpoints rounded)."""
    pieces = S.args if isinstance(S, sp.Union) else (S,)
    out = np.zeros(values.shape, dtype=bool)
    for piece in pieces:
        if isinstance(piece, sp.FiniteSet):
            for p in piece:
                out |= values == float(p)
        elif isinstance(piece, sp.Interval):
            lo, hi = float(piece.inf), float(piece.sup)
            left = values > lo if piece.left_open else values >= lo
            right = values < hi if piece.right_open else values <= hi
            out |= left & right
        elif piece != sp.S.EmptySet:
            raise UnsupportedFunction(f"cannot test membership in {piece}")
    return out


def batched_hvp(grad_fn, h: float = 1e-6):
    """Hessian-vector products of a batched gradient by central differences."""
    def hvp(X: np.ndarray, V: np.ndarray) -> np.ndarray:
        return (grad_fn(X + h * V) - grad_fn(X - h * V)) / (2 * h)

    return hvp


def run_batch(update_map: updates.UpdateMap, grad_fn, X0: np.ndarray, steps: int,
              hvp_fn=None) -> tuple[np.ndarray, np.ndarray]:
    """Run the map on a batch of starts; returns (final points, converged mask)."""
    with np.errstate(all="ignore"):
        X, state = X0.copy(), update_map.init(X0.copy())
        prev = X
        for _ in range(steps):
            prev = X
            X, state = update_map.update(X, state, grad_fn, hvp_fn=hvp_fn)
        G = grad_fn(X)
        ok = np.all(np.isfinite(X), axis=1)
        converged = ok & (np.linalg.norm(G, axis=1) < 1e-9) & (
            np.linalg.norm(X - prev, axis=1) < 1e-10)
    return X, converged


# --------------------------------------------------------------------------------------------
# registered checks (THEORY.md 5.5)
# --------------------------------------------------------------------------------------------

METHOD_FORMS = [("gd", "A"), ("heavy-ball", "A"), ("nesterov", "A"), ("usam", "A"),
                ("usam-heavy-ball", "A"), ("two-step-usam", "A"), ("two-step-usam", "B"),
                ("hessian-usam", "A"), ("hessian-usam", "B")]


def _hyper(method: str, alpha: Any = sp.Rational(1, 10), beta: Any = sp.Rational(9, 10),
           rho: Any = sp.Rational(1, 20)) -> dict[str, Any]:
    out: dict[str, Any] = {"alpha": alpha}
    if method in ("heavy-ball", "nesterov", "usam-heavy-ball"):
        out["beta"] = beta
    if "usam" in method:
        out["rho"] = rho
    return out


@check("filters.symbolic", paper=PAPER, statement="Propositions 3.1, 3.4 and the filters of "
       "THEORY 5.3", summary="the filter derived from each implemented map equals the closed "
       "form for symbolic alpha > 0, 0 <= beta < 1, rho > 0 (z3 proof)")
def check_symbolic(seed: int) -> Verdict:
    import z3

    from theorems._exact import Z3Encoder, encode_bool, z3_find

    parts = []
    for method, form in METHOD_FORMS:
        cond = filter_condition(method, form=form)
        closed = closed_form(method, form)
        enc = Z3Encoder([LAM, ALPHA, BETA, RHO])
        a, b, r = enc.vars[ALPHA], enc.vars[BETA], enc.vars[RHO]
        goal = z3.Xor(encode_bool(enc, cond), encode_bool(enc, closed))
        answer, model = z3_find(enc, [a > 0, b >= 0, b < 1, r > 0, goal], rlimit=50_000_000)
        iid = f"{method} ({form})" if method in ("two-step-usam", "hessian-usam") else method
        if answer == "unsat":
            parts.append(Verdict(id=iid, kind="instance", status=Status.PROVED, method="z3",
                                 message=f"derived condition <=> {closed}"))
        elif answer == "sat":
            parts.append(Verdict(id=iid, kind="instance", status=Status.REFUTED, method="z3",
                                 message="the derived filter differs from the closed form",
                                 counterexample={"model": str(model), "derived": str(cond),
                                                 "closed_form": str(closed)}))
        else:
            parts.append(Verdict(id=iid, kind="instance", status=Status.INCONCLUSIVE,
                                 method="z3", message=f"z3: {model}"))
    return combine("x", "check", parts, method="z3 equivalence of semialgebraic conditions")


#: THEORY.md 5.3 threshold table for alpha = 0.1, beta = 0.9, rho = 0.05 (boundary points)
TABLE = {("gd", "A"): [0, 20], ("heavy-ball", "A"): [0, 38], ("nesterov", "A"): [0, 13.5714],
         ("usam", "A"): [-32.3607, -20, 0, 12.3607], ("usam-heavy-ball", "A"):
         [-39.326, -20, 0, 19.326], ("two-step-usam", "A"): [0, 10.874],
         ("hessian-usam", "A"): [-20, 0, 9.311], ("two-step-usam", "B"): [-20, 0, 9.311],
         ("hessian-usam", "B"): [-32.3607, -20, 0, 12.3607]}


@check("filters.table", paper=PAPER, statement="THEORY 5.3 threshold table",
       summary="exact filter sets at alpha = 0.1, beta = 0.9, rho = 0.05 reproduce the table "
               "(1e-3)")
def check_table(seed: int) -> Verdict:
    parts = []
    for (method, form), expected in TABLE.items():
        S = filter_set(method, form=form, **_hyper(method))
        got = sorted(float(b) for b in S.boundary)
        ok = len(got) == len(expected) and all(abs(g - e) <= 1e-3 * max(1, abs(e))
                                               for g, e in zip(got, sorted(expected)))
        iid = f"{method} ({form})"
        parts.append(Verdict(id=iid, kind="instance",
                             status=Status.PROVED if ok else Status.REFUTED, method="exact sets",
                             message=f"{S}; boundary {['%.6g' % g for g in got]}",
                             counterexample=None if ok else {"set": str(S),
                                                             "table": expected}))
    return combine("x", "check", parts, method="exact sets vs the table")


@check("filters.grid", paper=PAPER, statement="THEORY 5.5 item 1",
       summary="spectral radii of the implemented numpy steps (finite differences) agree with "
               "the exact sets on a dense grid of curvatures")
def check_grid(seed: int) -> Verdict:
    parts = []
    grid = np.linspace(-40, 60, 2001)
    settings = [dict(alpha=sp.Rational(1, 10), beta=sp.Rational(9, 10), rho=sp.Rational(1, 20)),
                dict(alpha=sp.Rational(1, 4), beta=sp.Rational(1, 2), rho=sp.Rational(1, 5))]
    for method, form in METHOD_FORMS:
        for setting in settings:
            hyper = _hyper(method, **setting)
            S = filter_set(method, form=form, **hyper)
            update_map = _map_for(method, float(hyper["alpha"]),
                                  float(hyper["beta"]) if "beta" in hyper else None,
                                  float(hyper["rho"]) if "rho" in hyper else None, form)
            radius = np.max(np.abs(np.linalg.eigvals(quadratic_jacobians(update_map, grid))),
                            axis=1)
            inside = float_membership(S, grid)
            bounds = np.array([float(b) for b in S.boundary])
            near = np.min(np.abs(grid[:, None] - bounds[None, :]), axis=1) < 1e-4 * np.maximum(
                1, np.abs(grid))
            disagree = (radius <= 1 + 1e-7) != inside
            mismatches = int(np.sum(disagree & ~near))
            iid = f"{method} ({form}) at {', '.join(f'{k}={v}' for k, v in hyper.items())}"
            if mismatches:
                parts.append(Verdict(id=iid, kind="instance", status=Status.INCONCLUSIVE,
                                     method="finite differences",
                                     message=f"{mismatches} grid points disagree away from the "
                                             "boundary"))
            else:
                parts.append(Verdict(id=iid, kind="instance", status=Status.EVIDENCE,
                                     method="finite differences of the implemented step",
                                     message=f"{grid.size} curvatures agree "
                                             f"({int(np.sum(disagree & near))} disagreements "
                                             "within 1e-4 of a boundary point)",
                                     sample_size=grid.size))
    return combine("x", "check", parts, method="numeric spectral radius vs exact sets")


@check("filters.convergence", paper=PAPER, statement="Theorem 2.1 (THEORY 5.5 items 2, 3, 5)",
       summary="runs of GD, HB, Nesterov and USAM variants from 300 random starts on "
               "(x1 x2 - 1)^2 and a sum of products converge only where the filter allows, "
               "and rho(Jac) <= 1 at every limit")
def check_convergence(seed: int) -> Verdict:
    rng = np.random.default_rng(seed)
    parts = []
    cases = [("gd", dict(alpha=0.1)), ("gd", dict(alpha=0.4)),
             ("heavy-ball", dict(alpha=0.1, beta=0.5)), ("nesterov", dict(alpha=0.1, beta=0.5)),
             ("usam", dict(alpha=0.1, rho=0.05)), ("usam-heavy-ball", dict(alpha=0.05, beta=0.5,
                                                                           rho=0.05)),
             ("two-step-usam", dict(alpha=0.1, rho=0.05)),
             ("hessian-usam", dict(alpha=0.1, rho=0.05))]
    for fname, grad_fn, dim in (("(x1 x2 - 1)^2", hyperbola_grad, 2),
                                ("sum of products, n=2", products_grad, 4)):
        X0 = rng.uniform(-3, 3, size=(300, dim))
        for method, hyper in cases:
            S = filter_set(method, **{k: sp.Rational(str(v)) for k, v in hyper.items()})
            top = float(S.sup)
            update_map = _map_for(method, hyper["alpha"], hyper.get("beta"), hyper.get("rho"))
            X, converged = run_batch(update_map, grad_fn, X0, 3000, hvp_fn=batched_hvp(grad_fn))
            lam_max, radii = [], []
            for x in X[converged]:
                H = numeric_hessian(grad_fn, x)
                lam_max.append(float(np.max(np.linalg.eigvalsh(H))))
                J = step_jacobian(update_map, grad_fn, x, hvp_fn=batched_hvp(grad_fn))
                radii.append(float(max(abs(np.linalg.eigvals(J)))))
            bad_lam = [v for v in lam_max if v > top + 1e-4]
            bad_rho = [v for v in radii if v > 1 + 1e-4]
            iid = f"{method} {hyper} on {fname}"
            summary = (f"{int(converged.sum())}/300 converged; lambda_max at limits in "
                       f"[{min(lam_max, default=float('nan')):.4g}, "
                       f"{max(lam_max, default=float('nan')):.4g}] <= {top:.6g}; max rho(Jac) "
                       f"{max(radii, default=float('nan')):.6g}")
            if bad_lam or bad_rho:
                parts.append(Verdict(id=iid, kind="instance", status=Status.INCONCLUSIVE,
                                     method="runs from random starts",
                                     message="a converged run violates the filter (a single run"
                                             " cannot refute an almost-everywhere statement): "
                                             + summary))
            else:
                parts.append(Verdict(id=iid, kind="instance", status=Status.EVIDENCE,
                                     method="runs from random starts", message=summary,
                                     sample_size=300,
                                     evidence={"converged": int(converged.sum()),
                                               "lambda_max": lam_max[:50], "threshold": top}))
    return combine("x", "check", parts, method="converged runs vs filter")


@check("filters.usam-non-minima", paper=PAPER, statement="THEORY 5.5 item 4",
       summary="USAM converges to the maximum of -15x^2 and to the saddle of x^2 - 15y^2; GD, "
               "Two-step USAM (A) and Hessian USAM (A) do not")
def check_usam_non_minima(seed: int) -> Verdict:
    x, y = sp.symbols("x y", real=True)
    alpha, rho = sp.Rational(1, 10), sp.Rational(1, 20)
    parts = []
    expect = {("usam", "A"): True, ("gd", "A"): False, ("two-step-usam", "A"): False,
              ("hessian-usam", "A"): False, ("hessian-usam", "B"): True}
    for (method, form), stable in expect.items():
        hyper = {"rho": rho} if method != "gd" else {}
        update_map = _map_for(method, alpha, None, hyper.get("rho"), form)
        M = eigen_matrix(update_map, sp.Integer(-30))
        multiplier = M[0, 0]
        ok = (abs(multiplier) < 1) == stable
        parts.append(Verdict(id=f"{method} ({form}) on -15x^2: x -> {multiplier} x",
                             kind="instance", status=Status.PROVED if ok else Status.REFUTED,
                             method="exact map on the quadratic",
                             message=f"|{multiplier}| {'<' if abs(multiplier) < 1 else '>='} 1",
                             counterexample=None if ok else {"multiplier": str(multiplier)}))
        claim = stable_point_claim(method, x**2 - 15 * y**2, (0, 0), alpha, form=form,
                                   variables=(x, y), **hyper, id=f"{method}-saddle")
        v = decide_claim(claim)
        want = Status.PROVED if stable else Status.REFUTED
        parts.append(expected_status(f"{method} ({form}) stable at the saddle of x^2 - 15y^2: "
                                     f"{stable}", v, want))
    # numerically: USAM from random starts converges to the saddle
    rng = np.random.default_rng(seed)
    X0 = rng.uniform(-1, 1, size=(100, 2))
    grad = lambda X: np.stack([2 * X[:, 0], -30 * X[:, 1]], axis=1)  # noqa: E731
    X, conv = run_batch(updates.usam(0.1, 0.05), grad, X0, 400)
    Xg, conv_g = run_batch(updates.gd(0.1), grad, X0, 400)
    ok = conv.all() and np.allclose(X, 0, atol=1e-9) and not conv_g.any()
    parts.append(Verdict(id="USAM runs reach the saddle, GD runs do not", kind="instance",
                         status=Status.EVIDENCE if ok else Status.INCONCLUSIVE,
                         method="runs from random starts",
                         message=f"USAM {int(conv.sum())}/100 at the saddle, GD "
                                 f"{int(conv_g.sum())}/100", sample_size=100))
    return combine("x", "check", parts, method="exact multipliers and runs")


# --------------------------------------------------------------------------------------------
# stable manifolds of semialgebraic update maps (the mechanism behind Theorem 2.1)
# --------------------------------------------------------------------------------------------

def stable_manifold(update_map: updates.UpdateMap, f: sp.Expr, variables: Sequence[sp.Symbol],
                    order: int = 8) -> dict[str, Any]:
    """Local stable manifold of the fixed point 0 of a memoryless polynomial map in 2-D.

    Requires a diagonal Jacobian at 0 with one eigenvalue inside and one outside the unit circle
    (coordinates along the eigen-directions). The manifold is the graph ``u = h(s)`` with
    ``h(s) = sum_{k=2}^{order} c_k s^k``, solved order by order from the invariance equation
    ``G_u(h(s), s) = h(G_s(h(s), s))`` (the c_k are unique: mu_u != mu_s^k).
    """
    if update_map.momentum or len(variables) != 2:
        raise UnsupportedFunction("stable manifolds are implemented for 2-D memoryless maps")
    x, y = variables
    grad_fn, hvp_fn = sympy_oracles(f, variables)
    X = sp.Matrix([x, y])
    new, _ = update_map.update(X, update_map.init(X), grad_fn, hvp_fn=hvp_fn)
    G = [sp.expand(g) for g in new]
    J = sp.Matrix(G).jacobian([x, y]).subs({x: 0, y: 0})
    if J[0, 1] != 0 or J[1, 0] != 0:
        raise UnsupportedFunction("the Jacobian at 0 must be diagonal (use eigen-coordinates)")
    mu = [J[0, 0], J[1, 1]]
    stable = [i for i in (0, 1) if abs(mu[i]) < 1]
    unstable = [i for i in (0, 1) if abs(mu[i]) > 1]
    if len(stable) != 1 or len(unstable) != 1:
        raise UnsupportedFunction(f"need one eigenvalue inside and one outside: {mu}")
    si, ui = stable[0], unstable[0]
    s = sp.Symbol("s")
    polys = [sp.Poly(g, x, y) for g in G]
    coeffs: list[sp.Expr] = [sp.Integer(0)] * (order + 1)   # h(s) = sum coeffs[k] s^k
    c = sp.Symbol("c")
    for k in range(2, order + 1):
        trial = coeffs[:]
        trial[k] = c
        stable_series = [sp.Integer(0), sp.Integer(1)] + [sp.Integer(0)] * (order - 1)
        values = {si: stable_series, ui: trial}
        lhs = _compose(polys[ui], values, order)
        image = _compose(polys[si], values, order)
        rhs = _compose_1d(trial, image, order)
        eq = sp.expand(lhs[k] - rhs[k])
        solved = sp.solve(eq, c)
        if len(solved) != 1:
            raise UnsupportedFunction(f"order {k}: no unique coefficient")
        coeffs[k] = sp.nsimplify(solved[0])
    h_exact = sum(coef * s**k for k, coef in enumerate(coeffs))
    return {"h": h_exact, "s": s, "stable_index": si, "unstable_index": ui, "mu": mu, "map": G,
            "variables": tuple(variables)}


def _mul(a: list, b: list, n: int) -> list:
    """Product of two truncated power series (coefficient lists) modulo s^(n+1)."""
    out = [sp.Integer(0)] * (n + 1)
    for i, ai in enumerate(a):
        if ai == 0:
            continue
        for j in range(0, n + 1 - i):
            if b[j] != 0:
                out[i + j] += ai * b[j]
    return [sp.expand(v) for v in out]


def _compose(poly: sp.Poly, values: dict[int, list], n: int) -> list:
    """poly(x, y) with x, y replaced by truncated series (values[0], values[1])."""
    out = [sp.Integer(0)] * (n + 1)
    for (i, j), coef in poly.terms():
        series = [sp.Integer(1)] + [sp.Integer(0)] * n
        for _ in range(i):
            series = _mul(series, values[0], n)
        for _ in range(j):
            series = _mul(series, values[1], n)
        out = [o + coef * t for o, t in zip(out, series)]
    return [sp.expand(v) for v in out]


def _compose_1d(h: list, inner: list, n: int) -> list:
    """h(inner(s)) for truncated series (h has no constant term)."""
    out = [sp.Integer(0)] * (n + 1)
    power = [sp.Integer(1)] + [sp.Integer(0)] * n
    for k in range(1, n + 1):
        power = _mul(power, inner, n)
        if h[k] != 0:
            out = [o + h[k] * t for o, t in zip(out, power)]
    return [sp.expand(v) for v in out]


def manifold_experiment(manifold: dict[str, Any], *, s0: float = 0.05, offset: float = 1e-6,
                        steps: int = 80, starts: int = 2000, seed: int = 0) -> dict[str, Any]:
    """Trajectories from the series manifold approach the fixed point far more closely than
    trajectories started `offset` off it; random starts essentially never converge."""
    x, y = manifold["variables"]
    G = sp.lambdify((x, y), manifold["map"], "numpy")
    h = sp.lambdify(manifold["s"], manifold["h"], "numpy")
    si, ui = manifold["stable_index"], manifold["unstable_index"]

    def start(s: float, du: float) -> np.ndarray:
        p = np.zeros(2)
        p[si], p[ui] = s, h(s) + du
        return p

    def closest(p: np.ndarray) -> float:
        best = np.linalg.norm(p)
        with np.errstate(all="ignore"):
            for _ in range(steps):
                p = np.array(G(*p), dtype=float)
                if not np.all(np.isfinite(p)) or np.linalg.norm(p) > 1e6:
                    break
                best = min(best, np.linalg.norm(p))
        return float(best)

    on = closest(start(s0, 0.0))
    off = closest(start(s0, offset))
    rng = np.random.default_rng(seed)
    P = rng.uniform(-0.1, 0.1, size=(starts, 2))
    converged = 0
    with np.errstate(all="ignore"):
        Q = P.T.copy()
        for _ in range(steps * 4):
            Q = np.array(G(Q[0], Q[1]), dtype=float)
        converged = int(np.sum(np.linalg.norm(Q, axis=0) < 1e-8))
    residual_points = np.array([1e-2, 2e-2, 4e-2])
    residuals = []
    hs = manifold["h"]
    for value in residual_points:  # exact rational arithmetic: round-off would hide s^(N+1)
        q = sp.Rational(str(value))
        point = {x: 0, y: 0}
        point[manifold["variables"][si]] = q
        point[manifold["variables"][ui]] = hs.subs(manifold["s"], q)
        image = [g.subs(point, simultaneous=True) for g in manifold["map"]]
        residuals.append(float(abs(image[ui] - hs.subs(manifold["s"], image[si]))))
    return {"closest_on_manifold": on, "closest_off_manifold": off,
            "random_starts_converged": converged, "random_starts": starts,
            "invariance_residuals": residuals, "residual_s": residual_points.tolist()}


@check("filters.stable-manifold", paper=PAPER, statement="Theorem 2.1 (stable manifold "
       "mechanism)", summary="GD at a minimum sharper than 2/alpha and USAM at a stationary "
       "point with mixed filter membership: the local stable manifold (power series from the "
       "invariance equation) attracts, everything else escapes")
def check_stable_manifold(seed: int) -> Verdict:
    x, y = sp.symbols("x y", real=True)
    cases = [("gd", updates.gd(sp.Rational(1, 10)), 25 * x**2 / 2 + 5 * y**2 / 2 + x * y**2),
             ("usam", updates.usam(sp.Rational(1, 10), sp.Rational(1, 20)),
              -5 * x**2 - 15 * y**2 + x * y**2)]
    parts = []
    for name, update_map, f in cases:
        manifold = stable_manifold(update_map, f, (x, y), order=8)
        result = manifold_experiment(manifold, seed=seed)
        # invariance residual should scale like s^(order+1): slope of log residual vs log s
        res = np.maximum(np.array(result["invariance_residuals"]), 1e-300)
        slope = float(np.polyfit(np.log(result["residual_s"]), np.log(res), 1)[0])
        ok = (result["closest_on_manifold"] < 1e-3 * result["closest_off_manifold"]
              and result["random_starts_converged"] == 0 and slope > 7.5)
        parts.append(Verdict(
            id=f"{name} on {f}: multipliers {manifold['mu']}", kind="instance",
            status=Status.EVIDENCE if ok else Status.INCONCLUSIVE,
            method="power series of the stable manifold + trajectories",
            message=f"h(s) = {sp.N(manifold['h'], 4)}; closest approach on/off the manifold "
                    f"{result['closest_on_manifold']:.2e}/{result['closest_off_manifold']:.2e};"
                    f" {result['random_starts_converged']}/{result['random_starts']} random "
                    f"starts converged; invariance residual ~ s^{slope:.1f}",
            sample_size=result["random_starts"], evidence={**result, "h": str(manifold["h"])}))
    return combine("x", "check", parts, method="stable manifolds")


# --------------------------------------------------------------------------------------------
# edge of stability on real data (THEORY.md 5.3 "EoS link", 5.5 item 6)
# --------------------------------------------------------------------------------------------

def edge_of_stability_run(method: str, alpha: float, rho: float | None = None, *,
                          beta: float | None = None, steps: int = 3000, every: int = 150,
                          samples: int = 500, width: int = 16, init_seed: int = 0
                          ) -> dict[str, Any]:
    """Full-batch training of a 64-width-10 tanh MLP on scikit-learn digits with half-MSE by the
    implemented update map; every ``every`` steps the top Hessian eigenvalue is computed by the
    curvature engine (Lanczos, residual and probabilistic upper bound recorded, float64) and set
    beside the filter edge of the method (the supremum of its filter set)."""
    import torch

    from numerics import models
    from numerics.curvature import HessianOperator

    inputs, targets = models.digits(samples)
    net = models.mlp((64, width, 10), seed=init_seed)
    loss, w = models.flat_loss(net, models.half_mse, inputs, targets)
    update_map = _map_for(method, alpha, beta, rho)
    exact = [None if v is None else sp.Rational(str(v)) for v in (beta, rho)]
    edge = float(filter_set(method, sp.Rational(str(alpha)), *exact).sup)

    def grad_fn(v: torch.Tensor) -> torch.Tensor:
        v = v.detach().requires_grad_(True)
        return torch.autograd.grad(loss(v), v)[0]

    state = update_map.init(w)
    record: dict[str, list] = {"step": [], "lambda_max": [], "residual": [], "upper_bound": [],
                               "loss": []}
    for k in range(steps + 1):
        if k % every == 0:
            torch.nn.utils.vector_to_parameters(w.detach(), net.parameters())
            top = HessianOperator(net, models.half_mse, (inputs, targets)).top_eigenvalues(
                k=1, tol=1e-8, seed=k)
            record["step"].append(k)
            record["lambda_max"].append(top.values[0])
            record["residual"].append(top.residuals[0])
            record["upper_bound"].append(top.upper_bound)
            record["loss"].append(float(loss(w.detach())))
        w, state = update_map.update(w.detach(), state, grad_fn)
    return {"edge": edge, **record}


def _edge_verdict(run: dict[str, Any], iid: str, band: float) -> tuple[Verdict, dict]:
    late = np.array(run["lambda_max"][len(run["lambda_max"]) // 2:])
    rel = late / run["edge"] - 1
    ok = bool(np.all(np.abs(rel) <= band))
    verdict = Verdict(
        id=iid, kind="instance", status=Status.EVIDENCE if ok else Status.INCONCLUSIVE,
        method="Lanczos top eigenvalue of a digits MLP along full-batch training",
        message=f"edge {run['edge']:.4f}; second half lambda_max in [{late.min():.4f}, "
                f"{late.max():.4f}] ({rel.min():+.2%} .. {rel.max():+.2%} of the edge; band "
                f"+/-{band:.0%})",
        sample_size=len(late), evidence=run)
    plot = {"title": f"{iid}: top Hessian eigenvalue vs edge", "xlabel": "step",
            "ylabel": "lambda_max", "x": run["step"],
            "lines": {"lambda_max": run["lambda_max"],
                      "edge": [run["edge"]] * len(run["step"])}}
    return verdict, plot


def _edge_check(settings: list[tuple[str, float, float | None, float | None]], band: float,
                **kw: Any) -> Verdict:
    parts, plots = [], []
    for method, alpha, beta, rho in settings:
        run = edge_of_stability_run(method, alpha, rho, beta=beta, **kw)
        iid = f"{method} alpha={alpha}" + (f" beta={beta}" if beta else "") + \
            (f" rho={rho}" if rho else "")
        verdict, plot = _edge_verdict(run, iid, band)
        parts.append(verdict)
        plots.append(plot)
    return combine("x", "check", parts, method="edge of stability", evidence={"plots": plots})


@check("filters.edge-of-stability", paper=PAPER, statement="THEORY 5.5 item 6 (EoS link)",
       summary="full-batch GD and USAM on scikit-learn digits: the top Hessian eigenvalue rises "
               "to the filter edge (2/alpha; root of lambda(1 + rho lambda) = 2/alpha) and hovers "
               "there")
def check_edge_of_stability(seed: int) -> Verdict:
    return _edge_check([("gd", 0.15, None, None), ("usam", 0.1, None, 0.02)], band=0.03)


@check("filters.edge-of-stability-full", paper=PAPER, statement="THEORY 5.5 item 6 (EoS link)",
       profile="full",
       summary="the edge of stability for GD at three step sizes, heavy ball, Nesterov and USAM on "
               "1000 scikit-learn digits (width 32): lambda_max rises to the filter edge of each "
               "method and hovers there")
def check_edge_of_stability_full(seed: int) -> Verdict:
    settings = [("gd", 0.1, None, None), ("gd", 0.2, None, None), ("gd", 0.3, None, None),
                ("heavy-ball", 0.15, 0.5, None), ("nesterov", 0.075, 0.5, None),
                ("usam", 0.1, None, 0.02)]
    return _edge_check(settings, band=0.05, samples=1000, width=32, steps=6000, every=300)
