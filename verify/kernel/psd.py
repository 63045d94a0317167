"""Exact positive-semidefiniteness tests for the kernel, small and large.

* :func:`is_psd` decides exactly whether a symmetric rational matrix is positive semidefinite,
  by an LDL^T over the rationals, and :func:`charpoly_psd` by the signs of the characteristic
  polynomial's coefficients (both complete: they answer True exactly for PSD matrices; the
  second runs in C, a 60-row Gram matrix in 0.3 s against 9 s, and is the one used for small
  matrices).
* :func:`block_tridiagonal_psd` shows a symmetric block tridiagonal matrix A (diagonal blocks
  D_k, blocks C_k at (k, k+1)) positive semidefinite at any size the memory allows, by a
  witness it finds itself in floating point and checks in exact arithmetic:

  1. weights w_i = 2^-round(log2 sqrt(A_ii)) (Jacobi scaling; A_ii > 0 is needed);
  2. a block Cholesky factor L (lower block bidiagonal, float64) of W A W - s I for a shift
     s > 0 (the largest of 2^-16, 2^-24, 2^-32, 2^-40 for which the factorization of
     W A W - 2 s I succeeds), read as the exact dyadic matrix it is and mapped back,
     Lt = W^-1 L;
  3. the residual E = A - Lt Lt^T, computed **exactly** (integer matrices, python-flint), is
     block tridiagonal; it is PSD when W E W is diagonally dominant with a nonnegative
     diagonal (Gershgorin): E_ii w_i >= sum_{j != i} |E_ij| w_j for every row i;
  4. then A = Lt Lt^T + E is a sum of two PSD matrices.

  The test is sufficient, not complete: a PSD matrix whose smallest eigenvalue (after the
  scaling) is below about n^2 2^-53 fails it; the caller then reports "not shown PSD" (or falls
  back to :func:`is_psd` when the matrix is small). Floating point only proposes L; every
  inequality that is concluded from is checked in exact integer arithmetic.

Costs: a few float Cholesky factorizations and, per block, two or three exact integer matrix
products (python-flint's ``fmpz_mat``), about a second for a block of 1024 rows.
"""

from __future__ import annotations

import math
from typing import Sequence

import flint
import numpy as np

Q = flint.fmpq
#: shifts tried for the float factorization (relative to the unit diagonal after scaling):
#: the first s for which W A W - 2 s I factors is used
SHIFTS = (2.0 ** -16, 2.0 ** -24, 2.0 ** -32, 2.0 ** -40)
#: matrices of at most this many rows are decided by the complete exact test first
EXACT_ROWS = 48
#: ... and up to this many rows when the float witness fails (a singular PSD matrix, say)
FALLBACK_ROWS = 120


def is_psd(rows: Sequence[Sequence[flint.fmpq]]) -> bool:
    """A symmetric rational matrix is positive semidefinite, decided exactly by LDL^T: a
    negative pivot refutes it, a zero pivot needs a zero row (else a 2x2 principal minor is
    negative), a positive pivot is eliminated (the Schur complement is PSD iff the matrix is)."""
    A = [list(r) for r in rows]
    n = len(A)
    if any(len(r) != n for r in A) or any(A[i][j] != A[j][i] for i in range(n)
                                          for j in range(i)):
        return False
    while A:
        head, A = A[0], A[1:]
        d = head[0]
        if d < 0:
            return False
        if d == 0:
            if any(v != 0 for v in head):
                return False
            A = [r[1:] for r in A]
            continue
        A = [_eliminate(r, head, d) for r in A]
    return True


def _eliminate(row: list, head: list, d: flint.fmpq) -> list:
    """row minus (row[0] / d) times the pivot row, without the first column."""
    if row[0] == 0:
        return row[1:]
    t = row[0] / d
    return [v - t * p for v, p in zip(row[1:], head[1:])]


# --------------------------------------------------------------------------------------------
# integer views of rational matrices
# --------------------------------------------------------------------------------------------

