"""Stage 4, validate: run the protocol's GX suite, quarantine failing rows, refuse bad extracts.

Result format: COMPLETE with `source_row` as the index column (row ids cost almost nothing) and
`exclude_unexpected_values` on, so GX results and Data Docs carry row numbers, never values.
The Data Docs link recorded for an extract is its own validation page, not the site index.
An extract refused above the threshold keeps its row-level reasons (for partner feedback).
"""

from __future__ import annotations

import hashlib
import json
import logging
import warnings
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from ptp_pipeline.errors import ExtractError, Where
from ptp_pipeline.extract.read import SOURCE_LINE, SOURCE_ROW
from ptp_pipeline.memory import release
from ptp_pipeline.quality import accepted
from ptp_pipeline.quality.feedback import likely_protocol_cause
from ptp_pipeline.runtime import Runtime, WorkItem

log = logging.getLogger(__name__)

RESULT_FORMAT: dict[str, Any] = {
    "result_format": "COMPLETE",
    "unexpected_index_column_names": [SOURCE_ROW],
    "exclude_unexpected_values": True,
    "return_unexpected_index_query": False,
    "include_unexpected_rows": False,
    "partial_unexpected_count": 0,
}
QUARANTINE_COLUMNS = ["source_row", "source_line", "field", "check_name", "problem", "hint"]


class ThresholdRefusal(ExtractError):
    """Too many failing rows: the whole extract is refused, with its row-level reasons kept."""

    quarantine: pd.DataFrame | None = None
    docs_url: str | None = None


@dataclass(frozen=True)
class Validation:
    rows_received: int
    rows_accepted: int
    rows_quarantined: int
    docs_url: str | None


#: Validations listed on the Data Docs index (newest first). GX reads every listed result to draw the
#: index, so an unbounded list makes each validation slower as history grows; older pages stay on disk
#: and each extract's receipt links its own page.
INDEX_LIMIT = 200


def site_config(docs_dir: Path, cache_dir: Path) -> dict[str, Any]:
    """The Data Docs site: GX's builders, with template-caching views (`quality/docs_views.py`)."""
    def view(name: str) -> dict[str, str]:
        return {"module_name": "ptp_pipeline.quality.docs_views", "class_name": name, "cache_dir": str(cache_dir)}

    return {
        "class_name": "SiteBuilder",
        "store_backend": {"class_name": "TupleFilesystemStoreBackend", "base_directory": str(docs_dir)},
        "site_index_builder": {"class_name": "DefaultSiteIndexBuilder", "validation_results_limit": INDEX_LIMIT,
                               "view": view("CachedIndexPageView")},
        "site_section_builders": {"expectations": {"view": view("CachedPageView")},
                                  "validations": {"view": view("CachedPageView")}},
    }


def _context(gx_dir: Path, docs_dir: Path) -> Any:
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    logging.getLogger("great_expectations").setLevel(logging.ERROR)
    gx_dir.mkdir(parents=True, exist_ok=True)
    ctx = gx.get_context(mode="file", project_root_dir=str(gx_dir))
    ctx.variables.progress_bars = ProgressBarsConfig(globally=False)
    wanted: Any = site_config(docs_dir, gx_dir / "template_cache")  # GX types it as a TypedDict
    sites = ctx.variables.data_docs_sites or {}
    if "ptp_site" not in sites:
        ctx.add_data_docs_site(site_name="ptp_site", site_config=wanted)
    elif dict(sites["ptp_site"]) != wanted:  # a folder made by an earlier version of the project
        ctx.update_data_docs_site(site_name="ptp_site", site_config=wanted)
    return ctx


