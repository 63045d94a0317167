"""numerics.updates: one declaration and one map per optimizer, on SymPy, NumPy and torch."""

import numpy as np
import pytest
import sympy as sp
import torch

from numerics import updates

#: every optimizer with an eigenvalue filter, in each of its forms
METHOD_FORMS = [(name, form) for name in updates.FILTER_METHODS
                for form in (updates.OPTIMIZERS[name].forms or ("A",))]
VALUES = {"alpha": 0.1, "beta": 0.9, "rho": 0.05}


def hyper_of(method):
    return {h.name: VALUES[h.name] for h in updates.OPTIMIZERS[method].hyper}


def test_the_same_map_runs_on_sympy_numpy_and_torch():
    lam = 3.0
    for method, form in METHOD_FORMS:
        hyper = hyper_of(method)
        m = updates.make(method, form=form, **hyper)
        results = []
        for make in (lambda v: sp.Matrix(v), lambda v: np.array(v, dtype=float),
                     lambda v: torch.tensor(v, dtype=torch.float64)):
            x = make([0.5, -1.25])
            grad = lambda y: lam * y  # noqa: E731
            out, state = updates.run(m, x, grad, 3, hvp_fn=lambda y, v: lam * v)
            results.append(np.array([float(c) for c in out]))
        assert np.allclose(results[0], results[1], rtol=1e-12)
        assert np.allclose(results[1], results[2], rtol=1e-12)
        if isinstance(out, torch.Tensor):
            assert out.dtype == torch.float64


def test_maps_converge_on_a_strongly_convex_quadratic():
    H = np.diag([1.0, 3.0])
    for method, form in METHOD_FORMS:
        hyper = hyper_of(method)
        m = updates.make(method, form=form, **hyper)
        x, _ = updates.run(m, np.array([1.0, -2.0]), lambda y: H @ y, 2000,
                           hvp_fn=lambda y, v: H @ v)
        assert np.linalg.norm(x) < 1e-8, method


def test_sam_and_perturbed_methods():
    H = np.diag([1.0, 2.0])
    x, _ = updates.run(updates.sam(0.1, 0.05), np.array([1.0, 1.0]), lambda y: H @ y, 500)
    assert np.linalg.norm(x) < 0.1  # normalized SAM oscillates at the scale alpha*rho
    rs = updates.randomly_smoothed(eta=0.05, eta_prime=0.05, rho=0.01, eps0=1e-3, seed=1)
    grad = lambda y: np.array([2 * (y[0] * y[1] - 1) * y[1], 2 * (y[0] * y[1] - 1) * y[0]])  # noqa
    y, state = updates.run(rs, np.array([2.0, 0.5]), grad, 50)
    assert state.step == 50 and abs(y[0] * y[1] - 1) < 1e-3
    with pytest.raises(TypeError, match="hvp_fn"):
        updates.hessian_usam(0.1, 0.1).update(np.ones(2), (), lambda y: y)
    with pytest.raises(ValueError, match="needs beta"):
        updates.make("heavy-ball", alpha=0.1)
    with pytest.raises(ValueError, match="takes no rho"):
        updates.make("gd", alpha=0.1, rho=0.1)


def test_torch_optimizers_match_the_maps():
    from numerics.torch_optim import SAM, MapOptimizer

    torch.manual_seed(0)
    A = torch.randn(6, 3, dtype=torch.float64)
    b = torch.randn(6, dtype=torch.float64)

    def make_model():
        return torch.nn.Linear(3, 1, bias=False).double()

    def loss_of(model):
        return ((model(A).squeeze(-1) - b) ** 2).mean()

    def grad_np(w):
        w = torch.tensor(w, dtype=torch.float64)
        return (2 * A.T @ (A @ w - b) / A.shape[0]).numpy()

    for update_map, wrapper in ((updates.heavy_ball(0.05, 0.5), None),
                                (updates.usam(0.05, 0.1), None),
                                (updates.sam(0.05, 0.1), "sam"),
                                (updates.usam(0.05, 0.1), "usam2")):
        model = make_model()
        w0 = model.weight.detach().reshape(-1).numpy().copy()
        if wrapper is None:
            opt = MapOptimizer(model.parameters(), update_map)
        else:
            opt = SAM(model.parameters(), alpha=0.05, rho=0.1, normalize=wrapper == "sam")

        def closure():
            opt.zero_grad()
            loss = loss_of(model)
            loss.backward()
            return loss

        for _ in range(5):
            opt.step(closure)
        expected, _ = updates.run(update_map, w0, grad_np, 5)
        assert np.allclose(model.weight.detach().reshape(-1).numpy(), expected, rtol=1e-10), \
            update_map.name


def test_every_optimizer_is_declared_once_with_its_hyperparameters():
    names = list(updates.OPTIMIZERS)
    assert len(names) == len(set(names))
    for name, declared in updates.OPTIMIZERS.items():
        assert declared.name == name
        assert declared.factory.__name__ == name.replace("-", "_")
    assert set(updates.FILTER_METHODS) == {n for n, o in updates.OPTIMIZERS.items() if o.filter}
    assert "sam" not in updates.FILTER_METHODS  # normalized SAM is not C^1 at critical points
    # every declared hyperparameter is checked, and rho = 0 (plain GD) is a valid USAM
    updates.make("usam", alpha=0.1, rho=0)
    with pytest.raises(ValueError, match="must be > 0"):
        updates.make("gd", alpha=0)
    with pytest.raises(ValueError, match="form must be one of"):
        updates.make("hessian-usam", alpha=0.1, rho=0.1, form="C")


def test_the_two_call_form_of_sam_is_the_sam_map():
    """first_step/second_step (the SAM libraries' form) give the step of updates.sam."""
    from numerics.torch_optim import SAM

    torch.manual_seed(0)
    A = torch.randn(6, 3, dtype=torch.float64)
    b = torch.randn(6, dtype=torch.float64)
    for normalize, update_map in ((True, updates.sam(0.05, 0.1)), (False, updates.usam(0.05, 0.1))):
        model = torch.nn.Linear(3, 1, bias=False).double()
        w0 = model.weight.detach().reshape(-1).numpy().copy()
        opt = SAM(model.parameters(), alpha=0.05, rho=0.1, normalize=normalize)
        for _ in range(3):
            opt.zero_grad()
            ((model(A).squeeze(-1) - b) ** 2).mean().backward()
            opt.first_step()
            opt.zero_grad()
            ((model(A).squeeze(-1) - b) ** 2).mean().backward()
            opt.second_step()

        def grad_np(w):
            w = torch.tensor(w, dtype=torch.float64)
            return (2 * A.T @ (A @ w - b) / A.shape[0]).numpy()

        expected, _ = updates.run(update_map, w0, grad_np, 3)
        assert np.allclose(model.weight.detach().reshape(-1).numpy(), expected, rtol=1e-10)


