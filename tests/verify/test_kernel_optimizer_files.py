"""Claims about users' optimizers: pinned to the file (method_sha256), re-derived by the kernel
in a worker process, never by running the file in the kernel's own process; a recheck without
the file, or with a changed one, fails with that reason. Tampering with each statement field and
witness, and transplanting a certificate, fails the check."""

import builtins
import json
from pathlib import Path

import pytest
import sympy as sp

from kernel_edits import recheck
from theorems.filters import filter_set_claim, stable_point_claim
from verify import kernel
from verify.errors import InvalidClaim
from verify.kernel import optimizer_files
from verify.verdict import Status

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples" / "optimizers.py"
TENTH, TWENTIETH = sp.Rational(1, 10), sp.Rational(1, 20)


def method(name: str) -> str:
    return f"{EXAMPLES}:{name}"


# --------------------------------------------------------------------------------------------
# claims: pinned to the file, re-derived by the kernel in a worker
# --------------------------------------------------------------------------------------------

def test_a_user_filter_claim_is_proved_pinned_and_rechecked():
    v = filter_set_claim(method("lookahead"), TENTH, hyper={"k": 3, "tau": "1/2"},
                         equals="Interval(0, 10 + 10*3**(1/3))", contains=[24],
                         excludes=[-1, 25], id="la").check()
    assert v.status is Status.PROVED, v.message
    assert v.claim["method_sha256"] == optimizer_files.file_sha256(EXAMPLES)
    assert recheck(v)[0]
    edits = {"claim__alpha": "1/5", "claim__hyper__k": "5", "claim__hyper__tau": "1/4",
             "claim__method": "gd", "claim__method_sha256": "0" * 64,
             "claim__equals": "Interval(0, 20)", "claim__contains__0": "30",
             "claim__excludes__0": "1", "status": "refuted"}
    for path, value in edits.items():
        ok, reason = recheck(v, **{path: value})
        assert not ok, (path, value)
    other = filter_set_claim(method("lookahead"), TENTH, hyper={"k": 2, "tau": "1/2"},
                             equals="Interval(0, 10 + 10*3**(1/3))", id="la2")
    assert not kernel.check(other.describe(), "proved", v.certificate)[0]


def test_the_kernel_fails_without_the_file_or_with_a_changed_one(tmp_path):
    path = tmp_path / "mine.py"
    path.write_text(EXAMPLES.read_text())
    v = filter_set_claim(f"{path}:penalty-sam", TENTH, rho=TWENTIETH, subset_of="usam",
                         id="p").check()
    assert v.status is Status.PROVED and recheck(v)[0]
    path.write_text(EXAMPLES.read_text() + "\n# an edit\n")
    ok, reason = recheck(v)
    assert not ok and "has changed" in reason
    path.unlink()
    ok, reason = recheck(v)
    assert not ok and "not present" in reason
    with pytest.raises(InvalidClaim, match="cannot be read"):
        filter_set_claim(f"{path}:penalty-sam", TENTH, rho=TWENTIETH, contains=[1], id="q")


def test_a_pinned_hash_that_is_not_the_files_is_refused():
    with pytest.raises(InvalidClaim, match="the optimizer file changed"):
        filter_set_claim(method("penalty-sam"), TENTH, rho=TWENTIETH, contains=[1],
                         method_sha256="ab" * 32, id="x")


def test_user_code_never_runs_in_the_deciding_and_checking_process(tmp_path):
    path = tmp_path / "marking.py"
    path.write_text("import builtins\nbuiltins.SHARPFLAT_USER_CODE_RAN = True\n"
                    + EXAMPLES.read_text())
    v = filter_set_claim(f"{path}:preconditioned-gd", 1, hyper={"c": "1/20"},
                         equals="Interval(0, 40)", id="m").check()
    assert v.status is Status.PROVED
    assert kernel.check(json.loads(v.to_json())["claim"], "proved", v.certificate)[0]
    assert not hasattr(builtins, "SHARPFLAT_USER_CODE_RAN")


