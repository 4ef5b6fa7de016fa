"""`pull`: fetch what is new at a protocol's source into landing, then ingest it like a dropped file."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from ptp_pipeline.errors import ExtractError, ProtocolError
from ptp_pipeline.protocol import Protocol, protocol_in_force
from ptp_pipeline.protocol.source import HttpSource, LandingSource, SftpSource, SqlSource
from ptp_pipeline.pull import records
from ptp_pipeline.pull.land import Pulled, landing_dir, sweep
from ptp_pipeline.pull.retry import RetryPolicy, with_retry
from ptp_pipeline.runtime import Runtime


@dataclass
class PullResult:
    partner: str
    dataset: str
    kind: str
    conn_id: str
    dry_run: bool
    landed: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    planned: list[str] = field(default_factory=list)
    outcomes: list[object] = field(default_factory=list)  # pipeline.Outcome per ingested file


def source_protocol(rt: Runtime, partner: str, dataset: str) -> Protocol:
    """The protocol in force today, which must name a source to pull from."""
    try:
        protocol = protocol_in_force(rt.protocols, partner, dataset, datetime.now(UTC).date())
    except ExtractError as err:
        raise ProtocolError(f"nothing may be pulled: {err.message}", hint=err.hint) from None
    if isinstance(protocol.source, LandingSource):
        raise ProtocolError(f"protocol {protocol.id} v{protocol.version} has no source to pull from: the partner "
                            f"drops files into landing/{partner}/{dataset}/",
                            hint="To pull instead, a data officer adds a source: block (sftp, sql or http) to the "
                                 "protocol; see README, 'Declaring a source'.")
    return protocol


def fetch(rt: Runtime, protocol: Protocol, *, dry_run: bool = False, retry: RetryPolicy | None = None,
          on_progress: Callable[[str, int], None] | None = None) -> Pulled:
    """Land what is new at the source (no ingest). Safe to rerun: nothing lands twice."""
    src = protocol.source
    partner, dataset = protocol.key
    policy = retry or RetryPolicy()
    if not dry_run:
        sweep(rt, partner, dataset)
        records.settle_finished(rt.warehouse, partner, dataset)
    if isinstance(src, SftpSource):
        from ptp_pipeline.pull.sftp import pull_sftp

        return with_retry("pulling over SFTP", src.conn_id, policy,
                          lambda: pull_sftp(rt, protocol, src, dry_run=dry_run, on_progress=on_progress))
    if isinstance(src, SqlSource):
        from ptp_pipeline.pull.sql import pull_sql

        waiting = _waiting(rt, partner, dataset)
        if waiting:  # the last range has no ledger outcome yet: ingest it before pulling the next
            return Pulled(skipped=[f"{p.name}: pulled before, waiting to be ingested" for p in waiting])
        return with_retry("pulling from the partner database", src.conn_id, policy,
                          lambda: pull_sql(rt, protocol, src, dry_run=dry_run))
    if isinstance(src, HttpSource):
        from ptp_pipeline.pull.http import pull_http

        return pull_http(rt, protocol, src, dry_run=dry_run, policy=policy)
    raise AssertionError(f"unknown source {src!r}")


def _waiting(rt: Runtime, partner: str, dataset: str) -> list[Path]:
    """Landed files whose extract has no ledger outcome yet; records of files gone from landing are dropped."""
    found: list[Path] = []
    for pull_id, name in records.pending(rt.warehouse, partner, dataset):
        path = landing_dir(rt, partner, dataset) / name
        if path.exists():
            found.append(path)
        else:
            records.abandon(rt.warehouse, pull_id)
    return found


def pull(rt: Runtime, partner: str, dataset: str, *, dry_run: bool = False, ingest: bool = True,
         retry: RetryPolicy | None = None, on_progress: Callable[[str, int], None] | None = None) -> PullResult:
    """Pull new extracts for one dataset, then run each (and any pulled earlier but not ingested) through
    receive → check → pseudonymise → validate → merge."""
    from ptp_pipeline import pipeline

    protocol = source_protocol(rt, partner, dataset)
    src = protocol.source
    assert not isinstance(src, LandingSource)
    pulled = fetch(rt, protocol, dry_run=dry_run, retry=retry, on_progress=on_progress)
    result = PullResult(partner, dataset, src.kind, src.conn_id, dry_run, [p.name for p in pulled.landed],
                        pulled.skipped, pulled.planned)
    if dry_run or not ingest:
        return result
    todo = list(dict.fromkeys([*pulled.landed, *_waiting(rt, partner, dataset)]))
    for path in todo:
        result.outcomes.append(pipeline.ingest(rt, path, partner, dataset))
    records.settle_finished(rt.warehouse, partner, dataset)  # a file identical to one merged before
    return result
