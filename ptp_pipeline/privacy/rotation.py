"""Project key rotation: re-derive every match-key token under a new key, in one transaction.

Tokens are keyed hashes, so they cannot be converted from one key to another: they are recomputed
from the identifiers sealed in the re-identification vault (which needs the re-identification
private key, held by a named officer). Person ids do not change: the same records share the same
tokens under the new key, so clustering is identical. The procedure is in docs/privacy.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from ptp_pipeline.errors import KeyMaterialError
from ptp_pipeline.extract.check import STATUS
from ptp_pipeline.extract.read import SOURCE_ROW
from ptp_pipeline.linkage.fields import IDENT, TOKEN_COLUMNS
from ptp_pipeline.privacy.keys import ProjectKey
from ptp_pipeline.privacy.pseudonymise import TOKEN, identity_parts, match_key_tokens
from ptp_pipeline.privacy.vault import Sealed, load_private_key, unseal
from ptp_pipeline.runtime import Runtime
from ptp_pipeline.warehouse import audit
from ptp_pipeline.warehouse.base import Warehouse
from ptp_pipeline.warehouse.merge import relink


@dataclass(frozen=True)
class Rotation:
    old_key_id: str
    new_key_id: str
    extracts: int
    tokens: int


def rotate_key(rt: Runtime, new_key: ProjectKey, private_key_file: Path | None) -> Rotation:
    """Replace every token made with the current key by one made with `new_key`; all or nothing."""
    wh = rt.warehouse
    old_id = rt.key.key_id
    if new_key.key_id == old_id:
        raise KeyMaterialError("the new key is the key already in use", hint="Generate one with `ptp key new FILE`.")
    private = load_private_key(private_key_file)
    merged = wh.query("SELECT l.extract_id, l.protocol_id, l.protocol_version, v.key_id, v.wrapped_key, v.nonce, "
                      "v.ciphertext FROM ops.extract_ledger l LEFT JOIN restricted.vault v USING (extract_id) "
                      "WHERE l.status = 'merged' ORDER BY 1")
    unsealed = merged[merged.ciphertext.isna()]
    if not unsealed.empty:
        raise KeyMaterialError(
            f"{len(unsealed)} merged extract(s) have no sealed identifiers, so their tokens cannot be re-made",
            hint="Rotation needs every extract in the vault; re-ingest those extracts under the new key instead.")
    remade = []
    with wh.transaction():
        for row in merged.itertuples(index=False):
            sealed = Sealed(str(row.key_id), bytes(row.wrapped_key), bytes(row.nonce), bytes(row.ciphertext))
            frame = unseal(sealed, private, row.extract_id)
            protocol = rt.protocol(row.protocol_id, int(row.protocol_version))
            for spec in protocol.fields:
                if spec.name in frame:
                    frame[STATUS + spec.name] = frame[spec.name].notna().map({True: "valid", False: "missing"})
            parts, _ = identity_parts(frame, protocol)
            tokens = match_key_tokens(new_key, parts, rt.project).rename(columns=lambda c: c.removeprefix(TOKEN))
            tokens["extract_id"] = row.extract_id
            tokens["source_row"] = frame[SOURCE_ROW].astype("int64").to_numpy()
            remade.append(tokens)
        total = _swap_identities(wh, pd.concat(remade, ignore_index=True) if remade else pd.DataFrame())
        relink(wh, rt.project)
        audit.append(wh, "key_rotated", detail=f"linkage tokens re-made: key {old_id} replaced by {new_key.key_id}; "
                                               f"{len(merged)} extracts, {total} identities")
    return Rotation(old_id, new_key.key_id, len(merged), total)



def _swap_identities(wh: Warehouse, remade: pd.DataFrame) -> int:
    """Identities under the new key, with the persons, passes and probabilities the old ones had."""
    if remade.empty:
        return 0
    records = wh.query("SELECT r.extract_id, r.source_row, r.person_id, i.link_pass, i.match_probability, i.nhs "
                       "AS old_nhs FROM restricted.link_record r LEFT JOIN restricted.link_identity i "
                       "ON i.ident = r.ident")
    joined = records.merge(remade, on=["extract_id", "source_row"], how="left")
    wh.execute("CREATE TEMP TABLE IF NOT EXISTS _ptp_rekey (extract_id VARCHAR, source_row BIGINT, ident VARCHAR)")
    wh.execute("DELETE FROM _ptp_rekey")
    wh.insert_frame("_ptp_rekey", joined[["extract_id", "source_row", IDENT]])
    wh.execute("UPDATE restricted.link_record SET ident = k.ident FROM _ptp_rekey k "
               "WHERE link_record.extract_id = k.extract_id AND link_record.source_row = k.source_row")
    # Opt-out tokens follow the NHS numbers' identities (the list itself holds tokens only).
    pairs = joined.dropna(subset=["old_nhs", "nhs"]).drop_duplicates("old_nhs")
    if len(pairs):
        wh.execute("CREATE TEMP TABLE IF NOT EXISTS _ptp_nhs_rekey (old VARCHAR, new VARCHAR)")
        wh.execute("DELETE FROM _ptp_nhs_rekey")
        wh.insert_frame("_ptp_nhs_rekey", pairs[["old_nhs", "nhs"]].rename(columns={"old_nhs": "old", "nhs": "new"}))
        wh.execute("UPDATE restricted.optout SET token = k.new FROM _ptp_nhs_rekey k WHERE optout.token = k.old")
    identities = joined.dropna(subset=[IDENT]).drop_duplicates(IDENT)
    frame = pd.DataFrame({IDENT: identities[IDENT], "person_id": identities["person_id"].astype("int64"),
                          "link_pass": identities["link_pass"].fillna("new person"),
                          "match_probability": identities["match_probability"],
                          "first_extract": identities["extract_id"]})
    for col in TOKEN_COLUMNS:
        frame[col] = identities[col]
    wh.execute("DELETE FROM restricted.link_identity")
    wh.execute("DELETE FROM restricted.link_review")
    wh.insert_frame("restricted.link_identity", frame)
    return len(frame)
