"""The pipeline's own counters, sent over StatsD (UDP) when `PTP_STATSD_HOST` is set.

Per extract, after its merge: rows received, accepted and quarantined, persons linked (already known)
and new, and each stage's seconds (a timer), under `<prefix>.ingest.<partner>.<dataset>.`:
`rows_received`, `rows_accepted`, `rows_quarantined`, `persons_linked`, `persons_new` (counters),
`stage.<stage>` (timers, ms), and `extracts_merged` / `extracts_refused` (counters). Prefix
`PTP_STATSD_PREFIX` (default `ptp`), port `PTP_STATSD_PORT` (default 8125). Airflow's own metrics are
its `[metrics] statsd_*` settings (README, "Metrics"); both can go to the same StatsD server.

Counts and timings only: no id, file name or value from a file is ever part of a metric name.
UDP is fire-and-forget, so a missing StatsD server never slows or fails an ingest.
"""

from __future__ import annotations

import logging
import os
from typing import Any

log = logging.getLogger(__name__)
HOST_ENV, PORT_ENV, PREFIX_ENV = "PTP_STATSD_HOST", "PTP_STATSD_PORT", "PTP_STATSD_PREFIX"


def client(environ: dict[str, str] | None = None) -> Any | None:
    """A StatsD client from the environment, or None when `PTP_STATSD_HOST` is unset."""
    env = os.environ if environ is None else environ
    host = env.get(HOST_ENV, "").strip()
    if not host:
        return None
    from statsd import StatsClient

    return StatsClient(host=host, port=int(env.get(PORT_ENV, "8125")), prefix=env.get(PREFIX_ENV, "ptp") or None)


class IngestMetrics:
    """Collects one extract's stage timings, then sends them with its counts (nothing without a client)."""

    def __init__(self, partner: str, dataset: str, statsd: Any | None = None, *, theme: str | None = None) -> None:
        self.statsd = statsd if statsd is not None else client()
        self.base = f"ingest.{theme}.{partner}.{dataset}" if theme else f"ingest.{partner}.{dataset}"
        self.stages: dict[str, float] = {}

    def stage(self, name: str, seconds: float) -> None:
        self.stages[name] = seconds

    def refused(self) -> None:
        self._send(lambda s: s.incr(f"{self.base}.extracts_refused"))

    def merged(self, rt: Any, extract_id: str) -> None:
        """Counts from the ledger and the link records of this extract, then the stage timings."""
        if self.statsd is None:
            return
        row = rt.warehouse.query("SELECT rows_received, rows_accepted, rows_quarantined FROM ops.extract_ledger "
                                 "WHERE extract_id = ?", (extract_id,))
        persons = rt.warehouse.query(
            "SELECT count(*) AS persons, coalesce(sum(CASE WHEN only_here THEN 1 ELSE 0 END), 0) AS new FROM ("
            " SELECT person_id, bool_and(extract_id = ?) AS only_here FROM restricted.link_record"
            " WHERE person_id IN (SELECT person_id FROM restricted.link_record WHERE extract_id = ?)"
            " GROUP BY person_id) AS p", (extract_id, extract_id))
        counts = {f"rows_{k}": int(row.iloc[0][f"rows_{k}"]) for k in ("received", "accepted", "quarantined")}
        total, new = int(persons.iloc[0]["persons"]), int(persons.iloc[0]["new"])
        counts.update(persons_linked=total - new, persons_new=new, extracts_merged=1)

        def send(s: Any) -> None:
            pipe = s.pipeline()
            for name, value in counts.items():
                pipe.incr(f"{self.base}.{name}", value)
            for name, seconds in self.stages.items():
                pipe.timing(f"{self.base}.stage.{name}", seconds * 1000.0)
            pipe.send()

        self._send(send)

    def _send(self, action: Any) -> None:
        if self.statsd is None:
            return
        try:
            action(self.statsd)
        except OSError as exc:  # a metrics server that cannot be reached never fails an ingest
            log.warning("could not send metrics to StatsD: %s", type(exc).__name__)
