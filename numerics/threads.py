"""How many CPU threads the curvature work uses, and a scope that sets them.

torch's intra-op threads and the BLAS pool behind NumPy and SciPy spin while they wait for one
another. On a machine whose cores are busy with other jobs, a thread that is descheduled holds
up every parallel region of the others, so small operations (the Hessian products of a small
model take about a millisecond) become a hundred times slower. Measured on a 2-core VM beside
two CPU-bound jobs: one product of a 64-16-16-10 MLP on 200 examples took 3.6 ms on one torch
thread and 259 ms on two; of a 64-512-512-10 MLP on 2000 examples, 0.96 s and 1.6 s; and
``numpy.linalg.eigh`` of a 120 x 120 matrix beside torch 119-220 ms against 0.9 ms on one BLAS
thread. On a quiet machine more threads pay only when one product is large.

:func:`auto_threads` is therefore one thread unless a product is large (parameters times
examples at least :data:`LARGE_WORK`), and then torch's default; it depends on the sizes only,
never on the machine's load, so the same model gets the same threads (and the same rounding)
everywhere. :func:`limited` sets torch's threads and the BLAS/OpenMP pools of NumPy and SciPy
(threadpoolctl) for a block and restores them after.
"""

from __future__ import annotations

import contextlib
from typing import Iterator

#: parameters x examples from which a Hessian product is large enough for several threads
LARGE_WORK = 10**9


def default_threads() -> int:
    """torch's own default intra-op thread count (the physical cores it sees)."""
    import torch

    return max(1, int(torch.get_num_threads()))


def auto_threads(parameters: int, examples: int, device: str = "cpu") -> int:
    """One thread for products of fewer than :data:`LARGE_WORK` parameter-examples or on CUDA
    (where the CPU only launches kernels); torch's default thread count otherwise."""
    if device != "cpu" or parameters * examples < LARGE_WORK:
        return 1
    return default_threads()


def check_threads(threads: int | str | None) -> int | str | None:
    """``None`` (leave as is), ``"auto"`` or a positive integer; raises ValueError otherwise."""
    if threads is None or threads == "auto":
        return threads
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise ValueError(f"threads must be a positive integer or 'auto', got {threads!r}")
    return threads


@contextlib.contextmanager
def limited(threads: int | None) -> Iterator[None]:
    """Within the block, torch uses ``threads`` intra-op threads and NumPy's and SciPy's BLAS
    and OpenMP pools at most ``threads``; both are restored after. ``None`` changes nothing."""
    if threads is None:
        yield
        return
    import torch
    from threadpoolctl import threadpool_limits

    before = torch.get_num_threads()
    torch.set_num_threads(int(threads))
    try:
        with threadpool_limits(limits=int(threads)):
            yield
    finally:
        torch.set_num_threads(before)
