r"""Every optimizer of the papers, written once as a pure update map (optax style).

A factory closes over the hyperparameters and returns an :class:`UpdateMap` with two pure
functions: ``init(x) -> state`` and ``update(x, state, grad_fn, **oracles) -> (x, state)``.
``grad_fn`` is a gradient oracle (SAM-type maps evaluate it at perturbed points). The code uses
only ``+``, ``-``, multiplication by scalars and the few helpers below, so the same map runs
on SymPy column matrices (``theorems.filters`` differentiates it), NumPy arrays and torch
tensors.

Sources: Bolte, Le, Pauwels for GD, heavy ball, Nesterov, USAM, USAM with heavy
ball, Two-step USAM and Hessian USAM (both candidate forms of the last two are reconstructions
[I], chosen with ``form="A"`` or ``"B"``); Ahn, Jadbabaie, Sra (Algorithms 1 and 2) for the randomly
smoothed and sharpness-aware perturbations; normalized SAM as in Foret et al.; Adam as in Kingma
and Ba (Algorithm 1).

Users declare their own maps the same way, in a Python file, with :func:`declare` (the same
declaration as :func:`optimizer`, without adding the map to :data:`OPTIMIZERS`); a method
``"file.py:name"`` names one of them (:func:`load_declarations`, :func:`split_method`).
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple


# --------------------------------------------------------------------------------------------
# array-namespace helpers (SymPy matrices, NumPy arrays, torch tensors)
# --------------------------------------------------------------------------------------------

def _kind(v: Any) -> str:
    module = type(v).__module__
    if module.startswith("sympy"):
        return "sympy"
    if module.startswith("torch"):
        return "torch"
    return "numpy"


def dot(u: Any, v: Any) -> Any:
    """Euclidean inner product of two vectors of the same namespace."""
    kind = _kind(u)
    if kind == "sympy":
        return (u.T * v)[0, 0]
    if kind == "torch":
        return (u * v).sum()
    import numpy as np

    return np.vdot(u, v).real


def norm(v: Any) -> Any:
    kind = _kind(v)
    if kind == "sympy":
        import sympy as sp

        return sp.sqrt(dot(v, v))
    if kind == "torch":
        import torch

        return torch.linalg.vector_norm(v)
    import numpy as np

    return np.linalg.norm(v)


def scalar_sqrt(a: Any) -> Any:
    """The square root of a scalar hyperparameter, exact for SymPy numbers and symbols (write
    ``scalar_sqrt(v)``, not ``v ** 0.5``, so that a derived filter stays exact)."""
    module = type(a).__module__
    if module.startswith("sympy"):
        import sympy as sp

        return sp.sqrt(a)
    if module.startswith("torch"):
        import torch

        return torch.sqrt(a)
    import math

    return math.sqrt(a)


def hadamard(u: Any, v: Any) -> Any:
    """The element-wise product of two arrays of the same namespace and shape."""
    if _kind(u) == "sympy":
        return u.multiply_elementwise(v)
    return u * v


def elementwise_sqrt(v: Any) -> Any:
    """The element-wise square root."""
    kind = _kind(v)
    if kind == "sympy":
        import sympy as sp

        return v.applyfunc(sp.sqrt)
    if kind == "torch":
        import torch

        return torch.sqrt(v)
    import numpy as np

    return np.sqrt(v)


def ones_like(v: Any) -> Any:
    """An array of ones of v's namespace and shape."""
    kind = _kind(v)
    if kind == "sympy":
        import sympy as sp

        return sp.ones(*v.shape)
    if kind == "torch":
        import torch

        return torch.ones_like(v)
    import numpy as np

    return np.ones_like(v)


def elementwise_divide(u: Any, v: Any) -> Any:
    """The element-wise quotient u / v."""
    if _kind(u) == "sympy":
        return u.multiply_elementwise(v.applyfunc(lambda e: 1 / e))
    return u / v


