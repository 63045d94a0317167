"""Kernel obligations of the eigenvalue filters (Bolte, Le, Pauwels).

The meaning of a method name is its update map in :mod:`numerics.updates` (the one
definition of each optimizer). From it the kernel derives, by SymPy differentiation, the
matrix M(lambda) of the map on one eigen-direction of a quadratic with curvature lambda, and
the condition "spectral radius <= 1" as polynomial inequalities (the closed-disk Schur-Cohn /
Jury conditions, written out for characteristic polynomials of degree 1 and 2; higher degrees
are not checked, so a claim about them cannot be decided).

* ``filter-set`` ``{method, alpha, beta?, rho?, variant?, hyper?, method_sha256?; equals?,
  contains?, excludes?, subset_of?, subset_variant?, subset_of_sha256?}``: proved by
  ``filter-set-exact`` ``{}``: "condition <=> lambda in S" for ``equals`` S and "condition =>
  B's condition" for ``subset_of`` B (B's condition at the claim's hyperparameters that B
  declares), decided at every lambda by the exact decision procedure of
  :mod:`verify.kernel.univariate` (numeric hyperparameters, rational or algebraic); or by
  ``filter-set-smt`` ``{texts}``: the SMT-LIB2 texts of "some lambda satisfies the condition but
  is not in S, or is in S but does not" and "some lambda satisfies the condition but not B's"
  (regenerated here and compared), refuted by z3 and cvc5; each ``contains``/``excludes`` value
  is decided here exactly. Refuted by ``filter-witness`` ``{lambda, part}``: the condition and
  the membership in S (or the contains/excludes/subset_of statement) differ at that lambda,
  decided exactly.
* A user's method ``"file.py:name"`` means the map its file declares, as pinned by
  ``method_sha256`` (:mod:`verify.kernel.optimizer_files`: the file must be present and
  unchanged, and it runs only in a worker process).
* ``stable-point`` ``{method, ..., variables, f, point}``: the exact Jacobian of the map at the
  point, its characteristic polynomial and certified complex root isolation (python-flint):
  ``spectral-radius`` proves (all roots in the closed unit disk) or refutes (a root outside).
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import sympy as sp

from verify.kernel import checker, require
from verify.kernel.balls import arb_eval
from verify.kernel.facts import identically_zero, parse, parse_constant, sign_holds
from verify.kernel.smt import SmtEncoder, confirm_unsat

LAM = sp.Symbol("lambda", real=True)
MU = sp.Symbol("mu")
_HYPER = ("alpha", "beta", "rho")


def update_map(claim: Mapping[str, Any]) -> Any:
    """The update map a claim names, with its hyperparameters read exactly."""
    from numerics.updates import make

    hyper = {k: parse_constant(claim[k]) for k in _HYPER if claim.get(k) is not None}
    hyper.update({k: parse_constant(v) for k, v in (claim.get("hyper") or {}).items()})
    return make(claim["method"], form=claim.get("variant") or "A", **hyper)


def eigen_matrix(umap: Any, lam: sp.Expr = LAM) -> sp.Matrix:
    """M(lambda): the Jacobian of the map on one eigen-direction of a quadratic with curvature
    lambda (state (x, x_prev) for momentum methods)."""
    from numerics.updates import MomentumState

    x, p = sp.symbols("x_state p_state", real=True)
    X = sp.Matrix([x])
    state = MomentumState(prev=sp.Matrix([p])) if umap.momentum else umap.init(X)
    new_x, new_state = umap.update(X, state, lambda v: lam * v, hvp_fn=lambda y, v: lam * v)
    outputs = [new_x[0]] + ([new_state.prev[0]] if umap.momentum else [])
    inputs = [x] + ([p] if umap.momentum else [])
    return sp.Matrix(outputs).jacobian(inputs).applyfunc(sp.expand)


def closed_disk_condition(matrix: sp.Matrix) -> sp.Basic:
    """rho(matrix) <= 1 as polynomial inequalities: mu + a0 has its root in the closed unit
    disk iff |a0| <= 1; mu^2 + a1 mu + a0 has both iff |a0| <= 1 and |a1| <= 1 + a0."""
    poly = sp.Poly(matrix.charpoly(MU).as_expr(), MU)
    coeffs = [sp.expand(c) for c in poly.all_coeffs()]
    if coeffs[0] != 1:
        raise ValueError("the characteristic polynomial is not monic")
    if poly.degree() == 1:
        a0 = coeffs[1]
        return sp.And(a0 <= 1, a0 >= -1)
    if poly.degree() == 2:
        a1, a0 = coeffs[1], coeffs[2]
        return sp.And(a0 <= 1, a0 >= -1, a1 <= 1 + a0, -a1 <= 1 + a0)
    raise ValueError(f"closed-disk conditions of degree {poly.degree()} are not written out")


def claim_matrix(claim: Mapping[str, Any], lam: sp.Expr = LAM) -> sp.Matrix:
    """M(lambda) of the claim's method: a built-in's map, or a user's file (in a worker)."""
    from verify.kernel import optimizer_files

    if optimizer_files.is_user_method(claim.get("method")):
        return optimizer_files.claim_matrix(claim, lam)
    return eigen_matrix(update_map(claim), lam)


