"""Key rotation after a later extract superseded an earlier one's events: the identity left with no record
(its sealed identifiers went with its events) is dropped rather than stopping the rotation; a record whose
sealed identifiers are missing still stops it, all or nothing."""

from __future__ import annotations

import secrets
from pathlib import Path

import pandas as pd
import pytest
from helpers import assert_conserved, write_csv

from ptp_pipeline import pipeline
from ptp_pipeline.errors import KeyMaterialError
from ptp_pipeline.privacy.keys import ProjectKey
from ptp_pipeline.privacy.rotation import rotate_key
from ptp_pipeline.privacy.vault import new_reid_keypair
from ptp_pipeline.runtime import Runtime
from ptp_pipeline.settings import load_settings

POLICE = ["surname", "forenames", "birth_date", "home_postcode", "home_address", "uprn", "sex", "nhs_number",
          "occurred_on", "incident_type", "estimated_cost"]
FIRST = [["Kelly", "Roger", "35233", "LS24 5QW", "", "", "M", "", "01/06/2024", "incident", "100"],
         ["Okafor", "Ngozi", "30111", "LS7 2GN", "", "", "F", "", "02/06/2024", "incident", "100"],
         ["Lindqvist", "Sven", "28001", "LS9 8BB", "", "", "M", "", "01/06/2024", "incident", "100"]]
# The partner's next extract covers 2 June again, without Ngozi Okafor's incident: hers is superseded.
SECOND = [["Marsh", "Tilly", "33000", "LS6 2AB", "", "", "F", "", "02/06/2024", "incident", "100"]]


def test_rotation_drops_identities_left_without_records(env: dict[str, str], tmp_path: Path) -> None:
    private, public = tmp_path / "reid.pem", tmp_path / "reid.pub"
    new_reid_keypair(private, public)
    rt = Runtime(load_settings({**env, "PTP_REID_PUBLIC_KEY_FILE": str(public)}))
    try:
        wh = rt.warehouse
        first = pipeline.ingest(rt, write_csv(tmp_path / "a.csv", POLICE, FIRST), "police", "incidents")
        second = pipeline.ingest(rt, write_csv(tmp_path / "b.csv", POLICE, SECOND), "police", "incidents")
        assert first.status == second.status == "merged"
        assert wh.scalar("SELECT count(*) FROM restricted.link_identity") == 4
        assert wh.scalar("SELECT count(*) FROM restricted.link_record") == 3, "Ngozi Okafor's record superseded"
        before = wh.query("SELECT record_id, person_id FROM restricted.link_record ORDER BY 1")
        tokens = wh.query("SELECT * FROM restricted.link_identity ORDER BY ident")

        # A record whose sealed identifiers are gone: its identity cannot be re-made, so nothing is.
        kept = wh.query("SELECT * FROM restricted.vault_record WHERE extract_id = ? ORDER BY source_row LIMIT 1",
                        (str(first.extract_id),))
        assert len(kept) == 1
        wh.execute("DELETE FROM restricted.vault_record WHERE extract_id = ? AND source_row = ?",
                   (kept.extract_id.iloc[0], int(kept.source_row.iloc[0])))
        new = ProjectKey(rt.project.project.id, secrets.token_bytes(32))
        with pytest.raises(KeyMaterialError, match="1 linkage identities have no sealed record"):
            rotate_key(rt, new, private)
        pd.testing.assert_frame_equal(wh.query("SELECT * FROM restricted.link_identity ORDER BY ident"), tokens)
        wh.insert_frame("restricted.vault_record", kept)

        done = rotate_key(rt, new, private)
        assert (done.extracts, done.orphans_dropped) == (2, 1)
        assert wh.scalar("SELECT count(*) FROM restricted.link_identity") == 3
        assert wh.scalar("SELECT count(*) FROM restricted.link_identity i WHERE NOT EXISTS "
                         "(SELECT 1 FROM restricted.link_record r WHERE r.ident = i.ident)") == 0
        assert not set(wh.query("SELECT ident FROM restricted.link_identity").ident) & set(tokens.ident)
        pd.testing.assert_frame_equal(wh.query("SELECT record_id, person_id FROM restricted.link_record ORDER BY 1"),
                                      before)
        detail = wh.query("SELECT detail FROM ops.audit_log WHERE action = 'key_rotated'").detail.tolist()
        assert len(detail) == 1 and detail[0].endswith("; 1 identities without a record dropped")
        assert_conserved(rt)
    finally:
        rt.close()
