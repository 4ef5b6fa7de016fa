"""Issue 16.1: two tiers of access. A partner holding its own raw extract (the synthetic police file) joins it
to everything its analysts can read (the published tier: `ptp export`, `ptp report`, and on PostgreSQL every
table the analyst's login may select) by event id, by (date, type, cost) and by any combination of up to
three columns present on both sides: no row joins. The same attack on the pipeline's own record-level table
links nearly every row (so the test can fail). Then every role's allowed and refused actions as PostgreSQL
logins, the researcher's declared purpose included."""

from __future__ import annotations

import hashlib
import itertools
import re
from pathlib import Path

import pandas as pd
import psycopg
import pytest
from helpers import assert_conserved, pg_refused

from ptp_pipeline.cli import main
from ptp_pipeline.runtime import Runtime
from ptp_pipeline.settings import load_settings
from ptp_pipeline.synthetic import SyntheticResult

DAY_FIRST = re.compile(r"^\d{1,2}/\d{1,2}/\d{4}$")


def canonical(column: pd.Series) -> pd.Series:
    """One comparable text per value: numbers to 2 decimals, dates as ISO days, other text lower-case."""
    values = column.dropna()
    if pd.api.types.is_datetime64_any_dtype(column):
        return column.dt.strftime("%Y-%m-%d")
    text = values.astype(str).str.strip()
    numbers = pd.to_numeric(text, errors="coerce")
    if len(text) and numbers.notna().all():
        return numbers.map(lambda x: f"{x:.2f}").reindex(column.index)
    if len(text) and text.str.match(DAY_FIRST).mean() > 0.9:
        return pd.to_datetime(text, format="%d/%m/%Y", errors="coerce").dt.strftime("%Y-%m-%d").reindex(column.index)
    return text.str.lower().reindex(column.index)


def raw_view(path: Path) -> pd.DataFrame:
    """What the partner holds: its raw file, plus the forms a pipeline might derive from it."""
    raw = pd.read_csv(path, dtype=str, keep_default_na=False).replace("", pd.NA)
    view = pd.DataFrame({c: canonical(raw[c]) for c in raw.columns})
    occurred = pd.to_datetime(raw["occurred_on"], format="%d/%m/%Y", errors="coerce")
    view["event_month"] = occurred.dt.strftime("%Y-%m")
    view["event_month_day1"] = occurred.dt.to_period("M").dt.start_time.dt.strftime("%Y-%m-%d")
    view["district"] = raw["home_postcode"].str.split(" ").str[0].str.lower()
    born = pd.to_datetime(pd.to_numeric(raw["birth_date"], errors="coerce"), unit="D", origin="1899-12-30")
    view["birth_year"] = born.dt.year.map(lambda y: f"{y:.2f}", na_action="ignore")
    return view


def links(raw: pd.DataFrame, table: pd.DataFrame) -> int:
    """Raw rows linked one-to-one to a row of `table` on some combination of 1-3 column pairs whose values
    overlap. A lone number matching a lone number (a cost of 1,355 and a count of 1,355) links nothing."""
    table = pd.DataFrame({c: canonical(table[c]) for c in table.columns}) if len(table) else table
    pairs = [(r, t) for r in raw.columns for t in table.columns if set(raw[r].dropna()) & set(table[t].dropna())]
    total = 0
    for size in (1, 2, 3):
        for combo in itertools.combinations(pairs, size):
            rcols, tcols = [r for r, _ in combo], [t for _, t in combo]
            if len(set(rcols)) < size or len(set(tcols)) < size:
                continue
            left = raw[rcols].dropna()
            if size == 1 and pd.to_numeric(left[rcols[0]], errors="coerce").notna().all():
                continue
            left = left[~left.duplicated(keep=False)]
            right = table[tcols].dropna()
            right = right[~right.duplicated(keep=False)].set_axis(rcols, axis=1)
            total += len(left.merge(right, on=rcols))
    return total


