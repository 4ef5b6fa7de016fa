"""Unit costs (issue 19.3): a versioned costs file per theme, checked with file:line errors, uprated to one
price year, applied at derive time to events whose partner sent no cost, revisable without re-ingest."""

from __future__ import annotations

import shutil
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pytest
from helpers import assert_conserved, write_csv

from ptp_pipeline.errors import ProtocolError
from ptp_pipeline.pathways import rebuild
from ptp_pipeline.protocol.costs import load_costs, load_costs_file, unit_cost, unit_cost_table
from ptp_pipeline.runtime import Runtime
from ptp_pipeline.settings import load_settings

REPO = Path(__file__).resolve().parents[3]
COSTS = REPO / "protocols" / "costs" / "alcohol_and_drugs.yaml"


def costs_copy(tmp_path: Path, old: str = "", new: str = "") -> Path:
    target = tmp_path / "costs" / "alcohol_and_drugs.yaml"
    target.parent.mkdir(parents=True, exist_ok=True)
    text = COSTS.read_text(encoding="utf-8")
    if old:
        assert old in text
        text = text.replace(old, new, 1)
    target.write_text(text, encoding="utf-8")
    return target


def test_the_repos_costs_file_loads_and_uprates_to_its_price_year() -> None:
    costs = load_costs(REPO / "protocols")
    assert [c.theme for c in costs] == ["alcohol_and_drugs"]
    # 480 in 2019 prices, index 83.0 -> 100.0 in 2024: 480 * 100 / 83 = 578.313...
    assert unit_cost(costs, "police", "arrest") == Decimal("578.31")
    # Already in the price year: unchanged.
    table = unit_cost_table(costs)
    assert (table["price_year"] == 2024).all() and table["source"].str.len().min() >= 5
    assert unit_cost(costs, "police", "no_such_type") is None
    assert len(table) == 9 and table[["agency", "event_type"]].duplicated().sum() == 0


@pytest.mark.parametrize(
    ("old", "new", "where", "says"),
    [
        (
            'price_year: 2019,\n     source: "Home Office, The economic',
            'price_year: 2018,\n     source: "Home Office, The economic',
            "costs.6.price_year",
            "2018 has no price index value",
        ),
        ("event_type: arrest,", "event_type: incident,", "costs.7.event_type", "already costed in entry 7"),
        ("unit_cost: 1300,", "unit_cost: -5,", "costs.1.unit_cost", "greater than or equal to 0"),
        ("index_source:", "index_sauce:", "index_sauce", "unknown key"),
    ],
)
def test_a_bad_costs_file_names_file_line_and_field(tmp_path: Path, old: str, new: str, where: str, says: str) -> None:
    path = costs_copy(tmp_path, old, new)
    with pytest.raises(ProtocolError) as caught:
        load_costs_file(path)
    message = caught.value.message
    original = COSTS.read_text(encoding="utf-8")
    line = original[: original.find(old)].count("\n") + 1  # the edited line
    assert f"{path}:{line} {where}: " in message and says in message, message


def test_a_theme_must_match_its_file_name(tmp_path: Path) -> None:
    path = costs_copy(tmp_path, "theme: alcohol_and_drugs", "theme: drugs_only")
    with pytest.raises(ProtocolError, match="does not match the file name"):
        load_costs_file(path)


POLICE_HEADER = [
    "surname",
    "forenames",
    "birth_date",
    "home_postcode",
    "sex",
    "nhs_number",
    "occurred_on",
    "incident_type",
]


def protocols_without_police_cost(tmp_path: Path) -> Path:
    """The repo's protocols, with the police extract carrying no cost column."""
    target = tmp_path / "protocols"
    shutil.copytree(REPO / "protocols", target)
    police = target / "police_incidents.yaml"
    text = police.read_text(encoding="utf-8")
    for line in (
        "  - {name: estimated_cost, type: decimal, role: cost, treatment: keep, required: true, "
        "constraints: {min: 0, max: 100000}}\n",
        "  cost: estimated_cost\n",
    ):
        assert line in text
        text = text.replace(line, "")
    police.write_text(text, encoding="utf-8")
    return target


