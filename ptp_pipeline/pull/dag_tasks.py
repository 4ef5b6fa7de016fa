"""The pull task at the head of an ingest DAG whose protocol names a source (stage 0).

Imported by the DAG factory at parse time: cheap imports only; the task body imports the pipeline.
"""

from __future__ import annotations

from typing import Any

from airflow.sdk import CronTriggerTimetable, task

from ptp_pipeline.protocol.model import Protocol
from ptp_pipeline.protocol.source import LandingSource


def pull_schedule(protocol: Protocol) -> CronTriggerTimetable | None:
    """The DAG's schedule: the source's cron (UTC), or none (run by hand or on arrival)."""
    src = protocol.source
    if isinstance(src, LandingSource) or not src.schedule:
        return None
    return CronTriggerTimetable(src.schedule, timezone="UTC")


def add_pull_task(protocol: Protocol, downstream: Any, theme: str | None = None) -> None:
    """Put a `pull` task before `downstream` (the ingest task) when the protocol names a source to pull from."""
    if isinstance(protocol.source, LandingSource):
        return
    partner, dataset = protocol.key

    @task(task_id="pull", pool="ptp_warehouse_writer",
          doc_md=f"Pull new extracts over {protocol.source.kind} (connection `{protocol.source.conn_id}`) "
                 "into landing, exactly once.")
    def pull(theme: str | None) -> dict[str, int]:
        return run_pull(partner, dataset, theme)

    pull(theme=theme) >> downstream


def run_pull(partner: str, dataset: str, theme: str | None = None) -> dict[str, int]:
    """Task body: land what is new; the DAG's next tasks ingest it. A refused login fails without retries."""
    from airflow.sdk.exceptions import AirflowException, AirflowFailException

    from ptp_pipeline.errors import PtpUserError
    from ptp_pipeline.pull.errors import LoginRefused, SourceUnreachable, TransferChanged
    from ptp_pipeline.pull.run import fetch, source_protocol
    from ptp_pipeline.runtime import Runtime
    from ptp_pipeline.settings import theme_settings

    rt = Runtime(theme_settings(theme))
    try:
        pulled = fetch(rt, source_protocol(rt, partner, dataset))
    except LoginRefused as err:
        raise AirflowFailException(err.render()) from None
    except (SourceUnreachable, TransferChanged) as err:
        raise AirflowException(err.render()) from None  # worth another try later: Airflow retries
    except PtpUserError as err:
        raise AirflowFailException(err.render()) from None
    finally:
        rt.close()
    return {"landed": len(pulled.landed), "already_pulled": len(pulled.skipped)}
