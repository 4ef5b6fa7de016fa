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
from ptp_pipeline.report.summary import Figures, money_text, previous_figures, save_figures, summary_text
from ptp_pipeline.warehouse.base import Warehouse


def _fmt(value: Any) -> str:
    return "withheld" if value is None or pd.isna(value) else f"{int(value):,}"


def _pct(value: Any) -> str:
    return "withheld" if value is None or pd.isna(value) else f"{float(value):.0%}"


def _money(value: Any) -> str:
    return money_text(None if value is None or pd.isna(value) else float(value))


def _cell(value: Any, formatter: Callable[[Any], str] = _fmt) -> Markup:
    if value is None or pd.isna(value):
        return Markup('<td class="withheld">withheld</td>')
    return Markup("<td>{}</td>").format(formatter(value))


def _charts(data: ReportData) -> dict[str, Markup]:
    overlap = data.overlap[data.overlap["kind"] == "cell"]
    monthly = data.monthly.table.iloc[:-1, :-1]
    costs = data.type_costs[data.type_costs["kind"] == "cell"] if len(data.type_costs) else data.type_costs
    return {
        "costs": Markup(charts.bar_svg(
            costs["label"].tolist() if len(costs) else [],
            [None if pd.isna(v) else float(v) for v in costs["cost"]] if len(costs) else [],
            "Cost by agency and event type", "costs", unit="", shown=money_text)),
        "pareto": Markup(charts.pareto_svg(data.pareto, data.headline.top_share)),
        "flows": Markup(charts.flow_svg(data.flows)),
        "overlap": Markup(charts.bar_svg(
            overlap["label"].tolist(), [None if pd.isna(v) else float(v) for v in overlap["count"]],
            "Persons known to each combination of agencies", "overlap")),
        "monthly": Markup(charts.lines_svg(monthly, f"Events per {data.period} by agency", "monthly")),
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


def render_html(data: ReportData, project: ProjectConfig, generated_on: str, families: str = "",
                previous: Figures | None = None, places: str = "") -> str:
    page = template("report.html")
    agencies = sorted(set(data.flows["from_agency"]) | set(data.monthly.table.columns[:-1]))
    published_flows = data.flows[data.flows["persons"].notna()]
    return page.render(
        project=project.project, h=data.headline, m=data.headline.money, rule=data.rule,
        generated_on=escape(generated_on), n_agencies=len(agencies), charts=_charts(data),
        summary=summary_text(data, len(agencies), previous, Figures.of(data, generated_on)),
        flows=published_flows.to_dict(orient="records"), flows_withheld=len(data.flows) - len(published_flows),
        type_flows=data.type_flows.to_dict(orient="records"), type_costs=data.type_costs.to_dict(orient="records"),
        unit_costs=data.unit_costs.to_dict(orient="records"), period=data.period,
        overlap=data.overlap.to_dict(orient="records"), monthly=data.monthly.table, quality=data.quality.table,
        quality_labels=data.quality_labels, fmt=_fmt, pct=_pct, money=_money, cell=_cell, families=Markup(families),
        places=Markup(places),
    )


def write_report(wh: Warehouse, project: ProjectConfig, out: Path, generated_on: str | None = None,
                 tables_dir: Path | None = None) -> Path:
    """Write the report to `out` atomically (a reader never sees half a file), and optionally its
    protected tables as CSV files in `tables_dir`; returns the report's path."""
    from ptp_pipeline.report.export import write_tables

    stamp = generated_on or datetime.now(UTC).strftime("%d %B %Y %H:%M UTC")
    from ptp_pipeline.pathways.families import families_html, families_section

    data = report_data(wh, project)
    previous = previous_figures(out)
    # The families section's fragment is escaped and its counts suppressed where it is built.
    from ptp_pipeline.report.places import places_html, places_section

    html = render_html(data, project, stamp, families_html(families_section(wh, project), project.top_share),
                       previous, places_html(places_section(wh, project), project.top_share,
                                                       project.places.distance_bands_m))
    if tables_dir is not None:
        write_tables(data, tables_dir)
    write_atomic(out, html)
    save_figures(out, Figures.of(data, stamp))  # what the next report compares with (published figures only)
    return out
