"""SOS and Positivstellensatz certificates (numerics.sos): every certificate passes the exact
checker and an independent SymPy re-derivation; tampered certificates are rejected; polynomials
that are not SOS (Motzkin, Robinson, Choi-Lam) and false inequalities get no certificate."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from fractions import Fraction

import pytest
import sympy as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from numerics import sos
from numerics.sos import (PsatzCertificate, SOSCertificate, SOSFailure, check_certificate_json,
                          check_ldl_factors, check_psatz_certificate, check_sos_certificate,
                          find_psatz, find_sos, ldl_psd, monomials_upto, newton_basis,
                          poly_coeffs, prove_bound, prove_positive, round_sos_gram)

x, y, z, w = sp.symbols("x y z w")
MOTZKIN = x**4 * y**2 + x**2 * y**4 - 3 * x**2 * y**2 + 1
ROBINSON = (x**6 + y**6 + z**6 - (x**4 * y**2 + x**2 * y**4 + x**4 * z**2 + x**2 * z**4
                                  + y**4 * z**2 + y**2 * z**4) + 3 * x**2 * y**2 * z**2)
CHOI_LAM_S = x**4 * y**2 + y**4 * z**2 + z**4 * x**2 - 3 * x**2 * y**2 * z**2


# --------------------------------------------------------------------------------------------
# independent oracles (SymPy, exact)
# --------------------------------------------------------------------------------------------

def mono(vs, e):
    return sp.Mul(*[v**k for v, k in zip(vs, e)])


def P(expr, vs):
    return sp.Poly(expr, *vs, domain="QQ")


def sympy_gram_form(vs, basis, gram):
    """z^T Q z as a SymPy Poly over QQ (SymPy's own arithmetic, not the checker's)."""
    zs = [P(mono(vs, e), vs) for e in basis]
    out = P(0, vs)
    for i, zi in enumerate(zs):
        for j, zj in enumerate(zs):
            if sp.Rational(gram[i][j]) != 0:
                out += sp.Rational(gram[i][j]) * zi * zj
    return out


def sympy_poly(vs, coeffs):
    items = coeffs.items() if isinstance(coeffs, dict) else coeffs
    return P(sum((sp.Rational(c) * mono(vs, e) for e, c in items), sp.Integer(0)), vs)


def assert_sos_certificate(cert, p, vs):
    """The certificate is accepted by the checker, survives JSON, and SymPy agrees: p equals
    z^T Q z and the sum of squares of the LDL^T factors (with D >= 0)."""
    assert isinstance(cert, SOSCertificate) and cert.ok, getattr(cert, "reason", None)
    assert cert.check()
    assert check_certificate_json(json.loads(json.dumps(cert.to_json())))
    assert sympy_gram_form(vs, cert.basis, cert.gram) == P(p, vs)
    assert check_ldl_factors(cert.gram, cert.ldl_L, cert.ldl_D)
    squares = P(0, vs)
    for d, lin in cert.squares():
        squares += sp.Rational(d) * sympy_poly(vs, lin) ** 2
    assert squares == P(p, vs)
    assert all(sp.Rational(d) >= 0 for d in cert.ldl_D)


def sympy_psatz_identity(cert, vs):
    """q S - q^2 - R (Stengle) or q - R (Putinar), rebuilt in SymPy from the certificate."""
    g = [sympy_poly(vs, gi) for gi in cert.gs]
    h = [sympy_poly(vs, hi) for hi in cert.hs]
    q = sympy_poly(vs, cert.poly) - sp.Rational(cert.eps)
    R, S = P(0, vs), P(0, vs)
    for b in cert.blocks:
        term = sympy_gram_form(vs, b["basis"], b["gram"])
        for k in b["gens"]:
            term *= g[k]
        if b["side"] == "rhs":
            R += term
        else:
            S += term
    for m in cert.multipliers:
        R += sympy_poly(vs, m["coeffs"]) * h[m["h"]]
    return (q * S - q**2 - R) if cert.form == "stengle" else (q - R)


def assert_psatz_certificate(cert, vs):
    assert isinstance(cert, PsatzCertificate) and cert.ok, getattr(cert, "reason", None)
    assert cert.check()
    assert check_certificate_json(json.loads(json.dumps(cert.to_json())))
    assert sympy_psatz_identity(cert, vs).is_zero
    for b in cert.blocks:  # SymPy's own semidefiniteness test on the small blocks
        if len(b["basis"]) <= 6:
            Qm = sp.Matrix([[sp.Rational(v) for v in row] for row in b["gram"]])
            assert Qm.is_positive_semidefinite


def random_sos(nvars, seed, squares=None, degree=2, coeff=3):
    """Sum of ``squares`` squares of random dense integer polynomials of degree ``degree``
    (default: as many squares as monomials, so the Gram matrix is generically definite)."""
    rng = random.Random(seed)
    vs = sp.symbols(f"v1:{nvars + 1}")
    monos = monomials_upto(nvars, degree)
    p = sp.Integer(0)
    for _ in range(squares or len(monos)):
        p += sum(rng.randint(-coeff, coeff) * mono(vs, e) for e in monos) ** 2
    return sp.expand(p), list(vs)


# --------------------------------------------------------------------------------------------
# the checker module stays light
# --------------------------------------------------------------------------------------------

def test_importing_the_checker_pulls_in_no_solver_or_numpy():
    code = ("import sys, numerics.sos as s; bad = [m for m in ('numpy', 'scipy', 'sympy', "
            "'cvxpy') if m in sys.modules]; print(bad); sys.exit(1 if bad else 0)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=str(__import__("pathlib").Path(__file__).parent.parent))
    assert out.returncode == 0, out.stdout + out.stderr


# --------------------------------------------------------------------------------------------
# exact checker on hand-made data
# --------------------------------------------------------------------------------------------

def test_checker_accepts_a_hand_made_certificate_and_rejects_its_tamperings():
    # x^4 + 2x^2y^2 + y^4 = (x^2 + y^2)^2, z = (x^2, xy, y^2)
    p = {(4, 0): 1, (2, 2): 2, (0, 4): 1}
    basis = [(2, 0), (1, 1), (0, 2)]
    Q = [["1", "0", "1"], ["0", "0", "0"], ["1", "0", "1"]]
    assert check_sos_certificate(p, basis, Q)
    # the same polynomial with Q_22 = -2 and Q_13 = 2: identity holds, Q indefinite
    assert check_sos_certificate(p, basis, [["1", "0", "2"], ["0", "-2", "0"], ["2", "0", "1"]]) \
        is False
    # zero pivot with a nonzero entry below it: 2xy = (x, y) [[0, 1], [1, 0]] (x, y)^T
    assert check_sos_certificate({(1, 1): 2}, [(1, 0), (0, 1)], [[0, 1], [1, 0]]) is False
    # zero pivot with a zero column is fine: y^2
    assert check_sos_certificate({(0, 2): 1}, [(1, 0), (0, 1)], [[0, 0], [0, 1]])
    # malformed: not symmetric, floats, NaN, wrong size, duplicate basis monomial
    assert not check_sos_certificate(p, basis, [["1", "1", "1"], ["-1", "0", "0"],
                                                ["1", "0", "1"]])
    assert not check_sos_certificate(p, basis, [[1.0, 0, 1], [0, 0, 0], [1, 0, 1]])
    assert not check_sos_certificate(p, basis, [["nan", "0", "1"], ["0", "0", "0"],
                                                ["1", "0", "1"]])
    assert not check_sos_certificate(p, basis[:2], Q)
    assert not check_sos_certificate(p, [(2, 0), (2, 0), (0, 2)], Q)
    assert not check_sos_certificate({(4, 0): 1.0, (2, 2): 2, (0, 4): 1}, basis, Q)
    assert check_sos_certificate({}, [], [])  # the zero polynomial is the empty sum
    # x^2 + 4xy + y^2 is indefinite; [[1, 4], [0, 1]] reproduces it and its lower triangle is
    # the identity: only the symmetry requirement stops it
    assert not check_sos_certificate({(2, 0): 1, (1, 1): 4, (0, 2): 1}, [(1, 0), (0, 1)],
                                     [[1, 4], [0, 1]])


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 4).flatmap(lambda n: st.tuples(
    st.just(n), st.lists(st.integers(-3, 3), min_size=n * n, max_size=n * n),
    st.integers(0, 2))))
def test_exact_ldl_decides_semidefiniteness_like_sympy(data):
    n, entries, rank_cut = data
    B = sp.Matrix(n, n, entries)
    for k in range(min(rank_cut, n)):  # make some low-rank PSD matrices too
        B[:, k] = sp.zeros(n, 1)
    for M in (B * B.T, B + B.T, B * B.T - sp.eye(n)):
        psd, L, D = ldl_psd([[sos._rat(int(v)) for v in M.row(i)] for i in range(n)])
        assert psd == bool(M.is_positive_semidefinite)
        if psd:
            assert check_ldl_factors([[int(v) for v in M.row(i)] for i in range(n)],
                                     [[str(v) for v in r] for r in L], [str(d) for d in D])


# --------------------------------------------------------------------------------------------
# Newton polytope
# --------------------------------------------------------------------------------------------

def test_newton_basis_classic_cases():
    # x^2 - x y^2 + y^4: half Newton polytope is the segment [(1,0), (0,2)]
    assert newton_basis(poly_coeffs(x**2 - x * y**2 + y**4, [x, y])) == [(1, 0), (0, 2)]
    # Motzkin: lattice points of conv{(0,0), (2,1), (1,2)}
    assert sorted(newton_basis(poly_coeffs(MOTZKIN, [x, y]))) == [(0, 0), (1, 1), (1, 2),
                                                                  (2, 1)]
    # a homogeneous form of degree 2d gets a basis of degree d only
    b = newton_basis(poly_coeffs(sp.expand(ROBINSON * (x**2 + y**2 + z**2)), [x, y, z]))
    assert b and all(sum(e) == 4 for e in b)
    # odd degree or a single odd monomial: empty
    assert newton_basis(poly_coeffs(x**3, [x])) == []
    assert newton_basis(poly_coeffs(x * y, [x, y])) == []


# --------------------------------------------------------------------------------------------
# SOS: classic examples
# --------------------------------------------------------------------------------------------

CLASSIC_SOS = {
    "(x^2-y^2)^2": ((x**2 - y**2) ** 2, [x, y]),
    "x^2-xy^2+y^4": (x**2 - x * y**2 + y**4, [x, y]),
    "Motzkin*(x^2+y^2+1)": (sp.expand(MOTZKIN * (x**2 + y**2 + 1)), [x, y]),
    "Robinson*(x^2+y^2+z^2)": (sp.expand(ROBINSON * (x**2 + y**2 + z**2)), [x, y, z]),
    "Choi-Lam S*(x^2+y^2+z^2)": (sp.expand(CHOI_LAM_S * (x**2 + y**2 + z**2)), [x, y, z]),
    "homogeneous Motzkin*(x^2+y^2+z^2)": (
        sp.expand((x**4 * y**2 + x**2 * y**4 - 3 * x**2 * y**2 * z**2 + z**6)
                  * (x**2 + y**2 + z**2)), [x, y, z]),
}


@pytest.mark.parametrize("name", sorted(CLASSIC_SOS))
def test_classic_sos_polynomials_are_certified(name):
    p, vs = CLASSIC_SOS[name]
    cert = find_sos(p, vs)
    assert_sos_certificate(cert, p, vs)
    assert cert.solver_status in sos.ROUNDABLE_STATUSES and cert.denominator >= 1


NOT_SOS = {  # nonnegative (or not) but not sums of squares: no certificate may exist
    "Motzkin": (MOTZKIN, [x, y]),
    "Robinson": (ROBINSON, [x, y, z]),
    "Choi-Lam S": (CHOI_LAM_S, [x, y, z]),
    "-x^2": (-x**2, [x]),
    "x^3": (x**3, [x]),
    "x*y": (x * y, [x, y]),
    "x^4 - x^2 (negative near 0)": (x**4 - x**2, [x]),
}


@pytest.mark.parametrize("name", sorted(NOT_SOS))
def test_polynomials_that_are_not_sos_get_no_certificate(name):
    p, vs = NOT_SOS[name]
    res = find_sos(p, vs)
    assert isinstance(res, SOSFailure) and not res.ok and not res.check()
    assert res.reason


def test_motzkin_fails_with_the_solver_status_and_a_negative_margin():
    res = find_sos(MOTZKIN, [x, y])
    assert isinstance(res, SOSFailure)
    assert res.solver_status in sos.ROUNDABLE_STATUSES  # the solve itself went fine ...
    assert res.solver_objective is not None and res.solver_objective < 0  # ... and says why
    res = find_sos(MOTZKIN, [x, y], objective="feasibility")
    assert isinstance(res, SOSFailure) and res.solver_status.startswith("infeasible")


def test_scs_finds_a_certificate_too():
    p = sp.expand((x**2 - y**2) ** 2 + (x * y - 1) ** 2 + x**2 + 1)
    cert = find_sos(p, [x, y], solver="SCS")
    assert_sos_certificate(cert, p, [x, y])
    assert cert.solver == "SCS"


def test_a_failed_solve_gives_a_failure_with_its_status():
    p = sp.expand((x**2 - y**2) ** 2 + (x * y - 1) ** 2 + x**2 + 1)
    res = find_sos(p, [x, y], solver_options={"max_iter": 1})
    assert isinstance(res, SOSFailure) and res.solver_status not in sos.ROUNDABLE_STATUSES
    assert res.solver_status in res.reason


def test_non_finite_or_wrong_gram_matrices_never_certify():
    p = sp.expand((x**2 + y**2) ** 2)
    basis = [(2, 0), (1, 1), (0, 2)]
    nan = [[float("nan")] * 3] * 3
    assert isinstance(round_sos_gram(p, [x, y], basis, nan), SOSFailure)
    inf = [[1, 0, 1], [0, 0, 0], [1, 0, float("inf")]]
    assert isinstance(round_sos_gram(p, [x, y], basis, inf), SOSFailure)
    # a float Gram matrix of Motzkin's (it has Q_{xy,xy} = -3, as all of them must)
    motz_basis = [(0, 0), (1, 1), (2, 1), (1, 2)]
    G = [[1, 0, 0, 0], [0, -3, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]]
    assert isinstance(round_sos_gram(MOTZKIN, [x, y], motz_basis, G), SOSFailure)
    # a good float matrix does round
    good = [[1.0000001, 0, 0.9999999], [0, 1e-9, 0], [0.9999999, 0, 1.0000002]]
    assert_sos_certificate(round_sos_gram(p, [x, y], basis, good), p, [x, y])


def test_inputs_must_be_exact_polynomials():
    with pytest.raises(ValueError):
        find_sos(x**2 + sp.Float(0.1), [x])
    with pytest.raises(ValueError):
        find_sos(sp.Abs(x), [x])
    with pytest.raises(ValueError):
        find_sos(x**2 + z, [x])  # z is not a variable: its coefficient is not a number
    with pytest.raises(TypeError):
        find_psatz(x**2 + 1, [], [x], 2, eps=0.1)


# --------------------------------------------------------------------------------------------
# tampered certificates are rejected
# --------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def motzkin_cert():
    p = sp.expand(MOTZKIN * (x**2 + y**2 + 1))
    cert = find_sos(p, [x, y])
    assert cert.ok
    return cert


def _entry_pairs_sharing_a_monomial(basis):
    seen = {}
    for i in range(len(basis)):
        for j in range(i, len(basis)):
            m = tuple(a + b for a, b in zip(basis[i], basis[j]))
            seen.setdefault(m, []).append((i, j))
    return [v for v in seen.values() if len(v) >= 2]


def test_tampered_sos_certificates_are_rejected(motzkin_cert):
    c = motzkin_cert
    n = len(c.basis)
    assert check_sos_certificate(c.poly, c.basis, c.gram)

    def changed(i, j, delta):
        G = [list(r) for r in c.gram]
        for a, b in {(i, j), (j, i)}:
            G[a][b] = str(Fraction(G[a][b]) + delta)
        return G

    # a Q entry changed by 1/1000 (kept symmetric; diagonal and off-diagonal)
    for i, j in [(0, 0), (0, n - 1), (n // 2, n // 2 + 1)]:
        assert not check_sos_certificate(c.poly, c.basis, changed(i, j, Fraction(1, 1000)))
    # a basis monomial dropped (with and without its row and column)
    for k in range(n):
        G = [[v for jj, v in enumerate(r) if jj != k] for ii, r in enumerate(c.gram) if ii != k]
        keep = [b for i, b in enumerate(c.basis) if i != k]
        if any(Fraction(v) != 0 for v in c.gram[k]):
            assert not check_sos_certificate(c.poly, keep, G)
        assert not check_sos_certificate(c.poly, keep, c.gram)
    # the polynomial changed: a coefficient, an extra monomial, a dropped monomial
    p2 = dict(c.poly)
    m0 = sorted(p2)[0]
    p2[m0] = str(Fraction(p2[m0]) + Fraction(1, 1000))
    assert not check_sos_certificate(p2, c.basis, c.gram)
    assert not check_sos_certificate({**c.poly, (7, 7): "1"}, c.basis, c.gram)
    assert not check_sos_certificate({k: v for k, v in c.poly.items() if k != m0}, c.basis,
                                     c.gram)
    # a negative eigen-direction injected along the affine space: the identity still holds
    # exactly, only positive semidefiniteness fails
    pairs = _entry_pairs_sharing_a_monomial(c.basis)
    assert pairs
    (i1, j1), (i2, j2) = pairs[0][:2]
    big = Fraction(10**6)
    w1, w2 = (1 if i1 == j1 else 2), (1 if i2 == j2 else 2)
    G = changed(i1, j1, big / w1)
    G = [list(r) for r in G]
    for a, b in {(i2, j2), (j2, i2)}:
        G[a][b] = str(Fraction(G[a][b]) - big / w2)
    assert sos._gram_poly([tuple(b) for b in c.basis],
                          [[sos._rat(v) for v in r] for r in G]) == sos._poly(c.poly)
    assert not check_sos_certificate(c.poly, c.basis, G)
    # and the JSON form: a tampered entry is rejected there too
    data = json.loads(json.dumps(c.to_json()))
    data["gram"][0][0] = str(Fraction(data["gram"][0][0]) + Fraction(1, 1000))
    assert not check_certificate_json(data)


# --------------------------------------------------------------------------------------------
# random SOS families (explicit seeds)
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("nvars,seed", [(2, 1), (3, 2), (4, 3), (5, 4), (6, 5)])
def test_random_sos_of_degree_4_are_certified(nvars, seed):
    p, vs = random_sos(nvars, seed)
    cert = find_sos(p, vs)
    assert_sos_certificate(cert, p, vs)


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(10, 20))
def test_random_sos_many_seeds(seed):
    nvars = 2 + seed % 5
    p, vs = random_sos(nvars, seed)
    assert_sos_certificate(find_sos(p, vs), p, vs)


@pytest.mark.parametrize("nvars,seed", [(3, 7), (4, 8)])
def test_random_sparse_sos_use_a_smaller_newton_basis(nvars, seed):
    rng = random.Random(seed)
    vs = list(sp.symbols(f"v1:{nvars + 1}"))
    monos = monomials_upto(nvars, 2)
    p = sp.expand(sum(sum(rng.randint(1, 3) * mono(vs, e) for e in rng.sample(monos, 3))**2
                      for _ in range(4)))
    cert = find_sos(p, vs)
    assert_sos_certificate(cert, p, vs)
    assert len(cert.basis) <= len(monos)


def test_projection_reproduces_the_polynomial_exactly_from_any_point():
    p, vs = random_sos(3, 11)
    pc = sos._exact(poly_coeffs(p, vs))
    basis = newton_basis(pc)
    term = sos._Term("rhs", (), {(0, 0, 0): sos._Q(1, 1)}, basis)
    sysm = sos._System([term], [], pc)
    rng = random.Random(0)
    x0 = [sos._Q(rng.randint(-1000, 1000), rng.choice([1, 7, 1024])) for _ in sysm.cols]
    xp = sysm.project(x0)
    assert xp is not None
    (R,), _ = sysm.unpack(xp)
    assert sos._gram_poly(basis, R) == pc


def test_facial_reduction_recovers_a_rational_kernel_from_a_noisy_gram_matrix():
    import numpy as np

    kernel = sp.Matrix([[1, -1, 2, 0], [0, 0, 1, 1]])  # rows: the exact kernel
    C = sp.Matrix.hstack(*kernel.nullspace())  # columns c with kernel * c = 0
    A = sp.Matrix([[3, 1], [1, 2]])
    R = np.array((C * A * C.T).tolist(), dtype=float)
    R += 1e-11 * np.random.default_rng(0).standard_normal(R.shape)
    R = (R + R.T) / 2
    V, piv = sos._rational_kernel(R, 1e-6)
    Vm = sp.Matrix([[sp.Rational(str(v)) for v in row] for row in V])
    assert Vm.rank() == 2 and sp.Matrix.vstack(Vm, kernel).rank() == 2
    term = sos._Term("rhs", (), {(0,): sos._Q(1, 1)}, [(0,), (1,), (2,), (3,)])
    reduced = sos._reduce_face(term, R, 1e-6)
    W = sp.Matrix([[sp.Rational(str(v)) for v in row] for row in reduced.W])
    assert W.shape == (4, 2) and (kernel * W).is_zero_matrix


# --------------------------------------------------------------------------------------------
# Positivstellensatz
# --------------------------------------------------------------------------------------------

def test_margin_and_strict_inequalities():
    cert = prove_positive(x**2 + 1, [], [x], 2, eps=Fraction(1, 2))
    assert_psatz_certificate(cert, [x])
    assert cert.eps == "1/2"
    # x^2 + 1 >= 2 is false at 0
    assert isinstance(find_psatz(x**2 + 1, [], [x], 2, eps=2), SOSFailure)
    # x > 0 on {x >= 1}: x - 1/2 = 1/2 + (x - 1)
    assert_psatz_certificate(prove_positive(x, [x - 1], [x], 2, eps="1/2"), [x])
    # but x > 0 on {x >= -1} is false
    assert isinstance(prove_positive(x, [x + 1], [x], 4, eps="1/100"), SOSFailure)
    with pytest.raises(ValueError):
        prove_positive(x**2 + 1, [], [x], 2, eps=0)


def test_equality_constraints_on_the_circle():
    # x + y <= 3/2 on x^2 + y^2 = 1 (the maximum is sqrt 2)
    cert = find_psatz(sp.Rational(3, 2) - x - y, [], [x, y], 2, hs=[x**2 + y**2 - 1])
    assert_psatz_certificate(cert, [x, y])
    assert cert.multipliers
    # x + y <= 7/5 is false (sqrt 2 > 7/5)
    assert isinstance(find_psatz(sp.Rational(7, 5) - x - y, [], [x, y], 4,
                                 hs=[x**2 + y**2 - 1]), SOSFailure)


def test_tampered_psatz_certificates_are_rejected():
    cert = find_psatz(sp.Rational(3, 2) - x - y, [1 - x**2 - y**2], [x, y], 2)
    assert_psatz_certificate(cert, [x, y])
    args = (cert.poly, cert.gs, cert.hs, cert.blocks, cert.multipliers)
    assert check_psatz_certificate(*args, form=cert.form, eps=cert.eps)
    # a larger margin, a different constraint set, another form
    assert not check_psatz_certificate(*args, form=cert.form, eps="1/1000")
    assert not check_psatz_certificate(cert.poly, [{(0, 0): "1", (2, 0): "-1", (0, 2): "-2"}],
                                       cert.hs, cert.blocks, cert.multipliers, form=cert.form)
    assert not check_psatz_certificate(*args, form="stengle")
    # a Gram entry changed, a block claimed to multiply another generator
    blocks = json.loads(json.dumps(cert.to_json()))["blocks"]
    blocks[0]["gram"][0][0] = str(Fraction(blocks[0]["gram"][0][0]) + Fraction(1, 1000))
    assert not check_psatz_certificate(cert.poly, cert.gs, cert.hs, blocks, cert.multipliers)
    blocks = json.loads(json.dumps(cert.to_json()))["blocks"]
    for b in blocks:
        b["gens"] = [5] if b["gens"] else b["gens"]
    assert not check_psatz_certificate(cert.poly, cert.gs, cert.hs, blocks, cert.multipliers)


def test_projection_methods_agree_on_soundness():
    us = sp.symbols("u1:4")
    p = sp.Integer(3) - sum(u**2 for u in us) - us[0] * us[1] * us[2]
    ball = [1 - sum(u**2 for u in us)]
    for method in ("absorb", "orthogonal"):
        assert_psatz_certificate(find_psatz(p, ball, list(us), 4, projection=method), list(us))


# -- application (b): a sharpness inequality with Abs and the 2-norm lifted ------------------

X1, X2, S1, S2, T = sp.symbols("x1 x2 s1 s2 t")
SHARP_VARS = [X1, X2, S1, S2, T]
# f(x) = |x1| + |x2| + x1^2 + x2^2 with |x_i| = s_i (s_i^2 = x_i^2, s_i >= 0) and ||x||_2 = t
# (t^2 = x1^2 + x2^2, t >= 0), on the orthant piece x1, x2 >= 0. The sharpness modulus of f
# at 0 in the 2-norm is 1: f >= ||x||_1 >= ||x||_2, and f - m||x|| < 0 near 0 on an axis for
# any m > 1.
SHARP_F = S1 + S2 + X1**2 + X2**2
SHARP_GS = [X1, X2, S1, S2, T]
SHARP_HS = [S1**2 - X1**2, S2**2 - X2**2, T**2 - X1**2 - X2**2]


@pytest.mark.parametrize("degree", [2, 4])
def test_putinar_cannot_prove_the_sharpness_piece(degree):
    """A mathematical fact, so this failure is honest: every term of a Putinar identity for
    q = s1 + s2 - m t + x1^2 + x2^2 vanishes at 0, so s_0 has no linear part and the linear part
    of q must be sum_k s_k(0) g_k with s_k(0) >= 0; but the coefficient of t is -m < 0."""
    res = find_psatz(SHARP_F - sp.Rational(9, 10) * T, SHARP_GS, SHARP_VARS, degree,
                     hs=SHARP_HS, products=True)
    assert isinstance(res, SOSFailure)


@pytest.fixture(scope="module")
def stengle_cert():
    return find_psatz(SHARP_F - sp.Rational(9, 10) * T, SHARP_GS, SHARP_VARS, 4, hs=SHARP_HS,
                      products=True, form="stengle")


def test_stengle_proves_the_sharpness_piece_below_the_modulus(stengle_cert):
    assert_psatz_certificate(stengle_cert, SHARP_VARS)
    assert stengle_cert.form == "stengle"


def test_stengle_proves_the_sharpness_piece_at_the_modulus():
    cert = find_psatz(SHARP_F - T, SHARP_GS, SHARP_VARS, 4, hs=SHARP_HS, products=True,
                      form="stengle")
    assert_psatz_certificate(cert, SHARP_VARS)


def test_stengle_proves_the_lifted_inequality_without_the_orthant():
    # the lifting alone (s_i = |x_i|) already covers every orthant
    cert = find_psatz(SHARP_F - sp.Rational(9, 10) * T, [S1, S2, T], SHARP_VARS, 4,
                      hs=SHARP_HS, products=True, form="stengle")
    assert_psatz_certificate(cert, SHARP_VARS)


def test_stengle_finds_nothing_above_the_modulus():
    res = find_psatz(SHARP_F - sp.Rational(11, 10) * T, SHARP_GS, SHARP_VARS, 4, hs=SHARP_HS,
                     products=True, form="stengle")
    assert isinstance(res, SOSFailure)


def test_tampered_stengle_certificate_is_rejected(stengle_cert):
    cert = stengle_cert
    assert cert.ok
    args = (cert.gs, cert.hs, cert.blocks, cert.multipliers)
    # the claimed modulus raised to 11/10 (a false statement) with the same data
    p11 = poly_coeffs(SHARP_F - sp.Rational(11, 10) * T, SHARP_VARS)
    assert not check_psatz_certificate(p11, *args, form="stengle")
    # a dropped equality multiplier, a dropped equality constraint
    assert not check_psatz_certificate(cert.poly, cert.gs, cert.hs, cert.blocks,
                                       cert.multipliers[1:], form="stengle")
    assert not check_psatz_certificate(cert.poly, cert.gs, cert.hs[:2], cert.blocks,
                                       cert.multipliers, form="stengle")
    # read as a Putinar certificate it says nothing
    assert not check_psatz_certificate(cert.poly, *args, form="putinar")


# -- application (c): an upper bound of the variation on a ball ------------------------------

def _variation(nvars):
    xs = sp.symbols(f"x1:{nvars + 1}")
    us = list(sp.symbols(f"u1:{nvars + 1}"))
    f = (sum(v**4 for v in xs) - 2 * sum(v**2 for v in xs)
         + sum(xs[i] * xs[i + 1] for i in range(nvars - 1)) + xs[0] * xs[1] * xs[2])
    x0 = [sp.Rational((-1) ** i * (i + 1), 4) for i in range(nvars)]
    shift = {xs[i]: x0[i] + us[i] for i in range(nvars)}
    df = sp.expand(f.subs(shift, simultaneous=True) - f.subs(dict(zip(xs, x0))))
    return df, us


def _ball_points(us, r2, rng, count):
    """Rational points in the ball ||u||^2 <= r2, some on the sphere (r2 = a square)."""
    r = sp.sqrt(r2)
    assert r.is_Rational
    pts = []
    for i in range(len(us)):
        for s in (1, -1):
            pts.append([s * r if j == i else 0 for j in range(len(us))])
    for _ in range(count):
        v = [sp.Rational(rng.randint(-100, 100), 100) for _ in us]
        n2 = sum(a * a for a in v)
        if 0 < n2 <= r2:
            pts.append(v)
    return pts


@pytest.mark.parametrize("nvars", [4, 5])
def test_upper_bound_of_the_variation_on_a_ball(nvars):
    df, us = _variation(nvars)
    r2 = sp.Rational(1, 4)
    ball = r2 - sum(u**2 for u in us)
    cert = prove_bound(df, [ball], us, 4, sense="upper")
    assert_psatz_certificate(cert, us)
    c = sp.Rational(cert.bound)
    # the certified polynomial is c - df itself
    assert sympy_poly(us, cert.poly) == P(c - df, us)
    # soundness seen from outside: df <= c at every rational point of the ball tried
    rng = random.Random(nvars)
    for pt in _ball_points(us, r2, rng, 300):
        assert df.subs(dict(zip(us, pt))) <= c
    # a bound below a value actually attained is false and gets no certificate
    pt = max(_ball_points(us, r2, rng, 300), key=lambda q: df.subs(dict(zip(us, q))))
    low = df.subs(dict(zip(us, pt))) - sp.Rational(1, 100)
    assert isinstance(find_psatz(sp.expand(low - df), [ball], us, 4), SOSFailure)


@pytest.mark.slow
def test_upper_bound_of_the_variation_on_a_ball_in_6_variables():
    df, us = _variation(6)
    r2 = sp.Rational(1, 4)
    cert = prove_bound(df, [r2 - sum(u**2 for u in us)], us, 4, sense="upper")
    assert_psatz_certificate(cert, us)


def test_lower_bound_sense():
    # x^2 - x >= -1/4 everywhere (attained at 1/2); the certified bound is <= -1/4
    cert = prove_bound(x**2 - x, [], [x], 2, sense="lower")
    assert_psatz_certificate(cert, [x])
    assert sp.Rational(cert.bound) <= sp.Rational(-1, 4)


# explicitly shaped certificates (find_psatz_blocks), the "pivot" projection, and the
# relaxation's bound (relaxation_bound_blocks)
DISK = {(0, 0): 1, (2, 0): -1, (0, 2): -1}                  # 1 - x^2 - y^2 >= 0
SHAPE = [((), [(0, 0), (1, 0), (0, 1)]), ((0,), [(0, 0)])]


@pytest.mark.parametrize("projection", ["pivot", "absorb"])
def test_find_psatz_blocks_with_a_chosen_shape(projection):
    # 5/2 + x - x^2 - y^2 >= 1/2 on the disk (concave: its minimum is on the circle, where it
    # is 3/2 + x); sigma_0 + 7/4 (1 - x^2 - y^2) with sigma_0 = 3/4 + x + 3/4 (x^2 + y^2)
    target = {(0, 0): Fraction(5, 2), (1, 0): 1, (2, 0): -1, (0, 2): -1}
    cert = sos.find_psatz_blocks(target, [DISK], [], 2, SHAPE, [], projection=projection)
    assert cert.ok and cert.check()
    if projection == "pivot":   # one common grid: every Gram entry's denominator divides 2 D
        for b in cert.blocks:
            for row in b["gram"]:
                assert all((2 * cert.denominator) % Fraction(v).denominator == 0 for v in row)
    # 1/2 + x - x^2 - y^2 is -3/2 at (-1, 0): no certificate
    false = {**target, (0, 0): Fraction(1, 2)}
    assert not sos.find_psatz_blocks(false, [DISK], [], 2, SHAPE, [],
                                     projection=projection).ok


def test_relaxation_bound_blocks_is_the_minimum_on_the_disk():
    # min of x + y on the unit disk is -sqrt(2); the degree-2 relaxation is exact
    gamma, status = sos.relaxation_bound_blocks({(1, 0): 1, (0, 1): 1}, [DISK], [], 2, SHAPE,
                                                [])
    assert status in sos.ROUNDABLE_STATUSES and abs(gamma + 2 ** 0.5) < 1e-5
