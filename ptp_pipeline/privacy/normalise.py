"""Vectorised identifier normalisers, run before tokenising so partners' spellings agree.

Every function takes a pandas Series from an extract (up to millions of rows) and returns
pandas objects on the same index. None loops over rows in Python: text work runs as Arrow
compute kernels (RE2 regular expressions), arithmetic in numpy, and repetitive columns
(names, dates) are worked out once per distinct value. Missing or blank input gives <NA>.
Nothing here logs or raises with a value in the message: these are direct identifiers.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Literal

import numpy as np
import pandas as pd

from ptp_pipeline.privacy.names import (
    SPACE_CHARS,
    apply_to_uniques,
    canonical_forename,
    first_token,
    normalise_name,
    soundex,
    to_text,
)
from ptp_pipeline.privacy.nhs_number import WEIGHTS, never_issued

__all__ = [
    "EXCEL",
    "NEVER_ISSUED_SUM",
    "canonical_forename",
    "first_token",
    "generalise_birth_date",
    "nhs_mod11_sum",
    "normalise_name",
    "normalise_nhs_number",
    "normalise_postcode",
    "parse_dates",
    "soundex",
]

#: The ``formats`` token for an Excel (1900 date system) serial day number.
EXCEL = "excel"
#: Excel shows serial 1 as 1900-01-01 and 60 as 29 February 1900, a day that never was
#: (kept from Lotus 1-2-3). From serial 61 (1 March 1900) on, 1899-12-30 + serial is exact.
EXCEL_EPOCH = np.datetime64("1899-12-30", "D")
EXCEL_MAX_SERIAL = 2_958_465  # 9999-12-31, the last date Excel can show
_LAST_NS_SERIAL = (date(2262, 4, 11) - date(1899, 12, 30)).days  # datetime64[ns] ends 2262-04-11

_STATUS = pd.CategoricalDtype(["valid", "invalid", "missing"])
_NHS_SEPARATORS = f"[{SPACE_CHARS}\\-‐‑‒–—−.]"
# UK postcode with the space removed. Letter rules from the Royal Mail format: Q, V, X never
# start a postcode; I, J, Z are never second; the inward code never uses C, I, K, M, O, V.
# Third- and fourth-position letter rules are not applied: central London breaks them (WC1B).
_POSTCODE = "(?:[A-PR-UWYZ][A-HK-Y]?[0-9][A-Z0-9]?[0-9][ABD-HJLNP-UW-Z]{2}|GIR0AA)"


def _status(valid: np.ndarray, missing: np.ndarray, index: pd.Index) -> pd.Series:
    codes = np.where(missing, 2, np.where(valid, 0, 1))
    return pd.Series(pd.Categorical.from_codes(codes, dtype=_STATUS), index=index).astype("string")


def _blank(text: pd.Series) -> np.ndarray:
    """True where a cell is missing or holds only spaces."""
    return text.str.fullmatch(f"[{SPACE_CHARS}]*").fillna(True).to_numpy(dtype=bool)


#: Digit sum given for a number whose check digit holds but which is never issued (see nhs_number).
NEVER_ISSUED_SUM = -2


def _mod11_sums(digits: pd.Series) -> np.ndarray:
    """10*d1 + 9*d2 + ... + 2*d9 + 1*d10 per value of exactly ten digits; -1 for anything else;
    NEVER_ISSUED_SUM where the check digit holds but no such number is issued (0000000000)."""
    ten = digits.str.fullmatch("[0-9]{10}").fillna(False).to_numpy(dtype=bool)
    out = np.full(len(digits), -1, dtype="int64")
    if ten.any():
        number = digits[ten].astype("int64").to_numpy()
        sums = sum(((number // 10 ** (9 - i)) % 10) * w for i, w in enumerate((*WEIGHTS, 1)))
        out[ten] = np.where((sums % 11 == 0) & never_issued(number), NEVER_ISSUED_SUM, sums)
    return out


def nhs_mod11_sum(raw: pd.Series) -> pd.Series:
    """The modulus-11 weighted digit sum of each NHS number (10*d1 + 9*d2 + ... + 2*d9 + 1*d10).

    A number is valid exactly when this sum divides by 11. The sum lies between 0 and 495, so
    thousands of NHS numbers share each value and it identifies no one: GX can check the check
    digit on it without ever seeing a number. -1 = not ten digits after removing spaces, dashes
    and dots (the normaliser's rule); NEVER_ISSUED_SUM = a correct check digit on a number never
    issued (0000000000, a reserved range); <NA> = blank. Vectorised.
    """
    text = to_text(raw)
    out = _mod11_sums(text.str.replace(_NHS_SEPARATORS, "", regex=True))
    result = pd.Series(out, index=raw.index, dtype="Int64")
    return result.where(text.str.strip().fillna("") != "")


def normalise_nhs_number(s: pd.Series) -> pd.DataFrame:
    """Ten-digit NHS number where its modulus-11 check digit holds and such a number is issued, else
    <NA>, with a status.

    Spaces, dashes and dots are layout and go; any other character, any length but ten digits, or a
    number never issued (ten equal digits, a reserved range: `nhs_number.never_issued`) is "invalid".
    An invalid number is never passed on, so it can never be tokenised.
    """
    text = to_text(s)
    digits = text.str.replace(_NHS_SEPARATORS, "", regex=True)
    missing = _blank(text)
    sums = _mod11_sums(digits)
    # Valid exactly when 10*d1 + ... + 2*d9 + d10 divides by 11 (a check of "10" can never hold).
    valid = (sums >= 0) & (sums % 11 == 0)
    nhs = digits.where(valid).astype("string").array
    return pd.DataFrame({"nhs_number": nhs, "nhs_status": _status(valid, missing, s.index).array}, index=s.index)


def _postcode_parts(text: pd.Series) -> pd.DataFrame:
    compact = text.str.replace(f"[{SPACE_CHARS}]+", "", regex=True).str.upper()
    valid = compact.str.fullmatch(_POSTCODE).fillna(False).to_numpy(dtype=bool)
    good = compact.where(valid)
    outward, inward = good.str.slice(0, -3), good.str.slice(-3)
    return pd.DataFrame(
        {
            "postcode": outward + " " + inward,
            "sector": outward + " " + inward.str.slice(0, 1),
            "district": outward,
            "area": outward.str.replace("[0-9].*", "", regex=True),
            "postcode_status": _status(valid, _blank(text), text.index),
        }
    )


def normalise_postcode(s: pd.Series) -> pd.DataFrame:
    """Canonical UK postcode ("LS6 2AB") and its sector, district and area, with a status.

    Case and spaces are forgiven; nothing else is. A mistyped letter O for zero is "invalid"
    rather than guessed at, because a wrong guess would link a person to the wrong place.
    Worked out once per distinct value: an extract holds far fewer postcodes than rows.
    """
    return apply_to_uniques(s, _postcode_parts)


def _from_excel_serial(text: pd.Series) -> pd.Series:
    """Dates for Excel serials as Excel shows them; NaT for 60 and anything out of range."""
    serial = pd.to_numeric(text.where(text.str.fullmatch(r"[0-9]+(?:\.0+)?")), errors="coerce")
    days = serial.to_numpy(dtype="float64", na_value=np.nan)
    ok = (days >= 1) & (days <= min(EXCEL_MAX_SERIAL, _LAST_NS_SERIAL)) & (days != 60)
    offset = np.where(ok, days, 0).astype("int64") + (days < 60)  # Excel's 1..59 are a day later
    out = (EXCEL_EPOCH + offset.astype("timedelta64[D]")).astype("datetime64[ns]")
    return pd.Series(np.where(ok, out, np.datetime64("NaT")), index=text.index, dtype="datetime64[ns]")


def _parse_text(text: pd.Series, formats: Sequence[str]) -> pd.Series:
    text = text.str.strip()
    result = pd.Series(pd.NaT, index=text.index, dtype="datetime64[ns]")
    for fmt in formats:
        todo = result.isna().to_numpy() & text.notna().to_numpy()
        if not todo.any():
            break
        if fmt == EXCEL:
            parsed = _from_excel_serial(text[todo])
        else:
            # With %z, offsets may differ row to row (summer and winter time): only utc=True gives one column.
            parsed = pd.to_datetime(text[todo].astype(object), format=fmt, errors="coerce", utc="%z" in fmt)
            if isinstance(parsed.dtype, pd.DatetimeTZDtype):
                parsed = parsed.dt.tz_convert(None)
        result[todo] = parsed.astype("datetime64[ns]")
    return result


def parse_dates(s: pd.Series, formats: Sequence[str]) -> pd.Series:
    """Dates from text in the protocol's formats, tried in order; NaT where none fits.

    ``formats`` holds strftime patterns or :data:`EXCEL`. Impossible dates (31/02/1985) are
    NaT, never rolled over. Each distinct value is parsed once: a date column repeats a lot.
    Excel serials follow what Excel displays: 1 -> 1900-01-01, 59 -> 1900-02-28, 60 (Excel's
    29/02/1900) -> NaT, 61 -> 1900-03-01, 32874 -> 1990-01-01; serials past 2262-04-11, the
    end of ``datetime64[ns]``, are NaT.
    """
    if not formats or any(fmt != EXCEL and "%" not in fmt for fmt in formats):
        raise ValueError(f"date formats must be strftime patterns or {EXCEL!r}")
    if pd.api.types.is_datetime64_any_dtype(s.dtype):
        naive = s.dt.tz_convert(None) if isinstance(s.dtype, pd.DatetimeTZDtype) else s
        return naive.astype("datetime64[ns]")
    codes, uniques = pd.factorize(s, use_na_sentinel=True)
    parsed = _parse_text(to_text(pd.Series(uniques)), formats)
    return pd.Series(parsed.array.take(codes, allow_fill=True), index=s.index, dtype="datetime64[ns]")


def generalise_birth_date(d: pd.Series, level: Literal["year", "age_band_5"], at: date | None = None) -> pd.Series:
    """Coarsen dates of birth so shared tables never hold the day: a year, or a 5-year age band.

    "year" gives Int64 years. "age_band_5" gives "25-29"-style bands of age on ``at``, which is
    required so a rerun gives the same answer; a birthday on 29 February counts from 1 March
    in other years, as in English law. Births after ``at`` give <NA>.
    """
    if not pd.api.types.is_datetime64_any_dtype(d.dtype):
        raise TypeError("generalise_birth_date needs datetimes; parse them with parse_dates first")
    if level == "year":
        return d.dt.year.astype("Int64")
    if level != "age_band_5":
        raise ValueError(f"unknown generalisation level {level!r}; use 'year' or 'age_band_5'")
    if at is None:
        raise ValueError("age_band_5 needs the reference date `at`")
    year = d.dt.year.to_numpy(dtype="float64", na_value=np.nan)
    month_day = (d.dt.month * 100 + d.dt.day).to_numpy(dtype="float64", na_value=np.nan)
    age = at.year - year - (month_day > at.month * 100 + at.day)
    band = np.where(age >= 0, age // 5, -1).astype("int64")  # NaN (no date) compares False
    labels = [f"{5 * k}-{5 * k + 4}" for k in range(int(band.max(initial=0)) + 1)]
    return pd.Series(pd.Categorical.from_codes(band, labels), index=d.index).astype("string")
