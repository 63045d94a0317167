"""sharpflat certify-model on models whose Hessian is known exactly (linear least squares)."""

import json
import textwrap

import numpy as np
import pytest

from verify.cli import ExitCode, main

LINEAR = """
import torch
torch.manual_seed(0)
X = torch.randn(50, 4, dtype=torch.float64) @ torch.diag(torch.tensor([3.0, 1.0, 0.5, 0.2],
                                                                     dtype=torch.float64))
Y = torch.randn(50, 2, dtype=torch.float64)
model = torch.nn.Linear(4, 2, bias=False).double()
with torch.no_grad():  # the least-squares solution: an exact minimum
    model.weight.copy_(torch.linalg.lstsq(X, Y).solution.T)
loss_fn = lambda out, y: ((out - y) ** 2).sum(dim=1).mean() / 2
data = (X, Y)
name = "linear"
{extra}
"""


def lambda_max():
    import torch

    torch.manual_seed(0)
    X = torch.randn(50, 4, dtype=torch.float64) @ torch.diag(
        torch.tensor([3.0, 1.0, 0.5, 0.2], dtype=torch.float64))
    # Hessian of (1/2n) sum ||W x - y||^2 in W is (X^T X / n) kron I_2
    return float(np.linalg.eigvalsh((X.T @ X / 50).numpy())[-1])


def write(tmp_path, extra=""):
    path = tmp_path / "model.py"
    path.write_text(LINEAR.format(extra=textwrap.dedent(extra)))
    return path


def run(tmp_path, *args):
    out = tmp_path / "verdicts.json"
    code = main(["certify-model", *map(str, args), "--db", str(tmp_path / "r.db"),
                 "--json", str(out)])
    verdicts = {v["id"]: v for v in json.loads(out.read_text())} if out.exists() else {}
    return code, verdicts


def test_step_size_inside_the_filter_is_certified(tmp_path):
    lam = lambda_max()
    code, v = run(tmp_path, write(tmp_path), "--optimizer", "gd", "--alpha", 1.0 / lam)
    assert code == ExitCode.OK
    assert v["linear.critical-point"]["status"] == "evidence"
    assert v["linear.filter"]["status"] == "certified"
    lo, hi = v["linear.top-eigenvalues"]["bounds"]
    assert lo <= lam * (1 + 1e-9) and hi >= lam * (1 - 1e-9)
    # the trace of (X^T X/n) kron I_2 is exact for Hutch++ with 3 x 8 probes over 8 parameters
    assert v["linear.trace"]["bounds"][0] <= v["linear.trace"]["evidence"]["value"]


def test_step_size_outside_the_filter_is_refuted_with_the_eigenvalue(tmp_path):
    lam = lambda_max()
    code, v = run(tmp_path, write(tmp_path), "--optimizer", "gd", "--alpha", 3.0 / lam)
    assert code == ExitCode.REFUTED
    f = v["linear.filter"]
    assert f["status"] == "refuted"
    assert f["counterexample"]["lambda_max"] == pytest.approx(lam, rel=1e-9)


def test_heavy_ball_filter_is_wider_than_gd(tmp_path):
    lam = lambda_max()  # GD refutes at alpha = 3/lam; heavy ball with beta = 0.9 allows 3.8/lam
    code, v = run(tmp_path, write(tmp_path), "--optimizer", "heavy-ball", "--alpha",
                  3.0 / lam, "--beta", 0.9)
    assert v["linear.filter"]["status"] == "certified"


def test_sam_has_no_filter_and_says_why(tmp_path):
    code, v = run(tmp_path, write(tmp_path), "--optimizer", "sam", "--alpha", 0.1, "--rho",
                  0.05)
    assert v["linear.filter"]["status"] == "inconclusive"
    assert "not differentiable" in v["linear.filter"]["message"]


def test_report_of_a_certificate_run(tmp_path, capsys):
    run(tmp_path, write(tmp_path), "--optimizer", "gd", "--alpha", 0.1)
    capsys.readouterr()
    assert main(["report", "latest", "--format", "md", "--db", str(tmp_path / "r.db")]) == 0
    assert "linear.filter" in capsys.readouterr().out


