"""numerics.curvature side by side with PyHessian 0.1 and curvlinops, same process, same run.

Run (needs the ``bench`` extra: ``make bench-install``):

    .venv/bin/python benchmarks/curvature.py --device cpu --quick     # the CPU table, 2 threads
    .venv/bin/python benchmarks/curvature.py --device cuda            # full size, on a GPU

Models: a 784-512-512-10 MLP and torchvision ResNet-18 (10 classes, 32x32 inputs, eval mode),
batch 256 (``--quick``: 784-128-128-10 at batch 64 and ResNet-18 at batch 16). Same model,
data, device, dtype (float32) and thread count for every library; every timing is repeated
(``--rounds``, median reported with its spread) and the libraries alternate within each round,
so that a load on the machine falls on all of them alike. Reported per model:

* trace at equal probe counts (30 and 100 Rademacher probes): ours (Hutchinson), PyHessian's
  ``trace`` made to use all its probes, curvlinops' ``hutchinson_trace``;
* trace at equal accuracy (relative standard error <= 2%): ours with the stratified estimator
  stopping when its interval is that tight, PyHessian with the number of Hutchinson probes its
  own per-probe variance needs for that error (timed, or, past ``--max-peer-seconds``,
  extrapolated from its timed per-probe cost);
* top eigenvalue: ours to relative Ritz residual 1e-4 versus PyHessian's default power iteration
  (tolerance 1e-3), each with its error against a tight reference (ours, residual ~1e-6);
* Hessian-vector products per vector in units of one gradient: single and in blocks (the block
  size the operator chose, and forced vmap blocks of 4 for comparison), each variant warmed up
  and then timed in interleaved rounds, with block / single per round;
* first call (fresh objects: our graph and tuning, PyHessian's constructor) against repeated
  calls, and the time our block-size tuning took.

Every estimate is checked against a reference by :func:`compare_with_peer` (ours included); a
ratio is reported only when both answers agree, and a disagreement is printed with its reasons.

OpenMP threads: ``OMP_WAIT_POLICY`` defaults to ``PASSIVE`` here (set it in the environment to
override). On a shared machine the default spinning threads stall whenever another process
takes a core (a 1 ms product took 0.2 s); the setting applies to all libraries alike.

Writes ``benchmarks/results/curvature-<device>[-quick].json`` and ``.md``; ratios are the
figure of merit (times are this machine's).
"""

from __future__ import annotations

import os

if __name__ == "__main__":  # before torch starts its OpenMP runtime; not when imported
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any, Callable, Sequence  # noqa: E402

import torch  # noqa: E402

from numerics.curvature import HessianOperator  # noqa: E402

RESULTS = Path(__file__).parent / "results"
Z_AGREE = 3.29           # two-sided 99.9% normal quantile: agreement test of two estimates
EIG_RTOL = 1e-2          # agreement tolerance for a peer's lambda_max (see compare_with_peer)
SAME_ERROR_RTOL = 0.02   # relative standard error of the equal-accuracy trace
PYHESSIAN_EPS = 1e-6     # the constant in PyHessian's relative-change test


# --------------------------------------------------------------------------------------------
# pure checks (tested in tests/test_curvature_benchmark.py)
# --------------------------------------------------------------------------------------------

def compare_with_peer(quantity: str, reference: float, reference_error: float, peer: float, *,
                      peer_error: float = 0.0, rtol: float = 0.0, z: float = Z_AGREE,
                      products_used: int | None = None, products_asked: int | None = None,
                      upper_limit: float | None = None) -> dict[str, Any]:
    """Whether an estimate agrees with a reference, and why not.

    It agrees when it is finite, was computed from all the products asked for, is not above
    ``upper_limit`` (for a Rayleigh quotient: an upper bound of lambda_max, which no Rayleigh
    quotient exceeds), and lies within ``z * sqrt(peer_error**2 + reference_error**2) +
    rtol * |reference|`` of ``reference``. For a stochastic trace the errors are standard
    errors (two independent estimates of one number); for an eigenvalue the reference error is
    a residual bound and ``rtol`` the tolerance the peer is held to.

    Returns
    -------
    dict
        ``quantity``, ``reference``, ``peer``, ``deviation`` (|peer - reference|), ``allowed``,
        ``sigmas`` (deviation over the combined standard error, if any), ``agree`` and
        ``reasons`` (empty when it agrees).
    """
    reasons = []
    allowed = z * math.hypot(peer_error, reference_error) + rtol * abs(reference)
    deviation = abs(peer - reference) if math.isfinite(peer) else math.inf
    if not math.isfinite(peer):
        reasons.append(f"{quantity}: the peer's value {peer} is not finite")
    if products_asked is not None and products_used is not None and \
            products_used < products_asked:
        reasons.append(f"{quantity}: the peer used {products_used} of the {products_asked} "
                       "products asked for")
    if upper_limit is not None and math.isfinite(peer) and peer > upper_limit:
        reasons.append(f"{quantity}: {peer:.6g} exceeds the upper bound {upper_limit:.6g}, "
                       "which no Rayleigh quotient can")
    if deviation > allowed:
        reasons.append(f"{quantity}: {peer:.6g} is {deviation:.3g} from the reference "
                       f"{reference:.6g}, more than the {allowed:.3g} allowed")
    combined = math.hypot(peer_error, reference_error)
    return {"quantity": quantity, "reference": reference, "reference_error": reference_error,
            "peer": peer, "peer_error": peer_error, "deviation": deviation, "allowed": allowed,
            "sigmas": deviation / combined if combined > 0 else None, "agree": not reasons,
            "reasons": reasons}