def project_out(v: Any, g: Any, eps: float = 0.0) -> Any:
    """Proj^perp_g v = v - <g, v> / ||g||^2 g (v itself when g = 0)."""
    gg = dot(g, g)
    if _kind(g) != "sympy" and float(gg) <= eps:
        return v
    return v - (dot(g, v) / gg) * g


# --------------------------------------------------------------------------------------------
# the declarations: every optimizer once, with its hyperparameters
# --------------------------------------------------------------------------------------------

class Hyper(NamedTuple):
    """A hyperparameter: its name, meaning and the exact range it must lie in."""

    name: str
    doc: str
    check: str  # "positive" | "nonnegative" | "unit-interval" ([0, 1)) | "integer"


ALPHA = Hyper("alpha", "step size", "positive")
BETA = Hyper("beta", "momentum", "unit-interval")
RHO = Hyper("rho", "perturbation radius (rho = 0 is plain gradient descent)", "nonnegative")
ETA = Hyper("eta", "gradient step size", "positive")
ETA_PRIME = Hyper("eta_prime", "perturbation step size (0 is plain gradient descent)",
                  "nonnegative")
EPS0 = Hyper("eps0", "gradient-norm threshold of the perturbation", "positive")
BETA1 = Hyper("beta1", "decay of the first-moment average", "unit-interval")
BETA2 = Hyper("beta2", "decay of the second-moment average", "unit-interval")
EPS = Hyper("eps", "added to the square root of the second moment", "positive")
COMPONENTS = Hyper("n", "number of components f_i of f", "integer")


class Optimizer(NamedTuple):
    """The declaration of one optimizer: every list of methods is derived from these.

    ``hyper``: the hyperparameters its factory takes (by keyword, in this order);
    ``forms``: the reconstructed variants (``form="A"|"B"``), empty if none; ``filter``: its
    eigenvalue filter is defined (the map is C^1 at critical points, so ``filter-set`` and
    ``stable-point`` claims and model certificates apply); ``no_filter``: for a map without
    one, why not and under which condition one applies (the message users get);
    ``oracles``: extra oracles ``update`` needs besides ``grad_fn``; ``options``: other keyword
    arguments of the factory (seeds, switches, schedules).
    """

    name: str
    factory: Callable[..., "UpdateMap"]
    hyper: tuple[Hyper, ...]
    summary: str
    forms: tuple[str, ...] = ()
    filter: bool = True
    oracles: tuple[str, ...] = ()
    options: tuple[str, ...] = ()
    no_filter: str = ""


#: Every optimizer, by name, in declaration order (filled by :func:`optimizer`).
OPTIMIZERS: dict[str, Optimizer] = {}
HYPER_CHECKS = ("positive", "nonnegative", "unit-interval", "integer")


def declare(name: str, hyper: tuple[Hyper, ...], summary: str, **kw: Any) -> Callable:
    """Declare the factory it decorates as the optimizer ``name`` (its declaration is the
    factory's ``declaration`` attribute), without adding it to :data:`OPTIMIZERS`: the form of
    users' optimizer files (``method = "file.py:name"``)."""
    hyper = tuple(hyper)
    for h in hyper:
        if not isinstance(h, Hyper) or h.check not in HYPER_CHECKS:
            raise ValueError(f"optimizer {name!r}: each hyperparameter is a Hyper(name, doc, "
                             f"check) with check one of {HYPER_CHECKS}, got {h!r}")
    if len({h.name for h in hyper}) != len(hyper):
        raise ValueError(f"optimizer {name!r}: a hyperparameter name is used twice")

    def attach(factory: Callable[..., "UpdateMap"]) -> Callable[..., "UpdateMap"]:
        factory.declaration = Optimizer(name, factory, hyper, summary, **kw)
        factory.optimizer_name = name
        return factory
    return attach


