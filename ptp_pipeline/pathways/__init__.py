"""Derived pathway tables and headline figures."""

from ptp_pipeline.pathways.summary import Headline, headline, top_cost_share

__all__ = ["Headline", "headline", "top_cost_share"]
