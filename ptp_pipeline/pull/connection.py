"""Airflow connections and their faults, turned into messages that name the connection id only."""

from __future__ import annotations

from typing import Any

from ptp_pipeline.pull.errors import LoginRefused, SourceError

REFUSED_HINT = ("Operations: check the login, password or key of Airflow connection '{conn_id}' "
                "(or the AIRFLOW_CONN_{env} environment variable for the CLI). Not retried: a refused login "
                "does not get better by itself.")


def refused(conn_id: str, what: str) -> LoginRefused:
    return LoginRefused(f"{what} refused the login of connection '{conn_id}'",
                        hint=REFUSED_HINT.format(conn_id=conn_id, env=conn_id.upper()))


def get_connection(conn_id: str) -> Any:
    """The Airflow connection (metadata DB, secrets backend or AIRFLOW_CONN_<ID> variable)."""
    from airflow.sdk import BaseHook

    try:
        return BaseHook.get_connection(conn_id)
    except Exception as exc:
        if not any(c.__name__ == "AirflowNotFoundException" for c in type(exc).__mro__):
            # Not passed on: the message of a malformed connection can quote its password.
            raise SourceError(f"Airflow connection '{conn_id}' could not be read ({type(exc).__name__})",
                              hint=f"Operations: check the definition of connection '{conn_id}' (for the CLI, "
                                   f"AIRFLOW_CONN_{conn_id.upper()} must be a JSON object or a URI).") from None
        raise SourceError(
            f"Airflow connection '{conn_id}' is not defined",
            hint=f"Operations: add connection '{conn_id}' in Airflow (Admin → Connections or `airflow connections "
                 f"add`), or for the CLI set AIRFLOW_CONN_{conn_id.upper()} to a JSON object or URI (a value "
                 "that does not parse counts as missing). See README, 'Setting the connection'.",
        ) from None
