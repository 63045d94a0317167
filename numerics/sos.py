"""Sum-of-squares (SOS) and Positivstellensatz certificates, found in floating point and verified
in exact rational arithmetic.

The method is that of Peyrl and Parrilo, "Computing sum of squares decompositions with rational
coefficients", Theoretical Computer Science 409(2), 2008, 269-281: an interior point solver
(cvxpy with Clarabel, or SCS) finds a Gram matrix ``Q`` with ``p = z^T Q z``; ``Q`` is rounded to
rationals of bounded denominator and projected *exactly* (in rationals) onto the affine space of
Gram matrices that reproduce ``p``; the projected matrix is then tested for positive
semidefiniteness by an exact LDL^T factorisation. The paper's rounding argument: if the rounded
matrix lies within Frobenius distance ``delta`` of a Gram matrix whose smallest eigenvalue
exceeds ``delta``, the projected rational matrix is PSD, since the orthogonal projection onto an
affine space that contains that matrix does not increase the distance to it. Hence the solver
is asked to maximise the smallest eigenvalue (a point deep inside the cone). When every Gram
matrix is singular (``p`` has real zeros: Motzkin times ``x^2+y^2+1``, Robinson times
``x^2+y^2+z^2``) the optimum sits on a face; there a coarse grid may snap to an exact rational
point of the face, and otherwise a facial reduction step rationalises the kernel of the
numerical Gram matrix and restricts the Gram matrix to its complement, where it can be
definite, and solves again.

Positivstellensatz certificates (several Gram matrices and free multipliers in one identity)
are rounded and projected jointly onto one affine space: by default the rows that a block with
a single-monomial weight reaches (``s_0``) are corrected by that block alone (a diagonal
system, as in the paper), the others by the orthogonal projection of the remaining unknowns;
``projection="orthogonal"`` projects all unknowns orthogonally (long rationals when the blocks
overlap).

Guarantee. A certificate is returned only when the self-contained exact checkers
:func:`check_sos_certificate` / :func:`check_psatz_certificate` accept it; they use rational
arithmetic (python-flint ``fmpq``, or :class:`fractions.Fraction` when flint is missing) and
dictionary polynomials only: no solver, no floating point. Solver optimality is never a proof;
a failure to round is reported as :class:`SOSFailure` (with the solver status), never as a
certificate. A failure is *not* a proof of non-negativity's failure: it says only that no
certificate of the requested shape was found.

Solver statuses: ``optimal`` and ``optimal_inaccurate`` lead to a rounding attempt (an inaccurate
point may still round to an exact certificate, and the exact check is the arbiter either way);
every other status (``infeasible``, ``unbounded``, their ``_inaccurate`` forms, ``user_limit``,
a solver exception, missing or non-finite values) is a reported failure. With the default
max-min-eigenvalue objective an optimum ``t* < 0`` (beyond a tolerance) is reported as
numerically infeasible without a rounding attempt: no PSD point lies near the affine space.

What the checkers trust: Python's integers, ``fmpq`` (or ``Fraction``) arithmetic and their own
few lines; and that the polynomials handed to them (``p``, the ``g_k``, the ``h_l``, ``eps``) are
the claim's. A verification kernel should pass the claim's own polynomials rather than the copies
stored in a certificate; the certificate's part is only the basis, the Gram matrices, which
generators each block multiplies, and the multipliers.

Importing this module imports neither NumPy, SciPy, SymPy nor cvxpy: the checkers can run on JSON
data alone; the search functions import those lazily.
"""

from __future__ import annotations

import itertools
import math
import time
import warnings
from dataclasses import dataclass, field
from fractions import Fraction
from typing import TYPE_CHECKING, Any, Iterable, Mapping, Sequence, Tuple

try:  # exact rationals: flint's fmpq is much faster; Fraction is the fallback
    from flint import fmpq as _Q
except ImportError:  # pragma: no cover
    _Q = Fraction  # type: ignore[misc,assignment]

if TYPE_CHECKING:  # pragma: no cover
    import sympy

Exponent = Tuple[int, ...]

# ============================================================================================
# exact checker: self-contained (rationals and dict polynomials only; no search code)
# ============================================================================================


def _rat(x: Any) -> Any:
    """An exact rational from an int, a Fraction, an fmpq or a ``"p/q"`` string (floats refused)."""
    if isinstance(x, bool):
        raise TypeError("a bool is not a rational")
    if isinstance(x, int):
        return _Q(x, 1)
    if isinstance(x, Fraction):
        return _Q(x.numerator, x.denominator)
    if isinstance(x, str):
        f = Fraction(x)  # "nan", "inf", "1.5e" raise ValueError
        return _Q(f.numerator, f.denominator)
    if _Q is not Fraction and isinstance(x, _Q):
        return x
    raise TypeError(f"not an exact rational: {x!r}")


def _exp(e: Any) -> Exponent:
    t = tuple(e)
    if not all(isinstance(k, int) and not isinstance(k, bool) and k >= 0 for k in t):
        raise ValueError(f"bad exponent {e!r}")
    return t


def _poly(coeffs: Any) -> dict:
    """A polynomial {exponent tuple: rational} from a mapping or a list of (exponent, coeff)."""
    items = coeffs.items() if isinstance(coeffs, Mapping) else coeffs
    out: dict = {}
    for e, c in items:
        e = _exp(e)
        if e in out:
            raise ValueError(f"monomial {e} given twice")
        c = _rat(c)
        if c != 0:
            out[e] = c
    return out


def _clean(p: dict) -> dict:
    return {m: c for m, c in p.items() if c != 0}


def _addto(acc: dict, p: Mapping, scale: Any = 1) -> None:
    for m, c in p.items():
        acc[m] = acc.get(m, 0) + scale * c


def _pmul(p: Mapping, q: Mapping) -> dict:
    out: dict = {}
    for m1, c1 in p.items():
        for m2, c2 in q.items():
            m = tuple(a + b for a, b in zip(m1, m2))
            out[m] = out.get(m, 0) + c1 * c2
    return _clean(out)


def _matrix(Q: Any, n: int) -> list:
    """A square symmetric exact matrix of size n (ValueError otherwise)."""
    rows = [[_rat(v) for v in row] for row in Q]
    if len(rows) != n or any(len(r) != n for r in rows):
        raise ValueError("Gram matrix and basis sizes differ")
    if any(rows[i][j] != rows[j][i] for i in range(n) for j in range(i)):
        raise ValueError("Gram matrix is not symmetric")
    return rows


def _gram_poly(basis: Sequence[Exponent], Q: Sequence[Sequence[Any]]) -> dict:
    out: dict = {}
    for i, bi in enumerate(basis):
        for j, bj in enumerate(basis):
            if Q[i][j] != 0:
                m = tuple(a + b for a, b in zip(bi, bj))
                out[m] = out.get(m, 0) + Q[i][j]
    return _clean(out)


def ldl_psd(Q: Sequence[Sequence[Any]]) -> tuple[bool, list, list]:
    """Exact symmetric Gaussian elimination ``Q = L diag(D) L^T`` (L unit lower triangular).

    Returns ``(psd, L, D)``. No pivoting is needed to *decide* semidefiniteness: with pivot
    ``d = A_kk`` of the current Schur complement ``A``, ``d < 0`` means not PSD; ``d = 0`` needs
    the whole column below it to be zero (else a 2x2 minor is negative), and ``d > 0`` leaves
    ``A`` PSD iff its Schur complement is. ``Q`` must be symmetric with exact entries.
    """
    n = len(Q)
    A = [list(row[: i + 1]) for i, row in enumerate(Q)]  # lower triangle, rows copied
    L = [[_Q(1, 1) if i == j else _Q(0, 1) for j in range(n)] for i in range(n)]
    D: list = []
    for k in range(n):
        d = A[k][k]
        if d < 0:
            return False, L, D
        if d == 0:
            if any(A[i][k] != 0 for i in range(k + 1, n)):
                return False, L, D
            D.append(d)
            continue
        for i in range(k + 1, n):
            if A[i][k] != 0:
                lik = A[i][k] / d
                L[i][k] = lik
                row = A[i]
                for j in range(k + 1, i + 1):
                    if A[j][k] != 0:
                        row[j] -= lik * A[j][k]
        D.append(d)
    return True, L, D


