"""Release review before anything leaves (OpenSAFELY Airlock is the model): an output is requested, checked
automatically by the disclosure rules, and released only when a second named person approves it.

- `request`: the file is copied into `$PTP_HOME/release/<request id>/` (what is reviewed is what leaves),
  its SHA-256 and the checks' results recorded in `ops.release_request`, audited (`release_request`).
- `approve`: refused (and audited, `release_refused`) when the approver is the requester (by stated name,
  and on PostgreSQL also by database login), when the checks failed, or when the held copy no longer has
  the requested SHA-256; otherwise the copy is released to `<home>/released/<request id>/`, audited
  (`release`) with the released file's SHA-256.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from ptp_pipeline.errors import PtpUserError
from ptp_pipeline.intake import sha256_file
from ptp_pipeline.protocol.model import Suppression
from ptp_pipeline.release.checks import Check, all_passed, run_checks
from ptp_pipeline.warehouse import audit
from ptp_pipeline.warehouse.base import Warehouse

RELEASE_LOCK = "ptp.release"


class ReleaseRefused(PtpUserError):
    code = "PTP520"
    title = "Release refused"
    hint = "A second named person, not the requester, approves a release whose checks passed."
    exit_code = 5


@dataclass(frozen=True)
class Request:
    request_id: int
    file_name: str
    sha256: str
    checks: list[Check]

    @property
    def passed(self) -> bool:
        return all_passed(self.checks)


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None, microsecond=0)


def _named(by: str) -> str:
    name = " ".join((by or "").split())
    if len(name) < 3:
        raise ReleaseRefused("no name was given", hint='Say who you are: --by "A. Person, role".')
    return name


def request(wh: Warehouse, file: Path, *, by: str, rule: Suppression, home: Path) -> Request:
    """Check `file` and record a request to release it (held copy under `home`/release)."""
    name = _named(by)
    if not file.is_file():
        raise ReleaseRefused(f"{file} is not a file", hint="Give the path of the report, table or export.")
    checks = run_checks(file, rule)
    with wh.transaction():
        wh.lock(RELEASE_LOCK)
        request_id = int(wh.scalar("SELECT coalesce(max(request_id), 0) + 1 FROM ops.release_request") or 1)
        held = home / "release" / str(request_id) / file.name
        held.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(file, held)
        digest = sha256_file(held)
        passed = all_passed(checks)
        wh.execute(
            "INSERT INTO ops.release_request (request_id, file_name, kind, sha256, requested_by, "
            "requested_login, requested_at, checks, checks_passed, status) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                request_id,
                file.name,
                file.suffix.lstrip(".").lower(),
                digest,
                name,
                wh.login(),
                _now(),
                json.dumps([asdict(c) for c in checks]),
                passed,
                "requested" if passed else "checks failed",
            ),
        )
        failed = [c.name for c in checks if not c.passed]
        audit.append(
            wh,
            "release_request",
            actor=wh.login(),
            detail=f"request {request_id}; file {file.name}; sha256 {digest}; requested by {name}; checks "
            + ("passed" if passed else f"failed: {', '.join(failed)}"),
        )
    return Request(request_id, file.name, digest, checks)


def approve(wh: Warehouse, request_id: int, *, by: str, home: Path) -> Path:
    """Release a requested output on a second person's approval; returns the released file's path."""
    name = _named(by)
    row = wh.query("SELECT * FROM ops.release_request WHERE request_id = ?", (request_id,))
    if row.empty:
        raise ReleaseRefused(f"there is no release request {request_id}", hint="See `ptp release list`.")
    r = row.iloc[0]
    held = home / "release" / str(request_id) / str(r.file_name)
    problem = None
    if r.status == "released":
        problem = f"request {request_id} was already released"
    elif name.casefold() == str(r.requested_by).casefold():
        problem = f"{name} requested this release and cannot also approve it"
    elif wh.dialect == "postgresql" and wh.login() == str(r.requested_login):
        problem = f"login {wh.login()} requested this release and cannot also approve it"
    elif not bool(r.checks_passed):
        problem = "its disclosure checks failed: correct the output and request its release again"
    elif not held.is_file() or sha256_file(held) != str(r.sha256):
        problem = "the held copy no longer matches the file that was checked"
    if problem is not None:
        audit.append(
            wh, "release_refused", actor=wh.login(), detail=f"request {request_id}; approver {name}; refused: {problem}"
        )
        raise ReleaseRefused(problem)
    target = home / "released" / str(request_id) / str(r.file_name)
    partial = target.with_name(f".{target.name}.partial")
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(held, partial)
    digest = sha256_file(partial)
    with wh.transaction():
        wh.execute(
            "UPDATE ops.release_request SET status = 'released', approved_by = ?, approved_login = ?, "
            "approved_at = ?, released_path = ? WHERE request_id = ?",
            (name, wh.login(), _now(), str(target), request_id),
        )
        audit.append(
            wh,
            "release",
            actor=wh.login(),
            detail=f"request {request_id}; file {r.file_name}; released sha256 {digest}; requested by "
            f"{r.requested_by}; approved by {name}",
        )
    partial.replace(target)  # only once the approval is recorded
    return target


def requests(wh: Warehouse) -> pd.DataFrame:
    return wh.query(
        "SELECT request_id, file_name, status, requested_by, requested_at, approved_by, approved_at, "
        "sha256 FROM ops.release_request ORDER BY request_id"
    )
