"""Exact outputs of the normalisers, worked by hand, on an index that is not 0..n-1.

The pipeline joins each normaliser's output back to its extract by index, so a result on the wrong
index (or the wrong dtype: NaN where <NA> is documented) would attach values to the wrong rows.
"""

from __future__ import annotations

from datetime import date

import pandas as pd
import pytest

from ptp_pipeline.privacy.normalise import (
    EXCEL,
    generalise_birth_date,
    nhs_mod11_sum,
    normalise_nhs_number,
    normalise_postcode,
    parse_dates,
)

INDEX = pd.Index([105, 7, 42, 3, 99])


def test_nhs_numbers() -> None:
    raw = pd.Series(["943 476 5919", "9434765918", "", None, "12"], index=INDEX, dtype="string")
    got = normalise_nhs_number(raw)
    assert got.index.equals(INDEX)
    assert got["nhs_number"].tolist() == ["9434765919", pd.NA, pd.NA, pd.NA, pd.NA]
    assert got["nhs_status"].tolist() == ["valid", "invalid", "missing", "missing", "invalid"]
    sums = nhs_mod11_sum(raw)
    # 10*9 + 9*4 + 8*3 + 7*4 + 6*7 + 5*6 + 4*5 + 3*9 + 2*1 + 1*9 = 308 = 28 * 11; one less with a last 8
    pd.testing.assert_series_equal(sums, pd.Series([308, 307, pd.NA, pd.NA, -1], index=INDEX, dtype="Int64"))


def test_postcodes() -> None:
    raw = pd.Series(["ls62ab", " LS6 2AB ", "LS6 2A", "", None], index=INDEX, dtype="string")
    got = normalise_postcode(raw)
    assert got.index.equals(INDEX)
    assert got["postcode"].tolist() == ["LS6 2AB", "LS6 2AB", pd.NA, pd.NA, pd.NA]
    assert got["sector"].tolist() == ["LS6 2", "LS6 2", pd.NA, pd.NA, pd.NA]
    assert got["district"].tolist() == ["LS6", "LS6", pd.NA, pd.NA, pd.NA]
    assert got["area"].tolist() == ["LS", "LS", pd.NA, pd.NA, pd.NA]
    assert got["postcode_status"].tolist() == ["valid", "valid", "invalid", "missing", "missing"]


def test_excel_serials_as_excel_shows_them() -> None:
    serials = ["1", "59", "60", "61", "32874", "132320", "132321", "0", "1.0", "1.5"]
    got = parse_dates(pd.Series(serials, index=range(50, 60), dtype="string"), [EXCEL])
    expected = ["1900-01-01", "1900-02-28", None, "1900-03-01", "1990-01-01", "2262-04-11", None, None,
                "1900-01-01", None]  # 132320 is the last day datetime64[ns] holds
    pd.testing.assert_series_equal(got, pd.Series(pd.to_datetime(expected), index=range(50, 60),
                                                  dtype="datetime64[ns]"))


def test_text_dates_with_zones_and_datetimes_with_zones_become_naive_utc() -> None:
    text = pd.Series(["2024-05-01T10:00:00+0100", "2024-05-01T10:00:00+0000", None], index=[9, 8, 7])
    got = parse_dates(text, ["%Y-%m-%dT%H:%M:%S%z"])
    pd.testing.assert_series_equal(got, pd.Series(pd.to_datetime(["2024-05-01 09:00", "2024-05-01 10:00", None]),
                                                  index=[9, 8, 7], dtype="datetime64[ns]"))
    aware = pd.Series(pd.to_datetime(["2024-05-01 10:00"]).tz_localize("Europe/London"), index=[4])
    pd.testing.assert_series_equal(parse_dates(aware, ["%Y"]), pd.Series(pd.to_datetime(["2024-05-01 09:00"]),
                                                                         index=[4], dtype="datetime64[ns]"))
    with pytest.raises(ValueError, match=r"^date formats must be strftime patterns or 'excel'$"):
        parse_dates(text, ["YYYY-MM-DD"])


def test_birth_dates_generalised() -> None:
    born = pd.Series(pd.to_datetime(["1990-06-15", "2000-02-29", None, "2024-06-16"]), index=[11, 12, 13, 14])
    pd.testing.assert_series_equal(generalise_birth_date(born, "year"),
                                   pd.Series([1990, 2000, pd.NA, 2024], index=[11, 12, 13, 14], dtype="Int64"))
    # on 2024-06-15: 34 (birthday today), 24 (29 February counts from 1 March), none, not born yet
    bands = generalise_birth_date(born, "age_band_5", at=date(2024, 6, 15))
    assert bands.index.tolist() == [11, 12, 13, 14]
    assert bands.tolist() == ["30-34", "20-24", pd.NA, pd.NA]
    with pytest.raises(TypeError, match=r"^generalise_birth_date needs datetimes; parse them with parse_dates "
                                        r"first$"):
        generalise_birth_date(pd.Series(["1990-06-15"]), "year")
    with pytest.raises(ValueError, match=r"^age_band_5 needs the reference date `at`$"):
        generalise_birth_date(born, "age_band_5")
    with pytest.raises(ValueError, match=r"^unknown generalisation level 'month'; use 'year' or 'age_band_5'$"):
        generalise_birth_date(born, "month")  # type: ignore[arg-type]
