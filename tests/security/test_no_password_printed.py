"""Issue 16.9: a password in a warehouse URL is never printed, however the URL is wrong."""

from __future__ import annotations

from pathlib import Path

import pytest

from ptp_pipeline.cli import main
from ptp_pipeline.warehouse import mask_url

SECRET = "s3cret-Pw9"


@pytest.mark.parametrize("url", [
    f"postgresql://ptp:{SECRET}@127.0.0.1:1/ptp",  # nothing listens
    f"postgresql://ptp:{SECRET}@[bad/ptp",  # malformed: libpq quotes the whole URL
    f"postgresql://ptp:{SECRET}@127.0.0.1:notaport/ptp",
    f"postgresql://ptp@127.0.0.1:1/ptp?password={SECRET}&sslmode=disable",
])
def test_no_command_prints_the_warehouse_password(url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("PTP_HOME", str(tmp_path))
    monkeypatch.setenv("PTP_WAREHOUSE", url)
    for command in (["status"], ["migrate"], ["export", str(tmp_path / "x")]):
        assert main(command) == 6, command
        captured = capsys.readouterr()
        assert SECRET not in captured.out + captured.err
        assert "cannot connect to the PostgreSQL warehouse" in captured.err
    assert SECRET not in mask_url(url)
