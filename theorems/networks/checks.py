"""LipSDP-Neuron (Fazlyab et al. 2019, Theorem 2) as a registered check.

Networks whose Lipschitz constant is known in closed form are decided on both sides of it, as
``network-lipschitz`` claims (certified just above, refuted just below): a Linear layer W (the
constant is ||W||_2; for W = [[1, 2], [3, 4]], ||W||_2^2 = 15 + sqrt(221), the largest
eigenvalue of W^T W = [[10, 14], [14, 20]]); |x| = relu(x) + relu(-x) (constant 1); a scalar
w2 leaky_relu_a(w1 x) (constant |w1 w2| max(1, a), attained by two inputs on the side of
slope max(1, a)); a 1-channel 3x3 convolution with circular padding on 4 x 4 inputs (the
circular cross-correlation on the torus: its constant is the largest modulus of the kernel's
2-D DFT, |K^(u, v)|, w = i); x + a Q x with Q a permutation (constant 1 + a: Q is orthogonal
and fixes the all-ones vector); GELU on R (constant sup GELU' = (1 + erf 1) / 2 +
1 / (e sqrt pi), at sqrt 2). A digits MLP trained in the check is certified by LipSDP and
compared with the naive product of layer norms (Fazlyab et al.: LipSDP is never worse when
every slope interval starts at 0) and with the sampled lower bound.
"""

from __future__ import annotations

import math

from verify.registry import check, lazy_import
from verify.verdict import Instances, Status, Verdict

PAPER = ("Fazlyab, Robey, Hassani, Morari, Pappas 2019 (Efficient and Accurate Estimation of "
         "Lipschitz Constants for Deep Neural Networks)")
sp = lazy_import("sympy")
M = lazy_import("theorems.networks.mathematics")
L = lazy_import("numerics.lipschitz")
exact = lazy_import("theorems.exact")
#: relative distance of the claims on either side of a known constant
SIDE = "1/1000000"


def _net(weights: list, activation: object = None, bias: list | None = None) -> object:
    """A float64 Sequential of Linear layers with the given weights, ``activation`` between."""
    import torch
    from torch import nn

    mods: list = []
    for i, w in enumerate(weights):
        W = torch.tensor(w, dtype=torch.float64)
        lin = nn.Linear(W.shape[1], W.shape[0]).double()
        with torch.no_grad():
            lin.weight.copy_(W)
            lin.bias.copy_(torch.tensor(bias[i], dtype=torch.float64) if bias else
                           torch.zeros(W.shape[0], dtype=torch.float64))
        mods.append(lin)
        if i < len(weights) - 1:
            mods.append(activation())
    return nn.Sequential(*mods)


#: the kernel of the circular convolution case (exact binary fractions)
KERNEL3 = ((0.5, -1.0, 0.25), (2.0, 0.75, -0.5), (0.0, 1.5, -1.25))


def _circular_conv() -> tuple[object, object]:
    """(model, constant) of the 1-channel circular convolution on 4 x 4 inputs."""
    import torch
    from torch import nn

    conv = nn.Conv2d(1, 1, 3, padding=1, padding_mode="circular").double()
    with torch.no_grad():
        conv.weight.copy_(torch.tensor([[KERNEL3]], dtype=torch.float64))
        conv.bias.zero_()
    moduli = []
    for u in range(4):
        for v in range(4):
            z = sp.expand(sum(sp.Rational(KERNEL3[i][j]) * sp.I ** ((u * i + v * j) % 4)
                              for i in range(3) for j in range(3)))
            moduli.append(sp.sqrt(sp.re(z) ** 2 + sp.im(z) ** 2))
    return nn.Sequential(conv), max(moduli, key=float)


