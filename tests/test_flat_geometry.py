"""theorems.flat_geometry: conserved quantities and linear symmetries (the part built so far)."""

import sympy as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from theorems import flat_geometry as G
from verify import registry
from verify.verdict import Claim, Status


def test_conserved_quantity_proved_and_refuted_with_an_exact_witness():
    f, vs, X, Y = G.matrix_factorization(2, 2, 1)
    q = sp.expand((X.T * X - Y.T * Y)[0, 0])
    assert G.decide_conserved_quantity(f, q, vs).status is Status.PROVED
    bad = G.decide_conserved_quantity(f, sp.expand((X.T * X + Y.T * Y)[0, 0]), vs)
    assert bad.status is Status.REFUTED
    point = dict(zip(vs, bad.counterexample["point"]))
    product = G.gradient(sp.expand((X.T * X + Y.T * Y)[0, 0]), vs).dot(G.gradient(f, vs))
    assert product.subs(point) == bad.counterexample["product"] != 0


@settings(max_examples=6, deadline=None)
@given(st.integers(1, 3), st.integers(1, 3), st.integers(1, 2))
def test_discovery_reproduces_the_balancedness_of_matrix_factorization(m, n, k):
    f, vs, X, Y = G.matrix_factorization(m, n, k)
    found = G.quadratic_conserved_quantities(f, vs)
    C = X.T * X - Y.T * Y
    expected = [sp.expand(C[i, j]) for i in range(k) for j in range(i, k)]
    assert G._same_span(found, expected, vs)


def test_every_symmetry_generator_leaves_f_invariant_to_first_order():
    x, y, z = sp.symbols("x y z", real=True)
    f = (x * y - 1) ** 2 + z ** 2
    gens = G.linear_symmetries(f, (x, y, z))
    assert gens
    v = sp.Matrix([x, y, z])
    for A in gens:
        assert sp.expand(G.gradient(f, (x, y, z)).dot(A * v)) == 0


def test_the_unbuilt_kinds_of_the_module_say_so():
    v = registry.decide(Claim("max-variation", {}, id="m"))
    assert v.status is Status.ERROR
