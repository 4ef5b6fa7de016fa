"""E-mail alerts through Airflow's notifier mechanism (the SMTP provider's `SmtpNotifier`).

Who is told: `PTP_ALERT_EMAILS` (comma-separated; unset means no e-mail alerts), plus for a partner's
DAGs `PTP_ALERT_EMAILS_<PARTNER>` (e.g. `PTP_ALERT_EMAILS_POLICE`), its data contacts. The mail server is
Airflow's SMTP connection (`smtp_default`, or `PTP_ALERT_SMTP_CONN_ID`); the sender is `PTP_ALERT_FROM`
or the connection's `from_email`.

What is sent never holds a value from an extract: the failure is described by
`pipeline.describe_failure` (the project's own messages, which name file, row, field and what to do,
or only the error type), and ids, counts and dates otherwise.

Imported by the DAG factory at parse time: standard library and Airflow only at module level.
"""

from __future__ import annotations

import html
import os
from typing import Any

from airflow.providers.smtp.notifications.smtp import SmtpNotifier

ALERT_ENV = "PTP_ALERT_EMAILS"


def recipients(partner: str | None = None) -> list[str]:
    """Addresses to alert (operations, then the partner's contacts), in order, without repeats."""
    names = [ALERT_ENV] + ([f"{ALERT_ENV}_{partner.upper()}"] if partner else [])
    out: list[str] = []
    for name in names:
        for address in os.environ.get(name, "").replace(";", ",").split(","):
            if address.strip() and address.strip() not in out:
                out.append(address.strip())
    return out


def _conn_id() -> str | None:
    return os.environ.get("PTP_ALERT_SMTP_CONN_ID") or None


class FailureNotifier(SmtpNotifier):
    """A task gave up: which DAG, task, run and extract, and why, in words safe to send."""

    def notify(self, context: Any) -> None:
        from ptp_pipeline.ingest_task import failed_extracts
        from ptp_pipeline.pipeline import describe_failure

        ti = context.get("ti")
        failed = failed_extracts(ti) if ti is not None else []
        ids = [f.extract_id for f in failed if f.extract_id]
        what = describe_failure(context.get("exception"))
        where = f"{getattr(ti, 'dag_id', '?')}.{getattr(ti, 'task_id', '?')}"
        stages = sorted({f.stage for f in failed})
        self.subject = (f"[ptp] {where}{' (' + ', '.join(stages) + ')' if stages else ''} failed"
                        + (f" for extract {', '.join(ids)}" if ids else ""))
        lines = [f"Task {where} failed (run {getattr(ti, 'run_id', '?')}, try {getattr(ti, 'try_number', '?')}).",
                 f"Why: {what}"]
        if ids:
            lines.append(f"Extract: {', '.join(ids)} (see `ptp status`; after a fix, `ptp reprocess`).")
        lines.append("The extract ledger and the audit log say the same; the task log has the details.")
        self.html_content = "".join(f"<p>{html.escape(line)}</p>" for line in lines)
        super().notify(context)


def failure_notifiers(partner: str | None = None) -> list[Any]:
    """The `on_failure_callback` notifiers for a DAG: none when no one is to be told."""
    to = recipients(partner)
    if not to:
        return []
    return [FailureNotifier(to=to, from_email=os.environ.get("PTP_ALERT_FROM") or None, smtp_conn_id=_conn_id())]


def send(subject: str, lines: list[str], partner: str | None = None, context: Any = None) -> bool:
    """Send one alert now (from inside a task); False when no one is to be told."""
    to = recipients(partner)
    if not to:
        return False
    notifier = SmtpNotifier(to=to, from_email=os.environ.get("PTP_ALERT_FROM") or None, smtp_conn_id=_conn_id(),
                            subject=f"[ptp] {subject}",
                            html_content="".join(f"<p>{html.escape(line)}</p>" for line in lines))
    notifier.notify(context or {})  # type: ignore[arg-type]  # a plain mapping serves outside a task
    return True
