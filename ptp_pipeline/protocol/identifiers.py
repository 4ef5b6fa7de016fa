"""Column names that say "this identifies a person": one list for drafting and for validation.

A draft must never propose to keep such a column in clear, and `ptp protocol validate` refuses a
protocol that keeps one or makes it the event's date, type, cost or setting (unless the field
carries a written `not_identifying_because:` justification, which the agreement shows to signatories).
Names are compared as words: `DateOfBirth`, `date_of_birth`, `Date of Birth` and `DOB` all read
"date of birth"; `address_type` is not an address line.
"""

from __future__ import annotations

import re

#: kind -> (what it is in words, pattern over the spaced lower-case name)
IDENTIFIER_NAMES: dict[str, tuple[str, re.Pattern[str]]] = {
    "date_of_birth": ("a date of birth", re.compile(
        r"\b(d ?o ?b|date of birth|dt of birth|birth ?date|birth ?day|date born|born( on)?)\b")),
    "surname": ("a surname", re.compile(r"\b(surname|last ?name|family ?name|maiden ?name)\b")),
    "forename": ("a forename", re.compile(r"\b(forenames?|first ?names?|given ?names?|christian ?names?)\b")),
    "full_name": ("a person's name", re.compile(r"^(name|full ?name|client ?name|person ?name|patient ?name|"
                                                r"learner ?name|pupil ?name|customer ?name)$")),
    "ni_number": ("a National Insurance number", re.compile(
        r"\b(ni ?(number|no|num|nbr)|nino|national insurance( number| no)?)\b")),
    "learner_number": ("a learner or pupil number", re.compile(
        r"\b(uln|upn|unique (learner|pupil)( number| no)?|(learner|pupil|student) ?(number|no|ref|reference|id))\b")),
    "nhs_number": ("an NHS number", re.compile(r"\bnhs ?(number|no|num)?\b")),
    "address_line": ("an address", re.compile(r"\b(address( line)?( ?\d)?|street|house (number|name))$")),
    "postcode": ("a postcode", re.compile(r"\bpost ?code\b")),
    "contact": ("contact details", re.compile(r"\b(e ?mail|phone|mobile|telephone|tel ?no)\b")),
    "free_text": ("free text (which can name people)", re.compile(
        r"\b(notes?|comments?|narrative|free ?text|remarks?|summary|description of (incident|event))\b")),
}


def spaced(name: str) -> str:
    """`DateOfBirth` / `date_of_birth` / `Date-of-Birth` -> `date of birth`."""
    text = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", name)
    text = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1 \2", text)
    return re.sub(r"[^a-z0-9]+", " ", text.lower()).strip()


def identifier_kind(name: str) -> str | None:
    """Which kind of identifier a column's name says it holds, or None."""
    words = spaced(name)
    for kind, (_, pattern) in IDENTIFIER_NAMES.items():
        if pattern.search(words):
            return kind
    return None


def identifier_words(kind: str) -> str:
    return IDENTIFIER_NAMES[kind][0]
