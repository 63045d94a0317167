"""The Gauss-Newton and empirical Fisher operators, diagonal blocks, the SciPy view, SLQ and the
filter-normalized landscape, against dense torch.func references built independently here (and
against curvlinops where it is installed). Small float64 models: agreement to 1e-10."""

import math

import numpy as np
import pytest
import torch
from torch.func import functional_call, hessian, jacrev

from numerics.curvature import (CurvatureError, EmpiricalFisherOperator, GGNOperator,
                                HessianOperator, block_curvature, parameter_blocks)
from numerics.landscape import filter_normalized_direction, landscape_1d, landscape_2d

TOL = 1e-10


@pytest.fixture(autouse=True)
def one_thread():
    """Products of models this small run on one thread (numerics.threads: several threads
    slow them down many times on a busy machine)."""
    from numerics.threads import limited

    with limited(1):
        yield


def _mlp(sizes=(4, 5, 3), act=torch.nn.Tanh, seed=0):
    torch.manual_seed(seed)
    layers = []
    for i, (a, b) in enumerate(zip(sizes, sizes[1:])):
        layers.append(torch.nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(act())
    return torch.nn.Sequential(*layers).double()


def _data(n=7, d=4, classes=3, seed=1, regression=False):
    g = torch.Generator().manual_seed(seed)
    X = torch.randn(n, d, generator=g, dtype=torch.float64)
    if regression:
        return X, torch.randn(n, classes, generator=g, dtype=torch.float64)
    return X, torch.randint(0, classes, (n,), generator=g)


def half_mse(out, y):
    return ((out - y) ** 2).sum(dim=1).mean() / 2


class Dense:
    """Hessian, GGN and empirical Fisher of model/loss/data as dense matrices, from
    torch.func on the flattened parameters (nothing of numerics.curvature)."""

    def __init__(self, model, loss_fn, X, y):
        self.model, self.loss_fn, self.X, self.y = model, loss_fn, X, y
        self.named = [(n, p.shape) for n, p in model.named_parameters()]
        self.theta = torch.cat([p.detach().reshape(-1) for p in model.parameters()])

    def params(self, t):
        out, i = {}, 0
        for n, s in self.named:
            k = math.prod(s)
            out[n] = t[i:i + k].reshape(s)
            i += k
        return out

    def outputs(self, t, X=None):
        return functional_call(self.model, self.params(t), (self.X if X is None else X,))

    def hessian(self):
        return hessian(lambda t: self.loss_fn(self.outputs(t), self.y))(self.theta)

    def ggn(self):
        out = self.outputs(self.theta).detach()
        J = jacrev(lambda t: self.outputs(t).reshape(-1))(self.theta)
        Ho = hessian(lambda o: self.loss_fn(o.reshape(out.shape), self.y))(out.reshape(-1))
        return J.T @ Ho @ J

    def fisher(self):
        n = self.X.shape[0]

        def losses(t):
            return torch.stack([self.loss_fn(self.outputs(t, self.X[i:i + 1]), self.y[i:i + 1])
                                for i in range(n)])

        G = jacrev(losses)(self.theta)
        return G.T @ G / n


CASES = {
    "tanh-ce": lambda: (_mlp(), torch.nn.CrossEntropyLoss(), *_data()),
    "relu-mse": lambda: (_mlp((4, 6, 2), torch.nn.ReLU, 2), half_mse,
                         *_data(classes=2, regression=True)),
    "conv-ce": lambda: (_conv(), torch.nn.CrossEntropyLoss(), *_images()),
}


def _conv():
    torch.manual_seed(3)
    return torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3), torch.nn.Tanh(), torch.nn.Flatten(),
                               torch.nn.Linear(2 * 4 * 4, 3)).double()


def _images():
    g = torch.Generator().manual_seed(4)
    return torch.randn(5, 1, 6, 6, generator=g, dtype=torch.float64), \
        torch.randint(0, 3, (5,), generator=g)


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("which", ["hessian", "ggn", "fisher"])
def test_operators_equal_their_dense_torch_func_reference(case, which):
    model, loss, X, y = CASES[case]()
    cls = {"hessian": HessianOperator, "ggn": GGNOperator, "fisher": EmpiricalFisherOperator}
    ref = getattr(Dense(model, loss, X, y), which)()
    got = cls[which](model, loss, (X, y)).dense()
    assert torch.allclose(got, (ref + ref.T) / 2, atol=TOL, rtol=0)


def test_ggn_is_the_hessian_of_a_model_linear_in_its_parameters():
    model = torch.nn.Linear(3, 2).double()
    X, y = _data(n=9, d=3, classes=2, regression=True)
    H = HessianOperator(model, half_mse, (X, y)).dense()
    G = GGNOperator(model, half_mse, (X, y)).dense()
    assert torch.allclose(G, H, atol=TOL, rtol=0)


