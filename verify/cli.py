"""The ``sharpflat`` command (also ``python -m verify``).

Exit status (:class:`~verify.session.ExitCode`, also in ``sharpflat --help``): 0 when nothing
was refuted or errored, 1 when something was refuted, 2 when the run was interrupted, 3 when
something errored (a claim, a check, the results store, or sharpflat itself), 4 on a usage
error (an option, or a file that cannot be read as asked), 5 when nothing was selected to run.

Every command takes ``--quiet``, ``--verbose``, ``--debug`` (the traceback of an error) and
``--json PATH`` (``-`` for standard output, in place of the table). What is printed is plain
text wherever it comes from (see :mod:`verify.console`).
"""

from __future__ import annotations

import argparse
import json
import sys
import traceback
from pathlib import Path
from typing import Any, Sequence

from verify.console import Column, Output
from verify.errors import NoStore, NothingSelected, SharpflatError, UsageError
from verify.session import (EXIT_CODES_HELP, ExitCode, check_json_target, run_session,
                             write_json)
from verify.verdict import FAILING, Status, Verdict

ATTENTION = FAILING | {Status.INCONCLUSIVE}

#: the columns of a table of verdicts
VERDICT_COLUMNS = (Column("item"), Column("status", status=True, wrap=False),
                   Column("method", limit=60), Column("s", justify="right", wrap=False),
                   Column("message", limit=200))


def _version() -> str:
    from importlib import metadata

    try:
        return metadata.version("sharpflat")
    except metadata.PackageNotFoundError:  # pragma: no cover - a source checkout
        return "unknown"


def _optimizer_choices() -> tuple[str, ...]:
    from numerics.updates import OPTIMIZERS

    return tuple(name for name, o in OPTIMIZERS.items() if o.filter or name == "sam")


# --------------------------------------------------------------------------------------------
# shared pieces
# --------------------------------------------------------------------------------------------

def _store(args: argparse.Namespace, *, readonly: bool = False):
    from verify.store import DEFAULT_PATH, Store

    return Store(args.db or DEFAULT_PATH, readonly=readonly)


def _json_to_stdout(args: argparse.Namespace) -> bool:
    return getattr(args, "json", None) == "-"


def _emit_json(args: argparse.Namespace, payload: Any) -> bool:
    """Write ``payload`` where ``--json`` says; True when it took the place of the table."""
    if not args.json:
        return False
    if args.json == "-":
        args.output.write(json.dumps(payload, indent=2, allow_nan=False) + "\n")
        return True
    write_json(args.json, payload)
    args.output.note(f"wrote {args.json}")
    return False


def _session(args: argparse.Namespace, store: Any, *, tasks: list,
             early: Sequence[Verdict] = (), label: str = "run", **kw: Any
             ) -> tuple[ExitCode, int, list[Verdict]]:
    output: Output = args.output
    with output.progress(len(tasks) + len(early), label) as progress:
        code, run_id, verdicts, interrupted = run_session(
            store, tasks=tasks, early=early, argv=sys.argv[1:], json_path=args.json,
            on_start=lambda t: progress.start(t.id),
            on_verdict=lambda v: progress.finished(v.id, v.status.value, v.elapsed), **kw)
    if interrupted:
        output.warning(f"run {run_id} interrupted: {_n(len(verdicts), 'verdict')} stored in "
                       f"{store.path}")
    return code, run_id, verdicts


def _summary(args: argparse.Namespace, verdicts: list[Verdict], title: str) -> None:
    """The table of ``verdicts`` (in their order) and the totals line. With ``--quiet`` only
    the verdicts that need a look (refuted, error, inconclusive); with ``--json -`` on
    standard error."""
    output: Output = args.output
    to_stderr = _json_to_stdout(args)
    shown = [v for v in verdicts if v.status in ATTENTION] if output.quiet else verdicts
    if shown:
        rows = [(v.id, v.status.value, v.method,
                 f"{v.elapsed:.2f}" if v.elapsed is not None else None, v.message or "")
                for v in shown]
        output.table(title, VERDICT_COLUMNS, rows, to_stderr=to_stderr)
    counts: dict[str, int] = {}
    for v in verdicts:
        counts[v.status.value] = counts.get(v.status.value, 0) + 1
    output.counts(counts, to_stderr=to_stderr)


