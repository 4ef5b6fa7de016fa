"""Synthetic licensing register and located alcohol-related events with a known on/off effect (issue 20).

``generate_places(out_dir, PlacesConfig(...))`` writes three extracts: the council's licensing register
(`licensing/register`), police incidents (`police/incidents`) and A&E attendances (`health/attendances`)
whose alcohol-related rows say where they happened. Each premises has a rate of alcohol-related events
per year: ``base_rate`` for an off-licence, times ``on_off_rate_ratio`` for an on-licence (clubs as
on-licences, "both" as off-licences), times a gamma-distributed premises effect of mean 1 (shape
``premises_shape``: a few premises carry most of the harm, as in life). The analysis should recover
``on_off_rate_ratio`` within its interval. Same config -> byte-identical files.

Each event's location is, in order of precision: the premises reference (police only), the UPRN, the
address line, or only the postcode (``postcode_only``: every event); ``elsewhere_share`` of the
alcohol-related events happen away from any premises (a home, a street), and ``other_share`` extra police
rows are not alcohol-related at all. Of the events known only by postcode, ``nearby_share`` are recorded
at a neighbouring postcode of the same sector (the street outside, 150 m away) and ``unknown_postcode_share``
at a postcode of the sector missing from the centroid file (a new postcode: attributed by sector).

Geography: premises postcodes are the 100 units (inward letters from ``UNIT_LETTERS``) of four sectors
of four districts, one premises to a postcode while there are enough; each unit's centroid is a fixed
function of the postcode (`synthetic_centroid`), units 150 m apart on a grid, sectors 2 km apart,
districts 8 km apart. ``generate_places`` writes them as an ONS Postcode Directory extract
(`reference/postcode_centroids.csv`); the same file is in protocols/reference for the demo and tests
(project.yaml `places.postcode_centroids`).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

from ptp_pipeline.synthetic.config import ExtractFile
from ptp_pipeline.synthetic.extracts import format_dates
from ptp_pipeline.synthetic.names import INWARD_LETTERS, MALE_FORENAMES, SURNAMES
from ptp_pipeline.synthetic.nhs import unique_nhs_numbers
from ptp_pipeline.synthetic.population import day_number, stream

LICENCE_TYPES = ("on", "off", "both", "club")
LICENCE_P = (0.45, 0.35, 0.12, 0.08)
NAMES = ("The Crown", "Kirkgate Wines", "The Fox", "Late Shop", "Union Club", "The Vine")
HOURS = ("23:00", "00:30", "02:00", "03:00")
DISTRICTS = ("LS1", "LS2", "LS6", "LS11")
STREETS = ("High Street", "Kirkgate", "Call Lane", "Otley Road", "Dewsbury Road", "Briggate", "Hyde Park Road",
           "Woodhouse Lane", "Boar Lane", "Elland Road")
#: Where an event's location comes from: premises reference, UPRN, address line, postcode only.
POLICE_LOCATION_P = (0.40, 0.20, 0.25, 0.15)
HEALTH_LOCATION_P = (0.0, 0.0, 0.60, 0.40)
UNIT_LETTERS = INWARD_LETTERS[:10]  # units with a centroid; the rest of the letters make unknown postcodes
SECTORS = (1, 2, 3, 4)
UNIT_SPACING_M, SECTOR_SPACING_M, DISTRICT_SPACING_M = 150, 2000, 8000
GRID_ORIGIN = (429_000, 433_000)  # Leeds city centre, British National Grid metres
CENTROIDS_FILE = Path("reference") / "postcode_centroids.csv"


def synthetic_centroid(postcode: str) -> tuple[int, int]:
    """Grid reference of a synthetic premises postcode ("LS6 3BD"): a fixed function of the postcode."""
    district, inward = postcode.split()
    d, s = DISTRICTS.index(district), int(inward[0]) - 1
    i, j = UNIT_LETTERS.index(inward[1]), UNIT_LETTERS.index(inward[2])
    return (GRID_ORIGIN[0] + d * DISTRICT_SPACING_M + s * SECTOR_SPACING_M + i * UNIT_SPACING_M,
            GRID_ORIGIN[1] + j * UNIT_SPACING_M)


def centroid_table() -> pd.DataFrame:
    """Every synthetic premises postcode and its centroid, in the ONS Postcode Directory's column names."""
    codes = [f"{d} {s}{a}{b}" for d in DISTRICTS for s in SECTORS for a in UNIT_LETTERS for b in UNIT_LETTERS]
    grid = np.array([synthetic_centroid(c) for c in codes])
    return pd.DataFrame({"pcds": codes, "oseast1m": grid[:, 0], "osnrth1m": grid[:, 1]})


