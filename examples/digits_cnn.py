"""A network file with convolutions (the convention: define ``model``, and ``input_shape`` when
the network starts with a convolution).

A small CNN on the 8x8 scikit-learn digits (inputs of shape (1, 8, 8), values in [0, 1]):
Conv2d(1, 8, 3, padding=1) - ReLU - AvgPool2d(2) - Conv2d(8, 16, 3, padding=1) - ReLU -
AvgPool2d(2) - Flatten - Linear(64, 10), fitted by 100 full-batch Adam steps from
``torch.manual_seed(0)`` on one thread (``numerics.models.digits_cnn``); a few seconds of CPU.
The claims are in ``examples/digits_cnn.toml``; ``benchmarks/lipschitz.py`` measures the ladder
on it.
"""

from numerics import models

name = "digits-cnn"
input_shape = (1, 8, 8)
model = models.digits_cnn(steps=100, seed=0)