def filter_condition(claim: Mapping[str, Any], lam: sp.Expr = LAM) -> sp.Basic:
    """The filter of the claim's method, at the claim's hyperparameters that it declares."""
    return closed_disk_condition(claim_matrix(method_claim(claim), lam))


def method_claim(claim: Mapping[str, Any], key: str = "method") -> dict[str, Any]:
    """The method of ``claim[key]`` (``method`` or ``subset_of``) as a claim of its own: the
    claim's hyperparameters that it declares; for ``subset_of``, ``subset_variant`` (else the
    claim's variant where it has variants) and ``subset_of_sha256``."""
    from numerics.updates import OPTIMIZERS

    from verify.kernel import optimizer_files

    method = claim[key]
    sha = claim.get("method_sha256" if key == "method" else "subset_of_sha256")
    out: dict[str, Any] = {"method": method, "method_sha256": sha}
    if optimizer_files.is_user_method(method):
        _, _, info = optimizer_files.pinned_declaration(method, sha)
        names, forms = [h[0] for h in info["hyper"]], info["forms"]
    else:
        declared = OPTIMIZERS.get(method)
        if declared is None:
            raise ValueError(f"unknown method {method!r}")
        names, forms = [h.name for h in declared.hyper], declared.forms
    for k in ("alpha", "beta", "rho"):
        if k in names:
            out[k] = claim.get(k)
    out["hyper"] = {k: v for k, v in (claim.get("hyper") or {}).items() if k in names}
    variant = claim.get("variant") or "A"
    if key != "method":
        variant = claim.get("subset_variant") or variant
    out["variant"] = variant if forms else "A"
    if key == "method" and not forms and (claim.get("variant") or "A") != "A":
        raise ValueError(f"{method!r} has no variants")
    if key != "method" and not forms and (claim.get("subset_variant") or "A") != "A":
        raise ValueError(f"{method!r} has no variants (subset_variant)")
    return out


def subset_claim(claim: Mapping[str, Any]) -> dict[str, Any]:
    """The method of ``subset_of`` as a claim of its own (see :func:`method_claim`)."""
    return method_claim(claim, "subset_of")


def subset_queries(claim: Mapping[str, Any]) -> list[str]:
    """SMT-LIB2 text of "some lambda is in the filter set but not in subset_of's"."""
    inner = filter_condition(claim)
    outer = filter_condition(subset_claim(claim))
    enc = SmtEncoder((LAM,))
    return [enc.script([enc.boolean(inner), enc.boolean(sp.Not(outer))])]


def set_relation(text: str, lam: sp.Symbol = LAM) -> sp.Basic:
    """``lam in S`` as a SymPy boolean, S read from its formula."""
    from verify.formula import parse_set

    return parse_set(text, what="set").as_relational(lam)


def decide_boolean(cond: Any, at: Mapping[sp.Symbol, sp.Expr]) -> bool | None:
    """A boolean of relations evaluated exactly at a point (None when a relation cannot be
    decided: a ball too wide)."""
    if cond is sp.true or cond is True:
        return True
    if cond is sp.false or cond is False:
        return False
    if isinstance(cond, (sp.And, sp.Or)):
        values = [decide_boolean(a, at) for a in cond.args]
        if isinstance(cond, sp.And):
            return False if False in values else (None if None in values else True)
        return True if True in values else (None if None in values else False)
    if isinstance(cond, sp.Not):
        value = decide_boolean(cond.args[0], at)
        return None if value is None else not value
    ops = {sp.StrictLessThan: "<", sp.LessThan: "<=", sp.StrictGreaterThan: ">",
           sp.GreaterThan: ">=", sp.Eq: "==", sp.Ne: "!="}
    op = ops.get(type(cond))
    if op is None:
        return None
    value = (cond.lhs - cond.rhs).subs(at)
    negation = {"<": ">=", "<=": ">", ">": "<=", ">=": "<", "==": "!=", "!=": "=="}
    try:
        if sign_holds(value, op):
            return True
        if sign_holds(value, negation[op]):
            return False
    except (ValueError, ZeroDivisionError):
        return None
    return None


