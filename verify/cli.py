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
from typing import Any, Mapping, Sequence

from verify.console import Column, Output
from verify.errors import NoStore, NothingSelected, SharpflatError, UsageError
from verify.session import (EXIT_CODES_HELP, ExitCode, check_json_target, run_session,
                             write_json)
from verify.verdict import FAILING, Status, Verdict

ATTENTION = FAILING | {Status.INCONCLUSIVE}

#: the columns of a table of verdicts
VERDICT_COLUMNS = (Column("item"), Column("status", status=True, wrap=False),
                   Column("trust", wrap=False), Column("method", limit=60),
                   Column("s", justify="right", wrap=False), Column("message", limit=200))


def _version() -> str:
    from importlib import metadata

    try:
        return metadata.version("sharpflat")
    except metadata.PackageNotFoundError:  # pragma: no cover - a source checkout
        return "unknown"


def _optimizer_names() -> tuple[str, ...]:
    from numerics.updates import OPTIMIZERS

    return tuple(OPTIMIZERS)


def _method_arg(method: str | None) -> str | None:
    """A method option: a built-in name, or FILE.py:NAME with the file's path made absolute
    (the claim records where the file is)."""
    if method is None or ":" not in method:
        return method
    path, _, name = method.rpartition(":")
    return f"{Path(path).resolve()}:{name}"


