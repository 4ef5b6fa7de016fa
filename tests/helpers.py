"""Helpers shared by tests (importable as `helpers`; tests/ is on pytest's pythonpath)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ptp_pipeline.runtime import Runtime


def write_csv(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    import csv

    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)
    return path


def ledger(rt: Runtime) -> list[dict[str, object]]:
    from ptp_pipeline.warehouse.ledger import status_table

    return status_table(rt.warehouse)


def assert_conserved(rt: Runtime) -> None:
    """received = accepted + quarantined for every extract, or it was refused whole.

    A superseded extract (replaced by a correction) keeps the counts it had when merged or refused.
    """
    for row in ledger(rt):
        if row["status"] in ("merged", "superseded"):
            assert row["rows_received"] == row["rows_accepted"] + row["rows_quarantined"], row  # type: ignore[operator]
        else:
            assert row["status"] == "refused", row
            assert row["rows_accepted"] == 0, row
            assert row["rows_quarantined"] == row["rows_received"], row


def protocols_valid_from(folder: Path, valid_from: str) -> Path:
    """A copy of the repo's protocols in force from an earlier date, for tests with historic events.

    Event dates must lie inside the protocol's validity (issue 5), so retention tests that need
    events older than six years use protocols agreed earlier.
    """
    import shutil

    repo = Path(__file__).resolve().parent.parent / "protocols"
    shutil.copytree(repo, folder)
    for path in folder.glob("*.yaml"):
        path.write_text(path.read_text(encoding="utf-8").replace("valid_from: 2024-01-01", f"valid_from: {valid_from}"),
                        encoding="utf-8")
    return folder


def run_police_dag_with_an_extra_column(synthetic_extracts: list[Any], tmp_path: Path) -> tuple[Any, Any]:
    """The police ingest DAG run (dag.test) on its synthetic extract with one column the protocol lacks."""
    from airflow.dag_processing.dagbag import DagBag

    extract = next(e for e in synthetic_extracts if e.partner == "police")
    bad = tmp_path / "police_extra_column.csv"
    lines = extract.path.read_text().splitlines()
    bad.write_text("\n".join([lines[0] + ",notes"] + [line + ",x" for line in lines[1:]]) + "\n")
    dag = DagBag(str(Path(__file__).resolve().parents[1] / "dags")).get_dag("ptp_ingest_police_incidents")
    assert dag is not None
    return dag, dag.test(run_conf={"path": str(bad)})


def pg_refused(url: str, sql: str) -> bool:
    """Run `sql` as the login in `url`, in a transaction rolled back; True when the server refuses the login."""
    import psycopg
    from psycopg import errors

    with psycopg.connect(url) as con:
        try:
            con.execute(sql)
        except errors.InsufficientPrivilege:
            return True
        con.rollback()
    return False


def model_with_forename_share(share: float) -> dict[str, Any]:
    """The shipped linkage model as if EM had found `share` of its matching pairs with forenames that share
    nothing (the forename's "all other" level), the other levels scaled to add up to one with it."""
    from ptp_pipeline.linkage.model import settings

    model = settings()
    forename = next(c for c in model["comparisons"] if c["output_column_name"] == "forename")
    levels = [lv for lv in forename["comparison_levels"] if not lv.get("is_null_level")]
    rest = sum(lv["m_probability"] for lv in levels[:-1])
    for lv in levels[:-1]:
        lv["m_probability"] *= (1 - share) / rest
    levels[-1]["m_probability"] = share
    return model
