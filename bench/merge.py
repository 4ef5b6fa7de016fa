"""Merge throughput on both backends for one large, already validated extract.

Builds the files the validate stage leaves (pseudonymised.parquet, quarantine.parquet) for an extract of
N rows (default 1,000,000: ~10 events per person, 2 match keys, 1% quarantined), then times the merge
stage alone (load, link, rebuild persons, ledger, audit) into an empty warehouse, each backend in its
own process so peak memory is per backend. Run on demand, never in CI:

    PYTHONPATH=. .venv/bin/python bench/merge.py [--rows 1000000] [--backend duckdb|postgresql|both]

PostgreSQL: a throwaway database on 127.0.0.1:5432 (user postgres) is created and dropped.
"""

from __future__ import annotations

import argparse
import json
import secrets
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).parent))
from common import peak_rss_mb, scratch_warehouse


def build(folder: Path, rows: int, seed: int = 1, persons: int | None = None, person_offset: int = 0,
          extract_no: int = 1, start: str = "2024-01-01", days: int = 365) -> tuple[str, int]:
    """The validate stage's output for a police extract of `rows` rows (linkage tokens per field).

    Person p always carries the same identity tokens, so an increment can bring back existing persons
    (person numbers below `person_offset + persons` drawn again) as a real nightly file does.
    """
    from ptp_pipeline.linkage.fields import TOKEN_COLUMNS
    from ptp_pipeline.runtime import WorkItem

    rng = np.random.default_rng(seed)
    persons = persons or max(rows // 10, 1)
    person = person_offset + rng.integers(0, persons, rows)

    def tok(field: str, values: np.ndarray, width: int = 16) -> pd.Series:
        keyed = pd.util.hash_array(np.char.add(field + ":", values.astype(str)).astype(object))
        return pd.Series([f"{v:016x}"[:width] for v in keyed], dtype="string")

    uniq, inverse = np.unique(person, return_inverse=True)

    def draw(field: int, pool: int) -> np.ndarray:
        """A person's value in a pool of `pool`, fixed per person, independent across fields. (It was p % pool:
        with pools of 5,000 forenames, 20,000 surnames and 30,000 dates, persons p and p + 60,000 were one
        identity, so the 5M-event warehouse held 29,956 persons of 166 events each, not ~10.)"""
        return pd.util.hash_array(uniq.astype(np.uint64) * np.uint64(97) + np.uint64(field)) % np.uint64(pool)

    fn, sn, dob, sec = draw(1, 5000), draw(2, 20000), draw(3, 30000), draw(4, 900)
    frame = pd.DataFrame({"source_row": np.arange(2, rows + 2, dtype=np.int64)})
    has_nhs = (uniq % 10) < 7
    cols: dict[str, pd.Series] = {}
    for col in TOKEN_COLUMNS:
        cols[col] = pd.Series(pd.NA, index=range(len(uniq)), dtype="string")
    # Coarser forms follow their field (one surname, one sound), as pseudonymise makes them.
    cols["fn"] = tok("fn", fn)
    cols["fn_full"] = cols["fn"]
    cols["sn"] = tok("sn", sn)
    cols["fn_ph"], cols["sn_ph"] = tok("fp", fn % 3000), tok("sp", sn % 8000)
    cols["fn3"], cols["sn3"], cols["sn_l3"] = tok("f3", fn % 900), tok("s3", sn % 2000), tok("l3", sn % 1999)
    cols["fn_i"] = tok("fi", fn % 26)
    cols["dob"] = tok("dob", dob)
    cols["dob_y"], cols["dob_m"], cols["dob_d"] = tok("y", dob % 80), tok("m", dob % 12), tok("d", dob % 28)
    cols["pc"], cols["pc_sec"], cols["pc_dist"] = tok("pc", uniq), tok("ps", sec), tok("pd", sec % 40)
    cols["sex"] = tok("sex", uniq % 2)
    cols["nhs"] = tok("nhs", uniq).where(pd.Series(has_nhs))
    cols["ident"] = tok("ident", uniq, 32)
    frame["key__t_ident"] = cols["ident"].to_numpy()[inverse]
    pd.DataFrame(cols).to_parquet(folder / "identities.parquet", index=False)  # one row per identity
    frame["birth_year"] = pd.array(1950 + person % 50, dtype="Int64")
    frame["district"] = pd.array(np.array(["LS1", "LS6", "LS9", "LS11"])[person % 4], dtype="string")
    frame["sex"] = pd.array(np.array(["M", "F"])[person % 2], dtype="string")
    frame["event_date"] = pd.Timestamp(start) + pd.to_timedelta(rng.integers(0, days, rows), unit="D")
    frame["event_type"] = pd.array(np.array(["incident", "arrest", "custody"])[rng.integers(0, 3, rows)],
                                   dtype="string")
    frame["cost"] = np.round(rng.gamma(2.0, 300.0, rows), 2)
    frame["setting"] = pd.array([None] * rows, dtype="string")
    frame["attributes"] = pd.array([None] * rows, dtype="string")
    bad = frame.sample(frac=0.01, random_state=seed)["source_row"]
    quarantine = pd.DataFrame({"source_row": bad.to_numpy(), "field": "estimated_cost", "check_name": "between",
                               "problem": "cost out of range", "hint": "correct at source"})
    frame.to_parquet(folder / "pseudonymised.parquet", index=False)  # as the stage leaves it: merge drops the bad
    quarantine.to_parquet(folder / "quarantine.parquet", index=False)
    (folder / "validation.json").write_text(json.dumps({}))
    extract_id = f"police.incidents.bench{extract_no:011d}"
    WorkItem(extract_id=extract_id, partner="police", dataset="incidents", file_name=f"bench{extract_no}.csv",
             sha256=f"{extract_no:064d}", protocol_id="police-incidents", protocol_version=1,
             received_at=datetime.now(UTC).isoformat(), rows_received=rows).save(folder)
    return extract_id, int(len(frame) - len(bad))


def run_one(url: str, home: Path, rows: int) -> dict[str, object]:
    from ptp_pipeline import pipeline
    from ptp_pipeline.runtime import Runtime
    from ptp_pipeline.settings import load_settings
    from ptp_pipeline.warehouse import open_warehouse

    open_warehouse(url, migrate=True).close()  # the admin's `ptp migrate` (a server schema never migrates itself)
    rt = Runtime(load_settings({"PTP_HOME": str(home), "PTP_KEY": secrets.token_hex(32), "PTP_WAREHOUSE": url}))
    extract_id = "police.incidents.bench00000000001"
    folder = rt.work(extract_id)
    t0 = time.perf_counter()
    extract_id, accepted = build(folder, rows)
    built = time.perf_counter() - t0
    wh = rt.warehouse
    wh.execute("INSERT INTO ops.extract_ledger (extract_id, partner, dataset, protocol_id, protocol_version, "
               "file_name, sha256, received_at, status) VALUES (?, 'police', 'incidents', 'police-incidents', 1, "
               "'bench.csv', ?, ?, 'received')", (extract_id, "0" * 64, datetime.now(UTC).replace(tzinfo=None)))
    rss_before = peak_rss_mb() * 1024
    t0 = time.perf_counter()
    pipeline.merge(rt, extract_id)
    seconds = time.perf_counter() - t0
    status = wh.scalar("SELECT status FROM ops.extract_ledger WHERE extract_id = ?", (extract_id,))
    events = int(wh.scalar("SELECT count(*) FROM shared.pathway_event"))
    persons = int(wh.scalar("SELECT count(*) FROM shared.person"))
    rt.close()
    return {"backend": url.split(":", 1)[0], "rows": rows, "accepted": accepted, "status": status,
            "events": events, "persons": persons, "build_s": round(built, 1), "merge_s": round(seconds, 2),
            "rows_per_s": round(accepted / seconds), "peak_rss_mb_before_merge": round(rss_before / 1024),
            "peak_rss_mb": peak_rss_mb()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--backend", choices=["duckdb", "postgresql", "both"], default="both")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(run_one(args.child, Path(tempfile.mkdtemp(prefix="ptp-bench-")), args.rows)))
        return
    backends = ["duckdb", "postgresql"] if args.backend == "both" else [args.backend]
    for backend in backends:
        with scratch_warehouse(backend, "ptp-bench-") as url:
            out = subprocess.run([sys.executable, __file__, "--rows", str(args.rows), "--child", url],
                                 check=True, capture_output=True, text=True)
            print(out.stdout.strip().splitlines()[-1])


if __name__ == "__main__":
    main()
