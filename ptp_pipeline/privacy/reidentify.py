"""The one lawful route back from a person id to identifiers: audited, purpose-bound, key-gated.

Every act is written to the hash-chained audit log (who, when, purpose, which person, how many
records) in the same transaction that reads the vault, before anything is returned.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from ptp_pipeline.errors import KeyMaterialError, PtpUserError
from ptp_pipeline.extract.read import SOURCE_ROW
from ptp_pipeline.privacy.vault import ReidentificationRefused, Sealed, load_private_key, unseal
from ptp_pipeline.warehouse import audit
from ptp_pipeline.warehouse.base import Warehouse

MIN_PURPOSE_CHARS = 10


def _refused(wh: Warehouse, action: str, subject: str, error: PtpUserError) -> None:
    """A refusal is audited too (who tried, what, why refused), then re-raised by the caller."""
    audit.append(wh, action + "_refused", actor=wh.login(), detail=f"{subject}: refused: {error.message}")


def _sealed_blobs(wh: Warehouse, extract_id: str, purpose: str) -> tuple[Sealed | None, int | None]:
    """The extract's sealed identifiers. On PostgreSQL only through `restricted.open_vault`, which records the
    opening (login, extract, purpose) in `ops.vault_access`; the audit entry names the access ids."""
    if wh.dialect == "postgresql":
        blob = wh.query("SELECT access_id, key_id, wrapped_key, nonce, ciphertext FROM restricted.open_vault(?, ?)",
                        (extract_id, purpose))
    else:
        blob = wh.query("SELECT NULL AS access_id, key_id, wrapped_key, nonce, ciphertext FROM restricted.vault "
                        "WHERE extract_id = ?", (extract_id,))
    if blob.empty:
        return None, None
    b = blob.iloc[0]
    access = None if pd.isna(b.access_id) else int(b.access_id)
    return Sealed(str(b.key_id), bytes(b.wrapped_key), bytes(b.nonce), bytes(b.ciphertext)), access


def reidentify(wh: Warehouse, person_id: int, *, purpose: str, officer: str = "",
               private_key_file: Path | None) -> pd.DataFrame:
    """Identifiers of every record of one person, by extract and row, for a stated purpose.

    The audit entry's actor is the database login (the OS account on DuckDB), never free text; `officer`
    (a stated name) is recorded beside it. Refusals are audited as `reidentify_refused`.
    """
    purpose = (purpose or "").strip()
    try:
        return _reidentify(wh, person_id, purpose, officer.strip(), private_key_file)
    except (ReidentificationRefused, KeyMaterialError) as err:
        _refused(wh, "reidentify", f"person {person_id}", err)
        raise


def _reidentify(wh: Warehouse, person_id: int, purpose: str, officer: str,
                private_key_file: Path | None) -> pd.DataFrame:
    if len(purpose) < MIN_PURPOSE_CHARS:
        raise ReidentificationRefused(
            "no purpose was given (or it is too short to be meaningful)",
            hint='State why, e.g. --purpose "Lead professional assignment, priority families panel 2025-03".',
        )
    private = load_private_key(private_key_file)
    records = wh.query("SELECT r.extract_id, r.source_row, r.partner FROM restricted.link_record r "
                       "WHERE r.person_id = ? ORDER BY 1, 2", (person_id,))
    if records.empty:
        raise ReidentificationRefused(f"person {person_id} is not in the warehouse",
                                      hint="Check the person id in shared.person.")
    frames: list[pd.DataFrame] = []
    accesses: list[int] = []
    login = wh.login()
    with wh.transaction():
        for extract_id, rows in records.groupby("extract_id"):
            sealed, access = _sealed_blobs(wh, str(extract_id), purpose)
            if sealed is None:
                continue
            if access is not None:
                accesses.append(access)
            table = unseal(sealed, private, str(extract_id))
            table = table[table[SOURCE_ROW].isin(rows[SOURCE_ROW])]
            frames.append(table.assign(extract_id=extract_id, partner=rows["partner"].iloc[0]))
        if not frames:
            raise ReidentificationRefused(
                f"no sealed identifiers exist for person {person_id}",
                hint="Their extracts were received before a re-identification key was configured.")
        result = pd.concat(frames, ignore_index=True)
        stated = f"; stated officer: {officer}" if officer and officer != login else ""
        opened = f"; vault access {','.join(map(str, accesses))}" if accesses else ""
        audit.append(wh, "reidentify", actor=login,
                     detail=f"person {person_id}; {len(result)} records; purpose: {purpose}{stated}{opened}")
    return result


def reidentify_family(wh: Warehouse, household_id: int, *, purpose: str, officer: str = "",
                      private_key_file: Path | None) -> pd.DataFrame:
    """Identifiers (addresses included) of each member of one priority family, for its lead professional.

    Only households in shared.cohort_priority_families qualify; every member goes through
    `reidentify` (its own audit entry), and the family act is audited too.
    """
    try:
        return _reidentify_family(wh, household_id, purpose=purpose, officer=officer,
                                  private_key_file=private_key_file)
    except (ReidentificationRefused, KeyMaterialError) as err:
        _refused(wh, "reidentify_family", f"household {household_id}", err)
        raise


def _reidentify_family(wh: Warehouse, household_id: int, *, purpose: str, officer: str,
                       private_key_file: Path | None) -> pd.DataFrame:
    in_cohort = wh.scalar("SELECT count(*) FROM shared.cohort_priority_families WHERE household_id = ?",
                          (household_id,))
    if not in_cohort:
        raise ReidentificationRefused(
            f"household {household_id} is not in the priority-families cohort",
            hint="Only priority families (shared.cohort_priority_families) can be re-identified this way.")
    members = wh.query("SELECT DISTINCT person_id FROM shared.household_member WHERE household_id = ? ORDER BY 1",
                       (household_id,))["person_id"].astype(int).tolist()
    with wh.transaction():
        frames = [reidentify(wh, person_id, purpose=purpose, officer=officer, private_key_file=private_key_file)
                  .assign(person_id=person_id) for person_id in members]
        audit.append(wh, "reidentify_family", actor=wh.login(),
                     detail=f"household {household_id}; {len(members)} persons; purpose: {purpose.strip()}")
    return pd.concat(frames, ignore_index=True)


def checked_key(wh: Warehouse, subject: str, purpose: str, private_key_file: Path | None) -> Any:
    """The re-identification key, once a purpose is stated; a refusal is audited (call outside a transaction
    that may roll back, so the refusal entry stays)."""
    try:
        if len((purpose or "").strip()) < MIN_PURPOSE_CHARS:
            raise ReidentificationRefused(
                "no purpose was given (or it is too short to be meaningful)",
                hint='State why, e.g. --purpose "Lead professional assignment, priority families panel 2025-03".')
        return load_private_key(private_key_file)
    except (ReidentificationRefused, KeyMaterialError) as err:
        _refused(wh, "reidentify", subject, err)
        raise


def reidentify_persons(wh: Warehouse, person_ids: list[int], *, purpose: str, officer: str = "",
                       private_key_file: Path | None) -> pd.DataFrame:
    """Identifiers of many persons at once (a panel's batch): each extract's vault is opened once, and every
    person gets their own `reidentify` audit entry naming the vault openings used, as `reidentify` writes.

    Call inside the caller's transaction so the entries commit with whatever the caller records.
    """
    purpose = (purpose or "").strip()
    private = checked_key(wh, f"{len(person_ids)} persons", purpose, private_key_file)
    wanted = sorted(set(person_ids))
    marks = ", ".join("?" * len(wanted))
    records = wh.query(f"SELECT extract_id, source_row, partner, person_id FROM restricted.link_record "
                       f"WHERE person_id IN ({marks}) ORDER BY 1, 2", tuple(wanted)) if wanted else pd.DataFrame()
    login = wh.login()
    stated = f"; stated officer: {officer.strip()}" if officer.strip() and officer.strip() != login else ""
    frames: list[pd.DataFrame] = []
    opened: dict[str, int] = {}
    with wh.transaction():
        for extract_id, rows in (records.groupby("extract_id") if len(records) else []):
            sealed, access = _sealed_blobs(wh, str(extract_id), purpose)
            if sealed is None:
                continue
            if access is not None:
                opened[str(extract_id)] = access
            table = unseal(sealed, private, str(extract_id))
            keyed = rows[[SOURCE_ROW, "person_id", "partner"]]
            frames.append(table.merge(keyed, on=SOURCE_ROW).assign(extract_id=extract_id))
        result = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=["person_id"])
        for person_id in wanted:
            mine = result[result["person_id"] == person_id]
            # Named from the person's link records, so every opening made for this batch is named by someone.
            theirs = records.loc[records["person_id"] == person_id, "extract_id"] if len(records) else []
            used = sorted({opened[str(e)] for e in theirs if str(e) in opened})
            via = f"; vault access {','.join(map(str, used))}" if used else ""
            audit.append(wh, "reidentify", actor=login,
                         detail=f"person {person_id}; {len(mine)} records; purpose: {purpose}{stated}{via}")
    return result
