"""The report's families section: household figures with disclosure control, and no address.

Issue 8's HTML report is not on this branch, so this module gives the section's data
(`families_section`) and a self-contained HTML fragment (`families_html`) for the report to
include. Every count passes `suppressed` (below the project's min_count withheld, others
rounded); shares are shown only beside a count that could be published.
"""

from __future__ import annotations

import html
from dataclasses import dataclass

from ptp_pipeline.pathways.disclosure import round_amount
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
    priority_cost: float | None = None  # £ carried by the priority families (rounded; dominance rule)
    household_count: int = 0  # true number, only to choose the wording of an empty section (never shown)


def families_section(wh: Warehouse, project: ProjectConfig) -> FamiliesSection:
    s = project.suppression

    def count(sql: str) -> str:
        return suppressed(int(wh.scalar(sql) or 0), s.min_count, s.round_to)

    n_priority = int(wh.scalar("SELECT count(*) FROM shared.cohort_priority_families") or 0)
    total = float(wh.scalar("SELECT coalesce(sum(total_cost), 0) FROM shared.household") or 0)
    top = float(wh.scalar("SELECT coalesce(sum(total_cost), 0) FROM shared.cohort_priority_families") or 0)
    rows = wh.query("SELECT band, households, cost_share FROM shared.household_cost_concentration")
    top_costs = wh.query("SELECT total_cost FROM shared.cohort_priority_families")["total_cost"].astype(float)
    lead = float(top_costs.nlargest(s.dominance_top).sum()) if len(top_costs) else 0.0
    dominated = lead > s.dominance_share * top
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
        priority_cost=round_amount(top) if n_priority >= s.min_count and top > 0 and not dominated else None,
        household_count=int(wh.scalar("SELECT count(*) FROM shared.household") or 0),
    )


def _words(count: str) -> str:
    """A published count in words: "<8" reads "fewer than 8"."""
    return f"fewer than {count[1:]}" if count.startswith("<") else f"{int(count):,}"


def families_html(section: FamiliesSection, top_share: float = 0.2) -> str:
    """The families section as an HTML fragment (escaped; counts already suppressed). An empty or too-small
    section says so in a sentence instead of showing withheld figures around an empty table."""
    e = html.escape
    head = '<section><h2 id="families">Families and households</h2>'
    if section.household_count == 0:
        return (head + '<p class="empty">No households can be shown: no partner shares address data yet, or no two '
                "people were seen at one address at the same time. Priority families need address data from at least "
                "one partner (see docs/protocols.md, addresses).</p></section>")
    if section.households.startswith("<"):
        return (head + f'<p class="empty">Too few households ({e(_words(section.households))}) are in the data for '
                "any household figure to be published safely.</p></section>")
    from ptp_pipeline.report.summary import money_text

    rows = "".join(
        f"<tr><td>{e(band)}</td><td>{e(_words(n))}</td><td>{'withheld' if c is None else f'{c:.0%}'}</td></tr>"
        for band, n, c in section.concentration)
    if section.priority_cost_share is None:
        carry = "; their share of household cost cannot be published (too few households)"
    else:
        cost = "" if section.priority_cost is None else f" ({e(money_text(section.priority_cost))})"
        carry = f", carrying {section.priority_cost_share:.0%} of all household cost{cost}"
    return (
        head
        + f"<p>{e(_words(section.households))} households ({e(_words(section.multi_person_households))} of two or "
        f"more people); {e(_words(section.persons_in_households))} people placed in a household. "
        + ("" if section.communal_addresses == "some" else f"{e(_words(section.communal_addresses))} ")
        + "communal establishments (care homes, hostels, prisons) are never counted as households.</p>"
        f"<p>Priority families, the most costly {top_share:.0%} of households: {e(_words(section.priority_families))} "
        f"households{carry}; {e(_words(section.priority_multi_agency))} of them known to two or more agencies.</p>"
        '<table class="wide"><thead><tr><th>households</th><th>number</th><th>share of cost</th></tr></thead>'
        f"<tbody>{rows}</tbody></table>"
        '<p class="method"><b>Method.</b> Counts below the disclosure threshold are withheld and others rounded; '
        "a £ figure is withheld where one household carries more than half of it.</p></section>"
    )