def optimizer(name: str, hyper: tuple[Hyper, ...], summary: str, **kw: Any) -> Callable:
    """Declare the factory it decorates as the built-in optimizer ``name`` (the one place the
    name is written; the map's own ``name`` is read from here)."""
    def register(factory: Callable[..., "UpdateMap"]) -> Callable[..., "UpdateMap"]:
        if name in OPTIMIZERS:
            raise ValueError(f"optimizer {name!r} is declared twice")
        declare(name, hyper, summary, **kw)(factory)
        OPTIMIZERS[name] = factory.declaration
        return factory
    return register


# --------------------------------------------------------------------------------------------
# maps
# --------------------------------------------------------------------------------------------

class UpdateMap(NamedTuple):
    """A pure optimizer: ``init(x) -> state``, ``update(x, state, grad_fn, **oracles)``."""

    name: str
    hyper: dict
    init: Callable[..., Any]
    update: Callable[..., tuple[Any, Any]]
    momentum: bool = False     # the state holds the previous iterate (``state.prev``)


class EmptyState(NamedTuple):
    """State of memoryless maps."""


class MomentumState(NamedTuple):
    prev: Any  # x_{k-1}


class PerturbationState(NamedTuple):
    key: Any   # a NumPy Generator or a torch.Generator
    step: int


@optimizer("gd", (ALPHA,), "gradient descent")
def gd(alpha: Any) -> UpdateMap:
    r"""Gradient descent, :math:`x^+ = x - \alpha \nabla f(x)`."""
    def update(x, state, grad_fn, **_):
        return x - alpha * grad_fn(x), state

    return UpdateMap(gd.optimizer_name, {"alpha": alpha}, lambda x: EmptyState(), update)


class StepState(NamedTuple):
    step: int  # k, the number of updates made


@optimizer("scheduled-gd", (),
           "gradient descent with a step-size schedule (normalized steps with normalized=True)",
           filter=False, options=("schedule", "normalized"),
           no_filter="its step size changes with the step number, so it is not one fixed map "
                     "(and the normalized step is not differentiable where the gradient "
                     "vanishes); the filter of a constant step alpha is that of gd")
def scheduled_gd(schedule: Callable[[int], Any], *, normalized: bool = False) -> UpdateMap:
    r"""Gradient descent with step sizes :math:`\alpha_k` = ``schedule(k)``; with
    ``normalized=True`` the step has length :math:`\alpha_k`,
    :math:`x_{k+1} = x_k - \alpha_k \nabla f(x_k) / \|\nabla f(x_k)\|` (Josz, Figure 1)."""
    def update(x, state, grad_fn, **_):
        g = grad_fn(x)
        a = schedule(state.step)
        step = a * g * (1 / norm(g)) if normalized else a * g
        return x - step, StepState(state.step + 1)

    return UpdateMap(scheduled_gd.optimizer_name,
                     {"schedule": schedule, "normalized": normalized},
                     lambda x: StepState(0), update)


@optimizer("heavy-ball", (ALPHA, BETA), "Polyak's heavy ball")
def heavy_ball(alpha: Any, beta: Any) -> UpdateMap:
    r"""Polyak's heavy ball, :math:`x_{k+1} = x_k - \alpha\nabla f(x_k) + \beta(x_k - x_{k-1})`."""
    def update(x, state, grad_fn, **_):
        new = x - alpha * grad_fn(x) + beta * (x - state.prev)
        return new, MomentumState(prev=x)

    return UpdateMap(heavy_ball.optimizer_name, {"alpha": alpha, "beta": beta},
                     lambda x: MomentumState(prev=x), update, momentum=True)


@optimizer("nesterov", (ALPHA, BETA), "Nesterov's accelerated gradient")
def nesterov(alpha: Any, beta: Any) -> UpdateMap:
    r"""Nesterov, :math:`y_k = x_k + \beta(x_k - x_{k-1})`, :math:`x_{k+1} = y_k - \alpha\nabla f(y_k)`."""
    def update(x, state, grad_fn, **_):
        y = x + beta * (x - state.prev)
        return y - alpha * grad_fn(y), MomentumState(prev=x)

    return UpdateMap(nesterov.optimizer_name, {"alpha": alpha, "beta": beta},
                     lambda x: MomentumState(prev=x), update, momentum=True)


