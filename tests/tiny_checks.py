"""A tiny registry for the engine's own tests (imported with ``--module tiny_checks``)."""

import os
import time

from verify.registry import check
from verify.verdict import Status, Verdict

PAPER = "Tiny paper"


@check("tiny.ok.identity", paper=PAPER, statement="Lemma 1", summary="1 + 1 = 2")
def ok_identity(seed):
    from theorems.facts.kinds import inequalities
    from verify.verdict import Instances

    checks = Instances("exact")
    checks.claim("1 + 1 = 2", inequalities(["Eq(1 + 1, 2)"], id="1 + 1 = 2"))
    return checks.verdict()


@check("tiny.ok.sampled", paper=PAPER, statement="Lemma 2", summary="x^2 >= 0 on samples")
def ok_sampled(seed):
    import numpy as np

    xs = np.random.default_rng(seed).normal(size=1000)
    bad = xs[xs**2 < 0]
    if bad.size:
        return Verdict(id="x", kind="check", status=Status.INCONCLUSIVE, method="sampling",
                       message=f"a negative square at {float(bad[0])}?")
    return Verdict(id="x", kind="check", status=Status.EVIDENCE, method="sampling",
                   message="no negative square in 1000 samples", sample_size=1000,
                   evidence={"plots": [{"title": "samples", "x": list(range(5)),
                                        "lines": {"x": [float(v) for v in xs[:5]]}}]})


@check("tiny.slow.sleep", paper=PAPER, statement="Lemma 3", summary="sleeps, then holds")
def slow_sleep(seed):
    if os.environ.get("TINY_STARTED"):       # tell a test that the check is running
        open(os.environ["TINY_STARTED"], "w").close()
    time.sleep(float(os.environ.get("TINY_SLEEP", "30")))
    return Verdict(id="x", kind="check", status=Status.EVIDENCE, method="sleep", sample_size=1)


@check("tiny.par.rendezvous", paper=PAPER, statement="Lemma 3b",
       summary="waits until TINY_RENDEZVOUS_COUNT copies of itself have started")
def ok_rendezvous(seed):
    from pathlib import Path

    folder = Path(os.environ["TINY_RENDEZVOUS"])
    count = int(os.environ["TINY_RENDEZVOUS_COUNT"])
    (folder / f"{os.getpid()}").write_text("here")
    for _ in range(1200):      # a safety net of about 60 s, never an assertion on time
        if len(list(folder.iterdir())) >= count:
            return Verdict(id="x", kind="check", status=Status.EVIDENCE, method="rendezvous",
                           message=f"{count} tasks ran at once", sample_size=count)
        time.sleep(0.05)
    return Verdict(id="x", kind="check", status=Status.INCONCLUSIVE, method="rendezvous",
                   message="the other tasks never started")


@check("tiny.bad.refuted", paper=PAPER, statement="Claim 4", summary="2 + 2 = 5")
def bad_refuted(seed):
    from theorems.facts.kinds import inequalities
    from verify.verdict import Instances

    checks = Instances("arithmetic")
    checks.claim("2 + 2 = 5", inequalities(["Eq(2 + 2, 5)"], id="2 + 2 = 5"))
    return checks.verdict()


@check("tiny.bad.raises", paper=PAPER, statement="Claim 5", summary="raises")
def bad_raises(seed):
    raise RuntimeError("this check is broken on purpose")


@check("tiny.bad.crash", paper=PAPER, statement="Claim 6", summary="the process dies")
def bad_crash(seed):
    os._exit(7)


@check("tiny.full.gpu", paper=PAPER, statement="Claim 7", summary="needs cuda", profile="full",
       device="cuda")
def full_gpu(seed, device):
    return Verdict(id="x", kind="check", status=Status.EVIDENCE, method="none", sample_size=1)
