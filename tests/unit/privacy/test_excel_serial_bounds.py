"""Excel serial dates whose digits overflow a 64-bit integer are not dates (NaT, so the row is quarantined),
never an exception that stops the whole check stage. Found by mutation testing: without `errors="coerce"`
on the serial's parse, every test still passed."""

from __future__ import annotations

import pandas as pd

from ptp_pipeline.privacy.normalise import parse_dates


def test_a_serial_too_long_for_an_integer_is_no_date() -> None:
    got = parse_dates(pd.Series(["9" * 20, "45000", "9" * 400, "1" * 19 + ".0", None], dtype="string"), ["excel"])
    assert got.isna().tolist() == [True, False, True, True, True]
    assert got.iloc[1] == pd.Timestamp("2023-03-15")


def test_a_long_serial_falls_through_to_the_next_format() -> None:
    got = parse_dates(pd.Series(["9" * 20, "2024-04-05"], dtype="string"), ["excel", "%Y-%m-%d"])
    assert got.isna().tolist() == [True, False] and got.iloc[1] == pd.Timestamp("2024-04-05")
