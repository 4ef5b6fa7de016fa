"""E-mail alerts through Airflow's SMTP notifier, received by a local SMTP server (aiosmtpd) on loopback."""

from __future__ import annotations

import csv
import email
import json
import socket
from collections.abc import Iterator
from email.message import Message
from pathlib import Path
from typing import Any

import pytest
from helpers import assert_conserved, run_police_dag_with_an_extra_column

from ptp_pipeline.runtime import Runtime
from ptp_pipeline.settings import load_settings
from ptp_pipeline.synthetic import SyntheticResult

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.airflow


class Sink:
    """Keeps every message it is sent."""

    def __init__(self) -> None:
        self.received: list[tuple[list[str], Message]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.received.append((list(envelope.rcpt_tos), email.message_from_bytes(envelope.content)))
        return "250 OK"


@pytest.fixture
def smtp_sink(monkeypatch: pytest.MonkeyPatch) -> Iterator[Sink]:
    from aiosmtpd.controller import Controller

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    sink = Sink()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    monkeypatch.setenv("AIRFLOW_CONN_SMTP_DEFAULT", json.dumps({
        "conn_type": "smtp", "host": "127.0.0.1", "port": port,
        "extra": {"disable_ssl": True, "disable_tls": True, "from_email": "ptp-pipeline@council.example"}}))
    monkeypatch.setenv("PTP_ALERT_EMAILS", "operations@council.example")
    monkeypatch.setenv("PTP_ALERT_EMAILS_POLICE", "data.officer@police.example")
    monkeypatch.setenv("PTP_TASK_LOG_DAYS", "off")  # runs dated months ahead must not delete this session's logs
    try:
        yield sink
    finally:
        controller.stop()


def _body(message: Message) -> str:
    parts = message.walk() if message.is_multipart() else [message]
    payloads = [p.get_payload(decode=True) for p in parts if p.get_content_maintype() == "text"]
    return "\n".join(p.decode("utf-8") for p in payloads if isinstance(p, bytes))


def test_a_refused_extract_emails_operations_and_the_partner(airflow_db: Path, env: dict[str, str],
                                                             smtp_sink: Sink, synthetic: SyntheticResult,
                                                             tmp_path: Path) -> None:
    _, run = run_police_dag_with_an_extra_column(synthetic.extracts, tmp_path)
    assert run.state == "failed"
    (to, message), = smtp_sink.received
    assert to == ["operations@council.example", "data.officer@police.example"]
    assert message["Subject"].startswith("[ptp] ptp_ingest_police_incidents.check failed for extract police.incidents.")
    body = _body(message)
    assert "[PTP400]" in body and "notes" in body and "ptp reprocess" in body
    extract = next(e for e in synthetic.extracts if e.partner == "police")
    with extract.path.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    values = {v.strip() for r in rows for k, v in r.items() if k in ("surname", "nhs_number", "home_postcode")}
    assert sorted(v for v in values if len(v) >= 4 and v in body + message["Subject"]) == []
    rt = Runtime(load_settings(env))
    try:
        assert_conserved(rt)
    finally:
        rt.close()


def test_housekeeping_emails_protocols_about_to_expire(airflow_db: Path, env: dict[str, str],
                                                      smtp_sink: Sink) -> None:
    from datetime import UTC, datetime

    from airflow.dag_processing.dagbag import DagBag

    dag = DagBag(str(REPO / "dags")).get_dag("ptp_housekeeping")
    assert dag is not None
    quiet = dag.test(run_after=datetime(2025, 6, 1, 4, tzinfo=UTC))  # nothing near its end: no e-mail
    assert quiet.state == "success" and smtp_sink.received == []
    run = dag.test(run_after=datetime(2027, 3, 20, 4, tzinfo=UTC))  # police's protocol ends on 2027-03-31
    assert run.state == "success"
    (to, message), = smtp_sink.received
    assert to == ["operations@council.example"]
    assert "expire within 30 days" in message["Subject"]
    assert "police-incidents v1 (police/incidents): expires on 2027-03-31" in _body(message)


def test_housekeeping_emails_late_extracts_to_operations_and_the_partner(
        airflow_db: Path, env: dict[str, str], smtp_sink: Sink, synthetic: SyntheticResult,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Monthly by day 5: on the 20th, police (nothing received) is late; health sent this month; council is off."""
    from datetime import UTC, datetime

    from airflow.dag_processing.dagbag import DagBag

    from ptp_pipeline.pipeline import ingest

    monkeypatch.setenv("PTP_DELIVERY_DUE_DAY", "5")
    monkeypatch.setenv("PTP_DELIVERY_DUE_DAY_COUNCIL_CONTACTS", "off")
    monkeypatch.setenv("PTP_DELIVERY_DUE_DAY_LICENSING_REGISTER", "off")  # sent when it changes, not monthly
    health = next(e for e in synthetic.extracts if e.partner == "health")
    rt = Runtime(load_settings(env))
    try:
        assert ingest(rt, health.path, "health", "attendances").status == "merged"
        received = rt.warehouse.scalar("SELECT max(received_at) FROM ops.extract_ledger")
    finally:
        rt.close()
    run_after = datetime(received.year, received.month, 20, 4, tzinfo=UTC)
    dag = DagBag(str(REPO / "dags")).get_dag("ptp_housekeeping")
    assert dag is not None
    run = dag.test(run_after=run_after)
    assert run.state == "success"
    late = [(to, m) for to, m in smtp_sink.received if "late" in m["Subject"]]
    assert [(to, m["Subject"]) for to, m in late] == [
        (["operations@council.example", "data.officer@police.example"],
         "[ptp] police/incidents: this month's extract is late")]
    body = _body(late[0][1])
    assert f"due by {run_after.date().replace(day=5).isoformat()}" in body and "Last extract received: never" in body
    rt = Runtime(load_settings(env))
    try:
        assert_conserved(rt)
    finally:
        rt.close()


def test_no_recipients_no_notifier(airflow_db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from airflow.dag_processing.dagbag import DagBag

    monkeypatch.delenv("PTP_ALERT_EMAILS", raising=False)
    dag = DagBag(str(REPO / "dags")).get_dag("ptp_ingest_police_incidents")
    assert dag is not None
    callbacks = dag.default_args["on_failure_callback"]
    assert [getattr(c, "__name__", type(c).__name__) for c in callbacks] == ["record_failure"]