def test_ggn_and_fisher_are_psd_where_the_hessian_is_not():
    model, loss, X, y = CASES["tanh-ce"]()
    for cls in (GGNOperator, EmpiricalFisherOperator):
        assert torch.linalg.eigvalsh(cls(model, loss, (X, y)).dense()).min() >= -TOL
    assert torch.linalg.eigvalsh(HessianOperator(model, loss, (X, y)).dense()).min() < -1e-6


def test_batches_give_the_operators_of_the_whole_data():
    model, loss, X, y = CASES["tanh-ce"]()
    batches = [(X[:3], y[:3]), (X[3:], y[3:])]
    for cls in (GGNOperator, EmpiricalFisherOperator):
        whole = cls(model, loss, (X, y)).dense()
        assert torch.allclose(cls(model, loss, batches).dense(), whole, atol=TOL, rtol=0)


def test_the_empirical_fisher_refuses_a_loss_that_does_not_average():
    model, _, X, y = CASES["tanh-ce"]()
    summed = torch.nn.CrossEntropyLoss(reduction="sum")
    with pytest.raises(CurvatureError, match="average per-example losses"):
        EmpiricalFisherOperator(model, summed, (X, y))


def test_ggn_and_fisher_have_no_other_product():
    model, loss, X, y = CASES["tanh-ce"]()
    with pytest.raises(CurvatureError, match="one product"):
        GGNOperator(model, loss, (X, y)).using("finite-difference")


@pytest.mark.parametrize("cls", [HessianOperator, GGNOperator, EmpiricalFisherOperator])
def test_a_restricted_operator_is_the_diagonal_block(cls):
    model, loss, X, y = CASES["tanh-ce"]()
    op = cls(model, loss, (X, y))
    full = op.dense()
    start = 0
    for name, size in zip(op.names, op.sizes):
        block = op.restricted([name]).dense()
        assert torch.allclose(block, full[start:start + size, start:start + size], atol=TOL,
                              rtol=0)
        start += size


def test_block_curvature_traces_and_top_eigenvalues_are_those_of_the_blocks():
    model, loss, X, y = CASES["tanh-ce"]()
    op = HessianOperator(model, loss, (X, y))
    assert parameter_blocks(op) == {"0": ["0.weight", "0.bias"], "2": ["2.weight", "2.bias"]}
    full = op.dense()
    rows = block_curvature(op, probes=40, tol=1e-10)   # both blocks <= 40 entries: exact traces
    start = 0
    for b in rows:
        block = full[start:start + b.size, start:start + b.size]
        assert b.trace.method == "exact"
        assert b.trace.value == pytest.approx(float(block.trace()), abs=TOL)
        assert b.top.values[0] == pytest.approx(float(torch.linalg.eigvalsh(block)[-1]),
                                                abs=1e-8)
        start += b.size
    assert sum(b.trace.value for b in rows) == pytest.approx(float(full.trace()), abs=TOL)


def test_a_block_trace_by_hutchinson_covers_the_exact_trace():
    model, loss, X, y = CASES["tanh-ce"]()
    op = HessianOperator(model, loss, (X, y))
    rows = block_curvature(op, by="parameter", probes=10, confidence=0.999)
    full = op.dense()
    start = 0
    for b in rows:
        exact = float(full[start:start + b.size, start:start + b.size].trace())
        assert b.trace.lower - 1e-9 <= exact <= b.trace.upper + 1e-9, (b.name, exact, b.trace)
        start += b.size


@pytest.mark.parametrize("cls", [HessianOperator, GGNOperator, EmpiricalFisherOperator])
def test_the_scipy_linear_operator_is_the_operator(cls):
    from scipy.sparse.linalg import LinearOperator, eigsh

    model, loss, X, y = CASES["relu-mse"]()
    op = cls(model, loss, (X, y))
    lin = op.as_linear_operator()
    assert isinstance(lin, LinearOperator) and lin.shape == (op.dim, op.dim)
    D = op.dense().numpy()
    V = np.random.default_rng(0).standard_normal((op.dim, 3))
    assert np.allclose(lin @ V, D @ V, atol=TOL, rtol=0)
    assert np.allclose(lin.matvec(V[:, 0]), D @ V[:, 0], atol=TOL, rtol=0)
    assert np.allclose(lin.rmatvec(V[:, 0]), D @ V[:, 0], atol=TOL, rtol=0)
    top = eigsh(lin, k=1, which="LA", tol=1e-12)[0][0]
    assert top == pytest.approx(np.linalg.eigvalsh(D)[-1], abs=1e-9)


@pytest.mark.parametrize("cls", [HessianOperator, GGNOperator])
def test_slq_with_as_many_steps_as_dimensions_puts_its_nodes_on_the_eigenvalues(cls):
    model, loss, X, y = CASES["tanh-ce"]()
    op = cls(model, loss, (X, y))
    eig = np.linalg.eigvalsh(op.dense().numpy())
    slq = op.spectral_density(runs=2, steps=op.dim, seed=0)
    assert np.allclose(slq.weights.sum(axis=1), 1.0, atol=1e-10)
    heavy = slq.nodes[slq.weights > 1e-6]
    assert np.abs(heavy[:, None] - eig[None]).min(axis=1).max() < 1e-6


