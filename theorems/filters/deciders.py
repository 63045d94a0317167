"""Deciding filter-set and stable-point claims (Bolte, Le, Pauwels), with certificates.

* ``filter-set``: the filter set is derived exactly (:func:`~theorems.filters.mathematics.
  filter_set`); a claimed set is compared with it, and the equality is then proved by z3 and
  cvc5 on the kernel's texts ("the filter condition and membership differ at some lambda" is
  unsatisfiable); members and non-members are decided exactly. An inclusion ``subset_of`` B is
  decided on the two exact sets (SymPy's exact set algebra on algebraic endpoints), then proved
  like the equality ("some lambda is in the set but not in B's" is unsatisfiable). A refutation
  is a curvature lambda at which they differ, decided exactly.
* ``stable-point``: the exact Jacobian of the implemented map at the point and certified root
  isolation of its characteristic polynomial.
"""

from __future__ import annotations

from typing import Any

import sympy as sp

from numerics import updates
from theorems.filters.mathematics import (filter_set, label, make_map, member_of,
                                          membership, sympy_oracles)
from verify.kernel import filters as filter_kernel
from verify.kernel.smt import confirm_unsat
from verify.verdict import Claim, Decision, Verdict


def _set_of(p: dict[str, Any], which: str = "method") -> sp.Set:
    """The exact filter set of the claim's method, or of its subset_of method (at the claim's
    hyperparameters that method declares)."""
    other = filter_kernel.method_claim(p, which)
    return filter_set(other["method"], other.get("alpha"), other.get("beta"), other.get("rho"),
                      other["variant"], hyper=other.get("hyper") or None)


def decide_filter_set(claim: Claim) -> Verdict:
    p = claim.params
    d = Decision(claim)
    S = _set_of(p)
    ev: dict[str, Any] = {"filter_set": str(S), "derivation": "closed-disk conditions on the "
                          "Jacobian of the implemented map (numerics.updates, or the user's "
                          "file, run in a worker process)"}
    unknown = []
    if p.get("subset_of") is not None:
        T = _set_of(p, "subset_of")
        ev["subset_of_set"] = str(T)
        outside = sp.simplify(sp.Complement(S, T))
        if outside != sp.S.EmptySet:
            witness = member_of(outside)
            inside = None if witness is None else membership(S, witness)
            other = None if witness is None else membership(T, witness)
            if inside is True and other is False:
                return d.refuted("exact sets", f"subset_of fails: lambda = {witness} is in the "
                                 f"filter set {S} but not in that of {label(p['subset_of'])}, "
                                 f"{T}",
                                 certificate={"kind": "filter-witness", "part": "subset_of",
                                              "lambda": str(witness)},
                                 counterexample={"part": "subset_of", "lambda": str(witness),
                                                 "filter_set": str(S), "subset_of_set": str(T),
                                                 "difference": str(outside)}, evidence=ev)
            unknown.append("subset_of (no exact witness of the difference)")
    if "equals" in p:
        target = p["equals"]
        diff = sp.simplify(sp.Union(sp.Complement(S, target), sp.Complement(target, S)))
        if diff == sp.S.EmptySet:
            exact_route = _exact_equality(claim)
            if not exact_route:
                texts = filter_kernel.equality_queries(claim.describe())
                ok, reason = confirm_unsat(texts)
                if not ok:
                    unknown.append(f"equals (z3/cvc5: {reason})")
        else:
            witness = member_of(diff)
            inside = None if witness is None else membership(S, witness)
            claimed = None if witness is None else membership(target, witness)
            if inside is not None and claimed is not None and inside != claimed:
                return d.refuted("exact sets", f"equals fails: lambda = {witness} is "
                                 f"{'in' if inside else 'outside'} the filter set {S}",
                                 certificate={"kind": "filter-witness", "part": "equals",
                                              "lambda": str(witness)},
                                 counterexample={"part": "equals", "lambda": str(witness),
                                                 "in_filter_set": inside,
                                                 "symmetric_difference": str(diff),
                                                 "filter_set": str(S)}, evidence=ev)
            unknown.append("equals (no exact witness of the difference)")
    for values, want in ((p.get("contains", ()), True), (p.get("excludes", ()), False)):
        for lam in values:
            what = f"{'contains' if want else 'excludes'} {lam}"
            inside = membership(S, lam)
            if inside is None:
                unknown.append(what)
            elif inside != want:
                return d.refuted("exact sets", f"{what} fails: the filter set is {S}",
                                 certificate={"kind": "filter-witness", "part": what,
                                              "lambda": str(lam)},
                                 counterexample={"part": what, "lambda": str(lam),
                                                 "filter_set": str(S)}, evidence=ev)
    if unknown:
        return d.inconclusive("exact sets", f"could not decide {unknown}", evidence=ev)
    parts = [w for w in ("equals",) if w in p] + [f"contains {v}" for v in p.get("contains", ())] \
        + [f"excludes {v}" for v in p.get("excludes", ())] \
        + ([f"inside the filter set of {label(p['subset_of'])}"] if p.get("subset_of") else [])
    if _exact_equality(claim):        # equality and inclusion decided exactly (real roots)
        return d.proved("exact sets; decided exactly at every curvature (real roots)",
                        f"filter set {S}: " + ", ".join(parts),
                        certificate={"kind": "filter-set-exact"}, evidence=ev)
    texts = filter_kernel.equality_queries(claim.describe()) if "equals" in p else []
    if p.get("subset_of") is not None:
        subset_texts = filter_kernel.subset_queries(claim.describe())
        ok, reason = confirm_unsat(subset_texts)
        if not ok:
            return d.inconclusive("exact sets", f"subset_of: the exact sets say S is inside "
                                  f"{label(p['subset_of'])}'s, but neither the exact route nor "
                                  f"z3 and cvc5 confirmed it ({reason})", evidence=ev)
        texts += subset_texts
    cert = {"kind": "filter-set-smt"}
    if texts:
        cert["texts"] = texts
    return d.proved("exact sets; the equality re-checked by z3 and cvc5" if "equals" in p
                    else "exact sets; the inclusion re-checked by z3 and cvc5" if texts
                    else "exact sets",
                    f"filter set {S}: " + ", ".join(parts), certificate=cert, evidence=ev)


