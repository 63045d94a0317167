"""numerics.curvature side by side with PyHessian 0.1 and curvlinops, same process, same run.

Run (needs the ``bench`` extra: ``make bench-install``):

    .venv/bin/python benchmarks/curvature.py --device cuda            # the issue's setting
    .venv/bin/python benchmarks/curvature.py --device cpu --quick     # a few minutes on 2 cores

Models: a 784-512-512-10 MLP and torchvision ResNet-18 (10 classes, 32x32 inputs, eval mode),
batch 256 (``--quick``: 784-128-128-10 and ResNet-18 at batch 16, fewer probes). Same model, data,
device, dtype (float32) and probe counts for every library. Reported:

* trace: a ``--probes``-probe Hutchinson trace (PyHessian's ``trace`` with its early stop
  disabled, curvlinops' ``hutchinson_trace`` on its ``HessianLinearOperator``);
* top eigenvalue: ours to relative Ritz residual 1e-4 versus PyHessian's default power iteration
  (tolerance 1e-3), each with its error against a tight reference (ours, residual 1e-7);
* the cost of one Hessian-vector product, per vector, in units of one gradient evaluation, for
  single vectors (reverse-over-reverse) and for a vmap block.

Writes ``benchmarks/results/curvature-<device>.json`` and ``.md``; ratios are the figure of
merit (times are this machine's).
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from pathlib import Path
from typing import Any, Callable

import torch

from numerics.curvature import HessianOperator

RESULTS = Path(__file__).parent / "results"


def timed(fn: Callable[[], Any], device: str, repeat: int = 1) -> tuple[float, Any]:
    """Median wall time of ``repeat`` calls (after the caller's warm-up) and the last result."""
    times, out = [], None
    for _ in range(repeat):
        if device == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        out = fn()
        if device == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


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


def bench_model(name: str, model: torch.nn.Module, batch: tuple, device: str, probes: int,
                block: int) -> dict[str, Any]:
    from curvlinops import HessianLinearOperator, hutchinson_trace
    from pyhessian import hessian as PyHessian

    loss_fn = torch.nn.CrossEntropyLoss()
    params = [p for p in model.parameters() if p.requires_grad]
    row: dict[str, Any] = {"model": name, "params": sum(p.numel() for p in params),
                           "batch": int(batch[0].shape[0]), "probes": probes}

    def gradient():
        model.zero_grad()
        loss_fn(model(batch[0]), batch[1]).backward()

    gradient()
    row["gradient_s"], _ = timed(gradient, device, repeat=5)
    ours = HessianOperator(model, loss_fn, batch, block_size=block)
    v = torch.randn(ours.dim, device=device)
    ours @ v
    ours.matmat(torch.randn(85, ours.dim, device=device))   # warm-up: tunes the block size
    block = ours.block_size
    row["block"] = block
    V = torch.randn(block, ours.dim, device=device)
    t_single, _ = timed(lambda: ours @ v, device, repeat=5)
    t_block, _ = timed(lambda: ours.matmat(V), device, repeat=3)
    row["hvp_single_grads"] = t_single / row["gradient_s"]
    row["hvp_block_per_vector_grads"] = t_block / block / row["gradient_s"]
    fwd = HessianOperator(model, loss_fn, batch, hvp="forward", block_size=block)
    fwd.matmat(V[:2])
    t_fwd, _ = timed(lambda: fwd.matmat(V), device, repeat=3)
    row["hvp_forward_block_per_vector_grads"] = t_fwd / block / row["gradient_s"]

    # trace: ours, curvlinops, PyHessian
    row["ours_trace_s"], est = timed(lambda: ours.trace(probes=probes, seed=0), device)
    row["ours_trace"] = est.to_dict()
    cl_op = HessianLinearOperator(model, loss_fn, params, [batch], progressbar=False,
                                  check_deterministic=False)
    hutchinson_trace(cl_op, 2)
    row["curvlinops_trace_s"], cl = timed(lambda: hutchinson_trace(cl_op, probes), device)
    row["curvlinops_trace"] = float(cl)
    ph = PyHessian(model, loss_fn, data=batch, cuda=device == "cuda")
    row["pyhessian_trace_s"], tr = timed(lambda: ph.trace(maxIter=probes, tol=-1.0), device)
    row["pyhessian_trace"] = float(sum(tr) / len(tr))

    # top eigenvalue: reference, ours at 1e-4, PyHessian default
    ref = ours.top_eigenvalues(k=1, tol=1e-7, seed=7, max_steps=400).values[0]
    row["reference_lambda_max"] = ref
    row["ours_eig_s"], eig = timed(lambda: ours.top_eigenvalues(k=1, tol=1e-4, seed=0), device)
    row["ours_eig"] = {"value": eig.values[0], "residual": eig.residuals[0],
                       "upper_bound": eig.upper_bound, "matvecs": eig.matvecs,
                       "rel_error": abs(eig.values[0] - ref) / abs(ref)}
    row["pyhessian_eig_s"], (vals, _) = timed(lambda: ph.eigenvalues(top_n=1), device)
    row["pyhessian_eig"] = {"value": float(vals[0]),
                            "rel_error": abs(float(vals[0]) - ref) / abs(ref)}
    row["ratio_trace_vs_pyhessian"] = row["pyhessian_trace_s"] / row["ours_trace_s"]
    row["ratio_trace_vs_curvlinops"] = row["curvlinops_trace_s"] / row["ours_trace_s"]
    row["ratio_eig_vs_pyhessian"] = row["pyhessian_eig_s"] / row["ours_eig_s"]
    return row


def markdown(rows: list[dict[str, Any]], meta: dict[str, Any]) -> str:
    lines = [f"# curvature benchmark ({meta['device']}, {meta['machine']})", "",
             f"torch {meta['torch']}, float32, tf32={meta['tf32']}", "",
             "| model | params | batch | probes | trace: ours s | curvlinops s | PyHessian s | "
             "x vs PyHessian | x vs curvlinops | eig: ours s (rel err) | PyHessian s (rel err) | "
             "x | HVP/grad single | HVP/grad per vector (block) | forward-over-reverse, per vector |",
             "|" + "---|" * 15]
    for r in rows:
        lines.append(
            f"| {r['model']} | {r['params']:,} | {r['batch']} | {r['probes']} | "
            f"{r['ours_trace_s']:.3f} | {r['curvlinops_trace_s']:.3f} | "
            f"{r['pyhessian_trace_s']:.3f} | {r['ratio_trace_vs_pyhessian']:.1f} | "
            f"{r['ratio_trace_vs_curvlinops']:.1f} | {r['ours_eig_s']:.3f} "
            f"({r['ours_eig']['rel_error']:.1e}) | {r['pyhessian_eig_s']:.3f} "
            f"({r['pyhessian_eig']['rel_error']:.1e}) | {r['ratio_eig_vs_pyhessian']:.1f} | "
            f"{r['hvp_single_grads']:.2f} | {r['hvp_block_per_vector_grads']:.2f} "
            f"({r['block']}) | {r['hvp_forward_block_per_vector_grads']:.2f} |")
    lines += ["", "Trace estimates (ours with its 95% interval; peers' point estimates):", ""]
    for r in rows:
        t = r["ours_trace"]
        lines.append(f"- {r['model']}: ours {t['value']:.4g} [{t['lower']:.4g}, "
                     f"{t['upper']:.4g}], curvlinops {r['curvlinops_trace']:.4g}, PyHessian "
                     f"{r['pyhessian_trace']:.4g}; lambda_max reference "
                     f"{r['reference_lambda_max']:.6g}, ours upper bound (95%) "
                     f"{r['ours_eig']['upper_bound']:.6g}")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cuda")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--probes", type=int)
    parser.add_argument("--block", type=int, help="vectors per batched call (default: tuned)")
    parser.add_argument("--tf32", action="store_true", help="allow TF32 matmuls/convolutions")
    parser.add_argument("--only", help="substring of the model names to run")
    args = parser.parse_args()
    if args.device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda: torch sees no CUDA device")
    torch.backends.cuda.matmul.allow_tf32 = args.tf32
    torch.backends.cudnn.allow_tf32 = args.tf32
    probes = args.probes or (30 if args.quick else 100)
    block = args.block  # None: the operator tunes its block size
    rows = []
    for name, (model, batch) in make_models(args.quick, args.device).items():
        if args.only and args.only not in name:
            continue
        print(f"{name} ...", flush=True)
        rows.append(bench_model(name, model, batch, args.device, probes, block))
        print(json.dumps({k: v for k, v in rows[-1].items() if "ratio" in k or k.endswith("s")},
                         indent=1, default=str), flush=True)
    meta = {"device": args.device if args.device == "cpu" else torch.cuda.get_device_name(),
            "machine": f"{platform.node()} {platform.processor()} "
                       f"{torch.get_num_threads()} threads", "torch": torch.__version__,
            "tf32": args.tf32, "quick": args.quick}
    RESULTS.mkdir(exist_ok=True)
    stem = RESULTS / f"curvature-{args.device}{'-quick' if args.quick else ''}"
    stem.with_suffix(".json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=2))
    stem.with_suffix(".md").write_text(markdown(rows, meta))
    print(markdown(rows, meta))


if __name__ == "__main__":
    main()
