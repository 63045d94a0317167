"""SQLite store of runs and verdicts (standard library only).

Every verdict is written in its own transaction as soon as it is decided, so a run that is
interrupted (Ctrl-C, a crash, a killed process) keeps what it decided. A run is ``running``
while in progress, then ``complete`` or ``interrupted``; a ``running`` run whose process is
gone (same host, dead pid) is shown, and recorded, as ``interrupted``.

The file uses WAL journaling and a busy timeout, so several runs may write the same file at once.
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from verify.errors import UsageError
from verify.verdict import Verdict

DEFAULT_PATH = Path(".sharpflat") / "results.db"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    command   TEXT NOT NULL,
    target    TEXT NOT NULL,
    profile   TEXT,
    started   REAL NOT NULL,
    finished  REAL,
    status    TEXT NOT NULL,
    seed      INTEGER,
    planned   INTEGER,
    argv      TEXT,
    host      TEXT,
    pid       INTEGER,
    info      TEXT
);
CREATE TABLE IF NOT EXISTS verdicts (
    run_id    INTEGER NOT NULL REFERENCES runs(id),
    item_id   TEXT NOT NULL,
    kind      TEXT NOT NULL,
    status    TEXT NOT NULL,
    recorded  REAL NOT NULL,
    json      TEXT NOT NULL,
    PRIMARY KEY (run_id, item_id)
);
"""


@dataclass
class RunInfo:
    id: int
    command: str
    target: str
    profile: str | None
    started: float
    finished: float | None
    status: str
    seed: int | None
    planned: int | None
    counts: dict[str, int]
    info: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


class Store:
    """Runs and verdicts in one SQLite file (``":memory:"`` for a throw-away store)."""

    def __init__(self, path: str | os.PathLike = DEFAULT_PATH):
        self.path = str(path)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        try:
            self._conn = sqlite3.connect(self.path, timeout=60.0, isolation_level=None)
            self._conn.execute("PRAGMA busy_timeout = 60000")
            if self.path != ":memory:":
                self._conn.execute("PRAGMA journal_mode = WAL")
            self._conn.executescript(_SCHEMA)
        except sqlite3.DatabaseError as exc:
            raise UsageError(f"cannot open the results store {self.path!r}: {exc} "
                             "(is it a sharpflat database? use --db to choose another file)"
                             ) from None

    # -- transactions ---------------------------------------------------------------------
    def _write(self, sql: str, params: tuple = ()) -> sqlite3.Cursor:
        for attempt in range(20):
            try:
                self._conn.execute("BEGIN IMMEDIATE")
                try:
                    cur = self._conn.execute(sql, params)
                    self._conn.execute("COMMIT")
                    return cur
                except BaseException:
                    self._conn.execute("ROLLBACK")
                    raise
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or attempt == 19:
                    raise
                time.sleep(0.05 * (attempt + 1))
        raise AssertionError("unreachable")

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- runs -------------------------------------------------------------------------------
    def begin_run(self, *, command: str, target: str, profile: str | None = None,
                  seed: int | None = None, planned: int | None = None,
                  argv: list[str] | None = None, info: dict[str, Any] | None = None) -> int:
        cur = self._write(
            "INSERT INTO runs (command, target, profile, started, status, seed, planned, argv,"
            " host, pid, info) VALUES (?, ?, ?, ?, 'running', ?, ?, ?, ?, ?, ?)",
            (command, target, profile, time.time(), seed, planned, json.dumps(argv or []),
             socket.gethostname(), os.getpid(), json.dumps(info or {})))
        return int(cur.lastrowid)

    def add_verdict(self, run_id: int, verdict: Verdict) -> None:
        self._write(
            "INSERT OR REPLACE INTO verdicts (run_id, item_id, kind, status, recorded, json)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (run_id, verdict.id, verdict.kind, verdict.status.value, time.time(),
             verdict.to_json()))

    def finish_run(self, run_id: int, status: str) -> None:
        if status not in ("complete", "interrupted"):
            raise ValueError(f"a run finishes complete or interrupted, not {status!r}")
        self._write("UPDATE runs SET status = ?, finished = ? WHERE id = ?",
                    (status, time.time(), run_id))

    def _reconcile(self) -> None:
        """Mark as interrupted the runs of this host whose process no longer exists."""
        host = socket.gethostname()
        rows = self._conn.execute(
            "SELECT id, pid FROM runs WHERE status = 'running' AND host = ?", (host,)).fetchall()
        for run_id, pid in rows:
            if pid and not _pid_alive(pid):
                self._write("UPDATE runs SET status = 'interrupted' WHERE id = ? AND "
                            "status = 'running'", (run_id,))

    def _info(self, row: tuple) -> RunInfo:
        (run_id, command, target, profile, started, finished, status, seed, planned,
         info) = row
        counts = dict(self._conn.execute(
            "SELECT status, COUNT(*) FROM verdicts WHERE run_id = ? GROUP BY status",
            (run_id,)).fetchall())
        return RunInfo(id=run_id, command=command, target=target, profile=profile,
                       started=started, finished=finished, status=status, seed=seed,
                       planned=planned, counts=counts, info=json.loads(info or "{}"))

    _RUN_COLUMNS = ("id, command, target, profile, started, finished, status, seed, planned,"
                    " info")

    def runs(self, limit: int = 50) -> list[RunInfo]:
        self._reconcile()
        rows = self._conn.execute(
            f"SELECT {self._RUN_COLUMNS} FROM runs ORDER BY id DESC LIMIT ?", (limit,)
        ).fetchall()
        return [self._info(r) for r in rows]

    def run(self, ref: str | int = "latest") -> RunInfo:
        """A run by id, or ``"latest"``; raises UsageError when there is none."""
        self._reconcile()
        if ref == "latest":
            row = self._conn.execute(
                f"SELECT {self._RUN_COLUMNS} FROM runs ORDER BY id DESC LIMIT 1").fetchone()
            if row is None:
                raise UsageError(f"the store {self.path} has no runs yet; "
                                 "start one with `sharpflat run`")
            return self._info(row)
        try:
            run_id = int(ref)
        except (TypeError, ValueError):
            raise UsageError(f"a run is named by its number or 'latest', not {ref!r}") from None
        row = self._conn.execute(f"SELECT {self._RUN_COLUMNS} FROM runs WHERE id = ?",
                                 (run_id,)).fetchone()
        if row is None:
            raise UsageError(f"no run {run_id} in {self.path}; `sharpflat runs` lists them")
        return self._info(row)

    def previous_run(self, run: RunInfo) -> RunInfo | None:
        """The last run before ``run`` of the same command and target."""
        row = self._conn.execute(
            f"SELECT {self._RUN_COLUMNS} FROM runs WHERE id < ? AND command = ? AND target = ?"
            " ORDER BY id DESC LIMIT 1", (run.id, run.command, run.target)).fetchone()
        return self._info(row) if row else None

    def verdicts(self, run_id: int) -> list[Verdict]:
        return list(self.iter_verdicts(run_id))

    def iter_verdicts(self, run_id: int) -> Iterator[Verdict]:
        for (text,) in self._conn.execute(
                "SELECT json FROM verdicts WHERE run_id = ? ORDER BY recorded, item_id",
                (run_id,)):
            yield Verdict.from_json(text)

    def verdict(self, run_id: int, item_id: str) -> Verdict:
        row = self._conn.execute("SELECT json FROM verdicts WHERE run_id = ? AND item_id = ?",
                                 (run_id, item_id)).fetchone()
        if row is None:
            raise UsageError(f"run {run_id} has no verdict for {item_id!r}")
        return Verdict.from_json(row[0])


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
