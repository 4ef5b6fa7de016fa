"""Project key rotation: re-derive every match-key token under a new key, in one transaction.

Tokens are keyed hashes, so they cannot be converted from one key to another: they are recomputed
from the identifiers sealed in the re-identification vault (which needs the re-identification
private key, held by a named officer). Person ids do not change: the same records share the same
tokens under the new key, so clustering is identical. The procedure is in docs/privacy.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ptp_pipeline.errors import KeyMaterialError
from ptp_pipeline.extract.check import STATUS
from ptp_pipeline.extract.read import SOURCE_ROW
from ptp_pipeline.privacy.keys import ProjectKey
from ptp_pipeline.privacy.pseudonymise import KEY, identity_parts, match_key_tokens
from ptp_pipeline.privacy.vault import Sealed, load_private_key, unseal
from ptp_pipeline.runtime import Runtime
from ptp_pipeline.warehouse import audit
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
    total = 0
    with wh.transaction():
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
            existing = wh.query("SELECT DISTINCT record_id FROM restricted.record_key WHERE record_id LIKE ?",
                                (row.extract_id + ":%",))
            keys = keys[keys.record_id.isin(existing.record_id)]
            wh.execute("DELETE FROM restricted.record_key WHERE record_id LIKE ?", (row.extract_id + ":%",))
            wh.insert_frame("restricted.record_key", keys[["record_id", "key_type", "token"]])
            total += len(keys)
        relink(wh, rt.project)
        audit.append(wh, "key_rotated", detail=f"match-key tokens re-made: key {old_id} replaced by {new_key.key_id}; "
                                               f"{len(merged)} extracts, {total} tokens")
    return Rotation(old_id, new_key.key_id, len(merged), total)

