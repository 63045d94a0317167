"""`sharpflat recheck`: trust tiers, --exact-only without z3 or cvc5, and the binding of a
registered check's verdict to the instances its code generates."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path

import pytest
import sympy as sp

from verify import kernel

ROOT = Path(__file__).resolve().parents[2]


def _verdicts() -> list[dict]:
    from theorems.facts import kinds as F

    claims = [F.forall("x**2 - 2*x + 1 >= 0", variables=["x"], id="square"),       # exact
              F.inequalities(["sqrt(2) > 1"], id="root"),                           # exact
              F.forall("x*y <= (x**2 + y**2)/2", variables=["x", "y"], id="am-gm"),  # psatz
              F.forall("x**2 + y**2 + 1 > 0", variables=["x", "y"], id="strict")]   # solvers
    return [json.loads(c.check().to_json()) for c in claims]


def test_every_decided_verdict_states_its_trust_and_recheck_agrees():
    data = _verdicts()
    assert [v["trust"] for v in data] == ["exact", "exact", "exact", "solvers"]
    results = kernel.recheck_verdicts(data)
    assert [r.tier for r in results] == ["exact", "exact", "exact", "solvers"]
    overstated = dict(data[3], trust="exact")             # a verdict may not overstate it
    assert kernel.recheck([overstated])


def test_exact_only_fails_solver_agreement_without_importing_the_solvers(tmp_path):
    path = tmp_path / "v.json"
    path.write_text(json.dumps(_verdicts()))
    code = ("import sys\n"
            "sys.modules['z3'] = None; sys.modules['cvc5'] = None   # not importable\n"
            "from verify.cli import main\n"
            f"code = main(['recheck', {str(path)!r}, '--exact-only', '--json', '-'])\n"
            "assert sys.modules.get('z3') is None and sys.modules.get('cvc5') is None\n"
            "sys.exit(code)\n")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=ROOT, timeout=300)
    assert res.returncode == 3, res.stderr[-2000:]
    out = json.loads(res.stdout)
    assert out["exact_only"] and out["tiers"] == {"exact": 3}
    (failure,) = out["failures"]
    assert failure["id"] == "strict" and "not exact" in failure["reason"]


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """A run of the tiny registry's identity check, stored as JSON."""
    tmp = tmp_path_factory.mktemp("tiny")
    env = _env()
    out = tmp / "run.json"
    res = subprocess.run([sys.executable, "-m", "verify", "run", "--module", "tiny_checks",
                          "--only", "tiny.ok.identity", "--json", str(out), "--db",
                          str(tmp / "r.db")], cwd=tmp, env=env, capture_output=True, text=True,
                         timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    return tmp, json.loads(out.read_text())


def _env() -> dict:
    import os

    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "tests"), str(ROOT),
                                         env.get("PYTHONPATH", "")])
    return env


def _recheck(tmp: Path, data, *args) -> subprocess.CompletedProcess:
    path = tmp / "edited.json"
    path.write_text(json.dumps(data))
    return subprocess.run([sys.executable, "-m", "verify", "recheck", str(path), *args,
                           "--json", "-"], cwd=tmp, env=_env(), capture_output=True, text=True,
                          timeout=300)


def test_a_check_verdict_is_compared_with_a_fresh_generation_of_its_instances(tiny_run):
    tmp, data = tiny_run
    (v,) = data if isinstance(data, list) else data["verdicts"]
    assert v["status"] == "proved" and v["claim"]["kind"] == "check"
    ok = _recheck(tmp, [v], "--module", "tiny_checks")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "instances regenerated" in json.loads(ok.stdout)["verdicts"][0]["note"]
    unknown = _recheck(tmp, [v])                       # not in the default package
    assert unknown.returncode == 3 and "not registered" in unknown.stdout
    # another true instance, with the hash recomputed: valid parts, but not this check's
    from theorems.facts import kinds as F

    other = F.inequalities(["Eq(3, 3)"], id="1 + 1 = 2").check()
    forged = copy.deepcopy(v)
    forged["certificate"]["parts"][0]["claim"] = other.claim
    forged["certificate"]["parts"][0]["certificate"] = other.certificate
    forged["claim"]["instances_sha256"] = kernel.instances_sha256([other.claim])
    assert kernel.recheck([forged]) == []              # the kernel alone accepts it...
    bad = _recheck(tmp, [forged], "--module", "tiny_checks")
    assert bad.returncode == 3 and "not those" in bad.stdout   # ...the binding does not
    seeded = copy.deepcopy(v)
    seeded["claim"]["statement"] = "Theorem 9"
    bad = _recheck(tmp, [seeded], "--module", "tiny_checks")
    assert bad.returncode == 3 and "differ" in bad.stdout


def test_the_plan_of_a_check_is_its_instance_claims():
    from verify import registry

    check = registry.get_check("sharp.threshold")
    verdict = check.run(seed=3)
    plan = check.plan(seed=3)
    assert verdict.status.value == "proved"
    assert kernel.instances_sha256(plan) == verdict.claim["instances_sha256"]
    assert [p["claim"] for p in verdict.certificate["parts"]] == plan
