"""Time to decide sharp-minimizer claims on generated families (median and worst case), and a
dimension sweep of the convex cone decider against the z3-only path.

Run: PYTHONPATH=. .venv/bin/python benchmarks/sharp_decide.py [--seeds 3] [--count 10]
     PYTHONPATH=. .venv/bin/python benchmarks/sharp_decide.py --convex-sweep
         [--dims 2 4 6 8 10] [--delta 1e-3] [--z3-budget 200000] [--z3-timeout 3]

Default mode: claims at (1 -/+ 1e-3) x the known modulus of :func:`theorems.sharp.
generated_family`, in every norm the family knows; reports how many were decided exactly and
the right way round. Writes benchmarks/results/sharp_decide.json.

``--convex-sweep``: the convex families of :data:`theorems.sharp.families.CONVEX_FAMILIES`
(alpha* known by construction) in d variables, one member per (d, family) and seed, a true
claim at alpha* (1 - delta) and a false one at alpha* (1 + delta) in every norm the family
knows. The cone decider (``decide_sharp``, cone on: :mod:`theorems.sharp.convex_cone`) decides
all of them; the z3-only path (``cone=False``: numeric search, then z3 and cvc5 on the claim
itself, ``--z3-budget`` resource units) runs on a subsample, the first norm of each family,
each claim in a forked process stopped after ``--z3-timeout`` seconds (counted undecided), so
the sweep ends in a few minutes. Seconds are wall clock from the claim's function to the
verdict (problem set-up included), on this machine. "wrong" counts verdicts against the
construction (a proof of a false claim or a refutation of a true one): it must be 0. Writes
benchmarks/results/sharp_decide_convex.json and prints a Markdown table.

There is no peer library that decides these claims, so the numbers are absolute (this
machine) and the exact-decision rate is the figure of merit.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import platform
import statistics
import time
from pathlib import Path

import numpy as np
import sympy as sp

from theorems import sharp
from theorems.sharp import families
from verify.verdict import Status

RESULTS = Path(__file__).parent / "results"


def generated(args: argparse.Namespace) -> None:
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
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "sharp_decide.json").write_text(json.dumps({"summary": summary, "rows": rows},
                                                          indent=1))
    print(json.dumps(summary, indent=1))


# --------------------------------------------------------------------------------------------
# the convex sweep
# --------------------------------------------------------------------------------------------

def sweep_claims(dims: list[int], seeds: int, delta: sp.Rational) -> list[dict]:
    """(family member, norm, modulus, truth) for every claim of the sweep."""
    out = []
    for dim in dims:
        for seed in range(seeds):
            for index, family in enumerate(families.CONVEX_FAMILIES):
                rng = np.random.default_rng([dim, seed, index])
                known = families.random_convex_known(rng, dim, family)
                for k, (norm, alpha) in enumerate(sorted(known.modulus.items())):
                    for factor, want in ((1 - delta, Status.PROVED), (1 + delta, Status.REFUTED)):
                        out.append({"known": known, "family": family, "dim": dim, "seed": seed,
                                    "norm": norm, "first_norm": k == 0, "alpha": alpha,
                                    "modulus": alpha * factor, "want": want.value})
    return out


def _decide(claim: dict, cone: bool, budget: int | None) -> dict:
    t0 = time.perf_counter()
    problem = claim["known"].problem(claim["norm"])
    v = sharp.decide_sharp(problem, claim["modulus"], seed=claim["seed"], cone=cone,
                           budget=budget)
    return {"got": v.status.value, "method": v.method, "seconds": time.perf_counter() - t0,
            "certificate": (v.certificate or {}).get("kind")}


def _child(conn, claim: dict, budget: int) -> None:
    try:
        conn.send(_decide(claim, False, budget))
    except Exception as exc:  # noqa: BLE001 - reported as a row, never silently
        conn.send({"got": "error", "method": f"{type(exc).__name__}: {exc}", "seconds": None,
                   "certificate": None})
    finally:
        conn.close()


def _decide_capped(claim: dict, budget: int, timeout: float) -> dict:
    """The z3-only path on one claim in a forked process, stopped after ``timeout`` s."""
    ctx = multiprocessing.get_context("fork")
    parent, child = ctx.Pipe(duplex=False)
    t0 = time.perf_counter()
    proc = ctx.Process(target=_child, args=(child, claim, budget))
    proc.start()
    child.close()
    result = parent.recv() if parent.poll(timeout) else None
    seconds = time.perf_counter() - t0
    if result is None:
        proc.terminate()
    proc.join()
    parent.close()
    if result is None:
        return {"got": "timeout", "method": f"stopped after {timeout:g} s",
                "seconds": seconds, "certificate": None}
    return result


def _row(claim: dict, path: str, result: dict) -> dict:
    got, want = result["got"], claim["want"]
    return {"path": path, "family": claim["family"], "dim": claim["dim"],
            "seed": claim["seed"], "norm": claim["norm"], "alpha": str(claim["alpha"]),
            "modulus": str(claim["modulus"]), "want": want, **result,
            "decided": got in ("proved", "refuted"),
            "wrong": got in ("proved", "refuted") and got != want}


def summarize(rows: list[dict], dims: list[int]) -> list[dict]:
    table = []
    for path in ("cone", "z3-only"):
        for dim in dims:
            sel = [r for r in rows if r["path"] == path and r["dim"] == dim]
            if not sel:
                continue
            times = [r["seconds"] for r in sel]
            table.append({"path": path, "dim": dim, "claims": len(sel),
                          "decided": sum(r["decided"] for r in sel),
                          "wrong": sum(r["wrong"] for r in sel),
                          "timeouts": sum(r["got"] == "timeout" for r in sel),
                          "via_cone": sum("convex cone" in (r["method"] or "") for r in sel),
                          "median_s": statistics.median(times), "max_s": max(times)})
    return table


def markdown(table: list[dict], args: argparse.Namespace) -> str:
    lines = ["| path | d | claims | decided | wrong | median s/claim | max s | notes |",
             "|---|---|---|---|---|---|---|---|"]
    for t in table:
        note = f"{t['via_cone']} by the cone bound" if t["path"] == "cone" else \
            f"{t['timeouts']} stopped at {args.z3_timeout:g} s"
        lines.append(f"| {t['path']} | {t['dim']} | {t['claims']} | "
                     f"{t['decided']} ({t['decided'] / t['claims']:.0%}) | {t['wrong']} | "
                     f"{t['median_s']:.2f} | {t['max_s']:.2f} | {note} |")
    return "\n".join(lines)


def convex_sweep(args: argparse.Namespace) -> None:
    delta = sp.nsimplify(args.delta)
    claims = sweep_claims(args.dims, args.seeds, delta)
    rows = []
    t_start = time.perf_counter()
    # the z3-only path first: its forked workers start from a process with no solver threads
    for claim in claims:
        if claim["first_norm"]:
            rows.append(_row(claim, "z3-only",
                             _decide_capped(claim, args.z3_budget, args.z3_timeout)))
    t_z3 = time.perf_counter() - t_start
    warm = families.random_convex_known(np.random.default_rng(0), 3, "max")
    for norm in warm.modulus:                          # imports and solver start-up, untimed
        sharp.decide_sharp(warm.problem(norm), warm.modulus[norm] / 2)
    t_cone = time.perf_counter()
    for claim in claims:
        rows.append(_row(claim, "cone", _decide(claim, True, None)))
    t_cone = time.perf_counter() - t_cone
    table = summarize(rows, args.dims)
    summary = {"dims": args.dims, "seeds": args.seeds, "delta": str(delta),
               "z3_budget": args.z3_budget, "z3_timeout_s": args.z3_timeout,
               "cone_total_s": t_cone, "z3_total_s": t_z3,
               "machine": platform.platform(), "processor": platform.processor(),
               "cpus": multiprocessing.cpu_count()}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "sharp_decide_convex.json").write_text(json.dumps(
        {"summary": summary, "table": table, "rows": rows}, indent=1))
    print(markdown(table, args))
    print(json.dumps(summary, indent=1))
    wrong = [r for r in rows if r["wrong"]]
    for r in wrong:
        print("WRONG:", json.dumps(r))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, default=None,
                        help="seeds (default 3; 1 with --convex-sweep)")
    parser.add_argument("--count", type=int, default=10)
    parser.add_argument("--convex-sweep", action="store_true")
    parser.add_argument("--dims", type=int, nargs="+", default=[2, 4, 6, 8, 10])
    parser.add_argument("--delta", type=float, default=1e-3)
    parser.add_argument("--z3-budget", type=int, default=200_000)
    parser.add_argument("--z3-timeout", type=float, default=3.0)
    args = parser.parse_args()
    if args.convex_sweep:
        args.seeds = 1 if args.seeds is None else args.seeds
        convex_sweep(args)
    else:
        args.seeds = 3 if args.seeds is None else args.seeds
        generated(args)


if __name__ == "__main__":
    main()
