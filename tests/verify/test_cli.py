"""End-to-end: the `sharpflat` command on the tiny registry, as a user runs it."""

import json
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from verify.store import Store


def sharpflat(env, cwd, *args, timeout=180):
    return subprocess.run([sys.executable, "-m", "verify", *args], env=env, cwd=cwd,
                          capture_output=True, text=True, timeout=timeout)


def test_run_ok_then_report_runs_show(cli_env, tmp_path):
    db = str(tmp_path / "r.db")
    res = sharpflat(cli_env, tmp_path, "run", "--module", "tiny_checks", "--only", "tiny.ok",
                    "--db", db, "--json", str(tmp_path / "v.json"), "--workers", "2")
    assert res.returncode == 0, res.stderr
    assert "tiny.ok.identity" in res.stdout and "proved" in res.stdout
    verdicts = json.loads((tmp_path / "v.json").read_text())
    assert {v["id"]: v["status"] for v in verdicts} == {"tiny.ok.identity": "proved",
                                                        "tiny.ok.sampled": "evidence"}
    # a second run with a failure, then the report compares the two
    res = sharpflat(cli_env, tmp_path, "run", "--module", "tiny_checks", "--only", "tiny.ok",
                    "--db", db, "--seed", "3")
    assert res.returncode == 0
    for fmt in ("md", "json", "html"):
        out = tmp_path / f"report.{fmt}"
        res = sharpflat(cli_env, tmp_path, "report", "latest", "--format", fmt, "--out",
                        str(out), "--db", db)
        assert res.returncode == 0, res.stderr
    md = (tmp_path / "report.md").read_text()
    assert "Tiny paper" in md and "previous run: 1" in md
    html = (tmp_path / "report.html").read_text()
    assert "data:image/png;base64," in html and "http://" not in html.split("<body>")[1]
    data = json.loads((tmp_path / "report.json").read_text())
    assert data["run"]["id"] == 2 and data["previous_run"] == 1
    res = sharpflat(cli_env, tmp_path, "runs", "--db", db, "--json", "-")
    assert [r["status"] for r in json.loads(res.stdout)] == ["complete", "complete"]
    res = sharpflat(cli_env, tmp_path, "show", "1", "tiny.ok.identity", "--db", db, "--json", "-")
    assert json.loads(res.stdout)["status"] == "proved"
    res = sharpflat(cli_env, tmp_path, "show", "7", "--db", db)
    assert res.returncode == 4 and "no run 7" in res.stderr


def test_exit_codes(cli_env, tmp_path):
    db = str(tmp_path / "r.db")
    args = ("run", "--module", "tiny_checks", "--db", db)
    assert sharpflat(cli_env, tmp_path, *args, "--only", "tiny.bad.refuted").returncode == 1
    assert sharpflat(cli_env, tmp_path, *args, "--only", "tiny.bad.raises").returncode == 3
    assert sharpflat(cli_env, tmp_path, *args, "--only", "nothing-matches").returncode == 5
    assert sharpflat(cli_env, tmp_path, "run", "--workers", "0").returncode == 4
    assert sharpflat(cli_env, tmp_path, "report", "--db", str(tmp_path / "empty.db")
                     ).returncode == 4
    # previous failures rerun with --failed
    res = sharpflat(cli_env, tmp_path, *args, "--only", "tiny.bad", "--failed")
    assert res.returncode == 3


