"""Leak scan: no raw address line, street, UPRN or full postcode in any table, log, report or Data Docs."""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd
import pytest
from helpers import assert_conserved
from leaks import Identifiers, Scanner, scan_files_with_control, scan_text_with_control, scan_warehouse_with_control

from ptp_pipeline import pipeline
from ptp_pipeline.pathways import rebuild
from ptp_pipeline.pathways.families import families_html, families_section
from ptp_pipeline.runtime import Runtime
from ptp_pipeline.synthetic import SyntheticResult

ADDRESS_COLUMNS = ("address_line1", "address", "home_address")
STREET = (r"([A-Za-z][A-Za-z ]+ (?:Road|Street|Avenue|Lane|Grove|Terrace|Crescent|Drive|Close|Place|Mount|View|"
          r"Walk|Gardens|Square|Court))")


def raw_addresses(synthetic: SyntheticResult) -> Identifiers:
    """Every address line, street (e.g. "Hyde Park Road" from "14 Hyde Park Road"), UPRN and postcode."""
    found = Identifiers()
    for extract in synthetic.extracts:
        frame = pd.read_csv(extract.path, dtype=str, keep_default_na=False)
        for col in (c for c in ADDRESS_COLUMNS if c in frame):
            lines = frame[col][frame[col] != ""]
            streets = lines.str.extract(STREET)[0].dropna()
            found.add("address", [*lines, *(s for s in streets if len(s) > 8)])
        if "uprn" in frame:
            found.add("address", frame["uprn"][frame["uprn"] != ""])
        for col in ("postcode", "home_postcode"):
            if col in frame:
                found.add("postcode", frame[col])
    return found


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
    assert len(raw.by_kind["address"]) > 300 and len(raw.by_kind["postcode"]) > 100
    scanner = Scanner(raw)
    assert rt.warehouse.scalar("SELECT count(*) FROM shared.household") > 100
    leaks = scan_warehouse_with_control(rt.warehouse, scanner)
    report = families_html(families_section(rt.warehouse, rt.project), rt.project.top_share)
    assert "Priority families" in report
    leaks += scan_text_with_control(log_text, "log", scanner)
    leaks += scan_text_with_control(report, "families report", scanner)
    docs = [p for p in Path(rt.settings.docs_dir).rglob("*") if p.is_file() and p.suffix in (".html", ".json")]
    assert docs, "Data Docs were built"
    leaks += scan_files_with_control(docs, docs[0].parent, scanner)
    assert not leaks, leaks[:5]