def _n(count: int, noun: str) -> str:
    """``1 claim``, ``2 claims``."""
    return f"{count} {noun}{'' if count == 1 else 's'}"


def _ids(args: argparse.Namespace, ids: Sequence[str]) -> None:
    args.output.write("".join(f"{i}\n" for i in ids))


# --------------------------------------------------------------------------------------------
# commands
# --------------------------------------------------------------------------------------------

def cmd_list(args: argparse.Namespace) -> int:
    from verify import registry

    checks = registry.discover(args.module or ("theorems",))
    chosen, _ = registry.select(checks, profile=args.profile, only=args.only, device="cuda")
    if _emit_json(args, [c.describe() for c in chosen]):
        return ExitCode.OK
    if args.output.quiet:
        _ids(args, [c.id for c in chosen])
        return ExitCode.OK
    columns = (Column("id"), Column("paper"), Column("statement"), Column("profile"),
               Column("device"), Column("summary", limit=160))
    args.output.table(f"{_n(len(chosen), 'check')} (profile {args.profile})", columns,
                      [(c.id, c.paper, c.statement, c.profile, c.device, c.summary)
                       for c in chosen])
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
        args.output.write(kinds_markdown())
        return ExitCode.OK
    if _emit_json(args, [k.describe() for k in declared.values()]):
        return ExitCode.OK
    if args.output.quiet:
        _ids(args, list(declared))
        return ExitCode.OK
    rows = []
    for k in declared.values():
        fields = "; ".join(f.describe() for f in k.fields)
        groups = "".join(f"; at least one of {', '.join(g)}" for g in k.one_of)
        rows.append((k.name, f"{k.statement} ({k.paper}; {k.module})", fields + groups))
    if not args.output.terminal:
        args.output.table("claim kinds of conjecture files",
                          (Column("kind"), Column("statement"), Column("fields (* required)")),
                          rows)
        return ExitCode.OK
    # on a terminal: one field a line
    rows = [(k.name, f"{k.statement}\n({k.paper}; {k.module})",
             "\n".join(f.describe() for f in k.fields)
             + "".join(f"\nat least one of {', '.join(g)}" for g in k.one_of))
            for k in declared.values()]
    from rich.table import Table
    from rich.text import Text

    table = Table(title=Text("claim kinds of conjecture files"), title_justify="left",
                  show_lines=True)
    for col in ("kind", "statement", "fields (* required)"):
        table.add_column(Text(col), overflow="fold")
    for row in rows:
        table.add_row(*(Text(c) for c in row))
    args.output._guard(lambda: args.output.out.print(table))
    return ExitCode.OK


def cmd_run(args: argparse.Namespace) -> int:
    from verify import registry, runner

    if args.device == "cuda":
        import torch

        if not torch.cuda.is_available():
            raise UsageError("--device cuda was asked for, but torch sees no CUDA device")
    check_json_target(args.json)
    packages = tuple(args.module or ("theorems",))
    checks = registry.discover(packages)
    if args.failed:
        try:
            previous = _store(args, readonly=True)
            last = next((r for r in previous.runs(200) if r.command == "run"), None)
            failed = {v.id for v in previous.verdicts(last.id) if v.failing} if last else set()
            previous.close()
        except NoStore:
            failed = set()
        checks = [c for c in checks if c.id in failed]
    chosen, skipped = registry.select(checks, profile=args.profile, only=args.only,
                                      device=args.device)
    for c in skipped:
        args.output.note(f"skipped {c.id}: needs {c.device} (use --device {c.device})")
    if not chosen:
        raise NothingSelected("no check matches the selection"
                              + (f" --only {args.only!r}" if args.only else "")
                              + (" --failed (the last run has no failures)" if args.failed
                                 else "")
                              + f" (profile {args.profile}; `sharpflat list` shows them)")
    tasks = [runner.check_task(c, seed=registry.check_seed(args.seed, c.id), device=args.device,
                               packages=packages, timeout=args.timeout) for c in chosen]
    store = _store(args)
    code, run_id, verdicts = _session(
        args, store, command="run",
        target=",".join(packages) + (f"[{args.only}]" if args.only else ""),
        tasks=tasks, profile=args.profile, seed=args.seed, workers=args.workers,
        cluster=args.cluster, info={"device": args.device, "skipped": [c.id for c in skipped]})
    _summary(args, verdicts, f"run {run_id}: {len(verdicts)} of {_n(len(tasks), 'check')} "
                             f"(profile {args.profile}, stored in {store.path})")
    return code


