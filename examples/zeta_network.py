"""A network file (defines ``model``): a small tanh network R^2 -> R with fixed dyadic weights,
the perturbation zeta of the ``lipschitz-stable`` claim in examples/networks.toml.

zeta(x) = W2 tanh(W1 x + b1) + b2. The naive bound is ||W1||_2 ||W2||_2 = sqrt(13/16) * 3/4
~ 0.676 (W1^T W1 = [[9/16, -1/4], [-1/4, 9/16]] has eigenvalues 13/16 and 5/16; ||W2||^2 =
9/16). The Jacobian is W2 D W1 with D = diag(tanh') in [0, 1]^3, and the norm is convex in D,
so Lip(zeta) <= max over the 8 vertices D of ||W2 D W1|| = ||(1/8, -3/8)|| = sqrt(10)/8 ~
0.3953 (D = diag(1, 1, 0)); LipSDP certifies that value."""

import torch
from torch import nn

model = nn.Sequential(nn.Linear(2, 3), nn.Tanh(), nn.Linear(3, 1)).double()
with torch.no_grad():
    model[0].weight.copy_(torch.tensor([[0.5, -0.25], [0.25, 0.5], [-0.5, 0.5]],
                                       dtype=torch.float64))
    model[0].bias.copy_(torch.tensor([0.125, -0.25, 0.0], dtype=torch.float64))
    model[2].weight.copy_(torch.tensor([[0.5, -0.5, 0.25]], dtype=torch.float64))
    model[2].bias.copy_(torch.tensor([0.125], dtype=torch.float64))
