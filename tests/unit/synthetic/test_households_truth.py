"""Synthetic households: truth spells, moves, communal establishments, UPRN rates, addresses that normalise."""

from __future__ import annotations

import pandas as pd
import pytest

from ptp_pipeline.privacy.address import address_parts
from ptp_pipeline.synthetic import SyntheticConfig, SyntheticResult, generate

CONFIG = SyntheticConfig(n_persons=800, seed=5)
DATE = {"council": ("contact_date", "%d/%m/%Y", "address_line1"), "health": ("attendance_date", "%Y-%m-%d", "address"),
        "police": ("occurred_on", "%d/%m/%Y", "home_address")}


@pytest.fixture(scope="module")
def result(tmp_path_factory: pytest.TempPathFactory) -> SyntheticResult:
    return generate(tmp_path_factory.mktemp("households"), CONFIG)


@pytest.fixture(scope="module")
def spells(result: SyntheticResult) -> pd.DataFrame:
    return pd.read_csv(result.truth_dir / "households.csv", dtype=str, keep_default_na=False)


def rows(result: SyntheticResult, partner: str) -> pd.DataFrame:
    ef = next(e for e in result.extracts if e.partner == partner)
    raw = pd.read_csv(ef.path, dtype=str, keep_default_na=False)
    truth = pd.read_csv(result.truth_dir / f"{partner}_{ef.dataset}.csv", dtype={"person_id": str})
    col, fmt, line = DATE[partner]
    return raw.assign(person_id=truth.person_id, day=pd.to_datetime(raw[col], format=fmt, errors="coerce"),
                      line=raw[line])[~truth.is_invalid & ~truth.is_duplicate]


def test_spells_cover_the_period_and_movers_split_at_the_move(result: SyntheticResult, spells: pd.DataFrame) -> None:
    assert list(spells.columns) == ["person_id", "address_id", "from", "to", "household_id", "communal_kind", "role"]
    persons = result.persons.set_index("person_id")
    count = spells.groupby("person_id").size()
    assert set(count.index) == set(persons.index)
    movers = persons.index[persons.moved_on != ""]
    assert len(movers) > 40 and (count[movers] == 2).all() and (count.drop(movers) == 1).all()
    second = spells[spells.person_id.isin(movers)].groupby("person_id").nth(1).set_index("person_id")
    assert (second["from"] == persons.loc[second.index, "moved_on"]).all()
    kinds = set(spells.communal_kind) - {""}
    assert kinds <= {"hostel", "hmo", "care_home", "prison"} and len(kinds) >= 2
    assert (spells.household_id[spells.communal_kind != ""] == "").all()
    assert (spells.household_id[spells.communal_kind == ""] != "").all()
    sizes = spells[spells.household_id != ""].groupby("household_id").person_id.nunique()
    assert (sizes >= 2).mean() > 0.3, "couples and children, not only people alone"


def test_family_members_mostly_share_a_surname(result: SyntheticResult, spells: pd.DataFrame) -> None:
    first = spells.drop_duplicates("person_id").merge(result.persons[["person_id", "surname"]], on="person_id")
    family = first[first.role.isin(["partner", "child"])]
    heads = first[first.role == "head"].set_index("household_id").surname
    same = (family.surname.to_numpy() == heads.reindex(family.household_id).to_numpy()).mean()
    assert 0.7 <= same <= 0.95


@pytest.mark.parametrize(("partner", "low", "high"), [("council", 0.85, 0.95), ("police", 0.02, 0.08)])
def test_uprn_rates(result: SyntheticResult, partner: str, low: float, high: float) -> None:
    r = rows(result, partner)
    with_address = r[r.line != ""]
    assert low <= (with_address.uprn != "").mean() <= high
    assert with_address.uprn[with_address.uprn != ""].str.fullmatch(r"\d{12}").all()
    assert "uprn" not in rows(result, "health")


def test_each_true_home_normalises_to_one_address(result: SyntheticResult, spells: pd.DataFrame) -> None:
    s = spells.assign(start=pd.to_datetime(spells["from"]), end=pd.to_datetime(spells["to"]))
    frames = []
    for partner in DATE:
        r = rows(result, partner)
        r = r[r.line != ""].merge(s, on="person_id")
        frames.append(r[(r.day >= r.start) & (r.day <= r.end)][["address_id", "line"]])
    lines = pd.concat(frames, ignore_index=True)
    parts = address_parts(lines.line.astype("string")).fillna("")
    key = parts.flat + "|" + parts.number + "|" + parts.street
    agree = key.groupby(lines.address_id.to_numpy()).agg(lambda k: k.value_counts(normalize=True).iloc[0])
    assert (parts.number != "").all() and (parts.street != "").all()
    assert (key.groupby(lines.address_id.to_numpy()).transform(lambda k: (k == k.mode()[0]).mean())).mean() > 0.985
    assert agree.min() >= 0.5
