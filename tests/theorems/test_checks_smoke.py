"""Every quick check of the suite runs at its smoke scale without an error, and every decided
verdict it gives is re-checked by the kernel from its JSON form alone.

The smoke scale (the ``smoke=`` arguments of each registered check) is a tiny instance of the
same code path, so that ``make test`` exercises all of ``sharpflat run`` in minutes; the suite
itself, at its real scale, is ``make run``.
"""

import json

import pytest

from verify import kernel, registry
from verify.verdict import Status, Verdict

QUICK = [c for c in registry.discover() if c.profile == "quick" and c.device == "cpu"]
#: statement checks whose certificates need solver agreement (symbolic hyperparameters)
EXPECTED_TRUST = {"filters.symbolic": ("solvers",)}


@pytest.mark.parametrize("check", QUICK, ids=[c.id for c in QUICK])
def test_quick_check_runs_at_smoke_scale_and_its_certificates_recheck(check):
    verdict = check.run(seed=registry.check_seed(0, check.id), scale="smoke")
    assert verdict.status is not Status.ERROR, verdict.message
    if check.nature == "statement":
        # every instance of a statement is decided by a certificate, exact where one exists
        assert verdict.status in (Status.PROVED, Status.CERTIFIED), verdict.message
        assert verdict.trust in EXPECTED_TRUST.get(check.id, ("exact",)), verdict.trust
    stored = json.loads(json.dumps(verdict.to_dict()))     # what the results store keeps
    assert kernel.recheck([stored]) == []
    assert Verdict.from_dict(stored).status is verdict.status


def test_every_check_id_starts_with_its_papers_key():
    """``sharpflat run --only sharp`` selects a paper because ids start with its key."""
    keys = {"sharp": "sharp.", "filters": "filters.", "escape": "escape.",
            "flat_geometry": "geometry.", "xor_flatness": "xor.", "networks": "networks."}
    for c in registry.discover():
        package = c.module.split(".")[1]
        assert c.id.startswith(keys[package]), (c.id, c.module)


def test_every_check_declares_its_nature():
    """Statements (expected proved) and experiments (evidence with sample sizes) are told
    apart; a check that runs an optimizer, a flow or a training is an experiment."""
    checks = registry.discover()
    assert {c.nature for c in checks} <= {"statement", "experiment"}
    experiments = {c.id for c in checks if c.nature == "experiment"}
    for id in ("escape.algorithms", "escape.digits", "escape.limit-map-flow", "filters.grid",
               "filters.usam-runs", "geometry.figure1", "xor.reproduction", "xor.theorem31"):
        assert id in experiments, id
