"""Profile a sample extract: what each column seems to hold, judged from its name and values.

The result says *what kind* of data a column holds and how sure we are (shares of values that
fit), never the values themselves: a drafted protocol must not carry a sample identifier. Codes
are listed only for columns that are not identifiers and whose every code is common (seen at
least `MIN_CODE_COUNT` times), so a rare value cannot single anyone out.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date

import pandas as pd

from ptp_pipeline.privacy.normalise import normalise_nhs_number, normalise_postcode, parse_dates
from ptp_pipeline.protocol.identifiers import identifier_kind, spaced

#: Share of a column's non-empty values that must fit a kind before we say it is that kind.
FIT = 0.8
#: A column of at most this many distinct values, each seen this often, is a list of codes.
MAX_CODES, MIN_CODE_COUNT = 25, 3
#: ... and its common codes must cover this share of its values.
CODE_COVER = 0.95
DATE_FORMATS = ("%Y-%m-%d", "%d/%m/%Y", "%d-%m-%Y", "%Y/%m/%d", "%d.%m.%Y", "%d/%m/%y", "%Y-%m-%dT%H:%M:%S",
                "%d/%m/%Y %H:%M", "%d-%b-%Y", "%d %b %Y", "%d/%b/%Y", "%d %B %Y", "%d-%b-%y")
#: Dates mostly at least this many years back are taken for dates of birth (unless named as events).
BIRTH_YEARS_AGO = 15
#: Words in a date column's name that say it is when something happened.
EVENT_WORDS = ("event", "attend", "incident", "contact", "seen", "occur", "visit", "referr", "appoint",
               "episode", "admi", "session", "interview", "review", "activity", "arrest", "start", "enrol")
_NI_NUMBER = r"[A-CEGHJ-PR-TW-Z]{2}\s?\d{2}\s?\d{2}\s?\d{2}\s?[A-D]"
_EMAIL = r"[^@\s]+@[^@\s]+\.[A-Za-z]{2,}"
_PHONE = r"(?:\+44\s?|0)(?:\d\s?-?){9,10}"
_NAME = r"[A-Za-z][A-Za-z'\-]*(?: [A-Za-z][A-Za-z'\-]*)?"


def _hint(name: str, *stems: str) -> bool:
    """Does the column name carry one of these word stems? Stems of 3 letters or fewer must match a whole word."""
    words = re.split(r"[^a-z0-9]+", name.lower())
    return (any(w.startswith(s) if len(s) > 3 else w == s for w in words for s in stems)
            or any(s in name.lower() for s in stems if "_" in s))


@dataclass
class ColumnProfile:
    """What one column holds, as a suggestion for the data officer, with the evidence."""

    name: str
    kind: str  # nhs_number, postcode, email, phone, date_of_birth, date, forename, surname, full_name,
    #            forename_or_surname, local_id, ni_number, place_ref, cost, number, sex, code, free_text, empty,
    #            text
    evidence: str
    date_format: str | None = None
    codes: list[str] = field(default_factory=list)
    integer: bool = False
    median_year: float | None = None  # dates only: to tell dates of birth from event dates across columns


def event_named(name: str) -> bool:
    """Does a date column's name say it is when something happened (EventDate, attendance_date ...)?"""
    words = spaced(name).split()
    return any(w.startswith(stem) for w in words for stem in EVENT_WORDS)


def _share(ok: pd.Series, n: int) -> float:
    return float(ok.sum()) / n if n else 0.0


def _date_format(values: pd.Series, name: str) -> tuple[str, float] | None:
    best: tuple[str, float] | None = None
    candidates = list(DATE_FORMATS)
    if _hint(name, "date", "dob", "birth", "born", "_on", "when") and values.str.fullmatch(r"\d{4,5}").all():
        candidates.insert(0, "excel")
    for fmt in candidates:
        share = _share(parse_dates(values, [fmt]).notna(), len(values))
        if share >= FIT and (best is None or share > best[1]):
            best = (fmt, share)
    return best


