"""The pathways report for partnership boards: protected aggregates rendered as one self-contained HTML file."""

from ptp_pipeline.report.aggregates import ReportData, report_data
from ptp_pipeline.report.export import published_tables, write_tables
from ptp_pipeline.report.render import render_html, write_report

__all__ = ["ReportData", "published_tables", "render_html", "report_data", "write_report", "write_tables"]
