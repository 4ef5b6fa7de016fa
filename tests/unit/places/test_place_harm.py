"""Place-based harm (issue 20): a licensing register, located police incidents and A&E attendances with an
alcohol flag, through every stage to the report's premises section and the published table."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pandas as pd
import pytest
from helpers import assert_conserved

from ptp_pipeline import pipeline
from ptp_pipeline.cli import main
from ptp_pipeline.pathways import rebuild
from ptp_pipeline.pathways.published import stored_report
from ptp_pipeline.privacy.keys import new_key_file
from ptp_pipeline.privacy.location import premises_tokens
from ptp_pipeline.privacy.vault import new_reid_keypair
from ptp_pipeline.report.places import places_section
from ptp_pipeline.runtime import Runtime
from ptp_pipeline.settings import load_settings
from ptp_pipeline.synthetic.places import PlacesConfig, PlacesResult, generate_places

REPO = Path(__file__).resolve().parents[3]
DOC = REPO / "docs" / "analysts.md"
#: docs/analysts.md's place-based harm examples (they start with this comment).
PLACE_QUERIES = [q.strip() for q in re.findall(r"```sql\n(-- premises.*?)```", DOC.read_text(), flags=re.S)]


def run_places(tmp_path: Path, env: dict[str, str], config: PlacesConfig, publish_premises: bool = False
               ) -> tuple[Runtime, PlacesResult]:
    """Generate, ingest the three extracts, rebuild; the caller closes the runtime."""
    protocols = tmp_path / "protocols"
    shutil.copytree(REPO / "protocols", protocols)
    if publish_premises:
        project = protocols / "project.yaml"
        project.write_text(project.read_text(encoding="utf-8").replace(
            "\nplaces:\n", "\nplaces:\n  publish_premises: true\n"), encoding="utf-8")
    made = generate_places(tmp_path / "gen", config)
    rt = Runtime(load_settings({**env, "PTP_PROTOCOLS_DIR": str(protocols)}))
    for extract in made.extracts:
        outcome = pipeline.ingest(rt, extract.path, extract.partner, extract.dataset)
        assert outcome.status == "merged", outcome.reason
    rebuild(rt)
    return rt, made


@pytest.mark.slow
def test_three_extracts_to_the_report_section(tmp_path: Path, wh_env: dict[str, str]) -> None:
    rt, made = run_places(tmp_path, wh_env, PlacesConfig(n_premises=150, seed=3))
    try:
        wh = rt.warehouse
        assert_conserved(rt)
        # The register is a place dataset: premises, never persons.
        assert wh.scalar("SELECT count(*) FROM restricted.link_record WHERE partner = 'licensing'") == 0
        assert wh.scalar("SELECT count(*) FROM restricted.premises") == 150
        assert wh.scalar("SELECT count(*) FROM shared.event_cost WHERE agency = 'licensing'") == 0
        # Police incidents and A&E attendances are attributed exactly, by distance band from their postcode's
        # centroid, and by postcode sector where the postcode has no centroid.
        by = wh.query("SELECT a.attribution, e.agency, count(*) AS n FROM restricted.premises_event a "
                      "JOIN shared.pathway_event e ON e.event_id = a.event_id GROUP BY a.attribution, e.agency")
        assert set(zip(by["attribution"], by["agency"], strict=True)) == {
            ("exact", "police"), ("exact", "health"), ("distance", "police"), ("distance", "health"),
            ("sector", "police"), ("sector", "health")}
        bands = set(wh.query("SELECT DISTINCT band FROM restricted.premises_event WHERE attribution = 'distance'")[
            "band"])
        assert {"within_100m", "within_250m"} <= bands <= {"within_100m", "within_250m", "within_500m"}
        assert wh.scalar("SELECT count(*) FROM restricted.premises_event WHERE (attribution = 'distance') <> "
                         "(band IS NOT NULL)") == 0
        # Non-alcohol incidents are never attributed.
        assert wh.scalar("SELECT count(*) FROM restricted.premises_event a JOIN restricted.event_location l "
                         "ON l.event_id = a.event_id WHERE NOT l.alcohol_related") == 0
        # Postcode centroids are kept in the restricted event locations only: no other schema has such a column.
        assert wh.scalar("SELECT count(easting) FROM restricted.event_location") > 0
        assert wh.scalar("SELECT count(*) FROM information_schema.columns WHERE table_schema <> 'restricted' AND "
                         "lower(column_name) IN ('easting', 'northing', 'oseast1m', 'osnrth1m')") == 0
        report = stored_report(wh) or ""
        assert 'id="premises"' in report and "Licensed premises and alcohol-related harm" in report
        assert "No single premises is named" in report
        published = wh.query("SELECT * FROM published.premises_harm")
        assert {"Licence type", "Permitted hours", "Area"} <= set(published["grouping"])
        assert "Premises" not in set(published["grouping"])
        # Nothing that names a premises or a place finer than a sector leaves the restricted zone.
        register = pd.read_csv(made.extracts[0].path, dtype=str)
        shared = pd.concat([wh.query("SELECT CAST(attributes AS VARCHAR) AS a FROM shared.pathway_event "
                                     "WHERE agency <> 'licensing'")["a"].astype(str), published.astype(str).stack()])
        for text in (*register["premises_ref"].head(20), *register["uprn"].head(20), *register["postcode"].head(20),
                     *register["premises_name"].head(20)):
            assert text not in report
            assert not shared.str.contains(text, regex=False).any(), text
        for sql in PLACE_QUERIES:  # docs/analysts.md's examples run here and return rows
            assert len(wh.query(sql.rstrip().rstrip(";"))) >= 1, sql
    finally:
        rt.close()


def test_the_guide_has_place_examples() -> None:
    assert len(PLACE_QUERIES) >= 3


@pytest.mark.slow
@pytest.mark.parametrize(("ratio", "verdict"), [(0.5, "lower"), (1.0, "no difference")], ids=["effect", "no-effect"])
def test_the_analysis_recovers_the_configured_effect(tmp_path: Path, env: dict[str, str], ratio: float,
                                                     verdict: str) -> None:
    """On-licence harm per premises is `ratio` times the off-licence rate in the synthetic data: the reported
    rate ratio's interval holds it, and a zero effect reads "no difference"."""
    rt, _ = run_places(tmp_path, {**env, "PTP_KEY": "5a" * 32}, PlacesConfig(on_off_rate_ratio=ratio, seed=11))
    try:
        c = places_section(rt.warehouse, rt.project).comparison
        assert c.ratio is not None and c.low is not None and c.high is not None
        assert c.low <= ratio <= c.high, c
        assert c.verdict == verdict, c
        report = stored_report(rt.warehouse) or ""
        assert ("<b>no difference</b>" in report) == (verdict == "no difference")
    finally:
        rt.close()


