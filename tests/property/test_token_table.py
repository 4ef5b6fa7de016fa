"""The linkage's scratch tables hold tokens as integers: equal tokens stay equal, different ones differ."""

from __future__ import annotations

import duckdb
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ptp_pipeline.linkage.fields import TOKEN_HEX
from ptp_pipeline.linkage.scratch import token_table

HEX = st.text(alphabet="0123456789abcdef", min_size=TOKEN_HEX, max_size=TOKEN_HEX)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.one_of(st.none(), HEX), min_size=1, max_size=40))
def test_tokens_become_integers_that_keep_equality_and_nulls(tokens: list[str | None]) -> None:
    frame = pd.DataFrame({"ident": range(len(tokens)), "sn": pd.array(tokens, dtype="string")})
    with duckdb.connect() as con:
        token_table(con, "t", frame)
        rows = con.execute("SELECT ident, sn, typeof(sn) FROM t ORDER BY ident").fetchall()
    assert all(kind == "UBIGINT" for *_, kind in rows)
    numbers = [n for _, n, _ in rows]
    assert [n is None for n in numbers] == [t is None for t in tokens]
    for i, a in enumerate(tokens):  # the same token, the same number; another token, another number
        for j, b in enumerate(tokens):
            if a is not None and b is not None:
                assert (numbers[i] == numbers[j]) is (a == b)
    assert [None if n is None else f"{n:016x}" for n in numbers] == tokens


def test_a_column_that_is_not_a_token_is_refused_not_turned_into_a_null() -> None:
    frame = pd.DataFrame({"ident": [0, 1], "sn": pd.array(["00000000000000ff", "Smith"], dtype="string")})
    with duckdb.connect() as con, pytest.raises(duckdb.ConversionException):
        token_table(con, "t", frame)
