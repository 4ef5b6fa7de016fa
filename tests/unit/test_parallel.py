"""Stage work on forked worker processes: the same result as one process, in order, and the same errors."""

from __future__ import annotations

import os
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from helpers import assert_conserved

from ptp_pipeline import pipeline
from ptp_pipeline.errors import ConfigError, ExtractError, Where
from ptp_pipeline.extract import check
from ptp_pipeline.parallel import ordered_map
from ptp_pipeline.privacy import pseudonymise
from ptp_pipeline.runtime import Runtime
from ptp_pipeline.settings import load_settings
from ptp_pipeline.synthetic import SyntheticResult


def _pid_and_square(part: int) -> tuple[int, int]:
    return os.getpid(), part * part


@pytest.mark.parametrize("workers", [1, 2, 3])
def test_results_come_in_order_from_worker_processes(workers: int) -> None:
    results = list(ordered_map(_pid_and_square, 7, workers))
    assert [square for _, square in results] == [i * i for i in range(7)]
    pids = {pid for pid, _ in results}
    if workers == 1:
        assert pids == {os.getpid()}
    else:
        assert os.getpid() not in pids and 1 < len(pids) <= workers


def test_a_part_failing_in_a_worker_raises_the_error_a_single_process_raises() -> None:
    parent = os.getpid()
    worked_here: list[int] = []

    def work(part: int) -> int:
        if part == 2:
            if os.getpid() == parent:
                worked_here.append(part)
            raise ExtractError("the date of birth is not a date", where=Where(file="x.csv", line=4, field="dob"),
                               hint="Ask the partner.")
        return part

    got: list[int] = []
    with pytest.raises(ExtractError) as info:
        for value in ordered_map(work, 4, 2):
            got.append(value)
    assert got == [0, 1] and worked_here == [2]  # parts before it delivered; the failing one worked again here
    assert info.value.where == Where(file="x.csv", line=4, field="dob") and info.value.hint == "Ask the partner."


def test_a_worker_killed_mid_part_is_a_clear_error_not_a_hang() -> None:
    parent = os.getpid()

    def work(part: int) -> int:
        if part == 1 and os.getpid() != parent:
            os._exit(9)  # as the kernel's out-of-memory killer would
        return part

    with pytest.raises(ConfigError, match="worker process of this stage stopped") as info:
        list(ordered_map(work, 3, 2))
    assert "PTP_WORKERS=1" in str(info.value.hint)


def test_maps_do_not_nest_in_the_parent() -> None:
    outer = ordered_map(_pid_and_square, 2, 2)
    next(outer)
    with pytest.raises(RuntimeError, match="does not nest"):
        next(ordered_map(_pid_and_square, 2, 2))
    outer.close()
    assert [s for _, s in ordered_map(_pid_and_square, 2, 2)] == [0, 1]  # usable again once the first is closed


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
