"""Worked examples for the identifier normalisers: the cases a data officer would ask about."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from ptp_pipeline.privacy import normalise
from ptp_pipeline.privacy.nicknames import NICKNAMES
from ptp_pipeline.privacy.normalise import (
    canonical_forename,
    first_token,
    generalise_birth_date,
    normalise_name,
    normalise_nhs_number,
    normalise_postcode,
    parse_dates,
    soundex,
)

VALID_NHS = "9434765919"  # NHS Digital's published example


def values(s: pd.Series) -> list[object]:
    return [None if pd.isna(v) else v for v in s]


# --- NHS numbers -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "number", "status"),
    [
        ("9434765919", VALID_NHS, "valid"),
        ("943 476 5919", VALID_NHS, "valid"),
        ("943-476-5919", VALID_NHS, "valid"),
        ("943.476.5919", VALID_NHS, "valid"),
        ("  943 476 5919\t", VALID_NHS, "valid"),
        ("9434765918", None, "invalid"),  # wrong check digit
        ("943476591", None, "invalid"),  # nine digits
        ("94347659190", None, "invalid"),  # eleven digits
        ("9" * 200, None, "invalid"),
        ("943476591X", None, "invalid"),
        ("943/476/5919", None, "invalid"),  # only spaces, dashes and dots are layout
        ("٩٤٣٤٧٦٥٩١٩", None, "invalid"),  # Arabic-Indic digits are not NHS numbers
        ("1000000010", None, "invalid"),  # check digit would be 10: no such number
        ("", None, "missing"),
        ("   ", None, "missing"),
        (None, None, "missing"),
    ],
)
def test_nhs_number_examples(raw: str | None, number: str | None, status: str) -> None:
    out = normalise_nhs_number(pd.Series([raw], dtype=object))
    assert values(out["nhs_number"]) == [number]
    assert values(out["nhs_status"]) == [status]


def test_nhs_number_shape_index_and_dtypes() -> None:
    s = pd.Series([VALID_NHS, None, "123"], index=[10, 5, 7], dtype="string")
    out = normalise_nhs_number(s)
    assert list(out.columns) == ["nhs_number", "nhs_status"]
    assert list(out.index) == [10, 5, 7]
    assert out["nhs_number"].dtype == "string" and out["nhs_status"].dtype == "string"
    assert values(out["nhs_status"]) == ["valid", "missing", "invalid"]


def test_nhs_number_read_as_numbers() -> None:
    """A CSV reader may type the column as int, or as float when a cell is blank."""
    assert values(normalise_nhs_number(pd.Series([9434765919]))["nhs_number"]) == [VALID_NHS]
    floats = normalise_nhs_number(pd.Series([9434765919.0, np.nan]))
    assert values(floats["nhs_number"]) == [VALID_NHS, None]
    assert values(floats["nhs_status"]) == ["valid", "missing"]


# --- Postcodes -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("LS6 2AB", ("LS6 2AB", "LS6 2", "LS6", "LS", "valid")),
        ("ls6 2ab", ("LS6 2AB", "LS6 2", "LS6", "LS", "valid")),
        ("LS62AB", ("LS6 2AB", "LS6 2", "LS6", "LS", "valid")),
        ("  LS6   2AB ", ("LS6 2AB", "LS6 2", "LS6", "LS", "valid")),
        ("M1 1AE", ("M1 1AE", "M1 1", "M1", "M", "valid")),  # A9
        ("B33 8TH", ("B33 8TH", "B33 8", "B33", "B", "valid")),  # A99
        ("CR2 6XH", ("CR2 6XH", "CR2 6", "CR2", "CR", "valid")),  # AA9
        ("DN55 1PT", ("DN55 1PT", "DN55 1", "DN55", "DN", "valid")),  # AA99
        ("W1A 0AX", ("W1A 0AX", "W1A 0", "W1A", "W", "valid")),  # A9A
        ("EC1A 1BB", ("EC1A 1BB", "EC1A 1", "EC1A", "EC", "valid")),  # AA9A
        ("WC1B 3DG", ("WC1B 3DG", "WC1B 3", "WC1B", "WC", "valid")),
        ("gir0aa", ("GIR 0AA", "GIR 0", "GIR", "GIR", "valid")),
        ("LS6 OAB", (None, None, None, None, "invalid")),  # letter O for zero: not guessed
        ("LSO 2AB", (None, None, None, None, "invalid")),
        ("LS6 2AO", (None, None, None, None, "invalid")),  # inward codes never use O
        ("QS6 2AB", (None, None, None, None, "invalid")),  # no postcode starts with Q
        ("LS6-2AB", (None, None, None, None, "invalid")),
        ("LS6", (None, None, None, None, "invalid")),
        ("LS6 2AB 3", (None, None, None, None, "invalid")),
        ("", (None, None, None, None, "missing")),
        (None, (None, None, None, None, "missing")),
    ],
)
def test_postcode_examples(raw: str | None, expected: tuple[str | None, ...]) -> None:
    out = normalise_postcode(pd.Series([raw], dtype=object))
    assert list(out.columns) == ["postcode", "sector", "district", "area", "postcode_status"]
    assert values(out.iloc[0]) == list(expected)


def test_postcode_keeps_index_and_string_dtypes() -> None:
    out = normalise_postcode(pd.Series(["ls6 2ab", None, "ls6 2ab"], index=["a", "b", "c"]))
    assert list(out.index) == ["a", "b", "c"]
    assert (out.dtypes == "string").all()
    assert values(out["postcode"]) == ["LS6 2AB", None, "LS6 2AB"]


# --- Names -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("José", "JOSE"),
        ("Zoë", "ZOE"),
        ("O'Brien", "OBRIEN"),
        ("O’Brien", "OBRIEN"),
        ("O' Brien", "OBRIEN"),
        ("Smith-Jones", "SMITHJONES"),
        ("Smith – Jones", "SMITHJONES"),
        ("  mary   ann ", "MARY ANN"),
        ("Mary.Ann", "MARY ANN"),
        ("Smith, John", "SMITH JOHN"),
        ("Mr John Smith", "JOHN SMITH"),
        ("Mrs. Jane Doe", "JANE DOE"),
        ("Rev Dr Ann Lee", "ANN LEE"),
        ("John Smith Jnr", "JOHN SMITH"),
        ("Sir Elton John", "ELTON JOHN"),
        ("John Lord", "JOHN LORD"),  # titles that are also surnames stay
        ("Mr", None),  # a title alone names nobody
        ("Øyvind Ærø", "OYVIND AERO"),
        ("Łukasz Wójcik", "LUKASZ WOJCIK"),
        ("Strauß", "STRAUSS"),
        ("ɔla Ǝva", "ƆLA ƎVA"),  # Latin letters with no ASCII form are kept (upper case), never dropped
        ("Ｊｏｓｅ", "JOSE"),  # full-width letters
        ("Иван Петров", "ИВАН ПЕТРОВ"),
        ("Йосиф", "ЙОСИФ"),  # the breve is part of the Cyrillic letter: never folded to И
        ("محمد علي", "محمد علي"),
        ("王芳", "王芳"),
        ("Jean-Luc Picard 2nd", "JEANLUC PICARD ND"),
        ("", None),
        ("  ", None),
        ("---", None),
        (None, None),
    ],
)
def test_name_examples(raw: str | None, expected: str | None) -> None:
    assert values(normalise_name(pd.Series([raw], dtype=object))) == [expected]


def test_name_keeps_index_and_string_dtype() -> None:
    out = normalise_name(pd.Series(["José", None, "josé"], index=[3, 1, 2]))
    assert out.dtype == "string"
    assert list(out.index) == [3, 1, 2]
    assert values(out) == ["JOSE", None, "JOSE"]


def test_first_token_and_canonical_forename() -> None:
    s = pd.Series(["Mr Bill Smith", "Mary Ann", "Peggy", None, "Иван"])
    assert values(first_token(s)) == ["BILL", "MARY", "PEGGY", None, "ИВАН"]
    assert values(canonical_forename(s)) == ["WILLIAM", "MARY", "MARGARET", None, "ИВАН"]


@pytest.mark.parametrize(
    ("canonical", "nicknames"),
    [
        ("WILLIAM", ["Bill", "Billy", "Will", "Willie"]),
        ("MARGARET", ["Peggy", "Maggie", "Meg"]),
        ("ROBERT", ["Bob", "Rob", "Bobby"]),
        ("JAMES", ["Jim", "Jimmy", "Jamie"]),
        ("ELIZABETH", ["Liz", "Beth", "Betty", "Lizzie"]),
        ("KATHERINE", ["Kate", "Katie", "Kathy", "Catherine", "Cathy", "Kathryn"]),
        ("MICHAEL", ["Mike"]),
        ("DAVID", ["Dave"]),
        ("ANTHONY", ["Tony"]),
        ("SUSAN", ["Sue"]),
        ("RICHARD", ["Dick", "Rick"]),
        ("THOMAS", ["Tom"]),
    ],
)
def test_nicknames_map_to_canonical(canonical: str, nicknames: list[str]) -> None:
    assert values(canonical_forename(pd.Series([*nicknames, canonical.title()]))) == [canonical] * (len(nicknames) + 1)


def test_nickname_table_is_large_normalised_and_flat() -> None:
    assert len(NICKNAMES) >= 120
    assert all(k == k.upper().strip() and k.isalpha() and v.isalpha() for k, v in NICKNAMES.items())
    assert not set(NICKNAMES.values()) & set(NICKNAMES), "a canonical name must not map on again"


@pytest.mark.parametrize(
    ("name", "code"),
    [
        ("Robert", "R163"),
        ("Rupert", "R163"),
        ("Rubin", "R150"),
        ("Ashcraft", "A261"),  # H between S and C: one code
        ("Tymczak", "T522"),  # vowel between Z and K: coded twice
        ("Pfister", "P236"),  # first letter and F share a code
        ("Honeyman", "H555"),
        ("Lee", "L000"),
        ("O'Brien", "O165"),
        ("Müller", "M460"),
        ("Mr Smith", "S530"),
        ("Иван", None),  # Soundex is for English spelling
        (None, None),
    ],
)
def test_soundex_examples(name: str | None, code: str | None) -> None:
    assert values(soundex(pd.Series([name], dtype=object))) == [code]


@pytest.mark.parametrize("func", [normalise_name, first_token, canonical_forename, soundex])
def test_name_functions_on_empty_series(func: object) -> None:
    out = func(pd.Series([], dtype=object))  # type: ignore[operator]
    assert len(out) == 0 and out.dtype == "string"


# --- Dates -----------------------------------------------------------------------------------

UK, ISO = "%d/%m/%Y", "%Y-%m-%d"


@pytest.mark.parametrize(
    ("raw", "formats", "expected"),
    [
        ("01/02/1985", [UK], "1985-02-01"),
        ("1/2/1985", [UK], "1985-02-01"),
        (" 01/02/1985 ", [UK], "1985-02-01"),
        ("31/02/1985", [UK], None),
        ("1985-02-31", [ISO], None),
        ("29/02/1984", [UK], "1984-02-29"),
        ("29/02/1985", [UK], None),
        ("01/02/1985", [ISO], None),
        ("1985-02-01", [UK, ISO], "1985-02-01"),
        ("01/02/2003", [UK, "%m/%d/%Y"], "2003-02-01"),  # the first format that fits wins
        ("01/02/2003", ["%m/%d/%Y", UK], "2003-01-02"),
        ("1985-02-01 13:45:00", ["%Y-%m-%d %H:%M:%S"], "1985-02-01 13:45:00"),
        ("32874", ["excel"], "1990-01-01"),
        ("32874.0", ["excel"], "1990-01-01"),
        ("32874.5", ["excel"], None),  # a time of day: not a date serial
        ("1", ["excel"], "1900-01-01"),  # as Excel shows it
        ("59", ["excel"], "1900-02-28"),
        ("60", ["excel"], None),  # Excel's 29/02/1900, which never existed
        ("61", ["excel"], "1900-03-01"),  # from here on, 1899-12-30 + serial
        ("0", ["excel"], None),
        ("-5", ["excel"], None),
        ("2958465", ["excel"], None),  # 9999-12-31: beyond datetime64[ns]
        ("2958466", ["excel"], None),
        ("1990-01-01", [ISO, "excel"], "1990-01-01"),
        ("32874", [ISO, "excel"], "1990-01-01"),
        ("", [UK], None),
        (None, [UK, "excel"], None),
        ("not a date", [UK, ISO, "excel"], None),
    ],
)
def test_parse_dates_examples(raw: str | None, formats: list[str], expected: str | None) -> None:
    out = parse_dates(pd.Series([raw], dtype=object), formats)
    assert out.dtype == "datetime64[ns]"
    assert values(out) == [None if expected is None else pd.Timestamp(expected)]


def test_parse_dates_excel_serials_as_numbers_and_index() -> None:
    out = parse_dates(pd.Series([32874, np.nan, 32874.0], index=[9, 8, 7]), ["excel"])
    assert list(out.index) == [9, 8, 7]
    assert values(out) == [pd.Timestamp("1990-01-01"), None, pd.Timestamp("1990-01-01")]


def test_parse_dates_passes_datetimes_through() -> None:
    s = pd.Series(pd.to_datetime(["1990-01-01", None]))
    pd.testing.assert_series_equal(parse_dates(s, [UK]), s)


@pytest.mark.parametrize("formats", [[], ["dd/mm/yyyy"]])
def test_parse_dates_rejects_bad_formats(formats: list[str]) -> None:
    with pytest.raises(ValueError, match="strftime"):
        parse_dates(pd.Series(["01/02/1985"]), formats)


def test_generalise_birth_date_year_and_age_band() -> None:
    d = parse_dates(pd.Series(["1990-06-15", "2000-02-29", None, "2030-01-01", "1999-06-14"]), [ISO])
    years = generalise_birth_date(d, "year")
    assert years.dtype == "Int64" and values(years) == [1990, 2000, None, 2030, 1999]
    bands = generalise_birth_date(d, "age_band_5", at=date(2024, 6, 14))
    assert bands.dtype == "string"
    assert values(bands) == ["30-34", "20-24", None, None, "25-29"]  # 33, 24, -, unborn, 25 today
    # Born 29 February: in a common year the birthday counts from 1 March.
    leap = parse_dates(pd.Series(["2004-02-29"]), [ISO])
    assert values(generalise_birth_date(leap, "age_band_5", at=date(2029, 2, 28))) == ["20-24"]
    assert values(generalise_birth_date(leap, "age_band_5", at=date(2029, 3, 1))) == ["25-29"]


def test_generalise_birth_date_refuses_what_it_cannot_do() -> None:
    d = parse_dates(pd.Series(["1990-06-15"]), [ISO])
    with pytest.raises(ValueError, match="at"):
        generalise_birth_date(d, "age_band_5")
    with pytest.raises(ValueError, match="level"):
        generalise_birth_date(d, "decade")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="parse_dates"):
        generalise_birth_date(pd.Series(["1990-06-15"]), "year")


def test_rows_stay_in_place_under_a_duplicated_index() -> None:
    """Extract chunks can carry repeated index labels; results must follow position, not label."""
    index = [0, 0, 1]
    nhs = normalise_nhs_number(pd.Series([VALID_NHS, "x", None], index=index))
    assert list(nhs.index) == index and values(nhs["nhs_status"]) == ["valid", "invalid", "missing"]
    post = normalise_postcode(pd.Series(["ls62ab", None, "x"], index=index))
    assert list(post.index) == index and values(post["postcode_status"]) == ["valid", "missing", "invalid"]
    assert values(normalise_name(pd.Series(["josé", None, "Bob"], index=index))) == ["JOSE", None, "BOB"]
    assert values(canonical_forename(pd.Series(["Bob", "Bill", None], index=index))) == ["ROBERT", "WILLIAM", None]
    born = parse_dates(pd.Series(["01/02/1985", "x", "32874"], index=index), [UK, "excel"])
    assert list(born.index) == index and values(born) == [pd.Timestamp("1985-02-01"), None, pd.Timestamp("1990-01-01")]
    assert values(generalise_birth_date(born, "age_band_5", at=date(2020, 1, 1))) == ["30-34", None, "30-34"]


def test_empty_and_all_missing_columns() -> None:
    empty = pd.Series([], dtype=object)
    assert (normalise_nhs_number(empty).dtypes == "string").all()
    assert (normalise_postcode(empty).dtypes == "string").all()
    assert parse_dates(empty, ["excel"]).dtype == "datetime64[ns]"
    blank = pd.Series([None, None], dtype=object)
    assert values(normalise_nhs_number(blank)["nhs_status"]) == ["missing", "missing"]
    assert values(normalise_postcode(blank)["postcode_status"]) == ["missing", "missing"]
    born = parse_dates(blank, [UK])
    assert values(generalise_birth_date(born, "age_band_5", at=date(2020, 1, 1))) == [None, None]


def test_public_api() -> None:
    assert {
        "normalise_nhs_number",
        "normalise_postcode",
        "normalise_name",
        "canonical_forename",
        "first_token",
        "parse_dates",
        "generalise_birth_date",
        "soundex",
    } <= set(normalise.__all__)


def test_text_of_a_float_column_drops_dot_zero_only_when_every_value_is_whole() -> None:
    from ptp_pipeline.privacy.names import to_text

    assert values(to_text(pd.Series([9434765919.0, np.nan]))) == ["9434765919", None]
    assert values(to_text(pd.Series([9434765919.0, 1.5]))) == ["9434765919.0", "1.5"]  # a fraction: not an identifier
    assert values(to_text(pd.Series([2.0**53, 1.0]))) == ["9007199254740992.0", "1.0"]  # beyond exact integers
    assert values(to_text(pd.Series([np.nan, np.nan]))) == [None, None]
