"""`ptp protocol draft`: profile a sample, write a draft that validates, never copy a sample value."""

from __future__ import annotations

import csv
import re
from pathlib import Path

import pytest
from helpers import assert_conserved, write_csv
from leaks import Identifiers, Scanner, scan_text_with_control

from ptp_pipeline import pipeline
from ptp_pipeline.cli import main
from ptp_pipeline.protocol import Role, load_protocol
from ptp_pipeline.runtime import Runtime
from ptp_pipeline.settings import load_settings
from ptp_pipeline.synthetic import SyntheticResult

REPO_PROTOCOLS = Path(__file__).resolve().parents[3] / "protocols"
HAND_WRITTEN = {"council": "council_contacts.yaml", "health": "health_attendances.yaml",
                "police": "police_incidents.yaml"}


def draft(tmp_path: Path, sample: Path, partner: str, dataset: str, *extra: str) -> Path:
    out = tmp_path / f"{partner}_{dataset}.yaml"
    assert main(["protocol", "draft", str(sample), "--partner", partner, "--dataset", dataset,
                 "--out", str(out), *extra]) == 0
    return out


def identifier_values(sample: Path, columns: set[str]) -> set[str]:
    with sample.open(encoding="utf-8") as fh:
        return {row[c].strip() for row in csv.DictReader(fh) for c in columns if len(row[c].strip()) >= 3}


def test_draft_then_validate_works_on_every_synthetic_extract(
        tmp_path: Path, synthetic: SyntheticResult, capsys: pytest.CaptureFixture[str]) -> None:
    assert {e.partner for e in synthetic.extracts} == set(HAND_WRITTEN)
    for extract in synthetic.extracts:
        path = draft(tmp_path, extract.path, extract.partner, extract.dataset)
        assert main(["protocol", "validate", str(path)]) == 0, capsys.readouterr().err
        drafted = load_protocol(path)
        assert drafted.status.value == "draft" and not drafted.in_force(drafted.valid_from)
        # The suggestions match what the data officers wrote by hand for the same extract (for the columns it
        # has: the hand-written protocols also list optional columns, such as event locations, it does not send).
        agreed = load_protocol(REPO_PROTOCOLS / HAND_WRITTEN[extract.partner])
        sent = {f.name for f in drafted.fields}
        assert sorted((f.name, f.type, f.role, f.treatment, f.identifies, f.generalise) for f in drafted.fields) == \
            sorted((f.name, f.type, f.role, f.treatment, f.identifies, f.generalise) for f in agreed.fields
                   if f.name in sent or f.required)
        assert drafted.event == agreed.event
        # Never a sample identifier value, not even in a comment.
        text = path.read_text(encoding="utf-8")
        identifiers = {f.name for f in agreed.fields if f.role is Role.direct_identifier and f.name in sent}
        scanner = Scanner(Identifiers().add("identifier", identifier_values(extract.path, identifiers)))
        leaked = scan_text_with_control(text, f"{extract.partner} draft", scanner)
        assert not leaked, f"{extract.partner}: identifier value(s) copied into the draft: {leaked}"


def test_draft_spots_contact_details_and_free_text_and_drops_them(tmp_path: Path) -> None:
    header = ["person_id", "full_name", "email", "mobile", "notes", "seen_on", "outcome", "fee"]
    rows = [[f"P{1000 + i}", f"Alex Person{i}", f"alex{i}@example.org", f"07700 900{i:03d}",
             f"Seen at the hostel after a long night, referred on to support number {i}",
             f"2024-05-{1 + i % 28:02d}", ["housed", "referred", "no_action"][i % 3], str(10 + i)] for i in range(60)]
    sample = write_csv(tmp_path / "sample.csv", header, rows)
    path = draft(tmp_path, sample, "outreach", "contacts")
    p = load_protocol(path)
    by_name = {f.name: f for f in p.fields}
    assert by_name["person_id"].identifies == "local_id" and by_name["person_id"].treatment == "pseudonymise"
    for name in ("full_name", "email", "mobile"):
        assert (by_name[name].role, by_name[name].treatment) == ("direct_identifier", "drop"), name
    assert by_name["notes"].treatment == "drop"
    assert (p.event.date, p.event.type, p.event.cost) == ("seen_on", "outcome", "fee")
    assert by_name["outcome"].constraints.allowed_values == ["housed", "no_action", "referred"]
    text = path.read_text(encoding="utf-8")
    assert "example.org" not in text and "07700" not in text and "hostel" not in text and "P1000" not in text
    assert "email addresses" in text and "UK phone numbers" in text and "free text" in text


def test_a_draft_once_agreed_and_approved_governs_ingest(
        env: dict[str, str], tmp_path: Path, synthetic: SyntheticResult) -> None:
    extract = next(e for e in synthetic.extracts if e.partner == "police")
    protocols = tmp_path / "protocols"
    protocols.mkdir()
    (protocols / "project.yaml").write_text((REPO_PROTOCOLS / "project.yaml").read_text())
    path = draft(protocols, extract.path, "police", "incidents", "--organisation", "West Yorkshire Police")
    text = path.read_text(encoding="utf-8").replace("status: draft", "status: approved")
    placeholder = path.with_name("placeholder.yaml")
    placeholder.write_text(text, encoding="utf-8")
    assert main(["protocol", "validate", str(placeholder)]) == 3  # 'TO AGREE' left in an approved protocol
    placeholder.unlink()
    text = text.replace("TO AGREE: ", "")
    text = re.sub(r"valid_from: \S+", "valid_from: 2024-01-01", text).replace(
        "signatories: []", "signatories: [{name: C. Example, role: DPO, organisation: WYP, date: 2024-01-01}]")
    path.write_text(text, encoding="utf-8")
    rt = Runtime(load_settings({**env, "PTP_PROTOCOLS_DIR": str(protocols)}))
    try:
        outcome = pipeline.ingest(rt, extract.path, "police", "incidents")
        assert outcome.status == "merged", outcome.reason
        assert outcome.rows_received == extract.rows
        assert_conserved(rt)
    finally:
        rt.close()


def test_draft_refuses_to_overwrite_and_bad_ids(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    sample = write_csv(tmp_path / "s.csv", ["a"], [["1"]])
    existing = tmp_path / "x.yaml"
    existing.write_text("keep me")
    assert main(["protocol", "draft", str(sample), "--partner", "p", "--dataset", "d", "--out", str(existing)]) == 2
    assert main(["protocol", "draft", str(sample), "--partner", "Bad Id", "--dataset", "d",
                 "--out", str(tmp_path / "y.yaml")]) == 2
    err = capsys.readouterr().err
    assert "already exists" in err and "--force" in err and "--partner 'Bad Id' is not a valid id" in err
    assert existing.read_text() == "keep me" and "Traceback" not in err
