"""The ladder of certified Lipschitz bounds of network-lipschitz claims, rung by rung, against
the peers, on the networks of issue 23 (64 inputs, 10 outputs, PyTorch's default
initialization, fixed seeds), a CNN on the 8x8 digits and the digits MLP of the examples.

Run: PYTHONPATH=. .venv/bin/python benchmarks/lipschitz.py [--networks NAME ...]
     [--peer-timeout 300] [--lipsdp-rows 400] [--quick]

Per network, in one process (the peers in child processes with a time limit):

* every rung of the ladder (theorems.networks.ladder): its certified bound, the seconds to
  find it and the seconds of the kernel's exact check of its certificate (check_bracket);
* the bracket: the best exact lower bound (sampled pairs + gradient ascent, re-evaluated
  exactly) and the best certified upper bound;
* two claims decided end to end (decide_lipschitz, default time limit 120 s): at 1.0001 x the
  product of the float spectral norms (the issue's measurement) and at 1.001 x the best
  certified bound (the ladder must climb to its top);
* the peers: eclipse-nn's ECLipsE and ECLipsE-Fast (Xu & Sivaranjani 2024, float estimates,
  not certified) and LipSDP-Neuron solved by the interior-point SDP (cvxpy + CVXOPT, the
  solver's float optimum, where the network has at most --lipsdp-rows rows).

Writes benchmarks/results/lipschitz.json and lipschitz.md.
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing as mp
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any, Callable

import sympy as sp
import torch
from torch import nn

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from numerics import lipschitz as L  # noqa: E402
from numerics import models  # noqa: E402
from numerics.lipschitz_ladder import spectral_norm  # noqa: E402
from theorems.networks import mathematics as M  # noqa: E402
from theorems.networks.ladder import Ladder  # noqa: E402
from verify.kernel.networks import check_bracket  # noqa: E402

RESULTS = Path(__file__).parent / "results"


def mlp(hidden: list[int], act: type[nn.Module], seed: int = 0) -> nn.Sequential:
    """64 -> hidden -> 10, PyTorch's default initialization, float32."""
    torch.manual_seed(seed)
    sizes = [64] + hidden + [10]
    mods: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes, sizes[1:])):
        mods.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            mods.append(act())
    return nn.Sequential(*mods)


def example_mlp() -> nn.Module:
    return models.digits_classifier((64, 32, 32, 10), steps=150, seed=0)


NETWORKS: dict[str, tuple[Callable[[], nn.Module], tuple | None]] = {
    "relu 2x32": (lambda: mlp([32] * 2, nn.ReLU), None),
    "relu 4x32": (lambda: mlp([32] * 4, nn.ReLU), None),
    "relu 2x64": (lambda: mlp([64] * 2, nn.ReLU), None),
    "relu 2x96": (lambda: mlp([96] * 2, nn.ReLU), None),
    "relu 2x128": (lambda: mlp([128] * 2, nn.ReLU), None),
    "tanh 8x128": (lambda: mlp([128] * 8, nn.Tanh), None),
    "relu 10x256": (lambda: mlp([256] * 10, nn.ReLU), None),
    "tanh 10x256": (lambda: mlp([256] * 10, nn.Tanh), None),
    "relu 2x1024": (lambda: mlp([1024] * 2, nn.ReLU), None),
    "tanh 2x1024": (lambda: mlp([1024] * 2, nn.Tanh), None),
    "digits cnn": (lambda: models.digits_cnn(steps=100, seed=0), (1, 8, 8)),
    "digits mlp (example)": (example_mlp, None),
}


# --------------------------------------------------------------------------------------------
# peers (child processes with a time limit)
# --------------------------------------------------------------------------------------------

def _peer_eclipse(weights: list, slopes: list, method: str, out: Any) -> None:
    torch.set_num_threads(1)
    from eclipse_nn import ECLipsE, ECLipsE_Fast

    Ws = [torch.tensor(w, dtype=torch.float64) for w in weights]
    alphas, betas = [a for a, _ in slopes], [b for _, b in slopes]
    t0 = time.perf_counter()
    if method == "ECLipsE-Fast":
        value = float(ECLipsE_Fast(Ws, alphas, betas))
    else:
        value, code = ECLipsE(Ws, alphas, betas)
        value = None if value is None else float(value)
        if code:
            out.put({"value": None, "seconds": time.perf_counter() - t0,
                     "status": f"numerical issue (exit code {code})"})
            return
    out.put({"value": value, "seconds": time.perf_counter() - t0, "status": "ok"})


