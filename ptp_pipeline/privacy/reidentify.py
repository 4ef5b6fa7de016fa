"""The one lawful route back from a person id to identifiers: audited, purpose-bound, key-gated.

Every act is written to the hash-chained audit log (who, when, purpose, which person, how many
records) in the same transaction that reads the vault, before anything is returned. On PostgreSQL the
vault hands out only the person's own sealed records, and only for a request committed beforehand
(`restricted.request_vault`), so even an opening whose transaction rolls back stays on record.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from ptp_pipeline.errors import KeyMaterialError, PtpUserError
from ptp_pipeline.extract.read import SOURCE_ROW
from ptp_pipeline.privacy.vault import (
    ReidentificationRefused,
    Sealed,
    load_private_key,
    sealed_identifiers,
    unseal,
    unseal_records,
)
from ptp_pipeline.warehouse import audit
from ptp_pipeline.warehouse.base import Warehouse

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey

MIN_PURPOSE_CHARS = 10


def _refused(wh: Warehouse, action: str, subject: str, error: PtpUserError) -> None:
    """A refusal is audited too (who tried, what, why refused), then re-raised by the caller."""
    audit.append(wh, action + "_refused", actor=wh.login(), detail=f"{subject}: refused: {error.message}")


def _request(wh: Warehouse, extract_id: str, rows: list[int], purpose: str) -> int | None:
    """PostgreSQL: record the request for these records, committed on its own before anything is opened."""
    if wh.dialect != "postgresql":
        return None
    return int(wh.scalar("SELECT restricted.request_vault(?, ?, ?)", (extract_id, rows, purpose)))


def _sealed_records(wh: Warehouse, extract_id: str, rows: list[int], access: int | None,
                    private: RSAPrivateKey) -> pd.DataFrame | None:
    """The sealed identifiers of these records, opened with the private key (None if never sealed)."""
    if access is not None:
        sealed = wh.query("SELECT * FROM restricted.open_vault_records(?)", (access,))
    else:  # DuckDB: no logins; whoever holds the file holds the vault (PTP_HOME is owner-only)
        sealed = wh.query("SELECT source_row, key_id, wrapped_key, nonce, ciphertext FROM restricted.vault_record "
                          "WHERE extract_id = ?", (extract_id,))
        if sealed.empty:  # sealed whole before per-record sealing, or never sealed
            whole = sealed_identifiers(wh, extract_id, private)
            return None if whole is None else whole[whole[SOURCE_ROW].isin(rows)]
        sealed = sealed[sealed["source_row"].astype("int64").isin(rows)]
    if sealed.empty:
        return None
    if sealed["source_row"].isna().all():  # an extract sealed whole before per-record sealing
        b = sealed.iloc[0]
        whole = unseal(Sealed(str(b.key_id), bytes(b.wrapped_key), bytes(b.nonce), bytes(b.ciphertext)), private,
                       extract_id)
        return whole[whole[SOURCE_ROW].isin(rows)]
    return unseal_records(sealed, private, extract_id)


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


def _require_purpose(purpose: str) -> None:
    if len((purpose or "").strip()) < MIN_PURPOSE_CHARS:
        raise ReidentificationRefused(
            "no purpose was given (or it is too short to be meaningful)",
            hint='State why, e.g. --purpose "Lead professional assignment, priority families panel 2025-03".',
        )


def _requests(wh: Warehouse, records: pd.DataFrame, purpose: str) -> dict[str, int | None]:
    """One vault request per extract naming only these link records, each committed on its own (so call
    outside any transaction): the record of every opening, whatever the opening transaction does."""
    return {str(e): _request(wh, str(e), [int(r) for r in rows[SOURCE_ROW]], purpose)
            for e, rows in records.groupby("extract_id")}


def _opened(wh: Warehouse, records: pd.DataFrame, accesses: dict[str, int | None],
            private: RSAPrivateKey) -> list[pd.DataFrame]:
    """Inside the caller's transaction: the requested records' identifiers, with person_id, extract and partner."""
    frames: list[pd.DataFrame] = []
    for extract_id, rows in records.groupby("extract_id"):
        e = str(extract_id)
        table = _sealed_records(wh, e, [int(r) for r in rows[SOURCE_ROW]], accesses[e], private)
        if table is None or table.empty:
            continue
        keyed = rows[[SOURCE_ROW, "person_id", "partner"]].astype({SOURCE_ROW: "int64"})
        found = table.merge(keyed, on=SOURCE_ROW).assign(extract_id=e)
        frames.append(found[[c for c in found.columns if c != "partner"] + ["partner"]])
    return frames


def _reidentify(wh: Warehouse, person_id: int, purpose: str, officer: str,
                private_key_file: Path | None) -> pd.DataFrame:
    _require_purpose(purpose)
    private = load_private_key(private_key_file)
    records = wh.query("SELECT r.extract_id, r.source_row, r.partner, r.person_id FROM restricted.link_record r "
                       "WHERE r.person_id = ? ORDER BY 1, 2", (person_id,))
    if records.empty:
        raise ReidentificationRefused(f"person {person_id} is not in the warehouse",
                                      hint="Check the person id in shared.person.")
    login = wh.login()
    accesses = _requests(wh, records, purpose)
    with wh.transaction():
        frames = _opened(wh, records, accesses, private)
        if not frames:
            raise ReidentificationRefused(
                f"no sealed identifiers exist for person {person_id}",
                hint="Their extracts were received before a re-identification key was configured.")
        result = pd.concat(frames, ignore_index=True).drop(columns="person_id")
        stated = f"; stated officer: {officer}" if officer and officer != login else ""
        opened = [str(a) for a in accesses.values() if a is not None]
        access_note = f"; vault access {','.join(opened)}" if opened else ""
        audit.append(wh, "reidentify", actor=login,
                     detail=f"person {person_id}; {len(result)} records; purpose: {purpose}{stated}{access_note}")
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
    # Each member's re-identification commits its own request and audit entry (a vault request must be
    # committed before it opens), so this is not one transaction: members opened stay recorded whatever follows.
    frames = [reidentify(wh, person_id, purpose=purpose, officer=officer, private_key_file=private_key_file)
              .assign(person_id=person_id) for person_id in members]
    audit.append(wh, "reidentify_family", actor=wh.login(),
                 detail=f"household {household_id}; {len(members)} persons; purpose: {purpose.strip()}")
    return pd.concat(frames, ignore_index=True)


def checked_key(wh: Warehouse, subject: str, purpose: str, private_key_file: Path | None) -> RSAPrivateKey:
    """The re-identification key, once a purpose is stated; a refusal is audited (call outside a transaction
    that may roll back, so the refusal entry stays)."""
    try:
        _require_purpose(purpose)
        return load_private_key(private_key_file)
    except (ReidentificationRefused, KeyMaterialError) as err:
        _refused(wh, "reidentify", subject, err)
        raise


def reidentify_persons(wh: Warehouse, person_ids: list[int], *, purpose: str, officer: str = "",
                       private_key_file: Path | None) -> pd.DataFrame:
    """Identifiers of many persons at once (a panel's batch), each person audited as `reidentify` audits one.

    As for one person, the vault requests (one per extract, naming only these persons' records) are
    committed first, each on its own, so call this outside any transaction; the openings and the audit
    entries then commit together.
    """
    purpose = (purpose or "").strip()
    private = checked_key(wh, f"{len(person_ids)} persons", purpose, private_key_file)
    wanted = sorted(set(person_ids))
    marks = ", ".join("?" * len(wanted))
    records = (wh.query(f"SELECT extract_id, source_row, partner, person_id FROM restricted.link_record "
                        f"WHERE person_id IN ({marks}) ORDER BY 1, 2", tuple(wanted)) if wanted
               else pd.DataFrame(columns=["extract_id", SOURCE_ROW, "partner", "person_id"]))
    login = wh.login()
    stated = f"; stated officer: {officer.strip()}" if officer.strip() and officer.strip() != login else ""
    accesses = _requests(wh, records, purpose)
    with wh.transaction():
        frames = _opened(wh, records, accesses, private)
        result = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=["person_id"])
        for person_id in wanted:
            mine = result[result["person_id"] == person_id]
            theirs = set(records.loc[records["person_id"] == person_id, "extract_id"].astype(str))
            used = sorted(str(accesses[e]) for e in theirs if accesses.get(e) is not None)
            via = f"; vault access {','.join(used)}" if used else ""
            audit.append(wh, "reidentify", actor=login,
                         detail=f"person {person_id}; {len(mine)} records; purpose: {purpose}{stated}{via}")
    return result
