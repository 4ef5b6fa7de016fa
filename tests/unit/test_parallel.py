"""Stage work on worker threads: results in order, the same files as one thread, and the same errors."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from helpers import assert_conserved

from ptp_pipeline import pipeline
from ptp_pipeline.errors import ExtractError, Where
from ptp_pipeline.extract import check
from ptp_pipeline.parallel import ordered_map, prefetched
from ptp_pipeline.privacy import pseudonymise
from ptp_pipeline.runtime import Runtime
from ptp_pipeline.settings import load_settings
from ptp_pipeline.synthetic import SyntheticResult
from ptp_pipeline.warehouse import merge


@pytest.mark.parametrize("workers", [1, 2, 3])
def test_results_come_in_the_parts_order_whatever_finishes_first(workers: int) -> None:
    def work(part: int) -> int:
        time.sleep(0.02 * (7 - part))  # later parts finish sooner
        return part * part

    assert list(ordered_map(work, 7, workers)) == [i * i for i in range(7)]


def test_parts_run_side_by_side_on_two_workers() -> None:
    """Each of the first two parts waits for the other: only two threads at once can finish them."""
    both = threading.Barrier(2, timeout=10)
    caller = threading.get_ident()

    def work(part: int) -> int:
        both.wait()
        return threading.get_ident()

    threads = list(ordered_map(work, 2, 2))
    assert len(set(threads)) == 2 and caller not in threads


def test_one_worker_runs_on_the_callers_thread() -> None:
    assert set(ordered_map(lambda _: threading.get_ident(), 3, 1)) == {threading.get_ident()}


def _failing_at_two(started: list[int]) -> Callable[[int], int]:
    """Work that notes each part it starts and fails on part 2 with a data officer's error."""
    def work(part: int) -> int:
        started.append(part)
        if part == 2:
            raise ExtractError("the date of birth is not a date", where=Where(file="x.csv", line=4, field="dob"),
                               hint="Ask the partner.")
        return part

    return work


def test_a_failing_part_raises_its_own_error_in_turn_and_later_parts_never_start() -> None:
    started: list[int] = []
    got: list[int] = []
    with pytest.raises(ExtractError) as info:
        for value in ordered_map(_failing_at_two(started), 9, 2):
            got.append(value)
    assert got == [0, 1]  # the parts before it were delivered
    assert info.value.where == Where(file="x.csv", line=4, field="dob") and info.value.hint == "Ask the partner."
    assert max(started) <= 3  # at most the part after it had started; the rest never did


def test_prefetched_items_come_in_order_and_the_next_is_made_while_the_caller_holds_one() -> None:
    """The caller holds item 0 until the worker has made item 1: only a worker running ahead can do that."""
    made = [threading.Event() for _ in range(5)]
    caller = threading.get_ident()
    threads: set[int] = set()

    def work(item: int) -> int:
        threads.add(threading.get_ident())
        made[item].set()
        return item * 10

    got = []
    for value in prefetched(iter(range(5)), work, ahead=1):
        if value < 40:
            assert made[value // 10 + 1].wait(10), "the next item was not made while this one was held"
        got.append(value)
    assert got == [0, 10, 20, 30, 40]
    assert caller not in threads


def test_prefetched_with_nothing_ahead_works_on_the_callers_thread() -> None:
    assert set(prefetched(range(3), lambda _: threading.get_ident(), ahead=0)) == {threading.get_ident()}
    assert list(prefetched([], lambda x: x, ahead=1)) == []


def _drawn(n: int, drawn: list[int]) -> Iterator[int]:
    """0 .. n-1, noting each in `drawn` as it is drawn."""
    for i in range(n):
        drawn.append(i)
        yield i


def test_prefetched_raises_a_failure_in_turn_and_draws_nothing_after_it() -> None:
    drawn: list[int] = []
    got: list[int] = []
    with pytest.raises(ExtractError) as info:
        for value in prefetched(_drawn(9, drawn), _failing_at_two([]), ahead=1):
            got.append(value)
    assert got == [0, 1]
    assert info.value.where == Where(file="x.csv", line=4, field="dob")
    assert drawn == [0, 1, 2]  # nothing drawn after the failing item


def test_a_caller_that_stops_early_leaves_the_rest_undrawn() -> None:
    drawn: list[int] = []
    items = prefetched(_drawn(100, drawn), lambda x: x, ahead=2)
    assert next(items) == 0
    items.close()
    assert len(drawn) <= 3  # the one held and the two ahead (one worker: the one being made is one of them)


#: What the merge stores of each row, in an order that does not depend on how the rows were inserted.
STORED = {"restricted.link_record": "record_id", "shared.pathway_event": "event_id",
          "restricted.record_address": "record_id", "restricted.event_location": "event_id"}


def _pseudonymised(env: dict[str, str], home: Path, path: Path, workers: int
                   ) -> tuple[pa.Table, pa.Table, int, dict[str, pd.DataFrame]]:
    rt = Runtime(load_settings({**env, "PTP_HOME": str(home), "PTP_WORKERS": str(workers)}))
    try:
        extract_id, _ = pipeline.receive(rt, path, "health", "attendances")
        pipeline.check(rt, extract_id)
        groups = pq.ParquetFile(rt.work(extract_id) / "checked.parquet").metadata.num_row_groups
        pipeline.pseudonymise(rt, extract_id)
        folder = rt.work(extract_id)
        rows = pq.read_table(folder / "pseudonymised.parquet")
        identities = pq.read_table(folder / pseudonymise.IDENTITIES_FILE)
        pipeline.validate(rt, extract_id)
        pipeline.merge(rt, extract_id)
        assert_conserved(rt)
        stored = {table: rt.warehouse.query(f"SELECT * FROM {table} ORDER BY {order}")
                  for table, order in STORED.items()}
        return rows, identities, groups, stored
    finally:
        rt.close()


def test_pseudonymise_on_workers_writes_what_one_process_writes(
        env: dict[str, str], tmp_path: Path, synthetic: SyntheticResult, monkeypatch: pytest.MonkeyPatch) -> None:
    """Identity parts, row groups and merge batches split across workers: the files and the warehouse's rows are
    the same, row for row."""
    monkeypatch.setattr(pseudonymise, "MIN_PARALLEL_PART", 20)
    monkeypatch.setattr(pseudonymise, "IDENTITY_CHUNK", 100)
    monkeypatch.setattr(check, "BATCH_ROWS", 300)
    monkeypatch.setattr(merge, "MERGE_BATCH_ROWS", 250)
    path = next(e.path for e in synthetic.extracts if e.partner == "health")
    one_rows, one_ids, groups, one_stored = _pseudonymised(env, tmp_path / "one", path, 1)
    two_rows, two_ids, _, two_stored = _pseudonymised(env, tmp_path / "two", path, 2)
    assert groups > 2 and one_ids.num_rows > 3 * 100  # several parts of each kind
    assert two_rows.equals(one_rows)
    assert two_ids.equals(one_ids)
    # The merge's batches made on a worker ahead of their inserts (2 workers) store what one thread stores,
    # persons and unlinkable records' numbers included.
    assert len(one_stored["restricted.link_record"]) > 3 * 250  # several merge batches
    assert one_stored["restricted.link_record"]["person_id"].notna().all()
    for table, frame in one_stored.items():
        pd.testing.assert_frame_equal(two_stored[table], frame, obj=table)
