"""`ptp report`: a self-contained HTML report that leaks nothing, passes disclosure control and renders
in real headless Chromium without script errors (screenshot kept in test-artifacts/report.png)."""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from browser import CHROMIUM, PAGE_STATE, render
from leaks import Identifiers, Scanner, scan_text_with_control, synthetic_identifiers

from ptp_pipeline.cli import main
from ptp_pipeline.report import report_data
from ptp_pipeline.report.aggregates import ReportData
from ptp_pipeline.runtime import Runtime
from ptp_pipeline.settings import load_settings
from ptp_pipeline.synthetic import SyntheticResult

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts"
# Every number a reader sees (HTML text and chart labels, scripts and styles left out).
PAGE_TEXT = """(function () {
  var walk = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT), parts = [], node;
  while ((node = walk.nextNode())) {
    var tag = node.parentNode.nodeName.toLowerCase();
    if (tag !== "script" && tag !== "style") parts.push(node.nodeValue);
  }
  return parts.join("\\n");
})()"""


@pytest.fixture
def use_home(pathways_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    for k, v in pathways_env.items():
        monkeypatch.setenv(k, v)
    return pathways_env


@pytest.fixture(scope="module")
def report_html(pathways_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("report") / "pathways.html"
    with pytest.MonkeyPatch.context() as mp:
        for k, v in pathways_env.items():
            mp.setenv(k, v)
        assert main(["report", "--out", str(out)]) == 0
    return out


def custom_protocols(tmp_path: Path, **replace: str) -> Path:
    target = tmp_path / "protocols"
    shutil.copytree(REPO / "protocols", target)
    project = target / "project.yaml"
    text = project.read_text()
    for old, new in replace.items():
        assert old in text
        text = text.replace(old, new)
    project.write_text(text)
    return target


def published_counts(data: ReportData) -> np.ndarray:
    """Every count the report shows (cells and totals), withheld ones dropped."""
    parts = [data.overlap["count"], data.flows["persons"], data.monthly.table.stack(),
             data.quality.table.stack(), pd.Series([data.headline.persons, data.headline.multi_agency])]
    values = pd.concat([pd.Series(p, dtype="Int64") for p in parts]).dropna()
    return values.to_numpy(dtype=np.int64)


def test_report_is_self_contained_and_leaks_no_identifier(report_html: Path, synthetic: SyntheticResult,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    html = report_html.read_text(encoding="utf-8")
    assert "Content-Security-Policy" in html and "default-src 'none'" in html
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html), "no resource from the network"
    assert "<link" not in html and "@import" not in html
    ids = synthetic_identifiers(synthetic)
    assert len(ids) > 1000
    assert not scan_text_with_control(html, "report", Scanner(ids))
    assert not re.search(r"(council|health|police)\.\w+\.[0-9a-f]{16}", html), "no extract or event ids"
    for section in ("Cost concentration", "Cross-agency transitions", "Agency overlap", "Monthly activity",
                    "Data quality", "Disclosure control"):
        assert section in html
    assert html.count('<p class="method">') >= 5


def test_every_published_count_passes_disclosure_control(use_home: dict[str, str]) -> None:
    rt = Runtime(load_settings(use_home))
    try:
        data = report_data(rt.warehouse, rt.project)
    finally:
        rt.close()
    counts = published_counts(data)
    assert len(counts) > 50
    assert not ((counts >= 1) & (counts < 8)).any()
    assert (counts % 5 == 0).all()
    assert data.headline.top_cost_share is not None and 0.7 < data.headline.top_cost_share < 0.9


def test_suppression_settings_come_from_project_yaml(use_home: dict[str, str], tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    protocols = custom_protocols(tmp_path, **{"min_count: 8 ": "min_count: 30 ", "round_to: 5 ": "round_to: 10 ",
                                              "name: Leeds Total Place partnership (synthetic example)":
                                              'name: "<script>alert(1)</script> & partners"'})
    monkeypatch.setenv("PTP_PROTOCOLS_DIR", str(protocols))
    out = tmp_path / "strict.html"
    assert main(["report", "--out", str(out), "--no-rebuild"]) == 0
    html = out.read_text()
    assert "withheld" in html, "with a threshold of 30 some counts must be withheld"
    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt; &amp; partners" in html
    rt = Runtime(load_settings({**use_home, "PTP_PROTOCOLS_DIR": str(protocols)}))
    try:
        data = report_data(rt.warehouse, rt.project)
    finally:
        rt.close()
    counts = published_counts(data)
    assert not ((counts >= 1) & (counts < 30)).any() and (counts % 10 == 0).all()
    assert data.quality.suppressed.to_numpy().sum() >= 2, "quarantine counts under 30 are withheld, with a partner"


def test_report_renders_in_headless_chromium_with_its_charts(report_html: Path) -> None:
    assert CHROMIUM.exists(), "Chromium is missing: run `make chromium` (make test does this)"
    shot = ARTIFACTS / "report.png"
    shot.unlink(missing_ok=True)
    result = render(report_html, PAGE_STATE, screenshot=shot)
    assert result.errors == []
    state = json.loads(result.value)
    assert state["scriptErrors"] is None and state["ready"] == "5"
    assert state["external"] == 0
    charts = {c["name"]: c for c in state["charts"]}
    assert set(charts) == {"pareto", "costs", "flows", "overlap", "monthly"}
    for chart in charts.values():
        assert chart["width"] > 200 and chart["height"] > 100 and chart["marks"] >= 1, chart
        assert chart["width"] >= 0.95 * state["contentWidth"], f"{chart['name']} is not full width"
    assert shot.stat().st_size > 20_000 and shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def unseparated_numbers(text: str) -> list[str]:
    """Numbers of four digits or more written without thousands separators; a year (1990-2100) alone is fine."""
    found = re.findall(r"(?<![\d,.])\d{4,}(?![\d,])", text)
    return [n for n in found if not (len(n) == 4 and 1990 <= int(n) <= 2100)]


def test_every_number_on_the_rendered_page_has_separators_and_no_text_is_broken(report_html: Path) -> None:
    text = str(render(report_html, PAGE_TEXT).value)
    assert "£" in text and "people were known to at least one" in text
    assert unseparated_numbers(text) == []
    assert re.search(r"\d,\d{3}", text), "a page with thousands of people shows separated numbers"
    assert "withheld of" not in text and "<8" not in text and "&lt;" not in text
    # The check itself catches a bare number and a broken phrase.
    assert unseparated_numbers("persons 1805 in 2024 and £12,345") == ["1805"]


def test_the_render_check_catches_a_script_error(report_html: Path, tmp_path: Path) -> None:
    broken = tmp_path / "broken.html"
    broken.write_text(report_html.read_text().replace("</body>", "<script>noSuchFunction();</script></body>"))
    result = render(broken, PAGE_STATE)
    assert any("noSuchFunction" in e for e in result.errors)
    assert json.loads(result.value)["scriptErrors"] == "1"


def test_report_on_an_empty_warehouse_says_what_to_do(env: dict[str, str], tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", "--out", str(tmp_path / "r.html")]) == 2
    err = capsys.readouterr().err
    assert "no persons yet" in err and "ptp ingest" in err and "Traceback" not in err
    assert not (tmp_path / "r.html").exists()


def test_report_refuses_a_folder_as_output(use_home: dict[str, str], tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", "--out", str(tmp_path), "--no-rebuild"]) == 2
    err = capsys.readouterr().err
    assert "is a folder" in err and "Traceback" not in err


def test_pathways_command_rebuilds_and_lists_tables(use_home: dict[str, str],
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["pathways"]) == 0
    out = capsys.readouterr().out
    for table in ("person_pathway", "transitions", "cost_concentration", "cohort_priority", "agency_overlap",
                  "monthly_activity"):
        assert f"shared.{table}:" in out


def test_report_tables_export_only_protected_counts(use_home: dict[str, str], tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PTP_PROTOCOLS_DIR", str(custom_protocols(tmp_path, **{"min_count: 8 ": "min_count: 30 "})))
    folder = tmp_path / "tables"
    assert main(["report", "--out", str(tmp_path / "r.html"), "--tables", str(folder), "--no-rebuild"]) == 0
    names = sorted(p.stem for p in folder.glob("*.csv"))
    assert names == ["agency_overlap", "cost_by_event_type", "cost_concentration", "data_quality", "headline",
                     "monthly_activity", "transitions", "transitions_by_event_type"]
    count_columns = {"agency_overlap": ["persons"], "transitions": ["persons"], "cost_by_event_type": ["events"],
                     "transitions_by_event_type": ["persons"], "data_quality":
                     ["accepted", "quarantined", "received"], "monthly_activity": ["council", "health", "police",
                                                                                   "Total"]}
    withheld = 0
    for name, columns in count_columns.items():
        frame = pd.read_csv(folder / f"{name}.csv", dtype=str)
        for col in columns:
            withheld += int((frame[col] == "withheld").sum())
            values = pd.to_numeric(frame[col], errors="coerce").dropna()
            assert not ((values >= 1) & (values < 30)).any(), (name, col)
            assert (values % 5 == 0).all(), (name, col)
    assert withheld >= 2


GOLDEN = REPO / "tests" / "golden" / "report.html"


@pytest.mark.golden
def test_report_matches_the_golden_file(use_home: dict[str, str]) -> None:
    """The whole report from fixed synthetic data, a fixed key and a fixed clock. Volatile part: the
    ledger's receipt dates (today). On purpose changes: run `make snapshots` and review the diff."""
    from ptp_pipeline.report import render_html

    rt = Runtime(load_settings(use_home))
    try:
        html = render_html(report_data(rt.warehouse, rt.project), rt.project, "1 January 2025 09:00 UTC")
    finally:
        rt.close()
    html = re.sub(r"<td>\d{4}-\d{2}-\d{2}</td>", "<td>RECEIVED</td>", html)
    if os.environ.get("UPDATE_SNAPSHOTS") == "1":
        GOLDEN.parent.mkdir(parents=True, exist_ok=True)
        GOLDEN.write_text(html, encoding="utf-8")
    assert GOLDEN.exists(), "no golden report yet: run `make snapshots`, review tests/golden/report.html"
    assert html == GOLDEN.read_text(encoding="utf-8"), \
        "the report changed: run `make snapshots`, review the diff of tests/golden/report.html"


def test_a_tiny_partnership_gets_a_report_with_everything_small_withheld(rt: Runtime, env: dict[str, str],
                                                                         tmp_path: Path) -> None:
    from helpers import assert_conserved, write_csv

    from ptp_pipeline.pipeline import ingest

    header = ["surname", "forenames", "birth_date", "home_postcode", "sex", "nhs_number", "occurred_on",
              "incident_type", "estimated_cost"]
    rows = [["Smith", "John", "32874", "LS6 2AB", "M", "", "01/05/2024", "arrest", "500.00"],
            ["Jones", "Mary", "31000", "LS1 1AA", "F", "943 476 5919", "03/06/2024", "incident", "100"]]
    assert ingest(rt, write_csv(tmp_path / "in" / "police.csv", header, rows), "police", "incidents").status == "merged"
    assert_conserved(rt)
    rt.close()
    out = tmp_path / "tiny.html"
    assert main(["report", "--out", str(out)]) == 0
    html = out.read_text()
    ids = Identifiers().add("name", ["Smith", "Jones"]).add("postcode", ["LS6 2AB"]).add("nhs", ["9434765919"])
    assert not scan_text_with_control(html, "report", Scanner(ids))
    assert "May 2024" not in html
    assert "curve withheld" in html and "every value withheld" in html
    rt2 = Runtime(load_settings(env))
    try:
        data = report_data(rt2.warehouse, rt2.project)
    finally:
        rt2.close()
    assert data.headline.persons is None and data.headline.top_cost_share is None
    assert len(published_counts(data)) == 0 or not ((published_counts(data) >= 1) & (published_counts(data) < 8)).any()


def test_report_has_the_families_section(pathways_env: dict[str, str], tmp_path: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    for k, v in pathways_env.items():
        monkeypatch.setenv(k, v)
    out = tmp_path / "r.html"
    assert main(["report", "--out", str(out), "--no-rebuild"]) == 0
    text = out.read_text(encoding="utf-8")
    assert 'id="families"' in text and "Families and households" in text
    assert "priority famil" in text.lower()


def test_every_published_cost_passes_the_dominance_rule_and_rounds(use_home: dict[str, str]) -> None:
    rt = Runtime(load_settings(use_home))
    try:
        data = report_data(rt.warehouse, rt.project)
        per_person = rt.warehouse.query("SELECT agency || ': ' || replace(event_type, '_', ' ') AS label, person_id, "
                                        "sum(cost) AS cost FROM shared.event_cost GROUP BY 1, 2")
    finally:
        rt.close()
    costs = data.type_costs[data.type_costs["kind"] == "cell"]
    published = costs[costs["cost"].notna()]
    assert len(published) >= 5
    for row in published.itertuples(index=False):
        cell = per_person.loc[per_person["label"] == row.label, "cost"].astype(float)
        assert cell.max() <= 0.5 * cell.sum(), row.label
        assert row.cost == float(f"{row.cost:.3g}"), row.cost  # 3 significant figures
    m = data.headline.money
    assert m is not None and m.total is not None and m.top is not None and 0.7 < m.top / m.total < 0.9
    assert m.price_year == 2024
    overlap_costs = data.overlap["cost"]
    assert overlap_costs[data.overlap["suppressed"]].isna().all(), "a withheld count withholds its cost"
