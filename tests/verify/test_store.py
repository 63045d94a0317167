"""The SQLite store: round trip, interrupted runs, concurrent writers, bad files."""

import json
import multiprocessing as mp
import os
import subprocess
import sys

import pytest

from verify.errors import NoStore, StoreError, UsageError
from verify.store import Store
from verify.verdict import Status, Verdict


def verdict(i, status=Status.EVIDENCE):
    claim = {"id": f"item{i}", "kind": "inequalities", "conditions": ["2 - 1 < 0"]}
    extra = ({"counterexample": {"i": i}, "claim": claim,
              "certificate": {"kind": "exact-sign", "index": 0}}
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


def _stored(path):
    store = Store(path)
    run = store.begin_run(command="run", target="t")
    store.add_verdict(run, verdict(1))
    store.finish_run(run, "complete")
    store.close()


def test_read_only_opening_reads_and_never_creates(tmp_path):
    with pytest.raises(NoStore, match="nothing was run here yet"):
        Store(tmp_path / "none" / "r.db", readonly=True)
    assert not (tmp_path / "none").exists()
    _stored(tmp_path / "r.db")
    before = (tmp_path / "r.db").read_bytes()
    store = Store(tmp_path / "r.db", readonly=True)
    assert [r.target for r in store.runs()] == ["t"]
    assert [v.id for v in store.verdicts(store.run("latest").id)] == ["item1"]
    with pytest.raises(StoreError, match="read-only"):
        store.begin_run(command="run", target="t")
    assert (tmp_path / "r.db").read_bytes() == before


def test_a_damaged_store_is_named_and_left_alone(tmp_path):
    path = tmp_path / "r.db"
    _stored(path)
    data = bytearray(path.read_bytes())
    page = 4096
    data[page:] = b"\xa5" * (len(data) - page)          # every page after the first
    path.write_bytes(bytes(data))
    with pytest.raises(StoreError, match=r"r\.db.*(damaged|not a sharpflat)"):
        store = Store(path, readonly=True)
        store.runs()
    assert path.read_bytes() == bytes(data)


def _without_override():
    """For a child run as root (which ignores file permissions): drop the capabilities that
    override them (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH, CAP_FOWNER) from its bounding set, so
    that after exec it is held to the folder's mode like anyone else."""
    if os.geteuid() != 0:
        return None

    def drop():
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        for cap in (1, 2, 3):
            if libc.prctl(24, cap, 0, 0, 0) != 0:        # PR_CAPBSET_DROP
                os._exit(97)

    return drop


def test_a_store_in_a_read_only_folder_can_be_read(cli_env):
    """Regression: runs, show and report failed on a store in a read-only folder with "is it a
    sharpflat database?"; they open it read-only. check there fails clearly, storing nothing."""
    import shutil
    import tempfile

    folder = tempfile.mkdtemp(prefix="sharpflat-ro-")
    try:
        os.chmod(folder, 0o755)
        db = os.path.join(folder, "r.db")
        _stored(db)
        for name in os.listdir(folder):
            os.chmod(os.path.join(folder, name), 0o444)
        os.chmod(folder, 0o555)
        before = sorted(os.listdir(folder))
        drop = _without_override()
        touch = f"open({os.path.join(folder, 'x')!r}, 'w')"
        probe = subprocess.run([sys.executable, "-c", touch], cwd=folder, preexec_fn=drop,
                               capture_output=True)
        if probe.returncode == 0:
            os.remove(os.path.join(folder, "x"))
            pytest.skip("this process can write a read-only folder (no way to drop that here)")

        def sharpflat(*args):
            return subprocess.run([sys.executable, "-m", "verify", *args, "--db", db],
                                  env=cli_env, cwd=folder, preexec_fn=drop,
                                  capture_output=True, text=True, timeout=120)

        res = sharpflat("runs")
        assert res.returncode == 0 and " t " in res.stdout + " ", res.stderr
        res = sharpflat("show", "latest", "--json", "-")
        assert res.returncode == 0 and json.loads(res.stdout)["verdicts"][0]["id"] == "item1"
        res = sharpflat("report", "--format", "md")
        assert res.returncode == 0 and "item1" in res.stdout
        res = sharpflat("run", "--module", "tiny_checks", "--only", "tiny.ok.identity")
        assert res.returncode == 3 and "read-only" in res.stderr, res.stderr
        assert "Traceback" not in res.stderr
        assert sorted(os.listdir(folder)) == before
    finally:
        os.chmod(folder, 0o755)
        shutil.rmtree(folder, ignore_errors=True)


def test_runs_in_an_empty_folder_creates_nothing(cli_env, tmp_path):
    res = subprocess.run([sys.executable, "-m", "verify", "runs"], env=cli_env, cwd=tmp_path,
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 0 and "no runs" in res.stderr
    assert list(tmp_path.iterdir()) == []
    res = subprocess.run([sys.executable, "-m", "verify", "show", "latest"], env=cli_env,
                         cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert res.returncode == 4 and "no results store" in res.stderr
    assert list(tmp_path.iterdir()) == []
