"""The mathematics: toy functions, claim kinds and the papers' statements as registered checks.

One package per source paper, each of the same shape (the mathematics, ``kinds`` for its claim
kinds, ``checks`` for its registered checks, ``experiments`` where it trains networks):
``sharp`` (Dominguez Corella), ``filters`` (Bolte, Le, Pauwels), ``escape`` (Ahn, Jadbabaie,
Sra), ``flat_geometry`` (Josz), ``xor_flatness`` (Wen, Li, Ma). Shared: ``toys`` (the catalog
of named functions), ``exact`` (ball arithmetic, budgets, exact facts), ``convex`` (SymPy to
cvxpy), ``bounds`` (certified branch and bound over balls). Names are re-exported lazily, so
``from theorems import sharp`` is cheap until something is used.
"""

from __future__ import annotations

import importlib
from typing import Any, Callable


def lazy_exports(package: str, exports: dict[str, tuple[str, ...]]) -> tuple[
        Callable[[str], Any], list[str]]:
    """``__getattr__`` and ``__all__`` for a paper package: each name in ``exports[module]`` is
    read from ``package.module`` on first use (PEP 562)."""
    where = {name: module for module, names in exports.items() for name in names}

    def __getattr__(name: str) -> Any:
        module = where.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(f"{package}.{module}"), name)

    return __getattr__, sorted(where)
