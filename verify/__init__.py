"""sharpflat's engine: verdicts, registry, runner, store, conjecture files, reports, CLI.

Importing ``verify`` is light: only the verdict types are loaded here; the engine's parts are
imported on use (``verify.runner``, ``verify.store``...).
"""

from verify.verdict import (DECIDED, FAILING, HOLDS, NOT_DECIDED, SUPPORTED, Assumption, Claim,
                            Status, Verdict)

__all__ = ["Assumption", "Claim", "Status", "Verdict", "HOLDS", "SUPPORTED", "DECIDED",
           "NOT_DECIDED", "FAILING"]
