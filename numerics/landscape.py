"""Filter-normalized loss landscapes around the weights (Li, Xu, Taylor, Studer, Goldstein 2018,
"Visualizing the Loss Landscape of Neural Nets", Section 4).

A random Gaussian direction d, the shape of the parameters, is rescaled filter by filter:
d_ij <- d_ij / ||d_ij|| * ||theta_ij||, where the filters of a parameter of two or more
dimensions are its slices along the first axis (the output channels of a convolution, the
neurons, i.e. rows, of a linear layer). One-dimensional parameters (biases, normalization
scales) get a zero direction, as in the authors' code (``ignore='biasbn'``); ``biases=True``
gives them theta's own norm instead. The plots are L(theta + a d) for a in [-span, span]
(1-D) and L(theta + a d1 + b d2) on a grid (2-D), with two independent directions; in high
dimension two such directions are nearly orthogonal (their cosine is reported).

Functions here take a curvature operator of :mod:`numerics.curvature` (its model, data and
parameters) and return plain arrays.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from numerics.curvature import CurvatureError, HessianOperator

Tensor = torch.Tensor


def filter_normalized_direction(op: HessianOperator, seed: int = 0, *,
                                biases: bool = False) -> Tensor:
    """A random direction (flat, the operator's dtype and device) normalized filter-wise to the
    parameters (see the module docstring)."""
    gen = torch.Generator(device="cpu").manual_seed(seed)
    parts = []
    for name in op.names:
        theta = op.params[name]
        d = torch.randn(theta.shape, generator=gen, dtype=torch.float64)
        t = theta.detach().to("cpu", torch.float64)
        if theta.dim() <= 1:
            d = d / max(float(d.norm()), 1e-300) * float(t.norm()) if biases else \
                torch.zeros_like(d)
        else:
            dn = d.reshape(d.shape[0], -1).norm(dim=1).clamp_min(1e-300)
            tn = t.reshape(t.shape[0], -1).norm(dim=1)
            d = d * (tn / dn).reshape(-1, *([1] * (d.dim() - 1)))
        parts.append(d.reshape(-1))
    return torch.cat(parts).to(device=op.device, dtype=op.dtype)


@dataclass
class Landscape1D:
    """L(theta + a d) at the points ``alphas``; ``curvature`` = d^T H d / ||d||^2 (the
    Rayleigh quotient of the Hessian along d, from one product) and ``slope`` = grad L . d /
    ||d||, so that L(theta) + slope ||d|| a + curvature ||d||^2 a^2 / 2 is the quadratic
    model along the line."""

    alphas: list[float]
    losses: list[float]
    direction_norm: float
    curvature: float
    slope: float
    loss0: float
    seed: int

    def to_dict(self) -> dict[str, Any]:
        return dict(vars(self))


@dataclass
class Landscape2D:
    """L(theta + a d1 + b d2) on the grid ``alphas`` x ``betas`` (``losses[i][j]`` at
    a = alphas[j], b = betas[i]); ``cosine`` is the cosine between d1 and d2."""

    alphas: list[float]
    betas: list[float]
    losses: list[list[float]]
    norms: tuple[float, float]
    cosine: float
    loss0: float
    seed: int

    def to_dict(self) -> dict[str, Any]:
        return dict(vars(self))


def _grid(span: float, points: int) -> np.ndarray:
    if not (span > 0 and math.isfinite(span)):
        raise CurvatureError(f"span must be positive and finite, got {span}")
    if points < 3:
        raise CurvatureError(f"a landscape needs at least 3 points a side, got {points}")
    return np.linspace(-span, span, points)


def _finite(values: list[float]) -> list[float]:
    # a loss that overflows far from the weights is a fact of the landscape, not an error;
    # JSON has no inf, so it is clipped to the largest float
    return [v if math.isfinite(v) else float(np.finfo(float).max) for v in values]


def loss_along(op: HessianOperator, direction: Tensor, alphas: Any) -> list[float]:
    """L(theta + a direction) at each a of ``alphas`` (overflow clipped to the largest
    float)."""
    return _finite([op.loss_at(float(a) * direction) for a in alphas])


def landscape_1d(op: HessianOperator, *, span: float = 1.0, points: int = 41, seed: int = 0,
                 biases: bool = False) -> Landscape1D:
    """The 1-D filter-normalized landscape (``points`` evaluations of the loss) and the
    curvature of the Hessian along its direction (one product with ``op``, which should be the
    Hessian for that number to be the Hessian's)."""
    d = filter_normalized_direction(op, seed, biases=biases)
    norm = float(d.norm())
    if norm == 0:
        raise CurvatureError("the filter-normalized direction is zero (all parameters are "
                             "zero or one-dimensional): use biases=True")
    alphas = _grid(span, points)
    losses = loss_along(op, d, alphas)
    u = d / norm
    curvature = float(u @ (op @ u))
    slope = float(op.gradient() @ u)
    return Landscape1D(alphas.tolist(), losses, norm, curvature, slope, op.loss_at(), seed)


def landscape_2d(op: HessianOperator, *, span: float = 1.0, points: int = 21, seed: int = 0,
                 biases: bool = False) -> Landscape2D:
    """The 2-D filter-normalized landscape on a ``points`` x ``points`` grid (two directions
    from seeds ``seed`` and ``seed + 1``)."""
    d1 = filter_normalized_direction(op, seed, biases=biases)
    d2 = filter_normalized_direction(op, seed + 1, biases=biases)
    n1, n2 = float(d1.norm()), float(d2.norm())
    if n1 == 0 or n2 == 0:
        raise CurvatureError("the filter-normalized direction is zero (all parameters are "
                             "zero or one-dimensional): use biases=True")
    grid = _grid(span, points)
    losses = [_finite([op.loss_at(float(a) * d1 + float(b) * d2) for a in grid]) for b in grid]
    return Landscape2D(grid.tolist(), grid.tolist(), losses, (n1, n2),
                       float(d1 @ d2) / (n1 * n2), op.loss_at(), seed)
