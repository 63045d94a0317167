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
    assert float((model(X) - y).abs().max()) < 1e-10
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