def profile_column(name: str, raw: pd.Series) -> ColumnProfile:
    """Decide what a column holds. Identifiers are tried first, so they are never taken for codes."""
    values = raw.dropna().astype(str).str.strip()
    values = values[values != ""].reset_index(drop=True)
    n = len(values)
    pct = lambda share: f"{share:.0%} of {n} values"  # noqa: E731
    if n == 0:
        if _hint(name, "nhs"):
            return ColumnProfile(name, "nhs_number", "empty in the sample; the name says NHS number")
        return ColumnProfile(name, "empty", "every value is empty in the sample")
    nhs = _share(normalise_nhs_number(values)["nhs_status"] == "valid", n)
    if nhs >= FIT or (_hint(name, "nhs") and nhs >= 0.5):
        return ColumnProfile(name, "nhs_number", f"NHS numbers with a valid check digit in {pct(nhs)}")
    postcode = _share(normalise_postcode(values)["postcode_status"] == "valid", n)
    if postcode >= FIT:
        return ColumnProfile(name, "postcode", f"UK postcodes in {pct(postcode)}")
    if _hint(name, "uprn") or (values.str.fullmatch(r"\d{12}").mean() >= FIT):
        return ColumnProfile(name, "uprn", "Unique Property Reference Numbers (12 digits, or the name says UPRN)")
    if _hint(name, "address", "addr", "street"):
        if _hint(name, "type", "kind", "class"):
            counts = values.value_counts()
            return ColumnProfile(name, "address_type", "the name says address type (communal flag)",
                                 codes=sorted(counts.index))
        if _hint(name, "from", "since", "start"):
            fmt_found = _date_format(values, name)
            if fmt_found:
                return ColumnProfile(name, "address_from", "dates the person began living at the address",
                                     date_format=fmt_found[0])
        return ColumnProfile(name, "address_line", "the name says it holds an address line")
    named = identifier_kind(name)
    if named == "date_of_birth":
        fmt_found = _date_format(values, name)
        return ColumnProfile(name, "date_of_birth", "the name says date of birth",
                             date_format=fmt_found[0] if fmt_found else None)
    if named in ("surname", "forename", "full_name"):
        return ColumnProfile(name, named, f"the name says {named.replace('_', ' ')}")
    if named == "ni_number" or _share(values.str.fullmatch(_NI_NUMBER, case=False), n) >= FIT:
        return ColumnProfile(name, "ni_number", "National Insurance numbers (by name or shape)")
    if named == "learner_number":
        return ColumnProfile(name, "local_id", "the name says learner/pupil number (ULN, UPN)")
    if named == "free_text":
        return ColumnProfile(name, "free_text", "the name says notes or comments: free text can name people")
    email = _share(values.str.fullmatch(_EMAIL), n)
    if email >= FIT:
        return ColumnProfile(name, "email", f"email addresses in {pct(email)}")
    phone = _share(values.str.fullmatch(_PHONE), n)
    if phone >= FIT:
        return ColumnProfile(name, "phone", f"UK phone numbers in {pct(phone)}")
    if named in ("contact", "nhs_number", "postcode", "address_line"):
        return ColumnProfile(name, {"contact": "phone"}.get(named, named),
                             f"the name says {named.replace('_', ' ')} (the values did not confirm it)")
    found = _date_format(values, name)
    if found:
        fmt, share = found
        years = parse_dates(values, [fmt]).dt.year.dropna()
        age = date.today().year - float(years.median())
        old = float((years <= date.today().year - BIRTH_YEARS_AGO).mean())
        if _hint(name, "dob", "birth", "born") or (old >= FIT and not event_named(name)):
            return ColumnProfile(name, "date_of_birth", f"dates ({fmt}) in {pct(share)}, median {age:.0f} years "
                                 "ago: dates of birth", date_format=fmt, median_year=float(years.median()))
        note = f", median {age:.0f} years ago: check they are not dates of birth" if old >= FIT else ""
        return ColumnProfile(name, "date", f"dates ({fmt}) in {pct(share)}{note}", date_format=fmt,
                             median_year=float(years.median()))
    number = pd.to_numeric(values.str.replace(",", "", regex=False).str.lstrip("£"), errors="coerce")
    numeric = _share(number.notna(), n)
    distinct = values.nunique()
    if _hint(name, "forename", "first", "given", "christian"):
        return ColumnProfile(name, "forename", "the name says forename")
    if _hint(name, "surname", "last_name", "lastname", "family"):
        return ColumnProfile(name, "surname", "the name says surname")
    if _hint(name, "name", "fullname") and not _hint(name, "nick", "file", "service", "org"):
        return ColumnProfile(name, "full_name", "the name says it holds a person's name")
    with_digits = _share(values.str.contains(r"\d"), n)
    place = _hint(name, "premises", "property", "venue", "site", "licen", "establishment", "shop", "business")
    if place and with_digits >= FIT and distinct > MAX_CODES:
        return ColumnProfile(name, "place_ref", f"a reference to a place (the name says so): {distinct} distinct "
                             "values, with digits")
    if (_hint(name, "ref", "reference", "id", "identifier", "number", "no", "urn", "mrn", "pnc", "crn", "uln", "upn")
            and with_digits >= FIT and (distinct > MAX_CODES or distinct > n / 2)):
        return ColumnProfile(name, "local_id", f"a reference: {distinct} distinct values in {n}, with digits")
    if numeric >= FIT and _hint(name, "cost", "tariff", "price", "amount", "charge", "spend", "fee", "value"):
        return ColumnProfile(name, "cost", f"amounts in {pct(numeric)}; the name says cost",
                             integer=bool((number.dropna() % 1 == 0).all()))
    counts = values.value_counts()
    common = counts[counts >= MIN_CODE_COUNT]
    if len(common) <= MAX_CODES and common.sum() >= CODE_COVER * n:
        rare = f"; {distinct - len(common)} rare value(s) left out (rows with them will be quarantined)" \
            if distinct > len(common) else ""
        kind = "sex" if _hint(name, "sex", "gender") else "code"
        return ColumnProfile(name, kind, f"{len(common)} codes, each common{rare}", codes=sorted(common.index))
    if numeric >= FIT:
        return ColumnProfile(name, "number", f"numbers in {pct(numeric)}",
                             integer=bool((number.dropna() % 1 == 0).all()))
    words = values.str.split().str.len()
    if float(words.mean()) >= 4 or float(values.str.len().mean()) > 40:
        return ColumnProfile(name, "free_text", f"free text: on average {float(words.mean()):.0f} words")
    if _share(values.str.fullmatch(_NAME), n) >= FIT and distinct > n / 4:
        return ColumnProfile(name, "full_name" if float(words.mean()) > 1.5 else "forename_or_surname",
                             f"name-like words in most values, {distinct} distinct")
    return ColumnProfile(name, "text", f"text, {distinct} distinct values: not recognised")
