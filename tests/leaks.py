"""One leak scanner for every leak test (importable as `leaks`; tests/ is on pytest's pythonpath).

A scan looks for raw direct identifiers (names, NHS numbers, dates of birth, postcodes, address
lines) in the forms they could take anywhere: text is cut into words and every run of up to six
words is looked up, so "943 476 5919", "9434765919", "LS6 2AB", "LS62AB", "1980-02-18", "18/02/1980"
and "14 Hyde Park Road" are each found inside longer text, in any case. Tables are scanned column by
column whatever the type: a date of birth in a DATE column or an NHS number in an integer column is
read as text like any other value.

Every leak test first plants `PLANTED` into each kind of place it scans and must find every kind
there (`assert_finds_planted`), so a scan that looks in the wrong place, or at the wrong columns,
fails instead of passing on nothing.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd

from ptp_pipeline.warehouse.base import Warehouse

_WORD = re.compile(r"[^\W_][\w'/\-.]*")  # any script: a name may be written "Ŀúçïńdà"
_LONGEST = 6  # words in the longest identifier looked for (an address line)
#: Sealed at rest: ciphertext only (tests/unit/privacy checks the vault holds nothing readable).
SEALED = {("restricted", "vault"), ("restricted", "vault_record")}


def _canonical(text: str) -> str:
    return " ".join(w.rstrip(".'-") for w in _WORD.findall(text.upper()))


def nhs_forms(number: str) -> set[str]:
    digits = re.sub(r"\D", "", number)
    if len(digits) != 10:
        return {number}
    spaced = f"{digits[:3]} {digits[3:6]} {digits[6:]}"
    return {digits, spaced, spaced.replace(" ", "-"), spaced.replace(" ", "."), digits.lstrip("0") or "0"}


def postcode_forms(postcode: str) -> set[str]:
    squashed = postcode.upper().replace(" ", "")
    return {squashed, f"{squashed[:-3]} {squashed[-3:]}"} if len(squashed) >= 5 else set()


def date_forms(day: date) -> set[str]:
    return {day.isoformat(), day.strftime("%d/%m/%Y"), day.strftime("%d-%m-%Y"), day.strftime("%Y%m%d")}


@dataclass
class Identifiers:
    """Raw identifier values by kind; `add_*` adds every form a value could leak in."""

    by_kind: dict[str, set[str]] = field(default_factory=lambda: {k: set() for k in KINDS})

    def __post_init__(self) -> None:
        self.by_kind = defaultdict(set, self.by_kind)

    def add(self, kind: str, values: Iterable[object]) -> Identifiers:
        for value in values:
            if value is None or (not isinstance(value, str | date) and pd.isna(value)):
                continue
            if kind == "nhs":
                forms = nhs_forms(str(value))
            elif kind == "postcode":
                forms = postcode_forms(str(value))
            elif kind == "dob":
                day = value if isinstance(value, date) else pd.to_datetime(str(value), dayfirst="/" in str(value),
                                                                           errors="coerce")
                forms = {str(value)} if pd.isna(day) else date_forms(pd.Timestamp(day).date())
            else:
                forms = {str(value)}
            self.by_kind[kind] |= {c for c in (_canonical(f) for f in forms) if len(c.replace(" ", "")) >= 3}
        return self

    def __len__(self) -> int:
        return sum(len(v) for v in self.by_kind.values())


KINDS = ("name", "nhs", "dob", "postcode", "address")


@dataclass(frozen=True)
class Planted:
    """Known raw values, planted into each place a leak test scans before it scans the real output."""

    name: str = "Quillon Zaffaroni"
    nhs: str = "4857773457"  # valid: 4*10+8*9+5*8+7*7+7*6+7*5+3*4+4*3+5*2 = 312 = 28*11 + 4; 11 - 4 = 7
    dob: date = date(1931, 7, 19)
    postcode: str = "WF17 9QX"
    address: str = "17 Quarrendon Crescent"

    def identifiers(self) -> Identifiers:
        ids = Identifiers()
        for kind in KINDS:
            ids.add(kind, [getattr(self, kind)])
        return ids

    def text(self) -> str:
        """A log line or page quoting every planted value in a common layout."""
        return (f"person {self.name}, NHS {self.nhs[:3]} {self.nhs[3:6]} {self.nhs[6:]} born {self.dob:%d/%m/%Y}, "
                f"living at {self.address}, {self.postcode}.")

    def frame(self) -> pd.DataFrame:
        """One row, one column per kind, each in a type it may be stored in (DATE, BIGINT, text)."""
        return pd.DataFrame({"name": [self.name], "nhs": [int(self.nhs)], "dob": [self.dob],
                             "postcode": [self.postcode], "address": [self.address]})


PLANTED = Planted()


def synthetic_identifiers(synthetic: Any) -> Identifiers:
    """The raw identifiers of a synthetic partnership's people (a SyntheticResult)."""
    persons = synthetic.persons
    found = Identifiers().add("nhs", persons["nhs_number"]).add("postcode", persons["postcode"])
    return found.add("dob", persons["date_of_birth"]).add("name", persons["forename"] + " " + persons["surname"])


