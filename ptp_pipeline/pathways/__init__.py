"""Derived pathway tables and headline figures."""

from ptp_pipeline.pathways.families import FamiliesSection, families_html, families_section
from ptp_pipeline.pathways.households import rebuild_households
from ptp_pipeline.pathways.summary import Headline, headline, top_cost_share

__all__ = ["FamiliesSection", "Headline", "families_html", "families_section", "headline", "rebuild_households",
           "top_cost_share"]
