"""Derived pathway tables, headline figures and disclosure control for what leaves the restricted zone."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ptp_pipeline.pathways.concentration import concentration_curve, gini
from ptp_pipeline.pathways.derive import DERIVED_TABLES, RebuildResult, rebuild_tables
from ptp_pipeline.pathways.disclosure import ProtectedTable, protect_counts, protect_grouped, protect_table
from ptp_pipeline.pathways.families import FamiliesSection, families_html, families_section
from ptp_pipeline.pathways.households import rebuild_households
from ptp_pipeline.pathways.premises import rebuild_premises
from ptp_pipeline.pathways.published import publish
from ptp_pipeline.pathways.research import rebuild_research
from ptp_pipeline.pathways.summary import Headline, headline, top_cost_share
from ptp_pipeline.pathways.unit_costs import CostCoverage, apply_unit_costs, cost_coverage

if TYPE_CHECKING:
    from ptp_pipeline.runtime import Runtime

__all__ = [
    "DERIVED_TABLES",
    "CostCoverage",
    "FamiliesSection",
    "Headline",
    "ProtectedTable",
    "RebuildResult",
    "apply_unit_costs",
    "concentration_curve",
    "cost_coverage",
    "families_html",
    "families_section",
    "gini",
    "headline",
    "protect_counts",
    "protect_grouped",
    "protect_table",
    "rebuild",
    "rebuild_households",
    "rebuild_tables",
    "top_cost_share",
]


def rebuild(rt: Runtime) -> RebuildResult:
    """The derive stage: unit costs applied to events without a partner's cost (the costs files are read
    first, so a broken one changes nothing), households (out of the merge since merges became O(extract)),
    every derived pathway table with the project's top share, the licensed premises and the harm attributed
    to them, then the two tiers others read: the
    generalised research tables and the published aggregates and report (CLI, DAG, demo)."""
    from ptp_pipeline.protocol.costs import load_costs

    costs = load_costs(rt.settings.protocols_dir)
    wh = rt.warehouse
    with wh.transaction():
        apply_unit_costs(wh, costs)
        rebuild_households(wh, rt.project)
        result = rebuild_tables(wh, rt.project.top_share)
        places = rebuild_premises(wh, rt.project, rt.protocols)
    with wh.transaction():
        tiers = rebuild_research(wh, rt.project.research)
        tiers |= publish(wh, rt.project)
    return RebuildResult({**{f"shared.{t}": n for t, n in result.rows.items()}, **places, **tiers})
