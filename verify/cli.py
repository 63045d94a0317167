"""The ``sharpflat`` command (also ``python -m verify``).

Exit status (:class:`ExitCode`): 0 when nothing was refuted or errored, 1 when something was
refuted, 2 when the run was interrupted, 3 when something errored, 4 on a usage error, 5 when
nothing was selected to run.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, Iterable, Sequence

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from verify.errors import SharpflatError, UsageError
from verify.session import ExitCode, exit_code_for, run_session, write_json
from verify.verdict import Status, Verdict

out = Console(highlight=False, soft_wrap=False, width=120)
err = Console(stderr=True, highlight=False, soft_wrap=True)

_STYLE = {"proved": "bold green", "certified": "green", "evidence": "cyan", "refuted": "bold red",
          "inconclusive": "yellow", "error": "bold magenta"}


def _optimizer_choices() -> tuple[str, ...]:
    from numerics.updates import OPTIMIZERS

    return tuple(name for name, o in OPTIMIZERS.items() if o.filter or name == "sam")


def _session(args: argparse.Namespace, store: Any, **kw: Any) -> tuple[ExitCode, int, list]:
    quiet = getattr(args, "quiet", False)
    with Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=err, disable=quiet, transient=False) as bar:
        progress = bar.add_task("run", total=len(kw.get("tasks", [])))
        code, run_id, verdicts, interrupted = run_session(
            store, on_start=lambda t: bar.update(progress, description=t.id),
            on_verdict=lambda v: bar.advance(progress) if v not in kw.get("early", ()) else None,
            **kw)
    if interrupted:
        err.print(f"[yellow]run {run_id} interrupted: {len(verdicts)} verdicts were stored "
                  f"in {store.path}[/yellow]")
    return code, run_id, verdicts


def _summary(verdicts: list[Verdict], title: str) -> None:
    table = Table(title=title, show_lines=False)
    for col in ("item", "status", "method", "s", "message"):
        table.add_column(col, overflow="fold")
    for v in sorted(verdicts, key=lambda v: v.id):
        style = _STYLE[v.status.value]
        table.add_row(v.id, f"[{style}]{v.status.value}[/{style}]", v.method,
                      f"{v.elapsed:.2f}" if v.elapsed is not None else "-",
                      (v.message or "")[:160])
    out.print(table)
    counts: dict[str, int] = {}
    for v in verdicts:
        counts[v.status.value] = counts.get(v.status.value, 0) + 1
    out.print("  ".join(f"[{_STYLE[s]}]{n} {s}[/{_STYLE[s]}]" for s, n in sorted(counts.items()))
              or "no verdicts")


# --------------------------------------------------------------------------------------------
# commands
# --------------------------------------------------------------------------------------------

def _store(args: argparse.Namespace):
    from verify.store import DEFAULT_PATH, Store

    return Store(args.db or DEFAULT_PATH)


def cmd_list(args: argparse.Namespace) -> int:
    from verify import registry

    checks = registry.discover(args.module or ("theorems",))
    chosen, skipped = registry.select(checks, profile=args.profile, only=args.only,
                                      device="cuda")
    if args.json:
        print(json.dumps([c.describe() for c in chosen], indent=2))
        return ExitCode.OK
    table = Table(title=f"{len(chosen)} checks (profile {args.profile})")
    for col in ("id", "paper", "statement", "profile", "device", "summary"):
        table.add_column(col, overflow="fold")
    for c in chosen:
        table.add_row(c.id, c.paper, c.statement, c.profile, c.device, c.summary)
    out.print(table)
    return ExitCode.OK


def _markdown_cell(text: str) -> str:
    """``text`` safe inside one Markdown table cell (pipes escaped, lines joined by <br>)."""
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", "<br>")


def kinds_markdown() -> str:
    """The README's table of claim kinds, generated from the declarations."""
    from verify import registry

    lines = ["| kind | statement | fields (* required) |", "| --- | --- | --- |"]
    for k in registry.kinds().values():
        fields = [f"`{f.name}`{f.describe()[len(f.name):]}" for f in k.fields]
        fields += [f"at least one of {', '.join(f'`{g}`' for g in group)}" for group in k.one_of]
        lines.append(f"| `{k.name}` | {_markdown_cell(k.statement)} ({_markdown_cell(k.paper)}) | "
                     f"{'<br>'.join(_markdown_cell(f) for f in fields)} |")
    return "\n".join(lines) + "\n"