@dataclass(frozen=True)
class PlacesConfig:
    """What to generate. Defaults: a city centre's worth of premises over one year."""

    n_premises: int = 300
    seed: int = 7
    start: date = date(2024, 4, 1)
    end: date = date(2025, 3, 31)
    base_rate: float = 4.0  # alcohol-related events per off-licence per year
    on_off_rate_ratio: float = 0.5  # on-licence rate / off-licence rate (the pilot's hypothesis: below 1)
    premises_shape: float = 2.0  # gamma shape of the premises effect (smaller: more concentrated harm)
    health_share: float = 0.3  # share of located events that are A&E attendances
    elsewhere_share: float = 0.1
    other_share: float = 0.1
    revoked_share: float = 0.05  # premises whose licence ends during the period
    postcode_only: bool = False  # every located event carries only its postcode
    nearby_share: float = 0.1  # of postcode-only events: recorded at a neighbouring postcode (150 m)
    unknown_postcode_share: float = 0.05  # of postcode-only events: a postcode without a centroid

    def __post_init__(self) -> None:
        if self.n_premises < 1 or self.base_rate <= 0 or self.on_off_rate_ratio <= 0 or self.premises_shape <= 0:
            raise ValueError("n_premises, base_rate, on_off_rate_ratio and premises_shape must be positive")
        if self.end < self.start:
            raise ValueError("end must not be before start")
        moved = (self.nearby_share, self.unknown_postcode_share)
        if min(moved) < 0 or sum(moved) > 1:
            raise ValueError("nearby_share and unknown_postcode_share must be shares that sum to at most 1")


@dataclass(frozen=True)
class PlacesResult:
    extracts: list[ExtractFile]  # register, police incidents, A&E attendances
    truth: dict[str, object]
    centroids: Path  # the synthetic postcodes' centroids, as an ONS Postcode Directory extract


def _register(cfg: PlacesConfig) -> pd.DataFrame:
    rng = stream(cfg.seed, "places:register")
    n = cfg.n_premises
    kind = rng.choice(LICENCE_TYPES, n, p=LICENCE_P)
    units = centroid_table()["pcds"].to_numpy()
    # Each premises its own postcode while there are enough (then distances tell premises apart).
    postcode = units[stream(cfg.seed, "places:register-postcodes").choice(len(units), n, replace=n > len(units))]
    start, end = day_number(cfg.start), day_number(cfg.end)
    granted = rng.integers(day_number(date(2006, 1, 1)), end - 30, n)
    revoked = rng.random(n) < cfg.revoked_share
    ended = np.where(revoked, np.maximum(granted + 1, rng.integers(start, end, n)), -1)
    ends = format_dates(np.maximum(ended, 0), "iso").where(revoked, "")
    return pd.DataFrame({
        "premises_ref": [f"LP/{i:05d}" for i in range(1, n + 1)],
        "uprn": [str(72000000 + 7 * i) for i in range(1, n + 1)],
        "address": [f"{1 + i} {STREETS[i % len(STREETS)]}" for i in range(n)],
        "premises_name": [f"{NAMES[i % len(NAMES)]} {kind[i]}-licence {i + 1}" for i in range(n)],
        "postcode": postcode, "licence_type": kind, "latest_hour": rng.choice(HOURS, n),
        "status": np.where(revoked, "revoked", "granted"), "granted_on": format_dates(granted, "iso"),
        "ended_on": ends,
    }).assign(_granted=granted, _ended=ended)