def sam_perturbation(g: Any, rho: Any, *, normalized: bool = True, eps: float = 1e-12) -> Any:
    r"""The ascent step of SAM-type methods: :math:`\rho g/\|g\|` (normalized SAM) or
    :math:`\rho g` (USAM), for the gradient g at the current point.

    Where g = 0 the normalized step is taken to be 0 (the map is not C^1 there, which is why
    the filter analysis uses USAM). ``eps`` guards the division for floating-point arrays;
    on torch tensors the step is branch-free, so that it runs under ``torch.func.vmap``.
    """
    if not normalized:
        return rho * g
    size = norm(g)
    if _kind(g) == "sympy":
        return rho * g / size
    if _kind(g) == "torch":
        import torch

        return rho * torch.where(size > eps, g / torch.clamp(size, min=eps), torch.zeros_like(g))
    if float(size) <= eps:
        return 0 * g
    return rho * g / size


def _usam_direction(x: Any, grad_fn: Callable, rho: Any) -> Any:
    return grad_fn(x + sam_perturbation(grad_fn(x), rho, normalized=False))


@optimizer("usam", (ALPHA, RHO), "unnormalized SAM")
def usam(alpha: Any, rho: Any) -> UpdateMap:
    r"""Unnormalized SAM, :math:`x^+ = x - \alpha\nabla f(x + \rho\nabla f(x))`."""
    def update(x, state, grad_fn, **_):
        return x - alpha * _usam_direction(x, grad_fn, rho), state

    return UpdateMap(usam.optimizer_name, {"alpha": alpha, "rho": rho}, lambda x: EmptyState(), update)


@optimizer("usam-heavy-ball", (ALPHA, BETA, RHO), "unnormalized SAM with heavy-ball momentum")
def usam_heavy_ball(alpha: Any, beta: Any, rho: Any) -> UpdateMap:
    r"""USAM with heavy-ball momentum,
    :math:`x_{k+1} = x_k - \alpha\nabla f(x_k + \rho\nabla f(x_k)) + \beta(x_k - x_{k-1})`."""
    def update(x, state, grad_fn, **_):
        new = x - alpha * _usam_direction(x, grad_fn, rho) + beta * (x - state.prev)
        return new, MomentumState(prev=x)

    return UpdateMap(usam_heavy_ball.optimizer_name, {"alpha": alpha, "beta": beta, "rho": rho},
                     lambda x: MomentumState(prev=x), update, momentum=True)


@optimizer("sam", (ALPHA, RHO), "normalized SAM (no filter: not C^1 at critical points)",
           filter=False, options=("eps",),
           no_filter="its ascent step rho g/||g|| is not continuous where the gradient g "
                     "vanishes, so the map is not differentiable at a critical point and "
                     "Theorem 2.1 does not apply; the unnormalized map (usam) has a filter")
def sam(alpha: Any, rho: Any, eps: float = 1e-12) -> UpdateMap:
    r"""Normalized SAM (Foret et al.), :math:`x^+ = x - \alpha\nabla f(x + \rho\,g/\|g\|)`,
    g = grad f(x); the step of :func:`sam_perturbation`."""
    def update(x, state, grad_fn, **_):
        step = sam_perturbation(grad_fn(x), rho, eps=eps)
        return x - alpha * grad_fn(x + step), state

    return UpdateMap(sam.optimizer_name, {"alpha": alpha, "rho": rho}, lambda x: EmptyState(), update)


