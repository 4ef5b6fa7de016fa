"""Helpers shared by tests (importable as `helpers`; tests/ is on pytest's pythonpath)."""

from __future__ import annotations

from pathlib import Path

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
