"""The one lawful route back from a person id to identifiers: audited, purpose-bound, key-gated.

Every act is written to the hash-chained audit log (who, when, purpose, which person, how many
records) in the same transaction that reads the vault, before anything is returned.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ptp_pipeline.extract.read import SOURCE_ROW
from ptp_pipeline.privacy.vault import ReidentificationRefused, Sealed, load_private_key, unseal
from ptp_pipeline.warehouse import audit
from ptp_pipeline.warehouse.base import Warehouse

MIN_PURPOSE_CHARS = 10


def reidentify(wh: Warehouse, person_id: int, *, purpose: str, officer: str,
               private_key_file: Path | None) -> pd.DataFrame:
    """Identifiers of every record of one person, by extract and row, for a stated purpose."""
    purpose = (purpose or "").strip()
    if len(purpose) < MIN_PURPOSE_CHARS:
        raise ReidentificationRefused(
            "no purpose was given (or it is too short to be meaningful)",
            hint='State why, e.g. --purpose "Lead professional assignment, priority families panel 2025-03".',
        )
    if not officer.strip():
        raise ReidentificationRefused("the re-identifying officer is not named", hint="Pass --by 'Full Name'.")
    private = load_private_key(private_key_file)
    records = wh.query("SELECT r.extract_id, r.source_row, r.partner FROM restricted.link_record r "
                       "WHERE r.person_id = ? ORDER BY 1, 2", (person_id,))
    if records.empty:
        raise ReidentificationRefused(f"person {person_id} is not in the warehouse",
                                      hint="Check the person id in shared.person.")
    frames: list[pd.DataFrame] = []
    with wh.transaction():
        for extract_id, rows in records.groupby("extract_id"):
            blob = wh.query("SELECT key_id, wrapped_key, nonce, ciphertext FROM restricted.vault "
                            "WHERE extract_id = ?", (extract_id,))
            if blob.empty:
                continue
            b = blob.iloc[0]
            sealed = Sealed(str(b.key_id), bytes(b.wrapped_key), bytes(b.nonce), bytes(b.ciphertext))
            table = unseal(sealed, private, str(extract_id))
            table = table[table[SOURCE_ROW].isin(rows[SOURCE_ROW])]
            frames.append(table.assign(extract_id=extract_id, partner=rows["partner"].iloc[0]))
        if not frames:
            raise ReidentificationRefused(
                f"no sealed identifiers exist for person {person_id}",
                hint="Their extracts were received before a re-identification key was configured.")
        result = pd.concat(frames, ignore_index=True)
        audit.append(wh, "reidentify", actor=officer.strip(),
                     detail=f"person {person_id}; {len(result)} records; purpose: {purpose}")
    return result
