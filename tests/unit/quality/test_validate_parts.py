"""The validate stage's own parts, value by value (GX itself runs in the ingest tests): what GX is shown,
file lines for quarantined rows, and the batched copy that drops quarantined rows.

Fast on purpose: these are the tests `make mutation` runs against the helpers of `quality/validate.py`.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from ptp_pipeline.errors import ExtractError
from ptp_pipeline.extract.read import SOURCE_LINE, SOURCE_ROW
from ptp_pipeline.protocol import load_protocol
from ptp_pipeline.quality import accepted, validate
from ptp_pipeline.quality.suite import suite_for

REPO = Path(__file__).resolve().parents[3]


def test_gx_sees_no_tokens_and_dates_as_iso_text() -> None:
    frame = pd.DataFrame({SOURCE_ROW: [1, 2, 3], "key__nhs": ["t1", "t2", "t3"], "sex": ["F", "M", "F"],
                          "event_date": [pd.Timestamp("2024-04-05 10:30"), pd.Timestamp("2024-12-31"),
                                         pd.Timestamp("2024-04-05 10:30")]})
    view = validate.gx_frame(frame)
    assert list(view.columns) == [SOURCE_ROW, "sex", "event_date"]
    assert view["event_date"].astype(str).tolist() == ["2024-04-05", "2024-12-31", "2024-04-05"]
    assert list(view["event_date"].cat.categories) == ["2024-04-05", "2024-12-31"], "the day only, no time"
    assert "key__nhs" in frame.columns, "the caller's frame is left alone"


def test_narrow_keeps_the_columns_the_suite_reads_text_as_categories() -> None:
    protocol = load_protocol(REPO / "protocols" / "police_incidents.yaml")
    suite = suite_for(protocol, date(2026, 1, 1))
    read = {str(kw[k]) for e in suite.expectations for kw in [e.configuration.kwargs]
            for k in ("column", "column_A", "column_B") if kw.get(k)}
    assert "cost" in read
    frame = pd.DataFrame({SOURCE_ROW: [1, 2], "unread": ["a", "b"], "n": [1.5, 2.0],
                          **{c: pd.Series(["x", "y"], dtype="string") for c in sorted(read)},
                          "sex": ["F", "M"], "cost": [1.5, 2.0]})
    view = validate.narrow(frame, suite)
    assert set(view.columns) == read | {SOURCE_ROW}
    assert all(view[c].dtype == "category" for c in read - {"cost"})
    assert view["cost"].dtype == "float64", "only text becomes a category"
    assert view[SOURCE_ROW].tolist() == [1, 2] and frame["unread"].dtype == object


def test_narrow_keeps_pair_and_multicolumn_rule_columns() -> None:
    import great_expectations as gx
    import great_expectations.expectations as gxe

    suite = gx.ExpectationSuite(name="t", expectations=[
        gxe.ExpectColumnPairValuesAToBeGreaterThanB(column_A="a", column_B="b"),
        gxe.ExpectCompoundColumnsToBeUnique(column_list=["c", "d"]),
    ])
    frame = pd.DataFrame({SOURCE_ROW: [1], "a": [2], "b": [1], "c": ["x"], "d": ["y"], "e": ["z"]})
    assert list(validate.narrow(frame, suite).columns) == [SOURCE_ROW, "a", "b", "c", "d"]


def test_a_table_level_expectation_keeps_every_column() -> None:
    import great_expectations as gx
    import great_expectations.expectations as gxe

    suite = gx.ExpectationSuite(name="t", expectations=[gxe.ExpectTableRowCountToBeBetween(min_value=1)])
    frame = pd.DataFrame({SOURCE_ROW: [1], "a": ["x"]})
    assert validate.narrow(frame, suite) is frame


def test_quarantined_rows_get_their_file_lines(tmp_path: Path) -> None:
    reasons = pd.DataFrame({"source_row": [2, 5], "field": ["sex", "nhs_number"], "check_name": ["a", "b"],
                            "problem": ["p", "q"], "hint": ["h", None]})
    pd.DataFrame({SOURCE_ROW: [1, 2, 5], SOURCE_LINE: [2, 4, 9]}).to_parquet(tmp_path / "lines.parquet")
    out = validate.with_lines(reasons, tmp_path)
    assert list(out.columns) == validate.QUARANTINE_COLUMNS
    assert out[SOURCE_LINE].tolist() == [4, 9] and out[SOURCE_LINE].dtype == "int64"
    # without a lines file (or a row it lacks) the line is the row + 1 (the header is line 1)
    bare = validate.with_lines(reasons, tmp_path / "nowhere")
    assert bare[SOURCE_LINE].tolist() == [3, 6] and bare["field"].tolist() == ["sex", "nhs_number"]


def _validated_folder(tmp_path: Path, dropped: list[int]) -> Path:
    pq.write_table(pa.table({SOURCE_ROW: list(range(1, 9)), "v": list("abcdefgh")}),
                   tmp_path / accepted.PSEUDONYMISED, row_group_size=3)
    pq.write_table(pa.table({SOURCE_ROW: pa.array(dropped, pa.int64()), "field": ["f"] * len(dropped)}),
                   tmp_path / accepted.QUARANTINE)
    return tmp_path


def test_accepted_rows_are_the_pseudonymised_ones_less_the_quarantined_batch_by_batch(tmp_path: Path) -> None:
    folder = _validated_folder(tmp_path, [2, 7, 7, 99])  # a row quarantined twice (two fields), one not in the file
    parts = list(accepted.batches(folder, [SOURCE_ROW, "v"], 3))
    assert [b.num_rows for b in parts] == [2, 3, 1]
    assert pa.Table.from_batches(parts).column("v").to_pylist() == list("acdefh")
    assert accepted.read(folder, ["v"]).column("v").to_pylist() == list("acdefh")
    assert accepted.read(folder, ["v"]).column_names == ["v"]


def test_with_nothing_quarantined_every_row_is_accepted(tmp_path: Path) -> None:
    folder = _validated_folder(tmp_path, [])
    assert accepted.read(folder, [SOURCE_ROW]).column(SOURCE_ROW).to_pylist() == list(range(1, 9))


def test_without_the_quarantine_list_no_row_is_accepted(tmp_path: Path) -> None:
    folder = _validated_folder(tmp_path, [2])
    (folder / accepted.QUARANTINE).unlink()
    with pytest.raises(ExtractError, match="has not been validated"):
        accepted.read(folder, ["v"])
    with pytest.raises(ExtractError, match="has not been validated"):
        next(accepted.batches(folder, [SOURCE_ROW, "v"], 3))


def test_a_folder_left_by_an_earlier_version_merges_its_validated_file(tmp_path: Path) -> None:
    folder = _validated_folder(tmp_path, [2])
    pq.write_table(pa.table({SOURCE_ROW: [1, 3], "v": ["a", "c"]}), folder / accepted.LEGACY_VALIDATED)
    assert accepted.read(folder, ["v"]).column("v").to_pylist() == ["a", "c"]


def test_narrow_gives_gx_nullable_numbers_as_float64_with_nan_for_missing() -> None:
    """GX counts NaN and <NA> alike as missing; on masked dtypes its range check runs per row in Python."""
    import great_expectations as gx
    import great_expectations.expectations as gxe

    suite = gx.ExpectationSuite(name="t", expectations=[
        gxe.ExpectColumnValuesToBeBetween(column="cost", min_value=0, max_value=10),
        gxe.ExpectColumnValuesToNotBeInSet(column="sum", value_set=[-2]),
    ])
    frame = pd.DataFrame({SOURCE_ROW: [1, 2, 3], "cost": pd.array([1.5, None, 12.0], dtype="Float64"),
                          "sum": pd.array([-2, 495, None], dtype="Int64")})
    view = validate.narrow(frame, suite)
    assert view["cost"].dtype == "float64" and view["sum"].dtype == "float64"
    assert view["cost"].isna().tolist() == [False, True, False] and view["sum"].tolist()[:2] == [-2.0, 495.0]
    assert frame["cost"].dtype == "Float64", "the caller's frame is left alone"


def test_the_suite_frame_read_a_row_group_at_a_time_is_the_file_read_whole(tmp_path: Path) -> None:
    """Groups whose text columns hold different values (one group none at all), nullable numbers and dates:
    the frame built group by group is the one a whole read gives, categories and all."""
    path = tmp_path / "p.parquet"
    groups = [
        pa.table({SOURCE_ROW: [1, 2, 3], "status__dob": ["valid", "missing", "valid"], "sex": ["F", None, "M"],
                  "cost": pa.array([1.5, None, 2.0]), "dup_of": pa.array([None, 1, None], pa.int64()),
                  "event_date": pa.array([date(2024, 1, 1), date(2024, 2, 1), None])}),
        pa.table({SOURCE_ROW: [4, 5], "status__dob": ["invalid", "invalid"], "sex": pa.array([None, None], pa.string()),
                  "cost": pa.array([None, 3.0]), "dup_of": pa.array([None, None], pa.int64()),
                  "event_date": pa.array([date(2024, 3, 1), date(2024, 3, 2)])}),
        pa.table({SOURCE_ROW: [6], "status__dob": ["missing"], "sex": ["X"], "cost": pa.array([4.0]),
                  "dup_of": pa.array([2], pa.int64()), "event_date": pa.array([date(2024, 4, 1)])}),
    ]
    with pq.ParquetWriter(path, groups[0].schema) as writer:
        for group in groups:
            writer.write_table(group.cast(writer.schema))
    assert pq.ParquetFile(path).num_row_groups == 3
    columns, text = [SOURCE_ROW, "status__dob", "sex", "cost", "dup_of", "event_date"], ["status__dob", "sex"]
    expected = pq.read_table(path, columns=columns, read_dictionary=text).to_pandas()
    got = validate.read_by_groups(path, columns, text)
    pd.testing.assert_frame_equal(got, expected)
    assert got["status__dob"].dtype == "category" and got["sex"].isna().sum() == 3
