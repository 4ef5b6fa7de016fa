"""`ptp audit list`'s selection (`audit.entries`): by kind (an action prefix) and by time, oldest first."""

from __future__ import annotations

from datetime import datetime, timedelta

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