@optimizer("two-step-usam", (ALPHA, RHO), "Two-step USAM", forms=("A", "B"))
def two_step_usam(alpha: Any, rho: Any, form: str = "A") -> UpdateMap:
    r"""Two-step USAM (Bolte et al.; the update rule is a reconstruction [I]).

    Form A (nested ascent): :math:`y_1 = x + \rho\nabla f(x)`, :math:`y_2 = x + \rho\nabla f(y_1)`.
    Form B (iterated ascent): :math:`y_2 = y_1 + \rho\nabla f(y_1)`. Then
    :math:`x^+ = x - \alpha\nabla f(y_2)`.
    """
    if form not in ("A", "B"):
        raise ValueError(f"two_step_usam form must be 'A' or 'B', got {form!r}")

    def update(x, state, grad_fn, **_):
        y1 = x + rho * grad_fn(x)
        y2 = (x if form == "A" else y1) + rho * grad_fn(y1)
        return x - alpha * grad_fn(y2), state

    return UpdateMap(two_step_usam.optimizer_name, {"alpha": alpha, "rho": rho, "form": form},
                     lambda x: EmptyState(), update)


@optimizer("hessian-usam", (ALPHA, RHO), "Hessian USAM", forms=("A", "B"), oracles=("hvp_fn",))
def hessian_usam(alpha: Any, rho: Any, form: str = "A") -> UpdateMap:
    r"""Hessian USAM (Bolte et al.; the update rule is a reconstruction [I]).

    Form A (exact gradient of :math:`f(x + \rho\nabla f(x))`):
    :math:`x^+ = x - \alpha(I + \rho\nabla^2 f(x))\nabla f(x + \rho\nabla f(x))`.
    Form B (gradient penalty :math:`f + \tfrac{\rho}{2}\|\nabla f\|^2`):
    :math:`x^+ = x - \alpha(\nabla f(x) + \rho\nabla^2 f(x)\nabla f(x))`.
    Needs the oracle ``hvp_fn(x, v) = \nabla^2 f(x) v``.
    """
    if form not in ("A", "B"):
        raise ValueError(f"hessian_usam form must be 'A' or 'B', got {form!r}")

    def update(x, state, grad_fn, hvp_fn=None, **_):
        if hvp_fn is None:
            raise TypeError("hessian_usam needs the oracle hvp_fn(x, v)")
        g = grad_fn(x)
        v = grad_fn(x + rho * g) if form == "A" else g
        return x - alpha * (v + rho * hvp_fn(x, v)), state

    return UpdateMap(hessian_usam.optimizer_name, {"alpha": alpha, "rho": rho, "form": form},
                     lambda x: EmptyState(), update)


class AdamState(NamedTuple):
    m: Any     # first-moment average
    v: Any     # second-moment average
    step: int  # t, the number of updates made


ADAM_NO_FILTER = (
    "its second moment v averages squared gradients, so v tends to 0 at a critical point, "
    "where the step m/(sqrt(v) + eps) is not continuously differentiable (with eps = 0 it is "
    "undefined); its bias corrections also change with the step number, so it is not one "
    "fixed map, and Theorem 2.1 needs a C^1 map at the limit. A filter applies when the "
    "preconditioner is frozen: with v held at one constant c > 0 in every coordinate and no "
    "bias correction, the map is heavy ball with step alpha (1 - beta1)/(sqrt(c) + eps) and "
    "momentum beta1 (the frozen-adam example of examples/optimizers.py); a frozen v that "
    "differs between coordinates gives a filter for the eigenvalues of D^(1/2) H D^(1/2), "
    "D = diag(1/(sqrt(v) + eps)), not of H")


@optimizer("adam", (ALPHA, BETA1, BETA2, EPS), "Adam (Kingma and Ba)", filter=False,
           no_filter=ADAM_NO_FILTER)
