"""The report's families section: household figures with disclosure control, and no address.

Issue 8's HTML report is not on this branch, so this module gives the section's data
(`families_section`) and a self-contained HTML fragment (`families_html`) for the report to
include. Every count passes `suppressed` (below the project's min_count withheld, others
rounded); shares are shown only beside a count that could be published.
"""

from __future__ import annotations

import html
from dataclasses import dataclass

from ptp_pipeline.pathways.households import suppressed
from ptp_pipeline.protocol import ProjectConfig
from ptp_pipeline.warehouse.base import Warehouse


@dataclass(frozen=True)
class FamiliesSection:
    households: str
    multi_person_households: str
    persons_in_households: str
    communal_addresses: str
    priority_families: str
    priority_cost_share: float | None  # share of household cost carried by the priority families
    priority_multi_agency: str  # priority families known to two or more agencies
    concentration: list[tuple[str, str, float | None]]  # band, households (suppressed), cost share


def families_section(wh: Warehouse, project: ProjectConfig) -> FamiliesSection:
    s = project.suppression

    def count(sql: str) -> str:
        return suppressed(int(wh.scalar(sql) or 0), s.min_count, s.round_to)

    n_priority = int(wh.scalar("SELECT count(*) FROM shared.cohort_priority_families") or 0)
    total = float(wh.scalar("SELECT coalesce(sum(total_cost), 0) FROM shared.household") or 0)
    top = float(wh.scalar("SELECT coalesce(sum(total_cost), 0) FROM shared.cohort_priority_families") or 0)
    rows = wh.query("SELECT band, households, cost_share FROM shared.household_cost_concentration")
    return FamiliesSection(
        households=count("SELECT count(*) FROM shared.household"),
        multi_person_households=count("SELECT count(*) FROM shared.household WHERE size_band <> '1'"),
        persons_in_households=count("SELECT count(DISTINCT person_id) FROM shared.household_member"),
        # Restricted: an analyst's login may not read it (PostgreSQL roles), so the count is not shown then.
        communal_addresses=(count("SELECT count(DISTINCT address_id) FROM restricted.residence WHERE communal")
                            if wh.can_read("restricted.residence") else "some"),
        priority_families=suppressed(n_priority, s.min_count, s.round_to),
        priority_cost_share=round(top / total, 3) if total and n_priority >= s.min_count else None,
        priority_multi_agency=count("SELECT count(*) FROM shared.cohort_priority_families c "
                                    "JOIN shared.household h USING (household_id) WHERE h.n_agencies >= 2"),
        concentration=[(str(r.band), str(r.households), None if r.cost_share != r.cost_share else float(r.cost_share))
                       for r in rows.itertuples(index=False)],
    )


def families_html(section: FamiliesSection, top_share: float = 0.2) -> str:
    """The families section as an HTML fragment (escaped; counts already suppressed)."""
    e = html.escape
    share = "withheld" if section.priority_cost_share is None else f"{section.priority_cost_share:.0%}"
    rows = "".join(
        f"<tr><td>{e(band)}</td><td>{e(n)}</td><td>{'withheld' if c is None else f'{c:.0%}'}</td></tr>"
        for band, n, c in section.concentration)
    return (
        '<section><h2 id="families">Families and households</h2>'
        f"<p>{e(section.households)} households ({e(section.multi_person_households)} of two or more people), "
        f"{e(section.persons_in_households)} people placed in a household; "
        f"{e(section.communal_addresses)} communal establishments are never counted as households.</p>"
        f"<p>Priority families (top {top_share:.0%} of households by combined cost): "
        f"{e(section.priority_families)} households carrying {share} of household cost; "
        f"{e(section.priority_multi_agency)} of them known to two or more agencies.</p>"
        "<table><thead><tr><th>households</th><th>number</th><th>share of cost</th></tr></thead>"
        f"<tbody>{rows}</tbody></table>"
        "<p>Counts below the disclosure threshold are withheld and others rounded.</p></section>"
    )
