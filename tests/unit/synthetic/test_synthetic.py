"""The synthetic generator: reproducible, in the documented shape, calibrated, honestly noisy.

Most tests share one small population (600 persons); the calibration test uses the default
5,000 because overlap and cost shares are only meaningful at that size.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ptp_pipeline.privacy.nhs_number import check_digit, is_valid
from ptp_pipeline.synthetic import ExtractFile, SyntheticConfig, SyntheticResult, generate
from ptp_pipeline.synthetic.names import NICKNAMES
from ptp_pipeline.synthetic.nhs import check_digits
from ptp_pipeline.synthetic.noise import typo

SMALL = SyntheticConfig(n_persons=600, seed=7)
START, END = SMALL.start, SMALL.end
EXCEL_DAY_0 = date(1899, 12, 30)


@dataclass(frozen=True)
class Layout:
    """What the protocols expect of one extract (written here independently of the generator)."""

    columns: list[str]
    dates: dict[str, str]  # column -> strptime format, for real calendar dates
    event_date: str
    event_type: str
    event_types: set[str]
    cost: str
    forename: str
    surname: str
    postcode: str


LAYOUT = {
    ("council", "contacts"): Layout(
        ["client_ref", "nhs_number", "forename", "surname", "date_of_birth", "postcode", "address_line1",
         "uprn", "address_type", "address_from", "sex", "contact_date", "service", "unit_cost"],
        {"date_of_birth": "%d/%m/%Y", "contact_date": "%d/%m/%Y"},
        "contact_date", "service",
        {"housing_application", "homelessness_presentation", "asb_report", "social_care_contact"},
        "unit_cost", "forename", "surname", "postcode",
    ),
    ("health", "attendances"): Layout(
        ["nhs_number", "given_name", "family_name", "dob", "postcode", "address", "sex", "attendance_date",
         "activity", "alcohol_related", "drug_related", "tariff_cost"],
        {"dob": "%Y-%m-%d", "attendance_date": "%Y-%m-%d"},
        "attendance_date", "activity", {"ae_attendance", "treatment_referral"},
        "tariff_cost", "given_name", "family_name", "postcode",
    ),
    ("police", "incidents"): Layout(
        ["surname", "forenames", "birth_date", "home_postcode", "home_address", "uprn", "sex", "nhs_number",
         "occurred_on",
         "incident_type", "estimated_cost"],
        {"occurred_on": "%d/%m/%Y"},
        "occurred_on", "incident_type", {"incident", "arrest", "custody"},
        "estimated_cost", "forenames", "surname", "home_postcode",
    ),
}  # fmt: skip


def read_text_csv(path: Path) -> pd.DataFrame:
    """Every field as text, blanks kept as "" (how the pipeline's check stage sees a file)."""
    return pd.read_csv(path, dtype=str, keep_default_na=False)


def nhs_digits(values: pd.Series) -> pd.Series:
    return values.str.replace(r"[ -]", "", regex=True)


def row_is_invalid(df: pd.DataFrame, layout: Layout) -> pd.Series:
    """Independent validity check: any impossible date, bad check digit, negative cost, unknown type."""
    bad = pd.Series(False, index=df.index)
    for column, fmt in layout.dates.items():
        bad |= pd.to_datetime(df[column], format=fmt, errors="coerce").isna()
    if "birth_date" in df:
        bad |= ~df["birth_date"].str.fullmatch(r"\d{4,5}")
    digits = nhs_digits(df["nhs_number"])
    bad |= (digits != "") & ~digits.map(is_valid)
    bad |= pd.to_numeric(df[layout.cost], errors="coerce").fillna(-1) < 0
    bad |= ~df[layout.event_type].isin(layout.event_types)
    return bad


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> SyntheticResult:
    return generate(tmp_path_factory.mktemp("small"), SMALL)


def extract(result: SyntheticResult, partner: str) -> tuple[ExtractFile, pd.DataFrame, pd.DataFrame]:
    """The extract file, its rows, and its truth rows, for one partner."""
    ef = next(e for e in result.extracts if e.partner == partner)
    truth = pd.read_csv(result.truth_dir / f"{ef.partner}_{ef.dataset}.csv", dtype={"person_id": str})
    return ef, read_text_csv(ef.path), truth


def all_files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_same_seed_gives_identical_bytes_and_another_seed_differs(tmp_path: Path) -> None:
    first = all_files(generate(tmp_path / "a", SMALL).truth_dir.parent)
    again = all_files(generate(tmp_path / "b", SMALL).truth_dir.parent)
    other = all_files(generate(tmp_path / "c", SyntheticConfig(n_persons=600, seed=8)).truth_dir.parent)
    assert first == again
    assert first.keys() == other.keys()
    assert all(first[k] != other[k] for k in first)


def test_files_land_where_documented(small: SyntheticResult) -> None:
    root = small.truth_dir.parent
    expected = {
        ("council", "contacts"): "landing/council/contacts/council_contacts_20240401_20250331.csv",
        ("health", "attendances"): "landing/health/attendances/health_attendances_20240401_20250331.csv",
        ("police", "incidents"): "landing/police/incidents/police_incidents_20240401_20250331.csv",
    }
    assert {(e.partner, e.dataset): e.path.relative_to(root).as_posix() for e in small.extracts} == expected
    truth = {p.name for p in small.truth_dir.iterdir()}
    assert truth == {
        "persons.csv", "summary.json", "council_contacts.csv", "health_attendances.csv",
        "police_incidents.csv", "households.csv",
    }  # fmt: skip
    for ef in small.extracts:
        raw = ef.path.read_bytes()
        assert b"\r" not in raw and raw.endswith(b"\n")
        raw.decode("utf-8")
        assert raw.count(b"\n") - 1 == ef.rows == len(read_text_csv(ef.path))


@pytest.mark.parametrize("key", list(LAYOUT))
def test_extract_has_exactly_the_protocol_columns(small: SyntheticResult, key: tuple[str, str]) -> None:
    ef, df, _ = extract(small, key[0])
    assert list(df.columns) == LAYOUT[key].columns
    assert ef.dataset == key[1]


def test_no_truth_leaks_into_extracts(small: SyntheticResult) -> None:
    persons = small.persons
    assert persons["person_id"].str.fullmatch(r"P\d{6}").all()
    truth_only = {"person_id", "complex_needs_tier", "is_duplicate", "is_invalid", "name_group"}
    for ef in small.extracts:
        df = read_text_csv(ef.path)
        assert not truth_only & set(df.columns)
        assert not df.apply(lambda col: col.str.fullmatch(r"P\d{6}")).any().any()


def test_truth_has_one_row_per_extract_row(small: SyntheticResult) -> None:
    ids = set(small.persons["person_id"])
    for ef in small.extracts:
        _, df, truth = extract(small, ef.partner)
        assert list(truth.columns) == ["source_row", "person_id", "is_duplicate", "is_invalid"]
        assert len(truth) == len(df) == ef.rows
        assert truth["source_row"].tolist() == list(range(1, len(df) + 1))
        assert set(truth["person_id"]) <= ids
        assert truth["is_duplicate"].dtype == bool and truth["is_invalid"].dtype == bool


def test_true_persons_are_well_formed(small: SyntheticResult) -> None:
    p = pd.read_csv(small.truth_dir / "persons.csv", dtype=str, keep_default_na=False)
    assert len(p) == SMALL.n_persons and p["person_id"].is_unique
    assert p["nhs_number"].is_unique and p["nhs_number"].map(is_valid).all()
    assert p["nhs_number"].str[0].isin(["4", "6", "9"]).all()
    assert p["postcode"].str.fullmatch(r"LS([1-9]|1\d|2\d) \d[ABD-HJLNP-UW-Z]{2}").all()
    assert set(p["sex"]) == {"M", "F"} and (p["sex"] == "M").mean() > 0.6
    age = (pd.Timestamp(START) - pd.to_datetime(p["date_of_birth"], format="%Y-%m-%d")).dt.days / 365.25
    assert age.between(18, 80).all() and age.between(25, 45).mean() > 0.5
    assert p["complex_needs_tier"].astype(int).between(1, 3).all()


def test_nhs_numbers_valid_formatted_and_belong_to_the_person(small: SyntheticResult) -> None:
    true_nhs = small.persons.set_index("person_id")["nhs_number"]
    for ef in small.extracts:
        _, df, truth = extract(small, ef.partner)
        ok = ~truth["is_invalid"]
        present = df["nhs_number"] != ""
        shown = df.loc[ok & present, "nhs_number"]
        assert shown.str.fullmatch(r"\d{10}|\d{3} \d{3} \d{4}|\d{3}-\d{3}-\d{4}").all()
        digits = nhs_digits(shown)
        assert digits.map(is_valid).all()
        assert (digits.to_numpy() == true_nhs[truth.loc[ok & present, "person_id"]].to_numpy()).all()


@pytest.mark.parametrize(
    ("partner", "low", "high"), [("council", 0.25, 0.35), ("health", 0.94, 0.995), ("police", 0.01, 0.06)]
)
def test_nhs_number_presence_rates(small: SyntheticResult, partner: str, low: float, high: float) -> None:
    _, df, truth = extract(small, partner)
    assert low <= (df.loc[~truth["is_invalid"], "nhs_number"] != "").mean() <= high


@pytest.mark.parametrize("key", list(LAYOUT))
def test_dates_parse_as_documented(small: SyntheticResult, key: tuple[str, str]) -> None:
    layout = LAYOUT[key]
    _, df, truth = extract(small, key[0])
    df = df[~truth["is_invalid"]]
    for column, fmt in layout.dates.items():
        assert pd.to_datetime(df[column], format=fmt, errors="coerce").notna().all(), column
    events = pd.to_datetime(df[layout.event_date], format=layout.dates[layout.event_date])
    assert events.min() >= pd.Timestamp(START) and events.max() <= pd.Timestamp(END)
    if key[0] == "police":
        dob = df["birth_date"].astype(int).map(lambda s: EXCEL_DAY_0 + timedelta(days=s))
        assert pd.Series(dob).between(date(1940, 1, 1), date(2007, 1, 1)).all()


def test_excel_serial_uses_the_1900_system(small: SyntheticResult) -> None:
    _, df, truth = extract(small, "police")
    true_dob = small.persons.set_index("person_id")["date_of_birth"]
    serial = df["birth_date"].astype(int)
    shown = (pd.Timestamp("1899-12-30") + pd.to_timedelta(serial, unit="D")).dt.strftime("%Y-%m-%d")
    assert (shown.to_numpy() == true_dob[truth["person_id"]].to_numpy()).mean() > 0.97


@pytest.mark.parametrize("key", list(LAYOUT))
def test_invalid_rows_are_exactly_the_detectably_bad_ones(small: SyntheticResult, key: tuple[str, str]) -> None:
    _, df, truth = extract(small, key[0])
    assert (row_is_invalid(df, LAYOUT[key]) == truth["is_invalid"]).all()


def test_duplicates_and_invalid_rows_at_configured_rates(small: SyntheticResult) -> None:
    for ef in small.extracts:
        _, df, truth = extract(small, ef.partner)
        assert 0.006 <= truth["is_duplicate"].mean() <= 0.014
        assert 0.002 <= truth["is_invalid"].mean() <= 0.008
        assert (df.duplicated(keep="first") == truth["is_duplicate"]).all()
        assert not (truth["is_duplicate"] & truth["is_invalid"]).any()


def test_rows_are_shuffled(small: SyntheticResult) -> None:
    _, _, truth = extract(small, "health")
    same_as_next = (truth["person_id"] == truth["person_id"].shift()).mean()
    assert same_as_next < 0.05


def test_names_carry_realistic_noise(small: SyntheticResult) -> None:
    true_name = small.persons.set_index("person_id")
    _, df, truth = extract(small, "health")
    ok = ~truth["is_invalid"]
    given = df.loc[ok, "given_name"].to_numpy()
    formal = true_name.loc[truth.loc[ok, "person_id"], "forename"].to_numpy()
    changed = given != formal
    assert 0.02 <= changed.mean() <= 0.15
    has_nickname = np.isin(formal, list(NICKNAMES))
    nicknamed = [g in NICKNAMES.get(f, ()) for f, g in zip(formal, given, strict=True)]
    assert 0.02 <= np.sum(nicknamed) / has_nickname.sum() <= 0.09
    family = df.loc[ok, "family_name"].to_numpy()
    true_family = true_name.loc[truth.loc[ok, "person_id"], "surname"].to_numpy()
    assert any(a.upper() == b and a != b for a, b in zip(true_family, family, strict=True))


def test_movers_use_their_new_postcode_only_after_moving(small: SyntheticResult) -> None:
    persons = small.persons.set_index("person_id")
    _, df, truth = extract(small, "council")
    rows = df.assign(person_id=truth["person_id"])[~truth["is_invalid"]]
    rows = rows.join(persons[["postcode", "moved_to_postcode", "moved_on"]], on="person_id", rsuffix="_true")
    movers = rows[rows["moved_to_postcode"] != ""]
    when = pd.to_datetime(movers["contact_date"], format="%d/%m/%Y")
    moved_on = pd.to_datetime(movers["moved_on"], format="%Y-%m-%d")
    used_new = movers["postcode"] == movers["moved_to_postcode"]
    assert used_new.any()
    assert not (used_new & (when < moved_on)).any()


def test_config_rejects_nonsense() -> None:
    with pytest.raises(ValueError, match="typo_rate"):
        SyntheticConfig(typo_rate=1.5)
    with pytest.raises(ValueError, match="end"):
        SyntheticConfig(start=date(2025, 1, 1), end=date(2024, 1, 1))
    with pytest.raises(ValueError, match="share_all_three"):
        SyntheticConfig(share_all_three=0.5, share_two_plus=0.3)


def test_calibrated_to_hard_edges_and_the_80_20_rule(tmp_path: Path) -> None:
    """At the default 5,000 persons: 38% +/- 3 known to 2+, 10% +/- 3 to all three, top 20% carry 75-85%."""
    result = generate(tmp_path, SyntheticConfig())
    summary = json.loads((result.truth_dir / "summary.json").read_text(encoding="utf-8"))
    assert abs(summary["share_known_to_2_plus"] - 0.38) <= 0.03
    assert abs(summary["share_known_to_all_3"] - 0.10) <= 0.03
    assert 0.75 <= summary["top20_cost_share"] <= 0.85
    # Recompute the cost share from the files alone: valid, non-duplicate rows per person.
    costs, agencies = [], []
    for ef in result.extracts:
        layout = LAYOUT[(ef.partner, ef.dataset)]
        _, df, truth = extract(result, ef.partner)
        keep = ~truth["is_duplicate"] & ~truth["is_invalid"]
        pounds = pd.to_numeric(df.loc[keep, layout.cost])
        costs.append(pd.DataFrame({"person_id": truth.loc[keep, "person_id"], "cost": pounds}))
        agencies.append(truth.loc[keep, ["person_id"]].drop_duplicates().assign(agency=ef.partner))
    per_person = pd.concat(costs).groupby("person_id")["cost"].sum().sort_values(ascending=False)
    top = per_person.iloc[: round(0.2 * len(per_person))].sum() / per_person.sum()
    assert top == pytest.approx(summary["top20_cost_share"], abs=1e-6)
    counts = pd.concat(agencies).groupby("person_id").size()
    assert len(counts) == summary["known_to_any"] == 5000
    assert (counts >= 2).sum() == summary["known_to_2_plus"]
    assert (counts == 3).sum() == summary["known_to_all_3"]
    assert per_person.sum() == pytest.approx(summary["total_cost"], abs=0.01)


@settings(max_examples=200, deadline=None, derandomize=True)
@given(st.integers(min_value=0, max_value=999_999_999))
def test_vectorised_check_digit_matches_reference(first_nine: int) -> None:
    reference = check_digit(f"{first_nine:09d}")
    got = int(check_digits(np.array([first_nine], dtype=np.int64))[0])
    assert got == (10 if reference is None else reference)


@settings(max_examples=200, deadline=None, derandomize=True)
@given(
    st.text(alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ'-", min_size=2, max_size=20),
    st.integers(0, 2),
    st.floats(0, 1, exclude_max=True),
    st.sampled_from("abcdefghijklmnopqrstuvwxyz"),
)
def test_a_typo_always_changes_a_latin_name(name: str, op: int, where: float, letter: str) -> None:
    if sum(c.isalpha() for c in name) < 2:
        return
    assert typo(name, op, where, letter) != name
    assert re.fullmatch(r"[A-Za-z'-]*", typo(name, op, where, letter))
