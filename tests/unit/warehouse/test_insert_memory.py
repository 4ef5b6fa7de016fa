"""Issue 15: a merge's memory follows its batch, not its extract. Frames inserted inside one transaction
must not be kept until it commits (DuckDB kept each `register`ed frame: its dropped temporary view stays
in the transaction's undo log), and a stage's reference cycles go when it ends."""

from __future__ import annotations

import gc
import secrets
import weakref
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from ptp_pipeline import memory
from ptp_pipeline.runtime import Runtime
from ptp_pipeline.warehouse.duckdb_backend import DuckDBWarehouse

ROWS = 50_000


def _events(batch: int) -> pd.DataFrame:
    ids = [secrets.token_hex(16) for _ in range(ROWS)]
    return pd.DataFrame({"event_id": pd.array(ids, dtype="string[pyarrow]"), "agency": "health",
                         "dataset": "attendances", "event_type": "visit", "event_date": date(2024, 1, 1),
                         "attributes": pd.array([f'{{"n": {batch}, "id": "{i}"}}' for i in ids],
                                                dtype="string[pyarrow]"),
                         "extract_id": f"x{batch}"})


def test_frames_inserted_in_a_transaction_are_not_held_until_commit(wh_rt: Runtime) -> None:
    wh = wh_rt.warehouse
    one = pa.Table.from_pandas(_events(0), preserve_index=False).nbytes  # an inserted frame's Arrow bytes
    before = pa.total_allocated_bytes()
    with wh.transaction():
        for batch in range(8):
            wh.insert_frame("shared.pathway_event", _events(batch))
        held = pa.total_allocated_bytes() - before
        assert held < 2 * one, (held, one)  # eight frames kept would be eight times `one`
    assert wh.scalar("SELECT count(*) FROM shared.pathway_event") == 8 * ROWS


class _Cycle:
    """Keeps itself (as a pandas Series keeps its `.str` accessor): only a full collection frees it."""

    def __init__(self, mb: int) -> None:
        self.data = np.ones(mb * 2**20, dtype=np.uint8)
        self.me = self


def test_a_stage_that_grew_the_process_frees_its_cycles_on_the_way_out() -> None:
    gc.collect()
    with memory.stage_memory():
        kept = _Cycle(memory.COLLECT_ABOVE_MB + 64)
        gone = weakref.ref(kept)
        del kept
    assert gone() is None


def test_a_small_stage_skips_the_collection() -> None:
    gc.collect()
    gc.disable()  # no automatic collection in between: only `stage_memory` could free the cycle
    try:
        with memory.stage_memory():
            kept = _Cycle(1)
            small = weakref.ref(kept)
            del kept
        assert small() is not None  # 1 MB: the stage did not pay for a full collection
    finally:
        gc.enable()
        gc.collect()


def test_frames_joined_in_a_transaction_are_not_held_until_commit(tmp_path: Path) -> None:
    """`query_frame` (the merge's candidate search and identity look-up) reads a frame where it lies: a temporary
    table emptied and refilled inside the merge's transaction kept every batch's rows until commit."""
    wh = DuckDBWarehouse(tmp_path / "w.duckdb")
    columns = [f"t{i}" for i in range(10)]
    frame = pd.DataFrame({c: pd.array([secrets.token_hex(8) for _ in range(ROWS)], dtype="string[pyarrow]")
                          for c in columns})

    def duckdb_bytes() -> int:
        return int(wh.scalar("SELECT sum(memory_usage_bytes) FROM duckdb_memory()"))

    try:
        with wh.transaction():
            before = duckdb_bytes()
            for _ in range(8):
                found = wh.query_frame("_frame", frame, ", ".join(f"{c} VARCHAR" for c in columns),
                                       "SELECT count(DISTINCT t0) AS n FROM _frame")
                assert int(found["n"].iloc[0]) == ROWS
            held = duckdb_bytes() - before
        one = pa.Table.from_pandas(frame, preserve_index=False).nbytes
        assert held < one, (held, one)  # through a temporary table: 89 MB held for eight frames of 12 MB
    finally:
        wh.close()