def _nvars_consistent(exps: Iterable[Exponent]) -> bool:
    return len({len(e) for e in exps}) <= 1


_CHECK_ERRORS = (TypeError, ValueError, ZeroDivisionError, IndexError, KeyError, AttributeError)


def check_sos_certificate(poly_coeffs: Any, basis: Sequence[Sequence[int]],
                          Q: Sequence[Sequence[Any]]) -> bool:
    """Exact check that ``p = z^T Q z`` and ``Q`` is PSD, so that ``p`` is a sum of squares.

    Parameters
    ----------
    poly_coeffs : {exponent tuple: coeff} or [(exponent, coeff)], coefficients exact
        (int, Fraction, fmpq or ``"p/q"`` strings; floats are refused).
    basis : the monomials of ``z`` as exponent tuples (distinct).
    Q : the Gram matrix, exact entries as above; it must be symmetric.

    Returns True only when the polynomial identity holds coefficient by coefficient and an exact
    LDL^T factorisation of ``Q`` has non-negative pivots (zero pivots with zero columns below).
    Malformed input gives False, never an exception (the check of Peyrl and Parrilo 2008).
    """
    try:
        p = _poly(poly_coeffs)
        z = [_exp(b) for b in basis]
        if len(set(z)) != len(z) or not _nvars_consistent(list(p) + z):
            return False
        G = _matrix(Q, len(z))
        return _gram_poly(z, G) == p and ldl_psd(G)[0]
    except _CHECK_ERRORS:
        return False


def check_psatz_certificate(poly_coeffs: Any, gs: Sequence[Any], hs: Sequence[Any],
                            blocks: Sequence[Mapping[str, Any]],
                            multipliers: Sequence[Mapping[str, Any]], *,
                            form: str = "putinar", eps: Any = "0") -> bool:
    """Exact check of a Positivstellensatz certificate for ``p >= eps`` on
    ``K = {x : g_k(x) >= 0, h_l(x) = 0}``; write ``q = p - eps``.

    Each block is ``{"side": "rhs"|"mult", "gens": [k, ...], "basis": [...], "gram": [[...]]}``:
    the SOS polynomial ``sigma = z^T Q z`` (``Q`` PSD, checked exactly) times the product of the
    ``g_k`` named in ``gens`` (``[]`` is 1; repeats allowed). Each multiplier is
    ``{"h": l, "coeffs": polynomial}``, a free polynomial times ``h_l``. With ``R`` the sum of the
    ``rhs`` terms plus the multiplier terms and ``S`` the sum of the ``mult`` terms:

    * ``form="putinar"``: ``q == R`` (no ``mult`` blocks). Every term of ``R`` is ``>= 0`` or
      ``= 0`` on K, so ``q >= 0`` there.
    * ``form="stengle"``: ``q * S == q^2 + R``. If ``q(x) < 0`` at some x in K the left side is
      ``<= 0`` and the right side ``> 0``: so ``q >= 0`` on K (Stengle's Positivstellensatz).

    Polynomials are given as for :func:`check_sos_certificate`. Returns False on anything
    malformed. Peyrl and Parrilo 2008 (exact rounding), applied jointly to all blocks.
    """
    try:
        if form not in ("putinar", "stengle"):
            return False
        q = _poly(poly_coeffs)
        G = [_poly(g) for g in gs]
        H = [_poly(h) for h in hs]
        exps = list(q) + [m for g in G for m in g] + [m for h in H for m in h]
        for blk in blocks:
            exps += [_exp(b) for b in blk["basis"]]
        for mlt in multipliers:
            exps += [_exp(e) for e in _poly(mlt["coeffs"])]
        if not _nvars_consistent(exps):
            return False
        one = {tuple(0 for _ in exps[0]) if exps else (): _Q(1, 1)}
        e = _rat(eps)
        if e != 0:
            _addto(q, one, -e)
            q = _clean(q)
        rhs: dict = {}
        mult: dict = {}
        for blk in blocks:
            side, gens = blk["side"], list(blk["gens"])
            if side not in ("rhs", "mult") or (side == "mult" and form != "stengle"):
                return False
            w = dict(one)
            for k in gens:
                if not isinstance(k, int) or isinstance(k, bool) or not 0 <= k < len(G):
                    return False
                w = _pmul(w, G[k])
            z = [_exp(b) for b in blk["basis"]]
            if len(set(z)) != len(z):
                return False
            Qm = _matrix(blk["gram"], len(z))
            if not ldl_psd(Qm)[0]:
                return False
            _addto(rhs if side == "rhs" else mult, _pmul(w, _gram_poly(z, Qm)))
        for mlt in multipliers:
            k = mlt["h"]
            if not isinstance(k, int) or isinstance(k, bool) or not 0 <= k < len(H):
                return False
            _addto(rhs, _pmul(_poly(mlt["coeffs"]), H[k]))
        if form == "putinar":
            return _clean(rhs) == q
        right = _pmul(q, q)
        _addto(right, rhs)
        return _pmul(q, _clean(mult)) == _clean(right)
    except _CHECK_ERRORS:
        return False


def check_ldl_factors(Q: Sequence[Sequence[Any]], L: Sequence[Sequence[Any]],
                      D: Sequence[Any]) -> bool:
    """Exact check that ``Q == L diag(D) L^T`` with L unit lower triangular and ``D >= 0``."""
    try:
        n = len(Q)
        Qx, Lx, Dx = _matrix(Q, n), [[_rat(v) for v in r] for r in L], [_rat(d) for d in D]
        if len(Lx) != n or any(len(r) != n for r in Lx) or len(Dx) != n:
            return False
        if any(d < 0 for d in Dx):
            return False
        if any(Lx[i][j] != (1 if i == j else 0) for i in range(n) for j in range(i, n)):
            return False
        return all(sum((Lx[i][k] * Dx[k] * Lx[j][k] for k in range(j + 1)), _Q(0, 1)) == Qx[i][j]
                   for i in range(n) for j in range(i + 1))
    except _CHECK_ERRORS:
        return False


# ============================================================================================
# results
# ============================================================================================

def _s(x: Any) -> str:
    return str(x)


def _poly_json(p: Mapping) -> list:
    return [[list(m), _s(c)] for m, c in sorted(p.items())]


@dataclass
class SOSFailure:
    """No certificate: why, the last solver status, and what was tried (never a proof of
    anything: it does not show that ``p`` is not SOS, only that none was found this way)."""

    reason: str
    solver_status: str | None = None
    solver_objective: float | None = None
    attempts: list = field(default_factory=list)
    timings: dict = field(default_factory=dict)
    ok: bool = False

    def check(self) -> bool:
        return False


@dataclass
class SOSCertificate:
    """``p = z^T Q z`` with ``Q`` rational PSD (checked exactly); ``Q = L diag(D) L^T``.

    Hence ``p = sum_k D_k (sum_i L_ik z_i)^2 >= 0``. ``denominator`` is the rounding grid used
    (Peyrl and Parrilo 2008), ``facial_steps`` how many facial reductions preceded it.
    """

    variables: tuple
    poly: dict
    basis: list
    gram: list
    ldl_L: list
    ldl_D: list
    solver: str
    solver_status: str
    solver_objective: float | None
    denominator: int
    facial_steps: int
    timings: dict
    attempts: list = field(default_factory=list)
    ok: bool = True

    def check(self) -> bool:
        """Re-run the exact checker on this certificate's own data."""
        return check_sos_certificate(self.poly, self.basis, self.gram)

    def to_json(self) -> dict:
        return {"kind": "sos", "variables": list(self.variables), "poly": _poly_json(self.poly),
                "basis": [list(b) for b in self.basis], "gram": self.gram,
                "ldl_L": self.ldl_L, "ldl_D": self.ldl_D, "solver": self.solver,
                "solver_status": self.solver_status, "solver_objective": self.solver_objective,
                "denominator": self.denominator, "facial_steps": self.facial_steps,
                "timings": self.timings}

    def squares(self) -> list:
        """``[(D_k, {exponent: coeff})]`` with ``p = sum_k D_k * (that polynomial)^2``."""
        out = []
        for k, d in enumerate(self.ldl_D):
            if _rat(d) != 0:
                lin = {tuple(self.basis[i]): self.ldl_L[i][k] for i in range(len(self.basis))
                       if _rat(self.ldl_L[i][k]) != 0}
                out.append((d, lin))
        return out


