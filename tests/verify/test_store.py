"""The SQLite store: round trip, interrupted runs, concurrent writers, bad files."""

import multiprocessing as mp
import os
import subprocess
import sys

import pytest

from verify.errors import StoreError, UsageError
from verify.store import Store
from verify.verdict import Status, Verdict


def verdict(i, status=Status.EVIDENCE):
    claim = {"id": f"item{i}", "kind": "instance", "statement": "a fact"}
    extra = ({"counterexample": {"i": i}, "claim": claim, "certificate": {
        "kind": "zero", "expr": "a - 1", "variables": ["a"], "point": ["2"]}}
        if status is Status.REFUTED else {"sample_size": 1})
    return Verdict(id=f"item{i}", kind="check", status=status, method="m", **extra)


def test_round_trip_and_previous_run(tmp_path):
    store = Store(tmp_path / "r.db")
    first = store.begin_run(command="run", target="t", profile="quick", seed=1)
    store.add_verdict(first, verdict(1))
    store.finish_run(first, "complete")
    second = store.begin_run(command="run", target="t", profile="quick", seed=1)
    store.add_verdict(second, verdict(1, Status.REFUTED))
    store.finish_run(second, "complete")
    assert store.run("latest").id == second
    assert store.previous_run(store.run(second)).id == first
    assert store.verdict(second, "item1").status is Status.REFUTED
    assert store.run(second).counts == {"refuted": 1}
    with pytest.raises(UsageError, match="no run 99"):
        store.run(99)
    with pytest.raises(UsageError, match="number or 'latest'"):
        store.run("yesterday")


def test_run_of_a_dead_process_is_interrupted(tmp_path):
    path = tmp_path / "r.db"
    code = ("from verify.store import Store; s = Store(%r); r = s.begin_run(command='run', "
            "target='t'); from verify.verdict import Verdict; s.add_verdict(r, Verdict("
            "id='kept', kind='check', status='evidence', method='m', sample_size=1)); import os; "
            "os._exit(9)"
            % str(path))
    subprocess.run([sys.executable, "-c", code], check=False)
    store = Store(path)
    (run,) = store.runs()
    assert run.status == "interrupted"
    assert [v.id for v in store.verdicts(run.id)] == ["kept"]


def _writer(path, n, tag):
    store = Store(path)
    run = store.begin_run(command="run", target=tag)
    for i in range(n):
        store.add_verdict(run, Verdict(id=f"{tag}-{i}", kind="check", status="evidence",
                                       method="m", sample_size=1))
    store.finish_run(run, "complete")


def test_two_concurrent_runs_do_not_corrupt(tmp_path):
    path = str(tmp_path / "r.db")
    Store(path).close()
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(path, 150, tag)) for tag in ("a", "b")]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    store = Store(path)
    runs = store.runs()
    assert sorted(r.target for r in runs) == ["a", "b"]
    assert all(r.status == "complete" and r.counts == {"evidence": 150} for r in runs)
    assert store._conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_a_file_that_is_not_a_store_is_refused_and_kept(tmp_path):
    path = tmp_path / "notes.db"
    path.write_bytes(b"precious notes, not sqlite" * 100)
    with pytest.raises(StoreError, match="cannot open the results store"):
        Store(path)
    assert path.read_bytes().startswith(b"precious notes")
