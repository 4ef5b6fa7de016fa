"""The protocol's source: block: defaults, rules, and credentials refused with where to put them."""

from __future__ import annotations

from pathlib import Path

import pytest
from pull_servers import write_protocol_with_source

from ptp_pipeline.cli import main
from ptp_pipeline.errors import ProtocolError
from ptp_pipeline.protocol import load_protocol
from ptp_pipeline.protocol.source import LandingSource, SftpSource

REPO = Path(__file__).resolve().parents[2]


def protocol_with(tmp_path: Path, source: str) -> Path:
    return write_protocol_with_source(tmp_path / "protocols", "council_contacts.yaml", source) / "council_contacts.yaml"


def test_default_source_is_landing() -> None:
    assert isinstance(load_protocol(REPO / "protocols" / "council_contacts.yaml").source, LandingSource)


def test_sftp_source_loads(tmp_path: Path) -> None:
    path = protocol_with(tmp_path, "source: {kind: sftp, conn_id: council_sftp, folder: /outbox, after: move, "
                                   "move_to: /outbox/done, schedule: '0 3 * * *'}")
    src = load_protocol(path).source
    assert isinstance(src, SftpSource) and src.after == "move" and src.pattern == "*.csv"


@pytest.mark.parametrize(("source", "key"), [
    ("source: {kind: sftp, conn_id: c, folder: /o, password: hunter2}", "source.password"),
    ("source: {kind: sftp, conn_id: c, folder: /o, private_key: '-----BEGIN OPENSSH PRIVATE KEY-----'}",
     "source.private_key"),
    ("source: {kind: http, conn_id: c, endpoint: /api, params: {api_token: abc123}}", "source.params.api_token"),
    ("source: {kind: http, conn_id: c, endpoint: '/api?token=abc123'}", "source.endpoint"),
    ("source: {kind: sql, conn_id: c, table: t, query_user: x, secret: s}", "source.secret"),
])
def test_inline_credentials_are_refused_with_where_to_put_them(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], source: str, key: str) -> None:
    path = protocol_with(tmp_path, source)
    with pytest.raises(ProtocolError) as caught:
        load_protocol(path)
    message = caught.value.render()
    assert key in message and "Airflow connection named by conn_id" in message
    assert "hunter2" not in message and "abc123" not in message and "BEGIN OPENSSH" not in message
    assert main(["protocol", "validate", str(path)]) == 3
    stderr = capsys.readouterr().err
    assert f"{path}:" in stderr and "credentials never go in a protocol" in stderr and "Traceback" not in stderr


@pytest.mark.parametrize(("source", "problem"), [
    ("source: {kind: sftp, conn_id: c, folder: /o, after: move}", "names no folder"),
    ("source: {kind: sql, conn_id: c, table: t, watermark: updated_at}", "is not one of the protocol's fields"),
    ("source: {kind: sql, conn_id: c, table: t, query: 'select 1', watermark: unit_cost}",
     "exactly one of 'table' or 'query'"),
    ("source: {kind: sql, conn_id: c, table: t}", r"source\.sql\.watermark: required key .*missing"),
    ("source: {kind: sql, conn_id: 'mysql://root:pw@db/x', table: t}", "conn_id"),
    ("source: {kind: ftp, conn_id: c}", "kind"),
])
def test_source_rules(tmp_path: Path, source: str, problem: str) -> None:
    with pytest.raises(ProtocolError, match=problem):
        load_protocol(protocol_with(tmp_path, source))


@pytest.mark.parametrize("line", [
    "source: {kind: sftp, conn_id: c, folder: /o, password: hunter2}",
    "  password: hunter2",
    "  params: {api_token: hunter2}",
    "  endpoint: '/api?token=hunter2'",
    '  "Private_Key": hunter2',
    "  conn: mysql://root:hunter2@db/x",
])
def test_a_line_that_may_hold_a_credential_is_never_quoted(line: str) -> None:
    from ptp_pipeline.protocol.source import redact_secrets

    shown = redact_secrets(line)
    assert "hunter2" not in shown and "not shown" in shown
    assert shown.startswith(line[: len(line) - len(line.lstrip())])


def test_ordinary_lines_are_quoted_as_they_are() -> None:
    from ptp_pipeline.protocol.source import redact_secrets

    for line in ("  pattern: '*.csv'", "  folder: /outbox/passports", "  conn_id: council_sftp"):
        assert redact_secrets(line) == line
