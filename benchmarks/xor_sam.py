"""The vectorized 1-SAM trainer against a plain per-run loop, same process, same run.

Run: .venv/bin/python benchmarks/xor_sam.py [--device cpu|cuda] [--seeds 1 8 32 128]
     [--steps 400] [--dtype float32]

Setting of Wen, Li, Ma (d = 30, n = 100, width 500, 2-MLP-Bias, lr 0.01, rho 0.05, batch 1).
The plain loop is written the usual way: one model, one optimizer (``MapOptimizer`` over the
same ``numerics.updates.sam`` map), batch 1, ``closure`` with ``backward``. The vectorized trainer
(``numerics.sam_training.train``) runs every seed in one tensor program per step. Reported: seeds
x steps per second for both and the ratio. Writes benchmarks/results/xor_sam-<device>.json.
"""

from __future__ import annotations

import argparse
import json
import platform
from pathlib import Path

import torch

from numerics.models import xor_data
from numerics.sam_training import Schedule, plain_loop, train

RESULTS = Path(__file__).parent / "results"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 8, 32, 128])
    parser.add_argument("--steps", type=int, default=400, help="batch-1 steps per seed")
    parser.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    args = parser.parse_args()
    dtype = getattr(torch, args.dtype)
    X, y = xor_data(100, 30, seed=0, dtype=dtype)
    X, y = X.to(args.device), y.to(args.device)
    phase = Schedule("1-sam", 0.01, 1, rho=0.05)
    plain_loop("bias", X, y, phase, width=500, steps=20)                 # warm-up
    plain = plain_loop("bias", X, y, phase, width=500, steps=args.steps)
    rows = []
    epochs = max(1, args.steps // 100)
    for s in args.seeds:
        train("bias", X, y, [Schedule("1-sam", 0.01, 1, rho=0.05)], seeds=list(range(s)),
              width=500, record_every=10 ** 9, device=args.device)          # warm-up
        res = train("bias", X, y, [Schedule("1-sam", 0.01, epochs, rho=0.05)],
                    seeds=list(range(s)), width=500, record_every=10 ** 9, device=args.device)
        rows.append({"seeds": s, "seed_steps_per_second": res.seed_steps_per_second,
                     "ratio_to_plain_loop": res.seed_steps_per_second / plain})
        print(f"seeds {s:5d}: {res.seed_steps_per_second:12.0f} seed-steps/s "
              f"({rows[-1]['ratio_to_plain_loop']:.1f}x the plain loop)", flush=True)
    out = {"device": args.device, "dtype": args.dtype, "machine": platform.platform(),
           "cpu_threads": torch.get_num_threads(),
           "gpu": torch.cuda.get_device_name() if args.device.startswith("cuda") else None,
           "plain_loop_steps_per_second": plain, "vectorized": rows}
    print(f"plain loop: {plain:.0f} steps/s")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"xor_sam-{args.device.split(':')[0]}.json").write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
