"""Positivstellensatz searches for the kernel's polynomial statements (:mod:`verify.kernel.sos`).

A statement is a :class:`verify.kernel.sos.Case`: ``target >= 0`` on ``{g >= 0, h = 0}``, with
the absolute values of f already lifted by the kernel (variables ``s``, ``w`` with ``s >= 0``,
``s^2 = A^2``) and, for sharpness, the polar radius ``r``. The search (:func:`certify`) tries
certificate shapes of increasing size within a deterministic :class:`PsatzBudget` (monomials
per Gram block, unknowns per SDP; never seconds), solves each SDP with
:func:`numerics.sos.find_psatz_blocks` (interior point, exact rational rounding and
projection, exact PSD test) and returns the certificate in the kernel's format, which
:func:`verify.kernel.sos.check_psatz` re-checks here before it is handed on. A solver failure
or a rounding that does not check gives None: no certificate, never a proof of the opposite.

Shapes. A certificate is ``target = sum_b w_b z_b^T Q_b z_b + sum_l lambda_l h_l`` with the
weights ``w_b`` 1, each ``g_k`` and (from the second raise on) pairwise products. Its terms
must stay within the target's degree profile, or their top Gram entries are forced to zero
(no interior point, a face: slow and fragile rounding). The profile is a Newton polygon in the
plane (degree in r, degree in the other variables): ``D_a``, the concave envelope of the
target's largest degree at each power ``r^a``, with ``D_0`` raised by 2 (the statement at
r = 0, "on the unit sphere", needs degree above the target's, as Putinar certificates on a
sphere do). A block's basis holds the monomials ``r^a z^b`` with
``2 |b| + deg w <= D_(2a + deg_r w)``; a multiplier of ``h`` the monomials with
``a + deg_r h <= deg_r target`` and ``|b| + deg h <= max D``. The levels: (0) bases over the
lifted variables and r only (when there are lifted variables: the variables of the statement
are then often tied to them through the equations), (1) bases over every variable, (2) every
``D_a`` raised by 2, pairwise products of generators.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any, Callable, Sequence

from numerics import sos as S
from verify.kernel.sos import Case, check_psatz


@dataclass(frozen=True)
class PsatzBudget:
    """Deterministic limits of one statement's search: the first ``levels`` levels of the
    module docstring, at most ``max_basis`` monomials in a Gram block and ``max_unknowns`` SDP
    unknowns (Gram upper triangles and multiplier coefficients); a shape over the limits is
    not tried (nor any larger one)."""

    levels: int = 3
    max_basis: int = 90
    max_unknowns: int = 40_000
    max_products: int = 28


def _degrees(e: tuple, rad: int | None) -> tuple[int, int]:
    """(degree in r, degree in the other variables) of an exponent."""
    if rad is None:
        return 0, sum(e)
    return e[rad], sum(e) - e[rad]


def _box(p: dict, rad: int | None) -> tuple[int, int]:
    """(largest degree in r, largest degree in the other variables) of a polynomial."""
    degs = [_degrees(e, rad) for e in p] or [(0, 0)]
    return max(a for a, _ in degs), max(b for _, b in degs)


def _monomials(nvars: int, rad: int | None, use: Sequence[int], caps: Sequence[int]
               ) -> list[tuple]:
    """Exponents r^a z^b with ``|b| <= caps[a]`` and z over the variables ``use`` (no r:
    ``caps[0]`` bounds the total degree)."""
    out = []
    for a, cap in enumerate(caps if rad is not None else caps[:1]):
        if cap < 0:
            continue
        for part in S.monomials_upto(len(use), cap):
            e = [0] * nvars
            for i, k in zip(use, part):
                e[i] = k
            if rad is not None:
                e[rad] = a
            out.append(tuple(e))
    return sorted(set(out), key=lambda e: (sum(e), tuple(-k for k in e)))


def profile(target: dict, rad: int | None, raise_by: int = 0) -> list[int]:
    """``D_a`` (module docstring): the concave envelope of the target's largest degree per
    power of r, ``D_0`` raised by 2, everything by ``raise_by`` (no r: the target's degree,
    rounded up to even, plus ``raise_by``)."""
    Dr = _box(target, rad)[0]
    need = [-1] * (Dr + 1)
    for e in target:
        a, b = _degrees(e, rad)
        need[a] = max(need[a], b)
    need[0] = max(need[0], 0) + (2 if rad is not None else need[0] % 2)
    points = [(a, d) for a, d in enumerate(need) if d >= 0]
    D = []
    for a in range(Dr + 1):
        best = max(d for b, d in points if b == a) if need[a] >= 0 else -1
        for (a1, d1), (a2, d2) in itertools.combinations(points, 2):
            if a1 < a < a2:
                best = max(best, (d1 * (a2 - a) + d2 * (a - a1)) // (a2 - a1))
        D.append(best + raise_by)
    return D


def levels(case: Case) -> list[tuple[bool, int]]:
    """(narrow bases, raise) of each level (module docstring)."""
    lifted = any(n[0] in "sw" for n in case.names)
    return ([(True, 0)] if lifted else []) + [(False, 0), (False, 2)]


def shape(case: Case, level: int, budget: PsatzBudget) -> tuple[list, list] | None:
    """The blocks ``(gens, basis)`` and multipliers ``(l, monomials)`` of one level, or None
    when they exceed the budget or there is no such level."""
    table = levels(case)
    if level >= len(table):
        return None
    narrow, raise_by = table[level]
    rad = case.names.index("r") if "r" in case.names else None
    nv = len(case.names)
    others = [i for i in range(nv) if i != rad]
    use = [i for i in others if case.names[i][0] in "sw"] if narrow else others
    D = profile(case.target, rad, raise_by)
    Dr = len(D) - 1
    gens_list: list[tuple] = [()] + [(k,) for k in range(len(case.gs))]
    if raise_by:
        gens_list += list(itertools.combinations(range(len(case.gs)), 2))[:budget.max_products]
    blocks, unknowns = [], 0
    for gens in gens_list:
        weight = {tuple([0] * nv): 1}
        for k in gens:
            weight = {tuple(x + y for x, y in zip(e1, e2)): 1 for e1 in weight
                      for e2 in case.gs[k]}
        wr, wd = _box(weight, rad)
        caps = [(D[2 * a + wr] - wd) // 2 if 2 * a + wr <= Dr else -1
                for a in range(Dr + 1)]
        basis = _monomials(nv, rad, use, caps)
        if not basis:
            continue
        if len(basis) > budget.max_basis:
            return None
        blocks.append((gens, basis))
        unknowns += len(basis) * (len(basis) + 1) // 2
    mults = []
    for l, h in enumerate(case.hs):
        hr, hd = _box(h, rad)
        monos = _monomials(nv, rad, others, [max(D) - hd] * (Dr - hr + 1))
        mults.append((l, monos))
        unknowns += len(monos)
    return (blocks, mults) if unknowns <= budget.max_unknowns else None


def to_kernel(cert: Any) -> dict:
    """A :class:`numerics.sos.PsatzCertificate` in the kernel's format (upper Gram rows)."""
    blocks = [{"gens": list(b["gens"]), "basis": [list(m) for m in b["basis"]],
               "gram": [list(row[i:]) for i, row in enumerate(b["gram"])]}
              for b in cert.blocks]
    mults = [{"h": m["h"], "coeffs": [[list(e), str(c)] for e, c in sorted(m["coeffs"].items())]}
             for m in cert.multipliers]
    return {"blocks": blocks, "multipliers": mults}