def adam(alpha: Any, beta1: Any, beta2: Any, eps: Any) -> UpdateMap:
    r"""Adam (Kingma and Ba, Algorithm 1): :math:`m_t = \beta_1 m_{t-1} + (1 - \beta_1) g_t`,
    :math:`v_t = \beta_2 v_{t-1} + (1 - \beta_2) g_t^2`, :math:`\hat m_t = m_t/(1 - \beta_1^t)`,
    :math:`\hat v_t = v_t/(1 - \beta_2^t)`,
    :math:`x_t = x_{t-1} - \alpha \hat m_t/(\sqrt{\hat v_t} + \epsilon)` (element-wise; the
    steps of ``torch.optim.Adam``)."""
    def update(x, state, grad_fn, **_):
        g = grad_fn(x)
        t = state.step + 1
        m = beta1 * state.m + (1 - beta1) * g
        v = beta2 * state.v + (1 - beta2) * hadamard(g, g)
        m_hat = m * (1 / (1 - beta1**t))
        v_hat = v * (1 / (1 - beta2**t))
        denominator = elementwise_sqrt(v_hat) + eps * ones_like(x)
        return x - alpha * elementwise_divide(m_hat, denominator), AdamState(m, v, t)

    return UpdateMap(adam.optimizer_name, {"alpha": alpha, "beta1": beta1, "beta2": beta2,
                                           "eps": eps},
                     lambda x: AdamState(0 * x, 0 * x, 0), update)


def _sphere_sample(x: Any, key: Any) -> Any:
    """A uniform direction on the unit sphere, in the namespace of x."""
    if _kind(x) == "torch":
        import torch

        g = torch.randn(x.shape, generator=key, dtype=x.dtype, device="cpu").to(x.device)
        return g / torch.linalg.vector_norm(g)
    g = key.standard_normal(x.shape)
    return g / __import__("numpy").linalg.norm(g)


def _new_key(x: Any, seed: int) -> Any:
    if _kind(x) == "torch":
        import torch

        return torch.Generator().manual_seed(seed)
    import numpy as np

    return np.random.default_rng(seed)


@optimizer("randomly-smoothed", (ETA, ETA_PRIME, RHO, EPS0),
           "Ahn et al. Algorithm 1 (randomly smoothed perturbation)", filter=False,
           options=("seed",),
           no_filter="it is a random map that switches on ||grad f|| <= eps0, so it is not "
                     "differentiable at a critical point; without the perturbation (eta_prime "
                     "= 0) it is gd with step eta")
def randomly_smoothed(eta: Any, eta_prime: Any, rho: Any, eps0: Any, seed: int = 0
                      ) -> UpdateMap:
    r"""Ahn, Jadbabaie, Sra, Algorithm 1 (randomly smoothed perturbation).

    If :math:`\|\nabla f(x)\| \le \epsilon_0`: :math:`g \sim \mathrm{Unif}(S^{d-1})`,
    :math:`v = \mathrm{Proj}^\perp_{\nabla f(x)}\nabla f(x + \rho g)` and
    :math:`x^+ = x - \eta\nabla f(x) - \eta' v`; otherwise a plain gradient step (the else
    branch is a reconstruction [I]).
    """
    def update(x, state, grad_fn, **_):
        g = grad_fn(x)
        if float(norm(g)) > float(eps0):
            return x - eta * g, PerturbationState(state.key, state.step + 1)
        u = _sphere_sample(x, state.key)
        v = project_out(grad_fn(x + rho * u), g)
        return x - eta * g - eta_prime * v, PerturbationState(state.key, state.step + 1)

    return UpdateMap(randomly_smoothed.optimizer_name, {"eta": eta, "eta_prime": eta_prime, "rho": rho,
                                           "eps0": eps0},
                     lambda x: PerturbationState(_new_key(x, seed), 0), update)


@optimizer("sharpness-aware-perturbation", (ETA, ETA_PRIME, RHO, EPS0, COMPONENTS),
           "Ahn et al. Algorithm 2 (sharpness-aware perturbation)", filter=False,
           oracles=("component_grad_fn",), options=("seed", "full_batch_outer"),
           no_filter="it is a random map with a normalized perturbation and a switch on "
                     "||grad f|| <= eps0, so it is not differentiable at a critical point; "
                     "without the perturbation (eta_prime = 0) it is gd with step eta")
