"""The claim kind of network Lipschitz constants, declared once: ``network-lipschitz``."""

from __future__ import annotations

from typing import Any

from verify.errors import InvalidClaim
from verify.registry import Field, claim_kind, constructor, lazy_import
from verify.verdict import Claim, Verdict

PAPER = ("Fazlyab, Robey, Hassani, Morari, Pappas 2019 (Efficient and Accurate Estimation of "
         "Lipschitz Constants for Deep Neural Networks)")
#: the kind's name, written once
NETWORK_LIPSCHITZ = "network-lipschitz"
mathematics = lazy_import("theorems.networks.mathematics")

NETWORK_DOC = ("a Python file defining `model`, a torch.nn.Sequential of Linear, Conv2d, "
               "AvgPool2d, Flatten, residual blocks (numerics.models.Residual) and "
               "slope-restricted activations (ReLU, LeakyReLU, ReLU6, Hardtanh, Tanh, Sigmoid, "
               "GELU, SiLU); relative to the claims file")
SHA_DOC = ("SHA-256 of the canonical JSON of the network's exact layers; written into the claim "
           "when it is decided (give it to pin the file: a changed file is an error)")
NORM_DOC = ("the norm on inputs and outputs: '2' (the whole ladder: products, ECLipsE-Fast, "
            "LipSDP), '1' or 'inf' (certified by the product of absolute weight matrices only)")
SHAPE_DOC = ("(C, H, W) of the input when the network starts with a convolution or pooling "
             "(else the file's `input_shape`)")
TIME_DOC = ("seconds after which the ladder starts no new rung (the verdict is then "
            "inconclusive with the bracket found so far); keep it below the run's --timeout")


def _validate(params: dict[str, Any]) -> None:
    shape = params.get("input_shape")
    if shape is not None:
        if len(shape) != 3 or any(not (v.is_Integer and v > 0) for v in shape):
            raise InvalidClaim(f"input_shape: three positive integers (C, H, W), got "
                               f"{list(shape)}")


@claim_kind(NETWORK_LIPSCHITZ, paper=PAPER,
            statement="||f(x) - f(y)||_p <= at_most * ||x - y||_p for all x, y (p the norm), "
                      "f the network of the file with its exact weights",
            fields=(Field("network", "path", NETWORK_DOC, required=True),
                    Field("at_most", "number", "the claimed Lipschitz bound", required=True,
                          check="positive"),
                    Field("norm", "norm", NORM_DOC, default="2"),
                    Field("input_shape", "numbers", SHAPE_DOC),
                    Field("time_limit", "number", TIME_DOC, check="positive"),
                    Field("network_sha256", "string", SHA_DOC)),
            validate=_validate)
def decide_network_lipschitz(claim: Claim, *, seed: int = 0, budget: int | None = None
                             ) -> Verdict:
    return mathematics.decide_claim(claim, seed=seed)


network_lipschitz = constructor(NETWORK_LIPSCHITZ, positional=("network", "at_most"),
                                doc="Claim: the network of the file ``network`` is Lipschitz "
                                "with constant ``at_most`` in the given norm (2 by default).")
