"""Exact duplicate rows (check stage) against a dictionary written out here: the first row with the same
values, empty and missing counted as the same value, and never a false duplicate."""

from __future__ import annotations

import pandas as pd
from hypothesis import given
from hypothesis import strategies as st

from ptp_pipeline.extract.check import first_of_same

CELL = st.one_of(st.none(), st.sampled_from(["", "a", "b", "A", "a ", "é", "1"]))


def oracle(rows: list[tuple[str | None, ...]], numbers: list[int]) -> list[int | None]:
    first: dict[tuple[str, ...], int] = {}
    out: list[int | None] = []
    for row, number in zip(rows, numbers, strict=True):
        key = tuple("" if v is None else v for v in row)
        seen = first.setdefault(key, number)
        out.append(None if seen == number else seen)
    return out


@given(st.integers(1, 4).flatmap(lambda w: st.lists(st.tuples(*[CELL] * w), max_size=60)))
def test_first_of_same_matches_the_oracle(rows: list[tuple[str | None, ...]]) -> None:
    width = len(rows[0]) if rows else 1
    frame = pd.DataFrame({f"c{i}": pd.Series([r[i] for r in rows], dtype="string[pyarrow]") for i in range(width)})
    numbers = [10 + 3 * i for i in range(len(rows))]
    got = first_of_same(frame, pd.Series(numbers, dtype="int64"))
    assert [None if pd.isna(v) else int(v) for v in got] == oracle(rows, numbers)