def test_interrupted_run_keeps_what_was_decided(cli_env, tmp_path):
    db = tmp_path / "r.db"
    started = tmp_path / "started"
    cli_env = dict(cli_env, TINY_SLEEP="120", TINY_STARTED=str(started))
    proc = subprocess.Popen([sys.executable, "-m", "verify", "run", "--module", "tiny_checks",
                             "--only", "tiny.[os]*", "--db", str(db), "--quiet"],
                            env=cli_env, cwd=tmp_path, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True,
                            # as at a terminal: a shell starts background jobs (CI runners,
                            # `cmd &`) with SIGINT ignored, and the child would inherit that
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    # the checks run one after another in id order: when the sleeper has started, the two
    # quick checks before it are decided and stored (no clock is read)
    while not started.exists():
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 2, err
    (run,) = Store(db).runs()
    assert run.status == "interrupted"
    assert run.counts == {"proved": 1, "evidence": 1}  # both quick checks kept; the sleeper not


def test_check_toml_end_to_end(cli_env, tmp_path):
    conj = tmp_path / "conj.toml"
    conj.write_text(textwrap.dedent("""
        [[claim]]
        id = "hostile"
        kind = "sharp-minimizer"
        variables = ["x"]
        f = "__import__('os').system('touch pwned')"
        point = [0]
        modulus = 1

        [[claim]]
        id = "later-kind"
        kind = "max-variation"
        variables = ["x"]
        f = "x**2"
        point = [0]
        radius = 1
        at_most = 1
    """))
    out = tmp_path / "out.json"
    res = sharpflat(cli_env, tmp_path, "check", str(conj), "--json", str(out), "--db",
                    str(tmp_path / "r.db"))
    assert res.returncode == 3
    assert not (tmp_path / "pwned").exists()
    got = {v["id"]: v for v in json.loads(out.read_text())}
    assert got["hostile"]["status"] == "error" and "whitelisted" in got["hostile"]["message"]
    for v in got.values():
        assert {"id", "kind", "status", "method", "message"} <= set(v)
    bad = tmp_path / "bad.toml"
    bad.write_text("[[claim]\n")
    res = sharpflat(cli_env, tmp_path, "check", str(bad), "--db", str(tmp_path / "r.db"))
    assert res.returncode == 4 and "not valid TOML" in res.stderr


def test_recheck_accepts_stored_certificates_and_rejects_edited_ones(cli_env, tmp_path):
    conj = tmp_path / "conj.toml"
    conj.write_text(textwrap.dedent("""
        [[claim]]
        id = "abs-is-sharp"
        kind = "sharp-minimizer"
        variables = ["x"]
        f = "Abs(x) + x**2"
        point = [0]
        modulus = 1

        [[claim]]
        id = "abs-not-that-sharp"
        kind = "sharp-minimizer"
        variables = ["x"]
        f = "Abs(x) + x**2"
        point = [0]
        modulus = 2
    """))
    db, out = str(tmp_path / "r.db"), tmp_path / "out.json"
    res = sharpflat(cli_env, tmp_path, "check", str(conj), "--json", str(out), "--db", db)
    assert res.returncode == 1, res.stderr                       # the second one is refuted
    verdicts = json.loads(out.read_text())
    assert [v["status"] for v in verdicts] == ["proved", "refuted"]
    for source in (str(out), "latest"):                          # the file, and the store
        res = sharpflat(cli_env, tmp_path, "recheck", source, "--db", db)
        assert res.returncode == 0 and "2 of 2 decided verdicts re-checked" in res.stdout
    # a claim edited after the fact, a status flipped, a certificate removed: all fail
    verdicts[0]["claim"]["modulus"] = "3/2"
    verdicts[1]["status"] = "proved"
    edited = tmp_path / "edited.json"
    edited.write_text(json.dumps(verdicts))
    res = sharpflat(cli_env, tmp_path, "recheck", str(edited), "--db", db)
    assert res.returncode == 3 and res.stdout.count("FAIL") == 2
    verdicts = json.loads(out.read_text())
    del verdicts[0]["certificate"]
    edited.write_text(json.dumps(verdicts))
    res = sharpflat(cli_env, tmp_path, "recheck", str(edited), "--db", db)
    assert res.returncode == 3 and "FAIL abs-is-sharp" in res.stdout
    res = sharpflat(cli_env, tmp_path, "recheck", str(tmp_path / "missing.json"), "--db", db)
    assert res.returncode == 4


def test_conjecture_scripts_load_under_the_timeout(cli_env, tmp_path):
    """Regression: `while True: pass` hung `check --timeout 10`; `os._exit(9)` killed
    sharpflat with no message."""
    (tmp_path / "hang.py").write_text("while True:\n    pass\n")
    (tmp_path / "exits.py").write_text("import os\nos._exit(9)\n")
    # a hang would raise TimeoutExpired here (the guard of every CLI test), not return
    res = sharpflat(cli_env, tmp_path, "check", "hang.py", "--timeout", "3", timeout=120)
    assert res.returncode == 4 and "did not finish within 3 s" in res.stderr
    res = sharpflat(cli_env, tmp_path, "check", "exits.py", "--timeout", "30")
    assert res.returncode == 4 and "exit code 9" in res.stderr
    assert "Traceback" not in res.stderr and len(res.stderr.strip().splitlines()) == 1
    assert not (tmp_path / ".sharpflat").exists()              # nothing was stored


def test_unexpected_failures_exit_3_in_one_line(cli_env, tmp_path):
    """Regression: an unexpected exception (a sqlite3 error on a damaged store, a TypeError)
    exited 1, the code of "refuted", with a traceback. Now: exit 3, one line naming the file and
    what to do; the traceback with --debug."""
    damaged = tmp_path / "damaged.db"
    damaged.write_bytes(b"SQLite format 3\x00" + b"\xa5" * 8000)
    for command in (("runs",), ("show", "latest"), ("report",)):
        res = sharpflat(cli_env, tmp_path, *command, "--db", str(damaged))
        assert res.returncode == 3, (command, res.stderr)
        assert "damaged.db" in res.stderr and "--db" in res.stderr
        assert "Traceback" not in res.stderr and len(res.stderr.strip().splitlines()) == 1


def test_check_on_a_dask_cluster_gives_the_local_verdicts(cli_env, tmp_path):
    distributed = pytest.importorskip("distributed")
    (tmp_path / "c.toml").write_text(textwrap.dedent("""
        [[claim]]
        id = "true"
        kind = "sharp-minimizer"
        f = "3*Abs(x) + x**2"
        variables = ["x"]
        point = [0]
        modulus = 3

        [[claim]]
        id = "false"
        kind = "sharp-minimizer"
        f = "3*Abs(x) + x**2"
        variables = ["x"]
        point = [0]
        modulus = "31/10"
        """))
    statuses = {}
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster:
        for where in (("--cluster", cluster.scheduler_address), ()):
            out = tmp_path / f"v{len(statuses)}.json"
            res = sharpflat(cli_env, tmp_path, "check", "c.toml", *where, "--db",
                            str(tmp_path / "r.db"), "--json", str(out))
            assert res.returncode == 1, res.stderr          # one claim refuted
            statuses[bool(where)] = {v["id"]: v["status"] for v in json.loads(out.read_text())}
    assert statuses[True] == statuses[False] == {"true": "proved", "false": "refuted"}


def test_check_only_and_failed_select_claims_of_the_file(cli_env, tmp_path):
    (tmp_path / "c.toml").write_text(textwrap.dedent("""
        [[claim]]
        id = "cone-3"
        kind = "sharp-minimizer"
        f = "3*Abs(x) + x**2"
        variables = ["x"]
        point = [0]
        modulus = 3

        [[claim]]
        id = "cone-4"
        kind = "sharp-minimizer"
        f = "3*Abs(x) + x**2"
        variables = ["x"]
        point = [0]
        modulus = 4
        """))
    db = str(tmp_path / "r.db")

    def check(*args):
        out = tmp_path / "v.json"
        res = sharpflat(cli_env, tmp_path, "check", "c.toml", "--db", db, "--json", str(out),
                        *args)
        got = {v["id"]: v["status"] for v in json.loads(out.read_text())} \
            if res.returncode in (0, 1) else None
        return res.returncode, got

    assert check() == (1, {"cone-3": "proved", "cone-4": "refuted"})
    assert check("--failed") == (1, {"cone-4": "refuted"})
    assert check("--only", "*-3") == (0, {"cone-3": "proved"})
    assert check("--only", "cone-5")[0] == 5
    # the last check of the file (--only *-3) has no failures: nothing to rerun
    code, _ = check("--failed")
    assert code == 5


def test_filters_side_by_side_certified_and_plotted(cli_env, tmp_path):
    res = sharpflat(cli_env, tmp_path, "filters", "gd", "usam", "adam", "--alpha", "0.1",
                    "--rho", "0.05", "--plot", "alpha", "--db", str(tmp_path / "r.db"))
    assert res.returncode == 0, res.stdout + res.stderr
    out = " ".join(res.stdout.split())
    assert "[-32.3607, -20] u [0, 12.3607]" in out and "[0, 20]" in out
    assert "adam has no eigenvalue filter" in out
    assert "neither set contains the other: only gd admits (12.3607, 20], only usam admits " \
           "[-32.3607, -20]" in out
    assert "gd filter set proved" in out and "usam filter set proved" in out
    report = sharpflat(cli_env, tmp_path, "report", "latest", "--db", str(tmp_path / "r.db"))
    assert 'alt="plot of stable regions"' in report.stdout
    bad = sharpflat(cli_env, tmp_path, "filters", "usam", "--alpha", "0.1",
                    "--db", str(tmp_path / "r.db"))
    assert bad.returncode == 4 and "usam needs rho (--rho)" in bad.stderr