def readable_by_analyst(tmp_path: Path, pg_login: str | None) -> tuple[dict[str, pd.DataFrame], str]:
    """Everything a partner's analyst can read: the export, the report, and (PostgreSQL) every table it may select."""
    assert main(["export", str(tmp_path / "export")]) == 0
    assert main(["report", "--out", str(tmp_path / "report.html")]) == 0
    tables = {f"export/{p.name}": pd.read_parquet(p) for p in (tmp_path / "export").glob("*.parquet")}
    text = (tmp_path / "report.html").read_text(encoding="utf-8")
    text += "".join(p.read_text(encoding="utf-8") for p in (tmp_path / "export").glob("*.html"))
    if pg_login is not None:
        with psycopg.connect(pg_login) as con:
            names = con.execute(
                "SELECT table_schema, table_name FROM information_schema.tables WHERE table_schema "
                "NOT IN ('pg_catalog', 'information_schema') AND "
                "has_table_privilege(quote_ident(table_schema) || '.' || quote_ident(table_name), "
                "'SELECT')"
            ).fetchall()
            for schema, name in names:
                cur = con.execute(f'SELECT * FROM "{schema}"."{name}"')
                columns = [d.name for d in cur.description or []]
                tables[f"{schema}.{name}"] = pd.DataFrame(cur.fetchall(), columns=columns)
    assert tables and any(len(t) for t in tables.values()), "the analyst could read nothing: the test proves nothing"
    return tables, text