def _refuse_overwrite(args: argparse.Namespace) -> None:
    """Before anything runs: a --json file that can be written, and is not the input file."""
    check_json_target(args.json)
    if args.json and args.json != "-" and Path(args.json).resolve() == Path(args.file).resolve():
        raise UsageError(f"--json {args.json} would overwrite the input file; name another")


def _select_claims(args: argparse.Namespace, loaded: Any, target: str
                   ) -> tuple[list, list[Verdict], list[str]]:
    """The claims of a loaded file that ``--only`` and ``--failed`` select (the entries that
    could not be read count as selected when their id is); raises NothingSelected if none."""
    from verify.registry import id_matches

    failed: set[str] | None = None
    if args.failed:
        try:
            previous = _store(args, readonly=True)
            last = next((r for r in previous.runs(200)
                         if r.command == "check" and r.target == target), None)
            failed = {v.id for v in previous.verdicts(last.id) if v.failing} if last else set()
            previous.close()
        except NoStore:
            failed = set()

    def chosen(id: str) -> bool:
        return ((not args.only or id_matches(id, args.only))
                and (failed is None or id in failed))

    claims = [c for c in loaded.claims if chosen(c.id)]
    early = [v for v in loaded.errors if chosen(v.id)]
    if not claims and not early:
        raise NothingSelected(
            f"no claim of {args.file} matches the selection"
            + (f" --only {args.only!r}" if args.only else "")
            + (" --failed (the last check of this file has no failures)" if args.failed
               else ""))
    order = [i for i in loaded.order if chosen(i)] if loaded.order is not None else None
    return claims, early, order


def cmd_check(args: argparse.Namespace) -> int:
    from verify import loaders, runner

    _refuse_overwrite(args)
    loaded = loaders.load(args.file, timeout=args.timeout)    # bad input: nothing is stored
    target = str(Path(args.file).resolve())
    claims, early, order = _select_claims(args, loaded, target)
    store = _store(args)
    tasks = [runner.claim_task(c, seed=args.seed, timeout=args.timeout, budget=args.budget)
             for c in claims]
    code, run_id, verdicts = _session(
        args, store, command="check", target=target, tasks=tasks,
        profile=None, seed=args.seed, workers=args.workers, cluster=args.cluster,
        early=early, order=order, label="check")
    _summary(args, verdicts, f"run {run_id}: {_n(len(verdicts), 'claim')} from {args.file}")
    return code


def cmd_runs(args: argparse.Namespace) -> int:
    import datetime as dt

    try:
        store = _store(args, readonly=True)
    except NoStore as exc:
        if not _emit_json(args, []):
            args.output.note(f"no runs: {exc}", style="")
        return ExitCode.OK
    runs = store.runs(args.limit)
    if _emit_json(args, [r.to_dict() for r in runs]):
        return ExitCode.OK
    if args.output.quiet:
        _ids(args, [str(r.id) for r in runs])
        return ExitCode.OK
    rows = []
    for r in runs:
        started = dt.datetime.fromtimestamp(r.started).strftime("%Y-%m-%d %H:%M:%S")
        counts = ", ".join(f"{n} {s}" for s, n in sorted(r.counts.items()))
        rows.append((str(r.id), r.command, r.target, r.profile, started, r.status,
                     counts or None))
    columns = (Column("run", justify="right", wrap=False), Column("command", wrap=False),
               Column("target"), Column("profile"), Column("started", wrap=False),
               Column("status", wrap=False), Column("verdicts"))
    args.output.table(f"runs in {store.path}", columns, rows)
    return ExitCode.OK


