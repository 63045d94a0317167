"""A network file for a `network-lipschitz` claim (the convention: define ``model``).

A 64-32-32-10 ReLU MLP (float32) fitted to the 1797 scikit-learn digits (inputs in [0, 1],
cross-entropy) by 150 full-batch Adam steps from ``torch.manual_seed(0)``, on one thread so the
float32 sums are taken in a fixed order (``numerics.models.digits_classifier``); about a second
of CPU. Nothing is printed on import. The claims are in ``examples/digits_lipschitz.toml``:

    [[claim]]
    id = "digits-mlp-lipschitz"
    kind = "network-lipschitz"
    network = "lipschitz_mlp.py"
    at_most = 77

On the machine it was written on: LipSDP certifies L_2 <= 76.274 (solve: 3 s with CVXOPT, 60 s
with Clarabel; exact check of the 128-row matrix: about 1.5 s), the product of the layer norms
is 87.29, and sampling finds a pair with quotient 70.74 (so at_most = 70 is refuted);
benchmarks/lipschitz.py measures them again.
"""

from numerics import models

name = "digits-mlp-relu"
model = models.digits_classifier((64, 32, 32, 10), steps=150, seed=0)
