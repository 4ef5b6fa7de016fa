"""Issue 17: one Airflow serves several themes. Each theme's DAGs and assets carry the theme in their names,
each task gets its theme as an argument (never from the worker's PTP_THEME), each theme's rows reach its
own warehouse only, and a broken protocol file of one theme breaks only its own DAG file."""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from helpers import assert_conserved, ledger
from protocol_samples import college_sample, neet_theme

from ptp_pipeline.cli import main
from ptp_pipeline.runtime import Runtime
from ptp_pipeline.settings import load_settings
from ptp_pipeline.synthetic import SyntheticResult

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.airflow
DRUGS = {("council", "contacts"), ("health", "attendances"), ("police", "incidents"), ("licensing", "register")}
NEET = {("college", "learners")}


def ingest_ids(theme: str, keys: set[tuple[str, str]]) -> set[str]:
    return {f"ptp_ingest_{theme}_{partner}_{dataset}" for partner, dataset in keys}


EXPECTED = (ingest_ids("alcohol_drugs", DRUGS) | ingest_ids("neet", NEET)
            | {f"ptp_{kind}_{theme}" for kind in ("dispatch", "pathways", "housekeeping")
               for theme in ("alcohol_drugs", "neet")}
            | {"ptp_housekeeping"})  # Airflow's own clean-up, once per Airflow


def two_theme_deployment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path, Path]:
    """Protocols folder with the alcohol and drugs theme (the repo's protocols) and the NEET theme, and a DAG
    folder written for it by `ptp airflow dag-files`; returns (protocols, dags, the college's sample)."""
    monkeypatch.setenv("PTP_THEME", "alcohol_drugs")  # restored after the test (the CLI's --theme sets it)
    protocols = tmp_path / "protocols"
    shutil.copytree(REPO / "protocols", protocols / "alcohol_drugs")
    monkeypatch.setenv("PTP_PROTOCOLS_DIR", str(protocols))
    sample = college_sample(tmp_path, "%d-%b-%Y", "DOB")
    neet_theme(protocols, sample)
    dags = tmp_path / "dags"
    shutil.copytree(REPO / "dags", dags, ignore=shutil.ignore_patterns("__pycache__"))
    assert main(["airflow", "dag-files", "--dags-folder", str(dags)]) == 0
    assert main(["airflow", "dag-files", "--check", "--dags-folder", str(dags)]) == 0
    return protocols, dags, sample


def watched(dispatch: Any) -> dict[str, str]:
    """Landing assets a dispatcher is scheduled on: name -> the folder its watcher claims files from."""
    def assets(node: Any) -> list[Any]:
        return [a for o in node.objects for a in assets(o)] if hasattr(node, "objects") else [node]

    return {a.name: a.watchers[0].trigger.directory for a in assets(dispatch.timetable.asset_condition)}