def _verdict_rows(v: Verdict) -> list[tuple[str, str]]:
    """One verdict as (field, value) rows, values on one line each."""
    data = v.to_dict()
    rows = [(k, str(data[k])) for k in ("id", "kind", "status", "method", "message")]
    rows += [(f"claim.{k}", json.dumps(val) if not isinstance(val, str) else val)
             for k, val in data["claim"].items()]
    for key in ("bounds", "counterexample", "confidence", "sample_size", "seed", "elapsed"):
        if data.get(key) is not None:
            rows.append((key, json.dumps(data[key])))
    rows += [(f"assumption {a['name']}", f"{a['holds']} ({a['how']})")
             for a in data["assumptions"]]
    if data.get("certificate"):
        rows.append(("certificate", f"{data['certificate'].get('kind')} (sharpflat recheck "
                                    "re-checks it; --json shows it whole)"))
    return rows


def cmd_show(args: argparse.Namespace) -> int:
    store = _store(args, readonly=True)
    run = store.run(args.run)
    if args.item:
        v = store.verdict(run.id, args.item)
        if _emit_json(args, v.to_dict()):
            return ExitCode.OK
        args.output.table(f"run {run.id}: {v.id}", (Column("field"), Column("value")),
                          _verdict_rows(v))
        return ExitCode.OK
    verdicts = store.verdicts(run.id)
    if _emit_json(args, {"run": run.to_dict(), "verdicts": [v.to_dict() for v in verdicts]}):
        return ExitCode.OK
    _summary(args, verdicts, f"run {run.id} ({run.command} {run.target}, {run.status})")
    return ExitCode.OK


def cmd_certify_model(args: argparse.Namespace) -> int:
    from theorems.filters.model_certificate import certify_model
    from verify.loaders import load_model_file

    _refuse_overwrite(args)
    store = _store(args)
    output: Output = args.output
    with output.progress(0, "certify-model") as progress:
        progress.stage(f"load {args.file}")
        spec = load_model_file(args.file)
        verdicts = certify_model(
            spec["model"], spec["loss_fn"], spec["data"], name=spec["name"],
            params=spec["params"], optimizer=args.optimizer, alpha=args.alpha, beta=args.beta,
            rho=args.rho, device=args.device, probes=args.probes,
            trace_method=args.trace_method, k=args.k, confidence=args.confidence,
            grad_tol=args.grad_tol, flat_rtol=args.flat_rtol, seed=args.seed,
            progress=progress.stage)
    code, run_id, verdicts = _session(
        args, store, command="certify-model", target=str(Path(args.file).resolve()), tasks=[],
        profile=None, seed=args.seed, workers=1, cluster=None, early=verdicts,
        info={"device": args.device}, label="certify-model")
    _summary(args, verdicts, f"run {run_id}: certificate of {spec['name']} from {args.file}")
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
            raise UsageError(f"{source}: expected a list of verdicts (the JSON of run --json, "
                             "check --json or show --json)")
        where = str(source)
    else:
        store = _store(args, readonly=True)
        run = store.run(args.source)
        data = [v.to_dict() for v in store.verdicts(run.id)]
        where = f"run {run.id}"
    decided = [v for v in data if isinstance(v, dict) and v.get("status") in
               ("proved", "certified", "refuted")]
    # undecided verdicts whose certificate states their bounds (a network-lipschitz bracket)
    bracketed = [v for v in data if isinstance(v, dict) and v not in decided
                 and kernel.states_bounds(v.get("certificate"))]
    failures = kernel.recheck(decided + bracketed)
    payload = {"source": where, "decided": len(decided), "bounds_only": len(bracketed),
               "failures": [{"id": item, "reason": reason} for item, reason in failures]}
    if not _emit_json(args, payload):
        for item, reason in failures:
            args.output.line(f"FAIL {item}: {reason}", style="bold red")
        total = len(decided) + len(bracketed)
        what = (f"{len(decided)} decided verdicts" if not bracketed else
                f"{total} verdicts ({len(decided)} decided, {len(bracketed)} undecided with "
                "certified bounds)")
        args.output.line(f"{where}: {total - len(failures)} of {what} re-checked"
                         + (f", {len(failures)} failed" if failures else ""))
    return ExitCode.ERROR if failures else ExitCode.OK


