"""A network file (defines ``model``): |x| = relu(x) + relu(-x), Linear(1, 2) -> ReLU ->
Linear(2, 1). Its Lipschitz constant is 1 (|f(x) - f(y)| = ||x| - |y|| <= |x - y|, with
equality for x, y of the same sign). Used by examples/networks.toml."""

import torch
from torch import nn

model = nn.Sequential(nn.Linear(1, 2), nn.ReLU(), nn.Linear(2, 1)).double()
with torch.no_grad():
    model[0].weight.copy_(torch.tensor([[1.0], [-1.0]], dtype=torch.float64))
    model[0].bias.zero_()
    model[2].weight.copy_(torch.tensor([[1.0, 1.0]], dtype=torch.float64))
    model[2].bias.zero_()
