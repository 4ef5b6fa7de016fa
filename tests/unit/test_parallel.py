"""Stage work on worker threads: results in order, the same files as one thread, and the same errors."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from helpers import assert_conserved

from ptp_pipeline import pipeline
from ptp_pipeline.errors import ExtractError, Where
from ptp_pipeline.extract import check
from ptp_pipeline.parallel import ordered_map
from ptp_pipeline.privacy import pseudonymise
from ptp_pipeline.runtime import Runtime
from ptp_pipeline.settings import load_settings
from ptp_pipeline.synthetic import SyntheticResult


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


def test_a_failing_part_raises_its_own_error_in_turn_and_later_parts_never_start() -> None:
    started: list[int] = []

    def work(part: int) -> int:
        started.append(part)
        if part == 2:
            raise ExtractError("the date of birth is not a date", where=Where(file="x.csv", line=4, field="dob"),
                               hint="Ask the partner.")
        return part

    got: list[int] = []
    with pytest.raises(ExtractError) as info:
        for value in ordered_map(work, 9, 2):
            got.append(value)
    assert got == [0, 1]  # the parts before it were delivered
    assert info.value.where == Where(file="x.csv", line=4, field="dob") and info.value.hint == "Ask the partner."
    assert max(started) <= 3  # at most the part after it had started; the rest never did


def _pseudonymised(env: dict[str, str], home: Path, path: Path, workers: int) -> tuple[pa.Table, pa.Table, int]:
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
        return rows, identities, groups
    finally:
        rt.close()


def test_pseudonymise_on_workers_writes_what_one_process_writes(
        env: dict[str, str], tmp_path: Path, synthetic: SyntheticResult, monkeypatch: pytest.MonkeyPatch) -> None:
    """Identity parts and row groups split across workers: the files are the same, row for row."""
    monkeypatch.setattr(pseudonymise, "MIN_PARALLEL_PART", 20)
    monkeypatch.setattr(pseudonymise, "IDENTITY_CHUNK", 100)
    monkeypatch.setattr(check, "BATCH_ROWS", 300)
    path = next(e.path for e in synthetic.extracts if e.partner == "health")
    one_rows, one_ids, groups = _pseudonymised(env, tmp_path / "one", path, 1)
    two_rows, two_ids, _ = _pseudonymised(env, tmp_path / "two", path, 2)
    assert groups > 2 and one_ids.num_rows > 3 * 100  # several parts of each kind
    assert two_rows.equals(one_rows)
    assert two_ids.equals(one_ids)