def equality_queries(claim: Mapping[str, Any]) -> list[str]:
    """SMT-LIB2 texts of "the filter condition and membership in S differ at some lambda"."""
    cond = filter_condition(claim)
    member = set_relation(claim["equals"])
    texts = []
    for a, b in ((cond, sp.Not(member)), (sp.Not(cond), member)):
        enc = SmtEncoder((LAM,))
        texts.append(enc.script([enc.boolean(a), enc.boolean(b)]))
    return texts


def _statements(claim: Mapping[str, Any]) -> list[tuple[str, Any, bool]]:
    """(what, lambda, member?) for each contains/excludes value."""
    out = [(f"contains {v}", parse_constant(v), True) for v in claim.get("contains") or []]
    out += [(f"excludes {v}", parse_constant(v), False) for v in claim.get("excludes") or []]
    return out


def _members_hold(claim: Mapping, cond: Any) -> tuple[bool, str]:
    for what, lam, member in _statements(claim):
        inside = decide_boolean(cond, {LAM: lam})
        if inside is not member:
            return False, f"{what}: the filter condition at lambda = {lam} is {inside}"
    return True, ""


@checker("filter-set-exact")
def _check_filter_set_exact(claim: Mapping, status: str, cert: Mapping) -> tuple[bool, str]:
    """The filter set equals S ("condition <=> lambda in S") and lies in B's ("condition =>
    B's condition") at every real lambda, decided exactly by the cylindrical decomposition of
    the line (:mod:`verify.kernel.univariate`)."""
    from verify.kernel.univariate import decide

    if status != "proved":
        return False, "filter-set-exact proves"
    cond = filter_condition(claim)
    ok, reason = _members_hold(claim, cond)
    if not ok:
        return ok, reason
    if claim.get("equals") is not None:
        result = decide(sp.Equivalent(cond, set_relation(claim["equals"])), LAM)
        if not result.holds:
            return False, (f"the filter condition and the set differ at lambda = "
                           f"{result.witness.text() if result.witness else '?'}")
    if claim.get("subset_of") is not None:
        other = filter_condition(subset_claim(claim))
        result = decide(sp.Implies(cond, other), LAM)
        if not result.holds:
            return False, (f"lambda = {result.witness.text() if result.witness else '?'} is in "
                           f"the filter set, not in {claim['subset_of']}'s")
    return True, ""


@checker("filter-set-smt")
def _check_filter_set(claim: Mapping, status: str, cert: Mapping) -> tuple[bool, str]:
    if status != "proved":
        return False, "a filter-set-smt certificate proves a filter-set claim"
    cond = filter_condition(claim)
    ok, reason = _members_hold(claim, cond)
    if not ok:
        return ok, reason
    texts = equality_queries(claim) if claim.get("equals") is not None else []
    texts += subset_queries(claim) if claim.get("subset_of") is not None else []
    if texts:
        if list(cert.get("texts") or []) != texts:
            return False, "the SMT texts are not this claim's set equality / inclusion"
        return confirm_unsat(texts)
    return True, ""


@checker("filter-witness")
def _check_filter_witness(claim: Mapping, status: str, cert: Mapping) -> tuple[bool, str]:
    if claim.get("kind") != "filter-set" or status != "refuted":
        return False, "a filter witness refutes a filter-set claim"
    lam = parse_constant(cert["lambda"])
    cond = filter_condition(claim)
    inside = decide_boolean(cond, {LAM: lam})
    if inside is None:
        return False, f"the filter condition at lambda = {lam} is undecided"
    part = cert.get("part", "equals")
    if part == "subset_of" and claim.get("subset_of") is not None:
        outside = decide_boolean(filter_condition(subset_claim(claim)), {LAM: lam})
        return require(inside is True and outside is False,
                       f"lambda = {lam} is not in the filter set and outside "
                       f"{claim['subset_of']}'s")
    if part == "equals":
        member = decide_boolean(set_relation(claim["equals"]), {LAM: lam})
        return require(member is not None and member != inside,
                       f"lambda = {lam} is {'in' if inside else 'outside'} both sets")
    for what, value, want in _statements(claim):
        if what == part:
            return require(identically_zero(value - lam) and inside != want,
                           f"{what} holds at lambda = {lam}")
    return False, f"the claim has no part {part!r}"


# --------------------------------------------------------------------------------------------
# stable points
# --------------------------------------------------------------------------------------------

def sympy_oracles(f: sp.Expr, variables: Sequence[sp.Symbol]):
    """Exact gradient and Hessian-vector oracles of f for maps run on SymPy matrices."""
    grad = sp.Matrix([sp.diff(f, v) for v in variables])
    hess = sp.hessian(f, variables)

    def grad_fn(y: sp.Matrix) -> sp.Matrix:
        return grad.subs(dict(zip(variables, y)), simultaneous=True)

    def hvp_fn(y: sp.Matrix, v: sp.Matrix) -> sp.Matrix:
        return hess.subs(dict(zip(variables, y)), simultaneous=True) * v

    return grad_fn, hvp_fn