def test_filter_normalization_gives_each_filter_the_norm_of_the_weights():
    model, loss, X, y = CASES["conv-ce"]()
    op = HessianOperator(model, loss, (X, y))
    d = op.to_dict(filter_normalized_direction(op, seed=3))
    for name, theta in op.params.items():
        if theta.dim() <= 1:
            assert torch.count_nonzero(d[name]) == 0          # biases: no direction (Li et al.)
            continue
        got = d[name].reshape(d[name].shape[0], -1).norm(dim=1)
        want = theta.reshape(theta.shape[0], -1).norm(dim=1)
        assert torch.allclose(got, want, rtol=1e-12, atol=0)
    with_bias = op.to_dict(filter_normalized_direction(op, seed=3, biases=True))
    assert float(with_bias["0.bias"].norm()) == pytest.approx(float(op.params["0.bias"].norm()))


def test_the_landscape_of_a_quadratic_loss_is_its_taylor_polynomial():
    """For least squares in a linear model, L(theta + a d) = L + a g.d + a^2 d^T H d / 2
    exactly: the 1-D landscape, its slope and its curvature are checked against it."""
    model = torch.nn.Linear(3, 2, bias=False).double()
    X, y = _data(n=11, d=3, classes=2, regression=True)
    op = HessianOperator(model, half_mse, (X, y))
    one = landscape_1d(op, span=0.5, points=7, seed=2)
    d = filter_normalized_direction(op, seed=2)
    H, g = op.dense(), op.gradient()
    for a, loss in zip(one.alphas, one.losses):
        want = one.loss0 + a * float(g @ d) + a * a * float(d @ H @ d) / 2
        assert loss == pytest.approx(want, rel=1e-12, abs=1e-12)
    assert one.curvature == pytest.approx(float(d @ H @ d) / float(d @ d), rel=1e-12)
    assert one.slope == pytest.approx(float(g @ d) / float(d.norm()), rel=1e-10, abs=1e-14)
    two = landscape_2d(op, span=0.5, points=5, seed=2)
    assert len(two.losses) == 5 and all(len(row) == 5 for row in two.losses)
    assert two.losses[2][2] == pytest.approx(two.loss0, abs=1e-14)      # the centre
    assert -1 <= two.cosine <= 1


def test_landscape_arguments_are_checked():
    model, loss, X, y = CASES["tanh-ce"]()
    op = HessianOperator(model, loss, (X, y))
    with pytest.raises(CurvatureError, match="at least 3 points"):
        landscape_1d(op, points=2)
    with pytest.raises(CurvatureError, match="span"):
        landscape_2d(op, span=0.0)


# --------------------------------------------------------------------------------------------
# against curvlinops (the peer these operators are named after)
# --------------------------------------------------------------------------------------------

def _curvlinops():
    try:
        import curvlinops
    except ImportError as exc:   # an optional peer (the bench extra)
        pytest.skip(f"curvlinops is not installed ({exc}); pip install curvlinops-for-pytorch")
    return curvlinops


def _peer_dense(op):
    return (op @ torch.eye(op.shape[1], dtype=torch.float64))


@pytest.mark.parametrize("case", ["tanh-ce", "conv-ce"])
def test_operators_agree_with_curvlinops(case):
    """curvlinops' GGN, empirical Fisher and Hessian of the same model and loss (its EF and
    ours coincide for CrossEntropyLoss with mean reduction): dense matrices, traces and top
    eigenvalues."""
    cl = _curvlinops()
    model, loss, X, y = CASES[case]()
    params = [p for p in model.parameters()]
    pairs = [(HessianOperator, cl.HessianLinearOperator), (GGNOperator, cl.GGNLinearOperator),
             (EmpiricalFisherOperator, cl.EFLinearOperator)]
    for ours_cls, peer_cls in pairs:
        ours = ours_cls(model, loss, (X, y))
        peer = _peer_dense(peer_cls(model, loss, params, [(X, y)]))
        dense = ours.dense()
        assert torch.allclose(dense, (peer + peer.T) / 2, atol=TOL, rtol=0), ours_cls.__name__
        assert float(dense.trace()) == pytest.approx(float(peer.trace()), abs=TOL)
        top = ours.top_eigenvalues(k=1, tol=1e-10)
        assert top.values[0] == pytest.approx(float(torch.linalg.eigvalsh(peer)[-1]),
                                              abs=1e-8)


def test_the_mse_empirical_fisher_is_curvlinops_over_the_output_count():
    """curvlinops defines the per-example loss of MSELoss(reduction='mean') as the sum over the
    C outputs; ours is loss_fn on one example (the mean): the matrices differ by exactly C."""
    cl = _curvlinops()
    model, _, X, y = CASES["relu-mse"]()
    loss = torch.nn.MSELoss()
    ours = EmpiricalFisherOperator(model, loss, (X, y)).dense()
    peer = _peer_dense(cl.EFLinearOperator(model, loss, list(model.parameters()), [(X, y)]))
    assert torch.allclose(ours * y.shape[1], peer, atol=TOL, rtol=0)