def known_networks() -> list[tuple[str, object, object, tuple | None]]:
    """(name, model, exact Lipschitz constant, input shape) of the closed-form cases."""
    from torch import nn

    from numerics.models import Residual

    def leaky(a: float):
        return lambda: nn.LeakyReLU(a)

    perm = _net([[[0.75 if j == (i + 1) % 4 else 0.0 for j in range(4)] for i in range(4)]])
    gelu_sup = sp.Rational(str(sp.N((1 + sp.erf(1)) / 2 + 1 / (sp.E * sp.sqrt(sp.pi)), 40)))
    conv, conv_constant = _circular_conv()
    return [("linear [[1, 2], [3, 4]]", _net([[[1.0, 2.0], [3.0, 4.0]]]),
             sp.sqrt(15 + sp.sqrt(221)), None),
            ("|x| = relu(x) + relu(-x)", _net([[[1.0], [-1.0]], [[1.0, 1.0]]], nn.ReLU),
             sp.Integer(1), None),
            ("-2 leaky_relu_0.5(3x)", _net([[[3.0]], [[-2.0]]], leaky(0.5)), sp.Integer(6),
             None),
            ("-2 leaky_relu_2(3x)", _net([[[3.0]], [[-2.0]]], leaky(2.0)), sp.Integer(12),
             None),
            ("circular 3x3 convolution on 4x4", conv, conv_constant, (1, 4, 4)),
            ("x + (3/4) Q x, Q a permutation", nn.Sequential(Residual(perm)),
             sp.Rational(7, 4), None),
            ("gelu(x)", _net([[[1.0]], [[1.0]]], nn.GELU), gelu_sup, None)]


def _round(x, *, up: bool, digits: int = 6):
    """x rounded up (or down) to ``digits`` significant decimal digits, exactly."""
    scale = sp.Integer(10) ** (digits - 1 - sp.floor(sp.log(x, 10)))
    return (sp.ceiling(x * scale) if up else sp.floor(x * scale)) / scale


def _decide(checks: Instances, net, at_most, want: Status, id: str, seed: int,
            upper=None) -> Verdict:
    claim = M.claim_for(net, at_most, id)
    return checks.claim(id, claim, want, seed=seed,
                        decide=lambda c: M.decide_lipschitz(net, at_most, claim=c.describe(),
                                                            seed=seed, upper=upper))


