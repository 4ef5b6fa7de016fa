"""Issue 16.3: purge and opt-out reach every copy of a row: tokens, addresses, linkage, residence, households,
household pathways, the derived pathway tables and (once none of an extract's records is left) its sealed
identifiers, and the research and published tiers. The test walks every table of those schemas after each."""

from __future__ import annotations

import csv
from pathlib import Path

import pandas as pd
import pytest
from helpers import assert_conserved

from ptp_pipeline.cli import main
from ptp_pipeline.privacy.keys import new_key_file
from ptp_pipeline.privacy.normalise import normalise_nhs_number
from ptp_pipeline.privacy.vault import new_reid_keypair
from ptp_pipeline.runtime import Runtime
from ptp_pipeline.settings import load_settings
from ptp_pipeline.synthetic import SyntheticResult
from ptp_pipeline.warehouse.base import Warehouse

#: Tables that may keep rows after every event is gone, and why.
KEEP = {
    "restricted.optout": "the opt-out list itself (tokens), which must outlive the events",
    "restricted.optout_sealed": "the opt-out list sealed for the re-identifier",
    "shared.cost_concentration": "an aggregate curve of zero cost",
    "shared.unit_cost": "the unit costs from protocols/costs (configuration, about no one)",
}


@pytest.fixture
def loaded(wh_env: dict[str, str], synthetic: SyntheticResult, tmp_path: Path,
           monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    private, public = tmp_path / "reid.pem", tmp_path / "reid.pub"
    new_reid_keypair(private, public)
    values = {**wh_env, "PTP_REID_PUBLIC_KEY_FILE": str(public), "PTP_REID_KEY_FILE": str(private)}
    del values["PTP_KEY"]
    values["PTP_KEY_FILE"] = str(new_key_file(tmp_path / "project.key"))
    monkeypatch.delenv("PTP_KEY")
    for k, v in values.items():
        monkeypatch.setenv(k, v)
    for e in synthetic.extracts:
        assert main(["ingest", str(e.path), "--partner", e.partner, "--dataset", e.dataset]) == 0
    assert main(["pathways"]) == 0
    return values


def counts(wh: Warehouse) -> dict[str, int]:
    return {f"{s}.{t}": int(wh.scalar(f"SELECT count(*) FROM {s}.{t}")) for s, t in wh.tables()
            if s in ("shared", "restricted", "research", "published")}


def ids_in(wh: Warehouse, ids: set[str]) -> dict[str, int]:
    """Tables holding any of these event/record ids, and how many."""
    found: dict[str, int] = {}
    columns = wh.query("SELECT table_schema, table_name, column_name FROM information_schema.columns "
                       "WHERE table_schema IN ('shared', 'restricted') AND column_name IN ('event_id', 'record_id')")
    for r in columns.itertuples(index=False):
        values = set(wh.query(f"SELECT {r.column_name} FROM {r.table_schema}.{r.table_name}")[r.column_name])
        if n := len(values & ids):
            found[f"{r.table_schema}.{r.table_name}"] = n
    return found


def test_purge_leaves_no_copy_in_any_table(loaded: dict[str, str]) -> None:
    rt = Runtime(load_settings(loaded))
    before = counts(rt.warehouse)
    assert before["shared.household_pathway"] > 0 and before["restricted.vault_record"] > 0, before
    rt.close()
    assert main(["purge", "--as-of", "2045-01-01"]) == 0  # every event is older than six years by then
    rt = Runtime(load_settings(loaded))
    try:
        after = counts(rt.warehouse)
        left = {t: n for t, n in after.items() if n and t not in KEEP}
        assert left == {}, left
        assert_conserved(rt)
    finally:
        rt.close()


def test_opt_out_leaves_no_copy_of_a_withheld_event(loaded: dict[str, str], synthetic: SyntheticResult,
                                                    tmp_path: Path) -> None:
    health = next(e for e in synthetic.extracts if e.partner == "health")
    with health.path.open(encoding="utf-8") as fh:
        numbers = pd.Series([r["nhs_number"] for r in csv.DictReader(fh)], dtype="string")
    valid = normalise_nhs_number(numbers)["nhs_number"].dropna().drop_duplicates()
    (tmp_path / "optout.txt").write_text("\n".join(valid.iloc[::5]) + "\n", encoding="utf-8")
    rt = Runtime(load_settings(loaded))
    health_events = set(rt.warehouse.query("SELECT event_id FROM shared.pathway_event WHERE agency = 'health'")
                        ["event_id"])
    in_households = int(rt.warehouse.scalar("SELECT count(*) FROM shared.household_pathway WHERE agency = 'health'"))
    rt.close()
    assert in_households > 0
    assert main(["optout", "add", str(tmp_path / "optout.txt")]) == 0
    rt = Runtime(load_settings(loaded))
    try:
        kept = set(rt.warehouse.query("SELECT event_id FROM shared.pathway_event WHERE agency = 'health'")["event_id"])
        withheld = health_events - kept
        assert withheld, "the opt-out withheld nothing: the test would prove nothing"
        assert ids_in(rt.warehouse, withheld) == {}
        assert_conserved(rt)
    finally:
        rt.close()
