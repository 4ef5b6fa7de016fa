"""Properties of the identifier normalisers that linkage relies on.

Tokens only match when both partners' values normalise to the same text, so: normalising twice
changes nothing, layout variants of one value agree, and invalid values never pass as valid.
"""

from __future__ import annotations

import calendar
import re
import string
from collections.abc import Sequence
from datetime import date, timedelta

import numpy as np
import pandas as pd
from hypothesis import assume, given
from hypothesis import strategies as st

from ptp_pipeline.privacy.names import TITLES
from ptp_pipeline.privacy.nhs_number import check_digit, is_valid, never_issued
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


def one(values: Sequence[object]) -> pd.Series:
    return pd.Series(values, dtype=object)


def as_list(s: pd.Series) -> list[object]:
    return [None if pd.isna(v) else v for v in s]


# --- NHS numbers -----------------------------------------------------------------------------

# Issued ranges only (England and Wales 4, 6, 7; the 9 test range): see nhs_number.never_issued.
nine_digits = st.builds(lambda first, rest: first + rest, st.sampled_from("4679"),
                        st.text(string.digits, min_size=8, max_size=8)).filter(lambda d: check_digit(d) is not None)
valid_nhs = nine_digits.map(lambda d: d + str(check_digit(d))).filter(lambda n: len(set(n)) > 1)
padding = st.sampled_from(["", " ", "  ", "\t", "\u00a0", " \n"])


@st.composite
def formatted_nhs(draw: st.DrawFn) -> tuple[str, str]:
    number = draw(valid_nhs)
    sep = draw(st.sampled_from(["", " ", "-", ".", " - ", "  "]))
    layout = draw(st.sampled_from(["plain", "3-3-4"]))
    text = number if layout == "plain" else sep.join([number[:3], number[3:6], number[6:]])
    return number, draw(padding) + text + draw(padding)


@given(formatted_nhs())
def test_valid_nhs_number_is_valid_in_any_layout(case: tuple[str, str]) -> None:
    number, text = case
    out = normalise_nhs_number(one([text]))
    assert as_list(out["nhs_status"]) == ["valid"]
    assert as_list(out["nhs_number"]) == [number]


@given(valid_nhs, st.integers(0, 9), st.integers(1, 9))
def test_any_single_digit_change_is_invalid(number: str, position: int, shift: int) -> None:
    changed = number[:position] + str((int(number[position]) + shift) % 10) + number[position + 1 :]
    out = normalise_nhs_number(one([changed]))
    assert as_list(out["nhs_status"]) == ["invalid"]
    assert as_list(out["nhs_number"]) == [None]


@given(st.text(string.digits, min_size=1, max_size=40).filter(lambda d: len(d) != 10))
def test_wrong_length_is_invalid(digits: str) -> None:
    assert as_list(normalise_nhs_number(one([digits]))["nhs_status"]) == ["invalid"]


@given(st.lists(st.text(string.digits, min_size=10, max_size=10), min_size=1, max_size=30))
def test_vectorised_check_agrees_with_scalar(numbers: list[str]) -> None:
    out = normalise_nhs_number(one(list(numbers)))
    issued = ~never_issued(np.array([int(n) for n in numbers]))
    assert as_list(out["nhs_status"]) == ["valid" if is_valid(n) and i else "invalid"
                                          for n, i in zip(numbers, issued, strict=True)]


@given(st.lists(st.one_of(st.none(), st.text(max_size=15), formatted_nhs().map(lambda c: c[1])), max_size=20))
def test_nhs_number_idempotent_and_only_valid_numbers_kept(values: list[str | None]) -> None:
    out = normalise_nhs_number(one(values))
    kept = out["nhs_number"].dropna()
    assert all(len(n) == 10 and is_valid(n) for n in kept)
    assert out["nhs_status"].isin(["valid", "invalid", "missing"]).all()
    assert ((out["nhs_status"] == "valid") == out["nhs_number"].notna()).all()
    again = normalise_nhs_number(out["nhs_number"])
    assert as_list(again["nhs_number"]) == as_list(out["nhs_number"])


# --- Postcodes -------------------------------------------------------------------------------

FIRST, SECOND = "ABCDEFGHIJKLMNOPRSTUWYZ", "ABCDEFGHKLMNOPQRSTUVWXY"
UNIT = "ABDEFGHJLNPQRSTUWXYZ"