def test_one_airflow_serves_two_themes_each_task_with_its_own_theme(
        airflow_db: Path, env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from airflow.dag_processing.dagbag import DagBag

    _, dags, sample = two_theme_deployment(tmp_path, monkeypatch)
    generated = {p.name for p in dags.glob("ptp_protocol_*.py")}
    assert generated == {"ptp_protocol_files.py", "ptp_protocol_neet_college_learners.py",
                         *(f"ptp_protocol_alcohol_drugs_{p}_{d}.py" for p, d in DRUGS)}  # flat files removed
    bag = DagBag(str(dags))  # with PTP_THEME=alcohol_drugs in the environment: Airflow serves every theme anyway
    assert bag.import_errors == {}
    assert set(bag.dag_ids) == EXPECTED
    for dag_id in EXPECTED - {"ptp_housekeeping"}:
        theme = "neet" if "_neet" in dag_id else "alcohol_drugs"
        dag = bag.dags[dag_id]
        assert f"theme:{theme}" in dag.tags
        kwargs = {t.task_id: t.op_kwargs for t in dag.tasks if hasattr(t, "op_kwargs")}
        assert kwargs and all(k == {"theme": theme} for k in kwargs.values()), (dag_id, kwargs)
    assert {t.task_id for t in bag.dags["ptp_housekeeping"].tasks} == {"purge_task_logs", "clean_airflow_metadata"}
    assert {t.task_id for t in bag.dags["ptp_housekeeping_neet"].tasks} == {
        "purge_retention", "verify_audit_chain", "expiring_protocols", "late_deliveries"}
    assert Path(bag.dags["ptp_ingest_neet_college_learners"].fileloc).name == "ptp_protocol_neet_college_learners.py"

    home = Path(env["PTP_HOME"]).resolve()
    assert watched(bag.dags["ptp_dispatch_neet"]) == {
        "ptp_landing_neet_college_learners": str(home / "themes" / "neet" / "landing" / "college" / "learners")}
    assert watched(bag.dags["ptp_dispatch_alcohol_drugs"]) == {
        f"ptp_landing_alcohol_drugs_{p}_{d}": str(home / "themes" / "alcohol_drugs" / "landing" / p / d)
        for p, d in DRUGS}
    # Each theme's merges start its own pathways rebuild only.
    (outlets,) = [t.outlets for t in bag.dags["ptp_ingest_neet_college_learners"].tasks]
    assert {a.uri for a in outlets} == {"ptp://neet/shared/college/learners", "ptp://neet/shared/pathway_event"}
    pathways = {d: {a.uri for a in bag.dags[f"ptp_pathways_{d}"].timetable.asset_condition.objects}
                for d in ("neet", "alcohol_drugs")}
    assert pathways == {"neet": {"ptp://neet/shared/pathway_event"},
                        "alcohol_drugs": {"ptp://alcohol_drugs/shared/pathway_event"}}
    # Dispatch takes the files of its own theme's landing folder and starts that theme's ingest DAG
    # (its task called as Airflow calls it, with its op_kwargs, while PTP_THEME names the other theme).
    landing = home / "themes" / "neet" / "landing" / "college" / "learners"
    landing.mkdir(parents=True)
    shutil.copyfile(sample, landing / "college.csv")
    old = time.time() - 3600
    os.utime(landing / "college.csv", (old, old))  # settled: the 15-minute sweep claims it
    (take,) = [t for t in bag.dags["ptp_dispatch_neet"].tasks if t.task_id == "take_pending"]
    (run,) = take.python_callable(**take.op_kwargs)
    assert run["trigger_dag_id"] == "ptp_ingest_neet_college_learners"
    assert Path(run["conf"]["path"]).is_relative_to(home / "themes" / "neet" / "claimed" / "college" / "learners")


def test_each_themes_ingest_dag_fills_its_own_warehouse_whatever_ptp_theme_says(
        airflow_db: Path, env: dict[str, str], tmp_path: Path, synthetic: SyntheticResult,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The worker's PTP_THEME names the *other* theme in each run: the task follows its DAG's theme."""
    from airflow.dag_processing.dagbag import DagBag

    protocols, dags, sample = two_theme_deployment(tmp_path, monkeypatch)
    # dag.test() serialises the DAG from a configured bundle: this deployment's DAG folder is one of its own.
    monkeypatch.setenv("AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST", json.dumps([{
        "name": "ptp-themes-test", "classpath": "airflow.dag_processing.bundles.local.LocalDagBundle",
        "kwargs": {"path": str(dags)}}]))
    bag = DagBag(str(dags))
    police = next(e for e in synthetic.extracts if e.partner == "police")
    for theme, dag_id, path, other in (
            ("neet", "ptp_ingest_neet_college_learners", sample, "alcohol_drugs"),
            ("alcohol_drugs", "ptp_ingest_alcohol_drugs_police_incidents", police.path, "neet")):
        monkeypatch.setenv("PTP_THEME", other)
        dag = bag.get_dag(dag_id)
        assert dag is not None
        run = dag.test(run_conf={"path": str(path)})
        states = {ti.task_id: ti.state for ti in run.get_task_instances()}
        assert run.state == "success" and states == {"ingest_files": "success"}, (theme, states)

    # A failed task of the alcohol and drugs theme is recorded in that theme's audit log (PTP_THEME says neet).
    (record_failure, *_) = bag.dags["ptp_ingest_alcohol_drugs_police_incidents"].default_args["on_failure_callback"]
    ti = SimpleNamespace(dag_id="ptp_ingest_alcohol_drugs_police_incidents", run_id="r", task_id="ingest_files",
                         try_number=1, map_index=-1)
    record_failure({"ti": ti, "exception": OSError("disk full")})

    found, failures = {}, {}
    for theme in ("neet", "alcohol_drugs"):
        rt = Runtime(load_settings({**env, "PTP_PROTOCOLS_DIR": str(protocols), "PTP_THEME": theme}))
        try:
            found[theme] = sorted((r["partner"], r["status"], r["rows_received"]) for r in ledger(rt))
            assert_conserved(rt)
            failures[theme] = rt.warehouse.scalar("SELECT count(*) FROM ops.audit_log WHERE action = 'task_failed'")
        finally:
            rt.close()
    assert found == {"neet": [("college", "merged", 80)], "alcohol_drugs": [("police", "merged", police.rows)]}
    assert failures == {"neet": 0, "alcohol_drugs": 1}
    home = Path(env["PTP_HOME"])
    assert (home / "themes" / "neet" / "ptp.duckdb").is_file()
    assert not (home / "ptp.duckdb").exists()  # nothing written outside the themes' own homes


def test_a_broken_protocol_of_one_theme_breaks_only_its_own_dag_file(
        airflow_db: Path, env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The same protocol file name and dataset in both themes: two DAGs, no clash. Broken in NEET, the alcohol
    and drugs theme's police DAG still loads; a bad field in alcohol and drugs' council file leaves NEET alone."""
    from airflow.dag_processing.dagbag import DagBag

    protocols, dags, _ = two_theme_deployment(tmp_path, monkeypatch)
    shutil.copyfile(protocols / "alcohol_drugs" / "police_incidents.yaml", protocols / "neet" / "police_incidents.yaml")
    assert main(["airflow", "dag-files", "--dags-folder", str(dags)]) == 0
    bag = DagBag(str(dags))
    assert bag.import_errors == {}
    assert set(bag.dag_ids) == EXPECTED | {"ptp_ingest_neet_police_incidents"}

    (protocols / "neet" / "police_incidents.yaml").write_text("id: police-incidents\nfields: [unclosed\n")
    council = protocols / "alcohol_drugs" / "council_contacts.yaml"
    council.write_text(council.read_text().replace("treatment: pseudonymise", "treatment: publish", 1))
    bag = DagBag(str(dags))
    errors = {Path(k).name: v for k, v in bag.import_errors.items()}
    assert set(errors) == {"ptp_protocol_neet_police_incidents.py", "ptp_protocol_alcohol_drugs_council_contacts.py"}
    assert str(protocols / "neet" / "police_incidents.yaml") in errors["ptp_protocol_neet_police_incidents.py"]
    assert "alcohol_drugs" not in errors["ptp_protocol_neet_police_incidents.py"]
    assert set(bag.dag_ids) == EXPECTED - {"ptp_ingest_alcohol_drugs_council_contacts"}
    assert set(watched(bag.dags["ptp_dispatch_neet"])) == {"ptp_landing_neet_college_learners"}
    assert set(watched(bag.dags["ptp_dispatch_alcohol_drugs"])) == {
        f"ptp_landing_alcohol_drugs_{p}_{d}" for p, d in DRUGS - {("council", "contacts")}}


def test_dag_files_refuses_two_protocol_files_that_would_share_a_dag_file(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    protocols, dags = tmp_path / "protocols", tmp_path / "dags"
    for theme, name in (("a", "b_c.yaml"), ("a_b", "c.yaml")):
        (protocols / theme).mkdir(parents=True)
        (protocols / theme / "project.yaml").write_text("", encoding="utf-8")
        (protocols / theme / name).write_text("id: x\n", encoding="utf-8")
    dags.mkdir()
    monkeypatch.setenv("PTP_PROTOCOLS_DIR", str(protocols))
    assert main(["airflow", "dag-files", "--dags-folder", str(dags)]) != 0
    err = capsys.readouterr().err
    assert "ptp_protocol_a_b_c.py" in err and str(protocols / "a" / "b_c.yaml") in err
    assert not list(dags.iterdir())