def update_jacobian(umap: Any, f: sp.Expr, variables: Sequence[sp.Symbol],
                    point: Sequence[sp.Expr]) -> sp.Matrix:
    """Exact Jacobian of the map at the fixed point (x = x_prev = point)."""
    from numerics.updates import MomentumState

    n = len(variables)
    grad_fn, hvp_fn = sympy_oracles(f, variables)
    xs = sp.Matrix(sp.symbols(f"s0:{n}", real=True))
    ps = sp.Matrix(sp.symbols(f"q0:{n}", real=True))
    state = MomentumState(prev=ps) if umap.momentum else umap.init(xs)
    new_x, new_state = umap.update(xs, state, grad_fn, hvp_fn=hvp_fn)
    outputs = list(new_x) + (list(new_state.prev) if umap.momentum else [])
    inputs = list(xs) + (list(ps) if umap.momentum else [])
    at = {s: c for s, c in zip(xs, point)}
    at.update({s: c for s, c in zip(ps, point)})
    return sp.Matrix(outputs).jacobian(inputs).subs(at, simultaneous=True).applyfunc(sp.simplify)


def spectral_radius_le_one(J: sp.Matrix) -> tuple[bool | None, str, dict[str, Any]]:
    """Decide rho(J) <= 1. Rational J: certified root isolation of the exact characteristic
    polynomial, with exact treatment of roots +-1; otherwise the polynomial in balls.
    Returns (answer, how, evidence); answer None when the enclosure cannot decide."""
    import flint

    poly = sp.Poly(J.charpoly(MU).as_expr(), MU)
    coeffs = poly.all_coeffs()[::-1]  # constant term first
    exact = all(c.is_Rational for c in coeffs)
    if exact:
        fpoly = flint.fmpq_poly([flint.fmpq(int(c.p), int(c.q)) for c in coeffs])
        roots = [r for r, _ in fpoly.complex_roots()]
        how = "exact characteristic polynomial, certified root isolation (python-flint)"
    else:
        roots = list(flint.acb_poly([flint.acb(arb_eval(c)) for c in coeffs]).roots())
        how = "characteristic polynomial in ball arithmetic (python-flint acb roots)"
    moduli = [abs(r) for r in roots]
    evidence = {"eigenvalues": [str(r) for r in roots], "exact": exact,
                "moduli_upper": [float(m.upper()) for m in moduli]}
    if all(m <= 1 for m in moduli):
        return True, how, evidence
    for r, m in zip(roots, moduli):
        if m > 1:
            evidence["eigenvalue_outside"] = str(r)
            return False, how, evidence
    undecided = [r for r, m in zip(roots, moduli) if not m <= 1 and not m > 1]
    at_unit = {u for u in (1, -1) if identically_zero(sum(c * u**k for k, c in
                                                           enumerate(coeffs)))}
    on_circle = sum(1 for r in undecided if any(r.contains(flint.acb(u)) for u in at_unit))
    isolated = all(sum(1 for q in roots if q.overlaps(r)) == 1 for r in undecided)
    if undecided and on_circle == len(undecided) and isolated:
        return True, how + "; eigenvalues of modulus 1 are exactly +-1", evidence
    return None, how + "; an eigenvalue has modulus too close to 1 to decide", evidence


def stable_point_jacobian(claim: Mapping[str, Any]) -> sp.Matrix:
    from verify.formula import make_symbols
    from verify.kernel import optimizer_files

    if optimizer_files.is_user_method(claim.get("method")):
        return optimizer_files.claim_jacobian(claim)
    variables = make_symbols(claim["variables"])
    f = parse(claim["f"], variables)
    point = [parse_constant(c) for c in claim["point"]]
    return update_jacobian(update_map(claim), f, variables, point)


@checker("spectral-radius")
def _check_spectral_radius(claim: Mapping, status: str, cert: Mapping) -> tuple[bool, str]:
    if claim.get("kind") != "stable-point":
        return False, "a spectral-radius certificate is about a stable-point claim"
    answer, how, evidence = spectral_radius_le_one(stable_point_jacobian(claim))
    if status == "proved":
        return require(answer is True and evidence["exact"],
                       "rho(Jac G) <= 1 is not established exactly")
    if status == "certified":
        return require(answer is True, "rho(Jac G) <= 1 is not established")
    return require(answer is False, "no eigenvalue is certainly outside the unit disk")
