"""`ptp linkage report --html`: one self-contained file for a data officer, under disclosure control,
with no identifier and no token in it, rendering in real headless Chromium without script errors."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from browser import CHROMIUM, page_state
from leaks import Scanner, scan_text_with_control, synthetic_identifiers

from ptp_pipeline.cli import main
from ptp_pipeline.linkage.fields import IDENT, TOKEN_COLUMNS
from ptp_pipeline.report.linkage import LinkageReport, linkage_report_data
from ptp_pipeline.runtime import Runtime
from ptp_pipeline.settings import load_settings
from ptp_pipeline.synthetic import SyntheticResult

SECTIONS = (
    "How records were linked",
    "Match probabilities",
    "Clerical review",
    "Agencies",
    "Linkage bias",
    "Model",
    "Disclosure control",
)
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
HEX = re.compile(r"[0-9a-fA-F]{16,}")


@pytest.fixture(scope="module")
def linkage_html(pathways_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("linkage") / "linkage.html"
    with pytest.MonkeyPatch.context() as mp:
        for k, v in pathways_env.items():
            mp.setenv(k, v)
        assert main(["linkage", "report", "--html", str(out)]) == 0
    return out


def stored_tokens(env: dict[str, str]) -> set[str]:
    """Every token and identity token the warehouse holds for linkage."""
    rt = Runtime(load_settings(env))
    try:
        frame = rt.warehouse.query(f"SELECT {', '.join([IDENT, *TOKEN_COLUMNS])} FROM restricted.link_identity")
        counted = rt.warehouse.query("SELECT token FROM restricted.link_token_tf")
    finally:
        rt.close()
    values = pd.concat([frame[c] for c in frame.columns] + [counted["token"]]).dropna().astype(str)
    return set(values.str.lower())


def token_leaks(text: str, tokens: set[str]) -> set[str]:
    """Stored tokens in `text`: every run of hex digits, whole and in 16-character windows."""
    found = set()
    for run in HEX.findall(text):
        run = run.lower()
        found |= {run[i : i + 16] for i in range(len(run) - 15)} & tokens
        found |= {run} & tokens
    return found


def test_the_linkage_report_holds_no_identifier_and_no_token(
    linkage_html: Path, pathways_env: dict[str, str], synthetic: SyntheticResult
) -> None:
    html = linkage_html.read_text(encoding="utf-8")
    raw, tokens = synthetic_identifiers(synthetic), stored_tokens(pathways_env)
    assert len(raw) > 1000 and len(tokens) > 1000
    # Raw identifiers: the shared scanner, which first finds values planted in the page
    assert scan_text_with_control(html, "linkage report", Scanner(raw)) == []
    # Tokens: the scan sees a planted token, and none in the report itself
    one_token = sorted(tokens)[0]
    planted = html.replace("</body>", f"<p>{one_token.upper()}</p></body>")
    assert token_leaks(planted, tokens) == {one_token}
    assert token_leaks(html, tokens) == set()
    assert "Content-Security-Policy" in html and "default-src 'none'" in html
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html), "no resource from the network"
    for section in SECTIONS:
        assert f">{section}</h2>" in html
    assert "nan%" not in html  # a withheld share says "withheld"
    assert "never linked on the other fields (veto: twins)" in html and "decides once the model is trained" in html


def published_counts(data: LinkageReport) -> np.ndarray:
    parts = [
        data.passes["identities"],
        data.passes["records"],
        data.bands["n"],
        data.agencies["persons"],
        data.pairs["persons"],
        pd.Series([*data.summary.values(), *data.decisions.values()], dtype="Int64"),
        *(frame["records"] for frame in data.bias.values()),
    ]
    return pd.concat([pd.Series(p, dtype="Int64") for p in parts]).dropna().to_numpy(dtype=np.int64)


def test_every_count_in_the_linkage_report_passes_disclosure_control(pathways_env: dict[str, str]) -> None:
    rt = Runtime(load_settings(pathways_env))
    try:
        data = linkage_report_data(rt.warehouse, rt.project)
    finally:
        rt.close()
    counts = published_counts(data)
    assert len(counts) > 20 and counts.max() > 1000
    assert not ((counts >= 1) & (counts < 8)).any()
    assert (counts % 5 == 0).all()
    assert len(data.pairs) == 3 and data.pairs["share_a"].notna().all()  # council, health, police
    assert set(data.bias) == {"agency", "sex", "age band", "area"}
    assert len(data.weights) > 20 and (data.weights["weight"] < 0).any() and data.weights["by_frequency"].any()
    # Too few identities to train on: the shipped prior keeps the twin guard until a model is trained.
    assert data.settings["trained"] is False and data.settings["forename_m"] is None
    assert data.settings["forename_conflict"] == "auto" and data.settings["forename_veto"] is True


def test_the_linkage_report_renders_without_script_errors(linkage_html: Path) -> None:
    assert CHROMIUM.exists(), "Chromium is missing: run `make chromium` (make test does this)"
    shot = ARTIFACTS / "linkage.png"
    shot.unlink(missing_ok=True)
    errors, state = page_state(linkage_html, screenshot=shot)
    assert errors == []
    assert state["scriptErrors"] is None and state["ready"] == "2"
    charts = {c["name"]: c["marks"] for c in state["charts"]}
    assert set(charts) == {"bands", "weights"} and all(n >= 1 for n in charts.values())
    assert shot.stat().st_size > 20_000
