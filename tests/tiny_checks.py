"""A tiny registry for the engine's own tests (imported with ``--module tiny_checks``)."""

import os
import time

from verify.registry import check
from verify.verdict import Status, Verdict

PAPER = "Tiny paper"


@check("tiny.ok.identity", paper=PAPER, statement="Lemma 1", summary="1 + 1 = 2")
def ok_identity(seed):
    import sympy as sp

    holds = sp.simplify(sp.Integer(1) + 1 - 2) == 0
    return Verdict(id="x", kind="check", status=Status.PROVED if holds else Status.REFUTED,
                   method="sympy", message="1 + 1 - 2 simplifies to 0",
                   counterexample=None if holds else {"value": 1})


@check("tiny.ok.sampled", paper=PAPER, statement="Lemma 2", summary="x^2 >= 0 on samples")
def ok_sampled(seed):
    import numpy as np

    xs = np.random.default_rng(seed).normal(size=1000)
    bad = xs[xs**2 < 0]
    if bad.size:
        return Verdict(id="x", kind="check", status=Status.REFUTED, method="sampling",
                       counterexample={"x": float(bad[0])})
    return Verdict(id="x", kind="check", status=Status.EVIDENCE, method="sampling",
                   message="no negative square in 1000 samples", sample_size=1000,
                   evidence={"plots": [{"title": "samples", "x": list(range(5)),
                                        "lines": {"x": [float(v) for v in xs[:5]]}}]})


@check("tiny.slow.sleep", paper=PAPER, statement="Lemma 3", summary="sleeps, then holds")
def slow_sleep(seed):
    time.sleep(float(os.environ.get("TINY_SLEEP", "30")))
    return Verdict(id="x", kind="check", status=Status.PROVED, method="sleep")


@check("tiny.bad.refuted", paper=PAPER, statement="Claim 4", summary="2 + 2 = 5")
def bad_refuted(seed):
    return Verdict(id="x", kind="check", status=Status.REFUTED, method="arithmetic",
                   message="2 + 2 = 4 != 5", counterexample={"lhs": 4, "rhs": 5})


@check("tiny.bad.raises", paper=PAPER, statement="Claim 5", summary="raises")
def bad_raises(seed):
    raise RuntimeError("this check is broken on purpose")


@check("tiny.bad.crash", paper=PAPER, statement="Claim 6", summary="the process dies")
def bad_crash(seed):
    os._exit(7)


@check("tiny.full.gpu", paper=PAPER, statement="Claim 7", summary="needs cuda", profile="full",
       device="cuda")
def full_gpu(seed, device):
    return Verdict(id="x", kind="check", status=Status.PROVED, method="none")
