"""Project key rotation: re-derive every keyed token (linkage identities and their per-field tokens,
address tokens, event-location tokens, the opt-out list) under a new key, in one transaction.

Tokens are keyed hashes, so they cannot be converted from one key to another: they are recomputed
from the identifiers sealed in the re-identification vault (which needs the re-identification
private key, held by a named officer). Person ids do not change: the same records share the same
tokens under the new key, so clustering is identical. Event ids stay as they are (opaque; no one can
recompute them once the old key is destroyed). The procedure is in docs/privacy.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa

from ptp_pipeline.errors import KeyMaterialError
from ptp_pipeline.extract.check import STATUS
from ptp_pipeline.extract.read import SOURCE_ROW
from ptp_pipeline.linkage import frequencies
from ptp_pipeline.linkage.fields import IDENT, TOKEN_COLUMNS, strong_tokens
from ptp_pipeline.privacy.address import ADDRESS_KEYS, address_parts, address_tokens
from ptp_pipeline.privacy.keys import ProjectKey
from ptp_pipeline.privacy.location import rekey_locations
from ptp_pipeline.privacy.pseudonymise import TOKEN, identity_parts, match_key_tokens
from ptp_pipeline.privacy.vault import Sealed, load_private_key, sealed_identifiers, unseal
from ptp_pipeline.runtime import Runtime
from ptp_pipeline.warehouse import audit
from ptp_pipeline.warehouse.base import Warehouse
from ptp_pipeline.warehouse.merge import MERGE_LOCK
from ptp_pipeline.warehouse.merge_rows import event_ids

IDENTITY_TABLE = "restricted.link_identity"


@dataclass(frozen=True)
class Rotation:
    old_key_id: str
    new_key_id: str
    extracts: int
    tokens: int
    address_tokens: int = 0
    optout_tokens: int = 0
    optout_lost: int = 0  # opt-out entries that could not be re-made (not sealed, no linked record)
    location_tokens: int = 0  # event-location tokens (issue 20)
    orphans_dropped: int = 0  # identities no record points at any more (their events were superseded)


def _address_tokens(new_key: ProjectKey, parts: pd.DataFrame) -> pd.DataFrame | None:
    if "address_line" not in parts and "uprn" not in parts:
        return None
    na = pd.Series(pd.NA, index=parts.index, dtype="string")
    return address_tokens(new_key, address_parts(parts.get("address_line", na)), parts.get("postcode", na),
                          parts.get("uprn"))


def _rekey_addresses(wh: Warehouse, extract_id: str, tokens: pd.DataFrame | None, rows: pd.DataFrame) -> int:
    """`rows`: record_id per source row of this extract (from link_record)."""
    old = wh.query("SELECT record_id, communal, address_from FROM restricted.record_address WHERE extract_id = ?",
                   (extract_id,))
    if old.empty:
        return 0
    if tokens is None:
        raise KeyMaterialError(f"extract {extract_id} has address tokens but no sealed address to re-make them from",
                               hint="Re-ingest that extract under the new key instead.")
    by_record = rows.join(tokens, on=SOURCE_ROW)[["record_id", *ADDRESS_KEYS]]
    new = old.merge(by_record, on="record_id", how="left")
    new["extract_id"] = extract_id
    wh.execute("DELETE FROM restricted.record_address WHERE extract_id = ?", (extract_id,))
    wh.insert_frame("restricted.record_address",
                    new[["record_id", "extract_id", *ADDRESS_KEYS, "communal", "address_from"]])
    return int(new[list(ADDRESS_KEYS)].notna().sum().sum())


def _rekey_optout(rt: Runtime, new_key: ProjectKey, private: Any, old_to_new: dict[str, str]) -> tuple[int, int]:
    """Re-make the opt-out tokens: from the sealed lists where there are any, else through linked identities."""
    wh = rt.warehouse
    optout = wh.query("SELECT token, added_at FROM restricted.optout")
    if optout.empty:
        return 0, 0
    sealed = wh.query("SELECT batch_id, key_id, wrapped_key, nonce, ciphertext FROM restricted.optout_sealed")
    from_sealed: dict[str, str] = {}
    for b in sealed.itertuples(index=False):
        numbers = unseal(Sealed(str(b.key_id), bytes(b.wrapped_key), bytes(b.nonce), bytes(b.ciphertext)), private,
                         str(b.batch_id))["nhs_number"].astype("string")
        old = strong_tokens(rt.key, "nhs", numbers)
        new = strong_tokens(new_key, "nhs", numbers)
        from_sealed.update(zip(old.astype(str), new.astype(str), strict=True))
    mapping = {**old_to_new, **from_sealed}
    optout["new"] = optout["token"].map(mapping)
    lost = int(optout["new"].isna().sum())
    kept = (optout.dropna(subset=["new"]).groupby("new", as_index=False)["added_at"].min()
            .rename(columns={"new": "token"}))
    wh.execute("DELETE FROM restricted.optout")
    wh.insert_frame("restricted.optout", kept[["token", "added_at"]])
    return len(kept), lost


def _rekey_identities(wh: Warehouse, new_tokens: pd.DataFrame) -> tuple[int, int]:
    """Replace every identity (and the idents that point at it) by its new tokens; person ids stay.
    Returns (tokens re-made, identities dropped).

    `new_tokens`: column `old` (the ident now stored) and IDENT plus TOKEN_COLUMNS under the new key.
    An identity no record points at any more (a later extract superseded its events, with their sealed
    identifiers) has nothing to re-make it from and nothing that needs it: it is dropped, as a removal would.
    """
    stored = wh.query(f"SELECT * FROM {IDENTITY_TABLE}")
    referenced = wh.query("SELECT DISTINCT ident FROM restricted.link_record WHERE ident IS NOT NULL")[IDENT]
    orphans = int((~stored[IDENT].isin(referenced)).sum())
    stored = stored[stored[IDENT].isin(referenced)]
    mapping = new_tokens.drop_duplicates("old").set_index("old")
    missing = stored[~stored[IDENT].isin(mapping.index)]
    if not missing.empty:
        raise KeyMaterialError(
            f"{len(missing)} linkage identities have no sealed record to re-make their tokens from",
            hint="Rotation needs every merged extract in the vault; re-ingest the others under the new key.")
    keep = [c for c in stored.columns if c not in (IDENT, *TOKEN_COLUMNS)]
    fresh = stored[keep].join(mapping[[IDENT, *TOKEN_COLUMNS]], on=stored[IDENT])
    fresh = fresh.drop_duplicates(IDENT)[stored.columns.tolist()]
    wh.execute("CREATE TEMP TABLE IF NOT EXISTS _ptp_rekey (old VARCHAR, new VARCHAR)")
    wh.execute("DELETE FROM _ptp_rekey")
    wh.insert_frame("_ptp_rekey", mapping[IDENT].rename("new").rename_axis("old").reset_index())
    wh.execute("UPDATE restricted.link_record SET ident = m.new FROM _ptp_rekey m WHERE link_record.ident = m.old")
    for col in ("ident_l", "ident_r"):
        wh.execute(f"UPDATE restricted.link_review SET {col} = m.new FROM _ptp_rekey m WHERE link_review.{col} = m.old")
    wh.execute(f"DELETE FROM {IDENTITY_TABLE}")
    wh.insert_frame(IDENTITY_TABLE, fresh)
    frequencies.recount(wh)  # every token is new: term frequencies follow
    return int(fresh[TOKEN_COLUMNS].notna().sum().sum()) + len(fresh), orphans


def rotate_key(rt: Runtime, new_key: ProjectKey, private_key_file: Path | None) -> Rotation:
    """Replace every token made with the current key by one made with `new_key`; all or nothing.

    Linkage identities (and the idents records and review pairs point at), address tokens and the
    opt-out list are all re-made, and the ledger's key ids follow, so extracts received under the old
    key afterwards are refused (`warehouse.key_guard`).
    """
    wh = rt.warehouse
    old_id = rt.key.key_id
    if new_key.key_id == old_id:
        raise KeyMaterialError("the new key is the key already in use", hint="Generate one with `ptp key new FILE`.")
    private = load_private_key(private_key_file)
    merged = wh.query("SELECT l.extract_id, l.protocol_id, l.protocol_version, "
                      "EXISTS (SELECT 1 FROM restricted.vault_record v WHERE v.extract_id = l.extract_id) "
                      "OR EXISTS (SELECT 1 FROM restricted.vault v WHERE v.extract_id = l.extract_id) AS sealed "
                      "FROM ops.extract_ledger l WHERE l.status = 'merged' AND (EXISTS "
                      "(SELECT 1 FROM restricted.link_record r WHERE r.extract_id = l.extract_id) OR EXISTS "
                      "(SELECT 1 FROM restricted.event_location p WHERE p.extract_id = l.extract_id)) ORDER BY 1")
    unsealed = merged[~merged.sealed.astype(bool)]
    if not unsealed.empty:
        raise KeyMaterialError(
            f"{len(unsealed)} merged extract(s) have no sealed identifiers, so their tokens cannot be re-made",
            hint="Rotation needs every extract in the vault; re-ingest those extracts under the new key instead.")
    addresses = locations = 0
    identities: list[pd.DataFrame] = []
    with wh.transaction():
        wh.lock(MERGE_LOCK)
        for row in merged.itertuples(index=False):
            frame = sealed_identifiers(wh, row.extract_id, private)
            assert frame is not None  # checked above: every merged extract here is sealed
            protocol = rt.protocol(row.protocol_id, int(row.protocol_version))
            locations += rekey_locations(wh, row.extract_id, new_key, frame, protocol,
                                         event_ids(rt.key, row.extract_id, pa.array(
                                             frame[SOURCE_ROW].astype("string").array)).to_pandas())
            if protocol.subject == "place":  # a licensing register: locations only, no identities
                continue
            for spec in protocol.fields:
                if spec.name in frame:
                    frame[STATUS + spec.name] = frame[spec.name].notna().map({True: "valid", False: "missing"})
            parts, _ = identity_parts(frame, protocol)
            # Every token column and the identity token (linkage_tokens makes them all, NA where a part is missing).
            tokens = match_key_tokens(new_key, parts, rt.project).rename(columns=lambda c: c.removeprefix(TOKEN))
            tokens[SOURCE_ROW] = frame[SOURCE_ROW].to_numpy()
            records = wh.query("SELECT record_id, source_row, ident FROM restricted.link_record WHERE extract_id = ?",
                               (row.extract_id,)).rename(columns={"source_row": SOURCE_ROW})
            records[SOURCE_ROW] = records[SOURCE_ROW].astype("int64")
            tokens[SOURCE_ROW] = tokens[SOURCE_ROW].astype("int64")
            joined = records.dropna(subset=["ident"]).merge(tokens, on=SOURCE_ROW, suffixes=("_old", ""))
            identities.append(joined.rename(columns={"ident_old": "old"})[["old", IDENT, *TOKEN_COLUMNS]])
            addr = _address_tokens(new_key, parts)
            if addr is not None:
                addr.index = frame[SOURCE_ROW].astype("int64").to_numpy()
            addresses += _rekey_addresses(wh, row.extract_id, addr, records[["record_id", SOURCE_ROW]])
        new_tokens = (pd.concat(identities, ignore_index=True) if identities
                      else pd.DataFrame(columns=["old", IDENT, *TOKEN_COLUMNS]))
        old_nhs = wh.query(f"SELECT {IDENT}, nhs FROM {IDENTITY_TABLE} WHERE nhs IS NOT NULL")
        pairs = old_nhs.merge(new_tokens[["old", "nhs"]].rename(columns={"old": IDENT, "nhs": "new"}), on=IDENT)
        old_to_new = dict(zip(pairs["nhs"].astype(str), pairs["new"].astype(str), strict=True))
        total, orphans = _rekey_identities(wh, new_tokens)
        optout_tokens, optout_lost = _rekey_optout(rt, new_key, private, old_to_new)
        wh.execute("UPDATE ops.extract_ledger SET key_id = ? WHERE key_id = ?", (new_key.key_id, old_id))
        audit.append(wh, "key_rotated", detail=f"tokens re-made: key {old_id} replaced by {new_key.key_id}; "
                                               f"{len(merged)} extracts, {total} linkage tokens, {addresses} "
                                               f"address tokens, {locations} event-location tokens, "
                                               f"{optout_tokens} opt-out tokens "
                                               f"({optout_lost} opt-out entries could not be re-made); "
                                               f"{orphans} identities without a record dropped")
    return Rotation(old_id, new_key.key_id, len(merged), total, addresses, optout_tokens, optout_lost, locations,
                    orphans)
