"""The report's plain-language summary for a board, and what changed since the last report.

Only published (already protected) figures are used, and only they are kept beside the report
(`<report>.summary.json`) for the next one to compare against: nothing there that the page does not show.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

from ptp_pipeline.report.aggregates import ReportData

WITHHELD = "withheld"


def count_text(value: int | float | None) -> str:
    return WITHHELD if value is None else f"{int(value):,}"


def money_text(value: float | None) -> str:
    """£ for a board: millions to one decimal (£29.1m), otherwise whole pounds with separators."""
    if value is None:
        return WITHHELD
    if value >= 1_000_000:
        return f"£{value / 1_000_000:,.1f}m"
    return f"£{value:,.0f}"


@dataclass(frozen=True)
class Figures:
    """The headline figures as published, kept to compare the next report with."""

    generated_on: str
    persons: int | None
    multi_agency: int | None
    total_cost: float | None
    top_cost: float | None

    @classmethod
    def of(cls, data: ReportData, generated_on: str) -> Figures:
        h, m = data.headline, data.headline.money
        return cls(generated_on, h.persons, h.multi_agency, m.total if m else None, m.top if m else None)


def sidecar(report: Path) -> Path:
    return report.with_name(report.stem + ".summary.json")


def previous_figures(report: Path) -> Figures | None:
    """The figures of the report last written to this path, if any (a damaged file is ignored)."""
    try:
        return Figures(**json.loads(sidecar(report).read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError):
        return None


def save_figures(report: Path, figures: Figures) -> None:
    sidecar(report).write_text(json.dumps(asdict(figures), indent=2) + "\n", encoding="utf-8")


def _change(name: str, before: float | None, after: float | None, money: bool = False) -> str:
    fmt = money_text if money else count_text
    if before is None or after is None:
        return ""
    if before == after:
        return f"{name} unchanged at {fmt(after)}"
    direction = "rose" if after > before else "fell"
    return f"{name} {direction} from {fmt(before)} to {fmt(after)}"


def changes_text(previous: Figures | None, now: Figures) -> str:
    if previous is None:
        return "This is the first report written here, so there is no earlier one to compare with."
    parts = [
        p
        for p in (
            _change("people known to any agency", previous.persons, now.persons),
            _change("people known to two or more", previous.multi_agency, now.multi_agency),
            _change("total cost", previous.total_cost, now.total_cost, money=True),
        )
        if p
    ]
    if not parts:
        return f"Since the last report ({previous.generated_on}) no comparable figure could be published."
    return f"Since the last report ({previous.generated_on}): " + "; ".join(parts) + "."


def summary_text(data: ReportData, n_agencies: int, previous: Figures | None, now: Figures) -> str:
    """One paragraph a board member can read aloud."""
    h, m = data.headline, data.headline.money
    if h.persons is None:
        return (
            "Too few people are in the linked data for any figure to be published safely yet; the sections "
            "below say what can be shown. " + changes_text(previous, now)
        )
    period = f" between {h.first_month} and {h.last_month}" if h.first_month and h.last_month else ""
    text = f"{count_text(h.persons)} people were known to at least one of the {n_agencies} agencies{period}"
    if h.multi_agency is not None:
        share = f" ({h.multi_agency_share:.0%})" if h.multi_agency_share is not None else ""
        text += f"; {count_text(h.multi_agency)}{share} were known to two or more"
    text += "."
    if m is not None and m.total is not None:
        year = f" in {m.price_year} prices" if m.price_year else ""
        text += f" Their services cost {money_text(m.total)}{year}"
        if m.top is not None and h.top_cost_share is not None:
            text += (
                f", and the most costly {h.top_share:.0%} of people carried {money_text(m.top)} of it "
                f"({h.top_cost_share:.0%})"
            )
        text += "."
    return f"{text} {changes_text(previous, now)}"
