"""Draft a protocol from a sample extract: suggested types, roles and treatments, status draft.

The draft is a starting point for the data officer, never an agreement: it is written with
`status: draft` (so no extract is received under it), placeholders marked `TO AGREE` where only
people can decide (purpose, organisation, lawful basis), and a comment on each field saying
what was detected and why. It never copies a sample value; only codes common to many rows of
a non-identifying column are listed as allowed values.
"""

from __future__ import annotations

import codecs
import csv
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import pandas as pd

from ptp_pipeline.errors import ProtocolError, Where
from ptp_pipeline.extract.read import read_csv_text
from ptp_pipeline.privacy.normalise import parse_dates
from ptp_pipeline.protocol.model import PERSON_IDENTITY, FileSettings
from ptp_pipeline.protocol.profile import BIRTH_YEARS_AGO, ColumnProfile, event_named, profile_column
from ptp_pipeline.protocol.special import categories_in

#: Rows profiled: enough to judge a column, few enough to stay quick on a big sample.
SAMPLE_ROWS = 5000
TO_AGREE = "TO AGREE"


@dataclass(frozen=True)
class Suggestion:
    """One field of the draft: the protocol entry plus the comment that explains it."""

    entry: dict[str, object]
    comment: str
    median_year: float | None = None  # date columns: when their dates mostly fall


def _suggest(p: ColumnProfile) -> Suggestion:
    def f(type_: str, role: str, treatment: str, **more: object) -> dict[str, object]:
        return {"name": p.name, "type": type_, "role": role, "treatment": treatment, **more}

    kind = p.kind
    dates = {"formats": [p.date_format]} if p.date_format else {}
    if kind == "nhs_number":
        e = f("nhs_number", "direct_identifier", "pseudonymise", identifies="nhs_number")
    elif kind == "postcode":
        e = f("uk_postcode", "direct_identifier", "pseudonymise", identifies="postcode", generalise="district")
    elif kind == "date_of_birth":
        e = f("date", "direct_identifier", "pseudonymise", identifies="date_of_birth", generalise="year", **dates)
    elif kind in ("forename", "surname") or kind in ("address_line", "uprn"):
        e = f("string", "direct_identifier", "pseudonymise", identifies=kind)
    elif kind == "address_type":
        e = f("code", "quasi_identifier", "keep", identifies="address_type",
              constraints={"allowed_values": p.codes})
    elif kind == "address_from":
        e = f("date", "quasi_identifier", "pseudonymise", identifies="address_from", **dates)
    elif kind == "local_id":
        e = f("string", "direct_identifier", "pseudonymise", identifies="local_id")
    elif kind in ("email", "phone", "full_name", "forename_or_surname", "ni_number"):
        e = f("string", "direct_identifier", "drop")
    elif kind == "place_ref":
        e = f("string", "attribute", "keep")
    elif kind == "date":
        e = f("date", "event_date", "keep", **dates)
    elif kind == "cost":
        e = f("integer" if p.integer else "decimal", "cost", "keep", constraints={"min": 0})
    elif kind == "number":
        e = f("integer" if p.integer else "decimal", "attribute", "keep")
    elif kind == "sex":
        e = f("code", "quasi_identifier", "keep", identifies="sex", constraints={"allowed_values": p.codes})
    elif kind == "code":
        e = f("code", "attribute", "keep", constraints={"allowed_values": p.codes})
    else:  # free_text, text, empty: may hold anything, so nothing is shared until someone decides
        e = f("string", "attribute", "drop")
    why = {"drop": "dropped: not needed for linkage and could identify someone"
           if e["role"] == "direct_identifier" else "dropped until the data officer decides it is needed",
           "pseudonymise": "pseudonymised for linkage, then dropped",
           "keep": "shared as it is" + ("; check it names no person" if kind == "place_ref" else ""),
           }[str(e["treatment"])]
    return Suggestion(e, f"{p.evidence}; {why}", p.median_year)


def _sniff(path: Path) -> FileSettings:
    head = path.read_bytes()[:65536]
    encoding = "utf-8-sig" if head.startswith(codecs.BOM_UTF8) else "utf-8"
    try:
        text = head.decode(encoding)
    except UnicodeDecodeError:
        encoding, text = "cp1252", head.decode("cp1252", errors="replace")
    first = text.splitlines()[0] if text.strip() else ""
    try:
        delimiter = csv.Sniffer().sniff(first, delimiters=",;|\t").delimiter
    except csv.Error:
        delimiter = ","
    return FileSettings(delimiter=delimiter, encoding=encoding)


def _event(suggestions: list[Suggestion]) -> dict[str, str]:
    """Pick the event date, type and cost; the first event-type-looking code becomes the event type.

    The event date is a date column named like an event (EventDate, attendance_date ...), else the
    most recent; a date column decades before it is taken for dates of birth and dropped.
    """
    entries = [s.entry for s in suggestions]
    event: dict[str, str] = {}
    dated = [s for s in suggestions if s.entry["role"] == "event_date"]
    dated.sort(key=lambda s: (event_named(str(s.entry["name"])), s.median_year or 0.0), reverse=True)
    for other in dated[1:]:
        other.entry.update(role="attribute", treatment="drop")
        chosen, year = dated[0].median_year, other.median_year
        if chosen and year and chosen - year >= BIRTH_YEARS_AGO - 5 and not event_named(str(other.entry["name"])):
            other.entry["role"] = "direct_identifier"
            i = suggestions.index(other)
            suggestions[i] = Suggestion(other.entry, f"dates about {chosen - year:.0f} years before the event dates: "
                                                     "probably dates of birth; dropped", year)
    if dated:
        event["date"] = str(dated[0].entry["name"])
        dated[0].entry["required"] = True
    codes = [e for e in entries if e["type"] == "code" and e["role"] == "attribute"]
    named = ("type", "activity", "service", "event", "category", "kind", "reason", "outcome")

    def rank(e: dict[str, object]) -> tuple[bool, int]:
        values = e["constraints"]["allowed_values"]  # type: ignore[index]
        return (any(w in str(e["name"]).lower() for w in named), len(values))  # type: ignore[arg-type]

    typed = sorted(codes, key=rank, reverse=True)
    if typed:
        typed[0].update(role="event_type", required=True)
        event["type"] = str(typed[0]["name"])
    costs = [e for e in entries if e["role"] == "cost"]
    for extra in costs[1:]:
        extra["role"] = "attribute"
    if costs:
        event["cost"] = str(costs[0]["name"])
    return event


