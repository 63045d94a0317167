"""theorems.xor_flatness and numerics.sam_training (Wen, Li, Ma)."""

import math

import pytest
import torch

from numerics import updates
from numerics.curvature import HessianOperator, mse_trace_identity
from numerics.models import XorMLP, hypercube, mse, xor_data, xor_forward, xor_init
from numerics.sam_training import FlatLayout, Schedule, make_step, trace_by_identity, train
from numerics.models import xor_param_shapes
from theorems import xor_flatness as W


def test_data_labels_and_distinct_sampling():
    X, y = xor_data(50, 7, seed=3, distinct=True)
    assert len({tuple(r) for r in X.tolist()}) == 50
    assert torch.equal(y, X[:, 0] * X[:, 1]) and set(X.unique().tolist()) == {-1.0, 1.0}
    assert hypercube(4).shape == (16, 4)


@pytest.mark.parametrize("arch, build", [
    ("bias", lambda X, y, d: W.memorizing_bias(X, y)),
    ("bias", lambda X, y, d: W.generalizing_bias(d, 5)),
    ("no-bias", lambda X, y, d: W.generalizing_no_bias(d, 5)),
    ("sim-ln", lambda X, y, d: W.memorizing_sim_ln(X, y, 0.5)),
    ("sim-ln", lambda X, y, d: W.generalizing_sim_ln(d, 0.5, 5)),
    ("3-layer", lambda X, y, d: W.memorizing_deep(X, y)),
])
def test_constructions_interpolate_and_meet_the_bound_against_the_dense_hessian(arch, build):
    d, n = 5, 8
    X, y = xor_data(n, d, seed=1, distinct=True)
    model = XorMLP(arch, build(X, y, d), eps=0.5)
    assert float((model(X) - y).abs().max().detach()) < 1e-10
    dense = float(torch.trace(HessianOperator(model, mse, (X, y)).dense()))
    assert dense == pytest.approx(W.trace_lower_bound(arch, d), rel=1e-9)
    assert mse_trace_identity(model, X, y).value == pytest.approx(dense, rel=1e-9)


def test_memorizing_networks_output_zero_off_the_training_set():
    d, n = 8, 20
    X, y = xor_data(n, d, seed=2, distinct=True)
    err = W.test_error(W.memorizing_bias(X, y), "bias", d)
    assert err["value"] == pytest.approx(1 - n / 2 ** d, abs=1e-15)
    assert W.test_error(W.generalizing_bias(d, 4), "bias", d)["value"] == 0


def test_sampled_test_error_has_a_valid_interval():
    err = W.test_error(W.generalizing_no_bias(30, 4), "no-bias", 30, samples=5000)
    assert err["value"] == 0 and 0 < err["upper"] < 0.002 and err["lower"] == 0


def test_closed_form_trace_equals_the_identity_at_random_parameters():
    X, _ = xor_data(12, 6, seed=0)
    for arch in ("bias", "no-bias"):
        p = xor_init(arch, 6, 7, seed=4)
        layout = FlatLayout(xor_param_shapes(arch, 6, 7))
        auto = float(trace_by_identity(layout, layout.flatten(p)[None], X, arch, eps=0.1)[0])
        assert float(W.two_layer_trace(p, X)) == pytest.approx(auto, rel=1e-12)


def test_vectorized_sam_step_equals_the_update_map_on_each_seed():
    X, y = xor_data(10, 5, seed=0)
    arch, width = "bias", 6
    layout = FlatLayout(xor_param_shapes(arch, 5, width))
    Ws = torch.stack([layout.flatten(xor_init(arch, 5, width, seed=s)) for s in range(3)])
    idx = torch.tensor([0, 4, 7])
    phase = Schedule("1-sam", 0.05, 1, rho=0.1)
    out = make_step(layout, arch, X, y, phase, 1e-2)(Ws, idx)
    sam = updates.sam(0.05, 0.1)
    for s in range(3):
        i = int(idx[s])
        w = Ws[s].clone().requires_grad_(False)

        def grad_fn(v, i=i):
            v = v.detach().requires_grad_(True)
            loss = (xor_forward(layout.unflatten(v), X[i:i + 1], arch)[0] - y[i]) ** 2
            return torch.autograd.grad(loss, v)[0]
        expected, _ = sam.update(w, updates.EmptyState(), grad_fn)
        assert torch.allclose(out[s], expected, rtol=1e-12, atol=1e-14)