def sharpness_aware_perturbation(eta: Any, eta_prime: Any, rho: Any, eps0: Any, n: int,
                                 seed: int = 0, full_batch_outer: bool = False) -> UpdateMap:
    r"""Ahn, Jadbabaie, Sra, Algorithm 2 (sharpness-aware perturbation).

    If :math:`\|\nabla f(x)\| \le \epsilon_0`: :math:`i \sim \mathrm{Unif}[n]`,
    :math:`\sigma \sim \mathrm{Unif}\{\pm 1\}`,
    :math:`v = \mathrm{Proj}^\perp_{\nabla f(x)}\nabla f_i(x + \rho\sigma\nabla f_i(x)/\|\nabla f_i(x)\|)`
    (``full_batch_outer``: :math:`\nabla f` outside, eq. 29), :math:`x^+ = x - \eta\nabla f(x) - \eta' v`.
    Needs the oracle ``component_grad_fn(x, i)`` for f_i. A zero component gradient is handled
    as in Remark 2: its direction is taken at x plus a small random vector.
    """
    def update(x, state, grad_fn, component_grad_fn=None, **_):
        if component_grad_fn is None:
            raise TypeError("sharpness_aware_perturbation needs component_grad_fn(x, i)")
        g = grad_fn(x)
        if float(norm(g)) > float(eps0):
            return x - eta * g, PerturbationState(state.key, state.step + 1)
        key = state.key
        if _kind(x) == "torch":
            import torch

            i = int(torch.randint(n, (1,), generator=key))
            sigma = 1.0 if int(torch.randint(2, (1,), generator=key)) else -1.0
        else:
            i = int(key.integers(n))
            sigma = 1.0 if key.integers(2) else -1.0
        gi = component_grad_fn(x, i)
        size = float(norm(gi))
        if size == 0.0:
            jitter = _sphere_sample(x, key) * float(eps0) ** 3
            gi = component_grad_fn(x + jitter, i)
            size = float(norm(gi))
        outer = grad_fn if full_batch_outer else (lambda y: component_grad_fn(y, i))
        v = project_out(outer(x + (rho * sigma / size) * gi), g)
        return x - eta * g - eta_prime * v, PerturbationState(key, state.step + 1)

    return UpdateMap(sharpness_aware_perturbation.optimizer_name,
                     {"eta": eta, "eta_prime": eta_prime, "rho": rho, "eps0": eps0, "n": n},
                     lambda x: PerturbationState(_new_key(x, seed), 0), update)


FILTER_METHODS = tuple(name for name, o in OPTIMIZERS.items() if o.filter)


def validate_hyper(value: Any, hyper: Hyper) -> None:
    """Raise ValueError unless ``value`` lies in ``hyper``'s range (exactly, for SymPy)."""
    try:
        v = value
        ok = {"positive": lambda: v > 0, "nonnegative": lambda: v >= 0,
              "unit-interval": lambda: (v >= 0) and (v < 1),
              "integer": lambda: int(v) == v and v >= 1}[hyper.check]()
        ok = bool(ok)
    except TypeError:  # a symbolic value: its range is the caller's assumption
        return
    if not ok:
        words = {"positive": "> 0", "nonnegative": ">= 0", "unit-interval": "in [0, 1)",
                 "integer": "a positive integer"}
        raise ValueError(f"{hyper.name} ({hyper.doc}) must be {words[hyper.check]}, "
                         f"got {value}")


def make(method: str, *, form: str = "A", validate: bool = True, **hyper: Any) -> UpdateMap:
    """The update map of a built-in optimizer by name, with checked hyperparameters.

    Missing, unexpected and out-of-range hyperparameters raise ValueError naming them; ``None``
    counts as not given. The factory's options (seeds, switches) pass through. A user's
    ``"file.py:name"`` is refused here (it would run the file in this process): see
    :func:`load_method` and :func:`build`.
    """
    if method not in OPTIMIZERS:
        if split_method(method) is not None:
            raise ValueError(f"{method!r} names an optimizer file: load it with "
                             "load_method() (it runs the file) and build() the map")
        raise ValueError(f"unknown method {method!r}; known: {list(OPTIMIZERS)}")
    return build(OPTIMIZERS[method], form=form, validate=validate, **hyper)


