"""README claims about opt-out and export, each checked for its answer, not just its exit code.

- "every event of theirs from a health partner is removed, including ones linked without an NHS number,
  and later ingests withhold them"
- "`ptp optout count`" tells how many NHS numbers are on the list
- "each [export file is] written to a temporary name first so a reader never sees half a file"
- exports hold no raw identifier (the leak scan, with its planted control)
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
from helpers import assert_conserved, ledger, write_csv
from leaks import PLANTED, Identifiers, Scanner, assert_finds_planted, planted_table

from ptp_pipeline import pipeline
from ptp_pipeline.cli import main
from ptp_pipeline.privacy.nhs_number import check_digit
from ptp_pipeline.runtime import Runtime
from ptp_pipeline.warehouse.export import export

POLICE = ["surname", "forenames", "birth_date", "home_postcode", "sex", "nhs_number", "occurred_on",
          "incident_type", "estimated_cost"]
HEALTH = ["nhs_number", "given_name", "family_name", "dob", "postcode", "sex", "attendance_date", "activity",
          "alcohol_related", "drug_related", "tariff_cost"]


def valid_nhs(stem: int) -> str:
    while check_digit(str(stem)) is None:
        stem += 1
    return f"{stem}{check_digit(str(stem))}"


NHS_A, NHS_B, NHS_C = valid_nhs(401023210), valid_nhs(401023220), valid_nhs(401023230)


def attendance(nhs: str, given: str, family: str, dob: str, day: str) -> list[str]:
    return [nhs, given, family, dob, "LS6 2AB", "F", day, "ae_attendance", "N", "N", "250.00"]


def health_events(rt: Runtime) -> pd.DataFrame:
    return rt.warehouse.query("SELECT person_id, event_date FROM shared.pathway_event WHERE agency = 'health' "
                              "ORDER BY event_date")


def test_optout_removes_events_linked_without_an_nhs_number(wh_rt: Runtime, tmp_path: Path) -> None:
    rows = [attendance(NHS_A, "Philippa", "Quennell", "1975-04-09", f"2024-01-{d:02d}") for d in (3, 10, 17)]
    rows += [attendance("", "Philippa", "Quennell", "1975-04-09", "2024-01-24")]  # no NHS number
    rows += [attendance(NHS_B, "Bartholomew", "Ostrowski", "1962-11-30", "2024-01-05")]
    assert pipeline.ingest(wh_rt, write_csv(tmp_path / "h1.csv", HEALTH, rows), "health", "attendances"
                           ).status == "merged"
    # the same person known to the police, with the NHS number: police events stay after an opt-out
    police = [["Quennell", "Philippa", "27493", "LS6 2AB", "F", NHS_A, "01/02/2024", "arrest", "100"]]
    assert pipeline.ingest(wh_rt, write_csv(tmp_path / "p.csv", POLICE, police), "police", "incidents"
                           ).status == "merged"
    before = health_events(wh_rt)
    by_day = dict(zip(before["event_date"].astype(str), before["person_id"], strict=True))
    assert by_day["2024-01-24"] == by_day["2024-01-03"], "the record without an NHS number links to its person"
    listed = write_csv(tmp_path / "optout.csv", ["nhs_number"], [[NHS_A]])
    wh_rt.close()
    assert main(["optout", "add", str(listed)]) == 0
    after = health_events(wh_rt)
    assert after["event_date"].astype(str).tolist() == ["2024-01-05"], "all four of the person's events went"
    assert wh_rt.warehouse.scalar("SELECT count(*) FROM shared.pathway_event WHERE agency = 'police'") == 1
    # a later extract: the person again, without an NHS number, is withheld; someone else is kept
    later = [attendance("", "Philippa", "Quennell", "1975-04-09", "2024-02-07"),
             attendance(NHS_B, "Bartholomew", "Ostrowski", "1962-11-30", "2024-02-08")]
    outcome = pipeline.ingest(wh_rt, write_csv(tmp_path / "h2.csv", HEALTH, later), "health", "attendances")
    assert outcome.status == "merged"
    assert health_events(wh_rt)["event_date"].astype(str).tolist() == ["2024-01-05", "2024-02-08"]
    assert {r["extract_id"]: r for r in ledger(wh_rt)}[outcome.extract_id]["rows_opted_out"] == 1
    assert_conserved(wh_rt)


def count_said(capsys: pytest.CaptureFixture[str]) -> int:
    assert main(["optout", "count"]) == 0
    found = re.search(r"([\d,]+) NHS numbers? on the national data opt-out list", capsys.readouterr().out)
    assert found, "the count is printed"
    return int(found.group(1).replace(",", ""))


def test_optout_count_shows_how_many_numbers_are_on_the_list(env: dict[str, str], tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    assert count_said(capsys) == 0
    first = write_csv(tmp_path / "a.csv", ["nhs_number"], [[NHS_A], [f"{NHS_B[:3]} {NHS_B[3:6]} {NHS_B[6:]}"], [NHS_A]])
    assert main(["optout", "add", str(first)]) == 0
    assert count_said(capsys) == 2, "a number twice in a file counts once"
    second = write_csv(tmp_path / "b.csv", ["nhs_number"], [[NHS_B], [NHS_C]])
    assert main(["optout", "add", str(second)]) == 0
    assert count_said(capsys) == 3, "a number already on the list counts once"
    refused = write_csv(tmp_path / "c.csv", ["nhs_number"], [[valid_nhs(401023240)], ["4010232138"]])
    assert main(["optout", "add", str(refused)]) == 4
    assert count_said(capsys) == 3, "a refused file adds nothing"


def ingest_one(rt: Runtime, tmp_path: Path) -> None:
    rows = [attendance(NHS_A, "Philippa", "Quennell", "1975-04-09", "2024-01-03")]
    assert pipeline.ingest(rt, write_csv(tmp_path / "h.csv", HEALTH, rows), "health", "attendances").status == "merged"
    assert_conserved(rt)


def test_a_failed_export_leaves_every_earlier_file_whole(rt: Runtime, tmp_path: Path) -> None:
    ingest_one(rt, tmp_path)
    target = tmp_path / "export"
    first = {path.name: path.read_bytes() for _, _, path in export(rt.warehouse, target) if path.suffix == ".parquet"}
    names = sorted(first)
    assert len(names) >= 3
    blocked = names[len(names) // 2]
    (target / f".{blocked}.partial").mkdir()  # writing that table fails, half way through the run
    with pytest.raises(OSError):
        export(rt.warehouse, target)
    for name in names:
        pq.read_table(target / name)  # every file under its final name is whole
        if name >= blocked:
            assert (target / name).read_bytes() == first[name], f"{name}: untouched by the failed run"


def test_a_reader_of_an_export_keeps_the_whole_file_it_opened(rt: Runtime, tmp_path: Path) -> None:
    """Files are replaced, never rewritten in place: a reader that opened one keeps reading all of it."""
    ingest_one(rt, tmp_path)
    target = tmp_path / "export"
    path = next(p for _, _, p in export(rt.warehouse, target) if p.suffix == ".parquet")
    old = path.read_bytes()
    with path.open("rb") as reader:
        opened = os.fstat(reader.fileno()).st_ino
        export(rt.warehouse, target)
        assert path.stat().st_ino != opened, "a new file took the name"
        assert reader.read() == old
    pq.read_table(path)
    assert not list(target.glob(".*.partial")), "no temporary file is left behind"


PURPOSE = "Leak scan of the exports (issue 21), planted values only"


def test_exports_hold_no_raw_identifier(rt: Runtime, tmp_path: Path) -> None:
    ingest_one(rt, tmp_path)
    scanner = Scanner(Identifiers().add("nhs", [NHS_A]).add("name", ["Philippa", "Quennell", "Philippa Quennell"])
                      .add("dob", ["1975-04-09"]).add("postcode", ["LS6 2AB"]))

    def scan(folder: Path) -> list[str]:
        leaks = [leak for p in folder.glob("*.parquet") for leak in scanner.frame(pd.read_parquet(p), p.name)]
        return leaks + scanner.files([p for p in folder.iterdir() if p.suffix == ".html"])

    for tier in ("published", "research"):
        with planted_table(rt.warehouse, tier) as name:
            export(rt.warehouse, tmp_path / f"control-{tier}", tier=tier, purpose=PURPOSE)
            assert_finds_planted(scan(tmp_path / f"control-{tier}"), name.split(".")[1])
        export(rt.warehouse, tmp_path / tier, tier=tier, purpose=PURPOSE)
        assert list((tmp_path / tier).glob("*.parquet")), tier
        assert scan(tmp_path / tier) == [], tier
    assert PLANTED.name not in "".join(p.name for p in (tmp_path / "published").iterdir())
