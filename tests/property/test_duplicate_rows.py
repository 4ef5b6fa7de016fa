"""Exact duplicate rows (check stage) against a dictionary written out here: the first row with the same
values, empty and missing counted as the same value, and never a false duplicate."""

from __future__ import annotations

import pandas as pd
from hypothesis import given
from hypothesis import strategies as st

from ptp_pipeline.extract.check import first_of_same
from ptp_pipeline.extract.same_rows import first_positions, group_codes

CELL = st.one_of(st.none(), st.sampled_from(["", "a", "b", "A", "a ", "é", "1"]))


def oracle(rows: list[tuple[str | None, ...]], numbers: list[int]) -> list[int | None]:
    first: dict[tuple[str, ...], int] = {}
    out: list[int | None] = []
    for row, number in zip(rows, numbers, strict=True):
        key = tuple("" if v is None else v for v in row)
        seen = first.setdefault(key, number)
        out.append(None if seen == number else seen)
    return out


@given(st.integers(1, 4).flatmap(lambda w: st.lists(st.tuples(*[CELL] * w), max_size=60)), st.sampled_from([1, 2]))
def test_first_of_same_matches_the_oracle(rows: list[tuple[str | None, ...]], workers: int) -> None:
    """On one thread or two (columns encoded in parallel), the same answer."""
    width = len(rows[0]) if rows else 1
    frame = pd.DataFrame({f"c{i}": pd.Series([r[i] for r in rows], dtype="string[pyarrow]") for i in range(width)})
    numbers = [10 + 3 * i for i in range(len(rows))]
    got = first_of_same(frame, pd.Series(numbers, dtype="int64"), workers)
    assert [None if pd.isna(v) else int(v) for v in got] == oracle(rows, numbers)


@given(st.lists(st.tuples(CELL, st.one_of(st.none(), st.integers(0, 3))), max_size=60), st.sampled_from([1, 2]))
def test_identity_groups_keep_empty_and_missing_apart(rows: list[tuple[str | None, int | None]], workers: int) -> None:
    """Distinct identities (pseudonymise): the same code exactly when the values are the same."""
    frame = pd.DataFrame({"text": pd.Series([r[0] for r in rows], dtype="string[pyarrow]"),
                          "number": pd.Series([r[1] for r in rows], dtype="Int64")})
    codes = group_codes(frame, workers=workers)
    seen: dict[tuple[object, ...], int] = {}
    expected = [seen.setdefault(row, len(seen)) for row in rows]  # numbered in order of first appearance
    assert codes.tolist() == expected
    assert [rows[i] for i in first_positions(codes)] == list(seen)
