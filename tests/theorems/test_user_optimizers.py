"""Optimizers declared by users (examples/optimizers.py and files written here): their filters
derived from the file's map, compared with closed forms; the maps without a filter and why.
(Claims about them and the kernel: tests/verify/test_kernel_optimizer_files.py.)"""

from pathlib import Path

import pytest
import sympy as sp

from numerics import updates
from theorems.filters import filter_set_claim
from theorems.filters import mathematics as M
from verify.errors import InvalidClaim, NoFilter
from verify.kernel import optimizer_files
from verify.kernel.filters import eigen_matrix

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples" / "optimizers.py"
LAM = M.LAM
TENTH, TWENTIETH = sp.Rational(1, 10), sp.Rational(1, 20)


def method(name: str) -> str:
    return f"{EXAMPLES}:{name}"


@pytest.mark.parametrize("name", updates.FILTER_METHODS)
def test_the_general_linearization_is_eigen_matrix_on_every_builtin(name):
    declared = updates.OPTIMIZERS[name]
    values = {"alpha": TENTH, "beta": sp.Rational(9, 10), "rho": TWENTIETH}
    for form in declared.forms or ("A",):
        umap = updates.build(declared, form=form, **{h.name: values[h.name]
                                                     for h in declared.hyper})
        M_general, _ = optimizer_files.linearize(umap)
        assert M_general.shape == eigen_matrix(umap).shape
        assert all(sp.expand(a - b) == 0 for a, b in zip(M_general, eigen_matrix(umap)))


# --------------------------------------------------------------------------------------------
# the examples' filters against their closed forms
# --------------------------------------------------------------------------------------------

def test_penalty_sam_linearization_is_usams_for_symbolic_hyperparameters():
    alpha, rho = sp.Symbol("alpha", positive=True), sp.Symbol("rho", nonnegative=True)
    Mp = M.method_matrix(method("penalty-sam"))       # alpha and rho left symbolic
    assert Mp.shape == (1, 1)
    assert sp.expand(Mp[0, 0] - (1 - alpha * LAM * (1 + rho * LAM))) == 0


def test_preconditioned_gd_filter_is_its_closed_form():
    alpha, c = sp.Symbol("alpha", positive=True), sp.Symbol("c", positive=True)
    Mp = M.method_matrix(method("preconditioned-gd"))
    assert sp.expand(Mp[0, 0] - (1 - alpha * c * LAM * (2 - c * LAM))) == 0
    # alpha <= 2: the map filters out every curvature above 2/c, whatever the step
    assert M.filter_set(method("preconditioned-gd"), 1, hyper={"c": TWENTIETH}) == \
        sp.Interval(0, 40)
    # alpha > 2: 0 <= alpha c l (2 - c l) <= 2 leaves two intervals around c l = 1
    S = M.filter_set(method("preconditioned-gd"), 3, hyper={"c": 1})
    r = sp.sqrt(sp.Rational(1, 3))
    assert sp.simplify(sp.Union(sp.Complement(S, sp.Union(sp.Interval(0, 1 - r),
                                                          sp.Interval(1 + r, 2))),
                                sp.Complement(sp.Union(sp.Interval(0, 1 - r),
                                                       sp.Interval(1 + r, 2)), S))) \
        == sp.S.EmptySet


@pytest.mark.parametrize("k, tau, edge", [
    (1, sp.Rational(1, 2), 40),                      # one GD step of tau alpha
    (2, sp.Rational(1, 2), 20),                      # even k: GD's own set
    (3, sp.Rational(1, 2), 10 + 10 * sp.cbrt(3)),    # odd k: (1 + (2/tau - 1)^(1/k))/alpha
    (3, sp.Rational(1, 4), 10 + 10 * sp.cbrt(7)),
])
def test_lookahead_filter_is_its_closed_form(k, tau, edge):
    S = M.filter_set(method("lookahead"), TENTH, hyper={"k": k, "tau": tau})
    assert isinstance(S, sp.Interval) and S.inf == 0 and sp.simplify(S.sup - edge) == 0


def test_frozen_adam_is_heavy_ball_with_a_scaled_step():
    beta, v, eps = sp.Rational(9, 10), sp.Rational(1, 4), sp.Rational(1, 10)
    step = TENTH * (1 - beta) / (sp.sqrt(v) + eps)
    S = M.filter_set(method("frozen-adam"), TENTH, beta, hyper={"v": v, "eps": eps})
    assert S == sp.Interval(0, 2 * (1 + beta) / step)


