"""Time to decide sharp-minimizer claims on generated families (median and worst case).

Run: .venv/bin/python benchmarks/sharp_decide.py [--seeds 3] [--count 10]
Writes benchmarks/results/sharp_decide.json. Claims at (1 -/+ 1e-3) x the known modulus, in
every norm the family knows; reports how many were decided exactly and the right way round.
There is no peer library that decides these claims, so the numbers are absolute (this
machine) and the exact-decision rate is the figure of merit.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from pathlib import Path

import sympy as sp

from theorems import sharp
from verify.verdict import Status


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--count", type=int, default=10)
    args = parser.parse_args()
    rows = []
    for seed in range(args.seeds):
        for known in sharp.generated_family(seed, count=args.count):
            for norm, alpha in known.modulus.items():
                for factor, want in ((sp.Rational(999, 1000), Status.PROVED),
                                     (sp.Rational(1001, 1000), Status.REFUTED)):
                    t0 = time.perf_counter()
                    v = sharp.decide_sharp(known.problem(norm), alpha * factor, seed=seed)
                    rows.append({"family": known.name, "dim": len(known.variables),
                                 "norm": norm, "want": want.value, "got": v.status.value,
                                 "seconds": time.perf_counter() - t0})
    wrong_way = [r for r in rows if r["got"] in ("proved", "refuted") and r["got"] != r["want"]]
    times = sorted(r["seconds"] for r in rows)
    summary = {"claims": len(rows), "decided_right": sum(r["got"] == r["want"] for r in rows),
               "wrong_way_round": len(wrong_way), "median_s": statistics.median(times),
               "p90_s": times[int(0.9 * (len(times) - 1))], "worst_s": times[-1],
               "machine": platform.platform(), "processor": platform.processor()}
    out = Path(__file__).parent / "results"
    out.mkdir(exist_ok=True)
    (out / "sharp_decide.json").write_text(json.dumps({"summary": summary, "rows": rows},
                                                      indent=1))
    print(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
