"""Runs the stages for one extract; the CLI and the Airflow DAGs both call these functions.

Each stage reads and writes files in the extract's restricted work folder, so stages can run as
separate Airflow tasks without passing data through XCom. Only receive and merge write to the
warehouse (DuckDB allows one writer at a time).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TypeVar

import pandas as pd

from ptp_pipeline import memory
from ptp_pipeline.errors import ExtractError, PtpUserError
from ptp_pipeline.extract.check import check as _check
from ptp_pipeline.extract.names import printable
from ptp_pipeline.extract.receipt import check_ids
from ptp_pipeline.extract.receipt import receive as _receive
from ptp_pipeline.extract.workarea import CHECKED
from ptp_pipeline.preload import import_in_background
from ptp_pipeline.privacy.pseudonymise import IDENTITIES_FILE
from ptp_pipeline.privacy.pseudonymise import pseudonymise as _pseudonymise
from ptp_pipeline.protocol import approval
from ptp_pipeline.quality import corrections
from ptp_pipeline.quality.validate import validate as _validate
from ptp_pipeline.runtime import Runtime, WorkItem
from ptp_pipeline.warehouse import audit, ledger
from ptp_pipeline.warehouse.key_guard import check_extract_key
from ptp_pipeline.warehouse.merge import merge as _merge

T = TypeVar("T")


@dataclass(frozen=True)
class Outcome:
    extract_id: str | None
    partner: str
    dataset: str
    file_name: str
    status: str  # merged | refused | already_merged | superseded
    rows_received: int | None = None
    rows_accepted: int | None = None
    rows_quarantined: int | None = None
    reason: str | None = None
    docs_url: str | None = None  # the extract's Data Docs validation page
    hint: str | None = None  # what to do about a refusal


def _guard(rt: Runtime, extract_id: str, stage: Callable[[Runtime, str], T]) -> T:
    """Run a stage; a data problem refuses the extract in the ledger, then propagates. Either way the
    stage's memory goes back to the system, so the next stage does not start from its high-water mark."""
    with memory.stage_memory():
        try:
            with pd.option_context("mode.string_storage", "pyarrow"):  # text in Arrow: a tenth of the memory
                return stage(rt, extract_id)
        except ExtractError as err:
            rows: int | None = None
            meta = rt.work(extract_id) / "meta.json"
            if meta.exists():
                rows = WorkItem.load(meta.parent).rows_received
            ledger.refuse(rt.warehouse, extract_id, err, rows)
            for name in ("checked.parquet", "pseudonymised.parquet", "validated.parquet", IDENTITIES_FILE):
                (rt.work(extract_id) / name).unlink(missing_ok=True)
            raise


def receive(rt: Runtime, path: Path, partner: str, dataset: str) -> tuple[str, bool]:
    receipt = _receive(rt, path, partner, dataset)
    return receipt.extract_id, receipt.already_merged


def check(rt: Runtime, extract_id: str) -> None:
    _guard(rt, extract_id, _check)


def pseudonymise(rt: Runtime, extract_id: str) -> None:
    """Raw identifiers (checked.parquet) are removed on every exit path, the stage's errors included.

    A task killed outright leaves the file until the next run's sweep (`extract.workarea`). If the file is
    gone (swept, or a retry after a failure), the check stage is run again from the raw copy first.
    """
    checked = rt.work(extract_id) / CHECKED
    if not checked.exists():
        check(rt, extract_id)
    try:
        _guard(rt, extract_id, _pseudonymise)
    finally:
        checked.unlink(missing_ok=True)


def validate(rt: Runtime, extract_id: str) -> None:
    result = _guard(rt, extract_id, _validate)
    (rt.work(extract_id) / "validation.json").write_text(json.dumps(asdict(result)))


def _merge_under_one_key(rt: Runtime, extract_id: str) -> None:
    check_extract_key(rt.warehouse, extract_id, rt.key.key_id)
    _merge(rt, extract_id)


def merge(rt: Runtime, extract_id: str) -> None:
    _guard(rt, extract_id, _merge_under_one_key)
    item = WorkItem.load(rt.work(extract_id))  # data is now shared under this version: fix its content
    used = [p for p in rt.protocols if (p.id, p.version) == (item.protocol_id, item.protocol_version)]
    if used:
        approval.record(rt.warehouse, used[0], extract_id)


