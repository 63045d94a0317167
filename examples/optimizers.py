"""Optimizers of one's own, declared as sharpflat's built-ins are (numerics/updates.py).

Each factory takes its hyperparameters and returns an ``UpdateMap``: ``init(x) -> state`` and
``update(x, state, grad_fn, **oracles) -> (x, state)``, written with ``+``, ``-``, scalar
multiples and the helpers of ``numerics.updates``, so that the same code runs on SymPy
matrices (sharpflat derives the eigenvalue filter from it), NumPy arrays and torch tensors.
Name one in a claim or on the command line as ``"examples/optimizers.py:penalty-sam"``:

    sharpflat filters examples/optimizers.py:penalty-sam usam --alpha 0.1 --rho 0.05
"""

from typing import NamedTuple

from numerics.updates import ALPHA, BETA, EmptyState, Hyper, UpdateMap, declare, scalar_sqrt

RHO = Hyper("rho", "penalty weight", "nonnegative")
C = Hyper("c", "preconditioner scale (about 1/lambda_max)", "positive")
K = Hyper("k", "inner steps between two synchronizations", "integer")
TAU = Hyper("tau", "slow step (the share of the inner progress kept)", "positive")
V = Hyper("v", "the frozen second moment (one constant for every coordinate)", "positive")
EPS = Hyper("eps", "added to sqrt(v)", "nonnegative")


@declare("penalty-sam", (ALPHA, RHO), "GD on f + (rho/2)||grad f||^2 (Penalty SAM)",
         oracles=("hvp_fn",))
def penalty_sam(alpha, rho):
    """Penalty SAM: gradient descent on the penalized loss f + (rho/2)||grad f||^2, whose
    gradient is grad f + rho Hess f grad f (one Hessian-vector product a step)."""
    def update(x, state, grad_fn, hvp_fn=None, **_):
        g = grad_fn(x)
        return x - alpha * (g + rho * hvp_fn(x, g)), state

    return UpdateMap("penalty-sam", {"alpha": alpha, "rho": rho}, lambda x: EmptyState(),
                     update)


@declare("preconditioned-gd", (ALPHA, C),
         "GD preconditioned by the Neumann polynomial c(2I - cH), an approximation of H^-1",
         oracles=("hvp_fn",))
def preconditioned_gd(alpha, c):
    """x+ = x - alpha P g with P = c(2I - cH), the first two terms of the Neumann series of
    H^-1 = c sum_j (I - cH)^j. P is a polynomial in H, so it commutes with H and the map acts
    on each eigenvector of H alone: its filter is a set of eigenvalues of H."""
    def update(x, state, grad_fn, hvp_fn=None, **_):
        g = grad_fn(x)
        return x - alpha * c * (2 * g - c * hvp_fn(x, g)), state

    return UpdateMap("preconditioned-gd", {"alpha": alpha, "c": c}, lambda x: EmptyState(),
                     update)


@declare("lookahead", (ALPHA, K, TAU), "Lookahead over k inner GD steps (Zhang et al. 2019)")
def lookahead(alpha, k, tau):
    """Lookahead: k inner steps of GD with step alpha from the slow weights x, then
    x+ = x + tau (x_k - x). One update is one synchronization (k gradient evaluations)."""
    def update(x, state, grad_fn, **_):
        fast = x
        for _ in range(int(k)):
            fast = fast - alpha * grad_fn(fast)
        return x + tau * (fast - x), state

    return UpdateMap("lookahead", {"alpha": alpha, "k": k, "tau": tau},
                     lambda x: EmptyState(), update)


class MomentState(NamedTuple):
    m: object  # the first-moment average


@declare("frozen-adam", (ALPHA, BETA, V, EPS),
         "Adam's step with its second moment frozen at one constant v (no bias correction)")
def frozen_adam(alpha, beta, v, eps):
    """m+ = beta m + (1 - beta) g, x+ = x - alpha m+ / (sqrt(v) + eps): Adam with its
    preconditioner frozen, the condition under which Adam's map has an eigenvalue filter
    (``sharpflat filters adam`` says why Adam itself has none)."""
    def update(x, state, grad_fn, **_):
        m = beta * state.m + (1 - beta) * grad_fn(x)
        return x - (alpha / (scalar_sqrt(v) + eps)) * m, MomentState(m)

    return UpdateMap("frozen-adam", {"alpha": alpha, "beta": beta, "v": v, "eps": eps},
                     lambda x: MomentState(0 * x), update)
