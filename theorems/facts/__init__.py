"""Exact facts as claims: the small claim kinds whose fields *are* the fact.

The instances of the papers' checks (an identity, the sign of a constant, a statement for all
real points, a limit, two spans) are claims of these kinds, so the kernel re-derives each
instance's obligation from its claim as it does for users' claims
(:mod:`verify.kernel.facts`). They are claim kinds like the others: usable from TOML files and
Python (``sharpflat kinds``).

* :mod:`~theorems.facts.kinds`: the kinds, their constructors and their deciders.
"""
