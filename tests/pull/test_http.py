"""Pull from a partner's HTTP API (a local server standing in for it): pages, a 500 retried, auth by connection."""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest
from helpers import assert_conserved, ledger
from pull_servers import write_protocol_with_source

from ptp_pipeline.cli import main
from ptp_pipeline.pull import RetryPolicy, pull
from ptp_pipeline.runtime import Runtime
from ptp_pipeline.settings import load_settings
from ptp_pipeline.synthetic import SyntheticResult

PAGE = 250
PASSWORD = "api-secret-for-tests"


class PartnerApi(ThreadingHTTPServer):
    lines: list[str]
    failures_left: int
    requests: list[str]


class Handler(BaseHTTPRequestHandler):
    server: PartnerApi

    def log_message(self, *args: object) -> None:  # keep test output quiet
        pass

    def do_GET(self) -> None:
        api = self.server
        api.requests.append(self.path)
        expected = "Basic " + base64.b64encode(f"ptp:{PASSWORD}".encode()).decode()
        if self.headers.get("Authorization") != expected:
            return self._send(401, b"unauthorised")
        if api.failures_left:
            api.failures_left -= 1
            return self._send(500, b"busy")
        url = urlparse(self.path)
        page = int(parse_qs(url.query).get("page", ["1"])[0])
        header, body = api.lines[0], api.lines[1:]
        chunk = body[(page - 1) * PAGE: page * PAGE]
        if url.path == "/api/contacts.json":
            keys = header.split(",")
            records = [dict(zip(keys, line.split(","), strict=False)) for line in chunk]
            return self._send(200, json.dumps({"data": records}).encode(), "application/json")
        return self._send(200, "\n".join([header, *chunk]).encode() + b"\n", "text/csv")

    def _send(self, status: int, body: bytes, kind: str = "text/plain") -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def api(synthetic: SyntheticResult) -> Iterator[PartnerApi]:
    server = PartnerApi(("127.0.0.1", 0), Handler)
    council = next(e for e in synthetic.extracts if e.partner == "council")
    server.lines = council.path.read_text(encoding="utf-8").splitlines()
    server.failures_left = 1
    server.requests = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def use_api(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, api: PartnerApi, endpoint: str, fmt: str,
            password: str = PASSWORD) -> Runtime:
    source = f"""
source:
  kind: http
  conn_id: partner_api
  endpoint: {endpoint}
  format: {fmt}
  records: {"data" if fmt == "json" else "null"}
  pagination: {{param: page, start: 1}}
"""
    monkeypatch.setenv("PTP_PROTOCOLS_DIR", str(write_protocol_with_source(tmp_path / "protocols",
                                                                             "council_contacts.yaml", source)))
    port = api.server_address[1]
    monkeypatch.setenv("AIRFLOW_CONN_PARTNER_API", json.dumps(
        {"conn_type": "http", "host": "127.0.0.1", "port": port, "schema": "http", "login": "ptp",
         "password": password}))
    return Runtime(load_settings())


def test_paged_csv_with_one_500_is_pulled_once(env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                api: PartnerApi, capsys: pytest.CaptureFixture[str]) -> None:
    rt = use_api(monkeypatch, tmp_path, api, "/api/contacts.csv", "csv")
    assert main(["pull", "council", "contacts"]) == 0
    pages = -(-(len(api.lines) - 1) // PAGE)
    assert len(api.requests) == 1 + pages + 1  # the 500, every page, then the empty page that ends it
    assert "Pulled 1 new extract(s) from http connection 'partner_api'" in capsys.readouterr().out
    try:
        (row,) = ledger(rt)
        assert row["status"] == "merged" and row["rows_received"] == len(api.lines) - 1
        assert row["source"] == "http:partner_api:/api/contacts.csv"
        assert_conserved(rt)
    finally:
        rt.close()
    assert main(["pull", "council", "contacts"]) == 0  # same answer again: nothing new lands
    assert "Pulled 0 new extract(s)" in capsys.readouterr().out
    try:
        assert len(ledger(rt)) == 1
    finally:
        rt.close()


def test_json_records_land_as_csv(env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                  api: PartnerApi) -> None:
    rt = use_api(monkeypatch, tmp_path, api, "/api/contacts.json", "json")
    try:
        result = pull(rt, "council", "contacts", ingest=False, retry=RetryPolicy(first_delay=0.01))
        (name,) = result.landed
        landed = (rt.settings.landing_dir / "council" / "contacts" / name).read_text().splitlines()
        assert landed[0] == api.lines[0] and len(landed) == len(api.lines)
    finally:
        rt.close()


def test_refused_api_login_is_not_retried(env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                          api: PartnerApi, capsys: pytest.CaptureFixture[str]) -> None:
    api.failures_left = 0
    use_api(monkeypatch, tmp_path, api, "/api/contacts.csv", "csv", password="wrong-password").close()
    assert main(["pull", "council", "contacts"]) == 7
    stderr = capsys.readouterr().err
    assert "refused the login of connection 'partner_api'" in stderr
    assert "wrong-password" not in stderr and "Traceback" not in stderr
    assert len(api.requests) == 1