def cmd_kinds(args: argparse.Namespace) -> int:
    from verify import registry

    declared = registry.kinds()
    if args.markdown:
        sys.stdout.write(kinds_markdown())
        return ExitCode.OK
    if args.json:
        print(json.dumps([k.describe() for k in declared.values()], indent=2))
        return ExitCode.OK
    table = Table(title="claim kinds of conjecture files")
    for col in ("kind", "statement", "fields (* required)"):
        table.add_column(col, overflow="fold")
    for k in declared.values():
        fields = "\n".join(f.describe() for f in k.fields)
        groups = "".join(f"\nat least one of {', '.join(g)}" for g in k.one_of)
        table.add_row(k.name, f"{k.statement}\n({k.paper}; {k.module})", fields + groups)
    out.print(table)
    return ExitCode.OK


def cmd_run(args: argparse.Namespace) -> int:
    from verify import registry, runner

    if args.device == "cuda":
        import torch

        if not torch.cuda.is_available():
            raise UsageError("--device cuda was asked for, but torch sees no CUDA device")
    packages = tuple(args.module or ("theorems",))
    checks = registry.discover(packages)
    if args.failed:
        store = _store(args)
        last = next((r for r in store.runs(200) if r.command == "run"), None)
        failed = {v.id for v in store.verdicts(last.id) if v.failing} if last else set()
        checks = [c for c in checks if c.id in failed]
    chosen, skipped = registry.select(checks, profile=args.profile, only=args.only,
                                      device=args.device)
    for c in skipped:
        err.print(f"[dim]skipped {c.id}: needs {c.device} (use --device {c.device})[/dim]")
    if not chosen:
        err.print("no check matches the selection"
                  + (f" --only {args.only!r}" if args.only else ""))
        return ExitCode.NO_CHECKS
    tasks = [runner.check_task(c, seed=registry.check_seed(args.seed, c.id), device=args.device,
                               packages=packages, timeout=args.timeout) for c in chosen]
    store = _store(args)
    code, run_id, verdicts = _session(
        args, store, command="run",
        target=",".join(packages) + (f"[{args.only}]" if args.only else ""),
        tasks=tasks, profile=args.profile, seed=args.seed, workers=args.workers,
        cluster=args.cluster, argv=sys.argv[1:], json_path=args.json,
        info={"device": args.device, "skipped": [c.id for c in skipped]})
    _summary(verdicts, f"run {run_id}: {len(verdicts)} of {len(tasks)} checks "
                       f"(profile {args.profile}, stored in {store.path})")
    return code


def cmd_check(args: argparse.Namespace) -> int:
    from verify import loaders, runner

    loaded = loaders.load(args.file, timeout=args.timeout)
    tasks = [runner.claim_task(c, seed=args.seed, timeout=args.timeout, budget=args.budget)
             for c in loaded.claims]
    store = _store(args)
    code, run_id, verdicts = _session(
        args, store, command="check", target=str(Path(args.file).resolve()), tasks=tasks,
        profile=None, seed=args.seed, workers=args.workers, cluster=None, argv=sys.argv[1:],
        json_path=args.json, early=loaded.errors)
    _summary(verdicts, f"run {run_id}: {len(verdicts)} claims from {args.file}")
    return code


def cmd_runs(args: argparse.Namespace) -> int:
    store = _store(args)
    runs = store.runs(args.limit)
    if args.json:
        print(json.dumps([r.to_dict() for r in runs], indent=2))
        return ExitCode.OK
    import datetime as dt

    table = Table(title=f"runs in {store.path}")
    for col in ("run", "command", "target", "profile", "started", "status", "verdicts"):
        table.add_column(col, overflow="fold")
    for r in runs:
        started = dt.datetime.fromtimestamp(r.started).strftime("%Y-%m-%d %H:%M:%S")
        counts = ", ".join(f"{n} {s}" for s, n in sorted(r.counts.items()))
        table.add_row(str(r.id), r.command, r.target, r.profile or "-", started, r.status,
                      counts or "-")
    out.print(table)
    return ExitCode.OK


