"""Hypothesis strategies for users' property tests (hypothesis is imported on use).

* :func:`known_sharp_functions` draws functions whose sharpness modulus is known by
  construction: random convex polyhedral + quadratic functions (modulus = in-radius of the
  polytope), their nonconvex capped and dipped variants, and 1-D piecewise functions.
* :func:`moduli_near` draws claimed moduli just below / at / just above the true one, with the
  truth of the claim attached.
"""

from __future__ import annotations

from typing import Any


def known_sharp_functions(dims: tuple[int, ...] = (1, 2),
                          tails: tuple[str, ...] = ("square", "capped", "dip")) -> Any:
    """Strategy of :class:`theorems.sharp.KnownSharp` instances."""
    import numpy as np
    from hypothesis import strategies as st

    from theorems import sharp

    @st.composite
    def draw(draw_fn: Any) -> Any:
        seed = draw_fn(st.integers(0, 2**32 - 1))
        rng = np.random.default_rng(seed)
        dim = draw_fn(st.sampled_from(dims))
        if dim == 1:
            return sharp.random_piecewise_1d(rng, nonconvex=draw_fn(st.booleans()))
        return sharp.random_polytope_function(rng, dim, draw_fn(st.sampled_from(tails)))

    return draw()


def moduli_near(known: Any, norm: str = "2", rel: float = 1e-3) -> Any:
    """Strategy of (claimed modulus, whether the sharp-minimizer claim is true)."""
    import sympy as sp
    from hypothesis import strategies as st

    alpha = known.modulus[norm]
    step = sp.Rational(rel).limit_denominator(10**6)
    return st.sampled_from([(alpha * (1 - step), True), (alpha, True),
                            (alpha * (1 + step), False)])
