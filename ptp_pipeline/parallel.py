"""Both cores for stage work that splits into independent parts: forked worker processes, results in order.

Most of a stage's time is pandas and Arrow on one thread (the 1M-row extract's pseudonymise spends 8 of its
12 s normalising and keying distinct identities, a part at a time). Forked workers inherit the stage's state
(key, protocol, the parts' input) without copying it through a pipe; only each part's result comes back,
pickled as Arrow buffers. Workers never touch the warehouse: the parent alone writes.

A part that fails in a worker is worked again in the parent, so a data problem raises the same error (with
the same file, row and field) as a run without workers, and no exception has to survive pickling.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Generator
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any, TypeVar

from ptp_pipeline.errors import ConfigError

T = TypeVar("T")

#: Most workers a stage uses when PTP_WORKERS does not say: past two, the parts' pickling and the parent's
#: writing catch up with the workers.
DEFAULT_MAX = 4

_work: Callable[[int], Any] | None = None  # the running map's function, inherited by its forked workers


class _Failed:
    """A part a worker could not finish (picklable whatever the error was)."""


def default_workers() -> int:
    """The cores this process may run on, at most DEFAULT_MAX."""
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return max(1, min(DEFAULT_MAX, usable))


def _run(part: int) -> Any:
    assert _work is not None
    try:
        return _work(part)
    except BaseException:
        return _Failed()


def ordered_map(work: Callable[[int], T], parts: int, workers: int) -> Generator[T, None, None]:
    """`work(0)`, `work(1)`, ... `work(parts - 1)`, in that order, on up to `workers` forked processes.

    At most `workers` results wait in memory beyond the one the caller holds. One worker, or one part, runs
    in this process with no fork at all.
    """
    global _work
    if workers <= 1 or parts <= 1 or "fork" not in multiprocessing.get_all_start_methods():
        for part in range(parts):
            yield work(part)
        return
    if _work is not None:
        raise RuntimeError("ordered_map does not nest: run the inner parts in the worker itself")
    _work = work
    try:
        with ProcessPoolExecutor(max_workers=min(workers, parts),
                                 mp_context=multiprocessing.get_context("fork")) as pool:
            pending: list[Future[Any]] = []
            ahead = min(workers, parts)
            for part in range(ahead):
                pending.append(pool.submit(_run, part))
            for part in range(parts):
                try:
                    result = pending.pop(0).result()
                except BrokenProcessPool:
                    raise ConfigError(
                        "a worker process of this stage stopped before finishing its part (killed, or out of "
                        "memory); nothing of the extract was merged",
                        hint="Run the stage again with fewer workers (PTP_WORKERS=1 works in one process)."
                    ) from None
                if part + ahead < parts:
                    pending.append(pool.submit(_run, part + ahead))
                yield work(part) if isinstance(result, _Failed) else result
    finally:
        _work = None
