"""A protocol whose strong identifier is the National Insurance number and that sends no address (another
theme's extract): the number is normalised, keyed and linked on, never kept raw; every batch of a
pseudonymise run is written; and a key rotation re-makes its tokens with no address tokens to re-make (and
stops, changing nothing, if address tokens turn up for it)."""

from __future__ import annotations

import secrets
import shutil
from pathlib import Path

import pytest
from helpers import assert_conserved, write_csv

from ptp_pipeline import pipeline
from ptp_pipeline.errors import KeyMaterialError
from ptp_pipeline.extract import check
from ptp_pipeline.privacy.keys import ProjectKey
from ptp_pipeline.privacy.rotation import rotate_key
from ptp_pipeline.privacy.vault import new_reid_keypair
from ptp_pipeline.runtime import Runtime
from ptp_pipeline.settings import load_settings

REPO = Path(__file__).resolve().parents[3]
HEADER = ["surname", "forenames", "birth_date", "home_postcode", "sex", "ni_number", "occurred_on", "incident_type",
          "estimated_cost"]
ROWS = [["Kelly", "Roger", "35233", "LS24 5QW", "M", "JT123456A", "01/06/2024", "incident", "100"],
        ["Brennan", "Roger", "35233", "LS1 1AA", "M", "jt 12 34 56 a", "02/06/2024", "arrest", "200"],  # the same man
        ["Okafor", "Ngozi", "30111", "LS7 2GN", "F", "", "03/06/2024", "incident", "100"],
        ["Lindqvist", "Sven", "28001", "LS9 8BB", "M", "", "04/06/2024", "incident", "100"],
        ["Marsh", "Tilly", "33000", "LS6 2AB", "F", "AB654321", "05/06/2024", "custody", "300"]]


def ni_protocols(folder: Path) -> Path:
    """The repo's protocols, the police one taking NI numbers instead of NHS numbers and no address."""
    shutil.copytree(REPO / "protocols", folder)
    police = folder / "police_incidents.yaml"
    lines = police.read_text(encoding="utf-8").splitlines()
    # home_address and uprn take two lines each: drop both.
    dropped = {i + k for i, line in enumerate(lines) for k in (0, 1)
               if "{name: home_address," in line or "{name: uprn," in line}
    out = [line.replace("{name: nhs_number, type: nhs_number, role: direct_identifier, treatment: pseudonymise, "
                        "identifies: nhs_number}",
                        "{name: ni_number, type: string, role: direct_identifier, treatment: pseudonymise, "
                        "identifies: ni_number}") for i, line in enumerate(lines) if i not in dropped]
    assert len(out) == len(lines) - 4 and any("identifies: ni_number" in line for line in out)
    police.write_text("\n".join(out) + "\n", encoding="utf-8")
    project = folder / "project.yaml"
    project.write_text(project.read_text(encoding="utf-8").replace(
        "  match_keys:\n", "  match_keys:\n    - name: ni\n      parts: [ni_number]\n"), encoding="utf-8")
    return folder


def test_ni_numbers_link_in_batches_and_rotate_without_addresses(
        env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    private, public = tmp_path / "reid.pem", tmp_path / "reid.pub"
    new_reid_keypair(private, public)
    values = {**env, "PTP_PROTOCOLS_DIR": str(ni_protocols(tmp_path / "protocols")),
              "PTP_REID_PUBLIC_KEY_FILE": str(public)}
    monkeypatch.setattr(check, "BATCH_ROWS", 2)  # five rows: three batches (the checked file's row groups)
    rt = Runtime(load_settings(values))
    try:
        got = pipeline.ingest(rt, write_csv(tmp_path / "ni.csv", HEADER, ROWS), "police", "incidents")
        assert got.status == "merged"
        assert_conserved(rt)
        records = rt.warehouse.query("SELECT source_row, person_id, ident FROM restricted.link_record "
                                     "ORDER BY source_row")
        assert len(records) == len(ROWS), "every batch was pseudonymised"
        persons = records.person_id.tolist()
        assert persons[0] == persons[1], "one NI number, written two ways, one person across a change of surname"
        assert len(set(persons)) == 4
        identities = rt.warehouse.query("SELECT ident, ni, link_pass FROM restricted.link_identity")
        assert identities.ni.notna().sum() == 3, "a missing number gives no token"
        assert "cascade:ni" in set(identities.link_pass)
        everything = " ".join(rt.warehouse.query("SELECT * FROM restricted.link_identity").astype(str)
                              .to_numpy().ravel())
        assert not {"JT123456", "AB654321"} & set(everything.split()), "no raw number is stored"
        assert rt.warehouse.scalar("SELECT count(*) FROM restricted.record_address") == 0

        new = ProjectKey(rt.project.project.id, secrets.token_bytes(32))
        done = rotate_key(rt, new, private)
        assert (done.extracts, done.address_tokens) == (1, 0)
        after = rt.warehouse.query("SELECT ident, ni FROM restricted.link_identity")
        assert not set(after.ni.dropna()) & set(identities.ni.dropna()), "every NI token re-made"
        assert after.ni.notna().sum() == 3
        rotated = rt.warehouse.query("SELECT source_row, person_id FROM restricted.link_record ORDER BY source_row")
        assert rotated.person_id.tolist() == persons

        # Address tokens for an extract whose protocol sends no address (a tampered warehouse): nothing to
        # re-make them from, so the rotation stops and changes nothing.
        record = str(rt.warehouse.scalar("SELECT record_id FROM restricted.link_record LIMIT 1"))
        rt.warehouse.execute("INSERT INTO restricted.record_address (record_id, extract_id, addr_uprn) "
                             "VALUES (?, ?, 'stray')", (record, str(got.extract_id)))
        with pytest.raises(KeyMaterialError, match="has address tokens but no sealed address"):
            rotate_key(rt, ProjectKey(rt.project.project.id, secrets.token_bytes(32)), private)
        assert set(rt.warehouse.query("SELECT ni FROM restricted.link_identity").ni.dropna()) == set(after.ni.dropna())
    finally:
        rt.close()
