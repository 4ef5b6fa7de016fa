"""Great Expectations suites generated from a protocol.

GX sees only the pseudonymised frame: per-field status columns (valid / invalid / missing),
event columns, kept non-identifying attributes and, per NHS-number field, its modulus-11 digit
sum (see quality/expectations.py), never a raw identifier. Each expectation's `meta` carries the
field, the problem and the fix in a data officer's words, for quarantine and partner feedback.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Any

import great_expectations as gx
import great_expectations.expectations as gxe
from great_expectations.expectations.expectation_configuration import ExpectationConfiguration

from ptp_pipeline.extract.check import BIRTH, BIRTH_PROBLEMS, DUP_OF, MOD11_SUM, STATUS
from ptp_pipeline.privacy.normalise import EXCEL, NEVER_ISSUED_SUM
from ptp_pipeline.protocol import FieldSpec, FieldType, Identifies, Protocol, Treatment
from ptp_pipeline.quality.expectations import (
    ExpectColumnValuesToBeEventDatesInProtocolPeriod,
    ExpectColumnValuesToBeValidNhsMod11Sums,
)

PROBLEM_BY_TYPE = {
    FieldType.nhs_number: ("is not a valid NHS number (wrong length, characters or check digit)",
                           "correct the NHS number at source, or leave it blank if unknown"),
    FieldType.uk_postcode: ("is not a valid UK postcode", "send the full postcode, e.g. LS6 2AB, or leave it blank"),
    FieldType.date: ("is not a real date in the agreed format", "send dates in the format the protocol names"),
    FieldType.datetime: ("is not a real date-time in the agreed format",
                         "send date-times in the format the protocol names"),
    FieldType.decimal: ("is not a number", "send plain numbers such as 123.45, without currency signs"),
    FieldType.integer: ("is not a whole number", "send whole numbers only"),
    FieldType.boolean: ("is not yes/no", "send Y or N"),
}


PROBLEM_BY_KIND: dict[Identifies | None, tuple[str, str]] = {
    Identifies.ni_number: ("is not a National Insurance number HMRC would issue (two letters, six digits, A-D)",
                           "correct it at source, or leave it blank if unknown"),
    Identifies.uln: ("is not a valid Unique Learner Number (ten digits with a correct check digit)",
                     "correct it at source, or leave it blank if unknown"),
}


#: strftime codes as a data officer writes a format ("%d/%m/%Y" -> DD/MM/YYYY).
_FORMAT_WORDS = {"%d": "DD", "%m": "MM", "%Y": "YYYY", "%y": "YY", "%H": "hh", "%M": "mm", "%S": "ss",
                 "%b": "Mon", "%B": "Month", "%f": "ffffff", "%z": "+hhmm", "%p": "AM/PM", "%I": "hh", "%%": "%"}


def describe_formats(formats: list[str]) -> str:
    """The agreed date formats in words: "DD/MM/YYYY or an Excel serial day number"."""
    def one(fmt: str) -> str:
        return "an Excel serial day number" if fmt == EXCEL else re.sub(
            r"%.", lambda m: _FORMAT_WORDS.get(m.group(0), m.group(0)), fmt)
    return " or ".join(one(f) for f in formats)


def _meta(field: str, problem: str, hint: str) -> dict[str, Any]:
    return {"field": field, "problem": problem, "hint": hint}


def _nhs_expectations(spec: FieldSpec) -> list[gxe.Expectation]:
    """Check digit in a custom expectation on the digit sum, never-issued numbers (0000000000) apart;
    `required` on the status column."""
    out: list[gxe.Expectation] = [ExpectColumnValuesToBeValidNhsMod11Sums(
        column=STATUS + spec.name + MOD11_SUM,
        meta=_meta(spec.name, "is not a valid NHS number (not 10 digits, or the check digit is wrong)",
                   "correct the NHS number at source, or leave it blank if unknown")),
        gxe.ExpectColumnValuesToNotBeInSet(
            column=STATUS + spec.name + MOD11_SUM, value_set=[NEVER_ISSUED_SUM],
            meta=_meta(spec.name, "is not an NHS number anyone is given (ten equal digits such as 0000000000, "
                                  "or a range never issued)",
                       "leave it blank when the NHS number is unknown rather than writing a placeholder"))]
    if spec.required:
        out.append(gxe.ExpectColumnValuesToBeInSet(
            column=STATUS + spec.name, value_set=["valid", "invalid"],
            meta=_meta(spec.name, "is missing", "this field is required: send the NHS number")))
    return out


BIRTH_MEANING = {
    "future": ("is a date of birth in the future", "check the date of birth at source"),
    "before_1900": ("is a date of birth before 1900", "check the year of birth at source (1890 for 1990?)"),
    "after_event": ("is a date of birth after the row's event date (the person was not yet born)",
                    "check that the date of birth and the event date are not swapped or mistyped"),
}


def _birth_expectations(spec: FieldSpec) -> list[gxe.Expectation]:
    """One check per implausible kind of date of birth, on the check stage's verdict column (not the date)."""
    return [gxe.ExpectColumnValuesToNotBeInSet(column=STATUS + spec.name + BIRTH, value_set=[kind],
                                               meta=_meta(spec.name, *BIRTH_MEANING[kind]))
            for kind in BIRTH_PROBLEMS]


