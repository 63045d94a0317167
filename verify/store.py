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
import urllib.parse
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from verify.errors import NoStore, StoreError, UsageError
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
    """Runs and verdicts in one SQLite file (``":memory:"`` for a throw-away store).

    ``readonly=True`` (the commands that only read: ``runs``, ``show``, ``report``,
    ``recheck``) opens the file with SQLite's ``mode=ro``, so a store in a read-only folder or
    on a read-only disk can be read, and a missing store is not created (:class:`NoStore`).
    Every failure of the file itself becomes a :class:`StoreError` naming it."""

    def __init__(self, path: str | os.PathLike = DEFAULT_PATH, *, readonly: bool = False):
        self.path = str(path)
        self.readonly = readonly
        try:
            self._conn = self._open_readonly() if readonly else self._open()
        except sqlite3.Error as exc:
            raise StoreError(_explain(self.path, exc)) from None

    def _open(self) -> sqlite3.Connection:
        if self.path != ":memory:":
            if Path(self.path).is_dir():
                raise StoreError(f"the results store {self.path!r} is a folder; --db names "
                                 "a file")
            try:
                Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StoreError(f"cannot create the folder of the results store "
                                 f"{self.path!r} ({exc.strerror}); --db chooses another "
                                 "file") from None
        conn = sqlite3.connect(self.path, timeout=60.0, isolation_level=None)
        try:
            conn.execute("PRAGMA busy_timeout = 60000")
            if self.path != ":memory:":
                conn.execute("PRAGMA journal_mode = WAL")
            conn.executescript(_SCHEMA)
            _check_schema(conn)
        except BaseException:
            conn.close()
            raise
        return conn

    def _open_readonly(self) -> sqlite3.Connection:
        target = Path(self.path)
        if self.path == ":memory:" or not target.exists():
            raise NoStore(f"no results store at {self.path}: nothing was run here yet "
                          "(`sharpflat run` or `sharpflat check` creates it; --db names "
                          "another)")
        if target.is_dir():
            raise StoreError(f"the results store {self.path!r} is a folder; --db names a file")
        uri = "file:" + urllib.parse.quote(str(target.resolve())) + "?mode=ro"
        conn = sqlite3.connect(uri, uri=True, timeout=60.0, isolation_level=None)
        try:
            _check_schema(conn)
            return conn
        except sqlite3.OperationalError as exc:
            conn.close()
            if "readonly" not in str(exc) and "unable to open" not in str(exc):
                raise
        # a WAL store in a folder we may not write: SQLite cannot create its shared-memory
        # file, so read the file as it is (nobody can be writing it from here)
        conn = sqlite3.connect(uri + "&immutable=1", uri=True, isolation_level=None)
        _check_schema(conn)
        return conn

    def _read(self, sql: str, params: tuple = ()) -> list[tuple]:
        try:
            return self._conn.execute(sql, params).fetchall()
        except sqlite3.Error as exc:
            raise StoreError(_explain(self.path, exc)) from None

    # -- transactions ---------------------------------------------------------------------
    def _write(self, sql: str, params: tuple = ()) -> sqlite3.Cursor:
        if self.readonly:
            raise StoreError(f"the results store {self.path} was opened read-only")
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
                    raise StoreError(_explain(self.path, exc)) from None
                time.sleep(0.05 * (attempt + 1))
            except sqlite3.Error as exc:
                raise StoreError(_explain(self.path, exc)) from None
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

    def _dead_runs(self) -> set[int]:
        """The ``running`` runs of this host whose process no longer exists."""
        host = socket.gethostname()
        rows = self._read("SELECT id, pid FROM runs WHERE status = 'running' AND host = ?",
                          (host,))
        return {run_id for run_id, pid in rows if pid and not _pid_alive(pid)}

    def _reconcile(self) -> None:
        """Mark as interrupted the runs of this host whose process no longer exists (a
        read-only store only shows them so)."""
        self._dead = self._dead_runs()
        if self.readonly:
            return
        for run_id in self._dead:
            self._write("UPDATE runs SET status = 'interrupted' WHERE id = ? AND "
                        "status = 'running'", (run_id,))

    def _info(self, row: tuple) -> RunInfo:
        (run_id, command, target, profile, started, finished, status, seed, planned,
         info) = row
        if status == "running" and run_id in getattr(self, "_dead", ()):
            status = "interrupted"
        counts = dict(self._read(
            "SELECT status, COUNT(*) FROM verdicts WHERE run_id = ? GROUP BY status",
            (run_id,)))
        return RunInfo(id=run_id, command=command, target=target, profile=profile,
                       started=started, finished=finished, status=status, seed=seed,
                       planned=planned, counts=counts, info=json.loads(info or "{}"))

    _RUN_COLUMNS = ("id, command, target, profile, started, finished, status, seed, planned,"
                    " info")

    def runs(self, limit: int = 50) -> list[RunInfo]:
        self._reconcile()
        rows = self._read(f"SELECT {self._RUN_COLUMNS} FROM runs ORDER BY id DESC LIMIT ?",
                          (limit,))
        return [self._info(r) for r in rows]

    def run(self, ref: str | int = "latest") -> RunInfo:
        """A run by id, or ``"latest"``; raises UsageError when there is none."""
        self._reconcile()
        if ref == "latest":
            row = next(iter(self._read(
                f"SELECT {self._RUN_COLUMNS} FROM runs ORDER BY id DESC LIMIT 1")), None)
            if row is None:
                raise UsageError(f"the store {self.path} has no runs yet; "
                                 "start one with `sharpflat run`")
            return self._info(row)
        try:
            run_id = int(ref)
        except (TypeError, ValueError):
            raise UsageError(f"a run is named by its number or 'latest', not {ref!r}") from None
        row = next(iter(self._read(f"SELECT {self._RUN_COLUMNS} FROM runs WHERE id = ?",
                                   (run_id,))), None)
        if row is None:
            raise UsageError(f"no run {run_id} in {self.path}; `sharpflat runs` lists them")
        return self._info(row)

    def previous_run(self, run: RunInfo) -> RunInfo | None:
        """The last run before ``run`` of the same command and target."""
        row = next(iter(self._read(
            f"SELECT {self._RUN_COLUMNS} FROM runs WHERE id < ? AND command = ? AND target = ?"
            " ORDER BY id DESC LIMIT 1", (run.id, run.command, run.target))), None)
        return self._info(row) if row else None

    def verdicts(self, run_id: int) -> list[Verdict]:
        return list(self.iter_verdicts(run_id))

    def iter_verdicts(self, run_id: int) -> Iterator[Verdict]:
        """The verdicts of a run, in the order of its plan (file order for ``check``), else
        in the order they were recorded."""
        rows = self._read("SELECT item_id, json FROM verdicts WHERE run_id = ? "
                          "ORDER BY recorded, item_id", (run_id,))
        info = self._read("SELECT info FROM runs WHERE id = ?", (run_id,))
        order = (json.loads(info[0][0] or "{}").get("order") if info else None) or []
        rank = {item: i for i, item in enumerate(order)}
        rows.sort(key=lambda r: rank.get(r[0], len(rank)))
        for item_id, text in rows:
            yield self._verdict(item_id, text)

    def _verdict(self, item_id: str, text: str) -> Verdict:
        try:
            return Verdict.from_json(text)
        except ValueError as exc:
            raise StoreError(f"the verdict {item_id!r} in the results store {self.path} "
                             f"cannot be read ({exc}); it was written by another version "
                             "or edited") from None

    def verdict(self, run_id: int, item_id: str) -> Verdict:
        rows = self._read("SELECT json FROM verdicts WHERE run_id = ? AND item_id = ?",
                          (run_id, item_id))
        if not rows:
            known = [r[0] for r in self._read(
                "SELECT item_id FROM verdicts WHERE run_id = ? ORDER BY item_id", (run_id,))]
            raise UsageError(f"run {run_id} has no verdict for {item_id!r}; it has "
                             + (", ".join(known[:20]) + (" ..." if len(known) > 20 else "")
                                if known else "none"))
        return self._verdict(item_id, rows[0][0])


