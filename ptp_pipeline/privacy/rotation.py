"""Project key rotation: re-derive every keyed token (person match keys, address tokens, the opt-out
list) under a new key, in one transaction.

Tokens are keyed hashes, so they cannot be converted from one key to another: they are recomputed
from the identifiers sealed in the re-identification vault (which needs the re-identification
private key, held by a named officer). Person ids do not change: the same records share the same
tokens under the new key, so clustering is identical. The procedure is in docs/privacy.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from ptp_pipeline.errors import KeyMaterialError
from ptp_pipeline.extract.check import STATUS
from ptp_pipeline.extract.read import SOURCE_ROW
from ptp_pipeline.privacy.address import ADDRESS_KEYS, address_parts, address_tokens
from ptp_pipeline.privacy.keys import ProjectKey
from ptp_pipeline.privacy.pseudonymise import KEY, identity_parts, match_key_tokens
from ptp_pipeline.privacy.tokens import hmac_tokens
from ptp_pipeline.privacy.vault import Sealed, load_private_key, unseal
from ptp_pipeline.runtime import Runtime
from ptp_pipeline.warehouse import audit
from ptp_pipeline.warehouse.base import Warehouse
from ptp_pipeline.warehouse.merge import MERGE_LOCK, relink
from ptp_pipeline.warehouse.optout import nhs_key_name


@dataclass(frozen=True)
class Rotation:
    old_key_id: str
    new_key_id: str
    extracts: int
    tokens: int
    address_tokens: int = 0
    optout_tokens: int = 0
    optout_lost: int = 0  # opt-out entries that could not be re-made (not sealed, no linked record)


def _address_tokens(new_key: ProjectKey, parts: pd.DataFrame) -> pd.DataFrame | None:
    if "address_line" not in parts and "uprn" not in parts:
        return None
    na = pd.Series(pd.NA, index=parts.index, dtype="string")
    return address_tokens(new_key, address_parts(parts.get("address_line", na)), parts.get("postcode", na),
                          parts.get("uprn"))


def _rekey_addresses(wh: Warehouse, extract_id: str, tokens: pd.DataFrame | None, record_id: pd.Series) -> int:
    old = wh.query("SELECT record_id, communal, address_from FROM restricted.record_address WHERE extract_id = ?",
                   (extract_id,))
    if old.empty:
        return 0
    if tokens is None:
        raise KeyMaterialError(f"extract {extract_id} has address tokens but no sealed address to re-make them from",
                               hint="Re-ingest that extract under the new key instead.")
    new = old.merge(tokens.assign(record_id=record_id.to_numpy()), on="record_id", how="left")
    new["extract_id"] = extract_id
    wh.execute("DELETE FROM restricted.record_address WHERE extract_id = ?", (extract_id,))
    wh.insert_frame("restricted.record_address",
                    new[["record_id", "extract_id", *ADDRESS_KEYS, "communal", "address_from"]])
    return int(new[list(ADDRESS_KEYS)].notna().sum().sum())


def _rekey_optout(rt: Runtime, new_key: ProjectKey, private: Any, old_to_new: dict[str, str]) -> tuple[int, int]:
    """Re-make the opt-out tokens: from the sealed lists where there are any, else through linked records."""
    wh = rt.warehouse
    optout = wh.query("SELECT token, added_at FROM restricted.optout")
    if optout.empty:
        return 0, 0
    nhs = nhs_key_name(rt.project)
    sealed = wh.query("SELECT batch_id, key_id, wrapped_key, nonce, ciphertext FROM restricted.optout_sealed")
    from_sealed: dict[str, str] = {}
    for b in sealed.itertuples(index=False):
        numbers = unseal(Sealed(str(b.key_id), bytes(b.wrapped_key), bytes(b.nonce), bytes(b.ciphertext)), private,
                         str(b.batch_id))["nhs_number"].astype("string")
        old = hmac_tokens(rt.key.subkey("match/" + nhs), numbers)
        new = hmac_tokens(new_key.subkey("match/" + nhs), numbers)
        from_sealed.update(zip(old.astype(str), new.astype(str), strict=True))
    mapping = {**old_to_new, **from_sealed}
    optout["new"] = optout["token"].map(mapping)
    lost = int(optout["new"].isna().sum())
    kept = (optout.dropna(subset=["new"]).groupby("new", as_index=False)["added_at"].min()
            .rename(columns={"new": "token"}))
    wh.execute("DELETE FROM restricted.optout")
    wh.insert_frame("restricted.optout", kept[["token", "added_at"]])
    return len(kept), lost


def rotate_key(rt: Runtime, new_key: ProjectKey, private_key_file: Path | None) -> Rotation:
    """Replace every token made with the current key by one made with `new_key`; all or nothing.

    Person match keys, address tokens and the opt-out list are all re-made, and the ledger's key ids follow,
    so extracts received under the old key afterwards are refused (`warehouse.key_guard`).
    """
    wh = rt.warehouse
    old_id = rt.key.key_id
    if new_key.key_id == old_id:
        raise KeyMaterialError("the new key is the key already in use", hint="Generate one with `ptp key new FILE`.")
    private = load_private_key(private_key_file)
    merged = wh.query("SELECT l.extract_id, l.protocol_id, l.protocol_version, v.key_id, v.wrapped_key, v.nonce, "
                      "v.ciphertext FROM ops.extract_ledger l LEFT JOIN restricted.vault v USING (extract_id) "
                      "WHERE l.status = 'merged' AND EXISTS "
                      "(SELECT 1 FROM restricted.link_record r WHERE r.extract_id = l.extract_id) ORDER BY 1")
    unsealed = merged[merged.ciphertext.isna()]
    if not unsealed.empty:
        raise KeyMaterialError(
            f"{len(unsealed)} merged extract(s) have no sealed identifiers, so their tokens cannot be re-made",
            hint="Rotation needs every extract in the vault; re-ingest those extracts under the new key instead.")
    nhs = nhs_key_name(rt.project)
    total = addresses = 0
    old_to_new: dict[str, str] = {}
    with wh.transaction():
        wh.lock(MERGE_LOCK)
        for row in merged.itertuples(index=False):
            sealed = Sealed(str(row.key_id), bytes(row.wrapped_key), bytes(row.nonce), bytes(row.ciphertext))
            frame = unseal(sealed, private, row.extract_id)
            protocol = rt.protocol(row.protocol_id, int(row.protocol_version))
            for spec in protocol.fields:
                if spec.name in frame:
                    frame[STATUS + spec.name] = frame[spec.name].notna().map({True: "valid", False: "missing"})
            parts, _ = identity_parts(frame, protocol)
            tokens = match_key_tokens(new_key, parts, rt.project)
            record_id = row.extract_id + ":" + frame[SOURCE_ROW].astype(str)
            keys = (tokens.assign(record_id=record_id.to_numpy())
                    .melt(id_vars="record_id", var_name="key_type", value_name="token").dropna(subset=["token"]))
            keys["key_type"] = keys["key_type"].str.removeprefix(KEY)
            existing = wh.query("SELECT record_id, key_type, token FROM restricted.record_key WHERE record_id LIKE ?",
                                (row.extract_id + ":%",))
            keys = keys[keys.record_id.isin(existing.record_id)]
            old_nhs = existing[existing.key_type == nhs].set_index("record_id")["token"]
            new_nhs = keys[keys.key_type == nhs].set_index("record_id")["token"]
            pairs = pd.concat([old_nhs.rename("old"), new_nhs.rename("new")], axis=1, join="inner")
            old_to_new.update(zip(pairs["old"].astype(str), pairs["new"].astype(str), strict=True))
            wh.execute("DELETE FROM restricted.record_key WHERE record_id LIKE ?", (row.extract_id + ":%",))
            wh.insert_frame("restricted.record_key", keys[["record_id", "key_type", "token"]])
            total += len(keys)
            addresses += _rekey_addresses(wh, row.extract_id, _address_tokens(new_key, parts), record_id)
        optout_tokens, optout_lost = _rekey_optout(rt, new_key, private, old_to_new)
        wh.execute("UPDATE ops.extract_ledger SET key_id = ? WHERE key_id = ?", (new_key.key_id, old_id))
        relink(wh, rt.project)
        audit.append(wh, "key_rotated", detail=f"tokens re-made: key {old_id} replaced by {new_key.key_id}; "
                                               f"{len(merged)} extracts, {total} match-key tokens, {addresses} "
                                               f"address tokens, {optout_tokens} opt-out tokens "
                                               f"({optout_lost} opt-out entries could not be re-made)")
    return Rotation(old_id, new_key.key_id, len(merged), total, addresses, optout_tokens, optout_lost)
