"""A priority-families batch that cannot be made is refused before anything is opened, with what to do: no
lead named, a file already there, a recipient key that is not a key, an empty cohort, households outside
it. One whose opening fails leaves no file and no batch entry. A file that is not a batch is not opened."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import write_csv

from ptp_pipeline import pipeline
from ptp_pipeline.errors import ConfigError, KeyMaterialError
from ptp_pipeline.privacy.panel_export import export_families, open_batch
from ptp_pipeline.privacy.vault import ReidentificationRefused, new_reid_keypair
from ptp_pipeline.runtime import Runtime
from ptp_pipeline.settings import load_settings
from ptp_pipeline.warehouse.base import Warehouse
from ptp_pipeline.warehouse.connect import open_warehouse

PURPOSE = "Priority families panel, March review: lead professional assignment"
POLICE = ["surname", "forenames", "birth_date", "home_postcode", "home_address", "uprn", "sex", "nhs_number",
          "occurred_on", "incident_type", "estimated_cost"]


@pytest.fixture
def keys(tmp_path: Path) -> dict[str, Path]:
    out = {}
    for name in ("reid", "lead"):
        out[name], out[name + "_pub"] = tmp_path / "keys" / f"{name}.pem", tmp_path / "keys" / f"{name}.pub"
        new_reid_keypair(out[name], out[name + "_pub"])
    return out


@pytest.fixture
def wh(tmp_path: Path) -> Iterator[Warehouse]:
    warehouse = open_warehouse(f"duckdb:///{tmp_path / 'wh.duckdb'}", migrate=True)
    yield warehouse
    warehouse.close()


def _export(wh: Warehouse, keys: dict[str, Path], out: Path, **over: object) -> object:
    args: dict[str, object] = {"lead": "A. Lead, Early Help Hub", "recipient_key": keys["lead_pub"],
                               "purpose": PURPOSE, "private_key_file": keys["reid"], **over}
    return export_families(wh, out, **args)  # type: ignore[arg-type]


def test_what_a_batch_needs_is_checked_before_anything_opens(wh: Warehouse, keys: dict[str, Path],
                                                             tmp_path: Path) -> None:
    out = tmp_path / "out" / "march.batch"
    with pytest.raises(ConfigError, match="the lead professional is not named"):
        _export(wh, keys, out, lead=" A ")
    with pytest.raises(KeyMaterialError, match="is not a readable public key") as refused:
        _export(wh, keys, out, recipient_key=tmp_path / "nowhere.pub")
    assert "ptp families keypair" in str(refused.value)
    not_a_key = tmp_path / "lead.txt"
    not_a_key.write_text("the lead's email address", encoding="utf-8")
    with pytest.raises(KeyMaterialError, match="is not a readable public key"):
        _export(wh, keys, out, recipient_key=not_a_key)
    with pytest.raises(ReidentificationRefused, match="the priority-families cohort is empty"):
        _export(wh, keys, out)
    wh.execute("INSERT INTO shared.cohort_priority_families VALUES (3, 1, 100.0)")
    with pytest.raises(ReidentificationRefused, match=r"household\(s\) 4, 5 are not in the priority-families cohort"):
        _export(wh, keys, out, household_ids=[5, 3, 4])
    out.parent.mkdir()
    out.write_bytes(b"an earlier batch")
    with pytest.raises(ConfigError, match="already exists"):
        _export(wh, keys, out)
    assert out.read_bytes() == b"an earlier batch", "a batch file is never overwritten"
    assert wh.scalar("SELECT count(*) FROM ops.audit_log WHERE action LIKE 'reidentify%'") == 0


def test_a_batch_whose_opening_fails_leaves_no_file_and_no_batch_entry(
        env: dict[str, str], keys: dict[str, Path], tmp_path: Path) -> None:
    # Sealed for the lead's key, opened with the re-identifier's: the records do not open.
    rt = Runtime(load_settings({**env, "PTP_REID_PUBLIC_KEY_FILE": str(keys["lead_pub"])}))
    try:
        rows = [["Kelly", "Roger", "35233", "LS24 5QW", "", "", "M", "", "01/06/2024", "incident", "100"]]
        assert pipeline.ingest(rt, write_csv(tmp_path / "p.csv", POLICE, rows), "police",
                               "incidents").status == "merged"
        wh = rt.warehouse
        person = int(wh.scalar("SELECT person_id FROM restricted.link_record"))
        wh.execute("INSERT INTO shared.cohort_priority_families VALUES (1, 1, 100.0)")
        wh.execute("INSERT INTO shared.household_member VALUES (1, ?, DATE '2024-01-01', DATE '2024-12-31')",
                   (person,))
        out = tmp_path / "out" / "march.batch"
        with pytest.raises(KeyMaterialError, match="sealed for re-identification key"):
            _export(wh, keys, out)
        assert not out.exists() and not list(out.parent.iterdir()), "no batch file, no partial file"
        actions = wh.query("SELECT action FROM ops.audit_log WHERE action LIKE 'reidentify%'").action.tolist()
        assert "reidentify_batch" not in actions and "reidentify" not in actions
    finally:
        rt.close()


def test_a_file_that_is_not_a_batch_is_not_opened(keys: dict[str, Path], tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_bytes(b"minutes of the March panel\nnothing sealed here")
    with pytest.raises(ConfigError, match="is not a priority-families batch file"):
        open_batch(path, keys["lead"])
