"""Render true events as each partner's extract: its own column names, formats and habits.

Partner conventions (the protocols are written against these exact columns):
- council/contacts: UK dates dd/mm/yyyy, own client reference, NHS number on ~30% of rows
  written three ways; police/incidents: dates of birth as Excel serial day numbers (1900
  date system, serial = days since 1899-12-30), all forenames in one field, NHS number
  rare; health/attendances: ISO dates, NHS number on ~97% of rows.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from ptp_pipeline.synthetic import noise
from ptp_pipeline.synthetic.address_text import address_lines
from ptp_pipeline.synthetic.config import SyntheticConfig
from ptp_pipeline.synthetic.events import Events
from ptp_pipeline.synthetic.nhs import format_nhs
from ptp_pipeline.synthetic.population import Population, day_number, stream

EXCEL_EPOCH_OFFSET = 25569  # days from 1899-12-30 (Excel's day 0) to 1970-01-01
POLICE_MIDDLE_NAME_P = 0.8  # police write a known middle name on most rows


@dataclass(frozen=True)
class ExtractSpec:
    """Where one partner keeps each kind of field, and how it writes them."""

    partner: str
    dataset: str
    columns: tuple[str, ...]
    dob_column: str
    dob_format: str  # "dmy", "iso" or "excel"
    event_date_column: str
    event_date_format: str  # "dmy" or "iso"
    event_type_column: str
    cost_column: str
    nhs_style_p: tuple[float, float, float]  # plain, spaced, hyphen

    def file_name(self, config: SyntheticConfig) -> str:
        """Landing file name: <partner>_<dataset>_<start>_<end>.csv, dates as YYYYMMDD."""
        return f"{self.partner}_{self.dataset}_{config.start:%Y%m%d}_{config.end:%Y%m%d}.csv"


SPECS: dict[str, ExtractSpec] = {
    "council": ExtractSpec(
        partner="council",
        dataset="contacts",
        columns=(
            "client_ref",
            "nhs_number",
            "forename",
            "surname",
            "date_of_birth",
            "postcode",
            "address_line1",
            "uprn",
            "address_type",
            "address_from",
            "sex",
            "contact_date",
            "service",
            "unit_cost",
        ),
        dob_column="date_of_birth",
        dob_format="dmy",
        event_date_column="contact_date",
        event_date_format="dmy",
        event_type_column="service",
        cost_column="unit_cost",
        nhs_style_p=(1 / 3, 1 / 3, 1 / 3),
    ),
    "health": ExtractSpec(
        partner="health",
        dataset="attendances",
        columns=(
            "nhs_number",
            "given_name",
            "family_name",
            "dob",
            "postcode",
            "address",
            "sex",
            "attendance_date",
            "activity",
            "alcohol_related",
            "drug_related",
            "tariff_cost",
        ),
        dob_column="dob",
        dob_format="iso",
        event_date_column="attendance_date",
        event_date_format="iso",
        event_type_column="activity",
        cost_column="tariff_cost",
        nhs_style_p=(0.9, 0.1, 0.0),
    ),
    "police": ExtractSpec(
        partner="police",
        dataset="incidents",
        columns=(
            "surname",
            "forenames",
            "birth_date",
            "home_postcode",
            "home_address",
            "uprn",
            "sex",
            "nhs_number",
            "occurred_on",
            "incident_type",
            "estimated_cost",
        ),
        dob_column="birth_date",
        dob_format="excel",
        event_date_column="occurred_on",
        event_date_format="dmy",
        event_type_column="incident_type",
        cost_column="estimated_cost",
        nhs_style_p=(0.5, 0.5, 0.0),
    ),
}


def format_dates(days: NDArray[np.int64], fmt: str) -> pd.Series:
    """Day numbers as text: "iso" yyyy-mm-dd, "dmy" dd/mm/yyyy, "excel" serial day number."""
    if fmt == "excel":
        return pd.Series((days + EXCEL_EPOCH_OFFSET).astype(str), dtype=object)
    iso = pd.Series(np.datetime_as_string(days.astype("datetime64[D]")), dtype=object)
    if fmt == "iso":
        return iso
    if fmt == "dmy":
        return iso.str[8:10] + "/" + iso.str[5:7] + "/" + iso.str[0:4]
    raise ValueError(f"unknown date format {fmt!r}")


def format_pence(pence: NDArray[np.int64]) -> pd.Series:
    """Non-negative pence as decimal pounds with two places, e.g. 12345 -> "123.45"."""
    pounds = pd.Series((pence // 100).astype(str), dtype=object)
    return pounds + "." + pd.Series((pence % 100).astype(str), dtype=object).str.zfill(2)


def _yes_no(flags: NDArray[np.bool_]) -> NDArray[np.object_]:
    out: NDArray[np.object_] = np.where(flags, "Y", "N").astype(object)
    return out


COMMUNAL_LABELS = {"hostel": "Hostel", "hmo": "HMO", "care_home": "Care Home", "prison": "Prison"}
ADDRESS_FROM_YEARS = 10  # a home spell began up to this long before the period


def address_columns(pop: Population, events: Events, postcode: NDArray[np.object_], partner: str,
                    config: SyntheticConfig) -> dict[str, NDArray[np.object_]]:
    """Address line, UPRN, communal flag and address-from date of each row, as ``partner`` keeps them."""
    rng = stream(config.seed, f"address:{partner}")
    living, places = pop.living, pop.living.addresses
    p = events.person
    moved = events.day >= pop.moved_on[p]
    address = np.where(moved, living.moved_to[p], living.home[p])
    nfa = postcode == ""  # no fixed abode: no postcode and no address
    line = np.where(nfa, "", address_lines(places, address, partner, config.flat_omitted_rate, rng)).astype(object)
    uprn_rate = {"council": config.uprn_rate_council, "police": config.uprn_rate_police}.get(partner, 0.0)
    uprn = np.where(~nfa & (rng.random(p.size) < uprn_rate), places.uprn[address], "").astype(object)
    kind = places.kind[address]
    flagged = (kind != "") & ~nfa & (rng.random(p.size) < config.communal_flag_rate)
    label = pd.Series(kind, dtype=object).map(COMMUNAL_LABELS).fillna("").to_numpy(dtype=object)
    since_home = day_number(config.start) - stream(config.seed, "address_from").integers(
        30, 365 * ADDRESS_FROM_YEARS, pop.n)
    since = np.where(moved, pop.moved_on[p], since_home[p])
    given = ~nfa & (rng.random(p.size) < config.address_from_rate)
    return {
        "address_line1": line, "address": line, "home_address": line, "uprn": uprn,
        "address_type": np.where(flagged, label, "").astype(object),
        "address_from": np.where(given, format_dates(since, "dmy").to_numpy(dtype=object), "").astype(object),
    }


def render(pop: Population, events: Events, spec: ExtractSpec, config: SyntheticConfig) -> pd.DataFrame:
    """One row per true event in the partner's columns, identifiers noisy as configured."""
    rng = stream(config.seed, f"noise:{spec.partner}")
    p = events.person
    m = events.size
    forename = noise.apply_nicknames(pop.forename[p], config.nickname_rate, rng)
    surname = pop.surname[p]
    slip = rng.random(m) < config.typo_rate
    on_surname = rng.random(m) < 0.5
    forename = noise.apply_typos(forename, slip & ~on_surname, rng)
    surname = noise.apply_typos(surname, slip & on_surname, rng)
    surname = noise.apply_surname_variants(surname, config.surname_variant_rate, rng)
    dob = noise.apply_dob_errors(pop.dob[p], config.dob_error_rate, rng)
    sex = noise.apply_unknown_sex(pop.sex[p], config.sex_unknown_rate, rng)
    moved = events.day >= pop.moved_on[p]
    postcode = np.where(moved, pop.moved_postcode[p], pop.postcode[p]).astype(object)
    postcode = noise.apply_postcode_noise(postcode, config.postcode_missing_rate, config.postcode_format_rate, rng)
    nhs_rate = getattr(config, f"nhs_rate_{spec.partner}")
    present = rng.random(m) < nhs_rate
    styles = rng.choice(3, m, p=spec.nhs_style_p)
    nhs = format_nhs(pd.Series(pop.nhs_number[p], dtype=object), styles).where(present, "")
    common = {
        spec.dob_column: format_dates(dob, spec.dob_format),
        spec.event_date_column: format_dates(events.day, spec.event_date_format),
        spec.event_type_column: events.event_type,
        spec.cost_column: format_pence(events.cost_pence),
        "sex": sex,
        "nhs_number": nhs,
    }
    if spec.partner == "council":
        second = (pop.client_ref_2[p] != "") & (rng.random(m) < 0.5)
        columns = {
            "client_ref": np.where(second, pop.client_ref_2[p], pop.client_ref[p]),
            "forename": forename,
            "surname": surname,
            "postcode": postcode,
        }
    elif spec.partner == "health":
        columns = {
            "given_name": forename,
            "family_name": surname,
            "postcode": postcode,
            "alcohol_related": _yes_no(events.alcohol_related),
            "drug_related": _yes_no(events.drug_related),
        }
    else:
        middle = pop.middle_name[p]
        with_middle = (middle != "") & (rng.random(m) < POLICE_MIDDLE_NAME_P)
        columns = {
            "surname": surname,
            "forenames": np.where(with_middle, forename + " " + middle, forename),
            "home_postcode": postcode,
        }
    data = {**address_columns(pop, events, np.asarray(postcode, dtype=object), spec.partner, config),
            **common, **columns}
    frame = pd.DataFrame({c: np.asarray(data[c], dtype=object) for c in spec.columns})
    return frame