def _events(cfg: PlacesConfig, reg: pd.DataFrame) -> pd.DataFrame:
    """One row per alcohol-related event at a premises: premises index, day, and whether health records it."""
    rng = stream(cfg.seed, "places:events")
    start, end = day_number(cfg.start), day_number(cfg.end)
    lo = np.maximum(reg["_granted"].to_numpy(), start)
    hi = np.where(reg["_ended"].to_numpy() >= 0, np.minimum(reg["_ended"].to_numpy(), end), end)
    years = np.clip(hi - lo + 1, 0, None) / 365.25
    multiplier = np.where(reg["licence_type"].isin(["on", "club"]), cfg.on_off_rate_ratio, 1.0)
    rate = cfg.base_rate * multiplier * rng.gamma(cfg.premises_shape, 1 / cfg.premises_shape, len(reg))
    counts = rng.poisson(rate * years)
    premises = np.repeat(np.arange(len(reg)), counts)
    day = lo[premises] + (rng.random(premises.size) * (hi - lo + 1)[premises]).astype(np.int64)
    return pd.DataFrame({"premises": premises, "day": day, "health": rng.random(premises.size) < cfg.health_share})


def _persons(rng: np.random.Generator, n: int) -> pd.DataFrame:
    start = day_number(date(1960, 1, 1))
    return pd.DataFrame({
        "forename": rng.choice(MALE_FORENAMES, n), "surname": rng.choice(SURNAMES, n),
        "dob": rng.integers(start, start + 40 * 365, n), "nhs": unique_nhs_numbers(rng, n, ("9",)),
        "home": [f"{10 + i % 180} {STREETS[(i * 3) % len(STREETS)]} Avenue" for i in range(n)],
        "home_postcode": [f"LS{7 + i % 9} {1 + i % 8}{INWARD_LETTERS[i % 20]}{INWARD_LETTERS[(i // 20) % 20]}"
                          for i in range(n)],
    })