class _Exact:
    """A rational matrix as an integer matrix ``num`` (fmpz_mat) over one denominator ``den``."""

    def __init__(self, M: flint.fmpq_mat):
        num, den = M.numer_denom()
        self.num, self.den = num, int(den)
        self.shape = (M.nrows(), M.ncols())

    def floats(self) -> np.ndarray:
        """The entries as float64 (each correctly rounded: int / int)."""
        d = self.den
        vals = [v / d for v in map(int, self.num.entries())]
        return np.array(vals, dtype=np.float64).reshape(self.shape)

    def diagonal(self) -> list[flint.fmpq]:
        n = min(self.shape)
        return [Q(int(self.num[i, i]), self.den) for i in range(n)]


def _dyadic_rows(L: np.ndarray, row_exps: np.ndarray) -> tuple[flint.fmpz_mat, int]:
    """The exact matrix diag(2^-row_exps) L_r, L_r = L rounded to 62 bits below its largest
    entry (that rounding is part of the witness: any matrix will do), as (num, F) with value
    num / 2^F."""
    top = float(np.max(np.abs(L))) if L.size else 0.0
    if top == 0.0:
        return flint.fmpz_mat(L.shape[0], L.shape[1]), 0
    f = 62 - math.frexp(top)[1]                           # |L 2^f| < 2^62
    ints = np.rint(np.ldexp(L, f)).astype(np.int64)
    F = f + int(row_exps.max())
    shifts = (F - f - row_exps).astype(np.int64)          # >= 0
    obj = ints.astype(object) * np.array([1 << int(s) for s in shifts], dtype=object)[:, None]
    return flint.fmpz_mat(obj.tolist()), F


def _abs_weighted_rows(num: flint.fmpz_mat, col_exps: np.ndarray, skip_diagonal: bool
                       ) -> tuple[list[int], int]:
    """sum_j |num_ij| 2^col_exps[j] (the diagonal left out if asked) as integers times
    2^base: returns (sums, base)."""
    rows, cols = num.nrows(), num.ncols()
    if rows == 0 or cols == 0:
        return [0] * rows, 0
    base = int(col_exps.min())
    weights = np.array([1 << int(e - base) for e in col_exps], dtype=object)
    vals = np.array(list(map(int, num.entries())), dtype=object).reshape(rows, cols)
    vals = np.abs(vals)
    if skip_diagonal:
        for i in range(min(rows, cols)):
            vals[i, i] = 0
    return list((vals * weights[None, :]).sum(axis=1)), base


# --------------------------------------------------------------------------------------------
# the float witness
# --------------------------------------------------------------------------------------------

def _block_cholesky(D: list[np.ndarray], C: list[np.ndarray], s: float
                    ) -> tuple[list[np.ndarray], list[np.ndarray]] | None:
    """Lower block bidiagonal L with L L^T = A - s I (float), or None if a block is not PD."""
    from scipy.linalg import solve_triangular

    diag: list[np.ndarray] = []
    sub: list[np.ndarray] = []
    try:
        for k, Dk in enumerate(D):
            S = Dk - s * np.eye(Dk.shape[0])
            if k:
                B = solve_triangular(diag[-1], C[k - 1], lower=True).T   # C^T L^-T
                if not np.all(np.isfinite(B)):
                    return None
                sub.append(B)
                S = S - B @ B.T
            Lk = np.linalg.cholesky((S + S.T) / 2)
            if not np.all(np.isfinite(Lk)):
                return None
            diag.append(Lk)
    except (np.linalg.LinAlgError, ValueError):
        return None
    return diag, sub