def _event_date_expectations(protocol: Protocol, today: date) -> list[gxe.Expectation]:
    """Two checks, so partners read which rule a date broke: not in the future; inside the protocol."""
    field = protocol.event.date
    return [
        ExpectColumnValuesToBeEventDatesInProtocolPeriod(
            column="event_date", valid_from=str(date.min), valid_to=str(date.max), as_of=str(today),
            meta=_meta(field, f"is in the future (after {today})",
                       "check the date at source: events that have not happened yet cannot be shared")),
        ExpectColumnValuesToBeEventDatesInProtocolPeriod(
            column="event_date", valid_from=str(protocol.covers_from), valid_to=str(protocol.covers_to),
            as_of=str(date.max),
            meta=_meta(field, f"is outside the protocol's period ({protocol.covers_from} to {protocol.covers_to})",
                       "send only events inside the period the protocol covers")),
    ]


def _status_expectation(spec: FieldSpec, protocol: Protocol) -> gxe.Expectation:
    allowed = ["valid"] if spec.required else ["valid", "missing"]
    problem, hint = PROBLEM_BY_KIND.get(spec.identifies, PROBLEM_BY_TYPE.get(spec.type, (
        "breaks the protocol's rules for this field", "check the value against the protocol")))
    if spec.type in (FieldType.date, FieldType.datetime):
        agreed = describe_formats(spec.formats or protocol.file.date_formats)
        problem = f"{problem} {agreed}"
        hint = f"send dates as {agreed}, the format the protocol names"
    if spec.required:
        problem = f"is missing or {problem}"
        hint = f"this field is required: {hint}"
    return gxe.ExpectColumnValuesToBeInSet(
        column=STATUS + spec.name, value_set=allowed, meta=_meta(spec.name, problem, hint)
    )


def suite_for(protocol: Protocol, today: date) -> gx.ExpectationSuite:
    """One suite per protocol version; `today` bounds event dates (no events from the future).

    Expectations are collected first and the suite built in one go: adding them one by one to a
    suite whose name is already stored makes GX save it after each (about 3 s per extract).
    """
    expectations: list[gxe.Expectation] = []
    for spec in protocol.fields:
        if spec.treatment is Treatment.drop:
            continue
        if spec.type is FieldType.nhs_number:
            expectations += _nhs_expectations(spec)
        else:
            expectations.append(_status_expectation(spec, protocol))
        if spec.identifies is Identifies.date_of_birth and spec.type in (FieldType.date, FieldType.datetime):
            expectations += _birth_expectations(spec)
        kept = spec.identifies in (None, Identifies.sex) and spec.treatment is Treatment.keep
        c = spec.constraints
        if kept and c.allowed_values:
            column = {protocol.event.type: "event_type", protocol.event.setting: "setting"}.get(spec.name, spec.name)
            expectations.append(gxe.ExpectColumnValuesToBeInSet(
                column=column, value_set=list(c.allowed_values),
                meta=_meta(spec.name, "is not one of the agreed codes",
                           "use only: " + ", ".join(c.allowed_values))))
        if kept and (c.min is not None or c.max is not None) and spec.type in (FieldType.decimal,
                                                                               FieldType.integer):
            column = "cost" if spec.name == protocol.event.cost else spec.name
            expectations.append(gxe.ExpectColumnValuesToBeBetween(
                column=column, min_value=c.min, max_value=c.max,
                meta=_meta(spec.name, f"is outside the agreed range {c.min} to {c.max}",
                           "check the value at source")))
    expectations += _event_date_expectations(protocol, today)
    expectations.append(gxe.ExpectColumnValuesToBeNull(
        column=DUP_OF, meta=_meta("(whole row)", "repeats an earlier row exactly",
                                  "remove duplicate rows from the extract")))
    for extra in protocol.expectations:
        config = ExpectationConfiguration(type=extra["type"], kwargs=extra.get("kwargs", {}),
                                          meta=extra.get("meta", {}))
        expectations.append(config.to_domain_obj())
    return gx.ExpectationSuite(name=f"{protocol.id}.v{protocol.version}", expectations=expectations)
