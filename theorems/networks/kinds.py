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

NETWORK_DOC = ("a Python file defining `model`, a torch.nn.Sequential of Linear layers and "
               "slope-restricted activations (ReLU, LeakyReLU, ReLU6, Hardtanh, Tanh, Sigmoid); "
               "relative to the claims file")
SHA_DOC = ("SHA-256 of the canonical JSON of the network's exact layers; written into the claim "
           "when it is decided (give it to pin the file: a changed file is an error)")


def norm_refusal(norm: str) -> str:
    return (f"norm {norm!r}: network-lipschitz certifies the 2-norm Lipschitz constant only "
            "(LipSDP bounds ||f(x) - f(y)||_2 / ||x - y||_2); the 1- and inf-norm constants "
            "are not supported")


def _validate(params: dict[str, Any]) -> None:
    if params.get("norm", "2") != "2":
        raise InvalidClaim(norm_refusal(params["norm"]))


@claim_kind(NETWORK_LIPSCHITZ, paper=PAPER,
            statement="||f(x) - f(y)||_2 <= at_most * ||x - y||_2 for all x, y, f the network "
                      "of the file with its exact weights",
            fields=(Field("network", "path", NETWORK_DOC, required=True),
                    Field("at_most", "number", "the claimed Lipschitz bound", required=True,
                          check="positive"),
                    Field("norm", "norm", "'2' only; other norms are refused", default="2"),
                    Field("network_sha256", "string", SHA_DOC)),
            validate=_validate)
def decide_network_lipschitz(claim: Claim, *, seed: int = 0, budget: int | None = None
                             ) -> Verdict:
    return mathematics.decide_claim(claim, seed=seed)


network_lipschitz = constructor(NETWORK_LIPSCHITZ, positional=("network", "at_most"),
                                doc="Claim: the network of the file ``network`` is Lipschitz "
                                "with constant ``at_most`` in the 2-norm.")
