"""The kernel's exact PSD tests (verify.kernel.psd): complete exact LDL^T for small matrices, a
float witness with an exact residual for large ones, never True for a matrix that is not PSD.

Matrices with a known answer: B^T B is PSD (singular when B has fewer rows than columns);
B^T B - eps I with B rank-deficient has the eigenvalue -eps exactly, so it is not PSD however
small eps is; c^2 I - B^T B is PSD iff c >= ||B||_2.
"""

from __future__ import annotations

import flint
import numpy as np
import pytest

from verify.kernel import psd as P

Q = flint.fmpq


def exact(A: np.ndarray) -> flint.fmpq_mat:
    return flint.fmpq_mat(A.shape[0], A.shape[1],
                          [Q(*float(v).as_integer_ratio()) for v in A.ravel()])


def gram(B: flint.fmpq_mat) -> flint.fmpq_mat:
    return B.transpose() * B


def eye(n: int, c=Q(1)) -> flint.fmpq_mat:
    return flint.fmpq_mat(n, n, [c if i == j else Q(0) for i in range(n) for j in range(n)])


def random_b(rows: int, cols: int, seed: int) -> flint.fmpq_mat:
    rng = np.random.default_rng(seed)
    return exact(rng.normal(size=(rows, cols)).astype(np.float32).astype(np.float64))


@pytest.mark.parametrize("seed", range(4))
def test_small_matrices_agree_with_the_exact_ldlt(seed):       # and the charpoly test
    rng = np.random.default_rng(seed)
    n = 12
    for shift in (-0.5, 0.0, 0.5):
        B = random_b(n, n, seed)
        A = gram(B) + eye(n, Q(*float(shift * n).as_integer_ratio())) \
            if shift >= 0 else gram(B) - eye(n, Q(int(rng.integers(1, 3))))
        assert P.psd(A) == P.is_psd(A.tolist()) == P.charpoly_psd(A)


@pytest.mark.parametrize("n", [60, 200])
def test_gram_norm_bounds_just_above_and_below(n):
    B = random_b(n, n, n)
    sigma2 = float(np.linalg.eigvalsh(np.array(gram(B).tolist(), dtype=float))[-1])
    above = Q(*(sigma2 * (1 + 1e-6)).as_integer_ratio())
    below = Q(*(sigma2 * (1 - 1e-6)).as_integer_ratio())
    assert P.psd(eye(n, above) - gram(B))
    assert not P.psd(eye(n, below) - gram(B))


@pytest.mark.parametrize("eps", [Q(1, 10 ** 3), Q(1, 10 ** 12)])
def test_a_negative_eigenvalue_however_small_is_never_shown_psd(eps):
    B = random_b(99, 100, 1)                       # rank 99: B^T B has the eigenvalue 0
    assert not P.psd(gram(B) - eye(100, eps))
    big = random_b(199, 200, 1)                    # beyond the exact fallback too
    assert not P.psd(gram(big) - eye(200, eps))


def test_singular_psd_matrices_fall_back_to_the_exact_ldlt():
    B = random_b(59, 60, 2)                        # 60 rows, singular: no float witness
    assert P.psd(gram(B))
    big = random_b(P.FALLBACK_ROWS, P.FALLBACK_ROWS + 1, 3)   # beyond: not shown
    assert not P.psd(gram(big))


def test_block_tridiagonal_matrices():
    rng = np.random.default_rng(5)
    sizes = [30, 50, 40]
    # A = L L^T with L lower block bidiagonal (exact): PSD; minus a little: still PD
    Ld = [np.tril(rng.normal(size=(m, m))) + 4 * np.eye(m) for m in sizes]
    Ls = [rng.normal(size=(sizes[k + 1], sizes[k])) for k in range(2)]
    Ldq, Lsq = [exact(x) for x in Ld], [exact(x) for x in Ls]
    D = [Ldq[0] * Ldq[0].transpose()]
    C = []
    for k in range(1, 3):
        D.append(Ldq[k] * Ldq[k].transpose() + Lsq[k - 1] * Lsq[k - 1].transpose())
        C.append((Lsq[k - 1] * Ldq[k - 1].transpose()).transpose())
    assert P.block_tridiagonal_psd(D, C)
    dense = flint.fmpq_mat(P._assemble(D, C))
    n = sum(sizes)
    lam = float(np.linalg.eigvalsh(np.array(dense.tolist(), dtype=float))[0])
    assert lam > 0
    shift = Q(*(1.5 * lam).as_integer_ratio())           # lambda_min - 1.5 lambda_min < 0
    assert not P.block_tridiagonal_psd([Dk - eye(Dk.nrows(), shift) for Dk in D], C)
    assert P.psd(dense) and n == 120
    # a non-symmetric diagonal block is refused, bad shapes raise
    bad = flint.fmpq_mat(D[0])
    bad[0, 1] += 1
    assert not P.block_tridiagonal_psd([bad, D[1], D[2]], C)
    with pytest.raises(ValueError):
        P.block_tridiagonal_psd(D, C[:1])
    with pytest.raises(ValueError):
        P.block_tridiagonal_psd(D, [C[1], C[0]])