@pytest.fixture
def partnership(
    wh_env: dict[str, str], synthetic: SyntheticResult, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> dict[str, str]:
    """The synthetic partnership ingested and derived by the pipeline's login (PostgreSQL: its own login)."""
    logins: dict[str, str] = {}
    if wh_env["PTP_WAREHOUSE"].startswith("postgresql"):
        logins = request.getfixturevalue("logins")
        monkeypatch.setenv("PTP_WAREHOUSE", logins["ptp_pipeline"])
    for e in synthetic.extracts:
        assert main(["ingest", str(e.path), "--partner", e.partner, "--dataset", e.dataset]) == 0
    assert main(["pathways"]) == 0
    return logins


def test_a_partner_joining_its_raw_file_to_what_its_analysts_read_links_no_row(
    partnership: dict[str, str],
    wh_env: dict[str, str],
    synthetic: SyntheticResult,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    police = next(e for e in synthetic.extracts if e.partner == "police")
    raw = raw_view(police.path)
    rt = Runtime(load_settings({**wh_env, "PTP_WAREHOUSE": partnership.get("ptp_pipeline", wh_env["PTP_WAREHOUSE"])}))
    try:
        assert_conserved(rt)
        events = rt.warehouse.query(
            "SELECT event_id, event_date, event_type, cost, extract_id "
            "FROM shared.pathway_event WHERE agency = 'police'"
        )
    finally:
        rt.close()
    # Positive control: the same attack on the record-level table links nearly every police row.
    assert links(raw, events.drop(columns=["event_id", "extract_id"])) > 0.9 * len(raw)

    if partnership:
        monkeypatch.setenv("PTP_WAREHOUSE", partnership["ptp_analyst"])
    monkeypatch.delenv("PTP_KEY")  # an analyst holds no key
    tables, text = readable_by_analyst(tmp_path, partnership.get("ptp_analyst"))
    digest = hashlib.sha256(police.path.read_bytes()).hexdigest()
    ids = set(events["event_id"]) | set(events["extract_id"]) | {digest[:16], digest}
    ids |= {f"police.incidents.{digest[:16]}:{row}" for row in range(1, len(raw) + 2)}  # the old file-hash ids
    for name, table in tables.items():
        cells = set(table.astype(str).to_numpy().ravel())
        assert not cells & ids, f"{name} holds an event or extract id"
        assert not {"person_id", "event_id", "extract_id", "household_id", "event_date"} & set(table.columns), name
        assert links(raw, table) == 0, f"rows of the partner's own file join to {name}"
    assert not [i for i in ids if i in text]


def count(url: str, sql: str) -> int:
    with psycopg.connect(url) as con:
        return int(con.execute(sql).fetchone()[0])  # type: ignore[index]


@pytest.mark.parametrize("warehouse_url", ["postgresql"], indirect=True)
def test_every_role_may_do_its_own_work_and_nothing_else(
    partnership: dict[str, str],
    wh_env: dict[str, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    analyst, researcher = partnership["ptp_analyst"], partnership["ptp_researcher"]
    reidentifier, pipeline = partnership["ptp_reidentifier"], partnership["ptp_pipeline"]
    record_level = (
        "shared.person",
        "shared.pathway_event",
        "shared.person_pathway",
        "shared.household_pathway",
        "research.person",
        "research.event",
        "restricted.link_record",
        "restricted.vault",
        "ops.extract_ledger",
        "ops.audit_log",
        "ops.research_purpose",
    )
    # Analyst: the published tier, nothing record-level, nothing written.
    assert count(analyst, "SELECT count(*) FROM published.transitions") > 0
    for table in record_level:
        assert pg_refused(analyst, f"SELECT * FROM {table} LIMIT 1"), table
    for sql in (
        "INSERT INTO published.headline VALUES ('x', 1)",
        "DELETE FROM published.report",
        "SELECT research.declare_purpose('looking at the rows for fun')",
    ):
        assert pg_refused(analyst, sql), sql
    monkeypatch.delenv("PTP_KEY")
    monkeypatch.setenv("PTP_WAREHOUSE", analyst)
    assert main(["export", str(tmp_path / "a"), "--tier", "research", "--purpose", "a long enough purpose"]) == 6
    capsys.readouterr()

    # Researcher: no research row until a purpose is declared; never shared, restricted or ops; writes nothing.
    assert count(researcher, "SELECT count(*) FROM research.event") == 0
    for table in [t for t in record_level if not t.startswith("research.")]:
        assert pg_refused(researcher, f"SELECT * FROM {table} LIMIT 1"), table
    for sql in (
        "INSERT INTO research.person (person_id) VALUES (1)",
        "DELETE FROM research.event",
        "INSERT INTO ops.research_purpose VALUES ('x', now(), 'a forged declaration')",
    ):
        assert pg_refused(researcher, sql), sql
    assert pg_refused(researcher, "SELECT research.declare_purpose('short')")
    monkeypatch.setenv("PTP_WAREHOUSE", researcher)
    assert main(["export", str(tmp_path / "r"), "--tier", "research"]) == 2  # no purpose: refused in words
    assert (
        main(
            [
                "export",
                str(tmp_path / "r"),
                "--tier",
                "research",
                "--purpose",
                "Evaluation of the alcohol pathway, ethics ref 2025-07",
            ]
        )
        == 0
    )
    research = pd.read_parquet(tmp_path / "r" / "event.parquet")
    assert len(research) > 0 and "event_date" not in research and "cost" not in research
    assert count(researcher, "SELECT count(*) FROM research.event") == len(research)
    login = researcher.split("://", 1)[1].split("@", 1)[0]
    with psycopg.connect(pipeline) as con:
        declared = con.execute("SELECT login, purpose FROM ops.research_purpose").fetchall()
    assert declared == [(login, "Evaluation of the alcohol pathway, ethics ref 2025-07")]

    # Re-identifier: shared and restricted, not the research tier or the vault directly; writes no rows.
    assert count(reidentifier, "SELECT count(*) FROM shared.person") > 0
    for sql in (
        "SELECT * FROM research.event LIMIT 1",
        "SELECT * FROM restricted.vault LIMIT 1",
        "INSERT INTO shared.person (person_id) VALUES (-1)",
        "DELETE FROM published.report",
    ):
        assert pg_refused(reidentifier, sql), sql

    # Pipeline: writes every tier's rows; no DDL, no rewriting the audit log or the purposes declared.
    assert count(pipeline, "SELECT count(*) FROM research.event") > 0
    for sql in (
        "CREATE TABLE published.mine (x int)",
        "UPDATE ops.audit_log SET detail = 'x'",
        "DELETE FROM ops.research_purpose",
        "DROP TABLE research.event",
    ):
        assert pg_refused(pipeline, sql), sql
    assert not pg_refused(pipeline, "DELETE FROM published.report")  # rolled back by `refused`