def prepared_checkpoint(ctx: Any, gx_dir: Path, suite: Any, asset_name: str) -> Any:
    """The suite's checkpoint, saved again only when the suite changed.

    Saving compares every expectation with the stored one (about 0.8 s for a protocol's suite), so a
    fingerprint of what was last saved lets an unchanged suite (every extract of a day) skip it.
    """
    import great_expectations as gx

    fingerprint = hashlib.sha256(json.dumps([asset_name, suite.to_json_dict(), RESULT_FORMAT],
                                            sort_keys=True, default=str).encode()).hexdigest()
    marker = gx_dir / "prepared" / f"{suite.name}.sha256"
    name = f"{suite.name}.checkpoint"
    if marker.is_file() and marker.read_text() == fingerprint:
        try:
            return ctx.checkpoints.get(name)
        except Exception:
            log.info("GX checkpoint %s not readable: saving it again", name)
    suite = ctx.suites.add_or_update(suite)
    source = ctx.data_sources.add_or_update_pandas("ptp_extracts")
    try:
        asset = source.get_asset(asset_name)
    except LookupError:
        asset = source.add_dataframe_asset(asset_name)
    try:
        batch_def = asset.get_batch_definition("whole")
    except (KeyError, LookupError):
        batch_def = asset.add_batch_definition_whole_dataframe("whole")
    vd = ctx.validation_definitions.add_or_update(
        gx.ValidationDefinition(name=f"{suite.name}.validation", data=batch_def, suite=suite))
    checkpoint = ctx.checkpoints.add_or_update(gx.Checkpoint(
        name=name, validation_definitions=[vd],
        actions=[gx.checkpoint.UpdateDataDocsAction(name="docs", site_names=["ptp_site"])],
        result_format=RESULT_FORMAT))
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.write_text(fingerprint)
    return checkpoint


def _row_numbers(index_list: list[Any]) -> list[int]:
    """GX gives row ids as dicts, one per row or (with values excluded) one holding a list."""
    rows: list[int] = []
    for entry in index_list:
        value = entry[SOURCE_ROW] if isinstance(entry, dict) else entry
        rows.extend(np.asarray(value, dtype="int64").ravel().tolist())
    return rows


def _raised(info: Any) -> bool:
    """GX 1.x puts exceptions at the top level or keyed by metric id: look in both places."""
    if not isinstance(info, dict):
        return False
    if info.get("raised_exception"):
        return True
    return any(isinstance(v, dict) and (v.get("raised_exception") or v.get("exception_traceback"))
               for v in info.values())


#: Column prefixes GX never sees: identity tokens, and event locations (property tokens, postcode centroids).
UNSEEN = ("key__", "loc__")


def gx_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """What GX may see: no tokens or locations; dates as ISO text so range checks compare cleanly.

    Dates become a categorical of ISO text, formatted once per distinct date (an extract holds
    a few thousand dates, not a million).
    """
    view = frame[[c for c in frame.columns if not c.startswith(UNSEEN)]].copy()
    if "event_date" not in view:
        return view
    codes, uniques = pd.factorize(pd.to_datetime(view["event_date"]))
    view["event_date"] = pd.Categorical.from_codes(codes, categories=pd.Index(uniques.strftime("%Y-%m-%d")))
    return view


def suite_columns(suite: Any) -> set[str] | None:
    """The columns a suite reads (and the row number), or None when an expectation may read any column."""
    used: set[str] = {SOURCE_ROW}
    for expectation in suite.expectations:
        kwargs = expectation.configuration.kwargs
        names = [kwargs.get(k) for k in ("column", "column_A", "column_B")] + list(kwargs.get("column_list") or [])
        if not any(names):
            return None  # a table-level expectation from the protocol: it may read any column
        used.update(n for n in names if n)
    return used


def narrow(frame: pd.DataFrame, suite: Any) -> pd.DataFrame:
    """Only the columns the suite reads, text columns as categories: GX copies the frame for each
    metric, so this cuts validation time about fourfold (bench/validate.py).

    Nullable numbers (Int64, Float64) become float64 with NaN for <NA>: GX counts both as missing, but
    on a masked dtype its range check calls Python per row (1.1 s of a 1M-row extract) and every metric
    copies the mask. Whole numbers of the check stage stay below 2**53, so float64 holds them exactly.
    """
    used = suite_columns(suite)
    if used is None:
        return frame
    columns: dict[str, Any] = {}
    for col in (c for c in frame.columns if c in used):
        values = frame[col]
        if values.dtype == object or isinstance(values.dtype, pd.StringDtype):
            values = values.astype("category")
        elif isinstance(values.dtype, (pd.Int64Dtype, pd.Float64Dtype, pd.Int32Dtype, pd.Float32Dtype)):
            values = values.to_numpy(dtype="float64", na_value=np.nan)
        columns[col] = values
    # Built in one go, so same-typed columns share one block: added one by one, every row filter GX makes
    # would merge them again (0.6 s of copies at 1M rows).
    return pd.DataFrame(columns, index=frame.index)


