"""The curvature benchmark's checks of its peers (benchmarks/curvature.py), without running the
benchmark: the comparison must flag a wrong or truncated peer answer, and the explanation of
PyHessian's early stop must predict what PyHessian does."""

import importlib.util
import math
from pathlib import Path

import numpy as np
import pytest
import torch

_PATH = Path(__file__).parents[2] / "benchmarks" / "curvature.py"
_spec = importlib.util.spec_from_file_location("curvature_benchmark", _PATH)
bench = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench)


def test_a_wrong_peer_trace_is_flagged():
    # the old benchmark's PyHessian MLP number next to a tight reference
    c = bench.compare_with_peer("trace", 27.0, 0.3, 0.19, peer_error=2.0)
    assert not c["agree"]
    assert any("from the reference" in r for r in c["reasons"])
    assert c["deviation"] == pytest.approx(26.81)


def test_a_peer_within_the_combined_error_agrees():
    # 2 combined standard errors off: inside the 3.29-sigma band
    se_ref, se_peer = 0.3, 4.0
    off = 2 * math.hypot(se_ref, se_peer)
    c = bench.compare_with_peer("trace", 27.0, se_ref, 27.0 + off, peer_error=se_peer)
    assert c["agree"] and c["reasons"] == []
    assert c["sigmas"] == pytest.approx(2.0)


def test_a_truncated_peer_is_flagged_even_when_its_value_is_close():
    c = bench.compare_with_peer("trace", 27.0, 0.3, 27.1, peer_error=5.0, products_used=2,
                                products_asked=30)
    assert not c["agree"]
    assert any("used 2 of the 30" in r for r in c["reasons"])


def test_a_non_finite_peer_is_flagged():
    c = bench.compare_with_peer("trace", 1.0, 0.1, math.nan)
    assert not c["agree"] and c["deviation"] == math.inf


def test_eigenvalue_tolerance_and_the_rayleigh_upper_limit():
    lam, res = 84.28, 1e-4
    ok = bench.compare_with_peer("lambda_max", lam, res, lam * (1 - 5e-3), z=1.0, rtol=1e-2,
                                 upper_limit=lam + res)
    assert ok["agree"]
    too_far = bench.compare_with_peer("lambda_max", lam, res, lam * (1 - 5e-2), z=1.0,
                                      rtol=1e-2, upper_limit=lam + res)
    assert not too_far["agree"]
    # within the tolerance, but a Rayleigh quotient above lambda_max is impossible
    above = bench.compare_with_peer("lambda_max", lam, res, lam * (1 + 5e-3), z=1.0,
                                    rtol=1e-2, upper_limit=lam + res)
    assert not above["agree"] and any("upper bound" in r for r in above["reasons"])


def test_pyhessian_stop_rule_stops_once_the_running_mean_is_negative():
    # running means 1, -2, 2: the third test divides by -2 + 1e-6 < 0 and gives -2 < -1
    assert bench.pyhessian_stop([1.0, -5.0, 10.0, 3.0], tol=-1.0) == 3
    assert bench.pyhessian_stop([1.0, -5.0, 10.0, 3.0], tol=-math.inf) == 4
    # with positive running means the left side is >= 0 and tol = -1 never stops it
    assert bench.pyhessian_stop([3.0, 1.0, 2.0, 8.0, 0.5], tol=-1.0) == 5


def test_probe_count_for_a_relative_error_and_combined_estimates():
    assert bench.probes_for_relative_error(10.0, 100.0, 0.02) == 25
    assert bench.probes_for_relative_error(10.0, -100.0, 0.02) == 25
    value, se = bench.combine_estimates([1.0, 3.0], [0.5, 0.5])
    assert value == pytest.approx(2.0) and se == pytest.approx(0.5 / math.sqrt(2))


def test_pyhessian_stops_where_its_rule_says():
    """PyHessian itself, on an indefinite quadratic (H = A, trace 1, eigenvalues in
    [-0.95, 1.05]): with tol=-1 it uses exactly as many probes as its rule replayed on the probe
    values of a full run with the same seed, and stops early for some seeds."""
    pyhessian = pytest.importorskip("pyhessian")
    d = 20
    rng = np.random.default_rng(0)
    Q, _ = np.linalg.qr(rng.normal(size=(d, d)))
    A = torch.tensor(Q @ np.diag(np.linspace(-1, 1, d) + 0.05) @ Q.T)

    class Quadratic(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.w = torch.nn.Parameter(torch.zeros(d, dtype=torch.float64))

        def forward(self, x):
            return self.w[None].expand(x.shape[0], d)

    ph = pyhessian.hessian(Quadratic(), lambda out, _: out[0] @ A @ out[0] / 2,
                           data=(torch.zeros(1, 1), torch.zeros(1)), cuda=False)
    early = 0
    for seed in range(10):
        torch.manual_seed(seed)
        full = ph.trace(maxIter=20, tol=-math.inf)
        torch.manual_seed(seed)
        old = ph.trace(maxIter=20, tol=-1.0)
        assert len(full) == 20
        assert len(old) == bench.pyhessian_stop(full, -1.0)
        assert old == full[:len(old)]
        early += len(old) < 20
    assert early > 0  # the rule fires on an indefinite Hessian