def test_unit_costs_cost_a_partner_without_a_cost_column_and_revise_without_reingest(
    wh_env: dict[str, str], tmp_path: Path
) -> None:
    from ptp_pipeline.pipeline import ingest

    protocols = protocols_without_police_cost(tmp_path)
    settings = {**wh_env, "PTP_PROTOCOLS_DIR": str(protocols)}
    rows = [
        ["Smith", "John", "32874", "LS6 2AB", "M", "", "01/05/2024", "arrest"],
        ["Smith", "John", "32874", "LS6 2AB", "M", "", "03/05/2024", "custody"],
        ["Jones", "Mary", "31000", "LS1 1AA", "F", "943 476 5919", "03/06/2024", "incident"],
    ]
    rt = Runtime(load_settings(settings))
    try:
        extract = write_csv(tmp_path / "in" / "police.csv", POLICE_HEADER, rows)
        assert ingest(rt, extract, "police", "incidents").status == "merged"
        assert_conserved(rt)
        assert rt.warehouse.scalar("SELECT count(*) FROM shared.pathway_event WHERE cost IS NULL") == 3
        rebuild(rt)
        events = rt.warehouse.query("SELECT event_type, cost, cost_source FROM shared.event_cost ORDER BY event_type")
        assert events["cost_source"].tolist() == ["unit cost"] * 3
        assert events["cost"].astype(float).tolist() == [578.31, 1089.45, 301.2]  # arrest, custody, incident
        persons = rt.warehouse.query(
            "SELECT total_cost, partner_cost, unit_costed_events FROM shared.person_cost ORDER BY total_cost"
        )
        assert persons["total_cost"].astype(float).tolist() == [301.2, 1667.76]
        assert persons["partner_cost"].astype(float).sum() == 0 and persons["unit_costed_events"].sum() == 3
        curve_total = float(rt.warehouse.scalar("SELECT max(cost) FROM shared.cost_concentration") or 0)
        assert curve_total == pytest.approx(1968.96)
    finally:
        rt.close()

    # A new edition of the costs: the next derive uses it, with no extract sent again.
    costs = protocols / "costs" / "alcohol_and_drugs.yaml"
    revised = costs.read_text().replace("unit_cost: 480,", "unit_cost: 830,").replace("version: 1", "version: 2")
    costs.write_text(revised)
    rt = Runtime(load_settings(settings))
    try:
        rebuild(rt)
        arrest = rt.warehouse.scalar("SELECT cost FROM shared.event_cost WHERE event_type = 'arrest'")
        assert float(arrest) == 1000.0  # 830 * 100 / 83
        used = rt.warehouse.query("SELECT DISTINCT version FROM shared.unit_cost")
        assert used["version"].tolist() == [2]
    finally:
        rt.close()


def test_a_partners_own_cost_wins_over_the_unit_cost(pathways_env: dict[str, str]) -> None:
    rt = Runtime(load_settings(pathways_env))
    try:
        frame = rt.warehouse.query(
            "SELECT e.cost AS partner, c.cost AS costed, c.cost_source FROM "
            "shared.pathway_event e JOIN shared.event_cost c ON c.event_id = e.event_id"
        )
    finally:
        rt.close()
    assert len(frame) > 3000 and (frame["cost_source"] == "partner").all()
    pd.testing.assert_series_equal(frame["partner"].astype(float), frame["costed"].astype(float), check_names=False)


def test_a_broken_costs_file_stops_the_derive_before_it_changes_anything(
    rt: Runtime, tmp_path: Path, env: dict[str, str]
) -> None:
    target = tmp_path / "protocols"
    shutil.copytree(REPO / "protocols", target)
    costs = target / "costs" / "alcohol_and_drugs.yaml"
    costs.write_text(costs.read_text().replace("price_year: 2024\n", "price_year: 2031\n"))
    broken = Runtime(load_settings({**env, "PTP_PROTOCOLS_DIR": str(target)}))
    try:
        with pytest.raises(ProtocolError) as caught:
            rebuild(broken)
        assert f"{costs}:" in caught.value.message and "price_year" in caught.value.message
    finally:
        broken.close()
