"""Run a function in a worker process under a wall-clock limit: how sharpflat runs users' code.

A user's Python file (a conjecture script, an optimizer file) may hang, kill its process or
change global state; :func:`run_isolated` runs ``target(*args)`` in a forked child (``os.fork``,
which also works inside the daemonic worker processes that decide claims; a spawned
multiprocessing worker where fork is missing) and returns its answer, so neither the kernel nor
the command line ever executes user code in its own process. The answer travels back pickled
through a pipe.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import pickle
import select
import signal
import time
from typing import Any, Callable


class IsolatedFailure(Exception):
    """The worker did not answer: ``reason`` is ``"timeout"`` or ``"died"`` (with its exit
    code), or the answer could not be read back."""

    def __init__(self, reason: str, message: str, exitcode: int | None = None):
        super().__init__(message)
        self.reason = reason
        self.exitcode = exitcode


def _serve(conn: Any, target: Callable[..., Any], args: tuple) -> None:
    try:
        conn.send_bytes(_answer_of(target, args))
    finally:
        conn.close()


def _answer_of(target: Callable[..., Any], args: tuple) -> bytes:
    try:
        try:
            result = ("ok", target(*args))
        except SystemExit as exc:
            result = ("raised", f"the code called exit({exc.code})")
        except BaseException as exc:  # noqa: BLE001 - the user's code failed: say how
            result = ("raised", f"{type(exc).__name__}: {exc}")
        return pickle.dumps(result)
    except Exception as exc:  # noqa: BLE001 - an answer that does not pickle
        return pickle.dumps(("raised", f"the answer could not be sent back "
                                       f"({type(exc).__name__}: {exc})"))


def _run_forked(target: Callable[..., Any], args: tuple, timeout: float) -> tuple[str, Any]:
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: answer, then leave without running the parent's exit handlers
        code = 0
        try:
            os.close(read_end)
            data = memoryview(_answer_of(target, args))
            while data:
                data = data[os.write(write_end, data):]
        except BaseException:  # noqa: BLE001
            code = 1
        finally:
            os._exit(code)
    os.close(write_end)
    chunks: list[bytes] = []
    deadline = time.monotonic() + timeout
    failure: IsolatedFailure | None = None
    try:
        while True:
            remaining = deadline - time.monotonic()
            ready = select.select([read_end], [], [], max(remaining, 0))[0] if remaining > 0 \
                else []
            if not ready:
                failure = IsolatedFailure("timeout", f"did not finish within {timeout:g} s")
                break
            chunk = os.read(read_end, 1 << 20)
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        os.close(read_end)
        if failure is not None:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        _, status = os.waitpid(pid, 0)
    if failure is not None:
        raise failure
    if not chunks:
        code = os.waitstatus_to_exitcode(status)
        raise IsolatedFailure("died", f"ended its process (exit code {code}) before "
                              "answering", code)
    try:
        return pickle.loads(b"".join(chunks))
    except Exception as exc:  # noqa: BLE001
        raise IsolatedFailure("unreadable", f"its answer could not be read back ({exc})"
                              ) from None


def run_isolated(target: Callable[..., Any], args: tuple = (), *, timeout: float
                 ) -> tuple[str, Any]:
    """``("ok", value)`` when ``target(*args)`` returned, ``("raised", "Type: message")`` when
    it raised (or called exit); raises :class:`IsolatedFailure` when the worker did not answer
    within ``timeout`` seconds or ended before answering. ``target`` must be a module-level
    function (it is pickled where fork is missing)."""
    if hasattr(os, "fork"):
        return _run_forked(target, args, timeout)
    ctx = mp.get_context("spawn")
    receiver, sender = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_serve, args=(sender, target, args), daemon=True)
    proc.start()
    sender.close()
    try:
        if not receiver.poll(timeout):
            raise IsolatedFailure("timeout", f"did not finish within {timeout:g} s")
        try:
            data = receiver.recv_bytes()
        except EOFError:
            proc.join(5)
            raise IsolatedFailure("died", f"ended its process (exit code {proc.exitcode}) "
                                  "before answering", proc.exitcode) from None
    finally:
        receiver.close()
        if proc.is_alive():
            proc.kill()
        proc.join(5)
    try:
        return pickle.loads(data)
    except Exception as exc:  # noqa: BLE001
        raise IsolatedFailure("unreadable", f"its answer could not be read back ({exc})"
                              ) from None
