"""Re-identification and key rotation over extracts received before per-record sealing, on both backends:
one never sealed (no re-identification key was configured) is refused, audited, and stops a rotation;
one sealed whole (a single blob, `restricted.vault`) still opens for the persons asked for, and no others."""

from __future__ import annotations

import secrets
from pathlib import Path

import pandas as pd
import pytest
from helpers import write_csv

from ptp_pipeline import pipeline
from ptp_pipeline.errors import KeyMaterialError
from ptp_pipeline.extract.read import SOURCE_ROW
from ptp_pipeline.privacy.keys import ProjectKey
from ptp_pipeline.privacy.reidentify import reidentify, reidentify_persons
from ptp_pipeline.privacy.rotation import rotate_key
from ptp_pipeline.privacy.vault import ReidentificationRefused, load_public_key, new_reid_keypair, seal
from ptp_pipeline.runtime import Runtime

POLICE = ["surname", "forenames", "birth_date", "home_postcode", "home_address", "uprn", "sex", "nhs_number",
          "occurred_on", "incident_type", "estimated_cost"]
PEOPLE = [("Kelly", "Roger", "35233", "LS24 5QW"), ("Okafor", "Ngozi", "30111", "LS7 2GN"),
          ("Lindqvist", "Sven", "28001", "LS9 8BB")]
PURPOSE = "Safeguarding review of a named case, panel 2026-12"


def _actions(rt: Runtime) -> list[str]:
    return rt.warehouse.query("SELECT action FROM ops.audit_log ORDER BY seq").action.tolist()


def test_unsealed_and_whole_sealed_extracts(wh_rt: Runtime, tmp_path: Path) -> None:
    rt = wh_rt
    rows = [[s, f, dob, pc, "", "", "M", "", "01/06/2024", "incident", "100"] for s, f, dob, pc in PEOPLE]
    got = pipeline.ingest(rt, write_csv(tmp_path / "p.csv", POLICE, rows), "police", "incidents")
    assert got.status == "merged"
    extract = str(got.extract_id)
    records = rt.warehouse.query("SELECT source_row, person_id FROM restricted.link_record ORDER BY source_row")
    person = int(records.person_id.iloc[0])
    private, public = tmp_path / "reid.pem", tmp_path / "reid.pub"
    new_reid_keypair(private, public)

    # Never sealed: nothing to open, the refusal audited; no rotation can re-make its tokens.
    with pytest.raises(ReidentificationRefused, match=f"no sealed identifiers exist for person {person}"):
        reidentify(rt.warehouse, person, purpose=PURPOSE, private_key_file=private)
    assert _actions(rt)[-1] == "reidentify_refused"
    tokens = rt.warehouse.query("SELECT ident FROM restricted.link_identity ORDER BY 1")
    with pytest.raises(KeyMaterialError, match=r"1 merged extract\(s\) have no sealed identifiers"):
        rotate_key(rt, ProjectKey(rt.project.project.id, secrets.token_bytes(32)), private)
    pd.testing.assert_frame_equal(rt.warehouse.query("SELECT ident FROM restricted.link_identity ORDER BY 1"), tokens)

    # Sealed whole, as before per-record sealing: the blob opens, and only the person asked for comes out.
    whole = pd.DataFrame({SOURCE_ROW: records.source_row.astype("int64"), "surname": [p[0] for p in PEOPLE],
                          "forenames": [p[1] for p in PEOPLE]})
    blob = seal(whole, load_public_key(public), extract)
    rt.warehouse.execute("INSERT INTO restricted.vault VALUES (?, ?, ?, ?, ?)",
                         (extract, blob.key_id, blob.wrapped_key, blob.nonce, blob.ciphertext))
    found = reidentify(rt.warehouse, person, purpose=PURPOSE, officer="A. Officer", private_key_file=private)
    assert found[["surname", "forenames", "partner", "extract_id"]].values.tolist() == [
        ["Kelly", "Roger", "police", extract]]
    entry = rt.warehouse.query("SELECT action, detail FROM ops.audit_log ORDER BY seq DESC LIMIT 1").iloc[0]
    assert entry.action == "reidentify" and entry.detail.startswith(f"person {person}; 1 records; purpose: ")


def test_asking_for_no_persons_opens_nothing(wh_rt: Runtime, tmp_path: Path) -> None:
    private, public = tmp_path / "reid.pem", tmp_path / "reid.pub"
    new_reid_keypair(private, public)
    before = _actions(wh_rt)
    found = reidentify_persons(wh_rt.warehouse, [], purpose=PURPOSE, private_key_file=private)
    assert found.empty
    assert _actions(wh_rt) == before, "no person opened, no entry"


def test_rotation_to_the_same_key_is_refused_and_of_an_empty_warehouse_re_makes_nothing(
        rt: Runtime, tmp_path: Path) -> None:
    private, public = tmp_path / "reid.pem", tmp_path / "reid.pub"
    new_reid_keypair(private, public)
    with pytest.raises(KeyMaterialError, match="the new key is the key already in use"):
        rotate_key(rt, rt.key, private)
    new = ProjectKey(rt.project.project.id, secrets.token_bytes(32))
    done = rotate_key(rt, new, private)
    assert (done.old_key_id, done.new_key_id, done.extracts, done.tokens) == (rt.key.key_id, new.key_id, 0, 0)
    detail = rt.warehouse.query("SELECT detail FROM ops.audit_log WHERE action = 'key_rotated'").detail.tolist()
    assert len(detail) == 1 and "0 extracts, 0 linkage tokens" in detail[0]