@dataclass
class PsatzCertificate:
    """A Positivstellensatz certificate of ``poly >= eps`` on ``{g >= 0, h = 0}``: see
    :func:`check_psatz_certificate` for the identity that is checked and why it proves this."""

    variables: tuple
    poly: dict
    gs: list
    hs: list
    form: str
    eps: str
    blocks: list
    multipliers: list
    solver: str
    solver_status: str
    solver_objective: float | None
    denominator: int
    facial_steps: int
    timings: dict
    attempts: list = field(default_factory=list)
    bound: str | None = None
    ok: bool = True

    def check(self) -> bool:
        """Re-run the exact checker on this certificate's own data."""
        return check_psatz_certificate(self.poly, self.gs, self.hs, self.blocks,
                                       self.multipliers, form=self.form, eps=self.eps)

    def to_json(self) -> dict:
        return {"kind": "psatz", "form": self.form, "variables": list(self.variables),
                "poly": _poly_json(self.poly), "gs": [_poly_json(g) for g in self.gs],
                "hs": [_poly_json(h) for h in self.hs], "eps": self.eps, "bound": self.bound,
                "blocks": [{"side": b["side"], "gens": list(b["gens"]),
                            "basis": [list(m) for m in b["basis"]], "gram": b["gram"]}
                           for b in self.blocks],
                "multipliers": [{"h": m["h"], "coeffs": _poly_json(m["coeffs"])}
                                for m in self.multipliers],
                "solver": self.solver, "solver_status": self.solver_status,
                "solver_objective": self.solver_objective, "denominator": self.denominator,
                "facial_steps": self.facial_steps, "timings": self.timings}


def check_certificate_json(data: Mapping[str, Any]) -> bool:
    """Check a certificate from its JSON form (:meth:`SOSCertificate.to_json` or
    :meth:`PsatzCertificate.to_json`) with the exact checkers alone."""
    try:
        if data["kind"] == "sos":
            return check_sos_certificate(data["poly"], data["basis"], data["gram"])
        if data["kind"] == "psatz":
            return check_psatz_certificate(data["poly"], data["gs"], data["hs"], data["blocks"],
                                           data["multipliers"], form=data["form"],
                                           eps=data["eps"])
    except _CHECK_ERRORS:
        return False
    return False


# ============================================================================================
# search: polynomials in, SDP, rounding, projection
# ============================================================================================

#: Denominators tried in turn (Peyrl and Parrilo: coarse grids first give short certificates and
#: snap to exact rational Gram matrices; fine grids are closer to the solver's point).
DEFAULT_DENOMINATORS: tuple = tuple(2 ** k for k in (4, 6, 8, 10, 12, 16, 20, 24, 30, 36, 40))
#: On a face (smallest Gram eigenvalue ~ 0) only denominators up to this one are tried before
#: a facial reduction step: there only snapping to the exact (rational) point can succeed.
SNAP_DENOMINATOR = 2 ** 12
#: Statuses that lead to a rounding attempt; every other status is a failure.
ROUNDABLE_STATUSES = ("optimal", "optimal_inaccurate")
SOLVERS = ("CLARABEL", "SCS")


def poly_coeffs(p: Any, variables: Sequence[Any]) -> dict:
    """``{exponent tuple: Fraction}`` of a SymPy polynomial with rational coefficients.

    Raises ValueError for a non-polynomial expression (Abs, sqrt, ...), a symbol outside
    ``variables`` or a non-rational (float, irrational) coefficient.
    """
    import sympy as sp

    try:
        P = sp.Poly(sp.sympify(p), *variables)
    except sp.PolynomialError as exc:
        raise ValueError(f"not a polynomial in {list(variables)}: {p}") from exc
    out = {}
    for m, c in P.terms():
        if not (c.is_Rational):
            raise ValueError(f"coefficient {c} of {m} is not an exact rational")
        if c != 0:
            out[tuple(int(k) for k in m)] = Fraction(int(c.p), int(c.q))
    return out


def _as_fraction(x: Any) -> Fraction:
    """An exact rational from an int, Fraction, ``"p/q"`` string or SymPy Rational (floats
    refused: a binary double is not the number the user wrote)."""
    if isinstance(x, (bool, float)):
        raise TypeError(f"{x!r}: give an exact rational (int, Fraction, 'p/q', SymPy Rational)")
    if isinstance(x, (int, Fraction, str)):
        return Fraction(x)
    if getattr(x, "is_Rational", False):
        return Fraction(int(x.p), int(x.q))
    raise TypeError(f"not an exact rational: {x!r}")


def _exact(p: Mapping) -> dict:
    return {m: _rat(c) for m, c in p.items() if c != 0}


def _deg(p: Mapping) -> int:
    return max((sum(m) for m in p), default=0)


def monomials_upto(nvars: int, degree: int) -> list:
    """All exponent tuples of total degree ``<= degree``, graded then lexicographic."""
    out = []
    for d in range(degree + 1):
        for c in itertools.combinations_with_replacement(range(nvars), d):
            e = [0] * nvars
            for i in c:
                e[i] += 1
            out.append(tuple(e))
    return sorted(set(out), key=lambda e: (sum(e), tuple(-k for k in e)))


