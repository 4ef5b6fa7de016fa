"""The pipeline's StatsD counters, received by a real UDP socket on loopback from real ingest runs."""

from __future__ import annotations

import re
import socket
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import run_police_dag_with_an_extra_column

from ptp_pipeline.synthetic import SyntheticResult

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.airflow


@pytest.fixture
def statsd_socket(monkeypatch: pytest.MonkeyPatch) -> Iterator[socket.socket]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(0.2)
    monkeypatch.setenv("PTP_STATSD_HOST", "127.0.0.1")
    monkeypatch.setenv("PTP_STATSD_PORT", str(sock.getsockname()[1]))
    try:
        yield sock
    finally:
        sock.close()


def _received(sock: socket.socket) -> dict[str, list[tuple[float, str]]]:
    """Every StatsD line waiting on the socket: name -> [(value, type)]."""
    out: dict[str, list[tuple[float, str]]] = defaultdict(list)
    while True:
        try:
            packet = sock.recv(65536).decode("ascii")
        except TimeoutError:
            return out
        for line in packet.splitlines():
            name, value, kind = re.fullmatch(r"([^:]+):([-0-9.]+)\|(c|ms|g)", line).groups()  # type: ignore[union-attr]
            out[name].append((float(value), kind))


def test_an_ingest_run_sends_its_counts_and_stage_timings(airflow_db: Path, env: dict[str, str],
                                                          synthetic: SyntheticResult, statsd_socket: socket.socket,
                                                          tmp_path: Path) -> None:
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(str(REPO / "dags"))
    sent = {}
    for partner, dataset in (("police", "incidents"), ("health", "attendances")):
        extract = next(e for e in synthetic.extracts if e.partner == partner)
        dag = bag.get_dag(f"ptp_ingest_{partner}_{dataset}")
        assert dag is not None
        assert dag.test(run_conf={"path": str(extract.path)}).state == "success"
        metrics = _received(statsd_socket)
        base = f"ptp.ingest.{partner}.{dataset}"
        counts = {name.removeprefix(base + "."): sum(v for v, _ in values) for name, values in metrics.items()
                  if values[0][1] == "c"}
        assert counts["rows_received"] == extract.rows
        assert counts["rows_accepted"] + counts["rows_quarantined"] == extract.rows and counts["rows_accepted"] > 0
        assert counts["extracts_merged"] == 1
        timers = {name.removeprefix(base + ".stage.") for name, values in metrics.items() if values[0][1] == "ms"}
        assert timers == {"receive", "check", "pseudonymise", "validate", "merge"}
        assert all(name.startswith(base + ".") for name in metrics)  # no id or file name in any metric name
        sent[partner] = counts
    assert sent["police"]["persons_new"] > 0 and sent["police"]["persons_linked"] == 0  # the first extract
    # the synthetic partnership shares people: health links some records to persons police already made
    assert sent["health"]["persons_linked"] > 0

    _, run = run_police_dag_with_an_extra_column(synthetic.extracts, tmp_path)
    assert run.state == "failed"
    assert _received(statsd_socket) == {"ptp.ingest.police.incidents.extracts_refused": [(1.0, "c")]}


def test_no_host_no_metrics(monkeypatch: pytest.MonkeyPatch) -> None:
    from ptp_pipeline.metrics import client

    monkeypatch.delenv("PTP_STATSD_HOST", raising=False)
    assert client() is None
    assert client({"PTP_STATSD_HOST": "127.0.0.1", "PTP_STATSD_PREFIX": "council"}) is not None
