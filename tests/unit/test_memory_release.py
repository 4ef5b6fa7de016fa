"""Stages hand their memory back: `memory.release` returns the pages Arrow's pool keeps after a stage's
frames are gone (without it the next stage starts from the last one's high-water mark)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ptp_pipeline import memory


def _rss_mb() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) // 1024
    raise AssertionError("no VmRSS in /proc/self/status")


def test_release_returns_what_arrow_freed_to_the_system() -> None:
    base = pa.array(np.arange(20_000_000))  # 160 MB, numpy's memory (not the pool's)
    results = [pc.add(base, i) for i in range(3)]  # 480 MB in Arrow's pool
    held = _rss_mb()
    del results
    kept = _rss_mb()  # freed, but the pool keeps the pages
    memory.release()
    released = _rss_mb()
    assert held - released >= 300, (held, kept, released)