@pytest.mark.slow
@pytest.mark.parametrize(("ratio", "verdict"), [(0.5, "lower"), (1.0, "no difference")], ids=["effect", "no-effect"])
def test_distance_attribution_recovers_the_effect_from_postcodes_alone(tmp_path: Path, env: dict[str, str],
                                                                       ratio: float, verdict: str) -> None:
    """Every event is known only by its postcode (some recorded at the neighbouring postcode, some at one
    without a centroid): attributed by distance band from postcode centroids, the on/off rate ratio's
    interval still holds the configured effect."""
    rt, made = run_places(tmp_path, {**env, "PTP_KEY": "5a" * 32},
                          PlacesConfig(on_off_rate_ratio=ratio, seed=11, postcode_only=True))
    try:
        wh = rt.warehouse
        by = wh.query("SELECT attribution, count(*) AS n FROM restricted.premises_event GROUP BY attribution")
        assert set(by["attribution"]) == {"distance", "sector"}
        # Postcodes missing from the centroid file fall back to the sector, and are counted.
        assert rebuild(rt).rows["events without a postcode centroid"] > 0
        assert made.centroids.read_text(encoding="utf-8") == (
            REPO / "protocols" / "reference" / "postcode_centroids.csv").read_text(encoding="utf-8")
        c = places_section(wh, rt.project).comparison
        assert c.ratio is not None and c.low is not None and c.high is not None
        assert c.low <= ratio <= c.high, c
        assert c.verdict == verdict, c
        report = stored_report(wh) or ""
        assert "events near the premises (postcode centroid)" in report
        assert "distance bands 100, 250, 500 m" in report
    finally:
        rt.close()


