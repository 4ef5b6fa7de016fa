"""`link_frame`: link records that came through no protocol, with the code ingest runs.

One row per record, columns named by identifier kind: forename, surname, date_of_birth, postcode,
sex, nhs_number (or ni_number, uln, shared_ref), local_id with an optional source (partner),
address_line (or the address in parts: street_number and street), locality (suburb, village).
Normalise -> keyed tokens -> identities -> the two passes (cascade, Splink) -> persons, the same
functions the pseudonymise and merge stages call. Postcodes that are not UK-shaped are compared
as given (upper case, no spaces; the first half stands for the district), not refused.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ptp_pipeline.linkage.engine import LinkConfig, config_from, link_batch
from ptp_pipeline.linkage.fields import IDENT, linkage_tokens
from ptp_pipeline.linkage.model import settings, train
from ptp_pipeline.privacy.address import person_address
from ptp_pipeline.privacy.identifiers import normalise_ni_number, normalise_shared_ref, normalise_uln
from ptp_pipeline.privacy.keys import ProjectKey
from ptp_pipeline.privacy.names import to_text
from ptp_pipeline.privacy.normalise import (
    EXCEL,
    normalise_name,
    normalise_nhs_number,
    normalise_postcode,
    parse_dates,
)
from ptp_pipeline.protocol import ProjectConfig

DATE_FORMATS = ["%Y-%m-%d", "%Y%m%d", "%d/%m/%Y", "%d-%m-%Y", "%d.%m.%Y", "%Y/%m/%d", "%d %b %Y", "%d-%b-%Y", EXCEL]

#: Identities from which link_frame trains its model on the records it is given. Lower than ingest's
#: `model.TRAIN_FROM` (2,000): ingest trains once and keeps that model for every later extract, so it waits for
#: enough identities; this model serves only these records. On FEBRL 1 (1,000 records of 500 people) the
#: priors kept forenames that share nothing apart and left 50 of its 500 pairs unlinked (F1 0.947; trained:
#: 0.994, as Splink on the raw values). Below it the priors serve.
FRAME_TRAIN_FROM = 500


def frame_parts(frame: pd.DataFrame) -> pd.DataFrame:
    """Normalised identity parts from a frame of kinds (the shape pseudonymise gives)."""
    parts = pd.DataFrame(index=frame.index)
    text = {c: to_text(frame[c].astype("string")) for c in frame.columns if c != "record"}
    if "forename" in text:
        parts["forename"] = normalise_name(text["forename"])
    if "surname" in text:
        parts["surname"] = normalise_name(text["surname"])
    if "date_of_birth" in text:
        dob = parse_dates(text["date_of_birth"], DATE_FORMATS)
        parts["date_of_birth"] = dob.dt.strftime("%Y-%m-%d").astype("string")
    if "postcode" in text:
        pc = normalise_postcode(text["postcode"])
        given = text["postcode"].str.upper().str.replace(r"\s+", "", regex=True).replace("", pd.NA)
        uk = pc["postcode"].notna()
        parts["postcode"] = pc["postcode"].where(uk, given)
        parts["sector"] = pc["sector"].where(uk, given.str.slice(0, -1))
        parts["district"] = pc["district"].where(uk, given.str.slice(0, 2))
    if "sex" in text:
        parts["sex"] = text["sex"].str.strip().str.upper()
    if "nhs_number" in text:
        nhs = normalise_nhs_number(text["nhs_number"])["nhs_number"]
        parts["nhs"] = nhs
        # Another scheme's identifier given in this column: compared as given (strong, not checked).
        other = text["nhs_number"].str.replace(r"\s+", "", regex=True).replace("", pd.NA)
        parts["shared_ref"] = other.where(nhs.isna())
    if "ni_number" in text:
        parts["ni"] = normalise_ni_number(text["ni_number"])
    if "uln" in text:
        parts["uln"] = normalise_uln(text["uln"])
    if "shared_ref" in text:
        value = normalise_shared_ref(text["shared_ref"])
        parts["shared_ref"] = value if "shared_ref" not in parts else parts["shared_ref"].fillna(value)
    if "local_id" in text:
        source = text["source"] if "source" in text else pd.Series("frame", index=frame.index)
        parts["local_id"] = (source + "|" + text["local_id"].str.upper().str.strip()).astype("string")
    line = text.get("address_line")
    if line is None and "street" in text:
        # An address given in parts: one line, as a protocol's address_line field would hold it.
        number = text["street_number"].fillna("") if "street_number" in text else ""
        line = (number + " " + text["street"].fillna("")).str.strip().replace("", pd.NA)
    if line is not None:
        # Normalised here, so records writing one house differently are one distinct row for the tokens.
        address = person_address(line)
        parts["house_number"], parts["street"] = address["number"], address["street"]
    if "locality" in text:
        parts["locality"] = text["locality"]
    return parts


def link_frame(frame: pd.DataFrame, key: ProjectKey | bytes | str, project: ProjectConfig | None = None,
               *, model: dict[str, Any] | None = None, cfg: LinkConfig | None = None) -> pd.DataFrame:
    """`record` -> `person_id`, `match_probability` (of the link that placed it) and `link_pass`.

    `record` is the frame's `record` column if it has one, else its index. A model is trained
    on the frame's own identities (EM, no labels) when there are enough of them.
    """
    if not isinstance(key, ProjectKey):
        raw = key if isinstance(key, bytes) else bytes.fromhex(key) if len(key) == 64 else key.encode()
        key = ProjectKey(project.project.id if project else "link-frame", raw)
    cfg = cfg or config_from(project)
    records = frame["record"] if "record" in frame else pd.Series(frame.index, index=frame.index)
    parts = frame_parts(frame)
    # Records with the same normalised parts have the same tokens: make them once per distinct row
    # (a person's many events), so memory follows identities rather than records.
    group = (parts.groupby(list(parts.columns), sort=False, dropna=False).ngroup().to_numpy() if len(parts.columns)
             else np.zeros(len(parts), dtype=np.int64))
    _, first = np.unique(group, return_index=True)
    tokens = linkage_tokens(key, parts.iloc[first].reset_index(drop=True))
    del parts
    # Arrow-backed text: a 16-character token takes ~20 bytes rather than a Python string's ~65.
    ident = pd.Series(tokens[IDENT].to_numpy(dtype=object)[group], dtype="string[pyarrow]")
    has = ident.notna().to_numpy()
    identities = tokens[tokens[IDENT].notna()].drop_duplicates(IDENT).astype("string[pyarrow]")
    del tokens
    if model is None:
        model = train(identities) if len(identities) >= FRAME_TRAIN_FROM else settings()  # on a sample (model.py)
    linked = link_batch(identities, pd.DataFrame(), cfg, model, 1)
    per_ident = linked.identities.set_index(IDENT)
    out = pd.DataFrame({"record": records.to_numpy()})
    person = ident.map(per_ident["person_id"]).to_numpy(dtype=object)
    n_free = int((~has).sum())
    person[~has] = np.arange(linked.next_person_id, linked.next_person_id + n_free)
    out["person_id"] = person.astype(np.int64)
    out["match_probability"] = ident.map(per_ident["match_probability"]).to_numpy(dtype="float64")
    out["link_pass"] = ident.map(per_ident["link_pass"]).fillna("unlinkable").to_numpy()
    return out
