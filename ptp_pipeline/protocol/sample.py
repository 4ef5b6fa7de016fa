"""`ptp protocol sample ID --rows N`: dummy data that conforms to a protocol, for partners to test
their export before sending real data.

Every value is made up: NHS numbers from the 999 test range (valid check digit, never issued),
names like `Test1`, postcodes of one fictitious form per area, dates inside the protocol's data
period, codes from its agreed lists, numbers inside its limits. Patterns are followed for the
simple forms protocols use (`^C[0-9]{7}$`); a field whose pattern is too complex gets a warning.
"""

from __future__ import annotations

import csv
import io
import random
import re
import string
from datetime import date, timedelta

from ptp_pipeline.protocol.model import EXCEL_FORMAT, FieldSpec, FieldType, Identifies, Protocol

_POSTCODES = ["LS1 1AA", "LS6 2AB", "LS2 9JT", "BD1 1AA", "WF1 1AA", "HX1 1AA", "HD1 1AA", "YO1 7HH"]
_TOKEN = re.compile(r"\\d|\\w|\[[^\]]+\]|\\.|.")
_CLASSES = {r"\d": string.digits, r"\w": string.ascii_letters + string.digits}


def _from_class(text: str) -> str:
    """The characters a `[...]` class allows (ranges and literals; negation is not supported)."""
    body, chars, i = text[1:-1], [], 0
    while i < len(body):
        if i + 2 < len(body) and body[i + 1] == "-":
            chars += [chr(c) for c in range(ord(body[i]), ord(body[i + 2]) + 1)]
            i += 3
        else:
            chars.append(body[i])
            i += 1
    return "".join(chars)


def from_pattern(pattern: str, rng: random.Random) -> str | None:
    """A string matching a simple regular expression, or None if the pattern is beyond this generator."""
    body = pattern.removeprefix("^").removesuffix("$")
    if "|" in body or "(" in body or body.startswith("[^") or "[^" in body:
        return None
    out, pos = [], 0
    while pos < len(body):
        token = _TOKEN.match(body, pos)
        if token is None:
            return None
        pos = token.end()
        atom = token.group()
        pool = _CLASSES.get(atom) or (_from_class(atom) if atom.startswith("[") else atom.lstrip("\\"))
        low, high = 1, 1
        count = re.match(r"\{(\d+)(?:,(\d*))?\}|[?*+]", body[pos:])
        if count:
            pos += count.end()
            if count.group() == "?":
                low, high = 0, 1
            elif count.group() in "*+":
                low, high = (0 if count.group() == "*" else 1), 3
            else:
                low = int(count.group(1))
                high = int(count.group(2)) if count.group(2) else (low if count.group(2) is None else low + 3)
        out.append("".join(rng.choice(pool) for _ in range(rng.randint(low, high))))
    text = "".join(out)
    return text if re.fullmatch(pattern, text) else None


def _nhs_number(rng: random.Random) -> str:
    while True:
        digits = [9, 9, 9] + [rng.randint(0, 9) for _ in range(6)]
        check = 11 - sum(d * w for d, w in zip(digits, range(10, 1, -1), strict=True)) % 11
        if check == 11:
            check = 0
        if check != 10:
            return "".join(map(str, digits)) + str(check)


def _date_text(day: date, fmt: str) -> str:
    return str((day - date(1899, 12, 30)).days) if fmt == EXCEL_FORMAT else day.strftime(fmt)


def _value(spec: FieldSpec, p: Protocol, i: int, rng: random.Random, today: date) -> str:
    c = spec.constraints
    if spec.type is FieldType.nhs_number:
        return _nhs_number(rng)
    if spec.type is FieldType.uk_postcode:
        return rng.choice(_POSTCODES)
    if spec.type in (FieldType.date, FieldType.datetime):
        fmt = (spec.formats or p.file.date_formats)[0]
        if spec.identifies is Identifies.date_of_birth:
            day = date(1950, 1, 1) + timedelta(days=rng.randint(0, 365 * 55))
        else:
            first, last = p.covers_from, min(p.covers_to, today)
            day = first + timedelta(days=rng.randint(0, max((last - first).days, 0)))
        return _date_text(day, fmt)
    if c.allowed_values:
        return rng.choice(c.allowed_values)
    if spec.type in (FieldType.integer, FieldType.decimal):
        low, high = (c.min if c.min is not None else 0), (c.max if c.max is not None else 1000)
        number = rng.uniform(low, min(high, low + 1000))
        return str(int(number)) if spec.type is FieldType.integer else f"{number:.2f}"
    if spec.type is FieldType.boolean:
        return rng.choice(["true", "false"])
    if spec.identifies is Identifies.uprn:
        return str(rng.randint(10**11, 10**12 - 1))
    if c.pattern:
        made = from_pattern(c.pattern, rng)
        if made is not None:
            return made
    names = {Identifies.forename: f"Test{i % 50}", Identifies.surname: f"Sample{i % 70}",
             Identifies.address_line: f"{1 + i % 90} Test Street", Identifies.local_id: f"ID{i:07d}",
             Identifies.sex: rng.choice(["M", "F"])}
    text = names.get(spec.identifies, f"text {i}") if spec.identifies else f"text {i}"
    return text[: c.max_length] if c.max_length else text


def sample_rows(protocol: Protocol, rows: int, seed: int = 17, today: date | None = None) -> tuple[str, list[str]]:
    """CSV text of `rows` dummy rows in the protocol's file settings, and warnings for fields it could not fill."""
    rng, day = random.Random(seed), today or date.today()
    warnings = [f"field '{f.name}': its pattern is too complex to follow; the dummy values may not match it"
                for f in protocol.fields if f.constraints.pattern and f.type in (FieldType.string, FieldType.code)
                and not f.constraints.allowed_values and from_pattern(f.constraints.pattern, rng) is None]
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=protocol.file.delimiter, lineterminator="\n")
    writer.writerow([f.name for f in protocol.fields])
    for i in range(rows):
        writer.writerow([_value(f, protocol, i, rng, day) for f in protocol.fields])
    return buffer.getvalue(), warnings
