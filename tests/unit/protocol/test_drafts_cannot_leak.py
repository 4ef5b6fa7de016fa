"""Drafts cannot leak: a college's sample (the NEET theme) drafted and validated without a date of birth,
name, learner number or note reaching the shared side; validate refuses a protocol that would let one."""

from __future__ import annotations

import csv
import re
import shutil
from datetime import date, datetime
from pathlib import Path

import pytest
from helpers import assert_conserved
from leaks import Identifiers, Scanner, scan_text_with_control
from protocol_samples import college_sample

from ptp_pipeline import pipeline
from ptp_pipeline.cli import main
from ptp_pipeline.protocol import load_protocol
from ptp_pipeline.runtime import Runtime
from ptp_pipeline.settings import load_settings


def draft(tmp_path: Path, sample: Path) -> Path:
    out = tmp_path / "college_learners.yaml"
    assert main(["protocol", "draft", str(sample), "--partner", "college", "--dataset", "learners",
                 "--out", str(out), "--organisation", "Leeds City College"]) == 0
    return out


@pytest.mark.parametrize(("dob_format", "dob_name"), [
    ("%d/%m/%Y", "DateOfBirth"), ("%d-%b-%Y", "DOB"), ("%Y-%m-%d", "birth_date"), ("%d/%m/%Y", "Date"),
], ids=["DateOfBirth", "DOB-01-Oct-2006", "birth_date", "unnamed-by-values"])
def test_a_college_draft_keeps_no_identifier_and_takes_the_real_event_date(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], dob_format: str, dob_name: str) -> None:
    sample = college_sample(tmp_path, dob_format, dob_name)
    path = draft(tmp_path, sample)
    assert main(["protocol", "validate", str(path)]) == 0, capsys.readouterr().err
    p = load_protocol(path)
    by = {f.name: f for f in p.fields}
    assert p.event.date == "EventDate" and by["EventDate"].treatment == "keep"
    dob = by[dob_name]
    assert dob.treatment in ("pseudonymise", "drop") and dob.role == "direct_identifier"
    if dob_name != "Date":
        assert dob.identifies == "date_of_birth" and dob.generalise == "year"
    if dob_format == "%d-%b-%Y":
        assert dob.formats == ["%d-%b-%Y"]
    assert (by["Last Name"].identifies, by["Last Name"].treatment) == ("surname", "pseudonymise")
    assert (by["First Name"].identifies, by["First Name"].treatment) == ("forename", "pseudonymise")
    assert (by["learner number"].identifies, by["learner number"].treatment) == ("local_id", "pseudonymise")
    assert (by["NI number"].role, by["NI number"].treatment) == ("direct_identifier", "drop")
    assert by["adviser notes"].treatment == "drop"
    kept = {f.name for f in p.fields if f.treatment == "keep"}
    assert kept == {"EventDate", "Outcome"}, kept
    text = path.read_text(encoding="utf-8")
    sample_values = Identifiers().add("name", ["Smith", "Aisha"]).add("notes", ["Needs support"])
    assert scan_text_with_control(text, "drafted protocol", Scanner(sample_values.add("nhs", ["4000000000"]))) == []


def protocol_text(tmp_path: Path) -> str:
    return draft(tmp_path, college_sample(tmp_path)).read_text(encoding="utf-8")


def line_with(text: str, anchor: str) -> int:
    return next(i for i, t in enumerate(text.splitlines(), 1) if anchor in t)


