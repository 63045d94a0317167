"""A run session: tasks into a stored run, each verdict stored as it comes, interrupts survived.

Exit codes (:class:`ExitCode`, also listed by ``sharpflat --help``): 0 when nothing was refuted
or errored, 1 when something was refuted, 2 when the run was interrupted, 3 when something
errored (or sharpflat itself failed), 4 on a usage error, 5 when nothing was selected to run.
"""

from __future__ import annotations

import enum
import json
import os
import signal
import sys
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

from verify.errors import UsageError
from verify.verdict import Status, Verdict


class ExitCode(enum.IntEnum):
    OK = 0
    REFUTED = 1
    INTERRUPTED = 2
    ERROR = 3
    USAGE = 4
    NO_CHECKS = 5


EXIT_CODES_HELP = """exit status:
  0  nothing refuted or errored
  1  something refuted
  2  interrupted (what was decided is stored)
  3  an error: a claim, a check, the results store or sharpflat itself
     (one line; --debug shows the traceback)
  4  a usage error: an option, or a file that cannot be read as asked
  5  nothing selected (no check matches, an empty conjecture file)
"""


def exit_code_for(verdicts: Iterable[Verdict]) -> ExitCode:
    statuses = {v.status for v in verdicts}
    if Status.ERROR in statuses:
        return ExitCode.ERROR
    if Status.REFUTED in statuses:
        return ExitCode.REFUTED
    return ExitCode.OK


def _raise_interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def run_session(store: Any, *, command: str, target: str, tasks: list, profile: str | None,
                seed: int, workers: int, cluster: str | None, argv: list[str],
                json_path: str | None, early: Sequence[Verdict] = (), info: dict | None = None,
                order: Sequence[str] | None = None,
                on_start: Callable[[Any], None] | None = None,
                on_verdict: Callable[[Verdict], None] | None = None
                ) -> tuple[ExitCode, int, list[Verdict], bool]:
    """Run ``tasks`` into a new stored run.

    Returns (exit code, run id, verdicts in ``order``, interrupted). ``order`` lists the item
    ids in the order of the plan (a conjecture file's order; default: ``early`` then
    ``tasks``); it is stored with the run, so ``show`` and ``report`` keep it.
    ``on_start(task)`` and ``on_verdict(verdict)`` report progress (the command line draws a
    bar or prints lines). Each verdict is stored as soon as it is decided; an interrupt
    (Ctrl-C, SIGTERM) marks the run interrupted and keeps what was stored. The JSON file
    (``json_path``, ``-`` for standard output) gets what was decided even when the run was
    interrupted or the store failed."""
    from verify import runner

    order = list(order) if order is not None else [v.id for v in early] + [t.id for t in tasks]
    run_id = store.begin_run(command=command, target=target, profile=profile, seed=seed,
                             planned=len(tasks) + len(early), argv=argv,
                             info={**(info or {}), "order": order})
    verdicts: list[Verdict] = []
    previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    interrupted = False
    try:
        for v in early:
            store.add_verdict(run_id, v)
            verdicts.append(v)
            if on_verdict:
                on_verdict(v)
        for v in runner.execute(tasks, workers=workers, cluster=cluster, on_start=on_start):
            store.add_verdict(run_id, v)
            verdicts.append(v)
            if on_verdict:
                on_verdict(v)
    except KeyboardInterrupt:
        interrupted = True
    finally:
        signal.signal(signal.SIGTERM, previous)
        rank = {item: i for i, item in enumerate(order)}
        verdicts.sort(key=lambda v: rank.get(v.id, len(rank)))
        try:
            store.finish_run(run_id, "interrupted" if interrupted else "complete")
        finally:
            if json_path:
                try:
                    write_json(json_path, [v.to_dict() for v in verdicts])
                except UsageError as exc:
                    raise UsageError(f"{exc} (the verdicts are stored: `sharpflat show "
                                     f"{run_id} --json -` prints them)") from None
    if interrupted:
        return ExitCode.INTERRUPTED, run_id, verdicts, True
    return exit_code_for(verdicts), run_id, verdicts, False


def check_json_target(path: str | None) -> None:
    """Refuse, before anything runs, a ``--json`` path that cannot be written: a folder, or a
    file under something that is not a writable folder (:class:`UsageError`)."""
    if not path or path == "-":
        return
    target = Path(path)
    if target.is_dir():
        raise UsageError(f"--json {path} is a folder; name a file (or '-' for standard output)")
    folder = target.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    if not folder.is_dir() or not os.access(folder, os.W_OK | os.X_OK):
        raise UsageError(f"--json {path}: cannot write there ({folder} is not a writable "
                         "folder); name another file, or '-' for standard output")


def write_json(path: str, payload: Any) -> None:
    """Write JSON to ``path`` atomically, or to standard output when ``path`` is ``-``.

    A file that cannot be written is a :class:`UsageError` naming it."""
    text = json.dumps(payload, indent=2, allow_nan=False) + "\n"
    if path == "-":
        sys.stdout.write(text)
        sys.stdout.flush()
        return
    target = Path(path)
    tmp = target.with_name(target.name + ".tmp")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(target)
    except OSError as exc:
        try:
            tmp.unlink()
        except OSError:
            pass
        raise UsageError(f"cannot write the JSON file {path} ({exc.strerror or exc}); --json "
                         "names another file, or '-' for standard output") from None