# --------------------------------------------------------------------------------------------
# no filter: the reason and the condition
# --------------------------------------------------------------------------------------------

def test_adam_has_no_filter_and_says_when_one_applies():
    with pytest.raises(NoFilter, match="v tends to 0 at a critical point") as info:
        M.filter_set("adam", TENTH)
    assert "preconditioner is frozen" in str(info.value)
    with pytest.raises(InvalidClaim, match="adam has no eigenvalue filter"):
        filter_set_claim("adam", TENTH, contains=[1])


NO_FILTER = '''
from typing import NamedTuple
import sympy
from numerics.updates import (ALPHA, BETA, EPS, Hyper, UpdateMap, EmptyState, declare, hadamard,
                              elementwise_sqrt, elementwise_divide, ones_like)
BETA2 = Hyper("beta2", "second moment decay", "unit-interval")

class Moments(NamedTuple):
    m: object
    v: object

class Counted(NamedTuple):
    t: int

def moments(alpha, beta, beta2, eps):
    def update(x, s, grad_fn, **_):
        g = grad_fn(x)
        m = beta * s.m + (1 - beta) * g
        v = beta2 * s.v + (1 - beta2) * hadamard(g, g)
        d = elementwise_sqrt(v) + eps * ones_like(x) if eps else elementwise_sqrt(v)
        return x - alpha * elementwise_divide(m, d), Moments(m, v)
    return UpdateMap("moments", {}, lambda x: Moments(0 * x, 0 * x), update)

@declare("rmsprop-like", (ALPHA, BETA, BETA2, EPS), "Adam without bias correction")
def rmsprop_like(alpha, beta, beta2, eps):
    return moments(alpha, beta, beta2, eps)

@declare("adam-no-eps", (ALPHA, BETA, BETA2), "Adam without eps nor bias correction")
def adam_no_eps(alpha, beta, beta2):
    return moments(alpha, beta, beta2, 0)

@declare("counted-gd", (ALPHA,), "GD with a step counter in its state")
def counted_gd(alpha):
    return UpdateMap("counted-gd", {}, lambda x: Counted(0),
                     lambda x, s, grad_fn, **_: (x - alpha * grad_fn(x), Counted(s.t + 1)))

@declare("diagonal-gd", (ALPHA,), "GD with the step doubled in the first coordinate")
def diagonal_gd(alpha):
    def update(x, s, grad_fn, **_):
        w = ones_like(x)
        w[0] = 2
        return x - alpha * hadamard(w, grad_fn(x)), s
    return UpdateMap("diagonal-gd", {}, lambda x: EmptyState(), update)

@declare("sign-gd", (ALPHA,), "sign descent")
def sign_gd(alpha):
    return UpdateMap("sign-gd", {}, lambda x: EmptyState(), lambda x, s, grad_fn, **_:
                     (x - alpha * grad_fn(x).applyfunc(sympy.sign), s))

@declare("float-gd", (ALPHA,), "GD with a float constant")
def float_gd(alpha):
    return UpdateMap("float-gd", {}, lambda x: EmptyState(), lambda x, s, grad_fn, **_:
                     (x - 0.3 * alpha * grad_fn(x), s))
'''


@pytest.fixture(scope="module")
def no_filter_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("opt") / "no_filter.py"
    path.write_text(NO_FILTER)
    return path


@pytest.mark.parametrize("name, hyper, reason", [
    ("rmsprop-like", {"beta": sp.Rational(9, 10), "hyper": {"beta2": sp.Rational(99, 100),
                                                             "eps": sp.Rational(1, 1000)}},
     "linearization at the critical point is undefined"),
    ("adam-no-eps", {"beta": sp.Rational(9, 10), "hyper": {"beta2": sp.Rational(99, 100)}},
     "map is undefined at the critical point"),
    ("counted-gd", {}, "changes with each step"),
    ("diagonal-gd", {}, "depends on the eigenvectors of the Hessian"),
    ("sign-gd", {}, "not differentiable everywhere"),
    ("float-gd", {}, "floating-point numbers"),
])
def test_maps_without_a_filter_say_why(no_filter_file, name, hyper, reason):
    with pytest.raises(NoFilter, match=reason):
        M.filter_set(f"{no_filter_file}:{name}", TENTH, hyper.get("beta"),
                     hyper=hyper.get("hyper"))
