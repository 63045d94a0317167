"""sharpflat from Python: ``import sharpflat``.

The names of :mod:`verify.api` (certify a model, a curvature bound, a filter membership or a
Lipschitz constant on torch objects; the curvature operators; verdicts that show themselves in a
notebook and write what ``sharpflat recheck`` reads). This package holds no code of its own: it
is the name people type, above the ``verify -> theorems -> numerics`` layers.
"""

from verify.api import *  # noqa: F401,F403 - the public API, listed in verify.api.__all__
from verify.api import __all__  # noqa: F401
