"""What the command line prints: tables, notes, errors and progress.

Everything a user wrote (claim ids, messages, file names, run targets) is printed as plain
text: it is never read as Rich markup or emoji codes, so ``a[/b]`` or ``[bold]x[/bold]`` is
shown as written.

* On a terminal: Rich tables that fit the terminal's width (long cells wrap), colour, and a live
  progress bar on standard error.
* Elsewhere (a pipe, a file, a CI log): plain lines with no box drawing and no colour, one line
  per table row, and one progress line per finished item (``[3/10] id  status  1.2 s``), so a
  log shows how far a run got.

A text cut to fit (messages, in tables) always ends in an ellipsis; ``--verbose`` prints it
whole. A closed standard output (``sharpflat list | head``) ends the output quietly.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from dataclasses import dataclass
from typing import IO, Any, Callable, Iterator, Sequence

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

STATUS_STYLE = {"proved": "bold green", "certified": "green", "evidence": "cyan",
                "refuted": "bold red", "inconclusive": "yellow", "error": "bold magenta"}
ELLIPSIS = "…"


def shorten(text: str, limit: int | None) -> str:
    """``text`` on one line, cut to ``limit`` characters with an ellipsis (None: whole)."""
    flat = " ".join(str(text).split())
    if limit is None or len(flat) <= limit:
        return flat
    return flat[:max(0, limit - 1)].rstrip() + ELLIPSIS


@dataclass(frozen=True)
class Column:
    """A table column: its header, the longest text a cell keeps (None: all of it), whether
    its cells are verdict statuses (coloured on a terminal), and whether a terminal table may
    wrap them (short values such as times do not wrap)."""

    name: str
    limit: int | None = None
    status: bool = False
    justify: str = "left"
    wrap: bool = True


def _isatty(stream: IO[str]) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


class Output:
    """Standard output and standard error of one command.

    ``terminal`` forces the terminal or the plain form (None: ask the streams). ``width`` fixes
    the terminal width (None: the terminal's own)."""

    def __init__(self, *, quiet: bool = False, verbose: bool = False,
                 stdout: IO[str] | None = None, stderr: IO[str] | None = None,
                 terminal: bool | None = None, width: int | None = None):
        self.quiet = quiet
        self.verbose = verbose
        self.stdout = stdout or sys.stdout
        self.stderr = stderr or sys.stderr
        self.terminal = _isatty(self.stdout) if terminal is None else terminal
        self.err_terminal = _isatty(self.stderr) if terminal is None else terminal
        common = dict(markup=False, emoji=False, highlight=False)
        self.out = Console(file=self.stdout, force_terminal=self.terminal,
                           no_color=not self.terminal, width=width,
                           soft_wrap=not self.terminal, **common)
        self.err = Console(file=self.stderr, force_terminal=self.err_terminal,
                           no_color=not self.err_terminal, width=width, soft_wrap=True,
                           **common)
        self.closed = False

    # -- standard output ------------------------------------------------------------------
    def write(self, text: str) -> None:
        """Raw text on standard output (JSON, Markdown)."""
        self._guard(lambda: (self.stdout.write(text), self.stdout.flush()))

    def _guard(self, action: Callable[[], Any]) -> None:
        if self.closed:
            return
        try:
            action()
        except BrokenPipeError:
            self.close_stdout()

    def close_stdout(self) -> None:
        """The reader went away (``| head``): drop the rest of the output, quietly."""
        self.closed = True
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, self.stdout.fileno())
            os.close(devnull)
        except (OSError, ValueError, AttributeError):
            pass

    def table(self, title: str, columns: Sequence[Column], rows: Sequence[Sequence[Any]],
              *, to_stderr: bool = False) -> None:
        """A table; on a terminal it fits the width, elsewhere it is one plain line per row."""
        terminal = self.err_terminal if to_stderr else self.terminal
        console = self.err if to_stderr else self.out
        limits = [None if self.verbose else c.limit for c in columns]
        cells = [[shorten("-" if v is None else v, lim) for v, lim in zip(row, limits)]
                 for row in rows]
        if terminal:
            table = Table(title=Text(title), title_justify="left", box=box.SIMPLE_HEAD)
            for c in columns:
                table.add_column(Text(c.name), overflow="fold" if c.wrap else "ellipsis",
                                 no_wrap=not c.wrap, justify=c.justify)
            for row in cells:
                table.add_row(*(Text(v, style=STATUS_STYLE.get(v, "")) if c.status else Text(v)
                                for c, v in zip(columns, row)))
            self._guard(lambda: console.print(table))
            return
        self._guard(lambda: console.file.write(plain_table(title, [c.name for c in columns],
                                                           cells, [c.justify for c in columns])))

    def line(self, text: str, *, style: str = "") -> None:
        """One line of the result on standard output (shown even with --quiet)."""
        self._guard(lambda: self.out.print(Text(text, style=style)))

    def counts(self, counts: dict[str, int], *, to_stderr: bool = False) -> None:
        """``2 proved  1 refuted`` (coloured on a terminal)."""
        text = Text()
        for i, (status, n) in enumerate(sorted(counts.items())):
            text.append(("  " if i else "") + f"{n} {status}", style=STATUS_STYLE.get(status, ""))
        if not counts:
            text.append("no verdicts")
        console = self.err if to_stderr else self.out
        self._guard(lambda: console.print(text))

    # -- standard error -------------------------------------------------------------------
    def note(self, text: str, *, style: str = "dim") -> None:
        """A remark on standard error (not with --quiet)."""
        if not self.quiet:
            self.err.print(Text(text, style=style if self.err_terminal else ""))

    def detail(self, text: str) -> None:
        """A remark only with --verbose."""
        if self.verbose:
            self.note(text)

    def warning(self, text: str) -> None:
        self.err.print(Text.assemble(("warning: ", "bold yellow"), text))

    def error(self, text: str) -> None:
        """``error: ...`` on standard error (always shown)."""
        self.err.print(Text.assemble(("error: ", "bold red"), text))

    # -- progress ---------------------------------------------------------------------------
    @contextlib.contextmanager
    def progress(self, total: int, label: str = "run") -> Iterator["Progress"]:
        """Progress of ``total`` items: a live bar on a terminal, else a line per item."""
        reporter = Progress(self, total, label)
        try:
            yield reporter
        finally:
            reporter.close()