def test_a_hanging_optimizer_file_is_an_error_not_a_hang(tmp_path, monkeypatch):
    path = tmp_path / "slow.py"
    path.write_text("while True:\n    pass\n")
    monkeypatch.setattr(optimizer_files, "TIMEOUT", 2.0)
    with pytest.raises(InvalidClaim, match="did not finish within 2 s"):
        filter_set_claim(f"{path}:gd", TENTH, contains=[1], id="h")


def test_hyperparameters_are_checked_against_the_files_declaration():
    with pytest.raises(InvalidClaim, match="needs k"):
        filter_set_claim(method("lookahead"), TENTH, hyper={"tau": 1}, contains=[1], id="a")
    with pytest.raises(InvalidClaim, match="takes no"):
        filter_set_claim(method("lookahead"), TENTH, hyper={"k": 1, "tau": 1, "zz": 2},
                         contains=[1], id="b")
    with pytest.raises(InvalidClaim, match="positive integer"):
        filter_set_claim(method("lookahead"), TENTH, hyper={"k": "1/2", "tau": 1},
                         contains=[1], id="c")
    with pytest.raises(InvalidClaim, match="declares no optimizer 'nope'"):
        filter_set_claim(method("nope"), TENTH, contains=[1], id="d")


def test_inclusions_between_builtin_filters_are_decided_exactly():
    inside = filter_set_claim("hessian-usam", TENTH, rho=TWENTIETH, subset_of="usam",
                              id="h").check()
    assert inside.status is Status.PROVED and recheck(inside)[0]
    assert not recheck(inside, claim__subset_of="gd")[0]
    assert not recheck(inside, claim__subset_variant="B", claim__variant="B")[0]
    out = filter_set_claim("usam", TENTH, rho=TWENTIETH, subset_of="gd", id="u").check()
    assert out.status is Status.REFUTED and recheck(out)[0]
    lam = sp.sympify(out.certificate["lambda"])
    assert sp.Interval(-10 * sp.sqrt(5) - 10, -20).contains(lam) == sp.true
    assert not recheck(out, certificate__lambda="5")[0]
    assert not recheck(out, claim__subset_of="usam-heavy-ball", claim__beta="9/10")[0]


def test_a_user_stable_point_claim_uses_the_files_jacobian():
    x = sp.Symbol("x", real=True)
    v = stable_point_claim(method("penalty-sam"), -15 * x ** 2, (0,), TENTH, rho=TWENTIETH,
                           variables=(x,), id="s").check()
    assert v.status is Status.PROVED and recheck(v)[0]
    assert not recheck(v, claim__rho="1/100")[0]       # -30 leaves the filter: refuted there
    w = stable_point_claim(method("frozen-adam"), 25 * x ** 2 / 2, (0,), TENTH,
                           beta=sp.Rational(9, 10), hyper={"v": "1/4", "eps": 0},
                           variables=(x,), id="w").check()
    assert w.status is Status.PROVED and len(json.loads(w.to_json())["evidence"]
                                             ["eigenvalues"]) == 2   # x and the moment m


def test_an_inclusion_in_a_files_method_pins_that_file_too():
    v = filter_set_claim("gd", TENTH, subset_of=method("lookahead"),
                         hyper={"k": 3, "tau": "1/2"}, id="g").check()
    assert v.status is Status.PROVED and recheck(v)[0]
    assert v.claim["subset_of_sha256"] == optimizer_files.file_sha256(EXAMPLES)
    # (k = 2 would keep the claim true: lookahead's filter at k = 2 is gd's, and an exact
    # certificate carries no witness to contradict a true edited claim; tau = 2 makes it
    # [0, 10], which no longer contains gd's [0, 20])
    for path, value in {"claim__subset_of_sha256": "1" * 64, "claim__hyper__tau": "2",
                        "claim__subset_of": method("penalty-sam")}.items():
        assert not recheck(v, **{path: value})[0], path