def _located(cfg: PlacesConfig, reg: pd.DataFrame, ev: pd.DataFrame) -> pd.DataFrame:
    """Each event with a person, its location columns as the recording partner gives them."""
    rng = stream(cfg.seed, "places:located")
    n = len(ev)
    persons = _persons(rng, max(20, n // 3))
    person = np.minimum((rng.pareto(1.5, n) * 5).astype(np.int64), len(persons) - 1)
    p = reg.iloc[ev["premises"].to_numpy()].reset_index(drop=True)
    how = np.where(ev["health"], rng.choice(4, n, p=HEALTH_LOCATION_P), rng.choice(4, n, p=POLICE_LOCATION_P))
    if cfg.postcode_only:
        how[:] = 3
    blank = pd.Series("", index=range(n), dtype=object)
    postcode = p["postcode"].where(how < 3, _moved(cfg, p["postcode"]))
    out = pd.concat([persons.iloc[person].reset_index(drop=True), pd.DataFrame({
        "day": ev["day"].to_numpy(), "health": ev["health"].to_numpy(), "alcohol": True,
        "premises_ref": p["premises_ref"].where(how == 0, blank), "uprn": p["uprn"].where(how == 1, blank),
        "address": p["address"].where(how == 2, blank), "postcode": postcode.where(how <= 3, blank)})], axis=1)
    # Away from any premises (a home, a street): alcohol-related but not attributable to premises.
    elsewhere = round(cfg.elsewhere_share * n)
    extra = elsewhere + round(cfg.other_share * n)
    start, end = day_number(cfg.start), day_number(cfg.end)
    away = persons.iloc[rng.integers(0, len(persons), extra)].reset_index(drop=True).assign(
        day=rng.integers(start, end + 1, extra), health=False, alcohol=np.arange(extra) < elsewhere,
        premises_ref="", uprn="", address="", postcode="")
    away.loc[away["alcohol"], "address"] = away.loc[away["alcohol"], "home"]
    away.loc[away["alcohol"], "postcode"] = away.loc[away["alcohol"], "home_postcode"]
    return pd.concat([out, away], ignore_index=True).sort_values("day", kind="stable").reset_index(drop=True)


def _moved(cfg: PlacesConfig, postcodes: pd.Series) -> pd.Series:
    """Postcodes as a partner records an event known only by postcode: mostly the premises' own; some at a
    neighbouring unit of the sector (150 m away); some at a unit of the sector with no centroid."""
    rng = stream(cfg.seed, "places:postcodes")
    n = len(postcodes)
    draw = rng.random(n)
    step = rng.choice([-1, 1], n)
    axis = rng.integers(0, 2, n)
    unknown = rng.choice(list(INWARD_LETTERS[len(UNIT_LETTERS):]), n)
    out = []
    for k, code in enumerate(postcodes):
        outward, inward = code.split()
        if draw[k] < cfg.unknown_postcode_share:
            inward = inward[:2] + unknown[k]
        elif draw[k] < cfg.unknown_postcode_share + cfg.nearby_share:
            units = [UNIT_LETTERS.index(c) for c in inward[1:]]
            u = units[axis[k]] + step[k]
            units[axis[k]] = u if 0 <= u < len(UNIT_LETTERS) else units[axis[k]] - step[k]
            inward = inward[0] + "".join(UNIT_LETTERS[x] for x in units)
        out.append(f"{outward} {inward}")
    return pd.Series(out, index=postcodes.index, dtype=object)


def _police(rows: pd.DataFrame) -> pd.DataFrame:
    r = rows[~rows["health"]].reset_index(drop=True)
    return pd.DataFrame({
        "surname": r["surname"], "forenames": r["forename"], "birth_date": format_dates(r["dob"].to_numpy(), "excel"),
        "home_postcode": r["home_postcode"], "sex": "M", "nhs_number": "",
        "occurred_on": format_dates(r["day"].to_numpy(), "dmy"), "incident_type": "incident",
        "estimated_cost": "450.00", "home_address": r["home"], "uprn": "",
        "incident_qualifier": np.where(r["alcohol"], "ALC", "ASB"), "location_premises_ref": r["premises_ref"],
        "location_uprn": r["uprn"], "location_address": r["address"], "location_postcode": r["postcode"]})


def _health(rows: pd.DataFrame) -> pd.DataFrame:
    r = rows[rows["health"]].reset_index(drop=True)
    return pd.DataFrame({
        "nhs_number": r["nhs"], "given_name": r["forename"], "family_name": r["surname"],
        "dob": format_dates(r["dob"].to_numpy(), "iso"), "postcode": r["home_postcode"], "sex": "M",
        "attendance_date": format_dates(r["day"].to_numpy(), "iso"), "activity": "ae_attendance",
        "alcohol_related": "Y", "drug_related": "N", "tariff_cost": "190.00", "address": r["home"],
        "injury_address": r["address"], "injury_postcode": r["postcode"]})


def generate_places(out_dir: Path, cfg: PlacesConfig = PlacesConfig()) -> PlacesResult:
    """Write the register and the located police and A&E extracts under ``out_dir``/landing; truth in truth/."""
    out_dir = Path(out_dir)
    reg = _register(cfg)
    ev = _events(cfg, reg)
    rows = _located(cfg, reg, ev)
    stamp = f"{cfg.start:%Y%m%d}_{cfg.end:%Y%m%d}"
    written = []
    for partner, dataset, frame in (("licensing", "register", reg.drop(columns=["_granted", "_ended"])),
                                    ("police", "incidents", _police(rows)), ("health", "attendances", _health(rows))):
        path = out_dir / "landing" / partner / dataset / f"{partner}_{dataset}_located_{stamp}.csv"
        path.parent.mkdir(parents=True, exist_ok=True)
        frame.to_csv(path, index=False, encoding="utf-8", lineterminator="\n")
        written.append(ExtractFile(partner=partner, dataset=dataset, path=path, rows=len(frame)))
    truth = {"config": {**asdict(cfg), "start": cfg.start.isoformat(), "end": cfg.end.isoformat()},
             "premises_by_type": reg["licence_type"].value_counts().sort_index().to_dict(),
             "events_at_premises": len(ev)}
    centroids = out_dir / CENTROIDS_FILE
    centroids.parent.mkdir(parents=True, exist_ok=True)
    centroid_table().to_csv(centroids, index=False, encoding="utf-8", lineterminator="\n")
    (out_dir / "truth").mkdir(parents=True, exist_ok=True)
    (out_dir / "truth" / "places.json").write_text(json.dumps(truth, indent=2, sort_keys=True) + "\n",
                                                   encoding="utf-8")
    return PlacesResult(written, truth, centroids)