def test_training_is_reproducible_and_reduces_the_loss():
    X, y = xor_data(20, 6, seed=0)
    runs = [train("no-bias", X, y, [Schedule("1-sam", 0.05, 20, rho=0.05)], seeds=[0, 1],
                  width=16, record_every=20) for _ in range(2)]
    assert torch.equal(runs[0].final, runs[1].final)
    first, last = runs[0].curves["loss"][0], runs[0].curves["loss"][-1]
    assert max(last) < min(first)


def test_bounds_have_the_closed_forms_of_the_paper():
    assert W.trace_lower_bound("bias", 30) == pytest.approx(22.27105745, rel=1e-9)
    assert W.trace_lower_bound("no-bias", 30) == pytest.approx(21.9089023, rel=1e-9)
    assert W.trace_lower_bound("3-layer", 30) == pytest.approx(6 * 31 ** (1 / 3))
    assert W.trace_lower_bound("sim-ln", 30) == 2
    with pytest.raises(ValueError):
        W.trace_lower_bound("sim-bn", 30)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")
def test_vectorized_step_on_cuda_equals_cpu():
    X, y = xor_data(10, 5, seed=0)
    layout = FlatLayout(xor_param_shapes("bias", 5, 6))
    Ws = torch.stack([layout.flatten(xor_init("bias", 5, 6, seed=s)) for s in range(4)])
    idx = torch.tensor([0, 1, 2, 3])
    phase = Schedule("1-sam", 0.05, 1, rho=0.1)
    cpu = make_step(layout, "bias", X, y, phase, 1e-2)(Ws, idx)
    gpu = make_step(layout, "bias", X.cuda(), y.cuda(), phase, 1e-2)(Ws.cuda(), idx.cuda())
    assert torch.allclose(cpu, gpu.cpu(), rtol=1e-10)


def test_sim_bn_is_invariant_to_rescaling_the_first_layer():
    X, _ = xor_data(15, 6, seed=0)
    p = xor_init("sim-bn", 6, 9, seed=2)
    scaled = {k: v * 3.7 if k in ("W1", "b1") else v for k, v in p.items()}
    a = xor_forward(p, X, "sim-bn", stats_inputs=X)
    b = xor_forward(scaled, X, "sim-bn", stats_inputs=X)
    assert torch.allclose(a, b, rtol=1e-12)
    with pytest.raises(ValueError, match="stats_inputs"):
        xor_forward(p, X, "sim-bn")


# --------------------------------------------------------------------------------------------
# the exact networks (theorems.xor_flatness.exact)
# --------------------------------------------------------------------------------------------

def _exact_cases(d, n, seed=0):
    import sympy as sp

    from theorems.xor_flatness import exact as X_

    X, y = X_.xor_points(n, d, seed)
    milli, half = sp.Rational(1, 1000), sp.Rational(1, 2)
    return X, y, [
        ("bias", X_.memorizing("bias", X, y, milli), 4 * sp.sqrt(d + 1)),
        ("bias", X_.generalizing("bias", d), 4 * sp.sqrt(d + 1)),
        ("no-bias", X_.generalizing("no-bias", d), 4 * sp.sqrt(d)),
        ("sim-ln", X_.memorizing("sim-ln", X, y, half), sp.Integer(2)),
        ("sim-ln", X_.generalizing("sim-ln", d, eps=half), sp.Integer(2)),
        ("3-layer", X_.memorizing("3-layer", X, y, milli), 6 * sp.root(d + 1, 3)),
    ]


