"""Pull an extract from a partner's HTTPS API with the Airflow HTTP provider's hook.

Pages are fetched until one comes back empty; each page is retried on 5xx or a broken connection,
never on 401/403. CSV pages go to disk as they arrive (first header kept); JSON records become CSV
columns in order of first appearance (so the check stage still refuses a column the protocol does not
allow). The whole extract is landed once, and an identical extract (same SHA-256) is never landed twice.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from typing import Any

from ptp_pipeline.protocol.model import Protocol
from ptp_pipeline.protocol.source import HttpSource
from ptp_pipeline.pull import records
from ptp_pipeline.pull.connection import get_connection, refused
from ptp_pipeline.pull.errors import SourceError
from ptp_pipeline.pull.land import Incoming, Pulled, commit, incoming, safe_name
from ptp_pipeline.pull.retry import RetryPolicy, Transient, with_retry
from ptp_pipeline.runtime import Runtime


def _get(hook: Any, src: HttpSource, params: dict[str, str]) -> bytes:
    import requests

    try:
        response = hook.run(src.endpoint, data=params, extra_options={"check_response": False, "timeout": 60})
    except requests.exceptions.RequestException as exc:
        raise Transient(f"no answer from the API ({type(exc).__name__})") from None
    status = response.status_code
    if status in (401, 403):
        raise refused(src.conn_id, f"the API at {src.endpoint}")
    if status >= 500 or status == 429:
        raise Transient(f"the API answered HTTP {status}")
    if status >= 400:
        raise SourceError(f"the API of connection '{src.conn_id}' answered HTTP {status} for {src.endpoint}",
                          hint="Check source.endpoint and source.params in the protocol with the partner.")
    return bytes(response.content)


def _records(body: bytes, src: HttpSource) -> list[dict[str, Any]]:
    try:
        data = json.loads(body)
    except ValueError:
        raise SourceError(f"the API of connection '{src.conn_id}' did not answer JSON at {src.endpoint}",
                          hint="Check source.format in the protocol (csv or json).") from None
    if src.records:
        data = data.get(src.records) if isinstance(data, dict) else None
    if not isinstance(data, list) or not all(isinstance(r, dict) for r in data):
        raise SourceError(f"the API of connection '{src.conn_id}' did not answer a list of records",
                          hint="Set source.records to the key that holds the list of records.")
    return data


def _append_csv(inc: Incoming, body: bytes, header: bytes | None, src: HttpSource) -> bytes:
    """Write one CSV page (its header only if it is the first); returns the extract's header."""
    first, _, rest = body.partition(b"\n")
    if header is None:
        header = first
        inc.write(first + b"\n")
    elif first.strip() != header.strip():
        raise SourceError(f"pages of {src.endpoint} (connection '{src.conn_id}') have different headers",
                          hint="Ask the partner to keep one header for every page.")
    if rest.strip():
        inc.write(rest if rest.endswith(b"\n") else rest + b"\n")
    return header


def _write_json(inc: Incoming, protocol: Protocol, rows: list[dict[str, Any]]) -> None:
    columns = list(dict.fromkeys(k for r in rows for k in r))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, delimiter=protocol.file.delimiter, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    inc.write(buffer.getvalue().encode(protocol.file.encoding))


def _empty(body: bytes, src: HttpSource) -> bool:
    if src.format == "csv":
        return not body.partition(b"\n")[2].strip()
    return not _records(body, src)


def _pages(hook: Any, src: HttpSource, policy: RetryPolicy) -> Iterator[bytes]:
    """Each non-empty page in turn (one answer when the API is not paged)."""
    pg = src.pagination
    number = pg.start if pg else 0
    while True:
        params = dict(src.params)
        if pg:
            params[pg.param] = str(number)
            if pg.size_param:
                params[pg.size_param] = str(pg.size)
        body = with_retry(f"GET {src.endpoint}" + (f" page {number}" if pg else ""), src.conn_id, policy,
                          lambda p=params: _get(hook, src, p))  # type: ignore[misc]
        if pg is None:
            yield body
            return
        if _empty(body, src):
            return
        yield body
        number += 1
        if number - pg.start >= pg.max_pages:
            raise SourceError(f"{src.endpoint} (connection '{src.conn_id}') still had pages after {pg.max_pages}",
                              hint="Raise source.pagination.max_pages, or check that the API ends with an "
                                   "empty page.")


def pull_http(rt: Runtime, protocol: Protocol, src: HttpSource, *, dry_run: bool = False,
              policy: RetryPolicy | None = None) -> Pulled:
    """Fetch every page into one extract; CSV pages stream straight to disk, JSON records are collected."""
    from airflow.providers.http.hooks.http import HttpHook

    partner, dataset = protocol.key
    get_connection(src.conn_id)
    hook = HttpHook(method="GET", http_conn_id=src.conn_id)
    result = Pulled()
    if dry_run:
        result.planned.append(f"GET {src.endpoint} " + ("page by page" if src.pagination else "(one page)"))
        return result
    with incoming(rt, partner, dataset) as inc:
        header: bytes | None = None
        rows: list[dict[str, Any]] = []
        for body in _pages(hook, src, policy or RetryPolicy()):
            if src.format == "csv":
                header = _append_csv(inc, body, header, src)
            else:
                rows.extend(_records(body, src))
        if src.format == "json" and rows:
            _write_json(inc, protocol, rows)
        if inc.size == 0 or (src.format == "csv" and not _has_rows(inc)):
            result.skipped.append(f"{src.endpoint}: no records")
            return result
        if records.seen_sha(rt.warehouse, partner, dataset, inc.sha256):
            result.skipped.append(f"{src.endpoint}: same extract as pulled before")
            return result
        name = f"{dataset}-http-{safe_name(src.endpoint)}-{inc.sha256[:12]}.csv"
        rec = records.PullRecord(pull_id=f"http-{inc.sha256[:16]}", partner=partner, dataset=dataset, kind="http",
                                 conn_id=src.conn_id, remote=src.endpoint, file_name=name, sha256=inc.sha256,
                                 remote_size=inc.size)
        result.landed.append(commit(rt, inc, rec, expected_size=None))
    return result


def _has_rows(inc: Incoming) -> bool:
    inc.fh.flush()
    with inc.path.open("rb") as fh:
        fh.readline()
        return bool(fh.readline().strip())
