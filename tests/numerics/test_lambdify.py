import subprocess
import sys

import numpy as np
import sympy as sp

from numerics.lambdify import numpy_function


def test_a_numpy_function_evaluates_the_expression_elementwise():
    x, y = sp.symbols("x y", real=True)
    f = numpy_function((x, y), 3 * sp.Abs(x) + sp.Max(x, y) ** 2 + sp.exp(-y))
    X = np.array([-1.5, 0.0, 2.0])
    Y = np.array([0.5, -1.0, 3.0])
    want = 3 * np.abs(X) + np.maximum(X, Y) ** 2 + np.exp(-Y)
    np.testing.assert_allclose(f(X, Y), want, rtol=1e-15)


def test_extra_names_take_precedence():
    x = sp.Symbol("x", real=True)
    f = numpy_function([x], sp.sign(x), extra={"sign": lambda v: np.where(v >= 0, 1.0, -1.0)})
    assert list(f(np.array([-2.0, 0.0, 3.0]))) == [-1.0, 1.0, 1.0]


def test_compiling_does_not_import_numpy_test_modules():
    code = ("import sys, sympy as sp; from numerics.lambdify import numpy_function; "
            "x = sp.Symbol('x'); numpy_function([x], sp.Abs(x) + x**2)(1.0); "
            "print('numpy.testing' in sys.modules, 'numpy.f2py' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.split()
    assert out == ["False", "False"]