def test_validate_refuses_a_date_of_birth_kept_or_taken_as_the_event_date(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = protocol_text(tmp_path)
    dob = re.search(r"  - \{name: DateOfBirth.*\}\n", text)
    assert dob
    text = text.replace(dob.group(), '  - {name: DateOfBirth, type: date, formats: ["%d/%m/%Y"], role: event_date, '
                                     'treatment: keep}\n')
    text = re.sub(r"event: \{date: EventDate", "event: {date: DateOfBirth", text)
    path = tmp_path / "leaky.yaml"
    path.write_text(text, encoding="utf-8")
    assert main(["protocol", "validate", str(path)]) == 3
    err = capsys.readouterr().err
    field_line, event_line = line_with(text, "{name: DateOfBirth"), line_with(text, "event: {date: DateOfBirth")
    assert (f"{path}:{field_line} fields.0.treatment: field 'DateOfBirth' is named like a date of birth and would "
            "be shared as it is") in err, err
    assert (f"{path}:{event_line} event.date: event.date names field 'DateOfBirth', which is named like a date of "
            "birth") in err, err


@pytest.mark.parametrize(("name", "words"), [
    ("Last Name", "a surname"), ("DOB", "a date of birth"), ("ULN", "a learner or pupil number"),
    ("NI number", "a National Insurance number"), ("case notes", "free text (which can name people)"),
    ("home_address", "an address"),
])
def test_validate_refuses_any_identifier_named_field_kept_in_clear(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str, words: str) -> None:
    text = protocol_text(tmp_path).replace(
        "\nevent:", f'\n  - {{name: "{name}", type: string, role: attribute, treatment: keep}}\nevent:', 1)
    path = tmp_path / "kept.yaml"
    path.write_text(text, encoding="utf-8")
    assert main(["protocol", "validate", str(path)]) == 3
    assert f"field '{name}' is named like {words} and would be shared as it is" in capsys.readouterr().err


def test_a_written_justification_lets_a_field_through_and_the_agreement_shows_it(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    why = "a count of adviser notes per contact, never their text"
    text = protocol_text(tmp_path).replace(
        "\nevent:", f'\n  - {{name: notes_count, type: integer, role: attribute, treatment: keep, '
                    f'not_identifying_because: "{why}"}}\nevent:', 1)
    folder = tmp_path / "protocols"
    folder.mkdir()
    path = folder / "college_learners.yaml"
    path.write_text(text, encoding="utf-8")
    assert main(["protocol", "validate", str(path)]) == 0, capsys.readouterr().err
    monkeypatch.setenv("PTP_PROTOCOLS_DIR", str(folder))
    assert main(["protocol", "render", "college-learners", "--out", str(tmp_path / "out")]) == 0
    agreement = (tmp_path / "out" / "college-learners-v1.md").read_text(encoding="utf-8")
    assert why in agreement


def test_the_college_theme_set_up_by_yaml_alone_shares_no_date_of_birth(
        tmp_path: Path, env: dict[str, str]) -> None:
    """Draft, agree (placeholders filled, approved and signed today), ingest: no DOB reaches the shared side."""
    protocols = tmp_path / "protocols"
    protocols.mkdir()
    shutil.copy(Path(__file__).resolve().parents[3] / "protocols" / "project.yaml", protocols)
    sample = college_sample(tmp_path, "%d-%b-%Y", "DOB")
    out = protocols / "college_learners.yaml"
    assert main(["protocol", "draft", str(sample), "--partner", "college", "--dataset", "learners",
                 "--out", str(out), "--organisation", "Leeds City College"]) == 0
    text = out.read_text(encoding="utf-8").replace("TO AGREE: ", "").replace("status: draft", "status: approved")
    text = text.replace("signatories: []", f"signatories: [{{name: D. Example, role: Data Protection Officer, "
                                           f"organisation: Leeds City College, date: {date.today()}}}]")
    out.write_text(text, encoding="utf-8")
    assert main(["protocol", "validate", str(out)]) == 0
    assert re.search(r"^valid_from: " + str(date.today()), text, re.M)  # signed today, covering history
    rt = Runtime(load_settings({**env, "PTP_PROTOCOLS_DIR": str(protocols)}))
    try:
        outcome = pipeline.ingest(rt, sample, "college", "learners")
        assert (outcome.status, outcome.rows_accepted) == ("merged", 80), outcome.reason
        shared = rt.warehouse.query("SELECT event_date, attributes FROM shared.pathway_event")
        with sample.open(encoding="utf-8") as fh:
            rows = list(csv.DictReader(fh))
        births = {datetime.strptime(r["DOB"], "%d-%b-%Y").date() for r in rows}
        events = {datetime.strptime(r["EventDate"], "%d/%m/%Y").date() for r in rows}
        shared_dates = {d.date() if hasattr(d, "date") else d for d in shared["event_date"]}
        assert shared_dates == events and not shared_dates & births
        blob = " ".join(str(a) for a in shared["attributes"])
        assert not any(r["Last Name"] in blob or r["learner number"] in blob or r["adviser notes"] in blob
                       for r in rows)
        assert rt.warehouse.scalar("SELECT count(*) FROM shared.person") == 80
        assert_conserved(rt)
    finally:
        rt.close()
