"""Rows of restricted.event_location from what pseudonymise made: an extract that sends only the alcohol
qualifier (no location) keeps its alcohol-related events with no place; one without a centroid file keeps
its places with no grid reference; events with neither are not stored."""

from __future__ import annotations

import secrets
from pathlib import Path

import pandas as pd
import pyarrow as pa

from ptp_pipeline.privacy.keys import ProjectKey
from ptp_pipeline.privacy.location import LOCATION_COLUMNS, location_columns
from ptp_pipeline.protocol import load_protocol
from ptp_pipeline.warehouse.merge_rows import location_records

REPO = Path(__file__).resolve().parents[3]
POLICE = load_protocol(REPO / "protocols" / "police_incidents.yaml")
KEY = ProjectKey("location-test", secrets.token_bytes(32))
IDS = pa.array(["e1", "e2", "e3"])


def test_only_the_alcohol_flag_keeps_alcohol_related_events_without_a_place() -> None:
    checked = pd.DataFrame({"incident_qualifier": pd.Series(["ALC", "DV", None], dtype="string")})
    made = location_columns(KEY, checked, POLICE)
    rows = location_records(pa.Table.from_pandas(made), IDS, "x1").to_pandas()
    assert rows.event_id.tolist() == ["e1"] and rows.extract_id.tolist() == ["x1"]
    assert rows.alcohol_related.tolist() == [True]
    assert rows[[*LOCATION_COLUMNS, "easting", "northing"]].isna().all().all()


def test_places_without_a_centroid_file_have_no_grid_reference() -> None:
    checked = pd.DataFrame({"location_postcode": pd.Series(["LS1 4AP", None, "ls6 2ab"], dtype="string")})
    rows = location_records(pa.Table.from_pandas(location_columns(KEY, checked, POLICE)), IDS, "x1").to_pandas()
    assert rows.event_id.tolist() == ["e1", "e3"]
    assert rows.sector.tolist() == ["LS1 4", "LS6 2"] and rows.district.tolist() == ["LS1", "LS6"]
    assert rows[["easting", "northing", "alcohol_related"]].isna().all().all()


def test_an_extract_with_neither_has_no_location_rows() -> None:
    checked = pd.DataFrame({"surname": pd.Series(["Kelly", "Okafor", "Marsh"], dtype="string")})
    assert location_records(pa.Table.from_pandas(location_columns(KEY, checked, POLICE)), IDS, "x1").num_rows == 0
