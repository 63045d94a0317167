"""The runner: isolation, timeouts, crashes, parallel workers and a Dask LocalCluster."""

import os
import time

import pytest

from verify import registry, runner
from verify.verdict import Status

CHECKS = {c.id: c for c in registry.discover(["tiny_checks"])}


def tasks(*ids, timeout=60.0):
    return [runner.check_task(CHECKS[i], seed=1, device="cpu", packages=("tiny_checks",),
                              timeout=timeout) for i in ids]


def test_statuses_from_good_and_bad_checks():
    got = {v.id: v for v in runner.execute(tasks(
        "tiny.ok.identity", "tiny.ok.sampled", "tiny.bad.refuted", "tiny.bad.raises",
        "tiny.bad.crash"), workers=2)}
    assert got["tiny.ok.identity"].status is Status.PROVED
    assert got["tiny.ok.sampled"].status is Status.EVIDENCE
    assert got["tiny.ok.sampled"].sample_size == 1000
    assert got["tiny.bad.refuted"].status is Status.REFUTED
    assert got["tiny.bad.raises"].status is Status.ERROR
    assert "broken on purpose" in got["tiny.bad.raises"].message
    assert got["tiny.bad.crash"].status is Status.ERROR
    assert "exit code 7" in got["tiny.bad.crash"].message
    assert got["tiny.ok.identity"].claim["paper"] == "Tiny paper"
    assert got["tiny.ok.identity"].seed == 1


def test_a_hung_check_times_out_and_the_run_goes_on(monkeypatch):
    monkeypatch.setenv("TINY_SLEEP", "60")
    t0 = time.monotonic()
    got = {v.id: v for v in runner.execute(
        tasks("tiny.slow.sleep", timeout=1.0) + tasks("tiny.ok.identity"), workers=1)}
    assert time.monotonic() - t0 < 30
    assert got["tiny.slow.sleep"].status is Status.INCONCLUSIVE
    assert got["tiny.slow.sleep"].message.startswith("timeout")
    assert got["tiny.ok.identity"].status is Status.PROVED


def test_workers_run_in_parallel(monkeypatch, tmp_path):
    """Four tasks that each wait until all four have started: they can only all succeed when
    the four run at once (no clock is read)."""
    monkeypatch.setenv("TINY_RENDEZVOUS", str(tmp_path))
    monkeypatch.setenv("TINY_RENDEZVOUS_COUNT", "4")
    got = list(runner.execute(tasks("tiny.par.rendezvous") * 4, workers=4))
    assert len(got) == 4 and all(v.status is Status.EVIDENCE for v in got), \
        [v.message for v in got]


def test_select_profiles_patterns_and_devices():
    checks = list(CHECKS.values())
    quick, skipped = registry.select(checks, profile="quick", only="tiny.ok")
    assert [c.id for c in quick] == ["tiny.ok.identity", "tiny.ok.sampled"] and not skipped
    full, skipped = registry.select(checks, profile="full", only="tiny.full*")
    assert not full and [c.id for c in skipped] == ["tiny.full.gpu"]
    full, skipped = registry.select(checks, profile="full", only="tiny.full*", device="cuda")
    assert [c.id for c in full] == ["tiny.full.gpu"]
    assert registry.check_seed(0, "a") == registry.check_seed(0, "a") != registry.check_seed(1, "a")


def test_dask_local_cluster():
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster:
        got = {v.id: v for v in runner.execute(
            tasks("tiny.ok.identity", "tiny.bad.refuted", "tiny.bad.raises"),
            cluster=cluster.scheduler_address)}
    assert got["tiny.ok.identity"].status is Status.PROVED
    assert got["tiny.bad.refuted"].status is Status.REFUTED
    assert got["tiny.bad.raises"].status is Status.ERROR