def pyhessian_stop(samples: Sequence[float], tol: float) -> int:
    """How many probes PyHessian 0.1's ``hessian.trace(maxIter, tol)`` uses on this sequence of
    probe values z^T H z: it returns after probe i once
    ``abs(mean_i - mean_{i-1}) / (mean_{i-1} + 1e-6) < tol`` (``mean_0 = 0``). The denominator
    is not an absolute value, so once the running mean is negative the left side is negative
    and any ``tol > left side`` stops it, ``tol = -1`` included; ``tol = -inf`` never stops."""
    mean_prev, total = 0.0, 0.0
    for i, value in enumerate(samples, start=1):
        total += value
        mean = total / i
        if abs(mean - mean_prev) / (mean_prev + PYHESSIAN_EPS) < tol:
            return i
        mean_prev = mean
    return len(samples)


def probes_for_relative_error(per_probe_std: float, trace: float, rtol: float) -> int:
    """Hutchinson probes n with per_probe_std / sqrt(n) <= rtol * |trace|."""
    return max(2, math.ceil((per_probe_std / (rtol * abs(trace))) ** 2))


def combine_estimates(values: Sequence[float], errors: Sequence[float]) -> tuple[float, float]:
    """Inverse-variance mean of independent estimates and its standard error."""
    weights = [1 / e ** 2 for e in errors]
    total = sum(weights)
    return sum(w * v for w, v in zip(weights, values)) / total, 1 / math.sqrt(total)


def spread(times: Sequence[float]) -> dict[str, float]:
    """Median, min, max and (max - min) / median of repeated timings."""
    med = statistics.median(times)
    return {"median": med, "min": min(times), "max": max(times),
            "rel_spread": (max(times) - min(times)) / med if med > 0 else 0.0,
            "n": len(times)}


# --------------------------------------------------------------------------------------------
# measurement
# --------------------------------------------------------------------------------------------

def timed(fn: Callable[[], Any], device: str) -> tuple[float, Any]:
    """Wall time of one call (synchronized on CUDA) and its result."""
    if device == "cuda":
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    out = fn()
    if device == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - t0, out


def repeat(fn: Callable[[], Any], device: str, n: int) -> tuple[dict[str, float], Any]:
    times, out = [], None
    for _ in range(n):
        t, out = timed(fn, device)
        times.append(t)
    return spread(times), out


def make_models(quick: bool, device: str) -> dict[str, tuple[torch.nn.Module, tuple]]:
    import torchvision

    torch.manual_seed(0)
    width, batch = (128, 16) if quick else (512, 256)
    mlp = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(784, width), torch.nn.ReLU(),
                              torch.nn.Linear(width, width), torch.nn.ReLU(),
                              torch.nn.Linear(width, 10))
    resnet = torchvision.models.resnet18(num_classes=10)
    out = {}
    for name, model, shape in ((f"mlp-784-{width}-{width}-10", mlp, (1, 28, 28)),
                               ("resnet18-32x32", resnet, (3, 32, 32))):
        b = batch if not quick or name.startswith("resnet") else 64
        x = torch.randn(b, *shape, device=device)
        y = torch.randint(0, 10, (b,), device=device)
        out[name] = (model.to(device).eval(), (x, y))
    return out


