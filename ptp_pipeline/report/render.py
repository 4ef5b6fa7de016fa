"""Render the pathways report: one self-contained HTML file (inline CSS, SVG and script; no network)."""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import UTC, datetime
from importlib.resources import files
from pathlib import Path
from typing import Any

import jinja2
import pandas as pd
from markupsafe import Markup, escape

from ptp_pipeline.protocol.model import ProjectConfig
from ptp_pipeline.report import charts
from ptp_pipeline.report.aggregates import ReportData, report_data
from ptp_pipeline.warehouse.base import Warehouse


def fmt_count(value: Any) -> str:
    return "withheld" if value is None or pd.isna(value) else f"{int(value):,}"


def fmt_share(value: Any) -> str:
    return "withheld" if value is None or pd.isna(value) else f"{float(value):.0%}"


def table_cell(value: Any, formatter: Callable[[Any], str] = fmt_count) -> Markup:
    if value is None or pd.isna(value):
        return Markup('<td class="withheld">withheld</td>')
    return Markup("<td>{}</td>").format(formatter(value))


def _charts(data: ReportData) -> dict[str, Markup]:
    overlap = data.overlap[data.overlap["kind"] == "cell"]
    monthly = data.monthly.table.iloc[:-1, :-1]
    return {
        "pareto": Markup(charts.pareto_svg(data.pareto, data.headline.top_share)),
        "flows": Markup(charts.flow_svg(data.flows)),
        "overlap": Markup(charts.bar_svg(
            overlap["label"].tolist(), [None if pd.isna(v) else float(v) for v in overlap["count"]],
            "Persons known to each combination of agencies", "overlap")),
        "monthly": Markup(charts.lines_svg(monthly, "Events per month by agency", "monthly")),
    }


def template(name: str) -> jinja2.Template:
    """A report template (they extend templates/base.html: inline CSS, no network, the contents list)."""
    folder = files("ptp_pipeline.report").joinpath("templates")
    env = jinja2.Environment(loader=jinja2.FunctionLoader(lambda n: folder.joinpath(n).read_text("utf-8")),
                             autoescape=True, undefined=jinja2.StrictUndefined, keep_trailing_newline=True)
    return env.get_template(name)


def write_atomic(out: Path, html: str) -> Path:
    """Write `out` so a reader never sees half a file."""
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    tmp.write_text(html, encoding="utf-8")
    tmp.replace(out)
    return out


def render_html(data: ReportData, project: ProjectConfig, generated_on: str, families: str = "") -> str:
    page = template("report.html")
    agencies = sorted(set(data.flows["from_agency"]) | set(data.monthly.table.columns[:-1]))
    return page.render(
        project=project.project, h=data.headline, rule=data.rule, generated_on=escape(generated_on),
        n_agencies=len(agencies), charts=_charts(data), flows=data.flows.to_dict(orient="records"),
        overlap=data.overlap.to_dict(orient="records"), monthly=data.monthly.table, quality=data.quality.table,
        quality_labels=data.quality_labels, fmt=fmt_count, pct=fmt_share, cell=table_cell, families=Markup(families),
    )


def write_report(wh: Warehouse, project: ProjectConfig, out: Path, generated_on: str | None = None,
                 tables_dir: Path | None = None) -> Path:
    """Write the report to `out` atomically (a reader never sees half a file), and optionally its
    protected tables as CSV files in `tables_dir`; returns the report's path."""
    from ptp_pipeline.report.export import write_tables

    stamp = generated_on or datetime.now(UTC).strftime("%d %B %Y %H:%M UTC")
    from ptp_pipeline.pathways.families import families_html, families_section

    data = report_data(wh, project)
    # The families section's fragment is escaped and its counts suppressed where it is built.
    html = render_html(data, project, stamp, families_html(families_section(wh, project), project.top_share))
    if tables_dir is not None:
        write_tables(data, tables_dir)
    return write_atomic(out, html)