def build(declared: Optimizer, *, form: str = "A", validate: bool = True, **hyper: Any
          ) -> UpdateMap:
    """The update map of a declaration (built-in or from a user's file) with checked
    hyperparameters (see :func:`make`)."""
    method = declared.name
    given = {k: v for k, v in hyper.items() if v is not None}
    options = {k: given.pop(k) for k in list(given) if k in declared.options}
    names = [h.name for h in declared.hyper]
    for name in given:
        if name not in names:
            raise ValueError(f"method {method!r} takes no {name}")
    for h in declared.hyper:
        if h.name not in given:
            raise ValueError(f"method {method!r} needs {h.name}")
        if validate:
            validate_hyper(given[h.name], h)
    if declared.forms:
        if form not in declared.forms:
            raise ValueError(f"method {method!r}: form must be one of {declared.forms}, "
                             f"got {form!r}")
        return declared.factory(**given, **options, form=form)
    if form not in ("A", None):
        raise ValueError(f"method {method!r} has no variants (form {form!r})")
    return declared.factory(**given, **options)


# --------------------------------------------------------------------------------------------
# users' optimizer files
# --------------------------------------------------------------------------------------------

def split_method(method: str) -> tuple[str, str] | None:
    """``(path, name)`` for a user's method ``"file.py:name"``, None for a built-in name.

    Raises ValueError for a malformed one (no ``.py`` file, or no name after the colon)."""
    if ":" not in method:
        return None
    path, _, name = method.rpartition(":")
    if not path.endswith(".py") or not name.strip():
        raise ValueError(f"method {method!r}: a user's optimizer is written "
                         "'path/to/file.py:name' (the name it is declared with)")
    return path, name


def load_declarations(path: str) -> dict[str, Optimizer]:
    """Run a user's optimizer file **in this process** and return the optimizers it declares
    with :func:`declare`, by name (those it only imports are not its own).

    The file is the user's Python: sharpflat's deciders and kernel run this in a worker
    process with a time limit; the torch wrappers and the testing helpers run it in the
    user's own process, like any module the user imports."""
    import runpy

    run_name = "sharpflat_optimizers"
    namespace = runpy.run_path(str(path), run_name=run_name)
    found: dict[str, Optimizer] = {}
    for value in namespace.values():
        declared = getattr(value, "declaration", None)
        if isinstance(declared, Optimizer) and getattr(value, "__module__", "") == run_name:
            if declared.name in found and found[declared.name].factory is not value:
                raise ValueError(f"{path}: optimizer {declared.name!r} is declared twice")
            found[declared.name] = declared
    return found


def load_method(method: str) -> Optimizer:
    """The declaration of a built-in name, or of ``"file.py:name"`` (running the file in
    this process, see :func:`load_declarations`)."""
    if method in OPTIMIZERS:
        return OPTIMIZERS[method]
    spec = split_method(method)
    if spec is None:
        raise ValueError(f"unknown method {method!r}; known: {list(OPTIMIZERS)}, or "
                         "'file.py:name' for an optimizer declared in a file")
    path, name = spec
    declared = load_declarations(path)
    if name not in declared:
        raise ValueError(f"{path} declares no optimizer {name!r}; it declares "
                         f"{sorted(declared) or 'none'} (with numerics.updates.declare)")
    return declared[name]


def run(update_map: UpdateMap, x0: Any, grad_fn: Callable, steps: int, **oracles: Any
        ) -> tuple[Any, Any]:
    """Apply the map ``steps`` times from x0; returns (x, state)."""
    x, state = x0, update_map.init(x0)
    for _ in range(steps):
        x, state = update_map.update(x, state, grad_fn, **oracles)
    return x, state
