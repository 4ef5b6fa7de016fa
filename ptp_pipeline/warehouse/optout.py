"""National data opt-out: opted-out persons' health events are removed and kept out of later ingests.

The list arrives as a file of NHS numbers (one a line; a header line `nhs_number` is allowed, as
are spaces inside a number). Each number is tokenised at once with the project key, exactly as the
`nhs` match key, and only the tokens are stored (`restricted.optout`); the raw numbers are kept only
sealed for the re-identifier (`restricted.optout_sealed`, when a re-identification public key is set), so
key rotation can re-key the list. A person is opted out when any of their records carries an opted-out NHS token;
then every event of theirs from a health partner (project.yaml `national_data_opt_out`) goes,
including events linked to them without an NHS number.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from ptp_pipeline.errors import ExtractError, Where
from ptp_pipeline.linkage.fields import strong_tokens
from ptp_pipeline.privacy.normalise import normalise_nhs_number
from ptp_pipeline.protocol import ProjectConfig
from ptp_pipeline.runtime import Runtime
from ptp_pipeline.warehouse import audit
from ptp_pipeline.warehouse.base import Warehouse
from ptp_pipeline.warehouse.removal import rebuild_derived, rebuild_derived_in_transaction, remove_events


@dataclass(frozen=True)
class OptOutResult:
    numbers: int
    added: int
    events_removed: int


def read_nhs_numbers(path: Path) -> pd.Series:
    """Valid, normalised NHS numbers from the file; any bad line refuses the whole file (no values quoted)."""
    if not path.is_file():
        raise ExtractError("opt-out file not found", where=Where(file=str(path)),
                           hint="Check the path of the national data opt-out list.")
    lines = pd.Series(path.read_text(encoding="utf-8-sig").splitlines(), dtype="string").str.strip()
    lines.index = pd.RangeIndex(1, len(lines) + 1)
    if len(lines) and str(lines.iloc[0]).lower() == "nhs_number":
        lines = lines.iloc[1:]
    lines = lines[lines != ""]
    checked = normalise_nhs_number(lines)
    bad = checked.index[checked["nhs_number"].isna()]
    if len(bad):
        shown = ", ".join(str(i) for i in bad[:10]) + (" ..." if len(bad) > 10 else "")
        raise ExtractError(
            f"{len(bad)} line(s) do not hold a valid NHS number (lines {shown})",
            where=Where(file=path.name),
            hint="Each line must be one 10-digit NHS number with a correct check digit; correct or remove "
            "those lines and run the command again. Nothing was added.",
        )
    return checked["nhs_number"].drop_duplicates()


def withhold(wh: Warehouse, project: ProjectConfig, extract_id: str | None = None) -> int:
    """Remove health events of opted-out persons (after relinking, so linked records go too)."""
    if not wh.scalar("SELECT count(*) FROM restricted.optout"):
        return 0
    partners = project.national_data_opt_out.health_partners
    if not partners:
        return 0
    marks = ", ".join("?" for _ in partners)
    opted = (f"e.agency IN ({marks}) AND e.person_id IN (SELECT i.person_id FROM restricted.link_identity i "
             "JOIN restricted.optout o ON o.token = i.nhs)")
    gone = remove_events(wh, opted, tuple(partners), "opted_out")
    n = int(gone["n"].sum()) if not gone.empty else 0
    if n:
        audit.append(wh, "optout_withheld", extract_id=extract_id,
                     detail=f"{n} health events of opted-out persons removed")
    return n


def add(rt: Runtime, path: Path) -> OptOutResult:
    """Add the file's NHS numbers to the opt-out list and remove their health events, in one transaction."""
    from ptp_pipeline.warehouse.merge import MERGE_LOCK

    numbers = read_nhs_numbers(path)
    tokens = strong_tokens(rt.key, "nhs", numbers).drop_duplicates()
    wh = rt.warehouse
    with wh.transaction():
        wh.lock(MERGE_LOCK)
        known = set(wh.query("SELECT token FROM restricted.optout")["token"])
        new = tokens[~tokens.isin(known)]
        now = datetime.now(UTC).replace(tzinfo=None, microsecond=0)
        wh.insert_frame("restricted.optout", pd.DataFrame({"token": new.to_numpy(), "added_at": now}))
        seal_list(rt, numbers, now)
        removed = withhold(wh, rt.project)
        if removed:
            rebuild_derived_in_transaction(rt)
        audit.append(wh, "optout_added", actor="operator",
                     detail=f"{len(new)} NHS numbers added to the national data opt-out list "
                     f"({len(numbers) - len(new)} already on it); {removed} health events removed")
    if removed:
        rebuild_derived(rt)
    return OptOutResult(len(numbers), len(new), removed)


def seal_list(rt: Runtime, numbers: pd.Series, now: datetime) -> None:
    """Seal the numbers for the re-identifier (as the vault seals extracts), so `ptp key rotate` can re-key
    the whole list, including people the warehouse has never seen. Without a re-identification public key
    only the tokens are kept, and rotation re-keys those it can map through linked records."""
    public = rt.reid_public_key
    if public is None or numbers.empty:
        return
    import secrets

    from ptp_pipeline.privacy.vault import seal

    batch_id = f"optout.{now:%Y%m%dT%H%M%S}.{secrets.token_hex(4)}"
    sealed = seal(pd.DataFrame({"nhs_number": numbers.astype("string").to_numpy()}), public, batch_id)
    rt.warehouse.execute(
        "INSERT INTO restricted.optout_sealed (batch_id, key_id, wrapped_key, nonce, ciphertext, added_at) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        (batch_id, sealed.key_id, sealed.wrapped_key, sealed.nonce, sealed.ciphertext, now))


def count(wh: Warehouse) -> int:
    return int(wh.scalar("SELECT count(*) FROM restricted.optout") or 0)
