"""`ptp protocol sample`: dummy data that every stage but merge accepts, for each repository protocol."""

from __future__ import annotations

import random
import re
import shutil
from pathlib import Path

import pytest

from ptp_pipeline.cli import main
from ptp_pipeline.protocol.sample import from_pattern

REPO_PROTOCOLS = Path(__file__).resolve().parents[3] / "protocols"


@pytest.mark.parametrize("protocol_id", ["council-contacts", "health-attendances", "police-incidents"])
def test_dummy_data_passes_the_protocol_check(tmp_path: Path, env: dict[str, str], monkeypatch: pytest.MonkeyPatch,
                                             capsys: pytest.CaptureFixture[str], protocol_id: str) -> None:
    folder = tmp_path / "protocols"
    shutil.copytree(REPO_PROTOCOLS, folder)
    monkeypatch.setenv("PTP_PROTOCOLS_DIR", str(folder))
    out = tmp_path / "sample.csv"
    assert main(["protocol", "sample", protocol_id, "--rows", "60", "--out", str(out)]) == 0
    assert "made-up values only" in capsys.readouterr().out
    assert len(out.read_text(encoding="utf-8").splitlines()) == 61
    path = next(p for p in folder.glob("*.yaml") if p.stem.replace("_", "-") == protocol_id)
    assert main(["protocol", "check", str(path), str(out)]) == 0, capsys.readouterr()
    assert "would be accepted 60, quarantined 0" in capsys.readouterr().out


@pytest.mark.parametrize("pattern", [r"^C[0-9]{7}$", r"^[0-9]{1,12}$", r"^[A-Z]{2}\d{6}[A-D]$", r"^LP\d+$",
                                     r"^ab-?[a-f0-9]{3,5}$"])
def test_simple_patterns_are_followed(pattern: str) -> None:
    rng = random.Random(1)
    for _ in range(20):
        made = from_pattern(pattern, rng)
        assert made is not None and re.fullmatch(pattern, made)


def test_a_complex_pattern_is_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "protocols"
    shutil.copytree(REPO_PROTOCOLS, folder)
    police = folder / "police_incidents.yaml"
    police.write_text(police.read_text(encoding="utf-8").replace('pattern: "^[0-9]{1,12}$"',
                                                                 'pattern: "^(A|B)[0-9]{3}$"'), encoding="utf-8")
    monkeypatch.setenv("PTP_PROTOCOLS_DIR", str(folder))
    assert main(["protocol", "sample", "police-incidents", "--out", str(tmp_path / "s.csv")]) == 0
    assert "field 'uprn': its pattern is too complex to follow" in capsys.readouterr().err
