"""The paper's experiment (theorems.filters.experiments): its intervals, and the verdict it
draws from the runs (on made-up runs with known answers; the training itself runs in the check's
smoke test and in `make run`)."""

import numpy as np
import pytest
from scipy import stats

from theorems.filters import experiments as E
from verify.verdict import Status


def test_mean_interval_is_the_student_t_interval():
    values = [1.0, 2.0, 4.0]
    m, lo, hi = E.mean_interval(values)
    half = stats.t.ppf(0.975, 2) * np.std(values, ddof=1) / np.sqrt(3)
    assert m == pytest.approx(7 / 3) and lo == pytest.approx(7 / 3 - half)
    assert hi == pytest.approx(7 / 3 + half)
    assert E.mean_interval([5.0])[1:] == (float("-inf"), float("inf"))


def test_welch_interval_matches_scipy():
    a, b = [0.95, 0.96, 0.94, 0.97], [0.90, 0.93, 0.91]
    diff, lo, hi = E.welch_interval(a, b)
    res = stats.ttest_ind(a, b, equal_var=False).confidence_interval(0.95)
    assert diff == pytest.approx(np.mean(a) - np.mean(b))
    assert (lo, hi) == (pytest.approx(res.low), pytest.approx(res.high))


def fake(lams: dict, accs: dict, edges: dict) -> dict:
    """A result of optimizer_comparison with the given final lambda_max and accuracies."""
    methods = {}
    for name, _ in E.COMPARED:
        runs = [{"method": name, "seed": i, "diverged": False, "lambda": [lam, lam / 2],
                 "residuals": [1e-8, 1e-8], "upper_bound": lam * 1.01, "grad_norm": 1e-3,
                 "train_loss": 0.1, "test_accuracy": acc}
                for i, (lam, acc) in enumerate(zip(lams[name], accs[name]))]
        methods[name] = {"edge": edges.get(name), "edge_text": "no filter", "runs": runs,
                         "diverged": 0, "upper_bound": max(lams[name]) * 1.01,
                         "lambda_max": E.mean_interval(lams[name]),
                         "test_accuracy": E.mean_interval(accs[name]),
                         "train_loss": E.mean_interval([0.1] * len(lams[name]))}
    return {"alpha": 0.2, "rho": 0.02, "seeds": [0, 1, 2, 3], "steps": 10, "train": 10,
            "test": 10, "width": 4, "methods": methods, "seconds": 1.0}


EDGES = {"gd": 10.0, "usam": 8.54, "two-step-usam": 8.37, "hessian-usam": 7.55}


def test_the_claims_reproduce_when_the_variants_are_flatter_at_the_same_accuracy():
    lams = {"gd": [10.1, 10.2, 10.0, 10.3], "sam": [7.0, 7.1, 7.2, 7.0],
            "usam": [8.5, 8.6, 8.4, 8.5], "two-step-usam": [8.3, 8.2, 8.4, 8.3],
            "hessian-usam": [7.5, 7.6, 7.4, 7.5]}
    accs = {"gd": [0.95, 0.94, 0.95, 0.96], "sam": [0.95] * 4, "usam": [0.95, 0.95, 0.96, 0.95],
            "two-step-usam": [0.93, 0.94, 0.93, 0.94], "hessian-usam": [0.96, 0.97, 0.96, 0.97]}
    v = E.comparison_verdict(fake(lams, accs, EDGES))
    assert v.status is Status.EVIDENCE, v.message
    assert "The paper's claims reproduce at this scale" in v.message


def test_a_variant_as_sharp_as_gd_is_a_finding_not_a_refutation():
    lams = {"gd": [10.1, 10.2, 10.0, 10.3], "sam": [7.0] * 4, "usam": [10.1, 10.3, 10.2, 10.0],
            "two-step-usam": [8.3, 8.2, 8.4, 8.3], "hessian-usam": [7.5, 7.6, 7.4, 7.5]}
    accs = {k: [0.95, 0.94, 0.95, 0.96] for k in lams}
    v = E.comparison_verdict(fake(lams, accs, {**EDGES, "usam": 11.0}))
    assert v.status is Status.INCONCLUSIVE
    assert "not for usam" in v.message and "hessian-usam improves accuracy" in v.message
    parts = {p["id"]: p["status"] for p in v.evidence["instances"]}
    assert parts["usam vs gd: smaller top eigenvalue at similar accuracy"] == Status.INCONCLUSIVE
    assert parts["two-step-usam vs gd: smaller top eigenvalue at similar accuracy"] == \
        Status.EVIDENCE


def test_a_final_eigenvalue_far_above_the_edge_is_reported():
    lams = {"gd": [12.0, 12.1, 12.2, 12.0], "sam": [7.0] * 4, "usam": [8.5] * 4,
            "two-step-usam": [8.3] * 4, "hessian-usam": [7.5] * 4}
    accs = {k: [0.95, 0.94, 0.95, 0.96] for k in lams}
    v = E.comparison_verdict(fake(lams, accs, EDGES))
    parts = {p["id"]: p for p in v.evidence["instances"]}
    gd = parts["gd: top eigenvalue at the end at or below the filter edge (+10%)"]
    assert gd["status"] == Status.INCONCLUSIVE and "[1.200, 1.220]" in gd["message"]
