"""Lipschitz constants of feed-forward networks (LipSDP, Fazlyab et al. 2019), as claims.

Source: M. Fazlyab, A. Robey, H. Hassani, M. Morari, G. J. Pappas, *Efficient and Accurate
Estimation of Lipschitz Constants for Deep Neural Networks*, NeurIPS 2019; the per-layer
multipliers of ECLipsE-Fast (Y. Xu, S. Sivaranjani, NeurIPS 2024). The numerics (layers, the
SDP, the candidates of the ladder, the sampled bounds) are :mod:`numerics.lipschitz` and
:mod:`numerics.lipschitz_ladder`; this package turns them into certificates and verdicts. It is paper-neutral otherwise: the Lipschitz stability of
Dominguez Corella's sharp minimizers under a network perturbation composes with it
(:mod:`theorems.sharp.perturbation`).

* :mod:`~theorems.networks.mathematics`: network files, the decider, brackets, refuting pairs;
* :mod:`~theorems.networks.ladder`: the rungs of certified upper bounds, cheapest first;
* :mod:`~theorems.networks.kinds`: the claim kind ``network-lipschitz``;
* :mod:`~theorems.networks.checks`: the registered check (known constants, a digits MLP).
"""

from __future__ import annotations

from theorems import lazy_exports

__getattr__, __all__ = lazy_exports("theorems.networks", {
    "mathematics": ("Network", "decide_lipschitz", "load_network", "lipsdp_bound",
                    "network_from_model", "network_from_data", "claim_for"),
    "ladder": ("Ladder", "all_rungs"),
    "kinds": ("network_lipschitz", "PAPER"),
})