def _float_model(arch, net, eps):
    """The torch model (numerics.models.xor_forward) with the exact net's weights in float64."""
    import numpy as np

    params = {}
    for name, value in net.weights().items():
        params[name] = torch.tensor(np.array(value.tolist() if hasattr(value, "tolist") else
                                             value, dtype=float), dtype=torch.float64)
    return XorMLP(arch, params, eps=eps)


def test_exact_networks_agree_with_the_torch_forward_pass_on_the_whole_cube():
    """ExactNet evaluates the architectures of numerics.models.xor_forward: the exact outputs,
    rounded, are the float64 outputs on every point of {-1, 1}^5."""
    from theorems.xor_flatness import exact as X_

    d = 5
    X, y, cases = _exact_cases(d, 8)
    cube = X_.hypercube(d)
    for arch, net, _ in cases:
        model = _float_model(arch, net, 0.5)
        with torch.no_grad():
            floats = model(torch.tensor(cube, dtype=torch.float64)).numpy()
        exact = [float(net.value(x)) for x in cube]
        assert floats == pytest.approx(exact, rel=1e-9, abs=1e-12), arch


def test_exact_lemma41_sides_meet_the_bounds_and_the_dense_hessian():
    """At each exact interpolator: residuals 0, Tr Hess L = (2/n) sum ||grad f||^2 = the bound
    exactly, and the float dense Hessian trace of the same weights agrees to 1e-9."""
    from theorems.xor_flatness import exact as X_
    from verify.kernel.facts import identically_zero

    d, n = 5, 8
    X, y, cases = _exact_cases(d, n)
    for arch, net, bound in cases:
        hess, grads, residuals = X_.hessian_trace_sides(net, X, y)
        assert all(r == 0 for r in residuals), arch
        assert identically_zero(hess - grads) and identically_zero(hess - bound), arch
        model = _float_model(arch, net, 0.5)
        Xt = torch.tensor(X, dtype=torch.float64)
        yt = torch.tensor(y, dtype=torch.float64)
        dense = float(torch.trace(HessianOperator(model, mse, (Xt, yt)).dense()))
        assert dense == pytest.approx(float(bound), rel=1e-9), arch


def test_exact_lemma41_fails_off_interpolation_for_sim_ln_and_matches_the_dense_hessian():
    import numpy as np
    import sympy as sp

    from theorems.xor_flatness import exact as X_

    d, n = 4, 6
    X, y = X_.xor_points(n, d, 1)
    net = X_.random_net("sim-ln", d, 6, np.random.default_rng(2), eps=sp.Rational(1, 100))
    hess, grads, residuals = X_.hessian_trace_sides(net, X, y)
    assert any(r != 0 for r in residuals)
    assert abs(float(hess - grads)) > 1e-6
    model = _float_model("sim-ln", net, 0.01)
    Xt, yt = torch.tensor(X, dtype=torch.float64), torch.tensor(y, dtype=torch.float64)
    dense = float(torch.trace(HessianOperator(model, mse, (Xt, yt)).dense()))
    assert dense == pytest.approx(float(hess), rel=1e-9)


@pytest.mark.parametrize("d", [5, 7])
def test_exact_error_counts_equal_the_enumeration_of_the_cube(d):
    """The structured counts (support patterns, neurons firing at their own point only) equal
    the plain enumeration of all 2^d points."""
    from theorems.xor_flatness import exact as X_

    X, y, cases = _exact_cases(d, 12)
    for arch, net, _ in cases:
        wrong, total, how = X_.cube_errors(net, d)
        brute = sum(X_._wrong(net, x) for x in X_.hypercube(d))
        assert (wrong, total) == (brute, 2 ** d), (arch, how)


def test_exact_points_are_distinct_and_seeded():
    from theorems.xor_flatness import exact as X_

    X, y = X_.xor_points(40, 6, 3)
    assert len({tuple(r) for r in X.tolist()}) == 40
    assert (y == X[:, 0] * X[:, 1]).all()
    assert (X_.xor_points(40, 6, 3)[0] == X).all()
    with pytest.raises(ValueError):
        X_.xor_points(65, 6, 0)