def newton_basis(support: Iterable[Exponent], *, prune: bool = True) -> list:
    """Monomials ``a`` with ``2a`` in the Newton polytope of the support (Reznick 1978).

    Coarse bounds first (per-variable and total-degree halves), then a hull-membership LP
    (``scipy.optimize.linprog``; an LP that does not answer keeps the monomial, so the basis is
    only ever too large, never too small), then the diagonal-consistency pruning: a monomial
    ``a`` with ``2a`` outside the support and not a sum ``b + c`` of two other basis monomials
    must have ``Q_aa = 0`` and is dropped (iterated).
    """
    pts = sorted(set(_exp(e) for e in support))
    if not pts:
        return []
    n = len(pts[0])
    lo = [math.ceil(min(p[i] for p in pts) / 2) for i in range(n)]
    hi = [max(p[i] for p in pts) // 2 for i in range(n)]
    dlo, dhi = math.ceil(min(map(sum, pts)) / 2), max(map(sum, pts)) // 2
    ranges = [range(lo[i], hi[i] + 1) for i in range(n)]
    if math.prod(len(r) for r in ranges) > 200_000:
        raise ValueError("Newton polytope candidate set too large")
    cands = [a for a in itertools.product(*ranges) if dlo <= sum(a) <= dhi]
    sup = set(pts)
    if len(pts) > 1:
        import numpy as np
        from scipy.optimize import linprog

        P = np.array(pts, dtype=float).T
        A_eq = np.vstack([P, np.ones((1, len(pts)))])

        def inside(a: Exponent) -> bool:
            two = tuple(2 * k for k in a)
            if two in sup:
                return True
            res = linprog(np.zeros(len(pts)), A_eq=A_eq, b_eq=np.append(np.array(two, float), 1),
                          bounds=(0, None), method="highs")
            return res.status != 2  # 2 = infeasible; anything unclear keeps the monomial

        cands = [a for a in cands if inside(a)]
    else:
        cands = [a for a in cands if tuple(2 * k for k in a) in sup]
    basis = set(cands)
    while prune:
        sums = {}
        bl = sorted(basis)
        for i, b in enumerate(bl):
            for c in bl[i + 1:]:
                s = tuple(x + y for x, y in zip(b, c))
                sums[s] = sums.get(s, 0) + 1
        drop = {a for a in basis if tuple(2 * k for k in a) not in sup
                and not sums.get(tuple(2 * k for k in a))}
        if not drop:
            break
        basis -= drop
    return sorted(basis, key=lambda e: (sum(e), tuple(-k for k in e)))


@dataclass
class _Term:
    """One SOS block: ``weight * (W^T z)^T R (W^T z)`` with ``R`` PSD (``W`` None: identity)."""

    side: str
    gens: tuple
    weight: dict
    monomials: list
    W: list | None = None

    @property
    def rank(self) -> int:
        return len(self.monomials) if self.W is None else (len(self.W[0]) if self.W else 0)

    def phis(self) -> list:
        one = _Q(1, 1)
        if self.W is None:
            return [{m: one} for m in self.monomials]
        out = []
        for a in range(self.rank):
            out.append(_clean({m: self.W[i][a] for i, m in enumerate(self.monomials)}))
        return out

    def gram(self, R: list) -> list:
        """``W R W^T`` (exact), the Gram matrix in the monomial basis."""
        if self.W is None:
            return R
        W, n, r = self.W, len(self.monomials), self.rank
        WR = [[sum((W[i][a] * R[a][b] for a in range(r) if W[i][a] != 0), _Q(0, 1))
               for b in range(r)] for i in range(n)]
        return [[sum((WR[i][b] * W[j][b] for b in range(r)), _Q(0, 1)) for j in range(n)]
                for i in range(n)]


@dataclass
class _Mult:
    """A free polynomial multiplier ``lambda * weight`` (``lambda`` over ``monomials``)."""

    index: int
    weight: dict
    monomials: list


class _System:
    """The linear system ``sum of term and multiplier columns . x = target``, exact and float.

    Unknowns: for each term the upper triangle of ``R`` (``a <= b``; Frobenius metric weight 1 on
    the diagonal, 2 off it, so the projection is the orthogonal one of Peyrl and Parrilo), then
    the coefficients of each multiplier (weight 1).
    """

    def __init__(self, terms: list, mults: list, target: dict):
        self.terms, self.mults, self.target = terms, mults, target
        self.cols: list = []      # exact sparse columns {monomial: coeff}
        self.metric: list = []    # Frobenius weight of each unknown
        self.layout: list = []    # per term: list of (a, b); per mult: list of monomials
        self.full: list = []      # per term: (phi_a phi_b weight, a, b), for cvxpy
        for t in terms:
            ph = t.phis()
            pairs, full = [], []
            for a in range(t.rank):
                for b in range(a, t.rank):
                    pab = _pmul(_pmul(ph[a], ph[b]), t.weight)
                    k = 1 if a == b else 2
                    self.cols.append({m: k * c for m, c in pab.items()})
                    self.metric.append(k)
                    pairs.append((a, b))
                    full.append((pab, a, b))
            self.layout.append(pairs)
            self.full.append(full)
        for mu in mults:
            for e in mu.monomials:
                self.cols.append(_pmul({e: _Q(1, 1)}, mu.weight))
                self.metric.append(1)
            self.layout.append(list(mu.monomials))
        monos = set(target)
        for c in self.cols:
            monos.update(c)
        self.monos = sorted(monos)
        self.row = {m: i for i, m in enumerate(self.monos)}
        touched = set()
        for c in self.cols:
            touched.update(c)
        self.uncovered = [m for m in target if m not in touched]
        self._proj: dict = {}

    # -- exact projection onto {x : A x = b} ---------------------------------------------
    def _projector(self, method: str) -> Any:
        """Precomputed data of the projection (independent of the rounded point).

        ``"orthogonal"``: the Frobenius-orthogonal projection of all unknowns jointly,
        ``x - W^-1 A^T y`` with ``(A W^-1 A^T) y = A x - b`` (diagonal when the monomial rows of
        the blocks do not overlap, as for a single Gram matrix: Peyrl and Parrilo's formula
        ``Q_ij -= residual_m / n_m``). ``"absorb"``: the rows that some single-monomial column
        reaches (a block with weight +-1, such as ``s_0``) are corrected by those columns alone,
        orthogonally (a diagonal system, denominators stay ``D n_m``); the remaining rows first,
        by the orthogonal projection of the other columns restricted to them. ``"pivot"``: as
        "absorb", but each such row's residual goes to one single-monomial column (a diagonal
        Gram entry where there is one), so the corrected entries keep the denominators ``D``
        or ``2 D`` instead of ``D n_m`` with a different ``n_m`` per monomial (whose common
        denominator, and with it the exact PSD test, grows with the number of monomials); the
        distance to the solver's point grows by at most a factor ``sqrt(n_m)``. All land
        exactly on the affine space; "absorb" keeps the rationals short when blocks overlap.
        """
        if method in self._proj:
            return self._proj[method]
        simple = [method in ("absorb", "pivot") and len(c) == 1 for c in self.cols]
        rows1 = {self.row[m] for c, s in zip(self.cols, simple) if s for m in c}
        rows2 = sorted(set(range(len(self.monos))) - rows1)
        G: dict = {}
        r2 = set(rows2)
        for col, w, s in zip(self.cols, self.metric, simple):
            if s:
                continue
            inv = _Q(1, w)
            items = [(self.row[m], c) for m, c in col.items() if self.row[m] in r2]
            for i1, a1 in items:
                g = G.setdefault(i1, {})
                for i2, a2 in items:
                    g[i2] = g.get(i2, 0) + a1 * a2 * inv
        rows = [r for r in rows2 if G.get(r, {}).get(r, 0) != 0]
        if all(set(G[r]) == {r} for r in rows):
            stage2: Any = ("diag", {r: G[r][r] for r in rows})
        else:
            from flint import fmpq_mat

            M = fmpq_mat(len(rows), len(rows), [G[a].get(b, 0) for a in rows for b in rows])
            E, rank = M.rref()
            piv, c = [], 0
            for i in range(rank):
                while E[i, c] == 0:
                    c += 1
                piv.append(c)
                c += 1
            keep = [rows[i] for i in piv]
            stage2 = ("dense", keep, fmpq_mat(len(keep), len(keep),
                                              [G[a].get(b, 0) for a in keep for b in keep]))
        diag1: dict = {}
        for j, (col, w, s) in enumerate(zip(self.cols, self.metric, simple)):
            if s:
                (m, c), = col.items()
                r = self.row[m]
                if method == "pivot":
                    if r not in diag1 or (w == 1 and self.metric[diag1[r][0]] != 1):
                        diag1[r] = (j, c)
                else:
                    diag1[r] = diag1.get(r, 0) + c * c * _Q(1, w)
        self._proj[method] = (simple, r2, stage2, diag1)
        return self._proj[method]

    def _residual(self, x: list) -> dict:
        res = {i: -self.target.get(m, 0) for i, m in enumerate(self.monos)}
        for col, xj in zip(self.cols, x):
            if xj != 0:
                for m, c in col.items():
                    res[self.row[m]] += c * xj
        return res

    def project(self, x: list, method: str = "absorb") -> list | None:
        """An exact projection of ``x`` onto the affine space (see :meth:`_projector`), or
        None if the system is inconsistent (no certificate of this shape exists)."""
        simple, r2, stage2, diag1 = self._projector(method)
        x = list(x)
        resid = self._residual(x)
        if stage2[0] == "diag":
            y = {r: resid[r] / g for r, g in stage2[1].items()}
        else:
            from flint import fmpq_mat

            keep, Msub = stage2[1], stage2[2]
            sol = Msub.solve(fmpq_mat(len(keep), 1, [resid[r] for r in keep]))
            y = {r: sol[i, 0] for i, r in enumerate(keep)}
        if any(y.values()):
            for j, (col, w, s) in enumerate(zip(self.cols, self.metric, simple)):
                if not s:
                    d = sum((c * y[self.row[m]] for m, c in col.items() if self.row[m] in y),
                            _Q(0, 1))
                    if d != 0:
                        x[j] -= d / w
        if diag1 and method == "pivot":
            resid = self._residual(x)
            for r, (j, c) in diag1.items():
                if resid[r] != 0:
                    x[j] -= resid[r] / c
        elif diag1:
            resid = self._residual(x)
            y1 = {r: resid[r] / g for r, g in diag1.items() if resid[r] != 0}
            if y1:
                for j, (col, w, s) in enumerate(zip(self.cols, self.metric, simple)):
                    if s:
                        (m, c), = col.items()
                        r = self.row[m]
                        if r in y1:
                            x[j] -= c * y1[r] / w
        # the identity must hold exactly (dependent rows are checked here too)
        return x if all(v == 0 for v in self._residual(x).values()) else None

    def unpack(self, x: list) -> tuple[list, list]:
        """Per term the exact symmetric ``R``; per multiplier ``{monomial: coeff}``."""
        Rs, lams, k = [], [], 0
        for t, pairs in zip(self.terms, self.layout):
            R = [[_Q(0, 1)] * t.rank for _ in range(t.rank)]
            for a, b in pairs:
                R[a][b] = R[b][a] = x[k]
                k += 1
            Rs.append(R)
        for mu, monos in zip(self.mults, self.layout[len(self.terms):]):
            lams.append(_clean({e: x[k + i] for i, e in enumerate(monos)}))
            k += len(monos)
        return Rs, lams


@dataclass
class _Numeric:
    status: str
    objective: float | None
    Rs: list
    lams: list
    seconds: float


def _solve_sdp(sysm: _System, *, solver: str, objective: str, solver_options: Mapping | None,
               maximize_last: bool = False) -> _Numeric:
    """cvxpy model: ``A x == b``, each ``R`` PSD; objective ``max_min_eig`` (maximise ``t`` with
    ``R - t I`` PSD, ``t`` capped by the largest target coefficient), ``feasibility``, or, with
    ``maximize_last``, maximise the last multiplier's coefficient (a bound ``gamma``)."""
    import cvxpy as cp
    import numpy as np
    import scipy.sparse as sps

    t0 = time.perf_counter()
    M = len(sysm.monos)
    b = np.array([float(sysm.target.get(m, 0)) for m in sysm.monos])
    expr = 0
    Rvars, lvars, cons = [], [], []
    for t, full in zip(sysm.terms, sysm.full):
        r = t.rank
        rows, cols, vals = [], [], []
        for pab, a, bb in full:
            for m, c in pab.items():
                rows.append(sysm.row[m]), cols.append(a + r * bb), vals.append(float(c))
                if a != bb:
                    rows.append(sysm.row[m]), cols.append(bb + r * a), vals.append(float(c))
        A = sps.csr_matrix((vals, (rows, cols)), shape=(M, r * r))
        R = cp.Variable((r, r), symmetric=True)
        Rvars.append(R)
        expr = expr + A @ cp.vec(R, order="F")
    for mu in sysm.mults:
        rows, cols, vals = [], [], []
        for j, e in enumerate(mu.monomials):
            for m, c in _pmul({e: _Q(1, 1)}, mu.weight).items():
                rows.append(sysm.row[m]), cols.append(j), vals.append(float(c))
        B = sps.csr_matrix((vals, (rows, cols)), shape=(M, len(mu.monomials)))
        lam = cp.Variable(len(mu.monomials))
        lvars.append(lam)
        expr = expr + B @ lam
    cons.append(expr == b)
    if maximize_last:
        cons += [R >> 0 for R in Rvars]
        obj = cp.Maximize(lvars[-1][0])
    elif objective == "max_min_eig":
        tv = cp.Variable()
        cons += [R - tv * np.eye(R.shape[0]) >> 0 for R in Rvars]
        cons.append(tv <= max(1.0, float(np.max(np.abs(b))) if M else 1.0))
        obj = cp.Maximize(tv)
    elif objective == "feasibility":
        cons += [R >> 0 for R in Rvars]
        obj = cp.Minimize(0)
    else:
        raise ValueError(f"unknown objective {objective!r}")
    prob = cp.Problem(obj, cons)
    opts = dict(solver_options or {})
    if solver == "SCS":
        opts = {"eps_abs": 1e-9, "eps_rel": 1e-9, "max_iters": 200_000, **opts}
    elif solver != "CLARABEL":
        raise ValueError(f"solver must be one of {SOLVERS}")
    try:
        with warnings.catch_warnings():
            # cvxpy warns "Solution may be inaccurate" when the status is optimal_inaccurate:
            # that status is returned with the result (and every rounded certificate is
            # re-checked exactly), so the warning would only interrupt the caller's output
            warnings.filterwarnings("ignore", message="Solution may be inaccurate",
                                    category=UserWarning)
            prob.solve(solver=getattr(cp, solver), **opts)
        status = str(prob.status)
    except cp.error.SolverError as exc:
        return _Numeric(f"solver_error: {exc}", None, [], [], time.perf_counter() - t0)
    secs = time.perf_counter() - t0
    val = prob.value
    objv = float(val) if val is not None and np.isfinite(val) else None
    if status not in ROUNDABLE_STATUSES:
        return _Numeric(status, objv, [], [], secs)
    Rs = [None if R.value is None else np.asarray(R.value, float) for R in Rvars]
    ls = [None if v.value is None else np.asarray(v.value, float) for v in lvars]
    if any(x is None or not np.all(np.isfinite(x)) for x in Rs + ls):
        return _Numeric(f"{status} (missing or non-finite values)", objv, [], [], secs)
    Rs = [(R + R.T) / 2 for R in Rs]
    return _Numeric(status, objv, Rs, ls, secs)


def _round(v: float, D: int) -> Any:
    f = Fraction(v).limit_denominator(D)
    return _Q(f.numerator, f.denominator)


def _round_grid(v: float, D: int) -> Any:
    return _Q(int(math.floor(v * D + 0.5)), D)


def _float_psd_hopeless(R: list) -> bool:
    """True when a float image of the exact ``R`` is clearly indefinite (a quick reject before
    the exact LDL^T; it never accepts anything)."""
    import numpy as np

    if not R:
        return False
    A = np.array([[float(v) for v in row] for row in R])
    w = np.linalg.eigvalsh(A)
    return bool(w[0] < -1e-9 * max(1.0, float(np.max(np.abs(w)))))


def _try_round(sysm: _System, num: _Numeric, D: int,
               projection: str = "absorb") -> tuple[list, list] | str:
    """Round to denominators ``<= D`` (with ``projection="pivot"``: to the grid ``1/D``, one
    common denominator), project exactly, test each ``R`` by exact LDL^T."""
    rnd = _round_grid if projection == "pivot" else _round
    x = []
    for t, pairs, R in zip(sysm.terms, sysm.layout, num.Rs):
        x += [rnd(float(R[a, b]), D) for a, b in pairs]
    for lam in num.lams:
        x += [rnd(float(v), D) for v in lam]
    xp = sysm.project(x, projection)
    if xp is None:
        return "projection: the affine system is inconsistent"
    Rs, lams = sysm.unpack(xp)
    for k, R in enumerate(Rs):
        if _float_psd_hopeless(R):
            return f"block {k}: projected Gram matrix is indefinite (float eigenvalues)"
    for k, R in enumerate(Rs):
        if not ldl_psd(R)[0]:
            return f"block {k}: projected Gram matrix is not PSD (exact LDL^T)"
    return Rs, lams


def _rational_kernel(R: Any, tol: float) -> tuple[list, list] | None:
    """A rational basis (rows, reduced echelon form) of the numerical kernel of ``R``.

    Returns ``(V, pivots)`` or None when the kernel is empty or no small-denominator basis
    that ``R`` annihilates (to ``tol``) was found.
    """
    import numpy as np
    import scipy.linalg as sla

    r = R.shape[0]
    w, U = np.linalg.eigh(R)
    scale = max(1.0, float(np.max(np.abs(w))))
    k = int(np.sum(w < tol * scale))
    if k == 0 or k == r:
        return None if k == 0 else ([[_Q(1 if i == j else 0, 1) for j in range(r)]
                                     for i in range(r)], list(range(r)))
    K = U[:, :k].T  # k x r
    _, _, piv = sla.qr(K, pivoting=True)
    P = sorted(piv[:k])
    V = np.linalg.solve(K[:, P], K)  # identity on the pivot columns
    for den in (1, 2, 4, 8, 16, 64, 256, 1024, 4096):
        Vr = [[_Q(1 if j == P[i] else 0, 1) if j in P else _round(float(V[i, j]), den)
               for j in range(r)] for i in range(k)]
        Vf = np.array([[float(c) for c in row] for row in Vr])
        # Rayleigh quotients, not residuals: on a face an interior point solver leaves the
        # kernel's diagonal at O(mu) but the off-diagonal entries at O(sqrt(mu))
        ray = np.einsum("ij,jk,ik->i", Vf, R, Vf) / np.einsum("ij,ij->i", Vf, Vf)
        if np.all(ray < 10 * tol * scale):
            return Vr, P
    return None


def _reduce_face(t: _Term, R: Any, tol: float) -> _Term | None:
    """Facial reduction of one block: restrict ``R`` to the complement of its rational kernel.

    The kernel is ``span(V^T)``; the complement basis ``N`` (``r x (r-k)``) has the unit vector
    of each non-pivot column with ``-V[i, c]`` at pivot ``i``; the new ``W`` is ``W N``. A
    kernel of unit vectors just drops monomials. Returns None when nothing changes.
    """
    ker = _rational_kernel(R, tol)
    if ker is None:
        return None
    V, P = ker
    r = t.rank
    free = [c for c in range(r) if c not in P]
    unit = all(all(V[i][c] == 0 for c in free) for i in range(len(V)))
    if unit and t.W is None:
        return _Term(t.side, t.gens, t.weight, [t.monomials[c] for c in free], None)
    N = [[_Q(0, 1)] * len(free) for _ in range(r)]
    for j, c in enumerate(free):
        N[c][j] = _Q(1, 1)
        for i, p in enumerate(P):
            N[p][j] = -V[i][c]
    W = t.W if t.W is not None else [[_Q(1 if i == j else 0, 1) for j in range(r)]
                                      for i in range(r)]
    WN = [[sum((W[i][a] * N[a][j] for a in range(r) if N[a][j] != 0), _Q(0, 1))
           for j in range(len(free))] for i in range(len(t.monomials))]
    return _Term(t.side, t.gens, t.weight, list(t.monomials), WN)


@dataclass
class _Found:
    terms: list
    Qs: list
    lams: list
    num: _Numeric
    denominator: int
    facial_steps: int


def _search(terms: list, mults: list, target: dict, *, solver: str, objective: str,
            denominators: Sequence[int], facial_reduction: int, kernel_tol: float,
            solver_options: Mapping | None, timings: dict, attempts: list,
            projection: str = "absorb") -> _Found | SOSFailure:
    """Solve, round at each denominator, and, if all fail, reduce faces and solve again.

    With ``objective="max_min_eig"`` an optimum ``t* < -kernel_tol * scale`` (``scale`` the
    largest target coefficient, at least 1) means that no PSD point lies near the affine space:
    rounding is not attempted and the failure says "numerically infeasible". Facial reduction
    runs only when ``t*`` is near zero (a face), never on such an infeasible point.
    """
    status, objv = None, None
    scale = max([1.0] + [abs(float(c)) for c in target.values()])
    for step in range(facial_reduction + 1):
        t0 = time.perf_counter()
        sysm = _System(terms, mults, target)
        timings["build_s"] = timings.get("build_s", 0.0) + time.perf_counter() - t0
        if sysm.uncovered:
            return SOSFailure(f"target monomial(s) {sysm.uncovered[:3]} lie in no block's span: "
                              "no certificate of this shape exists", status, objv, attempts,
                              timings)
        num = _solve_sdp(sysm, solver=solver, objective=objective, solver_options=solver_options)
        timings["solve_s"] = timings.get("solve_s", 0.0) + num.seconds
        status, objv = num.status, num.objective
        attempts.append({"stage": f"solve (facial step {step})", "status": status,
                         "objective": objv, "blocks": [t.rank for t in terms]})
        if status not in ROUNDABLE_STATUSES:
            why = f"solver status {status}"
            if step:
                why += (f" after facial reduction step {step} (the rationalised kernel was "
                        "probably not the face's: an irrational face cannot be reduced so)")
            return SOSFailure(why, status, objv, attempts, timings)
        if objective == "max_min_eig" and objv is not None and objv < -kernel_tol * scale:
            return SOSFailure(f"numerically infeasible: the largest smallest Gram eigenvalue is "
                              f"{objv:.3g} < 0 (solver status {status}); no certificate of this "
                              "shape near the solver's point", status, objv, attempts, timings)
        t0 = time.perf_counter()
        on_face = (objective == "max_min_eig" and objv is not None
                   and objv < kernel_tol * scale and step < facial_reduction)
        # on a face (t* ~ 0) only snapping to a coarse grid can give a PSD matrix; fine grids
        # are tried once the faces are reduced (or at the last step)
        for D in [d for d in denominators if not on_face or d <= SNAP_DENOMINATOR]:
            out = _try_round(sysm, num, D, projection)
            if not isinstance(out, str):
                Rs, lams = out
                timings["round_s"] = timings.get("round_s", 0.0) + time.perf_counter() - t0
                Qs = [t.gram(R) for t, R in zip(terms, Rs)]
                return _Found(terms, Qs, lams, num, D, step)
            attempts.append({"stage": "round", "denominator": D, "outcome": out})
        timings["round_s"] = timings.get("round_s", 0.0) + time.perf_counter() - t0
        if step == facial_reduction:
            break
        new, changed = [], False
        for t, R in zip(terms, num.Rs):
            nt = _reduce_face(t, R, kernel_tol)
            if nt is not None:
                changed = True
                if nt.rank > 0:
                    new.append(nt)
            else:
                new.append(t)
        if not changed:
            break
        terms = new
    return SOSFailure(f"exact rounding failed at every denominator (solver status {status}, "
                      f"objective {objv})", status, objv, attempts, timings)


def _sos_cert(variables: Sequence[Any], p: dict, found: _Found, solver: str,
              timings: dict, attempts: list, t_start: float) -> SOSCertificate | SOSFailure:
    t = found.terms[0] if found.terms else None
    basis = list(t.monomials) if t else []
    Q = found.Qs[0] if found.Qs else []
    psd, L, D = ldl_psd(Q)
    gram = [[_s(v) for v in row] for row in Q]
    poly = {m: _s(c) for m, c in p.items()}
    t0 = time.perf_counter()
    ok = check_sos_certificate(poly, basis, gram)
    timings["check_s"] = time.perf_counter() - t0
    timings["total_s"] = time.perf_counter() - t_start
    if not (ok and psd):  # pragma: no cover - the search already tested both exactly
        return SOSFailure("internal: rounded certificate rejected by the exact checker",
                          found.num.status, found.num.objective, attempts, timings)
    return SOSCertificate(tuple(str(v) for v in variables), poly, basis, gram,
                          [[_s(v) for v in row] for row in L], [_s(d) for d in D], solver,
                          found.num.status, found.num.objective, found.denominator,
                          found.facial_steps, timings, attempts)


def find_sos(p: Any, variables: Sequence[Any], *, solver: str = "CLARABEL",
             objective: str = "max_min_eig", denominators: Sequence[int] = DEFAULT_DENOMINATORS,
             facial_reduction: int = 3, kernel_tol: float = 1e-6, basis: Sequence | None = None,
             solver_options: Mapping | None = None,
             projection: str = "absorb") -> SOSCertificate | SOSFailure:
    """Find an exact rational SOS certificate ``p = z^T Q z``, ``Q`` PSD (Peyrl-Parrilo 2008).

    Parameters
    ----------
    p : SymPy expression (or Poly) with rational coefficients, polynomial in ``variables``.
    solver : ``"CLARABEL"`` (default) or ``"SCS"`` (run at eps 1e-9).
    objective : ``"max_min_eig"`` (maximise the smallest Gram eigenvalue: a point deep inside,
        which is what rounding needs) or ``"feasibility"``.
    denominators : rounding grids tried in turn.
    facial_reduction : how many facial reduction steps to try when rounding fails (0: none).
    basis : monomial basis (exponent tuples); default :func:`newton_basis` of the support.

    Returns
    -------
    SOSCertificate, accepted by :func:`check_sos_certificate`, or SOSFailure (with the solver's
    status). Guarantee: a certificate proves ``p >= 0`` everywhere; a failure proves nothing.
    """
    t_start = time.perf_counter()
    pc = _exact(poly_coeffs(p, variables))
    timings: dict = {}
    attempts: list = []
    nv = len(variables)
    if not pc:
        t = _Term("rhs", (), {tuple([0] * nv): _Q(1, 1)}, [])
        return _sos_cert(variables, pc, _Found([t], [[]], [], _Numeric("trivial", None, [], [],
                         0.0), 1, 0), "none", timings, attempts, t_start)
    t0 = time.perf_counter()
    z = [tuple(b) for b in basis] if basis is not None else newton_basis(pc)
    timings["newton_s"] = time.perf_counter() - t0
    if not z and basis is not None:
        return SOSFailure("the given basis is empty and p is not zero", None, None, attempts,
                          timings)
    if not z:
        return SOSFailure("empty Newton basis: p is not a sum of squares (Reznick 1978: the "
                          "half Newton polytope has no lattice point)", None, None, attempts,
                          timings)
    term = _Term("rhs", (), {tuple([0] * nv): _Q(1, 1)}, z)
    found = _search([term], [], pc, solver=solver, objective=objective,
                    denominators=denominators, facial_reduction=facial_reduction,
                    kernel_tol=kernel_tol, solver_options=solver_options, timings=timings,
                    attempts=attempts, projection=projection)
    if isinstance(found, SOSFailure):
        found.timings["total_s"] = time.perf_counter() - t_start
        return found
    return _sos_cert(variables, pc, found, solver, timings, attempts, t_start)


def round_sos_gram(p: Any, variables: Sequence[Any], basis: Sequence[Sequence[int]],
                   gram: Any, *, denominators: Sequence[int] = DEFAULT_DENOMINATORS,
                   solver: str = "external") -> SOSCertificate | SOSFailure:
    """Peyrl-Parrilo rounding of a floating-point Gram matrix found by any solver.

    ``gram`` (n x n floats) in the monomial ``basis``: rounded, projected exactly and checked as
    in :func:`find_sos` (no facial reduction: that needs the solver). Non-finite entries fail.
    """
    import numpy as np

    t_start = time.perf_counter()
    pc = _exact(poly_coeffs(p, variables))
    G = np.asarray(gram, dtype=float)
    timings: dict = {}
    attempts: list = []
    z = [tuple(int(k) for k in b) for b in basis]
    if G.shape != (len(z), len(z)) or not np.all(np.isfinite(G)):
        return SOSFailure("Gram matrix of the wrong shape or not finite", None, None, attempts,
                          timings)
    term = _Term("rhs", (), {tuple([0] * len(variables)): _Q(1, 1)}, z)
    sysm = _System([term], [], pc)
    if sysm.uncovered:
        return SOSFailure(f"monomials {sysm.uncovered[:3]} not in the span of the basis",
                          None, None, attempts, timings)
    num = _Numeric("given", None, [(G + G.T) / 2], [], 0.0)
    t0 = time.perf_counter()
    for D in denominators:
        out = _try_round(sysm, num, D)
        if not isinstance(out, str):
            timings["round_s"] = time.perf_counter() - t0
            return _sos_cert(variables, pc, _Found([term], [out[0][0]], [], num, D, 0), solver,
                             timings, attempts, t_start)
        attempts.append({"stage": "round", "denominator": D, "outcome": out})
    timings["round_s"] = time.perf_counter() - t0
    return SOSFailure("exact rounding failed at every denominator", None, None, attempts, timings)


def _psatz_terms(q: dict, G: list, H: list, nv: int, degree: int, products: Any,
                 form: str) -> tuple[list, list]:
    zero = tuple([0] * nv)
    one = {zero: _Q(1, 1)}
    if products is True:
        prods = list(itertools.combinations(range(len(G)), 2))
    elif products:
        prods = [tuple(sorted(pr)) for pr in products]
    else:
        prods = []
    gens_list = [()] + [(k,) for k in range(len(G))] + prods
    terms = []
    for gens in gens_list:
        w = dict(one)
        for k in gens:
            w = _pmul(w, G[k])
        sides = [("rhs", w)] if form == "putinar" else [("rhs", {m: -c for m, c in w.items()}),
                                                        ("mult", _pmul(q, w))]
        for side, weight in sides:
            d = degree - _deg(weight)
            if d < 0 or not weight:
                continue
            terms.append(_Term(side, gens, weight, monomials_upto(nv, d // 2)))
    mults = []
    for l, h in enumerate(H):
        d = degree - _deg(h)
        if d >= 0 and h:
            mults.append(_Mult(l, h if form == "putinar" else {m: -c for m, c in h.items()},
                               monomials_upto(nv, d)))
    return terms, mults


def find_psatz(p: Any, gs: Sequence[Any], variables: Sequence[Any], degree: int, *,
               hs: Sequence[Any] = (), products: Any = False, form: str = "putinar",
               eps: Any = 0, solver: str = "CLARABEL", objective: str = "max_min_eig",
               denominators: Sequence[int] = DEFAULT_DENOMINATORS, facial_reduction: int = 3,
               kernel_tol: float = 1e-6, solver_options: Mapping | None = None,
               projection: str = "absorb") -> PsatzCertificate | SOSFailure:
    """Positivstellensatz certificate of ``p >= eps`` on ``K = {g_k >= 0, h_l = 0}``.

    ``form="putinar"``: ``p - eps = s_0 + sum_k s_k g_k [+ sum s_ij g_i g_j] + sum_l lam_l h_l``;
    ``form="stengle"``: ``q S = q^2 + S'`` with ``q = p - eps`` and ``S, S'`` in the preorder
    (plus the ideal of the ``h``), which also covers inequalities whose linear part no Putinar
    certificate can match (see :func:`check_psatz_certificate`). Every term has degree
    ``<= degree``; ``products`` is False, True (all pairs) or a list of index tuples. All Gram
    matrices and multipliers are rounded and projected *jointly* (Peyrl-Parrilo 2008, one
    affine space for all blocks), so the identity holds exactly.

    Returns a PsatzCertificate accepted by :func:`check_psatz_certificate`, or SOSFailure.
    Guarantee: a certificate proves ``p >= eps`` on K (``p > 0`` when ``eps > 0``).
    """
    t_start = time.perf_counter()
    if form not in ("putinar", "stengle"):
        raise ValueError("form must be 'putinar' or 'stengle'")
    nv = len(variables)
    pc = _exact(poly_coeffs(p, variables))
    G = [_exact(poly_coeffs(g, variables)) for g in gs]
    H = [_exact(poly_coeffs(h, variables)) for h in hs]
    e = _rat(_as_fraction(eps))
    q = dict(pc)
    _addto(q, {tuple([0] * nv): _Q(1, 1)}, -e)
    q = _clean(q)
    target = q if form == "putinar" else _pmul(q, q)
    timings: dict = {}
    attempts: list = []
    if _deg(target) > degree:
        return SOSFailure(f"degree {degree} is below the target's degree {_deg(target)}")
    terms, mults = _psatz_terms(q, G, H, nv, degree, products, form)
    found = _search(terms, mults, target, solver=solver, objective=objective,
                    denominators=denominators, facial_reduction=facial_reduction,
                    kernel_tol=kernel_tol, solver_options=solver_options, timings=timings,
                    attempts=attempts, projection=projection)
    if isinstance(found, SOSFailure):
        found.timings["total_s"] = time.perf_counter() - t_start
        return found
    return _psatz_result(tuple(str(v) for v in variables), pc, G, H, form, e, found, mults,
                         solver, timings, attempts, t_start)


def _psatz_result(variables: tuple, pc: dict, G: list, H: list, form: str, e: Any,
                  found: _Found, mults: list, solver: str, timings: dict, attempts: list,
                  t_start: float) -> PsatzCertificate | SOSFailure:
    """The certificate of a successful search, re-checked by :func:`check_psatz_certificate`."""
    blocks = [{"side": t.side, "gens": list(t.gens), "basis": list(t.monomials),
               "gram": [[_s(v) for v in row] for row in Qm]}
              for t, Qm in zip(found.terms, found.Qs)]
    mlist = [{"h": mu.index, "coeffs": {m: _s(c) for m, c in lam.items()}}
             for mu, lam in zip(mults, found.lams) if lam]
    cert = PsatzCertificate(variables, {m: _s(c) for m, c in pc.items()},
                            [{m: _s(c) for m, c in g.items()} for g in G],
                            [{m: _s(c) for m, c in h.items()} for h in H], form, _s(e), blocks,
                            mlist, solver, found.num.status, found.num.objective,
                            found.denominator, found.facial_steps, timings, attempts)
    t0 = time.perf_counter()
    ok = cert.check()
    timings["check_s"] = time.perf_counter() - t0
    timings["total_s"] = time.perf_counter() - t_start
    if not ok:  # pragma: no cover - the search already tested identity and PSD exactly
        return SOSFailure("internal: rounded certificate rejected by the exact checker",
                          found.num.status, found.num.objective, attempts, timings)
    return cert


def _shaped(nvars: int, gs: Sequence[Mapping], hs: Sequence[Mapping],
            blocks: Sequence[tuple[Sequence[int], Sequence[Exponent]]],
            mults: Sequence[tuple[int, Sequence[Exponent]]]) -> tuple[list, list, list, list]:
    """Exact generators and the terms of explicitly shaped blocks and multipliers."""
    G = [_exact(g) for g in gs]
    H = [_exact(h) for h in hs]
    one = {tuple([0] * nvars): _Q(1, 1)}
    terms = []
    for gens, basis in blocks:
        w = dict(one)
        for k in gens:
            w = _pmul(w, G[k])
        if w and basis:
            terms.append(_Term("rhs", tuple(gens), w, [tuple(b) for b in basis]))
    mlist = [_Mult(j, H[j], [tuple(e) for e in monos]) for j, monos in mults if H[j] and monos]
    return G, H, terms, mlist


def find_psatz_blocks(target: Mapping[Exponent, Any], gs: Sequence[Mapping],
                      hs: Sequence[Mapping], nvars: int,
                      blocks: Sequence[tuple[Sequence[int], Sequence[Exponent]]],
                      mults: Sequence[tuple[int, Sequence[Exponent]]], *,
                      solver: str = "CLARABEL", objective: str = "max_min_eig",
                      denominators: Sequence[int] = DEFAULT_DENOMINATORS,
                      facial_reduction: int = 3, kernel_tol: float = 1e-6,
                      solver_options: Mapping | None = None,
                      projection: str = "absorb") -> PsatzCertificate | SOSFailure:
    """A Putinar certificate ``target = sum_b (prod_{k in gens_b} g_k) z_b^T Q_b z_b +
    sum_l lam_l h_l`` whose shape the caller chooses: ``blocks`` lists ``(gens, basis)`` (an
    SOS block over the monomials ``basis`` times the product of the named generators) and
    ``mults`` lists ``(l, monomials)`` (a free multiplier of ``h_l``). Polynomials are
    ``{exponent: exact rational}`` in ``nvars`` variables. Rounded and checked as
    :func:`find_psatz` (which chooses the shape by total degree)."""
    t_start = time.perf_counter()
    pc = _exact(target)
    G, H, terms, mlist = _shaped(nvars, gs, hs, blocks, mults)
    timings: dict = {}
    attempts: list = []
    found = _search(terms, mlist, pc, solver=solver, objective=objective,
                    denominators=denominators, facial_reduction=facial_reduction,
                    kernel_tol=kernel_tol, solver_options=solver_options, timings=timings,
                    attempts=attempts, projection=projection)
    if isinstance(found, SOSFailure):
        found.timings["total_s"] = time.perf_counter() - t_start
        return found
    return _psatz_result(tuple(f"z{i}" for i in range(nvars)), pc, G, H, "putinar", _Q(0, 1),
                         found, mlist, solver, timings, attempts, t_start)


def _max_gamma(terms: list, mults: list, p: dict, nvars: int, solver: str,
               solver_options: Mapping | None) -> _Numeric:
    """Numerically, the largest gamma with ``p - gamma`` in the truncated quadratic module
    spanned by ``terms`` and ``mults`` (the relaxation's bound of ``min p``)."""
    zero = tuple([0] * nvars)
    gamma = _Mult(-1, {zero: _Q(1, 1)}, [zero])
    return _solve_sdp(_System(terms, list(mults) + [gamma], p), solver=solver,
                      objective="feasibility", solver_options=solver_options,
                      maximize_last=True)


def relaxation_bound_blocks(p: Mapping[Exponent, Any], gs: Sequence[Mapping],
                            hs: Sequence[Mapping], nvars: int,
                            blocks: Sequence[tuple[Sequence[int], Sequence[Exponent]]],
                            mults: Sequence[tuple[int, Sequence[Exponent]]], *,
                            solver: str = "CLARABEL", solver_options: Mapping | None = None
                            ) -> tuple[float | None, str]:
    """(gamma*, solver status): the largest gamma, numerically, with ``p - gamma`` of the shape
    of :func:`find_psatz_blocks`; gamma* <= min of p on the set up to the solver's accuracy.
    A number to aim at, never a bound by itself (None unless the status is roundable)."""
    _, _, terms, mlist = _shaped(nvars, gs, hs, blocks, mults)
    num = _max_gamma(terms, mlist, _exact(p), nvars, solver, solver_options)
    ok = num.status in ROUNDABLE_STATUSES and num.objective is not None
    return (num.objective if ok else None), num.status


def prove_positive(p: Any, gs: Sequence[Any], variables: Sequence[Any], degree: int, eps: Any,
                   **kw: Any) -> PsatzCertificate | SOSFailure:
    """Strict inequality ``p > 0`` on K via the margin ``p >= eps`` with a rational ``eps > 0``
    (:func:`find_psatz` with ``eps``); with ``gs=()`` and no ``hs`` this is global."""
    e = _as_fraction(eps)
    if e <= 0:
        raise ValueError("a strict inequality needs a margin eps > 0")
    return find_psatz(p, gs, variables, degree, eps=e, **kw)


def prove_bound(f: Any, gs: Sequence[Any], variables: Sequence[Any], degree: int, *,
                sense: str = "upper", hs: Sequence[Any] = (), products: Any = False,
                solver: str = "CLARABEL", slacks: Sequence[float] = (1e-7, 1e-5, 1e-3, 1e-2),
                grid: int = 2 ** 20, **kw: Any) -> PsatzCertificate | SOSFailure:
    """A rational bound ``f <= c`` (``sense="upper"``) or ``f >= c`` (``"lower"``) on K.

    First the Putinar relaxation's best bound ``c*`` is found numerically (maximise ``gamma``
    with ``+-f - gamma`` in the truncated quadratic module); then ``c`` is ``c*`` loosened by
    each slack in turn (relative to ``1 + |c*|``) and put on a ``1/grid`` grid, and the
    statement ``c - f >= 0`` (or ``f - c >= 0``) is certified by :func:`find_psatz`. The
    certificate's polynomial *is* ``c - f`` (or ``f - c``) and ``bound`` is ``c``.
    """
    if sense not in ("upper", "lower"):
        raise ValueError("sense must be 'upper' or 'lower'")
    import sympy as sp

    t_start = time.perf_counter()
    sign = -1 if sense == "upper" else 1
    nv = len(variables)
    pc = _exact(poly_coeffs(sp.sympify(f) * sign, variables))
    G = [_exact(poly_coeffs(g, variables)) for g in gs]
    H = [_exact(poly_coeffs(h, variables)) for h in hs]
    terms, mults = _psatz_terms(pc, G, H, nv, degree, products, "putinar")
    num = _max_gamma(terms, mults, pc, nv, solver, kw.get("solver_options"))
    attempts: list = [{"stage": "bound", "status": num.status, "objective": num.objective}]
    if num.status not in ROUNDABLE_STATUSES or num.objective is None:
        return SOSFailure(f"bound search: solver status {num.status}", num.status,
                          num.objective, attempts, {"solve_s": num.seconds})
    gamma = num.objective  # p - gamma in the module, p = sign * f
    for slack in slacks:
        g = Fraction(math.floor((gamma - slack * (1 + abs(gamma))) * grid), grid)
        c = sign * g  # upper: f <= -g ; lower: f >= g
        stmt = (sp.Rational(c.numerator, c.denominator) - sp.sympify(f) if sense == "upper"
                else sp.sympify(f) - sp.Rational(c.numerator, c.denominator))
        cert = find_psatz(sp.expand(stmt), gs, variables, degree, hs=hs, products=products,
                          solver=solver, **kw)
        attempts.append({"stage": "certify", "bound": str(c), "ok": cert.ok})
        if cert.ok:
            cert.bound = str(c)
            cert.attempts = attempts + cert.attempts
            cert.timings["bound_solve_s"] = num.seconds
            cert.timings["total_s"] = time.perf_counter() - t_start
            return cert
    return SOSFailure(f"no rational bound within the slacks of the numerical {sense} bound "
                      f"{sign * gamma:.6g} could be certified", num.status, num.objective,
                      attempts, {"total_s": time.perf_counter() - t_start})
