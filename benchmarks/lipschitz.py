"""LipSDP certified Lipschitz bounds against the naive product of layer norms and the sampled
lower bound, with times (SDP solve, exact check), on examples/lipschitz_mlp.py and on random
ReLU networks of growing size.

Run: PYTHONPATH=. .venv/bin/python benchmarks/lipschitz.py [--solvers CLARABEL CVXOPT]
     [--widths 16 32 48 64] [--skip-example]

For each network: rows of the LipSDP matrix (input + hidden neurons), the certified bound (exact
check of M(rho, T) <= 0, numerics.lipschitz.lipsdp), the solver's floating-point value, the
naive bound (rigorous), the sampled lower bound (exact quotient at the best pair), and wall-clock
seconds. Writes benchmarks/results/lipschitz.json.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import platform
import time
from pathlib import Path

import torch
from torch import nn

from numerics import lipschitz as L

ROOT = Path(__file__).parent.parent
RESULTS = Path(__file__).parent / "results"


def load_example() -> nn.Module:
    spec = importlib.util.spec_from_file_location("lipschitz_mlp",
                                                  ROOT / "examples" / "lipschitz_mlp.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.model


def random_relu(width: int, depth: int, inputs: int, outputs: int, seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    sizes = [inputs] + [width] * depth + [outputs]
    mods: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes, sizes[1:])):
        mods.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            mods.append(nn.ReLU())
    return nn.Sequential(*mods)


def measure(name: str, model: nn.Module, solvers: list[str], samples: int) -> dict:
    layers = L.network_layers(model)
    t = time.perf_counter()
    naive = L.naive_bound(layers)
    t_naive = time.perf_counter() - t
    t = time.perf_counter()
    low = L.sampled_lower_bound(layers, seed=0, samples=samples, steps=100)
    t_low = time.perf_counter() - t
    row = {"network": name, "sizes": [layers[0].in_features] + [l.out_features for l in layers],
           "rows": layers[0].in_features + sum(l.out_features for l in layers[:-1]),
           "naive": naive.bound_float, "naive_methods": naive.methods, "naive_s": t_naive,
           "sampled_lower": low.lower, "sampled_float": low.value, "sampled_s": t_low,
           "lipsdp": {}}
    for solver in solvers:
        cert = L.lipsdp(layers, solver=solver)
        row["lipsdp"][solver] = {
            "certified": cert.certified, "bound": cert.bound_float,
            "solver_bound": cert.solver_bound,
            "solver_status": cert.solver_status, "margin": cert.margin,
            "solve_s": cert.solve_seconds, "check_s": cert.check_seconds,
            "total_s": cert.total_seconds, "exact_checks": sum(
                1 for a in cert.attempts for c in a.get("checks", []) if "check_s" in c)}
        b = cert.bound_float
        print(f"{name:28s} rows {row['rows']:4d}  {solver:8s} "
              f"LipSDP {b if b else float('nan'):12.6g}"
              f"  naive {naive.bound_float:12.6g}  sampled {low.lower:12.6g}"
              f"  solve {cert.solve_seconds:7.2f}s  exact check {cert.check_seconds:6.2f}s",
              flush=True)
    return row


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--solvers", nargs="+", default=["CLARABEL"])
    parser.add_argument("--widths", type=int, nargs="*", default=[16, 32, 48, 64])
    parser.add_argument("--depth", type=int, default=2)
    parser.add_argument("--samples", type=int, default=256)
    parser.add_argument("--skip-example", action="store_true")
    args = parser.parse_args()
    rows = []
    if not args.skip_example:
        rows.append(measure("examples/lipschitz_mlp.py", load_example(), args.solvers,
                            args.samples))
    for w in args.widths:
        rows.append(measure(f"random relu 64-{w}x{args.depth}-10",
                            random_relu(w, args.depth, 64, 10), args.solvers, args.samples))
    out = {"machine": platform.platform(), "torch_threads": torch.get_num_threads(), "rows": rows}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "lipschitz.json").write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
