"""The `ptp` command line, through its entry point (and once as the installed script)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import write_csv

from ptp_pipeline.cli import main
from ptp_pipeline.synthetic import SyntheticResult


def test_ingest_then_status(env: dict[str, str], synthetic: SyntheticResult,
                            capsys: pytest.CaptureFixture[str]) -> None:
    extract = next(e for e in synthetic.extracts if e.partner == "health")
    assert main(["ingest", str(extract.path), "--partner", "health", "--dataset", "attendances"]) == 0
    out = capsys.readouterr().out
    assert "merged" in out and f"{extract.rows:,}" in out
    assert main(["status", "--json"]) == 0
    (row,) = json.loads(capsys.readouterr().out)
    assert row["status"] == "merged" and row["rows_received"] == extract.rows
    assert row["rows_accepted"] + row["rows_quarantined"] == row["rows_received"]
    assert main(["status"]) == 0
    assert "health/attendances" in capsys.readouterr().out


def test_refused_extract_exits_4_with_a_clear_message(env: dict[str, str], tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    path = write_csv(tmp_path / "police.csv", ["surname", "ethnicity"], [["Smith", "x"]])
    assert main(["ingest", str(path), "--partner", "police", "--dataset", "incidents"]) == 4
    captured = capsys.readouterr()
    assert "ethnicity" in captured.err and "police-incidents" in captured.err
    assert "Traceback" not in captured.err + captured.out
    assert "Smith" not in captured.err + captured.out


def test_missing_file_is_a_user_error_not_a_traceback(env: dict[str, str],
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ingest", "/nonexistent/file.csv", "--partner", "police", "--dataset", "incidents"]) == 4
    captured = capsys.readouterr()
    assert "file not found" in captured.err + captured.out
    assert "Traceback" not in captured.err


def test_a_setting_out_of_range_is_a_configuration_error_naming_it(
        env: dict[str, str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("PTP_WORKERS", "-37")
    monkeypatch.setenv("PTP_WATCH_INTERVAL", "soon")
    assert main(["status"]) == 2
    out = capsys.readouterr()
    said = out.err + out.out
    assert "PTP_WORKERS" in said and "PTP_WATCH_INTERVAL" in said and "greater than or equal to 1" in said
    assert "-37" not in said and "soon" not in said and "Traceback" not in said  # values are never quoted


def test_protocol_validate_reports_file_and_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    repo_protocols = Path(__file__).resolve().parents[2] / "protocols"
    assert main(["protocol", "validate"]) == 0
    bad = tmp_path / "bad.yaml"
    text = (repo_protocols / "police_incidents.yaml").read_text()
    bad.write_text(text.replace("role: direct_identifier, treatment: pseudonymise, identifies: surname",
                                "role: direct_identifier, treatment: keep, identifies: surname"))
    assert main(["protocol", "validate", str(bad)]) == 3
    err = capsys.readouterr().err
    line = next(i for i, t in enumerate(bad.read_text().splitlines(), 1) if "treatment: keep, identifies: surname" in t)
    assert f"bad.yaml:{line}" in err.replace("\n", "")
    assert "direct identifier kept as it is" in err


def test_key_new_writes_owner_only_file(tmp_path: Path) -> None:
    path = tmp_path / "k" / "project.key"
    assert main(["key", "new", str(path)]) == 0
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    assert len(bytes.fromhex(path.read_text().strip())) == 32
    assert main(["key", "new", str(path)]) == 5, "an existing key is never overwritten"


def test_installed_script_runs() -> None:
    script = shutil.which("ptp", path=str(Path(sys.executable).parent)) or shutil.which("ptp")
    if script is None:
        pytest.fail("the `ptp` console script is not installed: run `make test`, which installs the project")
    result = subprocess.run([script, "--help"], capture_output=True, text=True, env=os.environ.copy(), check=False)
    assert result.returncode == 0
    for command in ("demo", "ingest", "status", "protocol", "key"):
        assert command in result.stdout
