"""`ptp demo` end to end: conservation, repeatability and the leak scan over the whole warehouse."""

from __future__ import annotations

import re
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from helpers import assert_conserved

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


def _identifiers(landing: Path) -> dict[str, set[str]]:
    """Every raw direct identifier in the inputs, in the forms it could leak in."""
    found: dict[str, set[str]] = {"nhs": set(), "name": set(), "postcode": set(), "dob": set()}
    columns = {
        "nhs": ["nhs_number"], "name": ["forename", "surname", "given_name", "family_name", "forenames"],
        "postcode": ["postcode", "home_postcode"], "dob": ["date_of_birth", "dob", "birth_date"],
    }
    for path in landing.rglob("*.csv"):
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
        for kind, names in columns.items():
            for col in (c for c in names if c in frame):
                values = frame[col].str.strip()
                values = values[values != ""]
                found[kind] |= set(values)
                if kind == "nhs":
                    found[kind] |= set(values.str.replace(r"\D", "", regex=True))
                if kind == "postcode":
                    squashed = values.str.upper().str.replace(" ", "", regex=False)
                    found[kind] |= set(squashed) | set(squashed.str[:-3] + " " + squashed.str[-3:])
                if kind == "name":
                    found[kind] |= set(values.str.upper())
                if kind == "dob":
                    found[kind] |= set(pd.to_datetime(values, format="%Y-%m-%d", errors="coerce")
                                       .dropna().dt.strftime("%Y-%m-%d"))
                    found[kind] |= set(pd.to_datetime(values, format="%d/%m/%Y", errors="coerce")
                                       .dropna().dt.strftime("%Y-%m-%d"))
    return found


def test_no_raw_identifier_anywhere_in_the_warehouse(demo_home: tuple[Path, str]) -> None:
    home, _ = demo_home
    identifiers = _identifiers(home / "demo" / "landing")
    assert all(len(v) > 50 for v in identifiers.values()), {k: len(v) for k, v in identifiers.items()}
    names = {n for n in identifiers["name"] if len(n) >= 3}
    long_ids = identifiers["nhs"] | identifiers["postcode"] | identifiers["dob"]
    long_ids = {v for v in long_ids if len(v) >= 6}
    leaks: list[str] = []
    scanned = 0
    for table, frame in snapshot(home / "ptp.duckdb").items():
        for col in frame.columns:
            if frame[col].dtype != object:
                continue
            present = frame[col].dropna()
            if len(present) and isinstance(present.iloc[0], bytes | bytearray | memoryview):
                continue  # ciphertext (restricted.vault): random bytes, checked in tests/unit/privacy
            values = present.astype(str)
            scanned += len(values)
            exact = set(values) & (identifiers["nhs"] | identifiers["postcode"] | identifiers["dob"] | names)
            leaks += [f"{table}.{col} holds an identifier value" for _ in exact]
            words = set(re.findall(r"[A-Za-z][A-Za-z'\-]+", " ".join(values.str.upper())))
            leaks += [f"{table}.{col} holds a name" for _ in words & names]
            joined = "\n".join(values)
            leaks += [f"{table}.{col} contains an identifier" for v in long_ids if v in joined]
    assert scanned > 1000
    assert not leaks, leaks[:5]
    raw = (home / "ptp.duckdb").read_bytes()
    nhs_numbers = {v for v in identifiers["nhs"] if re.fullmatch(r"\d{10}", v)}
    assert not [v for v in nhs_numbers if v.encode() in raw]
