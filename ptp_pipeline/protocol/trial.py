"""`ptp protocol check PROTOCOL SAMPLE`: a sample extract through receive, check, pseudonymise and validate,
in a throw-away installation, so a data officer can test an agreement before sign-off.

Nothing is stored: the run has its own temporary home, DuckDB warehouse and random key, all deleted
at the end; the real warehouse, key and re-identification vault are never touched. The protocol is
tried as if approved and in force today (a draft can be tested); it is not changed on disk.
"""

from __future__ import annotations

import json
import secrets
import tempfile
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import pandas as pd

from ptp_pipeline.errors import ExtractError, PtpUserError
from ptp_pipeline.protocol.load import load_protocol
from ptp_pipeline.protocol.model import FieldType, Protocol, Status, Treatment
from ptp_pipeline.settings import load_settings


@dataclass
class TrialResult:
    protocol: str
    rows_received: int | None = None
    rows_accepted: int | None = None
    rows_quarantined: int | None = None
    refused: str | None = None
    problems: list[tuple[str, str, int]] = field(default_factory=list)  # (field, problem, rows)
    looks_identifying: list[str] = field(default_factory=list)  # kept fields whose values look like identifiers


#: Profile kinds that identify a person: a kept field whose sample values look like one is refused.
IDENTIFYING_KINDS = {"nhs_number", "postcode", "email", "phone", "date_of_birth", "forename", "surname",
                     "full_name", "forename_or_surname", "local_id", "ni_number", "free_text", "uprn",
                     "address_line"}


def kept_fields_that_look_identifying(protocol: Protocol, sample: Path) -> list[str]:
    """Kept fields whose sample values look like a direct identifier (the profile of `ptp protocol draft`)."""
    from ptp_pipeline.extract.read import read_csv_text
    from ptp_pipeline.protocol.draft import SAMPLE_ROWS
    from ptp_pipeline.protocol.profile import profile_column

    if protocol.file.format != "csv":
        return []
    try:
        frame = read_csv_text(sample, protocol.file).head(SAMPLE_ROWS)
    except PtpUserError:  # an unreadable sample is reported by the check stage itself
        return []
    found = []
    for spec in protocol.fields:
        if spec.treatment is not Treatment.keep or spec.name not in frame.columns or spec.not_identifying_because:
            continue
        profile = profile_column(spec.name, frame[spec.name])
        if profile.kind in IDENTIFYING_KINDS and not (profile.kind == "local_id" and spec.type is FieldType.code):
            found.append(f"field '{spec.name}' is kept as it is, but its values look like "
                         f"{profile.kind.replace('_', ' ')} ({profile.evidence}): pseudonymise or drop it, or "
                         "explain in not_identifying_because: why it identifies no one")
    return found


def trial_run(protocol_path: Path, sample: Path, project_dir: Path | None = None) -> TrialResult:
    """Run `sample` through every stage but merge under the protocol in `protocol_path`."""
    from ptp_pipeline import pipeline  # heavy (pandas, GX): only when a trial runs
    from ptp_pipeline.quality import accepted
    from ptp_pipeline.runtime import Runtime, WorkItem

    protocol = load_protocol(protocol_path)
    today = date.today()
    trial = protocol.model_copy(update={"status": Status.approved, "valid_from": min(protocol.valid_from, today),
                                        "valid_to": max(protocol.valid_to, today)})
    if project_dir is None:
        project_dir = protocol_path.parent if (protocol_path.parent / "project.yaml").is_file() else \
            load_settings().protocols_dir
    result = TrialResult(f"{protocol.id} v{protocol.version}")
    result.looks_identifying = kept_fields_that_look_identifying(protocol, sample)
    with tempfile.TemporaryDirectory(prefix="ptp-protocol-check-") as tmp:
        home = Path(tmp)
        settings = load_settings({
            "PTP_HOME": str(home), "PTP_WAREHOUSE": f"duckdb:///{home / 'trial.duckdb'}",
            "PTP_KEY": secrets.token_hex(32), "PTP_PROTOCOLS_DIR": str(project_dir),
            "PTP_REID_PUBLIC_KEY_FILE": str(home / "no-vault.pem"),
        })
        rt = Runtime(settings)
        rt.__dict__["_protocol_set"] = ([trial], {})  # this protocol only, as if approved
        try:
            extract_id: str | None = None
            try:
                extract_id, _ = pipeline.receive(rt, sample, protocol.partner.id, protocol.dataset)
                for stage in (pipeline.check, pipeline.pseudonymise, pipeline.validate):
                    stage(rt, extract_id)
            except ExtractError as err:
                result.refused = err.message.strip()
                extract_id = err.extract_id or extract_id
                if extract_id is None:
                    return result
            outcome = pipeline.outcome(rt, extract_id)
            meta = rt.work(extract_id) / "meta.json"
            received = WorkItem.load(meta.parent).rows_received if meta.exists() else None
            quarantine_file = rt.work(extract_id) / accepted.QUARANTINE
            quarantine = pd.read_parquet(quarantine_file) if quarantine_file.exists() else pd.DataFrame()
            if not quarantine.empty:
                grouped = quarantine.groupby(["field", "problem"], dropna=False)["source_row"].nunique()
                result.problems = [(str(f), str(p), int(n)) for (f, p), n in grouped.items()]
            result.rows_received = received if received is not None else outcome.rows_received
            if result.refused is None:
                validation = rt.work(extract_id) / "validation.json"
                result.rows_accepted = (json.loads(validation.read_text())["rows_accepted"] if validation.exists()
                                        else None)
                result.rows_quarantined = int(quarantine["source_row"].nunique()) if not quarantine.empty else 0
            else:
                result.rows_accepted, result.rows_quarantined = 0, result.rows_received
        finally:
            rt.close()
    return result
