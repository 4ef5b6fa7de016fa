"""Enforcement at receipt, through pipeline.ingest: every reason an extract is refused, and versions."""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from helpers import assert_conserved, ledger, write_csv

from ptp_pipeline import pipeline
from ptp_pipeline.runtime import Runtime
from ptp_pipeline.settings import load_settings
from ptp_pipeline.synthetic import SyntheticResult

REPO_PROTOCOLS = Path(__file__).resolve().parents[3] / "protocols"
HEADER = ["surname", "forenames", "birth_date", "home_postcode", "sex", "nhs_number", "occurred_on",
          "incident_type", "estimated_cost"]


def today() -> date:
    """The pipeline's date when the test runs (not when the module was imported: a run crossing midnight saw
    one date in the test and the next in the pipeline)."""
    return datetime.now(UTC).date()

MakeRt = Callable[..., Runtime]


def police_yaml(status: str = "approved", valid_from: object = "2024-01-01", valid_to: object | None = None,
                version: int = 1) -> str:
    text = (REPO_PROTOCOLS / "police_incidents.yaml").read_text(encoding="utf-8")
    text = text.replace("status: approved", f"status: {status}").replace("version: 1", f"version: {version}")
    text = re.sub(r"valid_from: \S+", f"valid_from: {valid_from}", text)
    return re.sub(r"valid_to: \S+", f"valid_to: {valid_to or today() + timedelta(days=365)}", text)


@pytest.fixture
def make_rt(env: dict[str, str], tmp_path: Path) -> Iterator[MakeRt]:
    """Build a runtime over a protocols folder holding the given police protocol versions."""
    made: list[Runtime] = []

    def build(*versions: str) -> Runtime:
        folder = tmp_path / f"protocols{len(made)}"
        folder.mkdir()
        shutil.copy(REPO_PROTOCOLS / "project.yaml", folder)
        for i, text in enumerate(versions):
            (folder / f"police_incidents_{i}.yaml").write_text(text, encoding="utf-8")
        home = tmp_path / f"home{len(made)}"
        rt = Runtime(load_settings({**env, "PTP_HOME": str(home), "PTP_PROTOCOLS_DIR": str(folder)}))
        made.append(rt)
        return rt

    yield build
    for rt in made:
        rt.close()


def extract(tmp_path: Path, event_day: str = "01/05/2024") -> Path:
    rows = [["Smith", "John", "32874", "LS6 2AB", "M", "", event_day, "arrest", "500.00"],
            ["Jones", "Mary", "31000", "LS1 1AA", "F", "943 476 5919", event_day, "incident", "100"]]
    return write_csv(tmp_path / "in" / "police.csv", HEADER, rows)


def assert_refused(rt: Runtime, outcome: pipeline.Outcome, *phrases: str) -> None:
    assert outcome.status == "refused"
    (row,) = ledger(rt)
    assert row["status"] == "refused" and row["protocol_id"] is None
    for phrase in phrases:
        assert phrase in str(outcome.reason) and phrase in str(row["reason"]), (phrase, row["reason"])
    assert rt.warehouse.scalar("SELECT count(*) FROM shared.pathway_event") == 0
    assert_conserved(rt)


def test_refused_when_no_protocol_exists(make_rt: MakeRt, tmp_path: Path) -> None:
    rt = make_rt(police_yaml())
    outcome = pipeline.ingest(rt, extract(tmp_path), "fire", "callouts")
    assert_refused(rt, outcome, "no data-sharing protocol exists for partner 'fire', dataset 'callouts'")


@pytest.mark.parametrize(("yaml_kwargs", "reason"), [
    ({"status": "draft"}, "police-incidents v1 is draft"),
    ({"status": "suspended"}, "police-incidents v1 is suspended"),
    ({"status": "expired"}, "police-incidents v1 is expired"),
    ({"valid_to": -1}, "police-incidents v1 is expired"),  # days from today
    ({"valid_from": 1}, "police-incidents v1 is not yet valid"),
], ids=["draft", "suspended", "expired-status", "past-valid-to", "before-valid-from"])
def test_refused_when_no_approved_protocol_is_in_force(make_rt: MakeRt, tmp_path: Path,
                                                       yaml_kwargs: dict[str, object], reason: str) -> None:
    now = today()
    rt = make_rt(police_yaml(**{k: now + timedelta(days=v) if isinstance(v, int) else v
                                for k, v in yaml_kwargs.items()}))
    outcome = pipeline.ingest(rt, extract(tmp_path), "police", "incidents")
    assert_refused(rt, outcome, f"no approved protocol is in force for 'police/incidents' on {now}", reason)


def test_new_version_supersedes_old_from_its_valid_from(make_rt: MakeRt, tmp_path: Path) -> None:
    v1 = police_yaml(version=1)
    now = today()
    # v2 starts tomorrow: v1 still governs today.
    rt = make_rt(v1, police_yaml(version=2, valid_from=now + timedelta(days=1)))
    pipeline.receive(rt, extract(tmp_path), "police", "incidents")
    assert ledger(rt)[0]["protocol_version"] == 1
    # v2 starts today: it governs, and the accepted extract records it.
    rt = make_rt(v1, police_yaml(version=2, valid_from=now))
    outcome = pipeline.ingest(rt, extract(tmp_path, now.strftime("%d/%m/%Y")), "police", "incidents")
    assert outcome.status == "merged", outcome.reason
    (row,) = ledger(rt)
    assert row["status"] == "merged" and row["rows_accepted"] == 2
    assert (row["protocol_id"], row["protocol_version"]) == ("police-incidents", 2)
    assert_conserved(rt)


def test_suspended_new_version_leaves_the_old_in_force(make_rt: MakeRt, tmp_path: Path) -> None:
    """A suspended v2 leaves v1 in force (still approved, still valid)."""
    rt = make_rt(police_yaml(version=1), police_yaml(version=2, status="suspended", valid_from=today()))
    pipeline.receive(rt, extract(tmp_path), "police", "incidents")
    assert ledger(rt)[0]["protocol_version"] == 1


def test_a_broken_protocol_file_stops_only_its_own_dataset(tmp_path: Path, env: dict[str, str],
                                                          synthetic: SyntheticResult) -> None:
    run_ingest = pipeline.ingest
    protocols = tmp_path / "protocols"
    shutil.copytree(Path(__file__).resolve().parents[3] / "protocols", protocols)
    (protocols / "police_incidents.yaml").write_text("id: police-incidents\nversion: [unclosed\n")
    rt = Runtime(load_settings({**env, "PTP_PROTOCOLS_DIR": str(protocols)}))
    try:
        council = next(e for e in synthetic.extracts if e.partner == "council")
        police = next(e for e in synthetic.extracts if e.partner == "police")
        assert run_ingest(rt, council.path, "council", "contacts").status == "merged"
        refused = run_ingest(rt, police.path, "police", "incidents")
        assert refused.status == "refused" and "police_incidents.yaml" in str(refused.reason)
    finally:
        rt.close()
