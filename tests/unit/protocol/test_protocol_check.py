"""`ptp protocol check PROTOCOL SAMPLE`: try a sample before sign-off, storing nothing."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from protocol_samples import college_sample

from ptp_pipeline.cli import main

REPO_PROTOCOLS = Path(__file__).resolve().parents[3] / "protocols"


def test_a_draft_is_tried_against_its_sample_and_nothing_is_stored(
        tmp_path: Path, env: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    protocols = tmp_path / "protocols"
    protocols.mkdir()
    shutil.copy(REPO_PROTOCOLS / "project.yaml", protocols)
    sample = college_sample(tmp_path)
    draft = protocols / "college_learners.yaml"
    assert main(["protocol", "draft", str(sample), "--partner", "college", "--dataset", "learners",
                 "--out", str(draft)]) == 0
    capsys.readouterr()
    assert main(["protocol", "check", str(draft), str(sample)]) == 0, capsys.readouterr().err
    out = capsys.readouterr().out
    assert "as if approved today; nothing stored" in out and "rows received 80, would be accepted 80" in out
    # A wrong date format in the protocol: the rows it breaks are counted, per field and problem.
    draft.write_text(draft.read_text(encoding="utf-8").replace(
        '{name: EventDate, type: date, role: event_date, treatment: keep, formats: ["%d/%m/%Y"]',
        '{name: EventDate, type: date, role: event_date, treatment: keep, formats: ["%Y-%m-%d"]'), encoding="utf-8")
    assert main(["protocol", "check", str(draft), str(sample)]) == 4
    captured = capsys.readouterr()
    assert "the extract would be refused" in captured.err and "EventDate" in captured.err
    assert "quarantined 80" in captured.out
    assert "Smith" not in captured.out + captured.err
    home = Path(env["PTP_HOME"])
    assert not (home / "ptp.duckdb").exists() and not (home / "work").exists()


def test_a_few_bad_rows_are_counted_per_field_and_problem(
        tmp_path: Path, env: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    protocols = tmp_path / "protocols"
    protocols.mkdir()
    shutil.copy(REPO_PROTOCOLS / "project.yaml", protocols)
    sample = college_sample(tmp_path)
    draft = protocols / "college_learners.yaml"
    assert main(["protocol", "draft", str(sample), "--partner", "college", "--dataset", "learners",
                 "--out", str(draft)]) == 0
    lines = sample.read_text(encoding="utf-8").splitlines()
    for i in (3, 7):
        cells = lines[i].split(",")
        cells[1] = "31/02/2024"
        lines[i] = ",".join(cells)
    sample.write_text("\n".join(lines) + "\n", encoding="utf-8")
    capsys.readouterr()
    assert main(["protocol", "check", str(draft), str(sample)]) == 4
    out = capsys.readouterr().out
    assert "would be accepted 78, quarantined 2" in out
    assert "     2 row(s)  field EventDate: " in out and "31/02/2024" not in out


def test_a_kept_field_whose_values_look_like_dates_of_birth_is_refused(
        tmp_path: Path, env: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    """The name says nothing (`Date`), the values do: 16-18 years back. Kept, it is refused by the check."""
    protocols = tmp_path / "protocols"
    protocols.mkdir()
    shutil.copy(REPO_PROTOCOLS / "project.yaml", protocols)
    sample = college_sample(tmp_path, "%d/%m/%Y", "Date")
    draft = protocols / "college_learners.yaml"
    assert main(["protocol", "draft", str(sample), "--partner", "college", "--dataset", "learners",
                 "--out", str(draft)]) == 0
    text = draft.read_text(encoding="utf-8")
    kept = text.replace("{name: Date, type: date, role: direct_identifier, treatment: pseudonymise, "
                        "identifies: date_of_birth, generalise: year,", "{name: Date, type: date, role: attribute, "
                        "treatment: keep,")
    assert kept != text
    draft.write_text(kept, encoding="utf-8")
    assert main(["protocol", "validate", str(draft)]) == 0  # by name alone nothing is wrong
    capsys.readouterr()
    assert main(["protocol", "check", str(draft), str(sample)]) == 3
    err = capsys.readouterr().err
    assert "field 'Date' is kept as it is, but its values look like date of birth" in err
