"""Give memory back to the operating system between stages.

A stage's frames are freed when it ends, but the allocators keep the pages: Arrow's pool (mimalloc)
and glibc's malloc hold them for reuse, so the next stage started from the last one's high-water
mark (1.4 GB before a 1M-row merge, which then peaked at 2.25 GB). `ptp ingest` runs every stage
in one process, so each stage hands its pages back on its way out.

Some frames are not freed when they end at all: pandas' `.str` accessor keeps its Series and the
Series keeps the accessor, a reference cycle only a full collection breaks, and the normalisers use
`.str` on every identifying column. They reach the oldest generation, which Python collects rarely: a
full collection after the check stage of a 1M-row extract gave back 440 MB, after the merge 600 MB
(bench/ingest.py's extract). Not after every batch: at 3M rows that cost pseudonymise 25 s CPU
(69 -> 94 s) for a peak 13 MB lower (a full collection walks every live object, each time).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import os
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache

import pyarrow as pa

#: A stage that left the process this much larger collects cycles on its way out. A full collection
#: costs 0.2 s with Airflow and GX imported: a small extract's stages (the test suite's hundreds of
#: ingests) grow far less than this and skip it.
COLLECT_ABOVE_MB = 256


@cache
def _libc() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
    except OSError:
        return None
    return libc if libc is not None and hasattr(libc, "malloc_trim") else None  # glibc only


#: mallopt's parameter for the most arenas malloc keeps (glibc's malloc.h).
_M_ARENA_MAX = -8


def one_malloc_arena() -> None:
    """Threads allocate from malloc's main arena rather than one arena each.

    A stage's worker threads (`ptp_pipeline.parallel`) each got an arena of their own, and their freed pages
    stayed there after the threads ended, where `release` cannot give them back: the 1M-row extract's
    process kept 384 MB after pseudonymise on two threads against 293 MB on one, and the merge peaked that
    much higher. With one arena: 302-305 MB, no slower (Arrow and DuckDB have allocators of their own).
    malloc fixes its arena limit when a second thread first needs one, so this holds only if called before
    (`ptp` calls it first thing, and the runtime when it is made; in a process that already ran threads,
    such as a test session or an Airflow task forked from a worker that did, it changes nothing).
    """
    libc = _libc()
    if libc is not None and hasattr(libc, "mallopt"):
        libc.mallopt(_M_ARENA_MAX, 1)


def resident_mb() -> int:
    """This process's resident memory now (0 where /proc is absent)."""
    try:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") // 2**20
    except OSError:
        return 0


def release(*, collect: bool = False) -> None:
    """Return free pages held by Arrow's pool and by malloc (a no-op where absent); with `collect`, first
    free what only reference cycles keep (see the module docstring)."""
    if collect:
        gc.collect()
    pa.default_memory_pool().release_unused()
    libc = _libc()
    if libc is not None:
        libc.malloc_trim(0)


@contextmanager
def stage_memory() -> Iterator[None]:
    """Around a stage: hand its memory back when it ends, collecting cycles if it grew the process."""
    start = resident_mb()
    try:
        yield
    finally:
        release(collect=resident_mb() - start >= COLLECT_ABOVE_MB)