def cmd_show(args: argparse.Namespace) -> int:
    store = _store(args)
    run = store.run(args.run)
    if args.item:
        v = store.verdict(run.id, args.item)
        if args.json:
            print(v.to_json(indent=2))
        else:
            out.print_json(v.to_json())
        return ExitCode.OK
    verdicts = store.verdicts(run.id)
    if args.json:
        print(json.dumps({"run": run.to_dict(), "verdicts": [v.to_dict() for v in verdicts]},
                         indent=2))
        return ExitCode.OK
    _summary(verdicts, f"run {run.id} ({run.command} {run.target}, {run.status})")
    return ExitCode.OK


def cmd_certify_model(args: argparse.Namespace) -> int:
    from theorems.filters.model_certificate import certify_model
    from verify.loaders import load_model_file

    spec = load_model_file(args.file)
    verdicts = certify_model(
        spec["model"], spec["loss_fn"], spec["data"], name=spec["name"], params=spec["params"],
        optimizer=args.optimizer, alpha=args.alpha, beta=args.beta, rho=args.rho,
        device=args.device, probes=args.probes, trace_method=args.trace_method, k=args.k,
        confidence=args.confidence, grad_tol=args.grad_tol, flat_rtol=args.flat_rtol,
        seed=args.seed)
    store = _store(args)
    code, run_id, verdicts = _session(
        args, store, command="certify-model", target=str(Path(args.file).resolve()), tasks=[],
        profile=None, seed=args.seed, workers=1, cluster=None, argv=sys.argv[1:],
        json_path=args.json, early=verdicts, info={"device": args.device})
    _summary(verdicts, f"run {run_id}: certificate of {spec['name']} from {args.file}")
    return code


