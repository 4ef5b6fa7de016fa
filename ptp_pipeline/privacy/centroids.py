"""Full postcode -> grid reference (easting, northing in metres) from the ONS Postcode Directory (issue 20).

Where an event is known only by its postcode, its postcode centroid places it within a distance band of
licensed premises (`pathways/premises.py`). A real deployment reads the ONS Postcode Directory (ONSPD,
Open Government Licence, from the ONS Open Geography Portal; columns `pcds`, `oseast1m`, `osnrth1m`) or
OS Code-Point Open (`Postcode`, `Eastings`, `Northings`), named in project.yaml
`places.postcode_centroids`. A full-postcode centroid is as identifying as the postcode, so it is looked
up only at pseudonymise and kept only in `restricted.event_location`. Postcodes are read through the
project's normaliser, so "ls14ap" in an extract finds "LS1 4AP" in the directory. A directory row
without a grid reference (ONSPD leaves terminated and non-geographic postcodes blank) has no centroid.
"""

from __future__ import annotations

import logging
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

from ptp_pipeline.errors import ConfigError, Where
from ptp_pipeline.privacy.normalise import normalise_postcode
from ptp_pipeline.protocol.model import ProjectConfig, Protocol, Treatment

log = logging.getLogger(__name__)
#: Accepted header names (case-insensitive), ONSPD first.
POSTCODE_NAMES = ("pcds", "pcd", "pcd2", "postcode")
EASTING_NAMES = ("oseast1m", "eastings", "easting")
NORTHING_NAMES = ("osnrth1m", "northings", "northing")
#: The British National Grid's extent in metres (ONSPD's "no grid reference" placeholders fall outside it).
GRID_MAX = (800_000, 1_400_000)
COLUMNS = ("easting", "northing")


def _pick(header: list[str], names: tuple[str, ...], path: Path, what: str) -> str:
    lower = {h.strip().lower(): h for h in header}
    found = next((lower[n] for n in names if n in lower), None)
    if found is None:
        raise ConfigError(f"no {what} column (expected one of {', '.join(names)})", where=Where(file=str(path), line=1),
                          hint="Use the ONS Postcode Directory CSV (pcds, oseast1m, osnrth1m) or OS Code-Point "
                               "Open with its header row (Postcode, Eastings, Northings).")
    return found


def _bad(path: Path, line: int, column: str, what: str) -> ConfigError:
    return ConfigError(f"{what}", where=Where(file=str(path), line=line, field=column),
                       hint="Correct or remove that row of the postcode centroid file (a fresh ONSPD download "
                            "has none), or leave the grid reference blank where the postcode has none.")


def read_centroids(path: Path) -> pd.DataFrame:
    """Centroids indexed by canonical postcode ("LS1 4AP"): float columns easting and northing.

    Raises `ConfigError` naming the file, line and column of the first malformed row, never its value."""
    try:
        header = pd.read_csv(path, nrows=0, dtype="string").columns.tolist()
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read the postcode centroid file ({type(exc).__name__})",
                          where=Where(file=str(path)),
                          hint="Check that places.postcode_centroids in project.yaml names a CSV file.") from None
    cols = [_pick(header, names, path, what) for names, what in
            ((POSTCODE_NAMES, "postcode"), (EASTING_NAMES, "easting"), (NORTHING_NAMES, "northing"))]
    try:
        raw = pd.read_csv(path, usecols=cols, dtype="string", keep_default_na=False, encoding="utf-8")[cols]
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as exc:
        raise ConfigError(f"the file is not a well-formed CSV ({type(exc).__name__})", where=Where(file=str(path)),
                          hint="Export it again as UTF-8 CSV with one header row.") from None
    line = np.arange(2, len(raw) + 2)  # header is line 1
    pcs = normalise_postcode(raw[cols[0]])
    bad = (pcs["postcode_status"] != "valid").to_numpy()
    if bad.any():
        raise _bad(path, int(line[bad][0]), cols[0], "not a UK postcode")
    grid = []
    for col, top in zip(cols[1:], GRID_MAX, strict=True):
        text = raw[col].str.strip()
        value = pd.to_numeric(text, errors="coerce").astype("float64").to_numpy()
        malformed = (text != "").to_numpy() & np.isnan(value)
        if malformed.any():
            raise _bad(path, int(line[malformed][0]), col, "not a number of metres")
        grid.append(np.where((value >= 0) & (value <= top), value, np.nan))  # outside the grid: no centroid
    out = pd.DataFrame({"easting": grid[0], "northing": grid[1]}, index=pcs["postcode"].astype("string").to_numpy())
    out = out[~(np.isnan(grid[0]) | np.isnan(grid[1]))]
    return out[~out.index.duplicated(keep="first")]


@lru_cache(maxsize=2)
def _cached(path: str, mtime_ns: int, size: int) -> pd.DataFrame:
    return read_centroids(Path(path))


def load_centroids(path: Path) -> pd.DataFrame:
    """`read_centroids`, read once per process while the file is unchanged (ONSPD is 2.7 million rows)."""
    try:
        stat = path.stat()
    except OSError:
        raise ConfigError("the postcode centroid file does not exist", where=Where(file=str(path)),
                          hint="Check places.postcode_centroids in project.yaml (a path relative to the protocols "
                               "folder), or remove it to attribute postcode-only events by sector.") from None
    return _cached(str(path), stat.st_mtime_ns, stat.st_size)


def centroid_of(centroids: pd.DataFrame, postcodes: pd.Series) -> pd.DataFrame:
    """Easting and northing (Float64) of canonical postcodes; NA where the postcode is missing or unknown."""
    found = centroids.reindex(postcodes.astype("string").to_numpy())
    return pd.DataFrame({c: pd.array(found[c].to_numpy(), dtype="Float64") for c in COLUMNS}, index=postcodes.index)


def project_centroids(protocols_dir: Path, project: ProjectConfig, protocol: Protocol) -> pd.DataFrame | None:
    """The project's centroids when the protocol locates events by postcode and project.yaml names a file.

    A named file that is missing is warned about, not fatal: its events keep sector attribution (and are
    counted by the derive stage as events without a postcode centroid). A malformed file stops the stage."""
    name = project.places.postcode_centroids
    if name is None or not any(f.locates == "postcode" and f.treatment is not Treatment.drop for f in protocol.fields):
        return None
    path = protocols_dir / name
    if not path.is_file():
        log.warning("%s: places.postcode_centroids names no file; events known only by postcode are attributed by "
                    "sector. Put the ONS Postcode Directory CSV there, or correct project.yaml.", path)
        return None
    return load_centroids(path)