def _exact_equality(claim: Claim) -> bool:
    """The kernel's exact route for "condition <=> lambda in S" (one variable: real roots)."""
    from verify.kernel import check

    return check(claim.describe(), "proved", {"kind": "filter-set-exact"})[0]


def decide_stable_point(claim: Claim) -> Verdict:
    p = claim.params
    d = Decision(claim)
    f, variables, point = p["f"], tuple(p["variables"]), tuple(p["point"])
    grad_fn, hvp_fn = sympy_oracles(f, variables)
    start = sp.Matrix(point)
    if ":" in p["method"]:
        J = filter_kernel.stable_point_jacobian(claim.describe())
        fixed = all(sp.simplify(g) == 0 for g in grad_fn(start))
    else:
        umap = make_map(p["method"], p["alpha"], p.get("beta"), p.get("rho"),
                        p.get("variant", "A"))
        x_next, _ = umap.update(start, updates.MomentumState(prev=start) if umap.momentum
                                else umap.init(start), grad_fn, hvp_fn=hvp_fn)
        fixed = all(sp.simplify(a - b) == 0 for a, b in zip(x_next, point))
        J = filter_kernel.update_jacobian(umap, f, variables, point)
    answer, how, ev = filter_kernel.spectral_radius_le_one(J)
    ev.update({"jacobian": str(J.tolist()), "fixed_point": fixed,
               "gradient_at_point": [str(sp.simplify(g)) for g in grad_fn(start)]})
    note = "" if fixed else " (the point is not a fixed point of the map)"
    cert = {"kind": "spectral-radius", "eigenvalues": ev["eigenvalues"]}
    if answer is True:
        if ev["exact"]:
            return d.proved(how, f"rho(Jac G) <= 1 at the point{note}", certificate=cert,
                            evidence=ev)
        return d.certified(how, f"rho(Jac G) <= 1 at the point{note}", certificate=cert,
                           evidence=ev)
    if answer is False:
        return d.refuted(how, f"rho(Jac G) > 1: eigenvalue {ev['eigenvalue_outside']}{note}",
                         certificate=cert, counterexample={"eigenvalue":
                                                           ev["eigenvalue_outside"],
                                                           "jacobian": ev["jacobian"]},
                         evidence=ev)
    return d.inconclusive(how, how, evidence=ev)