class ProductCounter:
    """Counts PyHessian's Hessian-vector products (wraps the function its module calls)."""

    def __init__(self):
        import importlib

        # the module, not the class of the same name that pyhessian/__init__.py exports
        module = importlib.import_module("pyhessian.hessian")

        self.module, self.original, self.count = module, module.hessian_vector_product, 0

        def counted(*args, **kwargs):
            self.count += 1
            return self.original(*args, **kwargs)

        module.hessian_vector_product = counted

    def take(self) -> int:
        n, self.count = self.count, 0
        return n


def bench_model(name: str, model: torch.nn.Module, batch: tuple, device: str, args) -> dict:
    from curvlinops import HessianLinearOperator, hutchinson_trace
    from pyhessian import hessian as PyHessian

    rounds = args.rounds
    loss_fn = torch.nn.CrossEntropyLoss()
    params = [p for p in model.parameters() if p.requires_grad]
    row: dict[str, Any] = {"model": name, "params": sum(p.numel() for p in params),
                           "batch": int(batch[0].shape[0])}
    agreements: list[dict[str, Any]] = []
    counter = ProductCounter()

    def log(msg: str) -> None:
        print(f"  [{name}] {msg}", flush=True)

    def gradient():
        model.zero_grad(set_to_none=True)
        loss_fn(model(batch[0]), batch[1]).backward()

    gradient()
    row["gradient_s"], _ = repeat(gradient, device, 5)
    model.zero_grad(set_to_none=True)
    grad_s = row["gradient_s"]["median"]

    # ---- first calls: fresh objects, 30-probe trace -------------------------------------
    first: dict[str, float] = {}
    t, (ours, _) = timed(lambda: (lambda op: (op, op.trace(probes=30, seed=0)))(
        HessianOperator(model, loss_fn, batch)), device)
    first["ours"] = t
    first["ours_graph_s"] = ours.stats["graph_s"]
    torch.manual_seed(0)
    t, (ph, _) = timed(lambda: (lambda h: (h, h.trace(maxIter=30, tol=-math.inf)))(
        PyHessian(model, loss_fn, data=batch, cuda=device == "cuda")), device)
    first["pyhessian"] = t
    counter.take()
    t, (cl_op, _) = timed(lambda: (lambda A: (A, hutchinson_trace(A, 30)))(
        HessianLinearOperator(model, loss_fn, params, [batch], progressbar=False,
                              check_deterministic=False)), device)
    first["curvlinops"] = t
    row["first_call_trace30_s"] = first
    log(f"first calls {first}")

    # ---- PyHessian as the old benchmark called it (tol=-1): does it use its probes? --------
    torch.manual_seed(1)
    tr_old = ph.trace(maxIter=30, tol=-1.0)
    used = counter.take()
    row["pyhessian_trace_tol_minus1"] = {
        "asked": 30, "used": used, "value": sum(tr_old) / len(tr_old), "samples": tr_old,
        "running_means": [sum(tr_old[:i + 1]) / (i + 1) for i in range(len(tr_old))],
        # the explanation, checked: its stopping rule replayed on its own probe values
        "explained_by_pyhessian_stop": pyhessian_stop(tr_old, -1.0) == len(tr_old) == used}

    # ---- let the block-size tuner settle on real work (timed apart) ----------------------
    t0, settle_vectors = time.perf_counter(), 0
    if ours.block_size is None:
        W = torch.randn(64, ours.dim, device=device)
        while ours.block_size is None and settle_vectors < 4096:
            ours.matmat(W)
            settle_vectors += 64
        del W
    row["tuner_settle"] = {"s": time.perf_counter() - t0, "vectors": settle_vectors,
                           "block_size": ours.block_size,
                           "stats_after": dict(ours.stats)}
    log(f"tuner settled: {row['tuner_settle']}")

    # ---- HVP costs: every variant warmed up once, then timed in interleaved rounds -----------
    v = torch.randn(ours.dim, device=device)
    nblock = max(8, ours.block_size or 1)
    V = torch.randn(nblock, ours.dim, device=device)
    vmap4 = HessianOperator(model, loss_fn, batch, block_size=4)
    fwd4 = HessianOperator(model, loss_fn, batch, hvp="forward", block_size=4)
    ph_v = [torch.randn_like(p) for p in ph.params]
    from pyhessian.utils import hessian_vector_product
    variants = {"single": (lambda: ours @ v, 1), "block": (lambda: ours.matmat(V), nblock),
                "vmap4": (lambda: vmap4.matmat(V[:4]), 4),
                "forward4": (lambda: fwd4.matmat(V[:4]), 4),
                "pyhessian_single": (lambda: hessian_vector_product(ph.gradsH, ph.params, ph_v),
                                     1)}
    per_vector: dict[str, list[float]] = {k: [] for k in variants}
    for fn, _ in variants.values():
        timed(fn, device)
    for _ in range(max(5, rounds)):
        for key, (fn, count) in variants.items():
            t, out = timed(fn, device)
            del out  # no result is kept alive across the next call
            per_vector[key].append(t / count)
    del vmap4, fwd4
    hvp_times = {k: spread(x) for k, x in per_vector.items()}
    single, block = hvp_times["single"], hvp_times["block"]
    t_vmap4, t_fwd4, t_ph_hvp = (hvp_times[k] for k in ("vmap4", "forward4", "pyhessian_single"))
    row["hvp"] = {
        "single_grads": single["median"] / grad_s,
        "block_grads_per_vector": block["median"] / grad_s,
        "block_vectors": nblock, "block_size_chosen": ours.block_size,
        "vmap_block4_grads_per_vector": t_vmap4["median"] / grad_s,
        "forward_block4_grads_per_vector": t_fwd4["median"] / grad_s,
        "pyhessian_single_grads": t_ph_hvp["median"] / grad_s,
        "block_over_single_per_round": [b / a for a, b in zip(per_vector["single"],
                                                              per_vector["block"])],
        "times_per_vector": hvp_times}
    log(f"hvp {json.dumps({k: v for k, v in row['hvp'].items() if k != 'times'})}")

    # ---- trace at equal probe counts, interleaved rounds ----------------------------------
    traces: dict[int, dict[str, list]] = {}
    for n in (30, 100):
        traces[n] = {k: [] for k in ("ours_s", "pyhessian_s", "curvlinops_s", "ours",
                                     "pyhessian", "curvlinops", "pyhessian_used")}
    for r in range(rounds):
        for n in (30, 100):
            rec = traces[n]
            t, est = timed(lambda: ours.trace(probes=n, seed=1000 * n + r), device)
            rec["ours_s"].append(t)
            rec["ours"].append(est)
            torch.manual_seed(1000 * n + r)
            t, samples = timed(lambda: ph.trace(maxIter=n, tol=-math.inf), device)
            rec["pyhessian_s"].append(t)
            rec["pyhessian"].append(samples)
            rec["pyhessian_used"].append(counter.take())
            torch.manual_seed(5000 + 1000 * n + r)
            # curvlinops multiplies all probes in one vmap: at most 30 per call bounds memory
            chunks = [min(30, n - i) for i in range(0, n, 30)]
            t, parts = timed(lambda: [float(hutchinson_trace(cl_op, c)) * c for c in chunks],
                             device)
            rec["curvlinops_s"].append(t)
            rec["curvlinops"].append(sum(parts) / n)
            log(f"round {r} probes {n}: ours {rec['ours_s'][-1]:.3f}s PyHessian "
                f"{rec['pyhessian_s'][-1]:.3f}s curvlinops {t:.3f}s")

    # ---- trace at equal accuracy: the reference -------------------------------------------
    same = []
    for r in range(rounds):
        t, est = timed(lambda: ours.trace(probes=20000, method="stratified",
                                          rtol=SAME_ERROR_RTOL, seed=7 + r), device)
        same.append((t, est))
        log(f"stratified rtol {SAME_ERROR_RTOL}: {t:.3f}s, {est.probes} products, "
            f"{est.value:.5g} +- {est.std_error:.3g}")
    ref_value, ref_se = combine_estimates([e.value for _, e in same],
                                          [e.std_error for _, e in same])
    row["trace_reference"] = {"value": ref_value, "std_error": ref_se,
                              "from": f"{rounds} stratified estimates, inverse-variance mean"}

    # per-probe standard deviation of Hutchinson (a property of H and the probe law)
    ph100 = [x for s in traces[100]["pyhessian"] for x in s]
    ours100 = [x for e in traces[100]["ours"] for x in e.samples]
    sd_ph = statistics.stdev(ph100)
    sd_pooled = statistics.stdev(ph100 + ours100)

    # ---- agreement at equal probe counts --------------------------------------------------
    trace_rows = {}
    for n in (30, 100):
        rec = traces[n]
        ok = {"ours": True, "pyhessian": True, "curvlinops": True}
        for r in range(rounds):
            est = rec["ours"][r]
            c = compare_with_peer(f"trace ours {n} probes round {r}", ref_value, ref_se,
                                  est.value, peer_error=est.std_error,
                                  products_used=est.matvecs, products_asked=n)
            agreements.append(c)
            ok["ours"] &= c["agree"]
            s = rec["pyhessian"][r]
            c = compare_with_peer(f"trace PyHessian {n} probes round {r}", ref_value, ref_se,
                                  sum(s) / len(s), peer_error=statistics.stdev(s) / math.sqrt(
                                      len(s)), products_used=rec["pyhessian_used"][r],
                                  products_asked=n)
            agreements.append(c)
            ok["pyhessian"] &= c["agree"]
            c = compare_with_peer(f"trace curvlinops {n} probes round {r}", ref_value, ref_se,
                                  rec["curvlinops"][r], peer_error=sd_pooled / math.sqrt(n))
            agreements.append(c)
            ok["curvlinops"] &= c["agree"]
        per_round = {p: [b / a for a, b in zip(rec["ours_s"], rec[f"{p}_s"])]
                     for p in ("pyhessian", "curvlinops")}
        trace_rows[n] = {
            "ours_s": spread(rec["ours_s"]), "pyhessian_s": spread(rec["pyhessian_s"]),
            "curvlinops_s": spread(rec["curvlinops_s"]),
            "ours": [e.to_dict() for e in rec["ours"]],
            "pyhessian": [sum(s) / len(s) for s in rec["pyhessian"]],
            "pyhessian_used": rec["pyhessian_used"], "curvlinops": rec["curvlinops"],
            "agree": ok,
            "ratio_vs_pyhessian": statistics.median(per_round["pyhessian"])
            if ok["ours"] and ok["pyhessian"] else None,
            "ratio_vs_curvlinops": statistics.median(per_round["curvlinops"])
            if ok["ours"] and ok["curvlinops"] else None,
            "ratio_range": {p: [min(x), max(x)] for p, x in per_round.items()}}
    row["trace"] = trace_rows

    # ---- equal accuracy: PyHessian's probes for the same relative standard error ------------
    n_ph = probes_for_relative_error(sd_ph, ref_value, SAME_ERROR_RTOL)
    per_probe = statistics.median(t / 100 for t in traces[100]["pyhessian_s"])
    projected = n_ph * per_probe
    if projected <= args.max_peer_seconds:
        ph_times = []
        for r in range(args.peer_rounds or rounds):
            torch.manual_seed(9000 + r)
            t, s = timed(lambda: ph.trace(maxIter=n_ph, tol=-math.inf), device)
            ph_times.append(t)
            agreements.append(compare_with_peer(
                f"trace PyHessian {n_ph} probes (equal accuracy) round {r}", ref_value, ref_se,
                sum(s) / len(s), peer_error=statistics.stdev(s) / math.sqrt(len(s)),
                products_used=counter.take(), products_asked=n_ph))
        ph_same = spread(ph_times)
        how = "timed"
    else:
        ph_same = {"median": projected, "per_probe_s": per_probe}
        how = (f"extrapolated: {n_ph} probes x {per_probe:.4f} s per probe (median of its "
               f"100-probe runs; its loop costs one product per probe)")
    ours_same = spread([t for t, _ in same])
    for r, (_, e) in enumerate(same):
        # each round against the others (an estimate is not a check of itself)
        rest = [x for i, (_, x) in enumerate(same) if i != r]
        if rest:
            v_rest, se_rest = combine_estimates([x.value for x in rest],
                                                [x.std_error for x in rest])
            agreements.append(compare_with_peer(
                f"trace ours stratified round {r} vs the other rounds", v_rest, se_rest,
                e.value, peer_error=e.std_error))
    same_ok = all(a["agree"] for a in agreements if "equal accuracy" in a["quantity"]
                  or "stratified" in a["quantity"])
    row["trace_same_error"] = {
        "rtol": SAME_ERROR_RTOL,
        "ours": {"s": ours_same, "products": [e.probes for _, e in same],
                 "estimates": [e.to_dict() for _, e in same],
                 "relative_std_error": [e.relative_std_error for _, e in same]},
        "pyhessian": {"s": ph_same, "probes": n_ph, "per_probe_std": sd_ph, "timing": how},
        "ratio_trace_same_error_vs_pyhessian": ph_same["median"] / ours_same["median"]
        if same_ok else None}
    log(f"same error: ours {ours_same['median']:.2f}s vs PyHessian {ph_same['median']:.2f}s "
        f"({how})")

    # ---- top eigenvalue -------------------------------------------------------------------
    ref = ours.top_eigenvalues(k=1, tol=1e-6, seed=12345, max_steps=300)
    lam, lam_res = ref.values[0], ref.residuals[0]
    row["eig_reference"] = {"value": lam, "residual": lam_res, "steps": ref.steps,
                            "upper_bound_95": ref.upper_bound}
    eig: dict[str, list] = {"ours_s": [], "pyhessian_s": [], "ours": [], "pyhessian": []}
    eig_rounds = max(rounds, args.eig_rounds)  # PyHessian's iteration count varies by start
    for r in range(eig_rounds):
        t, e = timed(lambda: ours.top_eigenvalues(k=1, tol=1e-4, seed=r), device)
        eig["ours_s"].append(t)
        eig["ours"].append({"value": e.values[0], "residual": e.residuals[0],
                            "relative_residual": e.residuals[0] / abs(e.values[0]),
                            "upper_bound_95": e.upper_bound, "matvecs": e.matvecs,
                            "rel_error": abs(e.values[0] - lam) / abs(lam)})
        torch.manual_seed(r)
        t, (vals, _) = timed(lambda: ph.eigenvalues(top_n=1), device)
        eig["pyhessian_s"].append(t)
        eig["pyhessian"].append({"value": float(vals[0]), "products": counter.take(),
                                 "rel_error": abs(float(vals[0]) - lam) / abs(lam)})
    agree_rounds = []
    for r in range(eig_rounds):
        ok = True
        for who in ("ours", "pyhessian"):
            c = compare_with_peer(f"lambda_max {who} round {r}", lam, lam_res,
                                  eig[who][r]["value"], z=1.0,
                                  rtol=1e-3 if who == "ours" else EIG_RTOL,
                                  upper_limit=lam + lam_res if who == "pyhessian" else None)
            agreements.append(c)
            ok &= c["agree"]
        if ok:
            agree_rounds.append(r)
    # a ratio only over the rounds where both answers agree with the reference
    per_round = [eig["pyhessian_s"][r] / eig["ours_s"][r] for r in agree_rounds]
    row["eig"] = {"ours_s": spread(eig["ours_s"]), "pyhessian_s": spread(eig["pyhessian_s"]),
                  "ours": eig["ours"], "pyhessian": eig["pyhessian"],
                  "rounds_agreeing": agree_rounds, "rounds": eig_rounds,
                  "pyhessian_within_its_tol_1e-3": [p["rel_error"] <= 1e-3
                                                    for p in eig["pyhessian"]],
                  "ratio_eig_vs_pyhessian": statistics.median(per_round) if per_round else None,
                  "ratio_range": [min(per_round), max(per_round)] if per_round else None,
                  "ours_s_agreeing": spread([eig["ours_s"][r] for r in agree_rounds])
                  if agree_rounds else None,
                  "pyhessian_s_agreeing": spread([eig["pyhessian_s"][r] for r in agree_rounds])
                  if agree_rounds else None}

    # ---- tuning, first vs repeated --------------------------------------------------------
    tuner = ours._tuner
    row["tuning"] = {"graph_s": ours.stats["graph_s"], "tuning_s": ours.stats["tuning_s"],
                     "tuning_products": ours.stats["tuning_products"],
                     "products": ours.stats["products"], "product_s": ours.stats["product_s"],
                     "block_size": ours.block_size,
                     "tuner": None if tuner is None else {
                         "done": tuner.done, "best": tuner.best,
                         "median_s_per_vector": {str(k): statistics.median(x)
                                                 for k, x in tuner.per_vector.items()}}}
    row["repeated_call_trace30_s"] = {"ours": trace_rows[30]["ours_s"]["median"],
                                      "pyhessian": trace_rows[30]["pyhessian_s"]["median"],
                                      "curvlinops": trace_rows[30]["curvlinops_s"]["median"]}
    row["agreements"] = agreements
    row["disagreements"] = [a for a in agreements if not a["agree"]]
    old = row["pyhessian_trace_tol_minus1"]
    row["pyhessian_tol_minus1_check"] = compare_with_peer(
        "trace PyHessian 30 probes, tol=-1 (the old benchmark's call)", ref_value, ref_se,
        old["value"], peer_error=sd_ph / math.sqrt(max(old["used"], 1)),
        products_used=old["used"], products_asked=30)
    counter.module.hessian_vector_product = counter.original
    return row


