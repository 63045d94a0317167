"""The structured layers of numerics.lipschitz (convolutions, pooling, residual blocks) against
torch, and the candidate bounds of numerics.lipschitz_ladder against their definitions.

Facts used: a layer's dense matrix applied to x equals torch's module at x (both are the same
linear map); ||conv||_2 <= sqrt(factor) ||K||_2 with factor the largest number of (output,
tap) pairs reading one input pixel (im2col); for fixed multipliers T, rho(T) is the least rho
with M(rho, T) <= 0, so M(rho(T) (1 + 1e-6), T) has no positive eigenvalue and M(rho(T)
(1 - 1e-3), T) has one; the absolute product bounds every difference quotient in the 1- and
inf-norms.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from numerics import lipschitz as L
from numerics import lipschitz_ladder as LL
from numerics.models import Residual


def dense_of(layer) -> np.ndarray:
    return layer.matrix_f64()


@pytest.mark.parametrize("mode", L.PADDING_MODES)
@pytest.mark.parametrize("stride, dilation, padding", [(1, 1, 1), (2, 1, 1), (1, 2, 2),
                                                       ((2, 1), (1, 2), (1, 2))])
def test_convolution_matrix_is_torchs_map(mode, stride, dilation, padding):
    torch.manual_seed(0)
    conv = nn.Conv2d(2, 3, 3, stride=stride, padding=padding, dilation=dilation,
                     padding_mode=mode).double()
    shape = (2, 6, 5)
    (layer,) = L.network_layers(nn.Sequential(conv), shape)
    x = torch.randn(4, *shape, dtype=torch.float64)
    with torch.no_grad():
        want = conv(x).reshape(4, -1).numpy()
        mapped = layer.torch_map(x.reshape(4, -1)).numpy()
    got = x.reshape(4, -1).numpy() @ dense_of(layer).T + layer.bias_f64
    assert np.allclose(got, want, atol=1e-12) and np.allclose(mapped, want, atol=1e-12)
    K = conv.weight.detach().numpy().reshape(3, -1)
    assert math.sqrt(layer.im2col_factor()) * np.linalg.norm(K, 2) >= \
        np.linalg.norm(dense_of(layer), 2) * (1 - 1e-12)


@pytest.mark.parametrize("kw", [dict(kernel_size=2), dict(kernel_size=3, stride=2, padding=1),
                                dict(kernel_size=3, stride=1, padding=1,
                                     count_include_pad=False),
                                dict(kernel_size=2, stride=1, divisor_override=3)])
def test_average_pooling_matrix_is_torchs_map(kw):
    pool = nn.AvgPool2d(**kw)
    shape = (2, 5, 6)
    (layer,) = L.network_layers(nn.Sequential(pool), shape)
    x = torch.randn(3, *shape, dtype=torch.float64)
    want = pool(x).reshape(3, -1).numpy()
    assert np.allclose(x.reshape(3, -1).numpy() @ dense_of(layer).T, want, atol=1e-12)
    exact = layer.matrix_exact()
    assert np.allclose(np.array(exact.tolist(), dtype=float), dense_of(layer), atol=0)


def test_residual_networks_read_forward_and_json_round_trip():
    torch.manual_seed(1)
    model = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.SiLU(),
                          Residual(nn.Sequential(nn.Conv2d(2, 2, 3, padding=1), nn.GELU(),
                                                 nn.Conv2d(2, 2, 1))), nn.ReLU(),
                          nn.AvgPool2d(2), nn.Flatten(), nn.Linear(8, 3)).double()
    layers = L.network_layers(model, (1, 4, 4))
    assert [type(l).__name__ for l in layers] == ["ConvLayer", "ResidualLayer", "AvgPoolLayer",
                                                   "ExactLayer"]
    assert layers[1].activation == "relu" and layers[0].activation == "silu"
    x = torch.randn(5, 1, 4, 4, dtype=torch.float64)
    with torch.no_grad():
        assert torch.allclose(L._torch_forward(layers)(x.reshape(5, -1)), model(x), atol=1e-12)
    data = L.layers_to_json(layers)
    again = L.layers_from_json(data)
    assert L.layers_to_json(again) == data
    point = [0.25 * i - 1 for i in range(16)]
    exact = L.exact_forward(layers, point)
    with torch.no_grad():
        ref = model(torch.tensor(point, dtype=torch.float64).reshape(1, 1, 4, 4))[0]
    for ball, v in zip(exact, ref.tolist()):
        assert abs(float(ball.mid()) - v) < 1e-12 and ball.rad() < 1e-40
    J = L._torch_jacobian(layers)(torch.tensor([point], dtype=torch.float64))
    num = torch.autograd.functional.jacobian(
        lambda t: model(t.reshape(1, 1, 4, 4))[0], torch.tensor(point, dtype=torch.float64))
    assert torch.allclose(J[0], num, atol=1e-12)


def test_shapes_are_checked_where_they_are_read():
    with pytest.raises(L.UnsupportedLayer, match="Flatten"):
        L.network_layers(nn.Sequential(nn.Conv2d(1, 1, 3), nn.Linear(2, 1)), (1, 4, 4))
    with pytest.raises(L.UnsupportedLayer, match="groups"):
        L.network_layers(nn.Sequential(nn.Conv2d(2, 2, 3, groups=2)), (2, 4, 4))
    with pytest.raises(L.UnsupportedLayer, match="ceil_mode"):
        L.network_layers(nn.Sequential(nn.AvgPool2d(2, ceil_mode=True)), (1, 5, 5))
    with pytest.raises(L.BadWeights):
        L.network_layers(nn.Sequential(nn.Conv2d(1, 1, 3)), (2, 4, 4))
    with pytest.raises(L.BadWeights, match="residual"):
        L.network_layers(nn.Sequential(Residual(nn.Linear(3, 2))))


# --------------------------------------------------------------------------------------------
# the ladder's candidates
# --------------------------------------------------------------------------------------------

def mlp(sizes, act, seed=0):
    torch.manual_seed(seed)
    mods = []
    for i, (a, b) in enumerate(zip(sizes, sizes[1:])):
        mods.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            mods.append(act())
    return L.network_layers(nn.Sequential(*mods))


def lipsdp_matrix(prob: LL.SegmentProblem, rho: float, T) -> np.ndarray:
    Ws = prob.Ws + [np.eye(prob.dims[-1]) if prob.out is None else prob.out]
    return L._matrix_f64(Ws, prob.slopes, rho, list(T))


@pytest.mark.parametrize("act", [nn.ReLU, nn.Tanh, nn.GELU, lambda: nn.LeakyReLU(0.1)])
def test_rho_of_is_the_least_feasible_rho(act):
    layers = mlp((6, 8, 7, 3), act)
    prob = LL.segment_problem(LL.stages(layers)[0])
    rho_e, T = LL.eclipse_fast(prob)
    rho = LL.rho_of(prob, T)
    assert rho <= rho_e * (1 + 1e-9)                   # the least rho for ECLipsE's T
    assert np.linalg.eigvalsh(lipsdp_matrix(prob, rho * (1 + 1e-6), T))[-1] <= 1e-12
    assert np.linalg.eigvalsh(lipsdp_matrix(prob, rho * (1 - 1e-3), T))[-1] > 0


@pytest.fixture(scope="module")
def small_segment():
    layers = mlp((6, 8, 8, 3), nn.ReLU)
    prob = LL.segment_problem(LL.stages(layers)[0])
    ip = L.lipsdp(layers, solver="CLARABEL")
    assert ip.certified
    return prob, LL.eclipse_fast(prob)[1], ip.solver_rho


def test_first_order_improves_and_stays_above_the_lipsdp_optimum(small_segment):
    prob, T, optimum = small_segment
    res = LL.lipsdp_first_order(prob, T, evaluations=30)
    assert optimum * (1 - 1e-6) <= res.rho <= LL.rho_of(prob, T)   # LipSDP is the least rho


@pytest.mark.slow
def test_first_order_reaches_the_interior_point_lipsdp_value(small_segment):
    prob, T, optimum = small_segment
    res = LL.lipsdp_first_order(prob, T, evaluations=160)
    assert optimum * (1 - 1e-6) <= res.rho <= optimum * 1.01


def test_absolute_product_bounds_every_quotient():
    layers = mlp((5, 9, 4), nn.Tanh, seed=3)
    b_inf, b_one = LL.abs_product_bounds(layers)
    rng = np.random.default_rng(0)
    for norm, bound in (("inf", b_inf), ("1", b_one)):
        for _ in range(5):
            x, y = rng.normal(size=5), rng.normal(size=5)
            q = L.exact_difference_quotient(layers, x.tolist(), y.tolist(), norm=norm)
            assert not q.exceeds(bound)
    u, w = LL.abs_product_bounds(mlp((4, 3), nn.ReLU))   # one layer: exactly its norms
    W = mlp((4, 3), nn.ReLU)[0].weight_f64
    assert float(u) == np.abs(W).sum(axis=1).max() and float(w) == np.abs(W).sum(axis=0).max()
