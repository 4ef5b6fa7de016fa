"""`ptp audit list`'s selection (`audit.entries`): by kind (an action prefix) and by time, oldest first; entry
and head times in UTC; heads checked on every verification, each problem named; a key-less connection told
what to do. Fast on purpose: with the oracle tests, these run against every mutant of `warehouse/audit.py`."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest

from ptp_pipeline.errors import KeyMaterialError
from ptp_pipeline.runtime import Runtime
from ptp_pipeline.warehouse import audit

COLUMNS = ["seq", "logged_at", "actor", "action", "extract_id", "detail"]


def test_entries_by_kind_and_since(rt: Runtime) -> None:
    wh = rt.warehouse
    audit.append(wh, "reidentify", actor="re-identifier", detail="1 person opened")
    audit.append(wh, "merge", extract_id="police.incidents.1")
    audit.append(wh, "reidentify_batch", actor="re-identifier", detail="batch of 2")
    audit.append(wh, "release_request", actor="analyst")
    every = audit.entries(wh)
    assert list(every.columns) == COLUMNS
    assert every["seq"].astype(int).tolist() == [1, 2, 3, 4]
    assert every["action"].tolist() == ["reidentify", "merge", "reidentify_batch", "release_request"]
    assert every["extract_id"].tolist()[1] == "police.incidents.1" and every["actor"].tolist()[0] == "re-identifier"
    assert audit.entries(wh, "reidentify")["seq"].astype(int).tolist() == [1, 3]
    assert audit.entries(wh, "re")["seq"].astype(int).tolist() == [1, 3, 4], "a prefix, not a whole action"
    assert audit.entries(wh, "merge")["detail"].isna().all()
    assert audit.entries(wh, "identify").empty, "a prefix from the start of the action only"
    now = datetime.now()
    assert len(audit.entries(wh, since=now - timedelta(days=1))) == 4
    assert audit.entries(wh, since=now + timedelta(days=1)).empty
    assert audit.entries(wh, "release", since=now - timedelta(days=1))["action"].tolist() == ["release_request"]
    assert audit.entries(wh, "release", since=now + timedelta(days=1)).empty


def test_entries_are_written_in_utc_whole_seconds_whatever_the_local_zone(rt: Runtime,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TZ", "Pacific/Auckland")  # 11 to 13 hours from UTC
    time.tzset()
    try:
        before = datetime.now(UTC).replace(tzinfo=None, microsecond=0)
        audit.append(rt.warehouse, "merge")
        audit.record_head(rt.warehouse)
        after = datetime.now(UTC).replace(tzinfo=None)
    finally:
        monkeypatch.undo()
        time.tzset()
    logged = pd.Timestamp(audit.entries(rt.warehouse)["logged_at"].iloc[0])
    recorded = pd.Timestamp(rt.warehouse.scalar("SELECT recorded_at FROM ops.audit_head"))
    for at in (logged, recorded):
        assert before <= at <= after and at.microsecond == 0 and at.tzinfo is None, at
    assert audit.entries(rt.warehouse)["actor"].tolist() == ["pipeline"], "the default actor"


def test_verifying_twice_with_a_recorded_head_stays_intact(rt: Runtime) -> None:
    wh = rt.warehouse
    for action in ("merge", "purge", "merge"):
        audit.append(wh, action)
    assert audit.verify(wh) == [] and audit.verify(wh) == [] and audit.verify(wh) == []
    assert wh.query("SELECT seq FROM ops.audit_head")["seq"].astype(int).tolist() == [3, 3, 3]


def test_each_head_problem_is_named(rt: Runtime) -> None:
    wh = rt.warehouse
    for action in ("merge", "purge", "merge"):
        audit.append(wh, action)
    _, kept = audit.head(wh)
    assert audit.verify(wh) == []
    wh.execute("UPDATE ops.audit_head SET mac = '00'")
    assert audit.verify(wh, record=False) == ["1 recorded head(s) do not carry a valid signature"]
    audit.record_head(wh)
    wh.execute("DELETE FROM ops.audit_log WHERE seq = 3")
    assert audit.verify(wh, expect_head=kept, record=False) == [
        "1 recorded head(s) do not carry a valid signature",
        "the head recorded at entry 3 is no longer in the log: entries were deleted from its end or rewritten",
        "the recorded head entry is no longer in the log: entries were deleted from its end",
    ]


def test_a_connection_without_the_key_is_told_what_to_do(rt: Runtime) -> None:
    from ptp_pipeline.warehouse import open_warehouse

    url = rt.settings.warehouse_url
    rt.close()
    wh = open_warehouse(url)
    try:
        with pytest.raises(KeyMaterialError) as caught:
            audit.record_head(wh)
        assert caught.value.message == "audit entries are signed with the project key, and this connection has none"
        assert caught.value.hint == "Run the command through the pipeline's runtime with PTP_KEY_FILE set."
    finally:
        wh.close()
