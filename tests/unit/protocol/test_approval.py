"""Approval is protected: placeholders refuse approval; an approved version edited after use is refused."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from helpers import assert_conserved, ledger, write_csv

from ptp_pipeline import pipeline
from ptp_pipeline.cli import main
from ptp_pipeline.runtime import Runtime
from ptp_pipeline.settings import load_settings

REPO_PROTOCOLS = Path(__file__).resolve().parents[3] / "protocols"
POLICE = (REPO_PROTOCOLS / "police_incidents.yaml").read_text(encoding="utf-8")
HEADER = ["surname", "forenames", "birth_date", "home_postcode", "sex", "nhs_number", "occurred_on",
          "incident_type", "estimated_cost"]
TITLE = "title: Police incidents, arrests and custody episodes"


def line_of(text: str, anchor: str) -> int:
    return next(i for i, t in enumerate(text.splitlines(), 1) if anchor in t)


@pytest.mark.parametrize(("old", "new", "key", "word"), [
    (TITLE, "title: TO AGREE police incidents", "title", "TO AGREE"),
    (TITLE, "title: Police incidents (DRAFT)", "title", "DRAFT"),
    ("organisation: West Yorkshire Police (synthetic)", "organisation: TBC", "partner.organisation", "TBC"),
    ("  Map the pathways", "  Purpose to be agreed. Map the pathways", "purpose", "to be agreed"),
], ids=["to-agree-title", "draft-title", "tbc-organisation", "to-be-agreed-purpose"])
def test_an_approved_protocol_with_a_placeholder_fails_validation(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], old: str, new: str, key: str, word: str) -> None:
    assert old in POLICE
    text = POLICE.replace(old, new, 1)
    path = tmp_path / "police.yaml"
    path.write_text(text, encoding="utf-8")
    assert main(["protocol", "validate", str(path)]) == 3
    err = capsys.readouterr().err
    line = line_of(text, new.strip().split(":")[0] + ":" if key != "purpose" else "purpose:")
    assert f"{path}:{line} {key}: {key} still says '{word}', but the protocol is approved" in err, err
    # The same text in a draft is fine: drafts are where placeholders belong.
    path.write_text(text.replace("status: approved", "status: draft"), encoding="utf-8")
    assert main(["protocol", "validate", str(path)]) == 0, capsys.readouterr().err


def test_ordinary_words_are_not_placeholders(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = POLICE.replace(TITLE, "title: Police incidents, including drafted charges and todo-free logs", 1)
    path = tmp_path / "police.yaml"
    path.write_text(text, encoding="utf-8")
    assert main(["protocol", "validate", str(path)]) == 0, capsys.readouterr().err


def extract(folder: Path, n: int) -> Path:
    """A small police extract; `n` varies the content so each file is a new extract."""
    rows = [["Smith", "John", "32874", "LS6 2AB", "M", "", "01/05/2024", "arrest", f"{500 + n}.00"],
            ["Jones", "Mary", "31000", "LS1 1AA", "F", "943 476 5919", "02/05/2024", "incident", "100"]]
    return write_csv(folder / f"police_{n}.csv", HEADER, rows)


def test_an_approved_version_edited_after_use_is_refused_until_bumped(
        tmp_path: Path, wh_env: dict[str, str]) -> None:
    protocols = tmp_path / "protocols"
    protocols.mkdir()
    shutil.copy(REPO_PROTOCOLS / "project.yaml", protocols)
    v1 = protocols / "police_incidents.yaml"
    v1.write_text(POLICE, encoding="utf-8")
    settings = load_settings({**wh_env, "PTP_PROTOCOLS_DIR": str(protocols)})

    def ingest(n: int) -> pipeline.Outcome:
        rt = Runtime(settings)  # a fresh runtime re-reads the protocols, as each task run does
        try:
            outcome = pipeline.ingest(rt, extract(tmp_path / "in", n), "police", "incidents")
            assert_conserved(rt)
            return outcome
        finally:
            rt.close()

    assert ingest(1).status == "merged"
    # A comment or re-layout is not an edit of what was agreed.
    v1.write_text("# reviewed 2025\n" + POLICE.replace("quarantine_threshold: 0.1", "quarantine_threshold: 0.10"),
                  encoding="utf-8")
    assert ingest(2).status == "merged"
    # Keeping the sex field was agreed; sharing the cost uncapped was not: an edit in place.
    v1.write_text(POLICE.replace("constraints: {min: 0, max: 100000}", "constraints: {min: 0}"), encoding="utf-8")
    refused = ingest(3)
    assert refused.status == "refused"
    assert "approved protocol police-incidents v1 was edited after approval" in str(refused.reason)
    assert "create v2" in str(refused.reason)
    # Saved as v2, the change is a new agreement and governs (the highest version of those in force).
    v2 = POLICE.replace("version: 1", "version: 2")
    (protocols / "police_incidents_v2.yaml").write_text(
        v2.replace("constraints: {min: 0, max: 100000}", "constraints: {min: 0}"), encoding="utf-8")
    v1.write_text(POLICE, encoding="utf-8")
    merged = ingest(4)
    assert merged.status == "merged", merged.reason
    rt = Runtime(settings)
    try:
        rows = {r["file_name"]: r for r in ledger(rt)}
        assert rows["police_4.csv"]["protocol_version"] == 2
        recorded = rt.warehouse.query("SELECT protocol_id, version FROM ops.protocol_approval ORDER BY version")
        assert recorded.values.tolist() == [["police-incidents", 1], ["police-incidents", 2]]
    finally:
        rt.close()


def test_list_gives_the_expiry_date_not_today(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "protocols"
    folder.mkdir()
    (folder / "police_incidents.yaml").write_text(POLICE, encoding="utf-8")
    monkeypatch.setenv("PTP_PROTOCOLS_DIR", str(folder))
    assert main(["protocol", "list", "--on", "2027-06-30"]) == 0
    err = capsys.readouterr().err
    assert "police-incidents v1: approved but expired on 2027-03-31" in err and "2027-06-30" not in err
    assert main(["protocol", "list", "--on", "2023-06-30"]) == 0
    assert "approved but not in force until 2024-01-01" in capsys.readouterr().err
