"""E-mail alerts through Airflow's notifier mechanism (the SMTP provider's `SmtpNotifier`).

Who is told: operations, `PTP_ALERT_EMAILS` (comma-separated; a deployment setting), and for one
protocol's alerts its `contacts` (`protocol/delivery.py`), each for the alert kinds it lists (failure,
refusal, late, expiry). With no one to tell, nothing is sent. The mail server is Airflow's SMTP
connection (`smtp_default`, or `PTP_ALERT_SMTP_CONN_ID`); the sender is `PTP_ALERT_FROM` or the
connection's `from_email`.

What is sent never holds a value from an extract: the failure is described by
`pipeline.describe_failure` (the project's own messages, which name file, row, field and what to do,
or only the error type), and ids, counts and dates otherwise.

Imported by the DAG factory at parse time: standard library and Airflow only at module level.
"""

from __future__ import annotations

import html
import os
from typing import TYPE_CHECKING, Any

from airflow.providers.smtp.notifications.smtp import SmtpNotifier

if TYPE_CHECKING:
    from ptp_pipeline.protocol.model import Protocol

ALERT_ENV = "PTP_ALERT_EMAILS"


def operations() -> list[str]:
    """Operations' addresses (`PTP_ALERT_EMAILS`), in order, without repeats."""
    return _unique(os.environ.get(ALERT_ENV, "").replace(";", ",").split(","))


def recipients(protocol: Protocol | None, alert: str) -> list[str]:
    """Operations, then the protocol's contacts that take this kind of alert."""
    contacts = [c.email for c in protocol.contacts if alert in c.alerts] if protocol is not None else []
    return _unique([*operations(), *contacts])


def _unique(addresses: list[str]) -> list[str]:
    out: list[str] = []
    for address in addresses:
        if address.strip() and address.strip() not in out:
            out.append(address.strip())
    return out


def _conn_id() -> str | None:
    return os.environ.get("PTP_ALERT_SMTP_CONN_ID") or None


class FailureNotifier(SmtpNotifier):
    """A task gave up: which DAG, task, run and extract, and why, in words safe to send.

    A refused extract (a data problem) goes to the contacts that take `refusal` alerts, any other
    failure to those that take `failure` alerts; operations get both.
    """

    def __init__(self, *, to_by_alert: dict[str, list[str]], **kwargs: Any) -> None:
        super().__init__(to=to_by_alert["failure"] or to_by_alert["refusal"], **kwargs)
        self.to_by_alert = to_by_alert

    def notify(self, context: Any) -> None:
        from ptp_pipeline.ingest_task import failed_extracts
        from ptp_pipeline.pipeline import describe_failure

        ti = context.get("ti")
        failed = failed_extracts(ti) if ti is not None else []
        ids = [f.extract_id for f in failed if f.extract_id]
        refused = type(context.get("exception")).__name__ == "AirflowFailException" and bool(failed)
        self.to = self.to_by_alert["refusal" if refused else "failure"]
        if not self.to:
            return
        what = describe_failure(context.get("exception"))
        where = f"{getattr(ti, 'dag_id', '?')}.{getattr(ti, 'task_id', '?')}"
        stages = sorted({f.stage for f in failed})
        self.subject = (f"[ptp] {where}{' (' + ', '.join(stages) + ')' if stages else ''} "
                        f"{'refused' if refused else 'failed'}" + (f" extract {', '.join(ids)}" if ids else ""))
        lines = [f"Task {where} failed (run {getattr(ti, 'run_id', '?')}, try {getattr(ti, 'try_number', '?')}).",
                 f"Why: {what}"]
        if ids:
            lines.append(f"Extract: {', '.join(ids)} (see `ptp status`; after a fix, `ptp reprocess`).")
        lines.append("The extract ledger and the audit log say the same; the task log has the details.")
        self.html_content = "".join(f"<p>{html.escape(line)}</p>" for line in lines)
        super().notify(context)


def failure_notifiers(protocol: Protocol | None = None) -> list[Any]:
    """The `on_failure_callback` notifiers for a DAG (a protocol's, or an operations DAG): none when no one
    is to be told."""
    to_by_alert = {alert: recipients(protocol, alert) for alert in ("failure", "refusal")}
    if not any(to_by_alert.values()):
        return []
    return [FailureNotifier(to_by_alert=to_by_alert, from_email=os.environ.get("PTP_ALERT_FROM") or None,
                            smtp_conn_id=_conn_id())]


def send(subject: str, lines: list[str], to: list[str], context: Any = None) -> bool:
    """Send one alert now (from inside a task); False when no one is to be told."""
    if not to:
        return False
    notifier = SmtpNotifier(to=to, from_email=os.environ.get("PTP_ALERT_FROM") or None, smtp_conn_id=_conn_id(),
                            subject=f"[ptp] {subject}",
                            html_content="".join(f"<p>{html.escape(line)}</p>" for line in lines))
    notifier.notify(context or {})  # type: ignore[arg-type]  # a plain mapping serves outside a task
    return True
