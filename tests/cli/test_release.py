"""Release review (issue 19.5, Airlock as the model): an output is checked by the disclosure rules when its
release is requested, and leaves only when a second named person approves; request, checks, refusals and the
released file's SHA-256 are audited."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest

from ptp_pipeline.cli import main


@pytest.fixture
def home(pathways_env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A writable copy of the ingested synthetic partnership."""
    target = tmp_path / "home"
    shutil.copytree(pathways_env["PTP_HOME"], target)
    monkeypatch.setenv("PTP_HOME", str(target))
    monkeypatch.setenv("PTP_KEY", pathways_env["PTP_KEY"])
    return target


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def audit_entries(capsys: pytest.CaptureFixture[str]) -> list[dict[str, str]]:
    capsys.readouterr()
    assert main(["audit", "list", "--kind", "release", "--json"]) == 0
    return json.loads(capsys.readouterr().out)  # type: ignore[no-any-return]


def test_one_approver_is_refused_two_release_and_everything_is_audited(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    report, tables = tmp_path / "out" / "report.html", tmp_path / "out" / "tables"
    assert main(["report", "--out", str(report), "--tables", str(tables), "--no-rebuild"]) == 0
    capsys.readouterr()
    assert main(["release", "request", str(report), "--by", "A. Analyst"]) == 0
    said = capsys.readouterr().out
    assert "Release request 1" in said and "checks passed" in said and "pass  numbers carry separators" in said

    assert main(["release", "approve", "1", "--by", "a. analyst"]) == 5  # the requester alone: refused
    assert "cannot also approve" in capsys.readouterr().err
    assert not (home / "released").exists()
    assert main(["release", "approve", "1", "--by", "B. Checker, output checker"]) == 0
    released = home / "released" / "1" / "report.html"
    assert released.read_bytes() == report.read_bytes()
    assert main(["release", "approve", "1", "--by", "C. Third"]) == 5  # once only

    entries = audit_entries(capsys)
    assert [e["action"] for e in entries] == ["release_request", "release_refused", "release", "release_refused"]
    assert f"sha256 {sha256(report)}" in entries[0]["detail"] and "checks passed" in entries[0]["detail"]
    assert f"released sha256 {sha256(released)}" in entries[2]["detail"]
    assert "approved by B. Checker, output checker" in entries[2]["detail"]
    assert main(["audit", "verify"]) == 0

    # Every protected table of the report passes the checks too.
    for table in sorted(tables.glob("*.csv")):
        assert main(["release", "request", str(table), "--by", "A. Analyst"]) == 0, capsys.readouterr().err


def test_checks_catch_small_counts_record_level_rows_and_a_changed_file(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    small = tmp_path / "small.csv"
    small.write_text("known_to,persons,cost\ncouncil,3,1234.56\npolice,15,12300\n")
    assert main(["release", "request", str(small), "--by", "A. Analyst"]) == 5
    said = capsys.readouterr()
    assert "FAIL  small counts withheld and counts rounded" in said.out + said.err
    assert "column persons, row 2: count below 8" in said.out + said.err
    assert "column cost, row 2: £ figure not rounded" in said.out + said.err
    assert "1234.56" not in said.out + said.err, "a check never quotes the value"
    assert main(["release", "approve", "1", "--by", "B. Checker"]) == 5
    assert "checks failed" in capsys.readouterr().err

    export = tmp_path / "export"
    assert main(["export", str(export)]) == 0
    assert main(["release", "request", str(export / "person.parquet"), "--by", "A. Analyst"]) == 5
    assert "record-level column(s) person_id" in capsys.readouterr().err

    ok = tmp_path / "ok.csv"
    ok.write_text("known_to,persons\ncouncil,0\npolice,15\n")
    assert main(["release", "request", str(ok), "--by", "A. Analyst"]) == 0
    held = home / "release" / "3" / "ok.csv"
    held.write_text("known_to,persons\ncouncil,2\npolice,15\n")  # changed after it was checked
    assert main(["release", "approve", "3", "--by", "B. Checker"]) == 5
    assert "no longer matches" in capsys.readouterr().err
    actions = [e["action"] for e in audit_entries(capsys)]
    assert actions.count("release") == 0 and actions.count("release_refused") == 2