class Scanner:
    """Finds identifiers (and always `PLANTED`) in text, files, frames and whole warehouses; returns where
    and which kind, never the value."""

    def __init__(self, identifiers: Identifiers) -> None:
        planted = PLANTED.identifiers().by_kind.items()
        self.kind_of = {v: kind for kind, values in [*identifiers.by_kind.items(), *planted] for v in values}

    def kinds_in(self, text: str) -> set[str]:
        words = [w.rstrip(".'-") for w in _WORD.findall(text.upper())]
        found: set[str] = set()
        for i in range(len(words)):
            for n in range(1, _LONGEST + 1):
                kind = self.kind_of.get(" ".join(words[i:i + n]))
                if kind is not None:
                    found.add(kind)
        for run in (w for w in words if len(w) > 10 and w.isdigit()):  # an NHS number inside a longer number
            found |= {self.kind_of[run[i:i + 10]] for i in range(len(run) - 9) if run[i:i + 10] in self.kind_of}
        return found

    def text(self, text: str, where: str) -> list[str]:
        return [f"{where}: {kind}" for kind in sorted(self.kinds_in(text))]

    def files(self, paths: Iterable[Path]) -> list[str]:
        return [leak for p in paths if p.is_file() for leak in self.text(p.read_text(errors="replace"), str(p))]

    def frame(self, frame: pd.DataFrame, where: str) -> list[str]:
        """Each distinct value of each column on its own (so no match runs from one row into the next)."""
        leaks = []
        for col in frame.columns:
            values = {bytes(v).decode("latin-1") if isinstance(v, bytes | bytearray | memoryview) else str(v)
                      for v in frame[col].dropna()}
            kinds = set().union(*(self.kinds_in(v) for v in values)) if values else set()
            leaks += [f"{where}.{col}: {kind}" for kind in sorted(kinds)]
        return leaks

    def warehouse(self, wh: Warehouse, *, skip: set[tuple[str, str]] = SEALED) -> list[str]:
        """Every column of every table in shared, ops and restricted (but `skip`), whatever its type."""
        leaks = []
        for schema, table in wh.tables():
            if (schema, table) not in skip:
                leaks += self.frame(wh.query(f"SELECT * FROM {schema}.{table}"), f"{schema}.{table}")
        return leaks


def assert_finds_planted(leaks: list[str], where: str = "") -> None:
    """The control: a scan over places holding `PLANTED` found every kind of identifier (in `where`)."""
    found = {leak.rsplit(": ", 1)[1] for leak in leaks if where in leak}
    assert found == set(KINDS), f"the scan missed planted {sorted(set(KINDS) - found)} in {where or 'its places'}"


@contextmanager
def planted_table(wh: Warehouse, schema: str = "shared") -> Iterator[str]:
    """A table holding `PLANTED` with typed columns (VARCHAR, BIGINT, DATE), dropped afterwards."""
    name = f"{schema}.zz_planted_leak"
    wh.execute(f"CREATE TABLE {name} (name VARCHAR, nhs BIGINT, dob DATE, postcode VARCHAR, address VARCHAR)")
    try:
        wh.insert_frame(name, PLANTED.frame())
        yield name
    finally:
        wh.execute(f"DROP TABLE {name}")


def scan_warehouse_with_control(wh: Warehouse, scanner: Scanner) -> list[str]:
    """Plant a typed table, prove the scan finds it, drop it, then scan the real warehouse."""
    with planted_table(wh) as name:
        assert_finds_planted(scanner.warehouse(wh), name)
    return scanner.warehouse(wh)


def scan_files_with_control(paths: list[Path], folder: Path, scanner: Scanner, suffix: str = ".html") -> list[str]:
    """Plant a page among `paths`' kind of files in `folder`, prove the scan finds it, then scan `paths`."""
    plant = folder / f"zz_planted_leak{suffix}"
    plant.write_text(f"<html><body><p>{PLANTED.text()}</p></body></html>", encoding="utf-8")
    try:
        assert_finds_planted(scanner.files([*paths, plant]), plant.name)
    finally:
        plant.unlink()
    return scanner.files(paths)


def scan_text_with_control(text: str, where: str, scanner: Scanner) -> list[str]:
    """Prove the scan finds `PLANTED` quoted in this kind of text (a log line, a report), then scan it."""
    assert_finds_planted(scanner.text(f"{text}\n{PLANTED.text()}", where), where)
    return scanner.text(text, where)