def _yaml(value: object) -> str:
    """A YAML flow value; JSON is valid YAML and quotes whatever needs quoting."""
    if isinstance(value, str) and value.replace("_", "").isalnum() and not value[0].isdigit() \
            and value.lower() not in ("y", "n", "yes", "no", "true", "false", "on", "off", "null"):
        return value
    if isinstance(value, list):
        return "[" + ", ".join(_yaml(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_yaml(v)}" for k, v in value.items()) + "}"
    return json.dumps(value, ensure_ascii=False)


def _lines(partner: str, dataset: str, organisation: str, settings: FileSettings, suggestions: list[Suggestion],
           event: dict[str, str], special: list[str], today: date, covers_from: date | None = None) -> Iterator[str]:
    yield "# yaml-language-server: $schema=schema/protocol.schema.json"
    yield f"# DRAFT made by `ptp protocol draft` on {today} from a sample extract. Check every line marked"
    yield f"# {TO_AGREE} and every field below, then follow docs/protocols.md to approve it."
    yield f"id: {partner.replace('_', '-')}-{dataset.replace('_', '-')}"
    yield "version: 1"
    yield f"title: {_yaml(f'{TO_AGREE}: {partner} {dataset}')}"
    yield f"partner: {{id: {partner}, organisation: {_yaml(organisation)}}}"
    yield f"dataset: {dataset}"
    if not any(s.entry.get("identifies") in PERSON_IDENTITY and s.entry["treatment"] != "drop" for s in suggestions):
        yield (f"subject: place  # {TO_AGREE}: no column identifies a person, so rows are taken for places "
               "(premises, addresses) and make no persons")
    yield f"purpose: {_yaml(f'{TO_AGREE}: why this data is shared, in plain words, for the agreement')}"
    if special:
        yield f"# Looks like special-category data ({', '.join(special)}): an Article 9 condition is required."
    yield f"special_category: {'true' if special else 'false'}"
    yield "lawful_basis:"
    yield "  article6: public_task  # " + TO_AGREE
    if special:
        yield f"  article9: {_yaml(f'{TO_AGREE}: e.g. 9(2)(h) health or social care')}"
    yield "status: draft"
    yield f"valid_from: {today}"
    yield f"valid_to: {today + timedelta(days=365)}"
    if covers_from is not None:
        yield (f"data_period: {{start: {covers_from}}}  # {TO_AGREE}: the earliest event date the agreement covers "
               f"(the sample's events start in {covers_from.year}); history before valid_from is allowed")
    yield "signatories: []  # added when the protocol is signed off"
    yield "retention: {raw_extract_days: 30, shared_data_years: 6}"
    yield f"file: {_yaml({'format': 'csv', 'delimiter': settings.delimiter, 'encoding': settings.encoding})}"
    yield "unexpected_columns: reject"
    yield "quarantine_threshold: 0.1"
    yield "fields:"
    for s in suggestions:
        yield f"  # {s.comment}"
        yield f"  - {_yaml(s.entry)}"
    yield f"event: {_yaml(event)}"


def draft_protocol(sample: Path, partner: str, dataset: str, organisation: str | None = None,
                   today: date | None = None) -> str:
    """The text of a draft protocol for `sample` (a CSV extract)."""
    settings = _sniff(sample)
    frame = read_csv_text(sample, settings).head(SAMPLE_ROWS)
    columns = [c for c in frame.columns if c != "source_row"]
    if not columns:
        raise ProtocolError("the sample has no columns", where=Where(file=str(sample)),
                            hint="Use a CSV file with a header row and some data rows.")
    suggestions = [_suggest(profile_column(c, frame[c])) for c in columns]
    event = _event(suggestions)
    texts = [str(s.entry["name"]) for s in suggestions if s.entry["treatment"] != "drop"]
    for s in suggestions:
        constraints = s.entry.get("constraints")
        if isinstance(constraints, dict) and s.entry["treatment"] != "drop":
            texts += [str(v) for v in constraints.get("allowed_values", [])]
    special = categories_in(texts)
    org = organisation or f"{TO_AGREE}: the partner organisation's name"
    return "\n".join(_lines(partner, dataset, org, settings, suggestions, event, special,
                            today or date.today(), _first_event_year(frame, suggestions, event, settings))) + "\n"


def _first_event_year(frame: pd.DataFrame, suggestions: list[Suggestion], event: dict[str, str],
                      settings: FileSettings) -> date | None:
    """1 January of the sample's earliest event year: where the data period may start (history allowed)."""
    if "date" not in event:
        return None
    entry = next(s.entry for s in suggestions if s.entry["name"] == event["date"])
    formats = entry.get("formats") or settings.date_formats
    values = frame[event["date"]].dropna().astype(str).str.strip()
    parsed = parse_dates(values[values != ""], list(formats)).dropna()  # type: ignore[call-overload]
    return date(int(parsed.min().year), 1, 1) if not parsed.empty else None