@pytest.mark.parametrize("source,match", [
    ("import torch\nmodel = torch.nn.Linear(2, 1)\n", "missing"),
    ("raise RuntimeError('boom')\n", "boom"),
    (LINEAR.format(extra="model = torch.nn.Sequential(torch.nn.Linear(4, 2).double(), "
                         "torch.nn.BatchNorm1d(2).double())"), "model.eval"),
])
def test_bad_model_files_exit_with_usage(tmp_path, capsys, source, match):
    path = tmp_path / "bad.py"
    path.write_text(source)
    code, _ = run(tmp_path, path)
    assert code == ExitCode.USAGE
    assert match in capsys.readouterr().err


def test_missing_file_and_missing_alpha(tmp_path, capsys):
    assert run(tmp_path, tmp_path / "nope.py")[0] == ExitCode.USAGE
    assert run(tmp_path, write(tmp_path), "--optimizer", "gd")[0] == ExitCode.USAGE
    assert "needs --alpha" in capsys.readouterr().err


def test_a_saddle_is_refuted_by_its_negative_eigenvalue(tmp_path):
    """loss = (residual_1^2 - residual_2^2)/2 at the least-squares weights: a critical point whose
    Hessian is (X^T X / n) kron diag(1, -1); every step size's filter excludes the negative
    eigenvalues, so the refutation comes from lambda_min = -lambda_max(X^T X / n)."""
    lam = lambda_max()
    path = write(tmp_path, "loss_fn = lambda out, y: (((out - y)[:, 0] ** 2 - (out - y)[:, 1] ** 2)"
                           ".mean() / 2)")
    code, v = run(tmp_path, path, "--optimizer", "gd", "--alpha", 0.1 / lam)
    assert code == ExitCode.REFUTED
    f = v["linear.filter"]
    assert f["status"] == "refuted" and "lambda_min" in f["counterexample"]
    assert f["counterexample"]["lambda_min"] == pytest.approx(-lam, rel=1e-9)
    assert f["counterexample"]["rayleigh_rechecked_finite_differences"] == pytest.approx(
        -lam, rel=1e-4)


def test_certify_model_reports_its_stages(tmp_path, capsys):
    """Off a terminal, each stage is a line as it ends, then one line per verdict."""
    capsys.readouterr()
    code, v = run(tmp_path, write(tmp_path), "--optimizer", "usam", "--alpha", 0.1, "--rho", 0)
    assert code == ExitCode.OK                     # rho = 0 (plain GD) is a valid USAM
    assert v["linear.filter"]["status"] == "certified"
    err = capsys.readouterr().err
    stages = [line for line in err.splitlines() if line.endswith(" s") and "  done  " in line]
    names = " | ".join(stages)
    for stage in ("load ", "Hessian operator", "loss and gradient", "trace", "eigenvalues",
                  "filter of usam"):
        assert stage in names, err
    assert sum(line.startswith("[") and "/4] linear." in line for line in err.splitlines()) == 4


OPTIMIZERS_FILE = __import__("pathlib").Path(__file__).resolve().parents[2] / "examples" / \
    "optimizers.py"


def test_an_optimizer_declared_in_a_file_certifies_and_refutes(tmp_path):
    """The preconditioned GD of examples/optimizers.py at alpha = 1 has the filter [0, 2/c]."""
    lam = lambda_max()
    method = f"{OPTIMIZERS_FILE}:preconditioned-gd"
    code, v = run(tmp_path, write(tmp_path), "--optimizer", method, "--alpha", 1,
                  "--hyper", f"c={1.5 / lam}")
    f = v["linear.filter"]
    assert code == ExitCode.OK and f["status"] == "certified", f["message"]
    assert f["claim"]["hyper"] == {"c": str(__import__("sympy").Rational(repr(1.5 / lam)))}
    assert f["claim"]["optimizer_sha256"] and "optimizers.py:preconditioned-gd" in f["message"]
    assert main(["recheck", "latest", "--db", str(tmp_path / "r.db")]) == ExitCode.OK
    code, v = run(tmp_path, write(tmp_path), "--optimizer", method, "--alpha", 1,
                  "--hyper", f"c={2.5 / lam}")
    assert code == ExitCode.REFUTED and v["linear.filter"]["status"] == "refuted"


def test_adam_has_no_filter_and_says_when_one_applies(tmp_path, capsys):
    code, v = run(tmp_path, write(tmp_path), "--optimizer", "adam")
    f = v["linear.filter"]
    assert f["status"] == "inconclusive"
    assert "v tends to 0 at a critical point" in f["message"]
    assert "frozen" in f["message"]
    assert run(tmp_path, write(tmp_path), "--optimizer", "adamw", "--alpha", 1)[0] == \
        ExitCode.USAGE
    assert "FILE.py:NAME" in capsys.readouterr().err