def forget_batches(ctx: Any) -> None:
    """Drop the frames GX keeps after a run.

    GX's context is process-wide, and its pandas engine keeps the last batch of each asset and every
    metric it computed (row masks, filtered frames), keyed by a batch id that differs for each extract:
    the extract just validated stayed resident into the merge (3M rows: 490 MB), and a long-lived process
    (an Airflow worker, `ptp ingest` of several files) kept every extract's masks. The metric cache has
    no public handle in GX 1.x, so it is cleared only where it is the plain dict GX makes.
    """
    for source in ctx.data_sources.all().values():
        engine = source.execution_engine
        if engine is None:
            continue
        engine.batch_manager.batch_data_cache.clear()
        engine.batch_manager.reset_batch_cache()
        cache = getattr(engine, "_metric_cache", None)
        if isinstance(cache, dict):
            cache.clear()


def run_suite(rt: Runtime, frame: pd.DataFrame, item: WorkItem, suite: Any = None) -> tuple[pd.DataFrame, str | None]:
    """Validate through a GX checkpoint (updating Data Docs); returns quarantine reasons per row.

    `frame`: as GX is to see it (`narrow(gx_frame(...), suite)`), made by the caller so that it is the only copy
    alive while GX runs. `suite`: the one the caller chose the frame's columns by (by default today's suite of
    the protocol)."""
    import great_expectations as gx

    import ptp_pipeline.quality.expectations  # noqa: F401  (registers custom expectations first)
    from ptp_pipeline.quality.suite import suite_for

    protocol = rt.protocol(item.protocol_id, item.protocol_version)
    ctx = _context(rt.settings.gx_dir, rt.settings.docs_dir)
    suite = suite if suite is not None else suite_for(protocol, datetime.now(UTC).date())
    checkpoint = prepared_checkpoint(ctx, rt.settings.gx_dir, suite, f"{protocol.partner.id}.{protocol.dataset}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            result = checkpoint.run(batch_parameters={"dataframe": frame},
                                    run_id=gx.RunIdentifier(run_name=item.extract_id))
        finally:
            forget_batches(ctx)
    reasons: list[pd.DataFrame] = []
    docs_url: str | None = None
    for result_id, vr in result.run_results.items():
        pages = ctx.get_docs_sites_urls(resource_identifier=result_id, site_name="ptp_site")
        docs_url = pages[0]["site_url"] if pages else None
        for r in vr.results:
            if r.success:
                continue
            cfg = r.expectation_config
            meta = cfg.meta or {}
            rows = _row_numbers(r.result.get("unexpected_index_list") or [])
            rule = f"{cfg.type}" + (f" on column {cfg.kwargs['column']}" if cfg.kwargs.get("column") else "")
            if _raised(r.exception_info):
                # Never pass GX's traceback on: it can quote values.
                raise ExtractError(f"validation rule {rule} could not run, so the extract cannot be checked",
                                   where=Where(file=item.file_name),
                                   hint="Ask the data officer to check the protocol's `expectations:` (column "
                                        "names, arguments), then ingest the file again.")
            if not rows:
                raise ExtractError(f"the extract as a whole fails the protocol's rule {rule}: "
                                   f"{meta.get('problem', 'see the Data Docs page')}", where=Where(file=item.file_name),
                                   hint=meta.get("hint") or "Send the validation page (Data Docs) to the partner.")
            reasons.append(pd.DataFrame({
                "source_row": rows, "field": meta.get("field"), "check_name": cfg.type,
                "problem": meta.get("problem", "fails " + cfg.type), "hint": meta.get("hint"),
            }))
    if docs_url is None:
        docs = ctx.get_docs_sites_urls(site_name="ptp_site")
        docs_url = docs[0]["site_url"] if docs else None
    columns = [c for c in QUARANTINE_COLUMNS if c != SOURCE_LINE]
    table = pd.concat(reasons, ignore_index=True) if reasons else pd.DataFrame(columns=columns)
    return table.sort_values(["source_row", "field"], kind="stable").reset_index(drop=True), docs_url


def with_lines(quarantine: pd.DataFrame, folder: Path) -> pd.DataFrame:
    """Add the file line each quarantined row starts on (differs from row + 1 after quoted newlines)."""
    path = folder / "lines.parquet"
    lines = pd.read_parquet(path) if path.exists() else pd.DataFrame({SOURCE_ROW: [], SOURCE_LINE: []})
    out = quarantine.astype({SOURCE_ROW: "int64"}).merge(lines.astype("int64"), on=SOURCE_ROW, how="left")
    if out[SOURCE_LINE].isna().any():
        out[SOURCE_LINE] = out[SOURCE_LINE].fillna(out[SOURCE_ROW] + 1)
    return out[QUARANTINE_COLUMNS].astype({SOURCE_LINE: "int64"})