def _gram_lower(W, power: int):
    """A rational lower bound of ||W||_2^2 = lambda_max(G), G the smaller Gram matrix:
    tr(G^(power+1)) / tr(G^power) <= lambda_max (a weighted mean of the eigenvalues with
    weights lambda_i^power), exact, rounded down to 12 significant digits."""
    from fractions import Fraction

    G = W * W.transpose() if W.nrows() <= W.ncols() else W.transpose() * W
    P = G ** power
    PG = P * G
    n = G.nrows()
    num = sum((Fraction(int(PG[i, i].p), int(PG[i, i].q)) for i in range(n)), Fraction(0))
    den = sum((Fraction(int(P[i, i].p), int(P[i, i].q)) for i in range(n)), Fraction(0))
    if den == 0:
        return sp.Integer(0)
    value = num / den
    digits = 12 - len(str(value.numerator // value.denominator or 1))
    scale = Fraction(10) ** digits
    return sp.Rational(math.floor(value * scale), 1) / sp.Rational(scale)


def _no_worse_than_naive(checks: Instances, net, bound, label: str) -> None:
    """The exact instance "LipSDP is no worse than the naive bound" (Fazlyab et al., Sec. 2.2):
    bound^2 <= prod_k ||W_k||_2^2 * prod_k max(|alpha_k|, |beta_k|)^2, with each ||W_k||_2^2
    replaced by the exact lower bound of :func:`_gram_lower`; the power is the first of 8, 16,
    32, 64 at which the inequality holds (exact, so the claim is the same on every run)."""
    factor = sp.Integer(1)
    for layer in net.layers[:-1]:
        a, b = layer.slopes
        slope = max(abs(sp.Rational(int(a.p), int(a.q))), abs(sp.Rational(int(b.p), int(b.q))))
        factor *= slope ** 2
    for power in (8, 16, 32, 64):
        lows = [_gram_lower(layer.weight, power) for layer in net.layers]
        naive_low = factor * sp.prod(lows)
        if bound ** 2 <= naive_low:
            break
    else:
        checks.inconclusive(f"{label}: LipSDP <= naive", f"the bound {bound} is not below the "
                            f"exact lower bound sqrt({naive_low}) of the naive product (powers "
                            "up to 64)")
        return
    text = " * ".join(str(v) for v in ([factor] if factor != 1 else []) + lows)
    checks.claim(f"{label}: LipSDP bound {bound} <= naive product",
                 exact.signs_claim([(naive_low - bound ** 2, ">=")],
                                   id=f"{label}: ({bound})^2 <= {text}, the product of the "
                                      f"lower bounds tr G^{power + 1}/tr G^{power} of "
                                      "||W_k||_2^2 (and of the squared slopes)"))


@check("networks.lipschitz", paper=PAPER, statement="LipSDP-Neuron (Theorem 2)",
       summary="LipSDP certifies a digits MLP below the naive product and above a sampled pair; "
               "known constants (a Linear layer, |x|, LeakyReLU, a circular convolution, a "
               "residual block, GELU) certified just above, refuted just below",
       smoke={"hidden": 4, "steps": 5})
def lipschitz_constants(seed: int, hidden: int = 16, steps: int = 60) -> Verdict:
    checks = Instances("LipSDP-Neuron with an exact check; exact pairs")
    side = sp.Rational(SIDE)
    for name, model, constant, shape in known_networks():
        net = M.network_from_model(model, f"<{name}>", input_shape=shape)
        _decide(checks, net, constant * (1 + side), Status.CERTIFIED,
                f"{name}: L <= (1 + {SIDE}) * {constant}", seed)
        _decide(checks, net, constant * (1 - side), Status.REFUTED,
                f"{name}: L <= (1 - {SIDE}) * {constant}", seed)
    from numerics import models

    sizes = (64, hidden, 10)
    net = M.network_from_model(models.digits_classifier(sizes, steps=steps, seed=0),
                               f"<digits MLP {sizes}>")
    naive = L.naive_bound(net.layers)
    low = L.sampled_lower_bound(net.layers, seed=seed, samples=M.SAMPLES, steps=M.STEPS)
    up = M.lipsdp_bound(net)
    ev = {"digits_mlp": {"sizes": list(sizes), "adam_steps": steps, "rows": net.rows,
                         "naive": naive.bound_float, "lipsdp": up.bound_float,
                         "solver_value": up.lipsdp.solver_bound if up.lipsdp else None,
                         "sampled_lower": low.lower, "how": up.how, "notes": up.notes,
                         "solve_s": up.lipsdp.solve_seconds if up.lipsdp else None,
                         "check_s": up.lipsdp.check_seconds if up.lipsdp else None}}
    if up.bound is None:
        checks.inconclusive(f"digits MLP {sizes}: LipSDP", "no certified bound: "
                            + (up.too_large or "; ".join(up.notes)))
    else:
        top = _round(sp.Rational(int(up.bound.p), int(up.bound.q)), up=True)
        _decide(checks, net, top * (1 + side),
                Status.CERTIFIED, f"digits MLP {sizes}: L <= LipSDP bound", seed, upper=up)
        _no_worse_than_naive(checks, net, top * (1 + side), f"digits MLP {sizes}")
    # the decider's first search (no ascent, same seed) meets the same pair again
    quick = L.sampled_lower_bound(net.layers, seed=seed, samples=M.SAMPLES, steps=0)
    if quick.lower:
        below = _round(sp.Rational(quick.lower), up=False) * (1 - side)
        _decide(checks, net, below, Status.REFUTED,
                f"digits MLP {sizes}: L <= {float(below):.6g} (below a sampled pair)", seed)
    return checks.verdict(evidence=ev)
