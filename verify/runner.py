"""Running checks and claims: isolation, timeouts, parallelism, Dask clusters.

Each task (a registered check or a user claim) runs in a child process of its own, forked from
this one, so that a hung task can be killed at its timeout (it becomes ``inconclusive:
timeout``) and a crashed one (segfault, ``os._exit``, out of memory) becomes an ``error``
verdict while the run goes on. ``workers`` children run at once.

With ``cluster=ADDRESS`` the tasks go to a Dask scheduler instead (``distributed.Client``);
there a task runs in a worker thread, at most as many at once as the cluster has threads, and
one that passes its timeout is cancelled and reported as ``inconclusive: timeout`` (a Dask
worker thread cannot be killed, so it finishes in the background).

:func:`execute` yields verdicts as they are decided; the caller stores each one at once.
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import os
import signal
import sys
import time
from collections import deque
from dataclasses import dataclass, field
from multiprocessing.connection import wait
from typing import Any, Callable, Iterable, Iterator

from verify.verdict import Verdict, error_verdict, timeout_verdict, versions

DEFAULT_TIMEOUT = 600.0


@dataclass
class Task:
    """One unit of work. ``spec`` is picklable (for Dask); see :func:`run_spec`."""

    id: str
    kind: str
    spec: tuple
    timeout: float | None = DEFAULT_TIMEOUT
    meta: dict[str, Any] = field(default_factory=dict)


def check_task(check: Any, *, seed: int, device: str, packages: tuple[str, ...],
               timeout: float | None) -> Task:
    limit = check.timeout if check.timeout is not None else timeout
    return Task(id=check.id, kind="check",
                spec=("check", check.id, seed, device, tuple(packages)),
                timeout=limit, meta=check.describe())


def claim_task(claim: Any, *, seed: int, timeout: float | None,
               budget: int | None = None) -> Task:
    """A claim to decide with a deterministic ``budget`` (solver resource units) under the
    wall-clock safety net ``timeout`` (seconds; when it fires: inconclusive)."""
    return Task(id=claim.id, kind=claim.kind, spec=("claim", claim, seed, budget),
                timeout=timeout)


def run_spec(spec: tuple) -> Verdict:
    """Execute a task spec in this process (the body of a child or a Dask task)."""
    from verify import registry

    what = spec[0]
    if what == "check":
        _, check_id, seed, device, packages = spec
        return registry.get_check(check_id, packages).run(seed=seed, device=device)
    if what == "claim":
        _, claim, seed, budget = spec
        return registry.decide(claim, seed=seed, budget=budget)
    raise ValueError(f"unknown task spec {what!r}")


def run_spec_json(spec: tuple) -> str:
    """:func:`run_spec` returning JSON text (what crosses process boundaries)."""
    try:
        return run_spec(spec).to_json()
    except Exception as exc:  # noqa: BLE001
        return error_verdict(str(spec[1]), "check", exc).to_json()


def _timeout_verdict(task: Task, elapsed: float) -> Verdict:
    verdict = timeout_verdict(task.id, task.kind, f"no verdict after {elapsed:.1f} s (limit "
                              f"{task.timeout} s)", claim=dict(task.meta), elapsed=elapsed)
    verdict.versions = versions()
    return verdict


def _child_main(conn: Any, spec: tuple, threads: int | None = None) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides what an interrupt means
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM})  # blocked at the fork
    if threads is not None:
        # workers share the cores: without a cap each one's BLAS/OpenMP pool takes them all
        for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
            os.environ[var] = str(threads)
        if "torch" in sys.modules:
            sys.modules["torch"].set_num_threads(threads)
    text = run_spec_json(spec)
    conn.send(text)
    conn.close()


@contextlib.contextmanager
def _sigint_deferred() -> Iterator[None]:
    """Block SIGINT and SIGTERM in this thread for the duration (delivered afterwards)."""
    signals = {signal.SIGINT, signal.SIGTERM}
    old = signal.pthread_sigmask(signal.SIG_BLOCK, signals)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


def _context() -> mp.context.BaseContext:
    methods = mp.get_all_start_methods()
    return mp.get_context("fork" if "fork" in methods else "spawn")


def execute(tasks: Iterable[Task], *, workers: int = 1, cluster: str | None = None,
            on_start: Callable[[Task], None] | None = None) -> Iterator[Verdict]:
    """Run ``tasks`` and yield one verdict per task, in completion order."""
    tasks = list(tasks)
    if cluster:
        yield from _execute_dask(tasks, cluster, on_start=on_start)
    else:
        yield from _execute_local(tasks, max(1, int(workers)), on_start=on_start)


def _execute_local(tasks: list[Task], workers: int, *,
                   on_start: Callable[[Task], None] | None) -> Iterator[Verdict]:
    ctx = _context()
    threads = max(1, (os.cpu_count() or 1) // workers)
    pending = deque(tasks)
    running: dict[Any, tuple[Task, Any, float]] = {}  # conn -> (task, process, start)
    try:
        while pending or running:
            while pending and len(running) < workers:
                task = pending.popleft()
                receiver, sender = ctx.Pipe(duplex=False)
                proc = ctx.Process(target=_child_main, args=(sender, task.spec, threads),
                                   daemon=True)
                # an interrupt between the fork and the bookkeeping would leave a child nobody
                # kills (holding the terminal's pipes): SIGINT waits until both are done
                with _sigint_deferred():
                    proc.start()
                    running[receiver] = (task, proc, time.monotonic())
                sender.close()
                if on_start:
                    on_start(task)
            now = time.monotonic()
            deadlines = [start + task.timeout - now for task, _, start in running.values()
                         if task.timeout is not None]
            wait_for = max(0.0, min(deadlines)) if deadlines else 1.0
            ready = wait(list(running), timeout=min(wait_for, 1.0))
            for conn in ready:
                task, proc, start = running.pop(conn)
                try:
                    text = conn.recv()
                    verdict = Verdict.from_json(text)
                except (EOFError, OSError):
                    proc.join(5)
                    code = proc.exitcode
                    how = (f"killed by signal {-code}" if code is not None and code < 0
                           else f"exit code {code}")
                    verdict = error_verdict(task.id, task.kind,
                                            f"the worker process died ({how}) before deciding",
                                            claim=dict(task.meta))
                    verdict.elapsed = time.monotonic() - start
                except ValueError as exc:
                    verdict = error_verdict(task.id, task.kind, exc, claim=dict(task.meta))
                finally:
                    conn.close()
                proc.join(5)
                if proc.is_alive():
                    proc.kill()
                yield verdict
            now = time.monotonic()
            for conn, (task, proc, start) in list(running.items()):
                if task.timeout is not None and now - start > task.timeout:
                    proc.kill()
                    proc.join(5)
                    conn.close()
                    del running[conn]
                    yield _timeout_verdict(task, now - start)
    finally:
        for conn, (task, proc, start) in running.items():
            proc.kill()
            proc.join(5)
            conn.close()


def _execute_dask(tasks: list[Task], address: str, *,
                  on_start: Callable[[Task], None] | None) -> Iterator[Verdict]:
    from distributed import Client, wait as dask_wait

    with Client(address, set_as_default=True) as client:
        slots = max(1, sum(client.nthreads().values()))
        pending = deque(tasks)
        running: dict[Any, tuple[Task, float]] = {}
        try:
            while pending or running:
                while pending and len(running) < slots:
                    task = pending.popleft()
                    future = client.submit(run_spec_json, task.spec, pure=False,
                                           key=f"sharpflat-{task.id}-{os.urandom(4).hex()}")
                    running[future] = (task, time.monotonic())
                    if on_start:
                        on_start(task)
                now = time.monotonic()
                deadlines = [start + task.timeout - now for task, start in running.values()
                             if task.timeout is not None]
                limit = max(0.05, min(deadlines + [1.0]))
                try:
                    done, _ = dask_wait(list(running), timeout=limit,
                                        return_when="FIRST_COMPLETED")
                except TimeoutError:
                    done = set()
                for future in done:
                    task, start = running.pop(future)
                    try:
                        verdict = Verdict.from_json(future.result())
                    except Exception as exc:  # noqa: BLE001
                        verdict = error_verdict(task.id, task.kind, exc, claim=dict(task.meta))
                        verdict.elapsed = time.monotonic() - start
                    yield verdict
                now = time.monotonic()
                for future, (task, start) in list(running.items()):
                    if task.timeout is not None and now - start > task.timeout:
                        future.cancel()
                        del running[future]
                        yield _timeout_verdict(task, now - start)
        finally:
            for future in running:
                future.cancel()