def cmd_recheck(args: argparse.Namespace) -> int:
    from verify import kernel

    source = Path(args.source)
    if source.suffix == ".json" or source.is_file():
        try:
            data = json.loads(source.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise UsageError(f"{source}: not a verdict JSON file ({exc})") from None
        if isinstance(data, dict) and "verdicts" in data:
            data = data["verdicts"]
        if not isinstance(data, list):
            raise UsageError(f"{source}: expected a list of verdicts")
        where = str(source)
    else:
        store = _store(args)
        run = store.run(args.source)
        data = [v.to_dict() for v in store.verdicts(run.id)]
        where = f"run {run.id}"
    decided = [v for v in data if isinstance(v, dict) and v.get("status") in
               ("proved", "certified", "refuted")]
    failures = kernel.recheck(decided)
    for item, reason in failures:
        out.print(f"FAIL {item}: {reason}", markup=False)
    out.print(f"{where}: {len(decided) - len(failures)} of {len(decided)} decided verdicts "
              f"re-checked{'' if not failures else f', {len(failures)} failed'}", markup=False)
    return ExitCode.ERROR if failures else ExitCode.OK


def cmd_report(args: argparse.Namespace) -> int:
    from verify import report

    store = _store(args)
    data = report.build(store, args.run)
    text = report.render(data, args.format)
    if args.out:
        target = Path(args.out)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
        err.print(f"wrote {args.format} report of run {data['run']['id']} to {target}")
    else:
        sys.stdout.write(text)
    return ExitCode.OK


# --------------------------------------------------------------------------------------------

def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sharpflat", description="Verify statements about sharp and flat minima.")
    sub = parser.add_subparsers(dest="command", required=True)

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("--db", help="results store (default .sharpflat/results.db)")

    p = sub.add_parser("list", help="list the registered checks")
    p.add_argument("--profile", choices=("quick", "full"), default="full")
    p.add_argument("--only", help="glob or substring of check ids")
    p.add_argument("--module", action="append", help="package to discover checks in")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_list)

    p = sub.add_parser("kinds", help="list the claim kinds of conjecture files")
    p.add_argument("--json", action="store_true")
    p.add_argument("--markdown", action="store_true",
                   help="the Markdown table of the README (generated from the declarations)")
    p.set_defaults(func=cmd_kinds)

    p = sub.add_parser("run", help="run the verification suite")
    p.add_argument("--profile", choices=("quick", "full"), default="quick")
    p.add_argument("--only", help="glob or substring of check ids, e.g. 'sharp'")
    p.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    p.add_argument("--workers", type=_positive_int, default=1)
    p.add_argument("--cluster", help="Dask scheduler address (tcp://host:port)")
    p.add_argument("--json", help="write every verdict to this JSON file")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--timeout", type=_positive_float, default=600.0,
                   help="per-check limit in seconds (default 600)")
    p.add_argument("--module", action="append", help="package to discover checks in "
                   "(default: theorems)")
    p.add_argument("--failed", action="store_true",
                   help="rerun only what the last run refuted or errored")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    common(p)
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("check", help="decide the claims of a TOML or Python conjecture file")
    p.add_argument("file")
    p.add_argument("--json", help="write the verdicts to this JSON file")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--budget", type=_positive_int, default=None,
                   help="solver resource units per claim (z3 rlimit; default: each kind's own, "
                        "20000000 for sharpness): a deterministic limit, the same answer on "
                        "a busy machine")
    p.add_argument("--timeout", type=_positive_float, default=300.0,
                   help="wall-clock safety net per claim in seconds (default 300); a claim "
                        "that hits it is inconclusive")
    p.add_argument("--workers", type=_positive_int, default=1)
    p.add_argument("--quiet", action="store_true")
    common(p)
    p.set_defaults(func=cmd_check)

    p = sub.add_parser("certify-model", help="curvature certificate of a PyTorch model file "
                       "(FILE.py defines model, loss_fn, data)")
    p.add_argument("file")
    p.add_argument("--optimizer", choices=_optimizer_choices(),
                   help="check the spectrum against this optimizer's eigenvalue filter")
    p.add_argument("--alpha", type=_positive_float, help="step size")
    p.add_argument("--beta", type=float, help="momentum")
    p.add_argument("--rho", type=_positive_float, help="perturbation radius (usam, sam)")
    p.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    p.add_argument("--probes", type=_positive_int, default=99, help="trace probes (default 99)")
    p.add_argument("--trace-method", choices=("hutchinson", "hutch++"), default="hutch++")
    p.add_argument("--k", type=_positive_int, default=3, help="top eigenvalues (default 3)")
    p.add_argument("--confidence", type=float, default=0.95)
    p.add_argument("--grad-tol", type=_positive_float, default=1e-3,
                   help="gradient norm below which the point counts as critical")
    p.add_argument("--flat-rtol", type=_positive_float, default=1e-3,
                   help="eigenvalues within this fraction of |lambda_max| of zero are flat "
                        "directions, not resolved against the filter (default 1e-3)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", help="write the verdicts to this JSON file")
    common(p)
    p.set_defaults(func=cmd_certify_model)

    p = sub.add_parser("runs", help="list stored runs")
    p.add_argument("--limit", type=_positive_int, default=30)
    p.add_argument("--json", action="store_true")
    common(p)
    p.set_defaults(func=cmd_runs)

    p = sub.add_parser("show", help="show a stored run, or one verdict of it")
    p.add_argument("run", help="run number or 'latest'")
    p.add_argument("item", nargs="?", help="check or claim id")
    p.add_argument("--json", action="store_true")
    common(p)
    p.set_defaults(func=cmd_show)

    p = sub.add_parser("recheck", help="re-check the certificates of a run's decided "
                       "verdicts from their JSON alone (a run number, 'latest', or a JSON file)")
    p.add_argument("source", help="a verdict JSON file (run --json / check --json), a run "
                   "number, or 'latest'")
    common(p)
    p.set_defaults(func=cmd_recheck)

    p = sub.add_parser("report", help="certificate report of a run")
    p.add_argument("run", nargs="?", default="latest")
    p.add_argument("--format", choices=("html", "md", "json"), default="html")
    p.add_argument("--out", help="output file (default: standard output)")
    common(p)
    p.set_defaults(func=cmd_report)
    return parser


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive finite number, got {text}")
    return value


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return ExitCode.USAGE if exc.code else ExitCode.OK
    try:
        return int(args.func(args))
    except SharpflatError as exc:
        err.print(f"[bold red]error:[/bold red] {exc}")
        return ExitCode.USAGE
    except KeyboardInterrupt:
        err.print("[yellow]interrupted[/yellow]")
        return ExitCode.INTERRUPTED


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
