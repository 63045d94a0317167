"""Is Penalty SAM the same as Hessian USAM? A reviewer said so; sharpflat checks it.

Penalty SAM (examples/optimizers.py:penalty-sam) is gradient descent on f + (rho/2)||grad f||^2:
x+ = x - alpha (grad f + rho Hess f grad f). Hessian USAM has two reconstructed forms in
sharpflat (numerics/updates.py): A, x+ = x - alpha (I + rho Hess f) grad f(x + rho grad f), the
exact gradient of f(x + rho grad f(x)); and B, the gradient penalty. Findings (alpha = 1/10,
rho = 1/20; run `python examples/penalty_sam.py`):

* Penalty SAM and Hessian USAM (B) are the same map: the two updates are the same expression of
  the oracle values, so they agree for every f; their filters are equal (proved below).
* Penalty SAM and Hessian USAM (A) are different maps (their updates differ on a cubic) with
  different linearizations, and Penalty SAM's filter is strictly larger: it admits
  [-32.36, -20) and (9.311, 12.36], which Hessian USAM (A) excludes (refuted with a witness).
* Penalty SAM and USAM are different maps (they differ on a cubic) with the same linearization
  at every critical point, so the same filter: on a quadratic grad f(x + rho grad f) =
  grad f + rho H grad f.

So the identification holds for form B only; for the form that is the gradient of the USAM
objective (A) it is refuted.

`sharpflat check examples/penalty_sam.py` decides the filter statements below (certified).
"""

from pathlib import Path

from sympy import Rational

from theorems.filters import filter_set_claim

PENALTY = f"{Path(__file__).with_name('optimizers.py')}:penalty-sam"
ALPHA, RHO = Rational(1, 10), Rational(1, 20)


def claim(method, id, **kw):
    return filter_set_claim(method, ALPHA, rho=RHO, id=id, **kw)


claims = [
    claim(PENALTY, "penalty-sam inside usam", subset_of="usam"),
    claim("usam", "usam inside penalty-sam", subset_of=PENALTY),
    claim(PENALTY, "penalty-sam inside hessian-usam (B)", subset_of="hessian-usam",
          subset_variant="B"),
    claim("hessian-usam", "hessian-usam (B) inside penalty-sam", form="B", subset_of=PENALTY),
    claim("hessian-usam", "hessian-usam (A) inside penalty-sam", form="A", subset_of=PENALTY),
    # false: Penalty SAM admits curvatures that Hessian USAM (A) filters out
    claim(PENALTY, "penalty-sam inside hessian-usam (A)", subset_of="hessian-usam",
          subset_variant="A"),
]


if __name__ == "__main__":
    from theorems.filters.compare import CUBIC, CUBIC_POINT, compare_maps

    for other, form in (("hessian-usam", "B"), ("hessian-usam", "A"), ("usam", "A")):
        r = compare_maps(PENALTY, other, {"alpha": ALPHA, "rho": RHO}, form_b=form)
        name = f"{other} ({form})" if other == "hessian-usam" else other
        print(f"penalty-sam vs {name}:")
        print(f"  same map for every f (same expression of the oracle values): {r['same_map']}")
        if not r["same_map"]:
            print(f"  on f = {CUBIC} at x = {CUBIC_POINT}: {r['a_cubic']} vs {r['b_cubic']}")
        print(f"  same linearization M(lambda): {r['same_linearization']} "
              f"({r['linearization_a']} vs {r['linearization_b']})")
        print(f"  same filter: {r['same_filter']} ({r['filter_a']} vs {r['filter_b']})")
