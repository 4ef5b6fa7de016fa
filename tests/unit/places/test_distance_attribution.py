"""Attribution by distance band from postcode centroids (issue 20): hand-worked geometry and the centroid file."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from ptp_pipeline.errors import ConfigError
from ptp_pipeline.pathways.premises import attribute
from ptp_pipeline.privacy.centroids import centroid_of, read_centroids

BANDS = [100, 250, 500]
TOKENS = ("premises", "uprn", "flat", "street")


def _premises(rows: list[tuple[int, float | None, float | None, date | None]]) -> pd.DataFrame:
    """(premises_id, easting, northing, closed): all opened 2020-01-01 in sector LS1 1, token t<id>."""
    return pd.DataFrame({
        "premises_id": [r[0] for r in rows], "easting": [r[1] for r in rows], "northing": [r[2] for r in rows],
        "opened": date(2020, 1, 1), "closed": [r[3] for r in rows], "sector": "LS1 1",
        "premises": [f"t{r[0]}" for r in rows], "uprn": None, "flat": None, "street": None})


def _events(rows: list[tuple[str, float | None, float | None, date, str | None]]) -> pd.DataFrame:
    """(event_id, easting, northing, date, premises token)."""
    return pd.DataFrame({
        "event_id": [r[0] for r in rows], "easting": [r[1] for r in rows], "northing": [r[2] for r in rows],
        "event_date": [r[3] for r in rows], "premises": [r[4] for r in rows], "uprn": None, "flat": None,
        "street": None, "sector": "LS1 1"})


PREMISES = _premises([
    (1, 0, 0, None),
    (2, 60, 80, None),  # 100 m from the origin: the first band's edge is inside it
    (3, 300, 0, None),
    (4, 5000, 5000, None),
    (5, 0, 50, date(2023, 1, 1)),  # closed before 2024
    (6, None, None, None),  # postcode without a centroid: only ever attributed by sector
])
DAY = date(2024, 6, 1)


def _attributed(events: pd.DataFrame, by_sector: bool = True) -> dict[str, dict[int, tuple[str, str | None, float]]]:
    got = attribute(PREMISES, events, by_sector, BANDS)
    out: dict[str, dict[int, tuple[str, str | None, float]]] = {}
    for r in got.itertuples(index=False):
        out.setdefault(r.event_id, {})[int(r.premises_id)] = (
            r.attribution, None if pd.isna(r.band) else r.band, round(float(r.weight), 6))
    return out


def test_nearest_non_empty_band_shares_the_event_equally() -> None:
    got = _attributed(_events([
        ("at-1", 0, 0, DAY, None),  # 1 at 0 m, 2 at exactly 100 m; 3 at 300 m is further out; 5 closed
        ("near-3", 200, 0, DAY, None),  # 3 at 100 m; 1 and 2 (161 m, 200 m) are in the next band only
        ("far", 0, -400, DAY, None),  # 1 at 400 m, 2 at 484 m, 3 at 500 m: all in the last band
        ("cell-edge", 500.5, 0, DAY, None),  # 3 at 200.5 m lies in the neighbouring grid cell
        ("in-2022", 0, 0, date(2022, 6, 1), None),  # 5 was open then: 1, 2 and 5 within 100 m
    ]))
    third = round(1 / 3, 6)
    assert got == {
        "at-1": {1: ("distance", "within_100m", 0.5), 2: ("distance", "within_100m", 0.5)},
        "near-3": {3: ("distance", "within_100m", 1.0)},
        "far": {p: ("distance", "within_500m", third) for p in (1, 2, 3)},
        "cell-edge": {3: ("distance", "within_250m", 1.0)},
        "in-2022": {p: ("distance", "within_100m", third) for p in (1, 2, 5)},
    }


def test_exact_match_first_sector_only_without_centroid_nothing_beyond_the_last_band() -> None:
    got = _attributed(_events([
        ("exact", 0, 0, DAY, "t4"),  # its premises token matches 4 (5 km away): exact wins
        ("away", 2000, 2000, DAY, None),  # no premises within 500 m: not attributed, not even by sector
        ("no-centroid", None, None, DAY, None),  # shared among the sector's open premises 1, 2, 3, 4, 6
    ]))
    assert got["exact"] == {4: ("exact", None, 1.0)}
    assert "away" not in got
    assert got["no-centroid"] == {p: ("sector", None, 0.2) for p in (1, 2, 3, 4, 6)}
    assert "no-centroid" not in _attributed(_events([("no-centroid", None, None, DAY, None)]), by_sector=False)


def test_without_bands_postcode_events_keep_sector_attribution() -> None:
    got = attribute(PREMISES, _events([("at-1", 0, 0, DAY, None)]), True, None)
    assert set(got["attribution"]) == {"sector"} and len(got) == 5


ONSPD = "pcd,pcds,dointr,oseast1m,osnrth1m,osgrdind\n"


def test_reads_the_ons_postcode_directory_columns(tmp_path: Path) -> None:
    path = tmp_path / "ONSPD.csv"
    path.write_text(ONSPD + "LS1  4AP,LS1 4AP,199801,429850,433600,1\n"
                            "LS6 2AB,LS6 2AB,199801,,,9\n"  # no grid reference: no centroid
                            "LS2 7EE,LS2 7EE,199801,430100,434000,1\n"
                            "LS1 4AP,LS1 4AP,199801,1,1,1\n", encoding="utf-8")  # a repeat: the first row counts
    got = read_centroids(path)
    assert got.to_dict("index") == {"LS1 4AP": {"easting": 429850.0, "northing": 433600.0},
                                    "LS2 7EE": {"easting": 430100.0, "northing": 434000.0}}
    found = centroid_of(got, pd.Series(["LS2 7EE", "LS6 2AB", None, "LS1 4AP"], dtype="string"))
    assert found["easting"].tolist() == [430100.0, pd.NA, pd.NA, 429850.0]


def test_reads_code_point_open_columns_and_normalises_postcodes(tmp_path: Path) -> None:
    path = tmp_path / "codepoint.csv"
    path.write_text("Postcode,Positional_quality_indicator,Eastings,Northings\n"
                    "LS14AP,10,429850,433600\nls2 7ee,10,430100,434000\n", encoding="utf-8")
    assert sorted(read_centroids(path).index) == ["LS1 4AP", "LS2 7EE"]


@pytest.mark.parametrize(("body", "line", "field", "what"), [
    ("LS1 4AP,LS1 4AP,199801,429850,433600,1\nLS2 7EE,LS2 7EE,199801,4301OO,434000,1\n", 3, "oseast1m",
     "not a number of metres"),
    ("LS1 4AP,LS1 4AP,199801,429850,433600,1\nLS2 7EE,NOT A CODE,199801,430100,434000,1\n", 3, "pcds",
     "not a UK postcode"),
])
def test_a_malformed_row_names_file_line_and_field_never_the_value(tmp_path: Path, body: str, line: int, field: str,
                                                                   what: str) -> None:
    path = tmp_path / "ONSPD.csv"
    path.write_text(ONSPD + body, encoding="utf-8")
    with pytest.raises(ConfigError) as raised:
        read_centroids(path)
    message = str(raised.value)
    assert f"{path}:{line}" in message and f"field {field}" in message and what in message
    assert "What to do:" in message
    assert "4301OO" not in message and "NOT A CODE" not in message


def test_a_file_without_the_columns_says_which_are_expected(tmp_path: Path) -> None:
    path = tmp_path / "other.csv"
    path.write_text("code,x,y\nLS1 4AP,1,2\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"no postcode column .*pcds"):
        read_centroids(path)


@given(st.lists(st.sampled_from([" ", ""]), min_size=1, max_size=3), st.booleans())
def test_any_spacing_or_case_of_a_postcode_finds_its_centroid(spaces: list[str], lower: bool) -> None:
    table = pd.DataFrame({"easting": [429850.0], "northing": [433600.0]}, index=["LS1 4AP"])
    written = "LS1" + "".join(spaces) + "4AP"
    from ptp_pipeline.privacy.normalise import normalise_postcode

    canonical = normalise_postcode(pd.Series([written.lower() if lower else written], dtype="string"))["postcode"]
    assert centroid_of(table, canonical.astype("string"))["easting"].tolist() == [429850.0]