def plain_table(title: str, header: Sequence[str], rows: Sequence[Sequence[str]],
                justify: Sequence[str] | None = None) -> str:
    """The plain form of a table: a title line, a header line and one line per row, columns
    aligned with spaces (the last column is not padded)."""
    from rich.cells import cell_len

    justify = list(justify or ["left"] * len(header))
    table = [list(header)] + [list(r) for r in rows]
    widths = [max(cell_len(r[i]) for r in table) for i in range(len(header))]

    def fmt(row: list[str]) -> str:
        parts = []
        for i, cell in enumerate(row):
            pad = " " * (widths[i] - cell_len(cell))
            last = i == len(row) - 1
            parts.append(pad + cell if justify[i] == "right" else cell + ("" if last else pad))
        return "  ".join(parts).rstrip()

    lines = [title] if title else []
    lines += [fmt(r) for r in table]
    return "\n".join(lines) + "\n"


class Progress:
    """Reports items as they start and finish (see :meth:`Output.progress`)."""

    def __init__(self, output: Output, total: int, label: str):
        self.output = output
        self.total = total
        self.done_count = 0
        self.bar = None
        self.task = None
        self._stage: tuple[str, float] | None = None
        if output.quiet:
            return
        if output.err_terminal:
            from rich.progress import (BarColumn, MofNCompleteColumn, TextColumn,
                                       TimeElapsedColumn)
            from rich.progress import Progress as Bar

            self.bar = Bar(TextColumn("{task.description}", markup=False), BarColumn(),
                           MofNCompleteColumn(), TimeElapsedColumn(), console=output.err,
                           transient=True)
            self.bar.start()
            self.task = self.bar.add_task(label, total=total or None)

    def start(self, item_id: str) -> None:
        if self.bar is not None:
            self.bar.update(self.task, description=item_id)
        elif not self.output.quiet and self.output.verbose:
            self.output.err.print(Text(f"started {item_id}"))

    def finished(self, item_id: str, status: str, elapsed: float | None) -> None:
        self.done_count += 1
        if self.bar is not None:
            self.bar.advance(self.task)
            return
        if self.output.quiet:
            return
        seconds = f"{elapsed:.1f} s" if elapsed is not None else "-"
        width = len(str(self.total))
        self.output.err.print(Text(f"[{self.done_count:>{width}}/{self.total}] {item_id}  "
                                   f"{status}  {seconds}"))

    def stage(self, name: str) -> None:
        """A named stage of one long computation began (the previous one finished)."""
        now = time.monotonic()
        self._end_stage(now)
        self._stage = (name, now)
        if self.bar is not None:
            self.bar.update(self.task, description=name)

    def _end_stage(self, now: float) -> None:
        if self._stage is None:
            return
        name, began = self._stage
        self._stage = None
        if self.bar is not None:
            self.bar.console.print(Text(f"{name}: {now - began:.1f} s", style="dim"))
        elif not self.output.quiet:
            self.output.err.print(Text(f"{name}  done  {now - began:.1f} s"))

    def close(self) -> None:
        self._end_stage(time.monotonic())
        if self.bar is not None:
            self.bar.stop()
            self.bar = None
