"""The published tier: what partner analysts read (`published` schema, `ptp export`, `ptp report`).

Only aggregates that passed disclosure control: the report's protected tables (`report.published_tables`,
which are made from `report_data`, where every count is suppressed and rounded), the families figures
and the report itself. Nothing here is about one person, so a partner holding its own raw extract finds
no row to join it to (tests/security/test_tiers.py). Rebuilt by the pipeline at the derive stage, where
the record-level tables can be read; an analyst's login reads the result and nothing else.
"""

from __future__ import annotations

import tempfile
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from ptp_pipeline.protocol.model import ProjectConfig
from ptp_pipeline.warehouse.base import Warehouse

REPORT = "pathways"

# Published table -> its columns, in the order the table holds them.
PUBLISHED_TABLES: dict[str, tuple[str, ...]] = {
    "headline": ("measure", "value"),
    "cost_concentration": ("top_percent", "cost_share"),
    "transitions": ("from_agency", "to_agency", "persons", "median_days"),
    "agency_overlap": ("known_to", "kind", "persons", "cost_share"),
    "monthly_activity": ("month", "agency", "events"),
    "data_quality": ("extract", "accepted", "quarantined", "received", "partner", "dataset", "received_on", "status"),
    "household_cost_concentration": ("band", "households", "cost_share"),
    "families": ("measure", "value"),
    "premises_harm": ("grouping", "label", "premises", "events", "events_nearby", "events_by_postcode", "persons",
                      "harm_cost", "rate", "rate_low", "rate_high"),
}


def _long_monthly(frame: pd.DataFrame) -> pd.DataFrame:
    """The report's month x agency table (with totals) as one row per month and agency."""
    long = frame.melt(id_vars="month", var_name="agency", value_name="events")
    return long.astype({"events": "Int64"})


def published_frames(wh: Warehouse, project: ProjectConfig) -> dict[str, pd.DataFrame]:
    """Every published table, computed from the record-level tables (the pipeline's login only)."""
    from ptp_pipeline.pathways.families import families_section
    from ptp_pipeline.report import published_tables, report_data

    frames = published_tables(report_data(wh, project))
    frames["monthly_activity"] = _long_monthly(frames["monthly_activity"])
    frames["household_cost_concentration"] = wh.query(
        "SELECT band, households, cost_share FROM shared.household_cost_concentration"
    )
    families = asdict(families_section(wh, project))
    families.pop("concentration")  # published above, row by row
    frames["families"] = pd.DataFrame(
        {"measure": list(families), "value": [None if v is None else str(v) for v in families.values()]}
    )
    from ptp_pipeline.report.places import places_section

    frames["premises_harm"] = places_section(wh, project).table  # issue 20: protected, as the report shows it
    return {name: frames[name][list(columns)] for name, columns in PUBLISHED_TABLES.items()}


def report_html(wh: Warehouse, project: ProjectConfig) -> str:
    """The pathways report as the pipeline renders it (every figure already protected)."""
    from ptp_pipeline.report import write_report

    with tempfile.TemporaryDirectory(prefix="ptp-report-") as folder:
        return write_report(wh, project, Path(folder) / "report.html").read_text(encoding="utf-8")


def publish(wh: Warehouse, project: ProjectConfig) -> dict[str, int]:
    """Replace the published tables and the stored report (call inside the derive stage's transaction).

    With no persons yet there is nothing to publish: the tier is left empty (as `ptp report` says)."""
    for name in PUBLISHED_TABLES:
        wh.execute(f"DELETE FROM published.{name}")
    wh.execute("DELETE FROM published.report WHERE name = ?", (REPORT,))
    if not wh.scalar("SELECT count(*) FROM shared.person"):
        return {f"published.{name}": 0 for name in PUBLISHED_TABLES}
    frames = published_frames(wh, project)
    html = report_html(wh, project)
    for name, frame in frames.items():
        if not frame.empty:
            wh.insert_frame(f"published.{name}", frame)
    wh.execute(
        "INSERT INTO published.report (name, built_at, html) VALUES (?, ?, ?)",
        (REPORT, datetime.now(UTC).replace(tzinfo=None, microsecond=0), html),
    )
    return {f"published.{name}": len(frame) for name, frame in frames.items()}


def stored_report(wh: Warehouse) -> str | None:
    """The report as last published, for any login that reads the published tier."""
    html = wh.scalar("SELECT html FROM published.report WHERE name = ?", (REPORT,))
    return None if html is None else str(html)
