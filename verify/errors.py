"""One exception root for sharpflat, with the builtin categories kept.

Messages name the offending argument and its value, and say what to try next.
"""

from __future__ import annotations


class SharpflatError(Exception):
    """Root of every error sharpflat raises on purpose."""


class InvalidClaim(SharpflatError, ValueError):
    """A claim or one of its fields is malformed (wrong type, shape, unknown variable...)."""


class UnparsableFormula(InvalidClaim):
    """A formula is not valid sharpflat syntax, or uses something outside the whitelist."""


class UnknownKind(InvalidClaim):
    """A claim kind that no theorem module declares."""


class UnsupportedFunction(SharpflatError, NotImplementedError):
    """A decider cannot handle a function that appears in the claim (it falls back)."""


class SolverFailure(SharpflatError, RuntimeError):
    """A numerical solver ended without an optimal status."""


class UsageError(SharpflatError):
    """A command-line or API usage mistake (unknown run id, missing file...)."""