def outcome(rt: Runtime, extract_id: str) -> Outcome:
    row = rt.warehouse.query("SELECT * FROM ops.extract_ledger WHERE extract_id = ?", (extract_id,))
    r = row.iloc[0]

    def _int(v: object) -> int | None:
        return None if pd.isna(v) else int(v)  # type: ignore[call-overload]

    hint = None
    if r.status == "refused":
        hints = rt.warehouse.query("SELECT hint FROM restricted.quarantine WHERE extract_id = ? AND "
                                   "check_name = 'extract_refused'", (extract_id,))["hint"]
        hint = None if hints.empty or pd.isna(hints.iloc[0]) else str(hints.iloc[0])
    return Outcome(extract_id, r.partner, r.dataset, r.file_name, r.status, _int(r.rows_received),
                   _int(r.rows_accepted), _int(r.rows_quarantined), None if pd.isna(r.reason) else r.reason,
                   None if pd.isna(r.docs_url) else r.docs_url, hint)


def ingest(rt: Runtime, path: Path, partner: str, dataset: str, corrects: str | None = None) -> Outcome:
    """All stages for one file. A refused extract returns its reason instead of raising.

    `corrects` names the extract this file corrects (see quality/corrections.py).
    """
    check_ids(partner, dataset, path.name)
    if corrects:
        corrections.check_target(rt.warehouse, corrects, partner, dataset)
    prior = corrections.prior_receipt(rt.warehouse, path)
    if prior and (prior.partner, prior.dataset) != (partner, dataset):
        return Outcome(None, partner, dataset, printable(path.name), "refused", reason=(
            f"this file (same SHA-256) was already received for {prior.partner}/{prior.dataset} as extract "
            f"{prior.extract_id} ({prior.status}); a file belongs to one dataset: check --partner and --dataset"))
    if prior and prior.status == "superseded":
        note = (f"this file (same SHA-256) was received before as extract {prior.extract_id} and has been "
                f"superseded by the correction {prior.superseded_by}: nothing changed")
        return Outcome(**{**asdict(outcome(rt, prior.extract_id)), "reason": note})
    try:
        extract_id, already = receive(rt, path, partner, dataset)
    except ExtractError as err:
        if err.extract_id:
            return outcome(rt, err.extract_id)
        return Outcome(None, partner, dataset, printable(path.name), "refused", reason=err.message, hint=err.hint)
    if already:
        merged = outcome(rt, extract_id)
        note = (f"this file (same SHA-256) was already received as {merged.file_name} and merged as extract "
                f"{extract_id}: nothing changed")
        return Outcome(**{**asdict(merged), "status": "already_merged", "reason": note})
    if corrects:
        corrections.declare(rt.warehouse, extract_id, corrects)
    import_in_background()  # validate's imports overlap check and pseudonymise
    try:
        for stage in (check, pseudonymise, validate, merge):
            stage(rt, extract_id)
    except ExtractError:
        pass
    return outcome(rt, extract_id)


def describe_failure(error: BaseException | None) -> str:
    """A failure in words safe for the ledger and logs: our own messages, otherwise only the error type."""
    if error is None:
        return "unknown error"
    if isinstance(error, PtpUserError):
        return f"[{error.code}] {error.message.strip().splitlines()[0]}"
    if type(error).__name__ == "AirflowFailException":  # wraps an ExtractError's rendered message
        return str(error).strip().splitlines()[0]
    return type(error).__name__


def record_failure(rt: Runtime, stage: str, error: BaseException | None, *, extract_id: str | None = None,
                   file_name: str | None = None, tries: int = 1) -> None:
    """After a task gave up: mark the extract `failed` (unless already refused) and add an audit entry."""
    reason = f"{stage} failed after {tries} tr{'y' if tries == 1 else 'ies'}: {describe_failure(error)}"
    wh = rt.warehouse
    with wh.transaction():
        if extract_id is not None:
            wh.execute("UPDATE ops.extract_ledger SET status = 'failed', reason = ? "
                       "WHERE extract_id = ? AND status NOT IN ('merged', 'refused')", (reason, extract_id))
        detail = reason if file_name is None else f"file {file_name}: {reason}"
        audit.append(wh, "task_failed", extract_id=extract_id, detail=detail)
