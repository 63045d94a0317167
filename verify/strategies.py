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


def filter_hyperparameters(method: str) -> Any:
    """Strategy of exact hyperparameters for a filter method: the ones its declaration in
    :data:`numerics.updates.OPTIMIZERS` names (alpha, and beta/rho as needed)."""
    import sympy as sp
    from hypothesis import strategies as st

    def rational(lo: int, hi: int, den: int) -> Any:
        return st.integers(lo, hi).map(lambda k: sp.Rational(k, den))

    from numerics.updates import OPTIMIZERS

    ranges = {"alpha": rational(1, 50, 100), "beta": rational(0, 95, 100),
              "rho": rational(1, 40, 100)}
    return st.fixed_dictionaries({h.name: ranges[h.name] for h in OPTIMIZERS[method].hyper})


def quadratic_spectra(S: Any, *, dim: tuple[int, int] = (1, 4), margin: float = 0.3,
                      span: float = 60.0, inside: bool | None = None) -> Any:
    """Strategy of eigenvalue lists classified against a filter set ``S`` (a SymPy set).

    Each eigenvalue is 0, or lies at distance >= ``margin`` inside or outside ``S``. Returns
    (eigenvalues, all_inside). With ``inside=True`` (False) only stable (unstable) spectra.
    Negative and zero eigenvalues are included.
    """
    import sympy as sp
    from hypothesis import strategies as st

    def classify(lam: float) -> str | None:
        window = sp.Interval(sp.Rational(lam) - sp.Rational(margin),
                             sp.Rational(lam) + sp.Rational(margin))
        if window.is_subset(S):
            return "in"
        if sp.Intersection(window, S) == sp.S.EmptySet:
            return "out"
        return None

    values = st.one_of(st.just(0.0), st.floats(-span, span).map(lambda v: round(v, 3)))
    labelled = values.map(lambda v: (v, "in" if v == 0.0 and S.contains(0) == sp.true
                                     else classify(v))).filter(lambda p: p[1] is not None)

    @st.composite
    def draw(draw_fn: Any) -> Any:
        n = draw_fn(st.integers(*dim))
        pairs = draw_fn(st.lists(labelled, min_size=n, max_size=n))
        all_in = all(label == "in" for _, label in pairs)
        if inside is not None and all_in != inside:
            from hypothesis import assume

            assume(False)
        return [v for v, _ in pairs], all_in

    return draw()