def _hyper_options(items: Sequence[str] | None) -> dict[str, Any]:
    """``--hyper NAME=VALUE`` options as exact numbers (a user's optimizer's hyperparameters)."""
    from verify.formula import parse_number

    out: dict[str, Any] = {}
    for item in items or ():
        name, sep, value = item.partition("=")
        if not sep or not name.strip().isidentifier():
            raise UsageError(f"--hyper {item!r}: write NAME=VALUE, e.g. --hyper c=0.5")
        try:
            out[name.strip()] = parse_number(value.strip(), what=f"--hyper {name.strip()}")
        except SharpflatError as exc:
            raise UsageError(str(exc)) from None
    return out


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
        rows = [(v.id, v.status.value, v.trust, v.method,
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
    columns = (Column("id"), Column("paper"), Column("statement"), Column("nature"),
               Column("profile"), Column("device"), Column("summary", limit=160))
    args.output.table(f"{_n(len(chosen), 'check')} (profile {args.profile})", columns,
                      [(c.id, c.paper, c.statement, c.nature, c.profile, c.device, c.summary)
                       for c in chosen])
    return ExitCode.OK


def _markdown_cell(text: str) -> str:
    """``text`` safe inside one Markdown table cell (pipes escaped, lines joined by <br>)."""
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", "<br>")


def obligations_markdown() -> str:
    """docs/architecture.md's obligation table, generated from the kernel's declarations
    (:mod:`verify.kernel.statements`)."""
    from verify.kernel.statements import CERTIFICATES, REQUIRED, STATEMENTS

    lines = ["| claim kind | derived from the claim (statement fields) | proved by | "
             "certified by | refuted by |", "| --- | --- | --- | --- | --- |"]
    for kind in sorted(STATEMENTS):
        s = STATEMENTS[kind]
        fields = ", ".join(f"`{k}`" + ("*" if v is REQUIRED else "")
                           + (" (hint)" if k in s.hints else "") for k, v in s.fields.items())
        cell = lambda kinds: ", ".join(f"`{c}`" for c in kinds) or "—"  # noqa: E731
        lines.append(f"| `{kind}` | {_markdown_cell(s.meaning)}: {fields} | {cell(s.proved)} | "
                     f"{cell(s.certified)} | {cell(s.refuted)} |")
    lines += ["", "| certificate | read from the certificate (witnesses) | re-derived from the "
              "claim | weakest tier |", "| --- | --- | --- | --- |"]
    for kind in sorted(CERTIFICATES):
        w = CERTIFICATES[kind]
        keys = ", ".join(f"`{k}`" for k in w.keys) or "nothing"
        lines.append(f"| `{kind}` | {keys} | {_markdown_cell(w.rederived)} | {w.tier} |")
    return "\n".join(lines) + "\n"


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
    for key in ("trust", "bounds", "counterexample", "confidence", "sample_size", "seed",
                "elapsed"):
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
    import os

    # OpenMP threads that sleep while they wait, unless the environment says otherwise: with
    # several threads on a busy machine, spinning ones stall each other (numerics.threads).
    # Read when torch loads its OpenMP runtime, which has not happened yet in this process.
    if "torch" not in sys.modules:
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    from numerics.threads import limited
    from theorems.filters.model_certificate import certify_model
    from theorems.filters.model_views import check_options, check_views
    from verify.loaders import load_model_file

    _refuse_overwrite(args)
    views = check_views(args.views)
    options = {k: v for k, v in (("density_runs", args.density_runs),
                                 ("landscape_grid", args.landscape_grid)) if v is not None}
    check_options(options)
    store = _store(args)
    output: Output = args.output
    with output.progress(0, "certify-model") as progress:
        progress.stage(f"load {args.file}")
        # the file's own code (training, data) on one thread unless --threads says otherwise:
        # its size is unknown until it has run
        with limited(1 if args.threads == "auto" else args.threads):
            spec = load_model_file(args.file)
        verdicts = certify_model(
            spec["model"], spec["loss_fn"], spec["data"], name=spec["name"],
            params=spec["params"], optimizer=_method_arg(args.optimizer), alpha=args.alpha,
            beta=args.beta,
            rho=args.rho, hyper=_hyper_options(args.hyper), device=args.device,
            probes=args.probes,
            trace_method=args.trace_method, k=args.k, confidence=args.confidence,
            grad_tol=args.grad_tol, flat_rtol=args.flat_rtol, seed=args.seed,
            threads=args.threads, views=views, lambda_max_at_most=args.lambda_max_at_most,
            view_options=options, progress=progress.stage)
    code, run_id, verdicts = _session(
        args, store, command="certify-model", target=str(Path(args.file).resolve()), tasks=[],
        profile=None, seed=args.seed, workers=1, cluster=None, early=verdicts,
        info={"device": args.device, "threads": args.threads, "views": list(views)},
        label="certify-model")
    _summary(args, verdicts, f"run {run_id}: certificate of {spec['name']} from {args.file}")
    return code


def _read_verdict_json(source: Path) -> list:
    """The verdicts of a JSON file (a list, or an object with ``verdicts``): a file that is not
    JSON, too deep or too large is a usage error, never a crash."""
    try:
        text = source.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"{source}: cannot be read ({exc})") from None
    try:
        data = json.loads(text)
    except RecursionError:
        raise UsageError(f"{source}: not a verdict JSON file (nested too deeply)") from None
    except (ValueError, MemoryError) as exc:
        raise UsageError(f"{source}: not a verdict JSON file ({str(exc)[:200]})") from None
    if isinstance(data, dict) and "verdicts" in data:
        data = data["verdicts"]
    elif isinstance(data, dict) and "status" in data and "claim" in data:
        data = [data]            # one verdict (Verdict.to_json, show RUN ITEM --json)
    if not isinstance(data, list):
        raise UsageError(f"{source}: expected a verdict or a list of verdicts (the JSON of "
                         "run --json, check --json, show --json or Verdict.to_json)")
    return data


def check_binding(modules: Sequence[str]) -> Any:
    """``bind(claim)`` for :func:`verify.kernel.recheck_verdicts`: a check verdict's claim must
    describe a check registered in this version (in ``modules``), and its instance claims must
    be those a fresh generation of that check gives at the claim's seed and scale."""
    from verify import kernel, registry

    plans: dict[tuple, str] = {}

    def bind(claim: Mapping[str, Any]) -> tuple[bool, str]:
        cid = claim.get("id")
        try:
            check = registry.get_check(str(cid), modules)
        except KeyError:
            return False, (f"check {cid!r} is not registered in this version "
                           f"(modules: {', '.join(modules)}); pass --module PACKAGE if it is "
                           "yours")
        seed, scale = claim.get("seed"), claim.get("scale", "full")
        if isinstance(seed, bool) or not isinstance(seed, int) or scale not in ("full",
                                                                               "smoke"):
            return False, "the check's claim needs an integer seed and a scale (full, smoke)"
        expected = check.claim_fields(seed, scale)
        differs = [k for k, v in expected.items() if k != "kind" and claim.get(k) != v]
        if differs:
            return False, f"the claim's {', '.join(differs)} differ from check {cid}'s"
        key = (cid, seed, scale)
        if key not in plans:
            try:
                plans[key] = kernel.instances_sha256(check.plan(seed=seed, scale=scale))
            except Exception as exc:  # noqa: BLE001 - a check that cannot regenerate fails
                plans[key] = f"error: {type(exc).__name__}: {exc}"
        if plans[key] != claim.get("instances_sha256"):
            if plans[key].startswith("error:"):
                return False, f"check {cid} could not regenerate its instances ({plans[key]})"
            return False, (f"the instances are not those check {cid} generates at seed {seed} "
                           f"({scale})")
        return True, f"instances regenerated by check {cid}"

    return bind


def cmd_filters(args: argparse.Namespace) -> int:
    from theorems.filters import compare
    from verify import runner
    from verify.errors import InvalidClaim
    from verify.formula import parse_number
    from verify.verdict import Decision, instance_claim

    check_json_target(args.json)
    try:
        exact = {k: None if getattr(args, k) is None else
                 parse_number(getattr(args, k), what=f"--{k}") for k in ("alpha", "beta", "rho")}
    except SharpflatError as exc:
        raise UsageError(str(exc)) from None
    hyper = _hyper_options(args.hyper)
    methods = [_method_arg(m) for m in args.methods]
    try:
        rows = compare.filter_table(methods, exact["alpha"], exact["beta"], exact["rho"],
                                    hyper, args.variant)
    except InvalidClaim as exc:
        raise UsageError(str(exc)) from None
    pairs = compare.inclusions(rows)
    output: Output = args.output
    to_stderr = _json_to_stdout(args)
    columns = (Column("method"), Column("filter set (exact; decimals shown)", limit=120),
               Column("edge", justify="right"), Column("negative curvature admitted"))
    output.table("eigenvalue filters: the Hessian eigenvalues lambda at which each map has "
                 "spectral radius <= 1",
                 columns, [(r["label"], r["text"] if r["set"] is not None else
                            "no filter: " + r["no_filter"],
                            f"{r['edge_float']:.6g}" if r.get("edge_float") is not None else "",
                            (r.get("negative") or "none") if r["set"] is not None else "")
                           for r in rows], to_stderr=to_stderr)
    for pair in pairs:
        if to_stderr:
            output.note(pair["text"], style="")
        else:
            output.line(pair["text"])
    claims = compare.claims(rows, pairs)
    early = []
    if args.plot:
        span = [r["edge_float"] for r in rows if r.get("edge_float") is not None]
        low = min([float(r["set"].inf) for r in rows if r["set"] is not None
                   and r["set"].inf.is_finite] + [0.0])
        top = 2.5 * max(span, default=10.0)
        plot = compare.region_plot(rows, args.plot, lam_range=(min(low * 1.2, -0.1 * top), top))
        early.append(Decision(instance_claim("stable regions", f"the stable regions over "
                                             f"({args.plot}, lambda)")).evidence(
            f"the exact filter conditions on a {args.plot} x lambda grid",
            f"stable regions of {', '.join(r['label'] for r in rows if r['set'] is not None)}"
            f" over ({args.plot}, lambda); the dashed line is the given {args.plot}",
            sample_size=len(plot["regions"]), evidence={"plots": [plot]}))
    store = _store(args)
    tasks = [runner.claim_task(c, seed=0, timeout=args.timeout, budget=None) for c in claims]
    code, run_id, verdicts = _session(
        args, store, command="filters", target=" ".join(args.methods), tasks=tasks,
        profile=None, seed=0, workers=args.workers, cluster=None, early=early,
        label="filters")
    _summary(args, verdicts, f"run {run_id}: the filter sets and inclusions, certified")
    return code


def cmd_recheck(args: argparse.Namespace) -> int:
    from verify import kernel

    source = Path(args.source)
    if source.suffix == ".json" or source.is_file():
        data = _read_verdict_json(source)
        where = str(source)
    else:
        store = _store(args, readonly=True)
        run = store.run(args.source)
        data = [v.to_dict() for v in store.verdicts(run.id)]
        where = f"run {run.id}"
    modules = tuple(args.module or ("theorems",))
    results = kernel.recheck_verdicts(data, exact=args.exact_only,
                                      bind=check_binding(modules))
    decided = [r for r in results if r.status in ("proved", "certified", "refuted")
               or not r.ok and r.status not in ("evidence", "inconclusive", "error")]
    # undecided verdicts whose certificate states their bounds (a network-lipschitz bracket)
    bracketed = [r for r in results if r not in decided and r.note.startswith("undecided")]
    failures = [r for r in results if not r.ok]
    tiers: dict[str, int] = {}
    for r in results:
        if r.ok and r.tier:
            tiers[r.tier] = tiers.get(r.tier, 0) + 1
    payload = {"source": where, "decided": len(decided), "bounds_only": len(bracketed),
               "exact_only": args.exact_only,
               "tiers": tiers,
               "verdicts": [{"id": r.id, "status": r.status, "ok": r.ok, "trust": r.tier,
                             "reason": r.reason, "note": r.note} for r in decided],
               "failures": [{"id": r.id, "reason": r.reason} for r in failures]}
    if not _emit_json(args, payload):
        output: Output = args.output
        for r in decided:
            if r.ok and output.verbose:
                output.line(f"ok   {r.id}: {r.status}, trust {r.tier}"
                            + (f" ({r.note})" if r.note else ""))
        for r in failures:
            output.line(f"FAIL {r.id}: {r.reason}", style="bold red")
        trust = ", ".join(f"{n} {t}" for t in kernel.TIERS for n in [tiers.get(t, 0)] if n)
        total = len(decided) + len(bracketed)
        what = (f"{len(decided)} decided verdicts" if not bracketed else
                f"{total} verdicts ({len(decided)} decided, {len(bracketed)} undecided with "
                "certified bounds)")
        output.line(f"{where}: {total - len(failures)} of {what} re-checked"
                    + (f" ({trust})" if trust else "")
                    + (f", {len(failures)} failed" if failures else "")
                    + (" [exact only]" if args.exact_only else ""))
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
    p.add_argument("--optimizer", metavar="METHOD",
                   help="check the spectrum against this optimizer's eigenvalue filter: a "
                        "built-in (" + ", ".join(_optimizer_names()) + ") or FILE.py:NAME, "
                        "an optimizer declared in a file")
    p.add_argument("--alpha", type=_positive_float, help="step size (with --optimizer)")
    p.add_argument("--beta", type=float, help="momentum (heavy-ball, nesterov)")
    p.add_argument("--rho", type=_nonnegative_float,
                   help="perturbation radius (usam, sam); 0 is plain gradient descent")
    p.add_argument("--hyper", action="append", metavar="NAME=VALUE",
                   help="a hyperparameter beyond --alpha, --beta, --rho (adam's beta1, a "
                        "FILE.py:NAME optimizer's own; repeatable)")
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
    p.add_argument("--lambda-max-at-most", type=float, metavar="C",
                   help="also decide lambda_max <= C (certified by the probabilistic bound, "
                        "refuted by a re-checked Rayleigh quotient above C)")
    p.add_argument("--threads", type=_threads, default="auto", metavar="N|auto",
                   help="CPU threads of torch and of the BLAS behind NumPy/SciPy, for the "
                        "file and the certificate; auto: one thread unless a Hessian product "
                        "is large (parameters x examples >= 1e9), where torch's default is "
                        "used (more threads than free cores slow small models down many "
                        "times on a busy machine)")
    p.add_argument("--views", default="", metavar="LIST",
                   help="curvature views to add, comma-separated: ggn, fisher (Gauss-Newton "
                        "and empirical Fisher: trace, top eigenvalues), density (eigenvalue "
                        "density by stochastic Lanczos quadrature), layers (per-layer trace "
                        "and top eigenvalue), landscape (1-D and 2-D filter-normalized loss "
                        "landscapes), or all; none by default")
    p.add_argument("--density-runs", type=_positive_int, metavar="N",
                   help="Lanczos runs of the density view (default 5, of 60 steps each)")
    p.add_argument("--landscape-grid", type=_nonnegative_int, metavar="N",
                   help="points a side of the 2-D landscape (default 21; 0: no 2-D plot)")
    json_option(p, "the verdicts")
    db_option(p)
    p.set_defaults(func=cmd_certify_model)

    p = command("filters", "the exact eigenvalue filters of optimizers side by side, which "
                "excludes more curvature, certified (a stored run; --plot adds the stable "
                "regions to its report)", results)
    p.add_argument("methods", nargs="+", metavar="METHOD",
                   help="built-in optimizers (" + ", ".join(_optimizer_names()) + ") or "
                        "FILE.py:NAME, an optimizer declared in a file")
    p.add_argument("--alpha", required=True, help="step size (exact: 0.1 is 1/10)")
    p.add_argument("--beta", help="momentum, for the methods that take it")
    p.add_argument("--rho", help="perturbation radius, for the methods that take it")
    p.add_argument("--hyper", action="append", metavar="NAME=VALUE",
                   help="a hyperparameter beyond --alpha, --beta, --rho (adam's beta1, a "
                        "FILE.py:NAME optimizer's own; repeatable)")
    p.add_argument("--variant", choices=("A", "B"), default="A",
                   help="the reconstructed form of two-step-usam / hessian-usam")
    p.add_argument("--plot", choices=("alpha", "rho"),
                   help="add the stable region of each method over (alpha, lambda) or "
                        "(rho, lambda) to the run (see `sharpflat report`)")
    p.add_argument("--workers", type=_positive_int, default=1, metavar="N",
                   help="claims decided at once, each in its own process")
    p.add_argument("--timeout", type=_positive_float, default=300.0, metavar="SECONDS",
                   help="wall-clock safety net per claim")
    json_option(p, "the verdicts")
    db_option(p)
    p.set_defaults(func=cmd_filters)

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
    p.add_argument("--exact-only", action="store_true",
                   help="fail every verdict whose re-check is not exact (solver agreement, "
                        "probabilistic bounds); z3 and cvc5 are never imported")
    p.add_argument("--module", action="append", metavar="PACKAGE",
                   help="package whose registered checks the run's check verdicts are compared "
                        "with (repeatable); default: theorems")
    json_option(p, "the result (what was re-checked, its trust tier, what failed and why)")
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


def _nonnegative_int(text: str) -> int:
    value = _number(text, int)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be at least 0, got {value}")
    return value


def _threads(text: str) -> int | str:
    return "auto" if text.strip() == "auto" else _positive_int(text)


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
