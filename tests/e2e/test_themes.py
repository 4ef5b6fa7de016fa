"""Issue 17.3: two themes in one deployment, side by side. The alcohol and drugs theme (the repo's protocols)
and a NEET theme set up by YAML alone (a college's drafted protocol and a project.yaml) each have their own
population, key derivation, warehouse, ledger and report; neither sees the other's data, and the flat
`protocols/` layout (no theme) keeps working as the single default theme."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from protocol_samples import college_sample, neet_theme

from ptp_pipeline.cli import main
from ptp_pipeline.errors import ConfigError
from ptp_pipeline.runtime import Runtime
from ptp_pipeline.settings import load_settings
from ptp_pipeline.synthetic import SyntheticResult

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def ledger(theme: str, capsys: pytest.CaptureFixture[str]) -> list[dict[str, object]]:
    capsys.readouterr()
    assert main(["--theme", theme, "status", "--json"]) == 0
    return json.loads(capsys.readouterr().out)  # type: ignore[no-any-return]


def test_two_themes_in_one_deployment_each_with_its_own_report(
        env: dict[str, str], tmp_path: Path, synthetic: SyntheticResult, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    protocols = tmp_path / "protocols"
    shutil.copytree(REPO / "protocols", protocols / "alcohol_drugs")
    monkeypatch.setenv("PTP_PROTOCOLS_DIR", str(protocols))
    sample = college_sample(tmp_path, "%d-%b-%Y", "DOB")
    neet_theme(protocols, sample)

    for extract in synthetic.extracts:
        assert main(["--theme", "alcohol_drugs", "ingest", str(extract.path), "--partner", extract.partner,
                     "--dataset", extract.dataset]) == 0
    assert main(["--theme", "neet", "ingest", str(sample), "--partner", "college", "--dataset", "learners"]) == 0
    # A protocol belongs to one theme: the college's dataset is unknown to the alcohol and drugs theme.
    assert main(["--theme", "alcohol_drugs", "ingest", str(sample), "--partner", "college",
                 "--dataset", "learners"]) == 4

    neet, drugs = ledger("neet", capsys), ledger("alcohol_drugs", capsys)
    assert {(r["partner"], r["status"]) for r in neet} == {("college", "merged")}
    assert {r["partner"] for r in drugs if r["status"] == "merged"} == {"council", "health", "police"}

    home = Path(env["PTP_HOME"])
    reports = {}
    for theme in ("neet", "alcohol_drugs"):
        assert main(["--theme", theme, "report"]) == 0, capsys.readouterr().err
        reports[theme] = (home / "themes" / theme / "reports" / "pathways.html").read_text(encoding="utf-8")
        assert (home / "themes" / theme / "ptp.duckdb").is_file()  # one warehouse per theme
    assert "Leeds NEET partnership" in reports["neet"] and "Leeds Total Place" not in reports["neet"]
    assert "Leeds Total Place partnership" in reports["alcohol_drugs"] and "NEET" not in reports["alcohol_drugs"]
    # One key secret (one key id in both ledgers), but sub-keys derived per theme's project id: no token of
    # one theme can match a token of the other.
    assert {r["key_id"] for r in neet} == {r["key_id"] for r in drugs}
    keys = {}
    for theme in ("neet", "alcohol_drugs"):
        rt = Runtime(load_settings({**env, "PTP_PROTOCOLS_DIR": str(protocols), "PTP_THEME": theme}))
        keys[theme] = rt.key.subkey("identity")
    assert keys["neet"] != keys["alcohol_drugs"]
    assert not (home / "ptp.duckdb").exists()  # nothing written outside the themes' own homes


def test_the_flat_layout_is_the_default_theme_and_a_theme_needs_its_project_yaml(
        env: dict[str, str], tmp_path: Path) -> None:
    settings = load_settings(env)
    assert settings.protocols_dir == REPO / "protocols" and settings.theme is None
    protocols = tmp_path / "protocols"
    (protocols / "neet").mkdir(parents=True)
    with pytest.raises(ConfigError, match=re.escape("theme 'neet' has no project.yaml")):
        load_settings({**env, "PTP_PROTOCOLS_DIR": str(protocols), "PTP_THEME": "neet"})
    (protocols / "neet" / "project.yaml").write_text("", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"holds themes \(neet\) and no project.yaml of its own"):
        load_settings({**env, "PTP_PROTOCOLS_DIR": str(protocols)})
    with pytest.raises(ConfigError, match=r"each theme needs its own"):
        load_settings({**env, "PTP_PROTOCOLS_DIR": str(protocols), "PTP_THEME": "neet",
                       "PTP_WAREHOUSE": "postgresql://ptp@127.0.0.1/ptp"})
    themed = load_settings({**env, "PTP_PROTOCOLS_DIR": str(protocols), "PTP_THEME": "neet",
                            "PTP_WAREHOUSE": "postgresql://ptp@127.0.0.1/ptp_{theme}"})
    assert themed.warehouse_url == "postgresql://ptp@127.0.0.1/ptp_neet"
    assert themed.home == Path(env["PTP_HOME"]).resolve() / "themes" / "neet"