def certify(case: Case, budget: PsatzBudget = PsatzBudget(), **search: Any
            ) -> tuple[dict | None, dict]:
    """A kernel-format Psatz certificate of the case, or None; and what was tried."""
    info: dict[str, Any] = {"label": case.label, "tries": []}
    if not case.target:
        return {"blocks": [], "multipliers": []}, info
    for level in range(min(budget.levels, len(levels(case)))):
        sh = shape(case, level, budget)
        if sh is None:
            info["tries"].append({"level": level, "outcome": "over budget"})
            break
        out = S.find_psatz_blocks(case.target, case.gs, case.hs, len(case.names), *sh,
                                  **{"projection": "pivot", **search})
        entry = {"level": level, "blocks": [len(b) for _, b in sh[0]],
                 "seconds": round(out.timings.get("total_s", 0.0), 4)}
        if not out.ok:
            info["tries"].append({**entry, "outcome": out.reason})
            continue
        cert = to_kernel(out)
        ok, why = check_psatz(case.target, case.gs, case.hs, cert, len(case.names))
        info["tries"].append({**entry, "outcome": "certificate" if ok else why})
        if ok:
            return cert, info
    return None, info


def lowest_level_bound(case_at: Callable[[Any], Case], budget: PsatzBudget = PsatzBudget(),
                       **search: Any) -> tuple[float | None, Any, str]:
    """The relaxation's numerical optimum for ``case_at(gamma)`` = "p - gamma >= 0" (the case
    of bound 0 gives p): (gamma*, the level, the solver status) at the first level within the
    budget whose SDP solves, for a search of the best certified bound."""
    case = case_at(0)
    for level in range(min(budget.levels, len(levels(case)))):
        sh = shape(case, level, budget)
        if sh is None:
            break
        gamma, status = S.relaxation_bound_blocks(case.target, case.gs, case.hs,
                                                  len(case.names), *sh, **search)
        if gamma is not None:
            return gamma, level, status
    return None, None, "no shape within the budget solved"


def certify_ball(p: Any, bound: Any, budget: PsatzBudget = PsatzBudget(levels=2),
                 **search: Any) -> tuple[dict | None, dict]:
    """An ``sos`` upper certificate ``{kind, bound, blocks, multipliers}`` of "f(y) - f(x) <=
    bound on the ball" of a :class:`verify.kernel.geometry.BallProblem`
    (:func:`verify.kernel.sos.ball_case`), or None; and what was tried."""
    from verify.kernel.sos import ball_case, ball_sos_bound

    case = ball_case(p, bound)
    cert, info = certify(case, budget, **search)
    if cert is None:
        return None, info
    out = {"kind": "sos", "bound": str(bound), **cert}
    ball_sos_bound(p, out)      # raises if the kernel does not accept it
    return out, info