def _peer_lipsdp(weights: list, slopes: list, out: Any) -> None:
    import numpy as np

    from numerics.lipschitz import _solve
    from theorems.networks.ladder import preferred_solver

    with L.one_thread():
        t0 = time.perf_counter()
        sol = _solve([np.asarray(w) for w in weights], slopes, 0.0, preferred_solver(), {},
                     False)
        out.put({"value": math.sqrt(sol.rho) if sol.ok else None,
                 "seconds": time.perf_counter() - t0, "status": sol.status,
                 "solver": preferred_solver()})


def _limited(target: Callable, memory: int, *args: Any) -> None:
    """Run a peer under an address-space limit (a MemoryError, not the machine's OOM killer)."""
    import resource

    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    target(*args)


def run_peer(target: Callable, args: tuple, timeout: float,
             memory: int = 6 << 30) -> dict[str, Any]:
    ctx = mp.get_context("fork")
    out = ctx.Queue()
    proc = ctx.Process(target=_limited, args=(target, memory) + args + (out,))
    t0 = time.perf_counter()
    proc.start()
    proc.join(timeout)
    if proc.is_alive():
        proc.kill()
        proc.join()
        return {"value": None, "seconds": time.perf_counter() - t0,
                "status": f"timeout ({timeout:g} s)"}
    try:
        return out.get(timeout=5)
    except Exception:  # noqa: BLE001
        return {"value": None, "seconds": time.perf_counter() - t0,
                "status": f"failed (exit code {proc.exitcode}, memory limit {memory >> 30} "
                          "GiB)"}


def mlp_weights(net: M.Network) -> tuple[list, list] | None:
    """Float weights and slopes of a plain MLP (the peers take only these), else None."""
    if not L.is_mlp(net.layers):
        return None
    return ([layer.weight_f64 for layer in net.layers],
            [tuple(float(s) for s in layer.slopes) for layer in net.layers[:-1]])


# --------------------------------------------------------------------------------------------
# one network
# --------------------------------------------------------------------------------------------

def measure(name: str, args: argparse.Namespace, peers: dict | None = None) -> dict[str, Any]:
    build, shape = NETWORKS[name]
    model = build()
    t0 = time.perf_counter()
    net = M.network_from_model(model, name, input_shape=shape)
    row: dict[str, Any] = {"network": name, "sizes": net.sizes,
                           "parameters": sum(p.numel() for p in model.parameters()),
                           "read_s": round(time.perf_counter() - t0, 2), "rungs": []}
    claim = M.claim_for(net, 1, id=name).describe()
    with L.one_thread():
        ladder = Ladder(net.layers)
        best = None
        for rung_name in ladder.names():
            rung = ladder.rung(rung_name)
            entry = {"rung": rung_name, "bound": rung.bound_float,
                     "seconds": round(rung.seconds, 2), "note": rung.note}
            if rung.certificate is not None:
                t1 = time.perf_counter()
                cert = {"kind": "lipschitz-bracket", "layers": net.data,
                        "upper": rung.certificate, "lower": None}
                ok, reason = check_bracket(claim, [0, rung.bound_float], cert)
                entry.update(verified=ok, check_s=round(time.perf_counter() - t1, 2))
                if not ok:
                    entry["reason"] = reason
                elif best is None or rung.bound_float < best:
                    best = rung.bound_float
            row["rungs"].append(entry)
            print(f"  {name:22s} {rung_name:26s} {entry['bound'] or float('nan'):14.6g} "
                  f"find {entry['seconds']:7.2f}s check {entry.get('check_s', 0):7.2f}s "
                  f"{'ok' if entry.get('verified') else entry.get('reason', '')}", flush=True)
        row["notes"] = ladder.notes
        t1 = time.perf_counter()
        low = L.sampled_lower_bound(net.layers, seed=0, samples=256, steps=100)
        row["lower"] = {"value": low.lower, "seconds": round(time.perf_counter() - t1, 2)}
    row["best_certified"] = best
    spectral = None if any(isinstance(layer, L.ResidualLayer) for layer in net.layers) else \
        math.prod(spectral_norm(layer.matrix_f64()) * float(layer.slope_max)
                  for layer in net.layers)
    row["spectral_product"] = spectral
    row["claims"] = []
    targets = ([("1.0001 x spectral product", spectral * 1.0001)] if spectral else []) + \
        ([("1.001 x best certified", best * 1.001)] if best else [])
    for label, value in targets:
        at_most = sp.Rational(str(round(value, 12)))
        c = M.claim_for(net, at_most, id=f"{name} <= {label}")
        t1 = time.perf_counter()
        v = M.decide_lipschitz(net, at_most, claim=c.describe())
        row["claims"].append({"at_most": label, "value": float(at_most),
                              "status": v.status.value, "seconds": round(
                                  time.perf_counter() - t1, 2),
                              "method": v.method, "bounds": list(v.bounds)})
        print(f"  {name:22s} claim at {label:26s} {v.status.value:12s} "
              f"{time.perf_counter() - t1:7.2f}s  bracket {list(v.bounds)}", flush=True)
    row["peers"] = peers or {}
    weights = mlp_weights(net)
    if weights is not None and peers is None:
        for method in ("ECLipsE-Fast", "ECLipsE"):
            row["peers"][method] = run_peer(_peer_eclipse, weights + (method,),
                                            args.peer_timeout)
        if net.rows <= args.lipsdp_rows:
            row["peers"]["LipSDP-Neuron (interior point)"] = run_peer(
                _peer_lipsdp, weights, args.peer_timeout)
        else:
            row["peers"]["LipSDP-Neuron (interior point)"] = {
                "value": None, "seconds": None,
                "status": f"not run ({net.rows} rows > {args.lipsdp_rows})"}
        for peer, res in row["peers"].items():
            print(f"  {name:22s} peer {peer:30s} {res.get('value') or float('nan'):14.6g} "
                  f"{res.get('seconds') or 0:8.2f}s {res['status']}", flush=True)
    lipsdp = row["peers"].get("LipSDP-Neuron (interior point)", {}).get("value")
    row["tightness_vs_lipsdp"] = None if not (best and lipsdp) else best / lipsdp
    return row