@pytest.mark.slow
def test_premises_are_named_only_where_agreed_and_above_the_thresholds(tmp_path: Path, env: dict[str, str]) -> None:
    rt, _ = run_places(tmp_path, env, PlacesConfig(n_premises=60, seed=5, base_rate=8.0), publish_premises=True)
    try:
        rule = rt.project.suppression
        table = places_section(rt.warehouse, rt.project).table
        named = table[table["grouping"] == "Premises"]
        assert len(named), "premises with enough events are named once the partnership agreed it"
        assert (named["events"] >= rule.min_count).all()
        truth = rt.warehouse.query("SELECT p.label, count(*) AS n FROM restricted.premises_event a JOIN "
                                   "restricted.premises p ON p.premises_id = a.premises_id "
                                   "WHERE a.attribution = 'exact' GROUP BY p.label")
        small = truth[truth["n"] < rule.min_count]["label"]
        report = stored_report(rt.warehouse) or ""
        for label in small:
            assert f"{label} (" not in report, "a premises below the threshold is never named"
        assert "Single premises are named only above the disclosure thresholds" in report
    finally:
        rt.close()


@pytest.mark.slow
def test_key_rotation_re_makes_event_locations(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Locations are sealed like identifiers, so a rotation re-makes their tokens: attribution is unchanged
    and the register's premises reference has its new-key token."""
    private, public = tmp_path / "reid.pem", tmp_path / "reid.pub"
    new_reid_keypair(private, public)
    old_key, new_key = new_key_file(tmp_path / "old.key"), new_key_file(tmp_path / "new.key")
    values = {"PTP_HOME": str(tmp_path / "home"), "PTP_KEY_FILE": str(old_key), "PTP_REID_PUBLIC_KEY_FILE": str(public),
              "PTP_REID_KEY_FILE": str(private)}
    monkeypatch.delenv("PTP_KEY", raising=False)
    for k, v in values.items():
        monkeypatch.setenv(k, v)
    sql = "SELECT attribution, count(*) AS n FROM restricted.premises_event GROUP BY attribution ORDER BY 1"
    rt, made = run_places(tmp_path, values, PlacesConfig(n_premises=60, seed=2))
    before, tokens = rt.warehouse.query(sql), set(rt.warehouse.query(
        "SELECT premises FROM restricted.event_location")["premises"].dropna())
    grid = "SELECT event_id, easting, northing FROM restricted.event_location WHERE easting IS NOT NULL ORDER BY 1"
    centroids = rt.warehouse.query(grid)
    rt.close()
    monkeypatch.setenv("PTP_PROTOCOLS_DIR", str(tmp_path / "protocols"))
    assert main(["key", "rotate", "--new-key-file", str(new_key)]) == 0
    rt = Runtime(load_settings({**values, "PTP_KEY_FILE": str(new_key),
                                "PTP_PROTOCOLS_DIR": str(tmp_path / "protocols")}))
    try:
        rebuild(rt)
        pd.testing.assert_frame_equal(rt.warehouse.query(sql), before)
        # Centroids are not keyed: rotation keeps them as they were.
        assert len(centroids) > 0
        pd.testing.assert_frame_equal(rt.warehouse.query(grid), centroids)
        after = set(rt.warehouse.query("SELECT premises FROM restricted.event_location")["premises"].dropna())
        assert len(after) == len(tokens) > 0 and not after & tokens
        first = pd.read_csv(made.extracts[0].path, dtype=str)["premises_ref"].head(1)
        assert premises_tokens(rt.key, first).iloc[0] in after
    finally:
        rt.close()
