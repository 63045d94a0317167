"""A network file for a `network-lipschitz` claim (the convention: define ``model``).

A 64-32-32-10 ReLU MLP (float32) fitted to the 1797 scikit-learn digits (inputs in [0, 1],
cross-entropy) by 150 full-batch Adam steps from ``torch.manual_seed(0)``, on one thread so the
float32 sums are taken in a fixed order; about a second of CPU. Nothing is printed on import.

Its 2-norm Lipschitz constant is bounded by LipSDP (``numerics.lipschitz.lipsdp``), with the
matrix checked exactly; a claim of the future kind would read

    [[claim]]
    id = "digits-mlp-lipschitz"
    kind = "network-lipschitz"
    network = "examples/lipschitz_mlp.py"
    at_most = 77
    norm = "2"

On the machine it was written on: LipSDP certifies L_2 <= 76.274 (solve: 3 s with CVXOPT, 60 s
with Clarabel; exact check of the 128-row matrix: about 1.5 s), the product of the layer norms
is 87.29, and sampling finds a pair with quotient 70.74 (so at_most = 70 is refuted);
benchmarks/lipschitz.py measures them again.
"""

import torch
from torch import nn

from numerics import models

name = "digits-mlp-relu"


def _train() -> nn.Sequential:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        torch.manual_seed(0)
        inputs, targets = models.digits(dtype=torch.float32)
        labels = targets.argmax(dim=1)
        net = nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 32), nn.ReLU(),
                            nn.Linear(32, 10))
        opt = torch.optim.Adam(net.parameters(), lr=1e-2)
        loss_fn = nn.CrossEntropyLoss()
        for _ in range(150):
            opt.zero_grad()
            loss_fn(net(inputs), labels).backward()
            opt.step()
        return net.eval()
    finally:
        torch.set_num_threads(threads)


model = _train()