# --------------------------------------------------------------------------------------------
# the table
# --------------------------------------------------------------------------------------------

def fmt(v: Any, digits: int = 4) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.{digits}g}"
    return str(v)


def markdown(out: dict[str, Any]) -> str:
    rungs = ["abs-product", "product (exact norms)", "product (spectral norms)",
             "eclipse-fast", "lipsdp"]
    runs = out.get("runs") or [{"load_before": out.get("load_before"),
                                 "load_after": out.get("load_after")}]
    loads = "; ".join(f"run {i + 1}: {r.get('load_before')} -> {r.get('load_after')}"
                      for i, r in enumerate(runs))
    lines = ["# Certified Lipschitz bounds: the ladder of network-lipschitz claims",
             "", f"Machine: {out['machine']}; {out['cpus']} CPUs, shared with other jobs "
             f"(load averages 1/5/15 min before -> after, {loads}). The ladder and the pair "
             "search run on one thread. Bounds are L_2 upper bounds certified by the kernel "
             "(exact arithmetic); times in seconds (find + exact check). Claims are decided "
             "end to end with the default time limit (120 s). Peers are float estimates, not "
             "certified; LipSDP (IP) is the interior-point optimum (cvxpy + CVXOPT). 'load': the "
             "1-minute load average after the network's row ('~10': the first run, not "
             "recorded per row, 9.3 before it and about 10-11 during it).", "",
             "| network | layer sizes | load | " + " | ".join(rungs) +
             " | bracket | claim at 1.0001 x spectral | claim at 1.001 x best | ECLipsE-Fast "
             "| ECLipsE | LipSDP (IP) | best / LipSDP |",
             "|" + "---|" * (len(rungs) + 10)]
    for row in out["rows"]:
        cells = []
        by = {r["rung"]: r for r in row["rungs"]}
        for r in rungs:
            e = by.get(r)
            if e is None or e["bound"] is None:
                cells.append("-")
            else:
                mark = "" if e.get("verified") else " (rejected)"
                cells.append(f"{fmt(e['bound'])} ({e['seconds']:.1f}+{e.get('check_s', 0):.1f}"
                             f" s){mark}")
        claims = {c["at_most"]: c for c in row["claims"]}

        def claim(label: str) -> str:
            c = claims.get(label)
            return "-" if c is None else f"{c['status']} {c['seconds']:.1f} s"

        def peer(label: str) -> str:
            p = row["peers"].get(label)
            if p is None:
                return "n/a"
            if p.get("value") is None:
                return p["status"]
            return f"{fmt(p['value'])} ({p['seconds']:.1f} s)"

        groups: list[list[int]] = []
        for n in row["sizes"]:
            if groups and groups[-1][0] == n:
                groups[-1][1] += 1
            else:
                groups.append([n, 1])
        sizes = "-".join(f"{n}x{k}" if k > 1 else str(n) for n, k in groups)
        load = f"{row['load'][0]:.1f}" if row.get("load") else "~10"
        lines.append(f"| {row['network']} | {sizes} | {load} | " + " | ".join(cells) +
                     f" | [{fmt(row['lower']['value'])}, {fmt(row['best_certified'])}] | "
                     f"{claim('1.0001 x spectral product')} | "
                     f"{claim('1.001 x best certified')} | {peer('ECLipsE-Fast')} | "
                     f"{peer('ECLipsE')} | {peer('LipSDP-Neuron (interior point)')} | "
                     f"{fmt(row['tightness_vs_lipsdp'], 6)} |")
    lines += ["", "Goals (issue 23): a certified bound within 60 s, and the ladder within 10% of "
              "LipSDP-Neuron where the interior point finishes.", ""]
    for row in out["rows"]:
        claims = {c["at_most"]: c for c in row["claims"]}
        first = claims.get("1.0001 x spectral product")
        top = claims.get("1.001 x best certified")
        ratio = row.get("tightness_vs_lipsdp")
        lines.append(
            f"- {row['network']}: "
            + (f"product of spectral norms certified in {first['seconds']:.1f} s; " if first
               else "")
            + (f"the best bound ({fmt(row['best_certified'])}) as a claim: {top['status']} in "
               f"{top['seconds']:.1f} s" if top else "")
            + (f"; best / LipSDP (IP) = {ratio:.6f}" if ratio else ""))
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--networks", nargs="*", default=list(NETWORKS))
    parser.add_argument("--peer-timeout", type=float, default=300.0)
    parser.add_argument("--lipsdp-rows", type=int, default=400)
    parser.add_argument("--out", default="lipschitz")
    parser.add_argument("--keep-peers", action="store_true",
                        help="with --append: keep the earlier rows' peer results (no rerun)")
    parser.add_argument("--render", action="store_true",
                        help="only write the markdown table of the results file")
    parser.add_argument("--append", action="store_true",
                        help="keep the other networks' rows of an earlier results file")
    args = parser.parse_args()
    out: dict[str, Any] = {"machine": platform.platform(), "cpus": os.cpu_count(),
                           "load_before": [round(x, 2) for x in os.getloadavg()],
                           "torch": torch.__version__, "rows": []}
    path = RESULTS / f"{args.out}.json"
    if args.render:
        (RESULTS / f"{args.out}.md").write_text(markdown(json.loads(path.read_text())))
        return
    kept: dict[str, Any] = {}
    if args.append and path.exists():
        earlier = json.loads(path.read_text())
        kept = {r["network"]: r for r in earlier["rows"]}
        out["rows"] = [r for r in earlier["rows"] if r["network"] not in args.networks]
        out["runs"] = earlier.get("runs", [{k: earlier.get(k) for k in
                                             ("load_before", "load_after")}])
    for name in args.networks:
        print(name, flush=True)
        peers = kept[name]["peers"] if args.keep_peers and name in kept else None
        row = measure(name, args, peers)
        row["load"] = [round(x, 2) for x in os.getloadavg()]
        out["rows"].append(row)
        out["rows"].sort(key=lambda r: list(NETWORKS).index(r["network"]))
        RESULTS.mkdir(exist_ok=True)
        (RESULTS / f"{args.out}.json").write_text(json.dumps(out, indent=1))
    out["load_after"] = [round(x, 2) for x in os.getloadavg()]
    if "runs" in out:
        out["runs"].append({"load_before": out["load_before"], "load_after": out["load_after"],
                            "networks": args.networks})
    (RESULTS / f"{args.out}.json").write_text(json.dumps(out, indent=1))
    (RESULTS / f"{args.out}.md").write_text(markdown(out))
    print(markdown(out))


if __name__ == "__main__":
    main()
