"""Agreement dates are not data dates: `data_period` lets history in under an agreement signed today."""

from __future__ import annotations

import re
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest
from helpers import assert_conserved, write_csv

from ptp_pipeline import pipeline
from ptp_pipeline.cli import main
from ptp_pipeline.protocol import load_protocol
from ptp_pipeline.runtime import Runtime
from ptp_pipeline.settings import load_settings

REPO_PROTOCOLS = Path(__file__).resolve().parents[3] / "protocols"
POLICE = (REPO_PROTOCOLS / "police_incidents.yaml").read_text(encoding="utf-8")
HEADER = ["surname", "forenames", "birth_date", "home_postcode", "sex", "nhs_number", "occurred_on",
          "incident_type", "estimated_cost"]
TODAY = datetime.now(UTC).date()


def signed_today(data_period: str | None) -> str:
    """The police protocol as if agreed and signed today, optionally covering earlier events."""
    text = POLICE.replace("valid_from: 2024-01-01", f"valid_from: {TODAY}").replace("date: 2024-01-01}",
                                                                                  f"date: {TODAY}}}")
    if data_period:
        text = text.replace("signatories:", f"data_period: {data_period}\nsignatories:", 1)
    return text


@pytest.mark.parametrize(("data_period", "status"), [(None, "refused"), ("{start: 2024-01-01}", "merged")],
                         ids=["agreement-dates-only", "with-data-period"])
def test_history_is_received_under_an_agreement_signed_today(
        tmp_path: Path, wh_env: dict[str, str], data_period: str | None, status: str) -> None:
    protocols = tmp_path / "protocols"
    protocols.mkdir()
    shutil.copy(REPO_PROTOCOLS / "project.yaml", protocols)
    (protocols / "police_incidents.yaml").write_text(signed_today(data_period), encoding="utf-8")
    rows = [["Smith", "John", "32874", "LS6 2AB", "M", "", "01/05/2024", "arrest", "500.00"],
            ["Jones", "Mary", "31000", "LS1 1AA", "F", "943 476 5919", "12/11/2024", "incident", "100"]]
    extract = write_csv(tmp_path / "in" / "police.csv", HEADER, rows)
    rt = Runtime(load_settings({**wh_env, "PTP_PROTOCOLS_DIR": str(protocols)}))
    try:
        outcome = pipeline.ingest(rt, extract, "police", "incidents")
        assert outcome.status == status, outcome.reason
        if status == "refused":
            assert f"outside the protocol's period ({TODAY} to 2027-03-31)" in str(outcome.reason)
        else:
            assert outcome.rows_accepted == 2
            first = rt.warehouse.scalar("SELECT min(event_date) FROM shared.pathway_event")
            assert str(first)[:10] == "2024-05-01"
        assert_conserved(rt)
    finally:
        rt.close()


def test_events_after_the_data_period_are_still_refused(tmp_path: Path, env: dict[str, str]) -> None:
    protocols = tmp_path / "protocols"
    protocols.mkdir()
    shutil.copy(REPO_PROTOCOLS / "project.yaml", protocols)
    (protocols / "police_incidents.yaml").write_text(
        signed_today("{start: 2023-01-01, end: 2023-12-31}"), encoding="utf-8")
    rows = [["Smith", "John", "32874", "LS6 2AB", "M", "", "01/05/2024", "arrest", "500.00"]]
    extract = write_csv(tmp_path / "in" / "police.csv", HEADER, rows)
    rt = Runtime(load_settings({**env, "PTP_PROTOCOLS_DIR": str(protocols)}))
    try:
        outcome = pipeline.ingest(rt, extract, "police", "incidents")
        assert outcome.status == "refused" and "(2023-01-01 to 2023-12-31)" in str(outcome.reason)
        assert_conserved(rt)
    finally:
        rt.close()


@pytest.mark.parametrize(("period", "key", "message"), [
    ("{start: 2024-06-01, end: 2024-01-01}", "data_period.end",
     "data_period.end 2024-01-01 is before data_period.start 2024-06-01"),
    ("{start: 2020-01-01, end: 2030-01-01}", "data_period.end",
     "data_period.end 2030-01-01 is after valid_to 2027-03-31"),
    ("{end: 2024-01-01}", "data_period.start", "required key 'start' is missing"),
])
def test_a_wrong_data_period_fails_validation_at_its_line(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], period: str, key: str, message: str) -> None:
    text = POLICE.replace("signatories:", f"data_period: {period}\nsignatories:", 1)
    path = tmp_path / "police.yaml"
    path.write_text(text, encoding="utf-8")
    assert main(["protocol", "validate", str(path)]) == 3
    line = next(i for i, t in enumerate(text.splitlines(), 1) if t.startswith("data_period:"))
    assert f"{path}:{line} {key}: {message}" in capsys.readouterr().err


def test_existing_protocols_cover_their_own_validity(tmp_path: Path) -> None:
    p = load_protocol(REPO_PROTOCOLS / "police_incidents.yaml")
    assert p.data_period is None and (p.covers_from, p.covers_to) == (p.valid_from, p.valid_to)


def test_a_draft_proposes_a_data_period_from_the_sample_and_the_agreement_shows_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    rows = [[f"S{i}", "2019-03-04" if i == 0 else f"2023-0{1 + i % 9}-1{i % 10}", ["a", "b", "c"][i % 3]]
            for i in range(30)]
    sample = write_csv(tmp_path / "s.csv", ["case_ref", "contact_date", "outcome"], rows)
    folder = tmp_path / "protocols"
    out = folder / "team_cases.yaml"
    assert main(["protocol", "draft", str(sample), "--partner", "team", "--dataset", "cases", "--out", str(out)]) == 0
    text = out.read_text(encoding="utf-8")
    assert re.search(r"^data_period: \{start: 2019-01-01\}  # TO AGREE", text, re.M), text
    assert main(["protocol", "validate", str(out)]) == 0, capsys.readouterr().err
    monkeypatch.setenv("PTP_PROTOCOLS_DIR", str(folder))
    assert main(["protocol", "render", "team-cases", "--out", str(tmp_path / "agreement")]) == 0
    md = (tmp_path / "agreement" / "team-cases-v1.md").read_text(encoding="utf-8")
    assert f"Covers events dated 2019-01-01 to {load_protocol(out).valid_to}." in md