def _check_schema(conn: sqlite3.Connection) -> None:
    conn.execute("SELECT id, command, target, status, info FROM runs LIMIT 1").fetchall()
    conn.execute("SELECT run_id, item_id, json FROM verdicts LIMIT 1").fetchall()


def _explain(path: str, exc: sqlite3.Error) -> str:
    """One line naming the store and what to do about ``exc``."""
    text = str(exc)
    if "readonly" in text or "read-only" in text:
        return (f"cannot write the results store {path}: it is read-only ({text}); --db "
                "chooses a writable file (runs, show, report and recheck can still read it)")
    if "malformed" in text or "corrupt" in text:
        return (f"the results store {path} is damaged ({text}); move it aside and run again, "
                "or choose another file with --db")
    if "not a database" in text or "no such table" in text or "no such column" in text:
        return (f"cannot open the results store {path}: it is not a sharpflat results store "
                f"({text}); the file was not changed; choose another file with --db")
    if "unable to open" in text:
        return (f"cannot open the results store {path} ({text}): check that its folder "
                "exists and may be read; --db chooses another file")
    if "locked" in text:
        return (f"the results store {path} stayed locked by another process ({text}); "
                "try again when the other run has finished")
    return f"the results store {path} failed: {type(exc).__name__}: {text}"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
