"""A priority-families batch for a named lead professional: re-identified in one audited act, written as one
file only the lead's private key opens, never printed.

The file reuses the vault's envelope (`privacy.vault.seal`: AES-256-GCM under a fresh data key, wrapped
with RSA-OAEP to the recipient's public key), with the batch id bound as associated data. Layout: a
first line `ptp-families-batch/1 <batch id>`, then the sealed blob as `vault.sealed_bytes` writes it.
Every person is audited (`reidentify`, one entry each) and so is the batch (`reidentify_batch`: lead,
households, persons, the file's SHA-256), in one transaction: the file is put in place only after it commits.
"""

from __future__ import annotations

import hashlib
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey

from ptp_pipeline.errors import ConfigError, KeyMaterialError
from ptp_pipeline.privacy.reidentify import checked_key, reidentify_persons
from ptp_pipeline.privacy.vault import (
    ReidentificationRefused,
    load_private_key,
    load_public_key,
    seal,
    sealed_bytes,
    sealed_from_bytes,
    unseal,
)
from ptp_pipeline.warehouse import audit
from ptp_pipeline.warehouse.base import Warehouse

MAGIC = "ptp-families-batch/1"


@dataclass(frozen=True)
class Batch:
    batch_id: str
    path: Path
    households: int
    persons: int
    records: int
    sha256: str


def _aad(batch_id: str) -> str:
    return f"{MAGIC}:{batch_id}"


def _members(wh: Warehouse, household_ids: list[int] | None) -> pd.DataFrame:
    cohort = wh.query("SELECT household_id FROM shared.cohort_priority_families")["household_id"].astype(int)
    chosen = sorted(set(cohort)) if household_ids is None else sorted(set(household_ids))
    outside = [h for h in chosen if h not in set(cohort)]
    if outside:
        raise ReidentificationRefused(
            f"household(s) {', '.join(map(str, outside[:10]))} are not in the priority-families cohort",
            hint="Choose households from `ptp families list` (ids change at each rebuild of the pathway tables).",
        )
    if not chosen:
        raise ReidentificationRefused(
            "the priority-families cohort is empty",
            hint="Rebuild the pathway tables (`ptp pathways`) after address data arrives.",
        )
    marks = ", ".join("?" * len(chosen))
    return wh.query(
        f"SELECT DISTINCT household_id, person_id FROM shared.household_member "
        f"WHERE household_id IN ({marks}) ORDER BY 1, 2",
        tuple(chosen),
    )


def export_families(
    wh: Warehouse,
    out: Path,
    *,
    lead: str,
    recipient_key: Path,
    purpose: str,
    private_key_file: Path | None,
    household_ids: list[int] | None = None,
) -> Batch:
    """Re-identify the cohort (or `household_ids`) for `lead` and write it to `out`, sealed to `recipient_key`."""
    lead = lead.strip()
    if len(lead) < 3:
        raise ConfigError("the lead professional is not named", hint='Give --lead "Name, role, organisation".')
    if out.exists():
        raise ConfigError(f"{out} already exists", hint="Choose a new file name: a batch file is never overwritten.")
    try:
        recipient = load_public_key(recipient_key)
    except (OSError, ValueError):
        raise KeyMaterialError(
            f"{recipient_key} is not a readable public key",
            hint="Ask the lead professional for the public half of their key pair (`ptp families keypair`).",
        ) from None
    members = _members(wh, household_ids)
    checked_key(wh, f"priority-families batch for {lead}", purpose, private_key_file)  # refusals audited here
    batch_id = secrets.token_hex(8)
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(f".{out.name}.{os.getpid()}.partial")
    try:
        digest, records = _reidentify_and_seal(
            wh,
            members,
            partial,
            batch_id,
            lead=lead,
            purpose=purpose,
            recipient=recipient,
            private_key_file=private_key_file,
        )
    except BaseException:
        partial.unlink(missing_ok=True)  # nothing committed: no file either
        raise
    partial.replace(out)
    return Batch(
        batch_id, out, int(members["household_id"].nunique()), int(members["person_id"].nunique()), records, digest
    )


def _reidentify_and_seal(
    wh: Warehouse,
    members: pd.DataFrame,
    partial: Path,
    batch_id: str,
    *,
    lead: str,
    purpose: str,
    recipient: RSAPublicKey,
    private_key_file: Path | None,
) -> tuple[str, int]:
    # Openings are requested, made and audited per person first (they stay recorded whatever follows).
    found = reidentify_persons(
        wh,
        members["person_id"].astype(int).tolist(),
        purpose=purpose,
        officer=lead,
        private_key_file=private_key_file,
    )
    with wh.transaction():
        table = found.merge(members, on="person_id").sort_values(["household_id", "person_id"], kind="stable")
        sealed = seal(table.reset_index(drop=True), recipient, _aad(batch_id))
        content = f"{MAGIC} {batch_id}\n".encode() + sealed_bytes(sealed)
        partial.write_bytes(content)
        digest = hashlib.sha256(content).hexdigest()
        households = int(members["household_id"].nunique())
        audit.append(
            wh,
            "reidentify_batch",
            actor=wh.login(),
            detail=f"batch {batch_id}; lead professional: {lead}; {households} households; "
            f"{members['person_id'].nunique()} persons; {len(table)} records; purpose: "
            f"{purpose.strip()}; file sha256 {digest}",
        )
    return digest, len(table)


def open_batch(path: Path, private_key_file: Path) -> pd.DataFrame:
    """The lead professional's side: the batch's records, with the private key of the pair it was sealed to."""
    raw = path.read_bytes()
    first, _, blob = raw.partition(b"\n")
    magic, _, batch_id = first.decode("ascii", "replace").partition(" ")
    if magic != MAGIC or not batch_id:
        raise ConfigError(
            f"{path} is not a priority-families batch file", hint="Open the file the panel's re-identifier sent you."
        )
    return unseal(sealed_from_bytes(blob), load_private_key(private_key_file), _aad(batch_id))
