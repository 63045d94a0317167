"""SymPy expressions as NumPy functions."""

from __future__ import annotations

from typing import Any

import numpy as np
import sympy as sp


def numpy_function(args: Any, expr: Any, *, extra: dict | None = None):
    """``sp.lambdify(args, expr)`` for NumPy arrays, with the names in ``extra`` first.

    NumPy is passed as a module object, not as the string ``"numpy"``: for the string SymPy runs
    ``from numpy import *``, which imports numpy.testing, f2py, unittest and more (0.4 s of every
    short ``sharpflat check``).
    """
    return sp.lambdify(args, expr, modules=([extra] if extra else []) + [np])


__all__ = ["numpy_function"]
