"""Give memory back to the operating system between stages.

A stage's frames are freed when it ends, but the allocators keep the pages: Arrow's pool (mimalloc)
and glibc's malloc hold them for reuse, so the next stage started from the last one's high-water
mark (1.4 GB before a 1M-row merge, which then peaked at 2.25 GB). `ptp ingest` runs every stage
in one process, so each stage hands its pages back on its way out.
"""

from __future__ import annotations

import ctypes
import ctypes.util
from functools import cache

import pyarrow as pa


@cache
def _libc() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
    except OSError:
        return None
    return libc if libc is not None and hasattr(libc, "malloc_trim") else None  # glibc only


def release() -> None:
    """Return free pages held by Arrow's pool and by malloc (a no-op where absent).

    No `gc.collect()`: a stage's frames are freed by reference counting as it returns (a full collection
    freed nothing measurable after any stage), and with Airflow and GX imported it costs 0.2 s a call,
    four calls an extract, which the test suite's hundreds of small ingests felt.
    """
    pa.default_memory_pool().release_unused()
    libc = _libc()
    if libc is not None:
        libc.malloc_trim(0)
