"""`ptp feedback`, `ptp ingest --corrects`, Data Docs links and bad files, through the CLI entry point."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import assert_conserved

from ptp_pipeline.cli import main
from ptp_pipeline.runtime import Runtime
from ptp_pipeline.settings import load_settings

HEADER = "surname,forenames,birth_date,home_postcode,sex,nhs_number,occurred_on,incident_type,estimated_cost"
POLICE = ["--partner", "police", "--dataset", "incidents"]


def police_file(path: Path, bad_type: str | None = None) -> Path:
    lines = [f"Smith{chr(97 + i % 26)},Ann,{30000 + i},LS1 1AA,F,,01/05/2024,arrest,10" for i in range(30)]
    if bad_type:
        lines[2] = lines[2].replace("arrest", bad_type)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join([HEADER, *lines]) + "\n")
    return path


def conserved(env: dict[str, str]) -> None:
    rt = Runtime(load_settings(env))
    try:
        assert_conserved(rt)
    finally:
        rt.close()


def test_ingest_links_data_docs_then_feedback_then_correction(env: dict[str, str], tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    first = police_file(tmp_path / "police.csv", bad_type="riot")
    assert main(["ingest", str(first), *POLICE]) == 0
    out = capsys.readouterr().out
    assert "Data Docs: file://" in out and "/validations/" in out
    assert main(["status", "--json"]) == 0
    (row,) = json.loads(capsys.readouterr().out)
    assert (row["rows_received"], row["rows_accepted"], row["rows_quarantined"]) == (30, 29, 1)
    assert main(["status"]) == 0
    assert f"Data Docs for {row['extract_id']}: {row['docs_url']}" in capsys.readouterr().out.replace("\n", "")

    assert main(["feedback", row["extract_id"], "--out", str(tmp_path / "fb")]) == 0
    out = capsys.readouterr().out
    assert "1 row(s) with problems" in out
    csv = (tmp_path / "fb" / f"{row['extract_id']}.feedback.csv").read_text()
    assert "3,4,incident_type,is not one of the agreed codes" in csv and "riot" not in csv

    assert main(["ingest", str(first), *POLICE]) == 0
    assert "Note: this file (same SHA-256) was already received" in capsys.readouterr().out.replace("\n", "")

    fixed = police_file(tmp_path / "police-v2.csv")
    assert main(["ingest", str(fixed), *POLICE, "--corrects", row["extract_id"]]) == 0
    capsys.readouterr()
    assert main(["status", "--json"]) == 0
    statuses = {r["extract_id"]: r["status"] for r in json.loads(capsys.readouterr().out)}
    assert statuses[row["extract_id"]] == "superseded" and sorted(statuses.values()) == ["merged", "superseded"]
    assert main(["status"]) == 0
    assert "superseded by police.incidents." in capsys.readouterr().out.replace("\n", "")
    conserved(env)


def test_feedback_unknown_extract_and_bad_correction_are_clear_errors(env: dict[str, str], tmp_path: Path,
                                                                      capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["feedback", "police.incidents.0000"]) == 1
    assert "no extract has the id police.incidents.0000" in capsys.readouterr().err
    path = police_file(tmp_path / "police.csv")
    assert main(["ingest", str(path), *POLICE, "--corrects", "police.incidents.0000"]) == 4
    err = capsys.readouterr().err
    assert "never received" in err and "Traceback" not in err


@pytest.mark.parametrize("data", [b"", b"PK\x03\x04\x00\x00binary", HEADER.encode() + b"\n",
                                  HEADER.encode() + b"\nSm\xeft,Ann,30000,LS1 1AA,F,,01/05/2024,arrest,10\n"])
def test_bad_files_exit_4_with_a_message_and_no_traceback(env: dict[str, str], tmp_path: Path, data: bytes,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "police.csv"
    path.write_bytes(data)
    assert main(["ingest", str(path), *POLICE]) == 4
    captured = capsys.readouterr()
    assert "Refused:" in captured.err and "Traceback" not in captured.err + captured.out
    assert "Sm" + "\ufffd" not in captured.err and "Smït" not in captured.err
    conserved(env)
