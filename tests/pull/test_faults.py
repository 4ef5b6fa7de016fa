"""An unreachable source is retried with backoff, then reported naming the connection; nothing lands."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pull_servers import free_port, write_protocol_with_source

from ptp_pipeline.cli import main
from ptp_pipeline.pull import RetryPolicy, pull
from ptp_pipeline.pull.errors import SourceUnreachable
from ptp_pipeline.runtime import Runtime
from ptp_pipeline.settings import load_settings

SOURCES = {
    "sftp": ("source: {kind: sftp, conn_id: partner_src, folder: /outbox}",
             {"conn_type": "sftp", "login": "ptp", "extra": {"no_host_key_check": "true"}}),
    "mysql": ("source: {kind: sql, conn_id: partner_src, table: contacts, watermark: contact_date}",
              {"conn_type": "mysql", "login": "root", "schema": "x"}),
    "postgres": ("source: {kind: sql, conn_id: partner_src, table: contacts, watermark: contact_date}",
                 {"conn_type": "postgres", "login": "postgres", "schema": "x"}),
    "http": ("source: {kind: http, conn_id: partner_src, endpoint: /api}", {"conn_type": "http", "schema": "http"}),
}


@pytest.mark.parametrize("kind", sorted(SOURCES))
def test_unreachable_source_is_retried_then_reported(
        env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kind: str) -> None:
    source, conn = SOURCES[kind]
    monkeypatch.setenv("PTP_PROTOCOLS_DIR", str(write_protocol_with_source(tmp_path / "p", "council_contacts.yaml",
                                                                             source)))
    monkeypatch.setenv("AIRFLOW_CONN_PARTNER_SRC", json.dumps({**conn, "host": "127.0.0.1", "port": free_port(),
                                                               "password": "s3cret-pw"}))
    rt = Runtime(load_settings())
    try:
        with pytest.raises(SourceUnreachable, match="through connection 'partner_src' failed 3 times") as caught:
            pull(rt, "council", "contacts", retry=RetryPolicy(attempts=3, first_delay=0.01))
        assert "s3cret-pw" not in caught.value.render()
        assert not (rt.settings.landing_dir / "council").exists()
    finally:
        rt.close()


def test_undefined_connection_says_how_to_set_it(env: dict[str, str], tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("PTP_PROTOCOLS_DIR", str(write_protocol_with_source(tmp_path / "p", "council_contacts.yaml",
                                                                             SOURCES["mysql"][0])))
    monkeypatch.delenv("AIRFLOW_CONN_PARTNER_SRC", raising=False)
    assert main(["pull", "council", "contacts"]) == 7
    stderr = capsys.readouterr().err
    assert "Airflow connection 'partner_src' is not defined" in stderr and "AIRFLOW_CONN_PARTNER_SRC" in stderr


def test_protocol_without_source_has_nothing_to_pull(env: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["pull", "police", "incidents"]) == 3
    assert "has no source to pull from" in capsys.readouterr().err


def test_malformed_connection_is_reported_without_its_secret(env: dict[str, str], tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("PTP_PROTOCOLS_DIR", str(write_protocol_with_source(tmp_path / "p", "council_contacts.yaml",
                                                                             SOURCES["mysql"][0])))
    monkeypatch.setenv("AIRFLOW_CONN_PARTNER_SRC", '{"conn_type": "mysql", "password": "s3cret-pw", ')
    assert main(["pull", "council", "contacts"]) == 7
    stderr = capsys.readouterr().err
    assert "Airflow connection 'partner_src' is not defined" in stderr  # Airflow ignores what does not parse
    assert "s3cret-pw" not in stderr and "Traceback" not in stderr
