"""Aggregate exports: the report's protected tables as CSV files, for slides and spreadsheets.

Only what `report_data` has already protected is written: an export can never hold more than the
report shows. Withheld entries are written as "withheld", never as an empty cell that reads as 0.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ptp_pipeline.report.aggregates import ReportData

WITHHELD = "withheld"


def published_tables(data: ReportData) -> dict[str, pd.DataFrame]:
    """Every table of the report, keyed by file stem."""
    h, m = data.headline, data.headline.money
    headline = pd.DataFrame({
        "measure": ["persons", "persons known to 2+ agencies", f"cost share of top {h.top_share:.0%} of persons",
                    "Gini coefficient of cost", "total cost (GBP)", f"cost of top {h.top_share:.0%} of persons (GBP)"],
        "value": [h.persons, h.multi_agency, h.top_cost_share, h.gini, m.total if m else None, m.top if m else None],
    })
    overlap = data.overlap.rename(columns={"label": "known_to", "count": "persons"})
    return {
        "headline": headline,
        "cost_concentration": data.pareto,
        "transitions": data.flows,
        "transitions_by_event_type": data.type_flows,
        "cost_by_event_type": data.type_costs,
        "agency_overlap": overlap[["known_to", "kind", "persons", "cost", "cost_share"]],
        "monthly_activity": data.monthly.table.rename_axis("month").reset_index(),
        "data_quality": data.quality.table.rename(columns={"Total": "received"})
        .join(data.quality_labels).rename_axis("extract").reset_index(),
    }


def write_tables(data: ReportData, folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, frame in published_tables(data).items():
        path = folder / f"{name}.csv"
        frame.astype(object).where(frame.notna(), WITHHELD).to_csv(path, index=False, lineterminator="\n")
        written.append(path)
    return written
