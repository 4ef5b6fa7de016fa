"""Key rotation keeps persons and linkage; generalisation follows each protocol."""

from __future__ import annotations

import secrets
import shutil
from pathlib import Path

import pandas as pd
import pytest
from helpers import assert_conserved

from ptp_pipeline.cli import main
from ptp_pipeline.pipeline import ingest
from ptp_pipeline.privacy.keys import new_key_file
from ptp_pipeline.privacy.vault import new_reid_keypair
from ptp_pipeline.runtime import Runtime
from ptp_pipeline.settings import load_settings
from ptp_pipeline.synthetic import SyntheticResult

REPO = Path(__file__).resolve().parents[3]


def _persons(rt: Runtime) -> tuple[int, int]:
    p = rt.warehouse.query("SELECT count(*) AS n, count(*) FILTER (WHERE n_agencies >= 2) AS multi FROM shared.person")
    return int(p.n[0]), int(p.multi[0])


def test_rotation_remakes_tokens_keeps_persons_and_links_new_extracts(
        tmp_path: Path, synthetic: SyntheticResult, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    private, public = tmp_path / "reid.pem", tmp_path / "reid.pub"
    new_reid_keypair(private, public)
    old_key, new_key = new_key_file(tmp_path / "old.key"), new_key_file(tmp_path / "new.key")
    env = {"PTP_HOME": str(tmp_path / "home"), "PTP_KEY_FILE": str(old_key), "PTP_REID_PUBLIC_KEY_FILE": str(public),
           "PTP_REID_KEY_FILE": str(private)}
    council, health, police = (next(e for e in synthetic.extracts if e.partner == p)
                               for p in ("council", "health", "police"))
    rt = Runtime(load_settings(env))
    for e in (council, health):
        assert ingest(rt, e.path, e.partner, e.dataset).status == "merged"
    before_keys = rt.warehouse.query("SELECT ident, fn, sn, dob, nhs FROM restricted.link_identity")
    before_people = rt.warehouse.query("SELECT record_id, person_id FROM restricted.link_record ORDER BY 1")
    rt.close()

    for k, v in env.items():
        monkeypatch.setenv(k, v)
    assert main(["key", "rotate", "--new-key-file", str(new_key)]) == 0
    assert "Rotated" in capsys.readouterr().out

    rt = Runtime(load_settings({**env, "PTP_KEY_FILE": str(new_key)}))
    after_keys = rt.warehouse.query("SELECT ident, fn, sn, dob, nhs FROM restricted.link_identity")
    assert len(after_keys) == len(before_keys)
    for col in before_keys.columns:
        assert not set(after_keys[col].dropna()) & set(before_keys[col].dropna()), f"old-key {col} token survives"
    after_people = rt.warehouse.query("SELECT record_id, person_id FROM restricted.link_record ORDER BY 1")
    pd.testing.assert_frame_equal(before_people, after_people)
    assert ingest(rt, police.path, police.partner, police.dataset).status == "merged"
    assert_conserved(rt)
    rotated = _persons(rt)
    assert rt.warehouse.query("SELECT action FROM ops.audit_log").action.str.contains("key_rotated").any()
    rt.close()

    fresh = Runtime(load_settings({"PTP_HOME": str(tmp_path / "fresh"), "PTP_KEY": secrets.token_hex(32)}))
    for e in (council, health, police):
        ingest(fresh, e.path, e.partner, e.dataset)
    assert rotated == _persons(fresh), "after rotation, linkage is as if one key had been used throughout"
    fresh.close()


def test_rotation_refused_without_the_reidentification_key(env: dict[str, str], tmp_path: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["key", "rotate", "--new-key-file", str(new_key_file(tmp_path / "n.key"))]) == 5
    assert "re-identification private key" in capsys.readouterr().err


def test_generalisation_follows_the_protocol(env: dict[str, str], tmp_path: Path, synthetic: SyntheticResult) -> None:
    protocols = tmp_path / "protocols"
    shutil.copytree(REPO / "protocols", protocols)
    police_yaml = protocols / "police_incidents.yaml"
    text = police_yaml.read_text()
    text = text.replace("identifies: date_of_birth, generalise: year",
                        "identifies: date_of_birth, generalise: age_band_5")
    text = text.replace("identifies: postcode,\n     generalise: district",
                        "identifies: postcode,\n     generalise: sector")
    police_yaml.write_text(text)
    rt = Runtime(load_settings({**env, "PTP_PROTOCOLS_DIR": str(protocols)}))
    police = next(e for e in synthetic.extracts if e.partner == "police")
    council = next(e for e in synthetic.extracts if e.partner == "council")
    ingest(rt, police.path, "police", "incidents")
    ingest(rt, council.path, "council", "contacts")
    rec = rt.warehouse.query("SELECT partner, birth_year, district FROM restricted.link_record")
    pol, cou = rec[rec.partner == "police"], rec[rec.partner == "council"]
    assert pol.birth_year.isna().all(), "police protocol shares no birth year"
    assert pol.district.dropna().str.fullmatch(r"[A-Z]{1,2}\d[A-Z\d]? \d").all(), "postcode sector"
    assert cou.birth_year.notna().all()
    assert cou.district.dropna().str.fullmatch(r"[A-Z]{1,2}\d[A-Z\d]?").all(), "postcode district"
    assert_conserved(rt)
    rt.close()
