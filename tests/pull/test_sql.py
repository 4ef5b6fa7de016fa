"""Pull from a partner database (MariaDB and PostgreSQL on loopback): incremental, minimised, exactly once."""

from __future__ import annotations

import csv
from datetime import date, datetime
from pathlib import Path

import pytest
from helpers import assert_conserved, ledger
from pull_servers import ALLOWED, PartnerDb, insert_rows, write_protocol_with_source

from ptp_pipeline.cli import main
from ptp_pipeline.pull import pull
from ptp_pipeline.runtime import Runtime
from ptp_pipeline.settings import load_settings
from ptp_pipeline.synthetic import SyntheticResult

SOURCE = """
source:
  kind: sql
  conn_id: partner_db
  table: contacts
  watermark: contact_date
  chunk_rows: 100
"""


def council_rows(synthetic: SyntheticResult) -> list[dict[str, object]]:
    """The synthetic council extract as the partner's table holds it (dates as DATE, notes filled in)."""
    extract = next(e for e in synthetic.extracts if e.partner == "council")
    rows: list[dict[str, object]] = []
    with extract.path.open(newline="", encoding="utf-8") as fh:
        for r in csv.DictReader(fh):
            try:
                contact = datetime.strptime(r["contact_date"], "%d/%m/%Y").date()
            except ValueError:
                continue  # a DATE column cannot hold a bad date
            rows.append({**r, "contact_date": contact, "social_worker_notes": "SENSITIVE free text"})
    return rows


def use_db(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, conn_json: str) -> Runtime:
    monkeypatch.setenv("PTP_PROTOCOLS_DIR", str(write_protocol_with_source(tmp_path / "protocols",
                                                                             "council_contacts.yaml", SOURCE)))
    monkeypatch.setenv("AIRFLOW_CONN_PARTNER_DB", conn_json)
    return Runtime(load_settings())


def header_of(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines()[0].split(",")


def test_incremental_pull_by_watermark_reads_only_allowed_columns(
        env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, partner_db: PartnerDb,
        synthetic: SyntheticResult, capsys: pytest.CaptureFixture[str]) -> None:
    rows = council_rows(synthetic)
    cut = date(2024, 10, 1)
    first = [r for r in rows if r["contact_date"] < cut]  # type: ignore[operator]
    later = [r for r in rows if r["contact_date"] >= cut]  # type: ignore[operator]
    assert first and later
    insert_rows(partner_db, first)
    # The reader login may SELECT the protocol's columns only (column-level grants): a pull that asked
    # for social_worker_notes, or for *, would be refused by the database itself.
    rt = use_db(monkeypatch, tmp_path, partner_db.conn_json())
    try:
        landed = pull(rt, "council", "contacts", ingest=False)
        (name,) = landed.landed
        path = rt.settings.landing_dir / "council" / "contacts" / name
        assert header_of(path) == ALLOWED
        assert "SENSITIVE" not in path.read_text()
        # Landed but not yet recorded: the watermark has not moved, and no new range is pulled.
        assert rt.warehouse.scalar("SELECT count(*) FROM ops.pull_watermark") == 0
        again = pull(rt, "council", "contacts", ingest=False)
        assert again.landed == [] and "waiting to be ingested" in again.skipped[0]
    finally:
        rt.close()

    assert main(["pull", "council", "contacts"]) == 0  # ingests the waiting range; pulls nothing new
    capsys.readouterr()
    try:
        (row,) = ledger(rt)
        assert row["status"] == "merged" and row["rows_received"] == len(first)
        assert str(row["source"]).startswith("sql:partner_db:contacts (-inf, ")
        max_first = max(r["contact_date"] for r in first)  # type: ignore[type-var]
        assert rt.warehouse.scalar("SELECT watermark FROM ops.pull_watermark") == str(max_first)
    finally:
        rt.close()

    assert main(["pull", "council", "contacts"]) == 0
    assert "Pulled 0 new extract(s)" in capsys.readouterr().out
    insert_rows(partner_db, later)
    assert main(["pull", "council", "contacts"]) == 0
    assert "Pulled 1 new extract(s)" in capsys.readouterr().out
    try:
        rows_ledger = ledger(rt)
        assert len(rows_ledger) == 2
        newest = next(r for r in rows_ledger if r["extract_id"] != row["extract_id"])
        assert newest["rows_received"] == len(later)
        assert str(newest["source"]).startswith(f"sql:partner_db:contacts ({max_first}, ")
        assert rt.warehouse.scalar("SELECT watermark FROM ops.pull_watermark") == str(
            max(r["contact_date"] for r in later))  # type: ignore[type-var]
        assert_conserved(rt)
    finally:
        rt.close()


def test_refused_login_is_clear_and_names_the_connection(
        env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, partner_db: PartnerDb,
        capsys: pytest.CaptureFixture[str]) -> None:
    secret = "not-the-password-" + partner_db.name[-6:]
    login = partner_db.reader if partner_db.kind == "mysql" else partner_db.reader + "_unknown"
    rt = use_db(monkeypatch, tmp_path, partner_db.conn_json(login=login, password=secret))
    rt.close()
    assert main(["pull", "council", "contacts"]) == 7
    stderr = capsys.readouterr().err
    assert "Login refused" in stderr
    assert "the partner database refused the login of connection 'partner_db'" in stderr
    assert "Traceback" not in stderr and secret not in stderr
    assert not (rt.settings.landing_dir / "council" / "contacts").exists()