@st.composite
def postcodes(draw: st.DrawFn) -> tuple[str, str]:
    """(outward, inward) in one of the six UK outward patterns, or GIR 0AA."""

    def letter(chars: str) -> str:
        return draw(st.sampled_from(chars))

    def digit() -> str:
        return draw(st.sampled_from(string.digits))

    pattern = draw(st.sampled_from(["A9", "A99", "AA9", "AA99", "A9A", "AA9A", "GIR"]))
    if pattern == "GIR":
        return "GIR", "0AA"
    outward = letter(FIRST)
    if pattern.startswith("AA"):
        outward += letter(SECOND)
    outward += digit()
    if pattern.endswith("99"):
        outward += digit()
    elif pattern.endswith("A"):
        outward += letter(string.ascii_uppercase)
    return outward, digit() + letter(UNIT) + letter(UNIT)


@st.composite
def messy_case_and_spacing(draw: st.DrawFn, text: str) -> str:
    chars = [c.lower() if draw(st.booleans()) else c for c in text]
    spaced = "".join(c + draw(st.sampled_from(["", "", " ", "  "])) for c in chars)
    return draw(padding) + spaced + draw(padding)


@given(postcodes(), st.data())
def test_postcode_round_trips_in_any_case_and_spacing(parts: tuple[str, str], data: st.DataObject) -> None:
    outward, inward = parts
    text = data.draw(messy_case_and_spacing(outward + inward))
    out = normalise_postcode(one([text])).iloc[0]
    assert out["postcode_status"] == "valid"
    assert out["postcode"] == f"{outward} {inward}"
    assert out["sector"] == f"{outward} {inward[0]}"
    assert out["district"] == outward
    assert out["area"] == re.sub("[0-9].*", "", outward)


@given(st.lists(st.one_of(st.none(), st.text(max_size=10), postcodes().map("".join)), max_size=20))
def test_postcode_idempotent_and_parts_consistent(values: list[str | None]) -> None:
    out = normalise_postcode(one(values))
    again = normalise_postcode(out["postcode"])
    pd.testing.assert_frame_equal(again.drop(columns="postcode_status"), out.drop(columns="postcode_status"))
    for row in out[out["postcode_status"] == "valid"].itertuples():
        assert row.postcode.startswith(row.sector) and len(row.postcode) == len(row.sector) + 2
        assert row.sector.startswith(row.district + " ") and row.district.startswith(row.area)
    assert out.loc[out["postcode_status"] != "valid"].drop(columns="postcode_status").isna().all().all()


# --- Names -----------------------------------------------------------------------------------

latin_word = st.text("abcdefghijklmnopqrstuvwxyzéèëïöüçñøåæß", min_size=1, max_size=10)
other_script_word = st.text("абвгдеёжзийклмнопрстуфхцчшщъыьэюяمحدعليه王李张刘陈芳伟", min_size=1, max_size=6)
words = st.lists(st.one_of(latin_word, other_script_word), min_size=1, max_size=4)


@st.composite
def name_variant(draw: st.DrawFn, tokens: list[str]) -> str:
    """The same name as another clerk might type it: case, spacing, stray punctuation."""
    out = []
    for token in tokens:
        cased = "".join(c.upper() if draw(st.booleans()) else c for c in token)
        out.append(cased + draw(st.sampled_from(["", "", ".", ",", "  "])))
    gap = draw(st.sampled_from([" ", "  ", " , ", "\t", "\u00a0"]))
    return draw(padding) + gap.join(out) + draw(padding)


@given(words, st.data())
def test_name_variants_normalise_equal(tokens: list[str], data: st.DataObject) -> None:
    assume(not all(t.upper() in TITLES for t in tokens))
    variants = [" ".join(tokens), data.draw(name_variant(tokens)), data.draw(name_variant(tokens))]
    out = as_list(normalise_name(one(variants)))
    assert out[0] is not None
    assert out[1:] == [out[0], out[0]]


@given(st.lists(st.one_of(st.none(), st.text(max_size=20)), max_size=20))
def test_name_functions_idempotent(values: list[str | None]) -> None:
    s = one(values)
    for func in (normalise_name, first_token, canonical_forename):
        once = func(s)
        assert as_list(func(once)) == as_list(once), func.__name__
        for text in once.dropna():
            assert text == text.strip() and "  " not in text and text.upper() == text


@given(st.lists(other_script_word, min_size=1, max_size=3))
def test_non_latin_names_are_kept(tokens: list[str]) -> None:
    [out] = as_list(normalise_name(one([" ".join(tokens)])))
    assert out == " ".join(tokens).upper()


@given(st.sampled_from(sorted(NICKNAMES.items())), st.data())
def test_nickname_and_canonical_give_same_forename(pair: tuple[str, str], data: st.DataObject) -> None:
    nickname, canonical = pair
    forms = [nickname, canonical, data.draw(name_variant([nickname.lower(), "smith"]))]
    assert as_list(canonical_forename(one(forms))) == [canonical] * 3


