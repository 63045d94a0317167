"""A model file for `sharpflat certify-model` (the convention: define model, loss_fn, data).

A 64-16-10 tanh MLP fitted to 200 scikit-learn digits (half the mean squared error, float64),
trained by L-BFGS to a near-critical point. The certificate then says whether gradient descent
with a given step size could be linearly stable at this point (its eigenvalue filter [0, 2/alpha]):

    sharpflat certify-model examples/digits_model.py --optimizer gd --alpha 0.05   # certified
    sharpflat certify-model examples/digits_model.py --optimizer gd --alpha 0.5    # refuted
"""

import torch

from numerics import models

name = "digits-mlp"
inputs, targets = models.digits(200)
model = models.mlp((64, 16, 10), seed=0)
loss_fn = models.half_mse
data = (inputs, targets)

optimizer = torch.optim.LBFGS(model.parameters(), lr=1.0, max_iter=3000, tolerance_grad=1e-9,
                              tolerance_change=0.0, history_size=50,
                              line_search_fn="strong_wolfe")


def closure():
    optimizer.zero_grad()
    loss = loss_fn(model(inputs), targets)
    loss.backward()
    return loss


optimizer.step(closure)
