"""The ledger says where each extract came from: a dropped file shows `landing`."""

from __future__ import annotations

from helpers import assert_conserved, ledger

from ptp_pipeline import pipeline
from ptp_pipeline.runtime import Runtime
from ptp_pipeline.synthetic import SyntheticResult


def test_dropped_file_shows_landing_as_its_source(rt: Runtime, synthetic: SyntheticResult) -> None:
    extract = next(e for e in synthetic.extracts if e.partner == "police")
    assert pipeline.ingest(rt, extract.path, "police", "incidents").status == "merged"
    (row,) = ledger(rt)
    assert row["source"] == "landing"
    assert rt.warehouse.scalar("SELECT count(*) FROM ops.pull_record") == 0
    assert_conserved(rt)
