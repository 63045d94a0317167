"""Sharpness by sums of squares: the Positivstellensatz path of :func:`deciders.prove_sharp`.

"f(x) >= f(p) + m ||x - p|| for all x" for a piecewise polynomial f (polynomials, Abs, Max,
Min) at a rational point: the kernel writes the statement (:func:`verify.kernel.sos.sharp_cases`:
absolute values lifted, ``s >= 0, s^2 = A^2``, the polar blow-up ``x - p = r v``), the search of
:mod:`theorems.psatz` looks for a certificate of every case, and the ``sharp-sos`` certificate
``{modulus, cases}`` is re-checked by the kernel before it is returned. A failed search proves
nothing (it is not a counterexample): z3 is then asked, as before.

Order (:func:`prove`): z3 first on small problems (at most :data:`Z3_FIRST_DIM` variables and
pieces of degree at most :data:`Z3_FIRST_DEGREE`), where it is quick and also finds
counterexamples, and when z3 refutes every case the SOS search for an exact certificate before
cvc5 is asked to agree (an exact certificate is preferred to solver agreement); the SOS search
first on the others, where z3's case split and nlsat grow fast
(and cvc5's confirmation of z3's unsat answers with them), with z3 after it when it fails.
Both are bounded by deterministic budgets (z3's resource units,
:class:`theorems.psatz.PsatzBudget`), never seconds. :func:`use_sos` switches the path off
(``with use_sos(False): ...``), as the benchmark's z3-only runs do.
"""

from __future__ import annotations

import contextlib
import contextvars
import time
from typing import Any, Callable, Iterator

import sympy as sp

from verify.errors import UnsupportedFunction

#: problems with at most this many variables, and pieces of at most this degree, go to z3 first
Z3_FIRST_DIM, Z3_FIRST_DEGREE = 2, 2
_ENABLED: contextvars.ContextVar[bool] = contextvars.ContextVar("sharp_sos", default=True)


@contextlib.contextmanager
def use_sos(enabled: bool = True) -> Iterator[None]:
    """Switch the SOS path on or off inside a ``with`` block."""
    token = _ENABLED.set(enabled)
    try:
        yield
    finally:
        _ENABLED.reset(token)


def budget() -> Any:
    """The search budget of each case of a sharpness statement (all its levels together)."""
    from theorems.psatz import PsatzBudget

    return PsatzBudget(levels=2, max_basis=60, max_unknowns=15_000)


def prove_sos(problem: Any, m: sp.Expr) -> Any:
    """A :class:`~theorems.sharp.deciders.SharpOutcome`: "holds" with a ``sharp-sos``
    certificate the kernel accepts, "unsupported" when f or m is outside the class, else
    "unknown" (some case has no certificate within the budget)."""
    from theorems.psatz import certify
    from theorems.sharp import kinds
    from theorems.sharp.deciders import SharpOutcome
    from theorems.sharp.problem import simple_rational_beside
    from verify.kernel import sharp as sharp_kernel
    from verify.kernel.sos import sharp_cases

    t0 = time.perf_counter()
    modulus = m if m.is_Rational else simple_rational_beside(m, +1)
    claim = problem.claim(kinds.SHARP_MINIMIZER, modulus=modulus)
    try:
        cases = sharp_cases(claim, modulus)
    except (UnsupportedFunction, ValueError) as exc:
        return SharpOutcome("unsupported", f"SOS: {exc}", seconds=time.perf_counter() - t0)
    certs, tries = [], []
    try:
        for i, case in enumerate(cases):
            cert, info = certify(case, budget())
            tries.append(info)
            if cert is None:
                last = info["tries"][-1]["outcome"] if info["tries"] else "no shape"
                return SharpOutcome("unknown", f"SOS: no certificate of case {i + 1}/"
                                    f"{len(cases)} ({case.label}) within the budget: {last}",
                                    seconds=time.perf_counter() - t0)
            certs.append(cert)
    except ImportError as exc:  # cvxpy or its solver missing: no SOS path
        return SharpOutcome("unsupported", f"SOS: {exc}", seconds=time.perf_counter() - t0)
    certificate = {"kind": "sharp-sos", "modulus": str(modulus), "cases": certs}
    ok, reason = sharp_kernel.check_sharpness(claim, "proved", certificate)
    if not ok:
        return SharpOutcome("unknown", f"SOS: the kernel rejected the certificate: {reason}",
                            seconds=time.perf_counter() - t0)
    blocks = sum(len(c["blocks"]) for c in certs)
    beside = "" if modulus == m else f" (with the rational {modulus} >= {m})"
    return SharpOutcome("holds", f"Positivstellensatz certificates of {len(cases)} case(s), "
                        f"{blocks} Gram blocks, checked exactly{beside}",
                        certificate=certificate, seconds=time.perf_counter() - t0,
                        method="Positivstellensatz (SOS: exact rational Gram matrices)")


def piece_degree(e: sp.Expr) -> int:
    """The largest degree of a piece of e (Abs, Max, Min, sign: the degree of their arguments;
    a power with a non-integer exponent counts as degree 3)."""
    if e.is_Atom:
        return 1 if e.is_Symbol else 0
    if isinstance(e, (sp.Abs, sp.Max, sp.Min, sp.sign)) or e.is_Add:
        return max(piece_degree(a) for a in e.args)
    if e.is_Mul:
        return sum(piece_degree(a) for a in e.args)
    if e.is_Pow and e.exp.is_Integer and e.exp >= 0:
        return piece_degree(e.base) * int(e.exp)
    return 3


def z3_first(problem: Any) -> bool:
    """A small problem (module docstring)."""
    return problem.dim <= Z3_FIRST_DIM and piece_degree(problem.f) <= Z3_FIRST_DEGREE


def prove(problem: Any, m: sp.Expr, z3: Callable[[], Any]) -> Any:
    """The outcome of the z3 path ``z3()`` and of the SOS path, in the order of the module
    docstring: the first "holds" or "violated" wins; otherwise the z3 outcome, with what the
    SOS search said appended."""
    if not _ENABLED.get():
        return z3()
    if not z3_first(problem):
        sos = prove_sos(problem, m)
        if sos.answer == "holds":
            return sos
        outcome = z3()
    else:
        # z3 alone first (quick, and it finds counterexamples); when it refutes every case the
        # exact SOS certificate is preferred to solver agreement, which cvc5 then never needs
        outcome = z3(confirm=False)
        if outcome.answer == "violated":
            return outcome
        sos = prove_sos(problem, m)
        if sos.answer == "holds":
            return sos
        if outcome.answer == "unconfirmed":
            outcome = z3()
        elif outcome.answer == "holds":
            return outcome
    if outcome.answer not in ("holds", "violated"):
        outcome.detail = f"{outcome.detail}; {sos.detail}" if outcome.detail else sos.detail
    outcome.seconds += sos.seconds
    return outcome
