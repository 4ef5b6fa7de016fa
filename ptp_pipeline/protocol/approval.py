"""Approval integrity: an approved protocol version, once used, never changes under the same number.

The first extract merged under an approved version records the version's content hash in
`ops.protocol_approval` (from then on, data has been shared under exactly that text); every later
receipt compares. An edit after approval (a field kept that
was pseudonymised, a wider period ...) is refused until the edit becomes a new version, signed
again. The hash covers what the data officer wrote (keys left to their default are not part of
it, so an upgrade that adds an optional key does not look like an edit) except `status`, which
changes on purpose (suspended, expired) without changing what was agreed, and `contacts`
(who is alerted: people change, the agreement does not).
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime

from ptp_pipeline.errors import ExtractError
from ptp_pipeline.protocol.model import Protocol
from ptp_pipeline.warehouse import Warehouse


def content_sha256(protocol: Protocol) -> str:
    """SHA-256 of the protocol as written (canonical JSON; comments, layout, status and contacts do not count)."""
    data = protocol.model_dump(mode="json", exclude_unset=True, exclude={"status", "contacts"})
    text = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def check_unchanged(wh: Warehouse, protocol: Protocol) -> None:
    """Refuse the extract if data was already shared under this approved version and it was edited since."""
    recorded = wh.query("SELECT content_sha256, first_used_at FROM ops.protocol_approval "
                        "WHERE protocol_id = ? AND version = ?", (protocol.id, protocol.version))
    if not recorded.empty and str(recorded.at[0, "content_sha256"]) != content_sha256(protocol):
        first = str(recorded.at[0, "first_used_at"])[:10]
        raise ExtractError(
            f"approved protocol {protocol.id} v{protocol.version} was edited after approval (it differs from the "
            f"version data was first shared under, on {first}): create v{protocol.version + 1}",
            hint=f"Undo the edit to v{protocol.version}, or save the changed protocol as version "
                 f"{protocol.version + 1} (a new file), have it signed and approved; then re-send the extract.",
        )


def record(wh: Warehouse, protocol: Protocol, extract_id: str) -> None:
    """Once an extract is merged under an approved version, that version's content is fixed (first one wins)."""
    now = datetime.now(UTC).replace(tzinfo=None, microsecond=0)
    wh.execute(
        "INSERT INTO ops.protocol_approval (protocol_id, version, content_sha256, first_used_at, first_extract_id) "
        "VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
        (protocol.id, protocol.version, content_sha256(protocol), now, extract_id),
    )


def approved_versions(wh: Warehouse) -> dict[tuple[str, int], str]:
    """(protocol id, version) -> recorded content hash."""
    frame = wh.query("SELECT protocol_id, version, content_sha256 FROM ops.protocol_approval")
    return {(str(r.protocol_id), int(r.version)): str(r.content_sha256) for r in frame.itertuples()}
