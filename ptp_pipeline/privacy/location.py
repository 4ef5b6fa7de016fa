"""Where an event happened, as keyed property tokens, and whether it was alcohol-related (issue 20).

A protocol field with `locates:` (premises reference, UPRN, address line, postcode) is pseudonymised
to the same keyed property tokens households use (`privacy/address.py`: same sub-keys, so a pub's
UPRN in the licensing register and in a police incident give one token), plus a premises-reference
token of its own kind. A postcode keeps only its sector (for attribution by area where nothing finer
is known) and its district, plus, where project.yaml names a postcode centroid file, its centroid's grid
reference (`privacy/centroids.py`): restricted only, as identifying as the postcode, and not keyed (key
rotation keeps it as it is). A kept field with `alcohol_codes:` gives the alcohol flag. Nothing here
logs or raises with a value; the raw location goes only to the sealed vault, as identifiers do.
"""

from __future__ import annotations

import pandas as pd

from ptp_pipeline.privacy.address import address_parts, address_tokens, normalise_uprn
from ptp_pipeline.privacy.centroids import COLUMNS as CENTROID_COLUMNS
from ptp_pipeline.privacy.centroids import centroid_of
from ptp_pipeline.privacy.keys import ProjectKey
from ptp_pipeline.privacy.names import to_text
from ptp_pipeline.privacy.normalise import normalise_postcode
from ptp_pipeline.privacy.tokens import hmac_tokens
from ptp_pipeline.protocol.model import Protocol, Treatment
from ptp_pipeline.warehouse.base import Warehouse

#: Columns of the pseudonymised frame (and of restricted.event_location, without the prefix).
LOC = "loc__"
LOCATION_COLUMNS = ("premises", "uprn", "flat", "street", "sector", "district")
TOKEN_NAMES = LOCATION_COLUMNS[:4]
ALCOHOL = "flag__alcohol"  # restricted.event_location.alcohol_related (a partner may keep a column of that name)


def premises_tokens(key: ProjectKey, refs: pd.Series) -> pd.Series:
    """Keyed token of a premises reference: upper case, spaces and slashes forgiven ("LP/0123" = "lp0123")."""
    norm = to_text(refs).str.upper().str.replace(r"[\s/\-]+", "", regex=True)
    return hmac_tokens(key.subkey("address/addr_premises"), norm.where(norm != ""))


def location_columns(key: ProjectKey, checked: pd.DataFrame, protocol: Protocol,
                     centroids: pd.DataFrame | None = None) -> pd.DataFrame:
    """Per row: LOC + premises, uprn, flat, street (keyed tokens), sector, district; LOC + easting, northing
    of the postcode's centroid where `centroids` is given (NA for an unknown postcode); and the alcohol flag.

    Empty (no columns) for a protocol with neither location fields nor alcohol codes."""
    out = pd.DataFrame(index=checked.index)
    fields = {f.locates: checked[f.name] for f in protocol.fields
              if f.locates is not None and f.treatment is not Treatment.drop and f.name in checked}
    if fields:
        na = pd.Series(pd.NA, index=checked.index, dtype="string")
        postcode = normalise_postcode(fields["postcode"]) if "postcode" in fields else None
        canonical = postcode["postcode"].astype("string") if postcode is not None else na
        uprn = normalise_uprn(fields["uprn"]) if "uprn" in fields else None
        tokens = address_tokens(key, address_parts(fields.get("address_line", na)), canonical, uprn)
        out[LOC + "premises"] = premises_tokens(key, fields["premises_ref"]) if "premises_ref" in fields else na
        out[LOC + "uprn"] = tokens["addr_uprn"]
        out[LOC + "flat"] = tokens["addr_flat"]
        out[LOC + "street"] = tokens["addr_street"]
        out[LOC + "sector"] = postcode["sector"].astype("string") if postcode is not None else na
        out[LOC + "district"] = postcode["district"].astype("string") if postcode is not None else na
        if centroids is not None:
            grid = centroid_of(centroids, canonical)
            for name in CENTROID_COLUMNS:
                out[LOC + name] = grid[name]
    flags = [checked[f.name].astype("string").isin(f.alcohol_codes) & checked[f.name].notna()
             for f in protocol.fields if f.alcohol_codes and f.name in checked]
    if flags:
        out[ALCOHOL] = pd.concat(flags, axis=1).any(axis=1).astype("boolean")
    return out


def rekey_locations(wh: Warehouse, extract_id: str, new_key: ProjectKey, sealed: pd.DataFrame, protocol: Protocol,
                    event_ids: pd.Series) -> int:
    """Key rotation: one extract's event locations re-made under `new_key` from its sealed locations
    (`sealed`: the vault's rows; `event_ids`: their event ids). The alcohol flag and postcode centroids
    stay as they were (a grid reference is not keyed)."""
    old = wh.query("SELECT event_id, alcohol_related, easting, northing FROM restricted.event_location "
                   "WHERE extract_id = ?", (extract_id,))
    if old.empty:
        return 0
    tokens = location_columns(new_key, sealed, protocol).drop(columns=[ALCOHOL], errors="ignore")
    tokens.columns = [c.removeprefix(LOC) for c in tokens.columns]
    new = old.merge(tokens.assign(event_id=event_ids.to_numpy()), on="event_id", how="left")
    wh.execute("DELETE FROM restricted.event_location WHERE extract_id = ?", (extract_id,))
    wh.insert_frame("restricted.event_location", new.assign(extract_id=extract_id).reindex(
        columns=["event_id", "extract_id", *LOCATION_COLUMNS, *CENTROID_COLUMNS, "alcohol_related"]))
    return int(new.reindex(columns=list(TOKEN_NAMES)).notna().sum().sum())
