"""`ptp protocol diff`: each change between versions classed breaking or not; the agreement lists them."""

from __future__ import annotations

from pathlib import Path

import pytest

from ptp_pipeline.cli import main

REPO_PROTOCOLS = Path(__file__).resolve().parents[3] / "protocols"
POLICE = (REPO_PROTOCOLS / "police_incidents.yaml").read_text(encoding="utf-8")
SEX = "{name: sex, type: code, role: quasi_identifier, treatment: keep, identifies: sex"
INCIDENT_CODES = "allowed_values: [incident, arrest, custody]"


def v2(*edits: tuple[str, str]) -> str:
    text = POLICE.replace("version: 1", "version: 2")
    for old, new in edits:
        assert old in text, old
        text = text.replace(old, new, 1)
    return text


@pytest.mark.parametrize(("edit", "expected"), [
    (("  - {name: " + "sex", "  - {name: gender"), "BREAKING  fields.sex: field removed: files that still have the "
                                                  "column are refused"),
    ((INCIDENT_CODES, "allowed_values: [incident, arrest]"),
     "BREAKING  fields.incident_type.constraints.allowed_values: 1 code(s) withdrawn (custody)"),
    ((INCIDENT_CODES, "allowed_values: [incident, arrest, custody, caution]"),
     "ok        fields.incident_type.constraints.allowed_values: 1 code(s) added (caution)"),
    (("identifies: postcode,\n     generalise: district", "identifies: postcode,\n     generalise: sector"),
     "BREAKING  fields.home_postcode.generalise: generalised to sector instead of district: a finer level"),
    (("identifies: postcode,\n     generalise: district", "identifies: postcode,\n     generalise: area"),
     "ok        fields.home_postcode.generalise: generalised to area instead of district"),
    ((SEX, SEX.replace("treatment: keep", "treatment: drop")),
     "ok        fields.sex.treatment: treatment tightened from keep to drop"),
    (("{name: estimated_cost, type: decimal", "{name: estimated_cost, type: integer"),
     "BREAKING  fields.estimated_cost.type: type changed from decimal to integer"),
    (("shared_data_years: 6", "shared_data_years: 10"), "BREAKING  retention: retention changed: data is kept longer"),
    (("signatories:", "data_period: {start: 2015-01-01}\nsignatories:"),
     "BREAKING  data_period: events covered 2024-01-01 to 2027-03-31 became 2015-01-01 to 2027-03-31: more is shared"),
    (("valid_to: 2027-03-31", "valid_to: 2028-03-31"), "ok        valid_from/valid_to: in force 2024-01-01 to "
                                                        "2028-03-31"),
])
def test_each_change_is_classed(tmp_path: Path, capsys: pytest.CaptureFixture[str], edit: tuple[str, str],
                                expected: str) -> None:
    old, new = tmp_path / "v1.yaml", tmp_path / "v2.yaml"
    old.write_text(POLICE, encoding="utf-8")
    new.write_text(v2(edit), encoding="utf-8")
    assert main(["protocol", "diff", str(old), str(new)]) == 0
    out = capsys.readouterr().out
    assert expected in out, out


def test_a_loosened_treatment_is_breaking_and_shown_in_the_v2_agreement(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """Keeping a field that was dropped shares more: breaking; the agreement for v2 says so."""
    folder = tmp_path / "protocols"
    folder.mkdir()
    (folder / "police_incidents.yaml").write_text(POLICE.replace(SEX, SEX.replace("treatment: keep",
                                                                               "treatment: drop")), encoding="utf-8")
    (folder / "police_incidents_v2.yaml").write_text(v2(), encoding="utf-8")
    assert main(["protocol", "diff", str(folder / "police_incidents.yaml"),
                 str(folder / "police_incidents_v2.yaml")]) == 0
    out = capsys.readouterr().out
    assert "BREAKING  fields.sex.treatment: treatment loosened from drop to keep: more is shared" in out
    assert "1 change(s), 1 breaking" in out
    monkeypatch.setenv("PTP_PROTOCOLS_DIR", str(folder))
    assert main(["protocol", "render", "police-incidents", "--out", str(tmp_path / "out")]) == 0
    md = (tmp_path / "out" / "police-incidents-v2.md").read_text(encoding="utf-8")
    assert "## Changes since version 1" in md
    assert "- **Breaking**: fields.sex.treatment: treatment loosened from drop to keep" in md
    html = (tmp_path / "out" / "police-incidents-v2.html").read_text(encoding="utf-8")
    assert "Changes since version 1" in html and "<strong>Breaking</strong>" in html


def test_no_change(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    old, new = tmp_path / "v1.yaml", tmp_path / "v2.yaml"
    old.write_text(POLICE, encoding="utf-8")
    new.write_text("# a comment\n" + v2(), encoding="utf-8")
    assert main(["protocol", "diff", str(old), str(new)]) == 0
    assert "no change to what is shared or how" in capsys.readouterr().out