def read_by_groups(path: Path, columns: list[str], dictionary: list[str]) -> pd.DataFrame:
    """The file's `columns` as one frame (`dictionary` columns as categories), built a row group at a time.

    Read whole, Arrow held every column of every row (dictionary codes as int32) beside the pandas copy
    being made: a 3M-row extract's 171 MB frame peaked at 1.16 GB. A group at a time: 0.67 GB."""
    from pandas.api.types import union_categoricals

    with pq.ParquetFile(path, read_dictionary=dictionary, pre_buffer=False) as file:
        if file.num_row_groups <= 1:
            return file.read(columns=columns).to_pandas()
        parts = [file.read_row_group(i, columns=columns).to_pandas() for i in range(file.num_row_groups)]
    whole: dict[str, Any] = {}
    for col in columns:  # a column at a time, each part's copy dropped as it is joined
        pieces = [part.pop(col) for part in parts]
        whole[col] = (pd.Series(union_categoricals(pieces), name=col)
                      if all(isinstance(p.dtype, pd.CategoricalDtype) for p in pieces)
                      else pd.concat(pieces, ignore_index=True))
    return pd.DataFrame(whole)


def validate(rt: Runtime, extract_id: str) -> Validation:
    folder = rt.work(extract_id)
    item = WorkItem.load(folder)
    protocol = rt.protocol(item.protocol_id, item.protocol_version)
    source = folder / "pseudonymised.parquet"
    # GX never sees tokens: they are not read here at all (most of the file's bytes), nor any column the
    # protocol's suite does not check (the attributes' JSON text above all).
    from ptp_pipeline.quality.suite import suite_for

    suite = suite_for(protocol, datetime.now(UTC).date())  # one suite for the columns read and the checks run
    used = suite_columns(suite)
    schema = pq.read_schema(source)
    seen = [c for c in schema.names if not c.startswith(UNSEEN) and (used is None or c in used)]
    # Text the suite reads comes straight from the file's dictionaries as categories (what `narrow` makes
    # anyway): 0.3 s for a 1M-row extract instead of 0.8 s to read the text and categorise it.
    text = [] if used is None else [c for c in seen if pa.types.is_large_string(schema.field(c).type)
                                    or pa.types.is_string(schema.field(c).type)]
    frame = read_by_groups(source, seen, text)
    received = len(frame)
    # Each step's frame replaces the one before, so GX runs beside one copy of the extract, not three (the file's,
    # GX's view and the narrowed one: 3M-row extract, 171 MB each).
    frame = narrow(gx_frame(frame), suite)
    release()
    quarantine, docs_url = run_suite(rt, frame, item, suite)
    del frame
    quarantine = with_lines(quarantine, folder)
    bad_rows = quarantine["source_row"].nunique()
    share = bad_rows / received if received else 0.0
    if share > protocol.quarantine_threshold:
        top = quarantine.groupby(["field", "problem"]).size().sort_values(ascending=False).head(3)
        summary = "; ".join(f"{f} {p} ({n} rows)" for (f, p), n in top.items())
        cause = likely_protocol_cause(quarantine, received)
        refusal = ThresholdRefusal(
            f"{bad_rows} of {received} rows ({share:.0%}) fail the protocol's checks, above its threshold of "
            f"{protocol.quarantine_threshold:.0%}, so the whole extract is refused. Most common: {summary}"
            + (f". {cause}" if cause else ""),
            where=Where(file=item.file_name),
            hint=("Check the protocol against the file first (`ptp protocol check`); correct it in a new version if "
                  "it is wrong, otherwise run `ptp feedback` for this extract and send the report to the partner."
                  if cause else "Run `ptp feedback` for this extract and send the report to the partner."),
        )
        refusal.quarantine, refusal.docs_url = quarantine, docs_url
        raise refusal
    quarantine.to_parquet(folder / accepted.QUARANTINE, index=False)
    # The accepted rows are the pseudonymised file less these (`quality/accepted.py`): no copy is written.
    (folder / accepted.LEGACY_VALIDATED).unlink(missing_ok=True)
    return Validation(received, received - bad_rows, bad_rows, docs_url)
