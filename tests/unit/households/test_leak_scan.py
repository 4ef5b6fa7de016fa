"""Leak scan: no raw address line, street, UPRN or full postcode in any table, log, report or Data Docs."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pandas as pd
import pytest
from helpers import assert_conserved

from ptp_pipeline import pipeline
from ptp_pipeline.pathways import rebuild
from ptp_pipeline.pathways.families import families_html, families_section
from ptp_pipeline.runtime import Runtime
from ptp_pipeline.synthetic import SyntheticResult

ADDRESS_COLUMNS = ("address_line1", "address", "home_address")
POSTCODE = re.compile(r"\b[A-Z]{1,2}[0-9][A-Z0-9]? ?[0-9][A-Z]{2}\b", re.IGNORECASE)
DIGITS = re.compile(r"\d{9,12}")


def raw_addresses(synthetic: SyntheticResult) -> dict[str, set[str]]:
    """Every address line, street (as written and upper case), UPRN and full postcode in the extracts."""
    found: dict[str, set[str]] = {"line": set(), "street": set(), "uprn": set(), "postcode": set()}
    for extract in synthetic.extracts:
        frame = pd.read_csv(extract.path, dtype=str, keep_default_na=False)
        for col in (c for c in ADDRESS_COLUMNS if c in frame):
            lines = frame[col][frame[col] != ""]
            found["line"] |= set(lines) | set(lines.str.upper())
            # "14 Hyde Park Road" -> "Hyde Park Road": the street with its type word
            streets = lines.str.extract(r"([A-Za-z][A-Za-z ]+ (?:Road|Street|Avenue|Lane|Grove|Terrace|Crescent|"
                                        r"Drive|Close|Place|Mount|View|Walk|Gardens|Square|Court))")[0].dropna()
            found["street"] |= set(streets) | set(streets.str.upper())
        if "uprn" in frame:
            found["uprn"] |= set(frame["uprn"][frame["uprn"] != ""])
        for col in ("postcode", "home_postcode"):
            if col in frame:
                squashed = frame[col].str.upper().str.replace(" ", "", regex=False)
                squashed = squashed[squashed.str.len() >= 5]
                found["postcode"] |= set(squashed) | set(squashed.str[:-3] + " " + squashed.str[-3:])
    return found


def leaks_in(text: str, raw: dict[str, set[str]]) -> list[str]:
    """Which kinds of raw address value occur in ``text`` (candidates found by pattern, then looked up)."""
    out = [f"postcode {m}" for m in {m.upper() for m in POSTCODE.findall(text)} if m in raw["postcode"]]
    out += [f"uprn {m}" for m in set(DIGITS.findall(text)) if m in raw["uprn"]]
    upper = text.upper()
    out += [f"street {s}" for s in raw["street"] if len(s) > 8 and s.upper() in upper]
    return out


@pytest.fixture
def ingested(rt: Runtime, synthetic: SyntheticResult, caplog: pytest.LogCaptureFixture) -> tuple[Runtime, str]:
    caplog.set_level(logging.DEBUG)
    for extract in synthetic.extracts:
        assert pipeline.ingest(rt, extract.path, extract.partner, extract.dataset).status == "merged"
    assert_conserved(rt)
    rebuild(rt)
    return rt, caplog.text


def test_no_raw_address_anywhere(ingested: tuple[Runtime, str], synthetic: SyntheticResult) -> None:
    rt, log_text = ingested
    raw = raw_addresses(synthetic)
    assert all(len(v) > 100 for v in raw.values()), {k: len(v) for k, v in raw.items()}
    for kind in ("postcode", "uprn", "street"):  # the scanner can see each kind of leak
        assert leaks_in(f"x {sorted(raw[kind])[0]} y", raw), kind
    assert rt.warehouse.scalar("SELECT count(*) FROM shared.household") > 100
    leaks: list[str] = []
    for schema, table in rt.warehouse.tables():
        if (schema, table) == ("restricted", "vault"):
            continue  # encrypted: the one sealed place an address may rest
        frame = rt.warehouse.query(f"SELECT * FROM {schema}.{table}")
        for col in frame.columns:
            values = frame[col].dropna().astype(str)
            exact = set(values) & (raw["line"] | raw["uprn"] | raw["postcode"])
            leaks += [f"{schema}.{table}.{col} holds a raw address value" for _ in exact]
            leaks += [f"{schema}.{table}.{col}: {k}" for k in leaks_in("\n".join(values), raw)]
    report = families_html(families_section(rt.warehouse, rt.project), rt.project.top_share)
    assert "Priority families" in report
    for name, text in [("log", log_text), ("families report", report)]:
        leaks += [f"{name}: {k}" for k in leaks_in(text, raw)]
        leaks += [f"{name} holds an address line" for line in raw["line"] if len(line) > 12 and line in text]
    docs = [p for p in Path(rt.settings.docs_dir).rglob("*") if p.is_file() and p.suffix in (".html", ".json")]
    assert docs, "Data Docs were built"
    for path in docs:
        leaks += [f"Data Docs {path.name}: {k}" for k in leaks_in(path.read_text(errors="replace"), raw)]
    assert not leaks, leaks[:5]
