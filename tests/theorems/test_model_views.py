"""certify-model's curvature views, its lambda_max part and its thread setting, on the linear
least-squares model of test_model_certificate, whose Hessian I_2 kron (X^T X / n) is known
exactly (the tampering tests of the lambda-max certificates are in
tests/verify/test_kernel_model.py)."""

import numpy as np
import pytest
import torch

from test_model_certificate import LINEAR, run
from verify.cli import ExitCode, main

LINEAR_SOURCE = LINEAR.format(extra="")


def linear_hessian() -> np.ndarray:
    """The Hessian of (1/2n) sum ||W x - y||^2 in the row-major entries of W (2 x 4):
    I_2 kron (X^T X / n), with the model file's X."""
    torch.manual_seed(0)
    X = torch.randn(50, 4, dtype=torch.float64) @ torch.diag(
        torch.tensor([3.0, 1.0, 0.5, 0.2], dtype=torch.float64))
    return np.kron(np.eye(2), (X.T @ X / 50).numpy())


@pytest.fixture
def model_file(tmp_path):
    path = tmp_path / "model.py"
    path.write_text(LINEAR_SOURCE)
    return path


def test_every_view_reports_the_numbers_of_the_exact_hessian(tmp_path, model_file, capsys):
    H = linear_hessian()
    eig = np.linalg.eigvalsh(H)
    code, v = run(tmp_path, model_file, "--optimizer", "gd", "--alpha", 0.05, "--views", "all",
                  "--landscape-grid", 5, "--threads", 1)
    assert code == ExitCode.OK
    for part in ("ggn", "fisher", "density", "layers", "landscape"):
        assert v[f"linear.{part}"]["status"] == "evidence", part
        assert v[f"linear.{part}"]["seed"] == 0 and v[f"linear.{part}"]["elapsed"] >= 0
    # a linear model: the GGN is the Hessian
    ggn = v["linear.ggn"]["evidence"]
    assert ggn["top"]["values"][0] == pytest.approx(eig[-1], rel=1e-9)
    assert ggn["trace"]["lower"] - 1e-9 <= np.trace(H) <= ggn["trace"]["upper"] + 1e-9
    # density: 8 parameters, so SLQ's nodes sit on the 4 distinct eigenvalues (each twice)
    hess = v["linear.density"]["evidence"]["operators"]["hessian"]
    nodes, weights = np.array(hess["nodes"]), np.array(hess["weights"])
    heavy = nodes[weights > 1e-6]
    assert np.abs(heavy[:, None] - eig[None]).min(axis=1).max() < 1e-8
    assert hess["trace_estimate"] == pytest.approx(np.trace(H), rel=0.5)
    # layers: one module, its block is the whole Hessian
    (block,) = v["linear.layers"]["evidence"]["blocks"]
    assert block["top"]["values"][0] == pytest.approx(eig[-1], rel=1e-9)
    assert block["trace"]["value"] == pytest.approx(np.trace(H), rel=1e-9)   # 8 <= 30: exact
    # landscape: the flatness numbers beside it, and the filter edge 2/alpha of gd
    flat = v["linear.landscape"]["evidence"]["flatness"]
    assert flat["filter_edge"] == pytest.approx(2 / 0.05)
    assert flat["lambda_max"] == pytest.approx(eig[-1], rel=1e-9)
    assert eig[0] - 1e-9 <= flat["curvature_along_direction"] <= eig[-1] + 1e-9
    sharp = v["linear.landscape"]["evidence"]["sharpest"]
    loss0 = v["linear.landscape"]["evidence"]["one_d"]["loss0"]
    for t, loss in zip(sharp["t"], sharp["losses"]):     # exactly quadratic along v_max
        assert loss == pytest.approx(loss0 + eig[-1] * t * t / 2, rel=1e-8, abs=1e-12)
    assert len(v["linear.landscape"]["evidence"]["two_d"]["losses"]) == 5
    err = capsys.readouterr().err
    for stage in ("GGN", "empirical Fisher", "eigenvalue density", "per-layer curvature",
                  "loss landscape"):
        assert stage in err


def test_views_and_threads_are_checked(tmp_path, model_file, capsys):
    assert run(tmp_path, model_file, "--views", "density,bogus")[0] == ExitCode.USAGE
    assert "unknown view" in capsys.readouterr().err
    assert run(tmp_path, model_file, "--views", "landscape", "--landscape-grid", 2)[0] == \
        ExitCode.USAGE
    assert "landscape_grid" in capsys.readouterr().err
    assert main(["certify-model", str(model_file), "--threads", "0"]) == ExitCode.USAGE
    assert "--threads: must be at least 1" in capsys.readouterr().err


def test_threads_are_restored_after_a_run(tmp_path, model_file):
    before = torch.get_num_threads()
    code, v = run(tmp_path, model_file, "--threads", 1)
    assert code == ExitCode.OK and torch.get_num_threads() == before
    assert v["linear.critical-point"]["evidence"]["threads"] == 1


@pytest.mark.parametrize("factor,status", [(1.001, "certified"), (0.99, "refuted"),
                                           (0.9995, "inconclusive")])
def test_lambda_max_bound_is_decided_against_the_exact_value(tmp_path, model_file, factor,
                                                             status):
    lam = float(np.linalg.eigvalsh(linear_hessian())[-1])
    code, v = run(tmp_path, model_file, "--lambda-max-at-most", repr(lam * factor))
    part = v["linear.lambda-max"]
    # 8 parameters: Lanczos reaches an invariant subspace, so the upper bound is the top Ritz
    # value plus its residual; 0.05% below lambda_max is inside the re-check tolerance (0.1%)
    # of the Rayleigh quotient, so neither side is shown
    assert part["status"] == status, part["message"]
    assert part["claim"]["at_most"] == lam * factor
    assert part["claim"]["confidence"] == 0.95
    lo, hi = part["bounds"]
    assert lo <= lam * (1 + 1e-9) and hi >= lam * (1 - 1e-9)
    assert code == (ExitCode.REFUTED if status == "refuted" else ExitCode.OK)
