"""Property tests of optimizer implementations, for your own test suite (pytest + hypothesis).

``from verify import testing`` gives:

* strategies of smooth test functions with exact gradients and Hessians (torch, float64):
  :func:`quadratics` (random spectrum and eigenvectors, indefinite ones included),
  :func:`semialgebraic` (coercive polynomials with many critical points), and
  :func:`smooth_functions` (either); :func:`start_points` draws starts;
* :func:`assert_same_steps`: your ``torch.optim.Optimizer`` takes the steps of the declared
  map it implements (a built-in name of :data:`numerics.updates.OPTIMIZERS`, or your own
  ``"file.py:name"``), step by step, on a test function;
* :func:`assert_filter_respected`: Theorem 2.1 of Bolte, Le and Pauwels as a property: when
  your optimizer's run converges to x-bar, every Hessian eigenvalue at x-bar lies in the
  method's eigenvalue filter (derived exactly from the declared map; a run from a random
  start converges elsewhere only on a null set of starts);
* :func:`filter_of` and :func:`has_filter`: the exact filter set of a method.

A test calls them inside ``@given(...)``; a failure raises ``AssertionError`` saying at which
step, by how much, or which eigenvalue lies outside which set, and hypothesis shrinks it. The
README shows a complete test file.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

__all__ = ["TestFunction", "quadratics", "semialgebraic", "smooth_functions", "start_points",
           "assert_same_steps", "assert_filter_respected", "filter_of", "has_filter",
           "declared_map"]


@dataclass
class TestFunction:
    """A smooth function of ``dim`` variables: ``value(x)`` on float64 torch tensors
    (differentiable by autograd), with ``grad`` and ``hessian`` at a point."""

    __test__ = False  # not a pytest test class

    name: str
    dim: int
    value: Callable[[Any], Any] = field(repr=False)

    def grad(self, x: Any) -> Any:
        import torch

        x = x.detach().requires_grad_(True)
        return torch.autograd.grad(self.value(x), x)[0]

    def hvp(self, x: Any, v: Any) -> Any:
        import torch

        x = x.detach().requires_grad_(True)
        g = torch.autograd.grad(self.value(x), x, create_graph=True)[0]
        return torch.autograd.grad(g @ v.detach(), x)[0]

    def hessian(self, x: Any) -> np.ndarray:
        import torch

        H = torch.autograd.functional.hessian(self.value, x.detach())
        return ((H + H.T) / 2).numpy()

    def __repr__(self) -> str:
        return f"TestFunction({self.name})"


def _seeded(build: Callable[[np.random.Generator, int], TestFunction],
            dims: tuple[int, int]) -> Any:
    from hypothesis import strategies as st

    @st.composite
    def draw(draw_fn: Any) -> TestFunction:
        dim = draw_fn(st.integers(*dims))
        seed = draw_fn(st.integers(0, 2**32 - 1))
        return build(np.random.default_rng(seed), dim)

    return draw()


def quadratics(dims: tuple[int, int] = (1, 4), spectrum: tuple[float, float] = (-40.0, 40.0),
               min_abs: float = 1.0) -> Any:
    """Strategy of f(x) = (x - c)^T H (x - c) / 2, H = Q diag(lambda) Q^T with a random rotation
    Q, eigenvalues uniform in ``spectrum`` and at least ``min_abs`` away from 0 (so that runs
    converge or leave in a few hundred steps), c uniform in [-1, 1]^d."""
    def build(rng: np.random.Generator, dim: int) -> TestFunction:
        import torch

        lam = rng.uniform(*spectrum, size=dim)
        lam = np.where(np.abs(lam) < min_abs, np.sign(lam + 1e-300) * min_abs, lam)
        Q, _ = np.linalg.qr(rng.standard_normal((dim, dim)))
        H = torch.tensor(Q @ np.diag(lam) @ Q.T, dtype=torch.float64)
        c = torch.tensor(rng.uniform(-1, 1, size=dim), dtype=torch.float64)

        def value(x: Any) -> Any:
            y = x - c
            return y @ (H @ y) / 2

        return TestFunction(f"quadratic, eigenvalues {np.round(np.sort(lam), 4).tolist()}",
                            dim, value)

    return _seeded(build, dims)


def semialgebraic(dims: tuple[int, int] = (1, 4), curvature: tuple[float, float] = (0.5, 30.0)
                  ) -> Any:
    """Strategy of coercive polynomials f(x) = sum_i a_i (x_i^2 - s_i)^2 / 8 s_i
    + b (x_0 x_1 - t)^2 / 2 (the product term for d >= 2): minima near x_i = +-sqrt(s_i) with
    curvature about a_i (``a_i`` uniform in ``curvature``), a maximum or saddles at 0."""
    def build(rng: np.random.Generator, dim: int) -> TestFunction:
        import torch

        a = torch.tensor(rng.uniform(*curvature, size=dim), dtype=torch.float64)
        s = torch.tensor(rng.uniform(0.5, 2.0, size=dim), dtype=torch.float64)
        b = float(rng.uniform(0.0, 5.0)) if dim >= 2 else 0.0
        t = float(rng.uniform(-1.0, 1.0))

        def value(x: Any) -> Any:
            out = (a * (x**2 - s) ** 2 / (8 * s)).sum()
            if dim >= 2:
                out = out + b * (x[0] * x[1] - t) ** 2 / 2
            return out

        return TestFunction(f"polynomial, a = {np.round(a.numpy(), 3).tolist()}, b = "
                            f"{b:.3f}", dim, value)

    return _seeded(build, dims)


def smooth_functions(dims: tuple[int, int] = (1, 4)) -> Any:
    """Strategy of :func:`quadratics` and :func:`semialgebraic` functions."""
    return quadratics(dims) | semialgebraic(dims)


def start_points(dim: int, scale: float = 2.0) -> Any:
    """Strategy of float64 torch starts uniform in [-scale, scale]^dim, drawn from a seed: a
    continuous distribution, so a start avoids the null sets where Theorem 2.1 says nothing
    (a start exactly at a saddle or on its stable manifold)."""
    import torch
    from hypothesis import strategies as st

    return st.integers(0, 2**32 - 1).map(lambda seed: torch.tensor(
        np.random.default_rng(seed).uniform(-scale, scale, size=dim), dtype=torch.float64))


# --------------------------------------------------------------------------------------------
# the declared maps and their filters
# --------------------------------------------------------------------------------------------

def declared_map(method: str, hyper: dict[str, Any], form: str = "A") -> Any:
    """The declared update map (built-in name, or ``"file.py:name"``, imported in this
    process) with its hyperparameters."""
    from numerics import updates

    return updates.build(updates.load_method(method), form=form, **hyper)


def _exact(value: Any) -> Any:
    """A hyperparameter exactly: floats from their shortest decimal form, strings by the
    whitelisting parser (never evaluated), Fractions and NumPy scalars as the numbers they
    are."""
    from fractions import Fraction

    import sympy as sp

    from verify.formula import parse_number

    if isinstance(value, Fraction):
        return sp.Rational(value.numerator, value.denominator)
    if isinstance(value, np.generic):
        value = value.item()
    return parse_number(value, what="hyperparameter")


def filter_of(method: str, hyper: dict[str, Any], form: str = "A") -> Any:
    """The exact filter set of ``method`` at ``hyper`` (floats read from their shortest
    decimal form); raises :class:`verify.errors.NoFilter` with the reason when it has none."""
    return _filter_of(method, tuple(sorted(hyper.items())), form)


@functools.lru_cache(maxsize=256)
def _filter_of(method: str, items: tuple, form: str) -> Any:
    from theorems.filters.mathematics import filter_set

    exact = {k: _exact(v) for k, v in items}
    named = {k: exact.pop(k, None) for k in ("alpha", "beta", "rho")}
    return filter_set(method, named["alpha"], named["beta"], named["rho"], form,
                      hyper=exact or None)


def has_filter(method: str, hyper: dict[str, Any] | None = None) -> bool:
    """Whether ``method`` has an eigenvalue filter (at ``hyper``, for a user's map)."""
    from theorems.filters.mathematics import declared_hyper
    from verify.errors import NoFilter

    if not declared_hyper(method)["filter"]:
        return False
    if hyper is None or ":" not in method:
        return True
    try:
        filter_of(method, hyper)
    except NoFilter:
        return False
    return True


# --------------------------------------------------------------------------------------------
# the properties
# --------------------------------------------------------------------------------------------

def _closure(optimizer: Any, param: Any, f: TestFunction) -> Callable[[], Any]:
    def closure() -> Any:
        optimizer.zero_grad()
        loss = f.value(param)
        loss.backward()
        return loss

    return closure


def _event(text: str) -> None:
    """A hypothesis event (``pytest --hypothesis-show-statistics`` counts them), when inside
    a hypothesis test."""
    try:
        from hypothesis import event

        event(text)
    except Exception:  # noqa: BLE001 - outside @given: nothing to count
        pass


def assert_same_steps(make_optimizer: Callable[[list], Any], method: str,
                      hyper: dict[str, Any], f: TestFunction, x0: Any, *, steps: int = 5,
                      rtol: float = 1e-9, atol: float = 1e-12, form: str = "A") -> None:
    """Your optimizer (``make_optimizer([param])``, stepped with a closure that zeroes the
    gradients, computes f and calls ``backward``) takes the steps of the declared map
    ``method`` at ``hyper`` on ``f`` from ``x0``, within ``rtol`` / ``atol`` at every step
    (float64). The map runs with f's exact gradient (and Hessian-vector product oracle)."""
    import torch

    x0 = torch.as_tensor(x0, dtype=torch.float64).detach().clone()
    param = torch.nn.Parameter(x0.clone())
    optimizer = make_optimizer([param])
    closure = _closure(optimizer, param, f)
    update_map = declared_map(method, hyper, form)
    x, state = x0.clone(), update_map.init(x0.clone())
    for step in range(1, steps + 1):
        optimizer.step(closure)
        x, state = update_map.update(x, state, f.grad, hvp_fn=f.hvp)
        got = param.detach()
        if not bool(torch.isfinite(x).all()):
            return  # the map itself left the floats: nothing to compare
        scale = atol + rtol * float(x.abs().max())
        gap = float((got - x).abs().max())
        if not gap <= scale:
            raise AssertionError(
                f"step {step} on {f.name} from x0 = {x0.tolist()}: the optimizer is at "
                f"{got.tolist()}, the map {method!r} at {hyper} is at {x.tolist()} (largest "
                f"difference {gap:.3g} > {scale:.3g})")


def assert_filter_respected(make_optimizer: Callable[[list], Any], method: str,
                            hyper: dict[str, Any], f: TestFunction, x0: Any, *,
                            steps: int = 500, tol: float = 1e-9, margin: float = 1e-6,
                            form: str = "A") -> Any:
    """Theorem 2.1 as a property: run your optimizer ``steps`` steps on ``f`` from ``x0``; if
    it converged (finite, ||grad f|| <= tol and the last step shorter than tol), every
    eigenvalue of the Hessian at the limit lies in the exact filter set of ``method`` at
    ``hyper``, up to ``margin`` (relative) at the boundary. Returns the limit (None when the
    run did not converge: then there is nothing to check)."""
    import sympy as sp
    import torch

    S = filter_of(method, hyper, form)
    param = torch.nn.Parameter(torch.as_tensor(x0, dtype=torch.float64).detach().clone())
    optimizer = make_optimizer([param])
    closure = _closure(optimizer, param, f)
    previous = param.detach().clone()
    for _ in range(steps):
        previous = param.detach().clone()
        optimizer.step(closure)
        if not bool(torch.isfinite(param).all()) or float(param.detach().abs().max()) > 1e8:
            _event("diverged")
            return None
    x = param.detach().clone()
    moved = float((x - previous).norm())
    if not (float(f.grad(x).norm()) <= tol and moved <= tol):
        _event("did not converge")
        return None
    eigenvalues = np.linalg.eigvalsh(f.hessian(x))
    _event("converged: the filter was checked")
    for lam in eigenvalues:
        width = margin * max(1.0, abs(float(lam)))
        window = sp.Interval(sp.Rational(repr(float(lam) - width)),
                             sp.Rational(repr(float(lam) + width)))
        if sp.Intersection(window, S) == sp.S.EmptySet:
            raise AssertionError(
                f"the run on {f.name} from x0 = {torch.as_tensor(x0).tolist()} converged to "
                f"{x.tolist()}, where the Hessian has the eigenvalue {lam:.10g}, outside the "
                f"filter {S} of {method!r} at {hyper}: by Theorem 2.1 (Bolte, Le, Pauwels) a "
                "run of the declared map converges there only from a null set of starts")
    return x