def block_tridiagonal_psd(D: Sequence[flint.fmpq_mat], C: Sequence[flint.fmpq_mat],
                          approx: tuple[Sequence[np.ndarray], Sequence[np.ndarray]] | None = None
                          ) -> bool:
    """Is the symmetric block tridiagonal matrix with diagonal blocks ``D`` and upper blocks
    ``C`` (C[k] at (k, k+1)) positive semidefinite? True only when shown exactly (see the
    module docstring); complete (:func:`charpoly_psd`) for at most :data:`EXACT_ROWS` rows,
    and for at most :data:`FALLBACK_ROWS` rows when the float witness fails.

    ``approx``: float64 approximations of the blocks (D, C), to save converting the exact ones
    (they only guide the search for the witness; any approximation is sound).

    Raises ValueError on inconsistent block shapes."""
    D, C = list(D), list(C)
    if len(C) != len(D) - 1:
        raise ValueError("one off-diagonal block between consecutive diagonal blocks")
    sizes = [Dk.nrows() for Dk in D]
    for k, Dk in enumerate(D):
        if Dk.ncols() != sizes[k]:
            raise ValueError("diagonal blocks must be square")
    for k, Ck in enumerate(C):
        if (Ck.nrows(), Ck.ncols()) != (sizes[k], sizes[k + 1]):
            raise ValueError(f"block ({k}, {k + 1}) has shape {Ck.nrows()}x{Ck.ncols()}, "
                             f"expected {sizes[k]}x{sizes[k + 1]}")
    n = sum(sizes)
    if n <= EXACT_ROWS:
        return charpoly_psd(flint.fmpq_mat(_assemble(D, C)))
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1):          # a second BLAS thread contends badly on a busy machine
        if _witnessed(D, C, sizes, approx):
            return True
    return n <= FALLBACK_ROWS and charpoly_psd(flint.fmpq_mat(_assemble(D, C)))


def charpoly_psd(A: flint.fmpq_mat) -> bool:
    """A symmetric rational matrix is PSD, decided exactly: with N = d A an integer matrix
    (d > 0), det(x I - N) is real-rooted, and its roots are all >= 0 iff its coefficients
    alternate in sign, (-1)^(n - k) c_k >= 0 (python-flint computes the polynomial exactly;
    fast in C up to about a hundred rows)."""
    if A.nrows() != A.ncols() or A != A.transpose():
        return False
    n = A.nrows()
    num, _ = A.numer_denom()
    coeffs = num.charpoly().coeffs()
    return all((c >= 0) if (n - k) % 2 == 0 else (c <= 0) for k, c in enumerate(coeffs))


