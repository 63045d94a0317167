"""Conjectures as a Python script: `sharpflat check examples/sharp_conjectures.py`."""

from sympy import Abs, Max, Min, Rational, sqrt, symbols

from theorems import sharp

x1, x2 = symbols("x1 x2", real=True)
rhombus = Max(Abs(x1), 2 * Abs(x2)) + x1**2 + x2**2
# a nonconvex function: the cap keeps the modulus of the polyhedral part
capped = Max(Abs(x1), 2 * Abs(x2)) - Min(x1**2 + x2**2, Rational(1, 100))

claims = [
    sharp.sharp_minimizer(rhombus, at=(0, 0), modulus=Rational(89, 100), id="rhombus"),
    sharp.sharpness_modulus(rhombus, at=(0, 0), value=2 / sqrt(5), id="rhombus-exact"),
    # 2/sqrt(5) - sqrt(1/100) = 0.7944...: true at 0.79, false at 0.80
    sharp.sharp_minimizer(capped, at=(0, 0), modulus=Rational(79, 100), id="capped-true"),
    sharp.sharp_minimizer(capped, at=(0, 0), modulus=Rational(80, 100), id="capped-false"),
]
