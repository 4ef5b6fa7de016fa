"""Both cores for stage work that splits into independent parts: worker threads, results in order.

Most of a stage's time is Arrow compute, DuckDB and pandas' Arrow-backed text methods, which run without
Python's global lock, so parts on threads overlap on the cores (the 1M-row extract's pseudonymise: 12.5-14.9 s
on one thread, 9.3-12.9 s on two, the same files byte for byte). Threads rather than forked processes: on this kind
of machine a forked worker paid more in page faults (1.2M, 5.5 s of system time for pseudonymise) than it
gained, and its results had to be pickled back; a thread shares the stage's warm heap and raises its errors
as they are. Workers never touch the warehouse: the stage's own thread alone writes.
"""

from __future__ import annotations

import itertools
import os
from collections import deque
from collections.abc import Callable, Generator, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import closing
from functools import partial
from typing import TypeVar

T = TypeVar("T")
U = TypeVar("U")

#: Most workers a stage uses when PTP_WORKERS does not say: past this, the parts' Python (which holds the global
#: lock) and the stage's writing of results leave further threads waiting.
DEFAULT_MAX = 4


def default_workers() -> int:
    """The cores this process may run on, at most DEFAULT_MAX."""
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return max(1, min(DEFAULT_MAX, usable))


def ordered_map(work: Callable[[int], T], parts: int, workers: int) -> Iterator[T]:
    """`work(0)`, `work(1)`, ... `work(parts - 1)`, in that order, on up to `workers` threads.

    At most `workers` results are worked on or wait beyond the one the caller holds, so memory follows the
    parts in flight, not all of them. A part's error is raised as it is, when its turn comes; parts already
    started finish first, later ones never start. One worker or one part runs on the caller's thread.
    """
    if workers <= 1 or parts <= 1:
        for part in range(parts):
            yield work(part)
        return
    ahead = min(workers, parts)
    with ThreadPoolExecutor(max_workers=ahead, thread_name_prefix="ptp-part") as pool, \
            closing(_in_order(pool, (partial(work, part) for part in range(parts)), ahead)) as results:
        yield from results


def prefetched(items: Iterable[T], work: Callable[[T], U], ahead: int = 1) -> Generator[U, None, None]:
    """`work(item)` for each item, in order, on one worker thread that runs up to `ahead` items beyond the one
    the caller holds: the caller's own work on a result (a warehouse insert) overlaps the making of the next.

    The items are drawn and worked on that thread only, one at a time, so an iterator that is not
    thread-safe (a file read in batches) is fine. A failure is raised as it is when its turn comes; with
    `ahead` 1 nothing is drawn after the failing item (with more, the items already asked for are still made).
    A caller that stops early (closes the generator) leaves at most the item being worked on to finish, and
    the close returns only once it has. `ahead` 0 works each item on the caller's thread when it is asked for.
    """
    source = iter(items)
    if ahead <= 0:
        for item in source:
            yield work(item)
        return
    done = object()

    def step() -> object:
        item = next(source, done)
        return done if item is done else work(item)  # type: ignore[arg-type]

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="ptp-ahead") as pool, \
            closing(_in_order(pool, itertools.repeat(step), ahead)) as results:
        for result in results:
            if result is done:
                return
            yield result  # type: ignore[misc]


def _in_order(pool: ThreadPoolExecutor, tasks: Iterator[Callable[[], T]], ahead: int) -> Generator[T, None, None]:
    """The tasks' results in the tasks' order, `ahead` of them submitted to `pool` beyond the one the caller
    holds (the next is submitted before a result is handed over). Closing it (a failure, or a caller that
    stopped early) cancels what has not started, so nothing more starts."""
    pending: deque[Future[T]] = deque(pool.submit(task) for task in itertools.islice(tasks, ahead))
    try:
        while pending:
            result = pending.popleft().result()
            task = next(tasks, None)
            if task is not None:
                pending.append(pool.submit(task))
            yield result
    finally:
        for future in pending:
            future.cancel()