def reference_soundex(word: str) -> str:
    """Textbook American Soundex, one letter at a time, to check the vectorised one against."""
    codes = {c: d for d, letters in {"1": "BFPV", "2": "CGJKQSXZ", "3": "DT", "4": "L", "5": "MN", "6": "R"}.items()
             for c in letters}  # fmt: skip
    out, last = word[0], codes.get(word[0], "")
    for char in word[1:]:
        if char in "HW":
            continue
        code = codes.get(char, "")
        if code and code != last:
            out += code
        last = code
    return (out + "000")[:4]


@given(st.text(string.ascii_uppercase, min_size=1, max_size=12), st.data())
def test_soundex_matches_reference_and_ignores_layout(word: str, data: st.DataObject) -> None:
    assume(word not in TITLES)
    variant = data.draw(name_variant([word.lower(), "jones"]))
    assert as_list(soundex(one([word, variant]))) == [reference_soundex(word)] * 2


# --- Dates -----------------------------------------------------------------------------------

FORMATS = ["%d/%m/%Y", "%Y-%m-%d", "%Y-%m-%d %H:%M:%S", "%d-%b-%Y", "%Y%m%d"]
EXCEL_EPOCH = date(1899, 12, 30)
dates = st.dates(min_value=date(1900, 3, 1), max_value=date(2262, 4, 10))


@given(dates, st.sampled_from(FORMATS))
def test_date_in_each_format_parses_back(day: date, fmt: str) -> None:
    parsed = parse_dates(one([day.strftime(fmt)]), ["excel", *FORMATS])
    assert parsed.iloc[0] == pd.Timestamp(day)


@given(dates, st.sampled_from(["", ".0", ".00"]))
def test_excel_serial_parses_back(day: date, suffix: str) -> None:
    serial = (day - EXCEL_EPOCH).days
    parsed = parse_dates(one([f"{serial}{suffix}", serial]), ["%Y-%m-%d", "excel"])
    assert as_list(parsed) == [pd.Timestamp(day)] * 2


@st.composite
def impossible_dates(draw: st.DrawFn) -> tuple[int, int, int]:
    """(year, month, day) past the month's end, or with month 0 or 13, or day 0."""
    year = draw(st.integers(1900, 2100))
    kind = draw(st.sampled_from(["past end", "bad month", "day zero"]))
    if kind == "past end":
        month = draw(st.sampled_from([2, 4, 6, 9, 11]))
        return year, month, draw(st.integers(calendar.monthrange(year, month)[1] + 1, 31))
    if kind == "bad month":
        return year, draw(st.sampled_from([0, 13])), draw(st.integers(1, 28))
    return year, draw(st.integers(1, 12)), 0


@given(impossible_dates(), st.sampled_from(FORMATS[:3]))
def test_impossible_dates_are_nat(ymd: tuple[int, int, int], fmt: str) -> None:
    year, month, day = ymd
    text = fmt.replace("%d", f"{day:02d}").replace("%m", f"{month:02d}").replace("%Y", str(year))
    text = text.replace("%H:%M:%S", "00:00:00")
    assert parse_dates(one([text]), FORMATS).isna().all()


@given(st.lists(st.one_of(st.none(), dates), max_size=20), st.sampled_from(FORMATS))
def test_parse_dates_idempotent(days: list[date | None], fmt: str) -> None:
    once = parse_dates(one([None if d is None else d.strftime(fmt) for d in days]), [fmt])
    again = parse_dates(once.dt.strftime(fmt), [fmt])
    pd.testing.assert_series_equal(again, once)


@given(st.lists(st.one_of(st.none(), st.dates(date(1900, 1, 1), date(2030, 12, 31))), max_size=20),
       st.dates(date(2000, 1, 1), date(2030, 12, 31)))  # fmt: skip
def test_generalised_birth_dates_never_keep_the_day(births: list[date | None], at: date) -> None:
    d = pd.Series(pd.to_datetime(pd.Series(births, dtype=object)), dtype="datetime64[ns]")
    years = generalise_birth_date(d, "year")
    bands = generalise_birth_date(d, "age_band_5", at=at)
    for birth, year, band in zip(births, as_list(years), as_list(bands), strict=True):
        if birth is None:
            assert year is None and band is None
            continue
        assert year == birth.year
        age = at.year - birth.year - ((at.month, at.day) < (birth.month, birth.day))
        if age < 0:
            assert band is None
            continue
        low, high = map(int, str(band).split("-"))
        assert low % 5 == 0 and high == low + 4 and low <= age <= high
        # Any other birthday in the same year and band gives the same answer: the day is gone.
        other = birth.replace(month=1, day=1) if birth.month > 1 else birth + timedelta(days=1)
        assert generalise_birth_date(pd.Series([pd.Timestamp(other)]), "year").iloc[0] == year