# --------------------------------------------------------------------------------------------
# report
# --------------------------------------------------------------------------------------------

def _r(x: float | None, fmt: str = ".1f") -> str:
    return "n/a (answers disagree)" if x is None else format(x, fmt)


def _s(sp: dict[str, float]) -> str:
    return f"{sp['median']:.3g}"


def markdown(rows: list[dict[str, Any]], meta: dict[str, Any]) -> str:
    lines = [f"# curvature benchmark ({meta['device']}, {meta['machine']})", "",
             f"torch {meta['torch']}, {meta['threads']} threads, OMP_WAIT_POLICY="
             f"{meta['omp_wait_policy']}, float32, {meta['rounds']} rounds per timing (median; "
             f"libraries alternate within a round), PyHessian {meta['pyhessian']}, curvlinops "
             f"{meta['curvlinops']}, {meta['date']}", "",
             "## Trace at equal probe counts (Hutchinson, Rademacher)", "",
             "| model | probes | ours s | PyHessian s | curvlinops s | x vs PyHessian | "
             "x vs curvlinops | timing spread (max-min)/median: ours / PyH / cl |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        for n, t in r["trace"].items():
            lines.append(
                f"| {r['model']} | {n} | {_s(t['ours_s'])} | {_s(t['pyhessian_s'])} | "
                f"{_s(t['curvlinops_s'])} | {_r(t['ratio_vs_pyhessian'])} | "
                f"{_r(t['ratio_vs_curvlinops'])} | {t['ours_s']['rel_spread']:.0%} / "
                f"{t['pyhessian_s']['rel_spread']:.0%} / {t['curvlinops_s']['rel_spread']:.0%} |")
    lines += ["", f"## Trace at equal accuracy (relative standard error <= "
              f"{SAME_ERROR_RTOL:.0%})", "",
              "| model | ours (stratified, adaptive) s | products | PyHessian probes needed | "
              "PyHessian s | x | PyHessian timing |", "|---|---|---|---|---|---|---|"]
    for r in rows:
        s = r["trace_same_error"]
        lines.append(
            f"| {r['model']} | {_s(s['ours']['s'])} | {statistics.median(s['ours']['products'])}"
            f" | {s['pyhessian']['probes']} | {s['pyhessian']['s']['median']:.3g} | "
            f"{_r(s['ratio_trace_same_error_vs_pyhessian'])} | {s['pyhessian']['timing']} |")
    lines += ["", "## Top eigenvalue", "",
              "| model | ours s (tol 1e-4) | rel. error | rel. residual | products | "
              "PyHessian s (tol 1e-3) | rel. error | products | x |",
              "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        e = r["eig"]
        med = lambda xs, k: statistics.median(x[k] for x in xs)  # noqa: E731
        lines.append(
            f"| {r['model']} | {_s(e['ours_s'])} | {med(e['ours'], 'rel_error'):.1e} | "
            f"{med(e['ours'], 'relative_residual'):.1e} | {med(e['ours'], 'matvecs'):.0f} | "
            f"{_s(e['pyhessian_s'])} | {med(e['pyhessian'], 'rel_error'):.1e} | "
            f"{med(e['pyhessian'], 'products'):.0f} | {_r(e['ratio_eig_vs_pyhessian'])} "
            f"({len(e['rounds_agreeing'])} of {e['rounds']} starts agree) |")
    lines += ["", "## Hessian-vector products, per vector, in gradients", "",
              "| model | gradient s | ours single | ours block (size chosen) | block / single "
              "(median over rounds) | vmap block 4 | forward-over-reverse block 4 | PyHessian "
              "single |", "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        h = r["hvp"]
        lines.append(
            f"| {r['model']} | {r['gradient_s']['median']:.3g} | {h['single_grads']:.2f} | "
            f"{h['block_grads_per_vector']:.2f} ({h['block_size_chosen']}) | "
            f"{statistics.median(h['block_over_single_per_round']):.2f} | "
            f"{h['vmap_block4_grads_per_vector']:.2f} | "
            f"{h['forward_block4_grads_per_vector']:.2f} | {h['pyhessian_single_grads']:.2f} |")
    lines += ["", "## First call (fresh objects) vs repeated, 30-probe trace; tuning", "",
              "| model | ours first s (graph s) | ours repeated s | PyHessian first s (with "
              "constructor) | repeated s | curvlinops first s | repeated s | tuning s "
              "(products) of all products s (products) | block size |",
              "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        f, rep, tu = r["first_call_trace30_s"], r["repeated_call_trace30_s"], r["tuning"]
        lines.append(
            f"| {r['model']} | {f['ours']:.3g} ({f['ours_graph_s']:.3g}) | {rep['ours']:.3g} | "
            f"{f['pyhessian']:.3g} | {rep['pyhessian']:.3g} | {f['curvlinops']:.3g} | "
            f"{rep['curvlinops']:.3g} | {tu['tuning_s']:.3g} ({tu['tuning_products']}) of "
            f"{tu['product_s']:.3g} ({tu['products']}) | {tu['block_size']} |")
    lines += ["", "## Agreement", ""]
    for r in rows:
        ref = r["trace_reference"]
        e = r["eig_reference"]
        lines.append(f"- {r['model']}: trace reference {ref['value']:.5g} +- "
                     f"{ref['std_error']:.2g} ({ref['from']}); lambda_max reference "
                     f"{e['value']:.7g} (residual {e['residual']:.1e}).")
        old = r["pyhessian_tol_minus1_check"]
        o = r["pyhessian_trace_tol_minus1"]
        lines.append(f"  PyHessian `trace(maxIter=30, tol=-1)` (the old call): {o['value']:.4g} "
                     f"from {o['used']} of 30 probes, running means "
                     f"{[round(m, 3) for m in o['running_means']]}: "
                     + ("agrees" if old["agree"] else "DISAGREES: " + "; ".join(old["reasons"])))
        n_bad = len(r["disagreements"])
        lines.append(f"  {len(r['agreements'])} comparisons, {n_bad} disagreements"
                     + (":" if n_bad else "."))
        for d in r["disagreements"]:
            lines.append(f"  - {'; '.join(d['reasons'])}")
        errors = ", ".join(f"{p['rel_error']:.1e}" for p in r["eig"]["pyhessian"])
        lines.append(f"  PyHessian's lambda_max within its nominal 1e-3: "
                     f"{r['eig']['pyhessian_within_its_tol_1e-3']}, errors {errors} (its test "
                     f"bounds the change between iterations, not the error; agreement is "
                     f"judged at {EIG_RTOL:g}).")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cuda")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    parser.add_argument("--rounds", type=int, default=3, help="repeats of every timing")
    parser.add_argument("--eig-rounds", type=int, default=5,
                        help="random starts for the top eigenvalue (PyHessian's iteration "
                             "count depends on its start)")
    parser.add_argument("--max-peer-seconds", type=float, default=120.0,
                        help="time PyHessian's equal-accuracy trace only if projected below")
    parser.add_argument("--peer-rounds", type=int, default=None,
                        help="rounds of PyHessian's equal-accuracy trace when it is timed "
                             "(default: --rounds; it is the longest timing of the run)")
    parser.add_argument("--tf32", action="store_true", help="allow TF32 matmuls/convolutions")
    parser.add_argument("--only", help="substring of the model names to run")
    args = parser.parse_args()
    if args.device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda: torch sees no CUDA device")
    torch.set_num_threads(args.threads)
    torch.backends.cuda.matmul.allow_tf32 = args.tf32
    torch.backends.cudnn.allow_tf32 = args.tf32
    from importlib.metadata import version

    rows = []
    for name, (model, batch) in make_models(args.quick, args.device).items():
        if args.only and args.only not in name:
            continue
        print(f"{name} ...", flush=True)
        rows.append(bench_model(name, model, batch, args.device, args))
        for d in rows[-1]["disagreements"] + [rows[-1]["pyhessian_tol_minus1_check"]]:
            if not d["agree"]:
                print("  DISAGREEMENT: " + "; ".join(d["reasons"]), flush=True)
    meta = {"device": args.device if args.device == "cpu" else torch.cuda.get_device_name(),
            "machine": f"{platform.node()} {platform.machine()} {os.cpu_count()} cores",
            "threads": torch.get_num_threads(), "torch": torch.__version__,
            "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"), "tf32": args.tf32,
            "quick": args.quick, "rounds": args.rounds, "pyhessian": version("pyhessian"),
            "curvlinops": version("curvlinops-for-pytorch"),
            "date": time.strftime("%Y-%m-%d %H:%M"),
            "load_average": os.getloadavg()}
    RESULTS.mkdir(exist_ok=True)
    stem = RESULTS / f"curvature-{args.device}{'-quick' if args.quick else ''}"
    stem.with_suffix(".json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=1,
                                                    default=str))
    stem.with_suffix(".md").write_text(markdown(rows, meta))
    print(markdown(rows, meta))


if __name__ == "__main__":
    main()
