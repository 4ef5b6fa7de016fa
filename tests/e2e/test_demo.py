"""`ptp demo` end to end: conservation, repeatability and the leak scan over the whole warehouse."""

from __future__ import annotations

import re
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from helpers import assert_conserved
from leaks import Identifiers, Scanner, scan_warehouse_with_control

from ptp_pipeline.cli import main
from ptp_pipeline.runtime import Runtime
from ptp_pipeline.settings import load_settings

PERSONS = "400"


@pytest.fixture
def demo_home(env: dict[str, str], capsys: pytest.CaptureFixture[str]) -> tuple[Path, str]:
    assert main(["demo", "--persons", PERSONS, "--seed", "11"]) == 0
    return Path(env["PTP_HOME"]), capsys.readouterr().out


def snapshot(db: Path) -> dict[str, pd.DataFrame]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        tables = con.execute("SELECT table_schema, table_name FROM information_schema.tables "
                             "WHERE table_schema IN ('shared','ops','restricted','research')").fetchall()
        return {f"{s}.{t}": con.execute(f"SELECT * FROM {s}.{t} ORDER BY ALL").df() for s, t in tables}
    finally:
        con.close()


def test_demo_prints_summary_and_conserves_rows(demo_home: tuple[Path, str], env: dict[str, str]) -> None:
    _, out = demo_home
    for expected in ("council_contacts_", "health_attendances_", "police_incidents_", "merged",
                     "Persons known to 2 or more agencies", "Share of cost carried by the top 20% of persons",
                     "priority families (top 20% of households by combined cost) carry",
                     "Data Docs: file://"):
        assert expected in out, expected
    rt = Runtime(load_settings(env))
    try:
        assert_conserved(rt)
        persons = rt.warehouse.scalar("SELECT count(*) FROM shared.person")
        assert 300 < persons < 600, "400 synthetic people should link to roughly 400 persons"
    finally:
        rt.close()


def test_demo_twice_leaves_the_same_tables(demo_home: tuple[Path, str], capsys: pytest.CaptureFixture[str]) -> None:
    home, _ = demo_home
    before = snapshot(home / "ptp.duckdb")
    assert main(["demo", "--persons", PERSONS, "--seed", "11"]) == 0
    assert "already_merged" in capsys.readouterr().out
    after = snapshot(home / "ptp.duckdb")
    assert before.keys() == after.keys()
    for name in before:
        pd.testing.assert_frame_equal(before[name], after[name], obj=name)


def _identifiers(landing: Path) -> Identifiers:
    """Every raw direct identifier in the inputs (the scanner adds the forms each could leak in)."""
    found = Identifiers()
    columns = {
        "nhs": ["nhs_number"], "postcode": ["postcode", "home_postcode"], "dob": ["date_of_birth", "dob", "birth_date"],
        "address": ["address_line1", "address", "home_address"],
    }
    # Full names: a lone surname such as "Price" is also an everyday word the report may use.
    full_names = [("forename", "surname"), ("forenames", "surname"), ("given_name", "family_name")]
    for path in landing.rglob("*.csv"):
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
        for kind, names in columns.items():
            for col in (c for c in names if c in frame):
                values = frame[col].str.strip()
                found.add(kind, values[values != ""])
        for first, last in ((f, s) for f, s in full_names if f in frame and s in frame):
            found.add("name", (frame[first].str.strip() + " " + frame[last].str.strip()).str.strip())
    return found


def test_no_raw_identifier_anywhere_in_the_warehouse(demo_home: tuple[Path, str], env: dict[str, str]) -> None:
    home, _ = demo_home
    identifiers = _identifiers(home / "demo" / "landing")
    assert all(len(v) > 50 for v in identifiers.by_kind.values()), {k: len(v) for k, v in identifiers.by_kind.items()}
    scanner = Scanner(identifiers)
    rt = Runtime(load_settings(env))
    try:
        leaks = scan_warehouse_with_control(rt.warehouse, scanner)
        assert len(rt.warehouse.tables()) > 20
    finally:
        rt.close()
    assert not leaks, leaks[:5]
    raw = (home / "ptp.duckdb").read_bytes()
    nhs_numbers = {v for v in identifiers.by_kind["nhs"] if re.fullmatch(r"\d{10}", v)}
    assert not [v for v in nhs_numbers if v.encode() in raw]