def cmd_report(args: argparse.Namespace) -> int:
    from verify import report

    store = _store(args, readonly=True)
    data = report.build(store, args.run)
    if args.json:
        _emit_json(args, data)
        if not args.out:
            return ExitCode.OK
    text = report.render(data, args.format)
    if args.out:
        target = Path(args.out)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")
        except OSError as exc:
            raise UsageError(f"cannot write the report to {args.out} ({exc.strerror or exc}); "
                             "--out names another file") from None
        args.output.note(f"wrote the {args.format} report of run {data['run']['id']} to "
                         f"{target}", style="")
    else:
        args.output.write(text)
    return ExitCode.OK


# --------------------------------------------------------------------------------------------
# the parser
# --------------------------------------------------------------------------------------------

class _Formatter(argparse.RawDescriptionHelpFormatter):
    """Help that names every option's default."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if ("%(default)" in text or action.default is None or action.default is False
                or action.default == argparse.SUPPRESS
                or isinstance(action, argparse._HelpAction)):
            return text
        return text + " (default: %(default)s)"


def _common(quiet_help: str) -> argparse.ArgumentParser:
    """Options every command takes (also accepted before the command)."""
    p = argparse.ArgumentParser(add_help=False)
    g = p.add_argument_group("output")
    g.add_argument("--quiet", "-q", action="store_true", default=argparse.SUPPRESS,
                   help=quiet_help)
    g.add_argument("--verbose", "-v", action="store_true", default=argparse.SUPPRESS,
                   help="more: each item as it starts, messages and methods never shortened, "
                        "the stages of a long computation")
    g.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                   help="print the traceback of an error")
    return p


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sharpflat", description="Verify statements about sharp and flat minima.",
        epilog=EXIT_CODES_HELP, formatter_class=_Formatter)
    parser.add_argument("--version", action="version", version=f"sharpflat {_version()}",
                        help="print the version and exit")
    parser.add_argument("--quiet", "-q", action="store_true", help="less output (see a "
                        "command's --help)")
    parser.add_argument("--verbose", "-v", action="store_true", help="more output")
    parser.add_argument("--debug", action="store_true", help="print the traceback of an "
                        "error")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    results = ("only the verdicts that need a look (refuted, error, inconclusive) and the "
               "totals line; no progress, no notes")
    names = "one id a line; no notes"

    def command(name: str, help: str, quiet: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help, description=help, epilog=EXIT_CODES_HELP,
                           formatter_class=_Formatter, parents=[_common(quiet)])
        return p

    def json_option(p: argparse.ArgumentParser, what: str) -> None:
        p.add_argument("--json", metavar="PATH", help=f"write {what} as JSON to PATH ('-': "
                       "standard output, in place of the table)")

    def db_option(p: argparse.ArgumentParser) -> None:
        p.add_argument("--db", metavar="FILE", help="the results store (SQLite); "
                       "default .sharpflat/results.db in the current folder")

    p = command("list", "list the registered checks", names)
    p.add_argument("--profile", choices=("quick", "full"), default="full",
                   help="quick: the checks `run` runs by default; full: all")
    p.add_argument("--only", metavar="PATTERN", help="glob or substring of check ids")
    p.add_argument("--module", action="append", metavar="PACKAGE",
                   help="package to discover checks in (repeatable); default: theorems")
    json_option(p, "the checks")
    p.set_defaults(func=cmd_list)

    p = command("kinds", "list the claim kinds of conjecture files", names)
    json_option(p, "the kinds and their fields")
    p.add_argument("--markdown", action="store_true",
                   help="the Markdown table of the README (generated from the declarations)")
    p.set_defaults(func=cmd_kinds)

    p = command("run", "run the verification suite (the registered checks)", results)
    p.add_argument("--profile", choices=("quick", "full"), default="quick",
                   help="quick: the fast checks; full: all of them")
    p.add_argument("--only", metavar="PATTERN",
                   help="glob or substring of check ids, e.g. 'sharp'")
    p.add_argument("--device", choices=("cpu", "cuda"), default="cpu",
                   help="where checks that can use a GPU run; cuda also selects the checks "
                        "that need one")
    p.add_argument("--workers", type=_positive_int, default=1, metavar="N",
                   help="checks run at once, each in its own process")
    p.add_argument("--cluster", metavar="ADDRESS",
                   help="run on this Dask scheduler (tcp://host:port) instead of local "
                        "processes")
    json_option(p, "every verdict")
    p.add_argument("--seed", type=int, default=0, help="the run's seed (each check derives "
                   "its own from it)")
    p.add_argument("--timeout", type=_positive_float, default=600.0, metavar="SECONDS",
                   help="wall-clock limit per check; a check that hits it is inconclusive")
    p.add_argument("--module", action="append", metavar="PACKAGE",
                   help="package to discover checks in (repeatable); default: theorems")
    p.add_argument("--failed", action="store_true",
                   help="rerun only what the last run refuted or errored")
    db_option(p)
    p.set_defaults(func=cmd_run)

    p = command("check", "decide the claims of a TOML or Python conjecture file", results)
    p.add_argument("file", help="a .toml file of [[claim]] tables, or a .py script that "
                   "defines claims")
    json_option(p, "the verdicts")
    p.add_argument("--seed", type=int, default=0, help="seed of the searches")
    p.add_argument("--budget", type=_positive_int, default=None, metavar="UNITS",
                   help="solver resource units per claim (z3 rlimit): a deterministic limit, "
                        "the same answer on a busy machine; default: each kind's own "
                        "(20000000 for sharpness)")
    p.add_argument("--timeout", type=_positive_float, default=300.0, metavar="SECONDS",
                   help="wall-clock safety net per claim, and for running a .py script; a "
                        "claim that hits it is inconclusive")
    p.add_argument("--workers", type=_positive_int, default=1, metavar="N",
                   help="claims decided at once, each in its own process")
    p.add_argument("--only", metavar="PATTERN",
                   help="decide only the claims whose id matches (glob, or a substring)")
    p.add_argument("--failed", action="store_true",
                   help="decide only the claims that the last check of this file refuted or "
                        "errored")
    p.add_argument("--cluster", metavar="ADDRESS",
                   help="decide the claims on this Dask scheduler (tcp://host:port) instead "
                        "of local processes")
    db_option(p)
    p.set_defaults(func=cmd_check)

    p = command("certify-model", "curvature certificate of a PyTorch model file "
                "(FILE.py defines model, loss_fn, data)", results)
    p.add_argument("file", help="a .py file that defines model, loss_fn and data")
    p.add_argument("--optimizer", choices=_optimizer_choices(),
                   help="check the spectrum against this optimizer's eigenvalue filter")
    p.add_argument("--alpha", type=_positive_float, help="step size (with --optimizer)")
    p.add_argument("--beta", type=float, help="momentum (heavy-ball, nesterov)")
    p.add_argument("--rho", type=_nonnegative_float,
                   help="perturbation radius (usam, sam); 0 is plain gradient descent")
    p.add_argument("--device", choices=("cpu", "cuda"), default="cpu",
                   help="where the Hessian products run")
    p.add_argument("--probes", type=_positive_int, default=99, help="trace probes")
    p.add_argument("--trace-method", choices=("hutchinson", "hutch++"), default="hutch++",
                   help="trace estimator")
    p.add_argument("--k", type=_positive_int, default=3, help="top eigenvalues")
    p.add_argument("--confidence", type=_unit_float, default=0.95,
                   help="probability of each probabilistic bound")
    p.add_argument("--grad-tol", type=_positive_float, default=1e-3,
                   help="gradient norm below which the point counts as critical")
    p.add_argument("--flat-rtol", type=_positive_float, default=1e-3,
                   help="eigenvalues within this fraction of |lambda_max| of zero are flat "
                        "directions, not resolved against the filter")
    p.add_argument("--seed", type=int, default=0, help="seed of the probes and Lanczos starts")
    json_option(p, "the verdicts")
    db_option(p)
    p.set_defaults(func=cmd_certify_model)

    p = command("runs", "list stored runs", "one run number a line")
    p.add_argument("--limit", type=_positive_int, default=30, metavar="N",
                   help="the most recent N runs")
    json_option(p, "the runs")
    db_option(p)
    p.set_defaults(func=cmd_runs)

    p = command("show", "show a stored run, or one verdict of it", results)
    p.add_argument("run", help="run number or 'latest'")
    p.add_argument("item", nargs="?", help="a check or claim id: show that verdict whole")
    json_option(p, "the run and its verdicts (or the one verdict)")
    db_option(p)
    p.set_defaults(func=cmd_show)

    p = command("recheck", "re-check the certificates of a run's decided verdicts from their "
                "JSON alone (a run number, 'latest', or a JSON file)", "only the failures and "
                "the totals line")
    p.add_argument("source", help="a verdict JSON file (run --json / check --json), a run "
                   "number, or 'latest'")
    json_option(p, "the result (what was re-checked, what failed and why)")
    db_option(p)
    p.set_defaults(func=cmd_recheck)

    p = command("report", "certificate report of a run (HTML, Markdown or JSON)",
                "no note of where the report went")
    p.add_argument("run", nargs="?", default="latest", help="run number or 'latest'")
    p.add_argument("--format", choices=("html", "md", "json"), default="html",
                   help="html: one self-contained file (formulas in MathML, plots embedded); "
                        "md: Markdown; json: the report's data")
    p.add_argument("--out", metavar="FILE", help="write the report to FILE; default: "
                   "standard output")
    json_option(p, "the report's data")
    db_option(p)
    p.set_defaults(func=cmd_report)
    return parser


def _number(text: str, kind: type) -> Any:
    try:
        return kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None


def _positive_int(text: str) -> int:
    value = _number(text, int)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _positive_float(text: str) -> float:
    value = _number(text, float)
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive finite number, got {text}")
    return value


def _nonnegative_float(text: str) -> float:
    value = _number(text, float)
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a finite number >= 0, got {text}")
    return value


def _unit_float(text: str) -> float:
    value = _number(text, float)
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"must lie strictly between 0 and 1, got {text}")
    return value


def _where(args: argparse.Namespace) -> str:
    """What a command was working on, for a message about an unexpected failure."""
    for name in ("file", "source"):
        if getattr(args, name, None):
            return f"{getattr(args, name)}: "
    return ""


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return ExitCode.USAGE if exc.code else ExitCode.OK
    if args.quiet and args.verbose:
        parser.print_usage(sys.stderr)
        print("sharpflat: error: --quiet and --verbose exclude each other", file=sys.stderr)
        return ExitCode.USAGE
    output = Output(quiet=args.quiet, verbose=args.verbose)
    args.output = output
    try:
        return int(args.func(args))
    except NothingSelected as exc:
        output.error(str(exc))
        return ExitCode.NO_CHECKS
    except UsageError as exc:
        output.error(str(exc))
        _traceback(args, output)
        return ExitCode.USAGE
    except SharpflatError as exc:
        output.error(str(exc))
        _traceback(args, output)
        return ExitCode.ERROR
    except KeyboardInterrupt:
        output.warning("interrupted")
        return ExitCode.INTERRUPTED
    except BrokenPipeError:
        output.close_stdout()
        return ExitCode.OK
    except Exception as exc:  # noqa: BLE001 - sharpflat's own failure: one line, exit 3
        output.error(f"{_where(args)}sharpflat {args.command} failed: {type(exc).__name__}: "
                     f"{exc} (a bug in sharpflat, not in the input; "
                     + ("the traceback follows)" if args.debug else
                        "run again with --debug for the traceback, and report it)"))
        _traceback(args, output)
        return ExitCode.ERROR


def _traceback(args: argparse.Namespace, output: Output) -> None:
    if getattr(args, "debug", False):
        output.err.print(traceback.format_exc(), end="", markup=False, highlight=False)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
