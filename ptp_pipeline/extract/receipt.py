"""Stage 1, receive: fingerprint the file, find its protocol, open a ledger row."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from ptp_pipeline.errors import ExtractError, Where
from ptp_pipeline.extract.names import hidden_characters, positions, printable
from ptp_pipeline.extract.workarea import sweep, write_raw
from ptp_pipeline.intake import sha256_file  # one definition: intake is stdlib-only for the DAGs
from ptp_pipeline.protocol import protocol_in_force
from ptp_pipeline.protocol.approval import check_unchanged
from ptp_pipeline.runtime import Runtime, WorkItem
from ptp_pipeline.warehouse import audit, ledger


@dataclass(frozen=True)
class Receipt:
    extract_id: str
    already_merged: bool


def extract_id_for(partner: str, dataset: str, sha256: str) -> str:
    """Deterministic: the same file always gets the same id, whatever the run."""
    return f"{partner}.{dataset}.{sha256[:16]}"


def check_ids(partner: str, dataset: str, file_name: str) -> None:
    """Refuse a partner or dataset id holding a control or format character (ESC, U+202E ...): no protocol
    id has one, and printed raw it could rewrite a data officer's terminal or reorder the ledger's text."""
    for option, value in (("--partner", partner), ("--dataset", dataset)):
        bad = hidden_characters(value)
        if bad:
            raise ExtractError(
                f"the {option} id {printable(value)} holds a control or format character (at {positions(bad)}), "
                "which no protocol id has, so nothing was received",
                where=Where(file=printable(file_name)),
                hint=f"Give {option} exactly as the protocol writes it: lower-case letters, digits, _ and -.")


def receive(rt: Runtime, path: Path, partner: str, dataset: str) -> Receipt:
    """Record the file. A file already merged (same SHA-256) is a no-op: nothing changes.

    The file's name is recorded and shown with control characters escaped (`printable`)."""
    check_ids(partner, dataset, path.name)
    if not path.is_file():
        raise ExtractError("file not found", where=Where(file=printable(str(path))),
                           hint="Check the path; the partner's file may not have arrived yet.")
    name = printable(path.name)
    sha = sha256_file(path)
    wh = rt.warehouse
    sweep(wh, rt.settings.work_dir)  # raw files a killed stage left behind
    prior = wh.query("SELECT extract_id, status FROM ops.extract_ledger WHERE sha256 = ?", (sha,))
    if not prior.empty and prior.at[0, "status"] == "merged":
        return Receipt(str(prior.at[0, "extract_id"]), already_merged=True)
    extract_id = extract_id_for(partner, dataset, sha)
    received_at = datetime.now(UTC).replace(tzinfo=None, microsecond=0)
    with wh.transaction():
        wh.execute("DELETE FROM ops.extract_ledger WHERE extract_id = ?", (extract_id,))
        wh.execute(
            "INSERT INTO ops.extract_ledger (extract_id, partner, dataset, file_name, sha256, received_at, "
            "status, key_id) VALUES (?, ?, ?, ?, ?, ?, 'received', ?)",
            (extract_id, partner, dataset, name, sha, received_at, rt.key.key_id),
        )
        audit.append(wh, "receive", extract_id=extract_id, detail=f"file {name}")
    try:
        protocol = protocol_in_force(rt.protocols, partner, dataset, received_at.date())
    except ExtractError as err:
        if rt.protocol_errors:
            names = ", ".join(Path(p).name for p in sorted(rt.protocol_errors))
            err.message += f" (protocol file(s) that could not be read, and may be the one meant: {names})"
            err.hint += " Run `ptp protocol validate` to see what is wrong with them."
        err.where = Where(file=name)
        err.extract_id = extract_id
        ledger.refuse(wh, extract_id, err)
        raise
    try:  # an approved version edited after data was shared under it: refused until it is a new version
        check_unchanged(wh, protocol)
    except ExtractError as err:
        err.where, err.extract_id = Where(file=name), extract_id
        ledger.refuse(wh, extract_id, err)
        raise
    folder = rt.work(extract_id)
    write_raw(rt.key, path, folder / "raw", extract_id)  # encrypted at rest
    WorkItem(extract_id=extract_id, partner=partner, dataset=dataset, file_name=name, sha256=sha,
             protocol_id=protocol.id, protocol_version=protocol.version,
             received_at=received_at.isoformat()).save(folder)
    wh.execute("UPDATE ops.extract_ledger SET protocol_id = ?, protocol_version = ? WHERE extract_id = ?",
               (protocol.id, protocol.version, extract_id))
    return Receipt(extract_id, already_merged=False)
