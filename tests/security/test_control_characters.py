"""Issue 17 (hostile input): control and format characters (ESC, the right-to-left override U+202E) in a
file's name or in --partner/--dataset. Printed raw, ESC sequences drive the data officer's terminal and
U+202E shows "evil\u202ecsv.exe" as "evilexe.vsc"; stored raw, they reach every later reader of the ledger
and audit log. Ids holding them are refused; file names are kept, escaped, everywhere."""

from __future__ import annotations

import shutil
import unicodedata
from pathlib import Path

import pytest

from ptp_pipeline.cli import main
from ptp_pipeline.runtime import Runtime
from ptp_pipeline.settings import load_settings
from ptp_pipeline.synthetic import SyntheticResult

ESC, RLO = "\x1b", "\u202e"


def hidden(text: str) -> list[str]:
    """Control, format and separator characters in `text`, bar the line breaks and tabs of layout."""
    return [c for c in text if unicodedata.category(c)[0] == "C" and c not in "\n\t"]


def health(synthetic: SyntheticResult) -> Path:
    return next(e.path for e in synthetic.extracts if e.partner == "health")


@pytest.mark.parametrize(("partner", "dataset", "option", "shown"), [
    (f"hea{ESC}[2Jlth", "attendances", "--partner", "hea\\x1b[2Jlth"),
    ("health", f"attendances{RLO}", "--dataset", "attendances\\u202e"),
    ("health", "atten\u200bdances", "--dataset", "atten\\u200bdances"),
])
def test_ids_with_control_characters_are_refused_and_shown_escaped(
        env: dict[str, str], synthetic: SyntheticResult, capsys: pytest.CaptureFixture[str],
        partner: str, dataset: str, option: str, shown: str) -> None:
    assert main(["ingest", str(health(synthetic)), "--partner", partner, "--dataset", dataset]) == 4
    text = "\n".join(capsys.readouterr())
    assert f"the {option} id {shown} holds a control or format character" in text, text
    assert hidden(text) == []
    rt = Runtime(load_settings(env))
    try:
        assert rt.warehouse.query("SELECT count(*) AS n FROM ops.extract_ledger").iloc[0]["n"] == 0
    finally:
        rt.close()


def test_file_names_with_control_characters_are_escaped_on_screen_and_in_the_ledger(
        env: dict[str, str], synthetic: SyntheticResult, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    name = f"evil{ESC}[31m{RLO}vsc.exe.csv"
    path = tmp_path / name
    shutil.copy(health(synthetic), path)
    assert main(["ingest", str(path), "--partner", "health", "--dataset", "attendances"]) == 0
    assert main(["status", "--json"]) == 0
    text = "\n".join(capsys.readouterr())
    assert "evil\\x1b[31m\\u202evsc.exe.csv" in text.replace("\\\\", "\\")
    assert hidden(text) == []
    rt = Runtime(load_settings(env))
    try:
        stored = "\n".join(rt.warehouse.query(f"SELECT * FROM {table}").astype(str).to_csv()
                           for table in ("ops.extract_ledger", "ops.audit_log"))
    finally:
        rt.close()
    assert "evil\\x1b[31m\\u202evsc.exe.csv" in stored
    assert hidden(stored.replace("\r", "")) == []