def _witnessed(D: list[flint.fmpq_mat], C: list[flint.fmpq_mat], sizes: list[int],
               approx: tuple[Sequence[np.ndarray], Sequence[np.ndarray]] | None) -> bool:
    """The float-witness test of :func:`block_tridiagonal_psd` (True only when shown)."""
    ex_D, ex_C = [_Exact(Dk) for Dk in D], [_Exact(Ck) for Ck in C]
    if any(e.num != e.num.transpose() for e in ex_D):
        return False                                        # not symmetric
    diag = [d for e in ex_D for d in e.diagonal()]
    if any(d < 0 for d in diag):
        return False
    if any(d == 0 for d in diag):
        return False                      # a zero diagonal: not shown here (small: is_psd)
    exps = [np.array([_half_log2(d) for d in e.diagonal()], dtype=np.int64) for e in ex_D]
    w = [np.ldexp(1.0, -x) for x in exps]                   # w_i = 2^-e_i
    if approx is None or [a.shape for a in approx[0]] != [e.shape for e in ex_D] or \
            [a.shape for a in approx[1]] != [e.shape for e in ex_C]:
        approx = [e.floats() for e in ex_D], [e.floats() for e in ex_C]
    Df = [np.asarray(a, dtype=np.float64) * wk[:, None] * wk[None, :]
          for a, wk in zip(approx[0], w)]
    Cf = [np.asarray(a, dtype=np.float64) * w[k][:, None] * w[k + 1][None, :]
          for k, a in enumerate(approx[1])]
    if not all(np.all(np.isfinite(a)) for a in Df + Cf):
        return False
    found = None
    for s in SHIFTS:
        if _block_cholesky(Df, Cf, 2 * s) is not None:
            found = _block_cholesky(Df, Cf, s)
            if found is not None:
                break
    if found is None:
        return False
    Ld, Ls = found
    # Lt = W^-1 L: rows of block k scaled by 2^e (w = 2^-e), exactly
    Ld_q = [_dyadic_rows(L, -exps[k]) for k, L in enumerate(Ld)]
    Ls_q = [_dyadic_rows(L, -exps[k + 1]) for k, L in enumerate(Ls)]
    # weighted Gershgorin in the scaled coordinates: E_ii w_i >= sum_j |E_ij| w_j
    col_exps = [-e for e in exps]                            # log2 w_j
    total: list[list[flint.fmpq]] = [[Q(0)] * m for m in sizes]
    diagonal: list[list[flint.fmpq]] = [[Q(0)] * m for m in sizes]
    for k in range(len(D)):
        P, F = Ld_q[k]
        E = _residual(ex_D[k], [(P, P, 2 * F)] + ([(Ls_q[k - 1][0], Ls_q[k - 1][0],
                                                    2 * Ls_q[k - 1][1])] if k else []))
        num, den = E
        sums, base = _abs_weighted_rows(num, col_exps[k], skip_diagonal=True)
        scale = _pow2(base) / den
        for i in range(sizes[k]):
            total[k][i] += sums[i] * scale
            diagonal[k][i] = Q(int(num[i, i]), den) * _pow2(int(col_exps[k][i]))
    for k in range(len(C)):
        # block (k+1, k) of A is C_k^T; of Lt Lt^T it is Ls_k Ld_k^T
        P, F = Ls_q[k]
        R, G = Ld_q[k]
        num, den = _residual(_Exact(C[k].transpose()), [(P, R, F + G)])
        sums, base = _abs_weighted_rows(num, col_exps[k], skip_diagonal=False)
        scale = _pow2(base) / den
        for i in range(sizes[k + 1]):
            total[k + 1][i] += sums[i] * scale
        sums, base = _abs_weighted_rows(num.transpose(), col_exps[k + 1], skip_diagonal=False)
        scale = _pow2(base) / den
        for i in range(sizes[k]):
            total[k][i] += sums[i] * scale
    return all(diagonal[k][i] >= total[k][i] for k in range(len(D)) for i in range(sizes[k]))


def _residual(A: _Exact, products: list[tuple[flint.fmpz_mat, flint.fmpz_mat, int]]
              ) -> tuple[flint.fmpz_mat, int]:
    """A - sum P R^T / 2^e over ``products`` (P, R, e), exactly: (numerator, denominator)."""
    top = max([e for _, _, e in products] + [0])
    den_a = A.den
    two = 1 << top
    g = math.gcd(den_a, two)
    den = den_a // g * two                                    # lcm
    num = A.num * (den // den_a)
    for P, R, e in products:
        num = num - (P * R.transpose()) * (den >> e)
    return num, den


def _assemble(D: Sequence[flint.fmpq_mat], C: Sequence[flint.fmpq_mat]
              ) -> list[list[flint.fmpq]]:
    sizes = [Dk.nrows() for Dk in D]
    start = [sum(sizes[:k]) for k in range(len(sizes))]
    n = sum(sizes)
    M = [[Q(0)] * n for _ in range(n)]
    for k, Dk in enumerate(D):
        for i, row in enumerate(Dk.tolist()):
            M[start[k] + i][start[k]:start[k] + sizes[k]] = row
    for k, Ck in enumerate(C):
        for i, row in enumerate(Ck.tolist()):
            for j, v in enumerate(row):
                M[start[k] + i][start[k + 1] + j] = v
                M[start[k + 1] + j][start[k] + i] = v
    return M


def _half_log2(d: flint.fmpq) -> int:
    """round(log2 sqrt(d)) for a rational d > 0 (up to one unit: any integer is sound)."""
    p, q = int(d.p), int(d.q)
    return round((p.bit_length() - q.bit_length()) / 2)


def _pow2(e: int) -> flint.fmpq:
    return Q(1 << e) if e >= 0 else Q(1, 1 << -e)


def psd(M: flint.fmpq_mat) -> bool:
    """A dense symmetric rational matrix is PSD: :func:`block_tridiagonal_psd` with one
    block."""
    return block_tridiagonal_psd([M], [])
