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


class NoFilter(InvalidClaim):
    """An optimizer whose map has no eigenvalue filter: the message says why, and under which
    condition one applies (Bolte, Le, Pauwels, Theorem 2.1 needs a C^1 map at the limit)."""


class UnknownKind(InvalidClaim):
    """A claim kind that no theorem module declares."""


class UnsupportedFunction(SharpflatError, NotImplementedError):
    """A decider cannot handle a function that appears in the claim (it falls back)."""


class SolverFailure(SharpflatError, RuntimeError):
    """A numerical solver ended without an optimal status."""


class UsageError(SharpflatError):
    """A command-line or API usage mistake (unknown run id, missing file...)."""


class NothingSelected(UsageError):
    """Nothing to run: an empty conjecture file, a selection no check matches (exit 5)."""


class NoStore(UsageError):
    """A command that only reads the results store found none (nothing was run there yet)."""


class StoreError(SharpflatError):
    """The results store cannot be read or written: damaged, not a store, read-only (exit 3).

    The message names the file and says what to do; nothing already stored is changed."""


class SafetyTimeout(SharpflatError):
    """A wall-clock safety net fired inside a decider: the answer is ``inconclusive: timeout``.

    Decisions are bounded by deterministic resource budgets; wall-clock limits exist only as an
    outer net, and when one fires the verdict is never anything but inconclusive."""
