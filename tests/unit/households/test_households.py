"""Households through the real pipeline: communal guard, moves split households, the lawful route back."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from helpers import assert_conserved, write_csv

from ptp_pipeline import pipeline
from ptp_pipeline.cli import main
from ptp_pipeline.pathways import families_html, families_section, rebuild
from ptp_pipeline.privacy.reidentify import reidentify_family
from ptp_pipeline.privacy.vault import ReidentificationRefused, new_reid_keypair
from ptp_pipeline.runtime import Runtime
from ptp_pipeline.settings import load_settings

COUNCIL = ["client_ref", "nhs_number", "forename", "surname", "date_of_birth", "postcode", "address_line1", "uprn",
           "address_type", "address_from", "sex", "contact_date", "service", "unit_cost"]
POLICE = ["surname", "forenames", "birth_date", "home_postcode", "home_address", "uprn", "sex", "nhs_number",
          "occurred_on", "incident_type", "estimated_cost"]
FORENAMES = ["Amos", "Bea", "Cyril", "Dora", "Enid", "Fergus", "Gwen", "Hector", "Ivy", "Jasper", "Kit", "Lorna",
             "Mabel", "Ned", "Olive", "Percy", "Quentin", "Rosa", "Silas", "Thea"]


def council(ref: int, forename: str, surname: str, line: str, postcode: str, day: str, *, uprn: str = "",
            kind: str = "", since: str = "", cost: str = "100.00") -> list[str]:
    return [f"C{ref:07d}", "", forename, surname, f"{10 + ref % 18:02d}/0{1 + ref % 9}/19{60 + ref % 39}",
            postcode, line, uprn, kind, since, "M", day, "housing_application", cost]


def ids(rt: Runtime, sql: str) -> set[int]:
    return set(rt.warehouse.query(sql).iloc[:, 0].astype(int))


def person_of(rt: Runtime, extract_id: str, row: int) -> int:
    return int(rt.warehouse.scalar("SELECT person_id FROM restricted.link_record WHERE extract_id = ? AND "
                                   "source_row = ?", (extract_id, row)))


@pytest.fixture
def reid_env(env: dict[str, str], tmp_path: Path) -> dict[str, str]:
    private, public = tmp_path / "keys" / "reid.pem", tmp_path / "keys" / "reid_public.pem"
    new_reid_keypair(private, public)
    return {**env, "PTP_REID_PUBLIC_KEY_FILE": str(public), "PTP_REID_KEY_FILE": str(private)}


def test_communal_establishment_never_appears_as_a_household(reid_env: dict[str, str], tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    rows = [council(1, "Amos", "Mallory", "14 Hyde Park Road", "LS6 2AB", "01/05/2024", uprn="100000000014",
                    cost="5000.00"),
            council(2, "Bea", "Mallory", "14 Hyde Park Rd.", "LS6 2AB", "03/07/2024", cost="4000.00")]
    # A hostel flagged by the council: three residents, below any size threshold.
    rows += [council(10 + i, FORENAMES[i], f"Hostelby{i}", "10 Mill Street", "LS2 7AA", "05/06/2024",
                     kind="Hostel" if i == 0 else "") for i in range(3)]
    # An unflagged house where twelve unrelated people were seen: more than max_persons_per_address (10).
    rows += [council(20 + i, FORENAMES[i], f"Lodger{i}", "5 Church Rd", "LS9 8BB", "10/06/2024")
             for i in range(12)]
    rt = Runtime(load_settings(reid_env))
    try:
        outcome = pipeline.ingest(rt, write_csv(tmp_path / "council.csv", COUNCIL, rows), "council", "contacts")
        assert outcome.status == "merged" and outcome.rows_accepted == len(rows)
        assert_conserved(rt)
        rebuild(rt)  # households are a derive product (the pathways stage), not part of the merge
        eid = str(outcome.extract_id)
        couple = {person_of(rt, eid, 1), person_of(rt, eid, 2)}
        communal = {person_of(rt, eid, r) for r in range(3, len(rows) + 1)}
        assert len(couple) == 2 and len(communal) == 15
        assert ids(rt, "SELECT person_id FROM shared.household_member") == couple
        assert ids(rt, "SELECT person_id FROM restricted.residence WHERE communal") == communal
        hh = rt.warehouse.query("SELECT * FROM shared.household")
        assert hh.size_band.tolist() == ["2"] and hh.total_cost.astype(float).tolist() == [9000.0]
        assert ids(rt, "SELECT household_id FROM shared.cohort_priority_families") == set(hh.household_id)
        # Disclosure control: one household and two people are small numbers, never published as such.
        section = families_section(rt.warehouse, rt.project)
        assert (section.households, section.priority_families, section.priority_cost_share) == ("<8", "<8", None)
        published = rt.warehouse.query("SELECT households, cost_share FROM shared.household_cost_concentration")
        assert set(published.households) == {"<8"} and published.cost_share.isna().all()
        assert "Too few households (fewer than 8)" in families_html(section)

        # The lawful route: only via audited re-identification, with the address sealed in the vault.
        household = int(hh.household_id.iloc[0])
        found = reidentify_family(rt.warehouse, household, purpose="Lead professional for priority family",
                                  officer="A. Officer", private_key_file=Path(reid_env["PTP_REID_KEY_FILE"]))
        assert set(found.person_id) == couple
        assert set(found.address_line1) == {"14 Hyde Park Road", "14 Hyde Park Rd."}
        actions = rt.warehouse.query("SELECT action FROM ops.audit_log ORDER BY seq").action.tolist()
        assert actions[-3:] == ["reidentify", "reidentify", "reidentify_family"]
        with pytest.raises(ReidentificationRefused, match="not in the priority-families cohort"):
            reidentify_family(rt.warehouse, household + 1000, purpose="Lead professional for a family",
                              officer="A. Officer", private_key_file=Path(reid_env["PTP_REID_KEY_FILE"]))
    finally:
        rt.close()
    for k, v in reid_env.items():
        monkeypatch.setenv(k, v)
    assert main(["reidentify-family", str(household), "--by", "A. Officer"]) == 5
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err + captured.out and "Hyde Park" not in captured.err + captured.out
    assert main(["reidentify-family", str(household), "--purpose", "Lead professional assignment panel",
                 "--by", "A. Officer"]) == 0
    assert "Hyde Park" in capsys.readouterr().out


def test_a_person_who_moved_appears_in_two_households_with_the_right_periods(rt: Runtime, tmp_path: Path) -> None:
    rows = [
        council(1, "Amos", "Trent", "Flat 2, 14 Hyde Park Road", "LS6 2AB", "01/05/2024", uprn="100000000002"),
        council(1, "Amos", "Trent", "Flat 2, 14 Hyde Park Road", "LS6 2AB", "01/06/2024", uprn="100000000002"),
        council(1, "Amos", "Trent", "3 Mill Lane", "LS7 1AA", "01/09/2024", since="15/08/2024"),
        council(1, "Amos", "Trent", "3 Mill Ln", "LS7 1AA", "01/10/2024", uprn="100000000003", since="15/08/2024"),
        council(2, "Cyril", "Ashe", "3 Mill Lane", "LS7 1AA", "20/07/2024", uprn="100000000003"),
        council(2, "Cyril", "Ashe", "3 MILL LANE", "LS7 1AA", "01/11/2024"),
        council(3, "Dora", "Keel", "Flat 1, 14 Hyde Park Road", "LS6 2AB", "05/05/2024", uprn="100000000001"),
        # Enid leaves 7 Elm Grove; Fergus moves in after her (since 1 Sept): one home, two households in turn.
        council(4, "Enid", "Vane", "7 Elm Grove", "LS8 3AB", "02/05/2024"),
        council(4, "Enid", "Vane", "7 Elm Gr", "LS8 3AB", "20/06/2024"),
        council(4, "Enid", "Vane", "9 Oak Avenue", "LS8 4DE", "12/08/2024"),
        council(5, "Fergus", "Lyle", "7 ELM GROVE", "LS8 3AB", "10/10/2024", since="01/09/2024"),
    ]
    first = pipeline.ingest(rt, write_csv(tmp_path / "council.csv", COUNCIL, rows), "council", "contacts")
    # The mover's partner stays at flat 2; the police write it their own way and know no UPRN.
    police = [["Trent", "Bea", "30000", "LS6 2AB", "2/14 HYDE PARK RD", "", "F", "", "10/05/2024", "incident", "200"],
              ["TRENT", "Bea", "30000", "ls6 2ab", "FLAT 2 14 HYDE PARK RD LEEDS", "", "F", "", "01/12/2024",
               "arrest", "500"]]
    second = pipeline.ingest(rt, write_csv(tmp_path / "police.csv", POLICE, police), "police", "incidents")
    assert first.status == second.status == "merged"
    assert_conserved(rt)
    rebuild(rt)
    amos, cyril, dora = (person_of(rt, str(first.extract_id), r) for r in (1, 5, 7))
    bea = person_of(rt, str(second.extract_id), 1)
    assert person_of(rt, str(second.extract_id), 2) == bea and len({amos, cyril, dora, bea}) == 4
    m = rt.warehouse.query("SELECT household_id, person_id, from_date, to_date FROM shared.household_member")
    m = m.assign(from_date=pd.to_datetime(m.from_date).dt.strftime("%Y-%m-%d"),
                 to_date=pd.to_datetime(m.to_date).dt.strftime("%Y-%m-%d"))
    spells = m[m.person_id == amos].sort_values("from_date")
    assert spells[["from_date", "to_date"]].values.tolist() == [["2024-05-01", "2024-08-14"],
                                                               ["2024-08-15", "2024-10-01"]]
    old, new = spells.household_id.tolist()
    assert set(m[m.household_id == old].person_id) == {amos, bea}, "flat 1 next door is another home"
    assert set(m[m.household_id == new].person_id) == {amos, cyril}
    assert m[m.person_id == bea][["from_date", "to_date"]].values.tolist() == [["2024-05-10", "2024-12-01"]]
    assert len(m[m.person_id == dora]) == 1 and dora not in set(m[m.household_id.isin([old, new])].person_id)
    enid, fergus = (person_of(rt, str(first.extract_id), r) for r in (8, 11))
    assert m[m.person_id == enid][["from_date", "to_date"]].values.tolist() == [["2024-05-02", "2024-08-11"],
                                                                               ["2024-08-12", "2024-08-12"]]
    assert not set(m[m.person_id == enid].household_id) & set(m[m.person_id == fergus].household_id)
    # Family pathway: each event counted in one household, inside the member's period there.
    pathway = rt.warehouse.query("SELECT household_id, person_id FROM shared.household_pathway")
    assert len(pathway) == len(rows) + len(police)
    assert pathway[pathway.person_id == amos].groupby("household_id").size().to_dict() == {old: 2, new: 2}
