"""A dataset without persons: `subject: place` (a licensing register) makes events and no persons."""

from __future__ import annotations

import random
import shutil
from pathlib import Path

import pytest
from helpers import assert_conserved, write_csv

from ptp_pipeline import pipeline
from ptp_pipeline.cli import main
from ptp_pipeline.pathways import rebuild
from ptp_pipeline.runtime import Runtime
from ptp_pipeline.settings import load_settings
from ptp_pipeline.synthetic import SyntheticResult

REPO_PROTOCOLS = Path(__file__).resolve().parents[3] / "protocols"
LICENSING = """\
id: licensing-premises
version: 1
title: Licensed premises register
partner: {id: licensing, organisation: Leeds City Council Licensing (synthetic)}
dataset: premises
subject: place
purpose: >-
  Map where alcohol is sold and when licences were granted, so the partnership can relate
  alcohol-related events to the density of licensed premises in each district.
lawful_basis: {article6: public_task, gateway: Licensing Act 2003 s185}
status: approved
valid_from: 2024-01-01
valid_to: 2027-03-31
signatories:
  - {name: L. Example, role: Licensing Manager, organisation: Leeds City Council, date: 2024-01-01}
retention: {raw_extract_days: 30, shared_data_years: 6}
fields:
  - {name: premises_ref, type: string, role: attribute, treatment: keep, constraints: {pattern: "^LP[0-9]{5}$"}}
  - {name: address_line1, type: string, role: direct_identifier, treatment: pseudonymise, identifies: address_line}
  - {name: postcode, type: uk_postcode, role: direct_identifier, treatment: pseudonymise, identifies: postcode,
     generalise: district}
  - {name: licence_type, type: code, role: event_type, treatment: keep, required: true,
     constraints: {allowed_values: [premises_licence, club_certificate, temporary_event]}}
  - {name: granted_on, type: date, formats: ["%d/%m/%Y"], role: event_date, treatment: keep, required: true}
event: {date: granted_on, type: licence_type}
"""


def register(tmp_path: Path, rows: int = 200) -> Path:
    rng = random.Random(4)
    data = [[f"LP{10000 + i}", f"{1 + i} High Street", rng.choice(["LS1 1AA", "LS6 2AB", "LS2 9JT"]),
             rng.choice(["premises_licence", "club_certificate", "temporary_event"]),
             f"{1 + i % 28:02d}/{1 + i % 12:02d}/2024"] for i in range(rows)]
    return write_csv(tmp_path / "in" / "premises.csv",
                     ["premises_ref", "address_line1", "postcode", "licence_type", "granted_on"], data)


def test_a_place_dataset_makes_events_and_no_persons(
        tmp_path: Path, wh_env: dict[str, str], synthetic: SyntheticResult) -> None:
    protocols = tmp_path / "protocols"
    shutil.copytree(REPO_PROTOCOLS, protocols)
    (protocols / "licensing_premises.yaml").write_text(LICENSING, encoding="utf-8")
    rt = Runtime(load_settings({**wh_env, "PTP_PROTOCOLS_DIR": str(protocols)}))
    try:
        police = next(e for e in synthetic.extracts if e.partner == "police")
        assert pipeline.ingest(rt, police.path, "police", "incidents").status == "merged"
        persons_before = rt.warehouse.scalar("SELECT count(*) FROM shared.person")
        outcome = pipeline.ingest(rt, register(tmp_path), "licensing", "premises")
        assert (outcome.status, outcome.rows_accepted) == ("merged", 200), outcome.reason
        wh = rt.warehouse
        assert wh.scalar("SELECT count(*) FROM shared.person") == persons_before
        assert wh.scalar("SELECT count(*) FROM shared.pathway_event WHERE agency = 'licensing'") == 200
        assert wh.scalar("SELECT count(*) FROM shared.pathway_event WHERE agency = 'licensing' "
                         "AND person_id IS NOT NULL") == 0
        assert wh.scalar("SELECT count(*) FROM restricted.link_record WHERE partner = 'licensing'") == 0
        rebuild(rt)  # derived tables still build beside person-less events
        assert_conserved(rt)
    finally:
        rt.close()


@pytest.mark.parametrize(("text", "key", "message"), [
    (LICENSING.replace("event: {", "  - {name: licensee_surname, type: string, role: direct_identifier, treatment: "
                                   "pseudonymise, identifies: surname}\nevent: {", 1),
     "fields.5.identifies", "field 'licensee_surname' identifies a person (surname), but the protocol's subject is "
                            "place"),
    (LICENSING.replace("subject: place\n", ""), "fields",
     "no field identifies a person (nhs_number, local_id, names, date of birth ...), so every row would become a "
     "new person: if the rows are premises or other places, set subject: place"),
], ids=["place-with-a-person-identifier", "person-dataset-without-identifiers"])
def test_subject_rules(tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, key: str,
                       message: str) -> None:
    path = tmp_path / "licensing.yaml"
    path.write_text(text, encoding="utf-8")
    assert main(["protocol", "validate", str(path)]) == 3
    err = capsys.readouterr().err
    assert f" {key}: {message}" in err, err


def test_a_draft_of_a_register_without_persons_is_a_place_dataset(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "licensing_premises.yaml"
    assert main(["protocol", "draft", str(register(tmp_path, 60)), "--partner", "licensing", "--dataset", "premises",
                 "--out", str(out)]) == 0
    text = out.read_text(encoding="utf-8")
    assert "\nsubject: place  # TO AGREE" in text
    assert main(["protocol", "validate", str(out)]) == 0, capsys.readouterr().err
