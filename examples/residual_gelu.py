"""A network file with a residual block and GELU (the convention: define ``model``).

x -> Linear(4, 8) -> SiLU -> x + Linear(8, 8)(GELU(Linear(8, 8) x)) -> Linear(8, 2), float32,
PyTorch's default initialization from ``torch.manual_seed(0)``. The claims are in
``examples/networks.toml`` (a 2-norm and an inf-norm bound).
"""

import torch
from torch import nn

from numerics.models import Residual

torch.manual_seed(0)
name = "residual-gelu"
model = nn.Sequential(nn.Linear(4, 8), nn.SiLU(),
                      Residual(nn.Sequential(nn.Linear(8, 8), nn.GELU(), nn.Linear(8, 8))),
                      nn.Linear(8, 2))
