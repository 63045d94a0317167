"""Reproduction of Wen, Li and Ma's summary table: 1-SAM and GD with weight decay vectorized
over seeds (:mod:`numerics.sam_training`), at the paper's Table 2 settings (GPU) or scaled down
for a CPU."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from numerics.models import xor_data
from theorems.xor_flatness.mathematics import trace_lower_bound


#: Table 2 settings used by the full profile: (arch, method) -> phases.
TABLE2 = {
    ("no-bias", "gd-wd"): [("gd-wd", 0.01, 0.0, 0.05, 100_000)],
    ("no-bias", "1-sam"): [("1-sam", 0.01, 0.05, 0.0, 100_000)],
    ("bias", "gd-wd"): [("gd-wd", 0.01, 0.0, 0.05, 100_000)],
    ("bias", "1-sam"): [("1-sam", 0.01, 0.05, 0.0, 200_000), ("1-sam", 0.01, 0.1, 0.0, 400_000)],
    ("sim-ln", "1-sam"): [("1-sam", 0.1, 0.1, 0.0, 100_000)],
    ("3-layer", "1-sam"): [("1-sam", 0.01, 0.05, 0.0, 100_000)],
}
def cpu_settings(sam_epochs: int, gd_steps: int) -> dict:
    """The CPU version: d = 10, n = 40, width 100, float32, 1-SAM for ``sam_epochs`` epochs
    (lr 0.02, rho 0.1; Sim-LN lr 0.1, rho 0.1 with the first layer initialized / 100) and
    GD + weight decay 0.05 for ``gd_steps`` full-batch steps (lr 0.05)."""
    return {
        ("no-bias", "gd-wd"): [("gd-wd", 0.05, 0.0, 0.05, gd_steps)],
        ("no-bias", "1-sam"): [("1-sam", 0.02, 0.1, 0.0, sam_epochs)],
        ("bias", "gd-wd"): [("gd-wd", 0.05, 0.0, 0.05, gd_steps)],
        ("bias", "1-sam"): [("1-sam", 0.02, 0.1, 0.0, sam_epochs)],
        ("sim-ln", "1-sam"): [("1-sam", 0.1, 0.1, 0.0, sam_epochs)],
    }


#: the CPU reproduction of the full profile: 200 epochs of 1-SAM, 2000 steps of GD + WD
CPU = cpu_settings(200, 2000)
#: its quick counterpart: 20 epochs, 300 steps (a report: the paper's outcomes need the long
#: schedules)
QUICK = cpu_settings(20, 300)
#: The paper's answers: (all flattest generalize?, does 1-SAM generalize?) (Table 2).
SUMMARY = {"no-bias": (True, True), "bias": (False, False), "sim-bn": (True, True),
           "sim-ln": (False, True)}


def reproduce(settings: dict, *, d: int, n: int, width: int, seeds: list[int],
              epoch_cap: int | None = None, device: Any = None, dtype=torch.float32,
              test_size: int = 4000, records: int = 10, sim_ln_eps: float = 1e-2) -> dict:
    """Run every (arch, method) of ``settings`` vectorized over ``seeds``; returns rows with
    final trace (mean, sd, distance to the bound), test error (mean, sd) and the curves."""
    from numerics.sam_training import Schedule, train

    X, y = xor_data(n, d, seed=0, dtype=dtype)
    Xt, yt = xor_data(test_size, d, seed=1, dtype=dtype)
    rows = {}
    for (arch, method), phases in settings.items():
        sched = [Schedule(m, lr, min(ep, epoch_cap or ep), rho=rho, weight_decay=wd)
                 for m, lr, rho, wd, ep in phases]
        total = sum(p.epochs for p in sched)
        res = train(arch, X, y, sched, seeds=seeds, width=width, eps=sim_ln_eps,
                    first_layer_scale=0.01 if arch == "sim-ln" else 1.0, X_test=Xt, y_test=yt,
                    record_every=max(1, total // records), device=device)
        trace = np.array(res.curves["trace"][-1])
        err = np.array(res.curves["test_error"][-1])
        loss = np.array(res.curves["loss"][-1])
        bound = trace_lower_bound(arch, d)
        rows[f"{arch} / {method}"] = {
            "arch": arch, "method": method, "epochs": total, "trace_mean": float(trace.mean()),
            "trace_sd": float(trace.std()), "bound": bound,
            "trace_over_bound": float(trace.mean() / bound), "test_error_mean": float(err.mean()),
            "test_error_sd": float(err.std()), "train_loss_max": float(loss.max()),
            "seed_steps_per_second": res.seed_steps_per_second, "curves": res.curves}
    return rows
