"""The Python API (``import sharpflat``): verdicts on torch objects, their notebook view, their
JSON for ``sharpflat recheck``, data as tensors or a DataLoader, and threads restored."""

import json

import pytest
import torch

import sharpflat
import verify.api
from verify.cli import ExitCode, main
from verify.errors import UsageError


def half_mse(out, y):
    return ((out - y) ** 2).sum(dim=1).mean() / 2


@pytest.fixture(scope="module")
def least_squares():
    """A linear model at its least-squares weights: an exact minimum whose Hessian is
    I_2 kron (X^T X / n)."""
    torch.manual_seed(0)
    X = torch.randn(40, 3, dtype=torch.float64) * torch.tensor([2.0, 1.0, 0.5],
                                                                dtype=torch.float64)
    Y = torch.randn(40, 2, dtype=torch.float64)
    model = torch.nn.Linear(3, 2, bias=False).double()
    with torch.no_grad():
        model.weight.copy_(torch.linalg.lstsq(X, Y).solution.T)
    lam = float(torch.linalg.eigvalsh(X.T @ X / 40)[-1])
    return model, X, Y, lam


def test_the_package_is_the_api():
    assert sharpflat.__all__ == verify.api.__all__
    for name in sharpflat.__all__:
        assert getattr(sharpflat, name) is getattr(verify.api, name)


def test_certify_model_returns_verdicts_that_recheck_accepts(least_squares, tmp_path, capsys):
    model, X, Y, lam = least_squares
    verdicts = sharpflat.certify_model(model, half_mse, (X, Y), optimizer="gd",
                                       alpha=1.0 / lam, views="layers")
    parts = verdicts.by_part()
    assert [p for p in parts] == ["critical-point", "trace", "top-eigenvalues", "filter",
                                  "layers"]
    assert parts["filter"].status.value == "certified"
    lo, hi = parts["top-eigenvalues"].bounds
    assert lo <= lam * (1 + 1e-9) and hi >= lam * (1 - 1e-9)
    path = tmp_path / "cert.json"
    text = verdicts.to_json(path)
    assert json.loads(text) == json.loads(path.read_text())
    assert main(["recheck", str(path)]) == ExitCode.OK
    assert "2 of 2 decided verdicts re-checked" in capsys.readouterr().out
    assert sharpflat.recheck(path) == [] and sharpflat.recheck(verdicts) == []
    # one verdict's own JSON is accepted too; an edited one fails
    one = tmp_path / "one.json"
    one.write_text(parts["filter"].to_json())
    assert main(["recheck", str(one)]) == ExitCode.OK
    data = json.loads(parts["filter"].to_json())
    data["claim"]["alpha"] = str(4 / lam)            # a step size whose filter misses lambda
    one.write_text(json.dumps(data))
    assert main(["recheck", str(one)]) == ExitCode.ERROR
    assert sharpflat.recheck(one)


def test_the_notebook_view_shows_status_tables_and_plots(least_squares, tmp_path):
    model, X, Y, lam = least_squares
    verdicts = sharpflat.certify_model(model, half_mse, (X, Y), views="layers,density")
    html = verdicts._repr_html_()
    assert html.count("<details>") >= len(verdicts)
    assert 'class="status certified"' in html
    density = verdicts.by_part()["density"]._repr_html_()
    assert "data:image/png;base64" in density and "<script" not in density
    assert "per-layer curvature of the Hessian" in verdicts.by_part()["layers"]._repr_html_()
    page = verdicts.to_html(tmp_path / "r.html")
    assert page.startswith("<!doctype html>") and "sharpflat recheck verdicts.json" in page


def test_a_dataloader_gives_the_numbers_of_its_tensors(least_squares):
    model, X, Y, lam = least_squares
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(X, Y), batch_size=16)
    a = sharpflat.curvature_bound(model, half_mse, (X, Y), at_most=lam * 1.01)
    b = sharpflat.curvature_bound(model, half_mse, loader, at_most=lam * 1.01)
    assert a.status.value == b.status.value == "certified"
    assert b.bounds[0] == pytest.approx(a.bounds[0], rel=1e-10)
    shuffled = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(X, Y), batch_size=16,
                                           shuffle=True)
    with pytest.raises(UsageError, match="shuffle"):
        sharpflat.curvature_bound(model, half_mse, shuffled, at_most=1.0)


def test_filter_membership_decides_both_sides_of_the_edge(least_squares):
    model, X, Y, lam = least_squares
    inside = sharpflat.filter_membership(model, half_mse, (X, Y), "gd", 1.9 / lam)
    outside = sharpflat.filter_membership(model, half_mse, (X, Y), "gd", 2.1 / lam)
    assert inside.status.value == "certified" and outside.status.value == "refuted"
    assert outside.counterexample["lambda_max"] == pytest.approx(lam, rel=1e-9)


def test_threads_are_set_for_the_call_and_restored(least_squares):
    model, X, Y, lam = least_squares
    before = torch.get_num_threads()
    seen = []
    sharpflat.certify_model(model, half_mse, (X, Y), threads=1,
                            progress=lambda stage: seen.append(torch.get_num_threads()))
    assert torch.get_num_threads() == before
    assert seen[-1] == 1
    with pytest.raises(UsageError, match="threads must be a positive integer"):
        sharpflat.certify_model(model, half_mse, (X, Y), threads=0)


def test_lipschitz_of_the_absolute_value_network():
    """relu(x) + relu(-x) = |x| has Lipschitz constant exactly 1."""
    net = torch.nn.Sequential(torch.nn.Linear(1, 2, bias=False), torch.nn.ReLU(),
                              torch.nn.Linear(2, 1, bias=False))
    with torch.no_grad():
        net[0].weight.copy_(torch.tensor([[1.0], [-1.0]]))
        net[2].weight.copy_(torch.tensor([[1.0, 1.0]]))
    assert sharpflat.lipschitz(net, 1, name="abs").status.value == "certified"
    below = sharpflat.lipschitz(net, "0.99", name="abs")
    assert below.status.value == "refuted"
    assert below.claim["network_sha256"] and sharpflat.recheck(below) == []


def test_operators_and_views_from_python(least_squares):
    model, X, Y, lam = least_squares
    H = sharpflat.hessian(model, half_mse, (X, Y))
    G = sharpflat.ggn(model, half_mse, (X, Y))
    assert torch.allclose(H.dense(), G.dense(), atol=1e-12)       # linear model: GGN = H
    assert sharpflat.empirical_fisher(model, half_mse, (X, Y)).dim == 6
    (block,) = sharpflat.layer_curvature(model, half_mse, (X, Y))
    assert block.top.values[0] == pytest.approx(lam, rel=1e-9)
    one = sharpflat.loss_landscape(model, half_mse, (X, Y), points=5)
    two = sharpflat.loss_landscape(model, half_mse, (X, Y), dims=2, points=3)
    assert len(one.losses) == 5 and len(two.losses) == 3


def test_a_view_the_model_does_not_allow_is_inconclusive_and_the_others_go_on():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Tanh(),
                                torch.nn.Linear(4, 2)).double()
    X, y = torch.randn(10, 3, dtype=torch.float64), torch.randint(0, 2, (10,))
    summed = torch.nn.CrossEntropyLoss(reduction="sum")   # not an average: no empirical Fisher
    parts = sharpflat.certify_model(model, summed, (X, y), views="fisher,layers").by_part()
    assert parts["fisher"].status.value == "inconclusive"
    assert "average per-example losses" in parts["fisher"].message
    assert parts["layers"].status.value == "evidence"
