"""Benchmark: pull a partner table of 100k and 1M rows from PostgreSQL and MariaDB on loopback.

Reports rows/s and the peak RSS of the pulling process. The pull streams through a server-side cursor
in chunks, so peak RSS should stay flat as the table grows. Each pull runs in its own child process;
its peak RSS comes from os.wait4. Run on demand (never in CI):

    PYTHONPATH=. .venv/bin/python bench/pull_sql.py [--sizes 100000 1000000] [--backends postgres mysql]
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SOURCE = "source: {kind: sql, conn_id: bench_db, table: contacts, watermark: contact_date, chunk_rows: 50000}\n"
COLUMNS = ("client_ref VARCHAR(20), nhs_number VARCHAR(20), forename VARCHAR(50), surname VARCHAR(50), "
           "date_of_birth VARCHAR(20), postcode VARCHAR(10), sex VARCHAR(1), contact_date DATE, service VARCHAR(40), "
           "unit_cost VARCHAR(20), social_worker_notes VARCHAR(200)")
SELECT = ("'C' || lpad(CAST(n AS {text}), 7, '0'), CAST(9000000000 + n AS {text}), "
          "'Forename' || CAST(n % 997 AS {text}), 'Surname' || CAST(n % 1999 AS {text}), "
          "'01/01/1980', 'LS1 1AA', 'M', {date}, 'asb_report', '123.45', "
          "'not for the partnership'")


def create(backend: str, name: str, rows: int) -> str:
    """Create and fill the partner database server-side; returns the Airflow connection JSON."""
    if backend == "postgres":
        import psycopg

        with psycopg.connect(host="127.0.0.1", user="postgres", dbname="postgres", autocommit=True) as c:
            c.execute(f"CREATE DATABASE {name}")  # type: ignore[arg-type]
        with psycopg.connect(host="127.0.0.1", user="postgres", dbname=name, autocommit=True) as c:
            c.execute(f"CREATE TABLE contacts ({COLUMNS})")  # type: ignore[arg-type]
            select = SELECT.format(text="text", date="date '2020-01-01' + (n % 1500)")
            c.execute(f"INSERT INTO contacts SELECT {select} FROM generate_series(1, {rows}) AS n")  # type: ignore[arg-type]
        return json.dumps({"conn_type": "postgres", "host": "127.0.0.1", "port": 5432, "login": "postgres",
                           "schema": name})
    import MySQLdb

    c = MySQLdb.connect(host="127.0.0.1", user="root", password="", autocommit=True)
    cur = c.cursor()
    cur.execute(f"CREATE DATABASE {name}")
    cur.execute(f"USE {name}")
    cur.execute(f"CREATE TABLE contacts ({COLUMNS})")
    cur.execute("SET SESSION sql_mode = 'PIPES_AS_CONCAT'")  # `||` concatenates, as in PostgreSQL
    select = SELECT.format(text="char", date="date_add('2020-01-01', INTERVAL (n % 1500) DAY)")
    cur.execute(f"INSERT INTO contacts SELECT {select} FROM (SELECT seq AS n FROM seq_1_to_{rows}) AS s")
    c.close()
    return json.dumps({"conn_type": "mysql", "host": "127.0.0.1", "port": 3306, "login": "root", "password": "",
                       "schema": name})


def drop(backend: str, name: str) -> None:
    if backend == "postgres":
        import psycopg

        with psycopg.connect(host="127.0.0.1", user="postgres", dbname="postgres", autocommit=True) as c:
            c.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")  # type: ignore[arg-type]
        return
    import MySQLdb

    c = MySQLdb.connect(host="127.0.0.1", user="root", password="", autocommit=True)
    c.cursor().execute(f"DROP DATABASE IF EXISTS {name}")
    c.close()


def child() -> None:
    """Pull once (land only, no ingest) and print rows and seconds."""
    from ptp_pipeline.pull.run import fetch, source_protocol
    from ptp_pipeline.runtime import Runtime
    from ptp_pipeline.settings import load_settings

    rt = Runtime(load_settings())
    try:
        protocol = source_protocol(rt, "council", "contacts")
        from ptp_pipeline.pull.connection import get_connection

        get_connection("bench_db").get_hook()  # warm up: provider imports are not part of the pull's speed
        started = time.perf_counter()
        pulled = fetch(rt, protocol)
        seconds = time.perf_counter() - started
        rows = int(rt.warehouse.scalar("SELECT sum(rows_pulled) FROM ops.pull_record"))
    finally:
        rt.close()
    print(json.dumps({"rows": rows, "seconds": seconds, "files": len(pulled.landed)}))


def run(backend: str, rows: int) -> dict[str, object]:
    name = f"ptp_bench_{uuid.uuid4().hex[:8]}"
    work = Path(tempfile.mkdtemp(prefix="ptp-bench-"))
    try:
        conn = create(backend, name, rows)
        shutil.copytree(REPO / "protocols", work / "protocols")
        protocol = work / "protocols" / "council_contacts.yaml"
        protocol.write_text(protocol.read_text() + SOURCE)
        env = {**os.environ, "PTP_HOME": str(work / "home"), "PTP_KEY": secrets.token_hex(32),
               "PTP_PROTOCOLS_DIR": str(work / "protocols"), "AIRFLOW_CONN_BENCH_DB": conn,
               "AIRFLOW_HOME": str(work / "airflow"), "PYTHONPATH": str(REPO)}
        proc = subprocess.Popen([sys.executable, __file__, "--child"], env=env, stdout=subprocess.PIPE, text=True)
        assert proc.stdout is not None
        out = proc.stdout.read()
        _, status, usage = os.wait4(proc.pid, 0)
        if status != 0:
            raise SystemExit(f"pull failed for {backend} {rows}")
        result = json.loads(out.strip().splitlines()[-1])
        assert result["rows"] == rows, result
        return {"backend": backend, "rows": rows, "seconds": round(result["seconds"], 2),
                "rows_per_s": round(rows / result["seconds"]), "peak_rss_mb": round(usage.ru_maxrss / 1024)}
    finally:
        drop(backend, name)
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="+", type=int, default=[100_000, 1_000_000])
    parser.add_argument("--backends", nargs="+", default=["postgres", "mysql"], choices=["postgres", "mysql"])
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child()
        return
    print(f"{'backend':<9} {'rows':>10} {'seconds':>8} {'rows/s':>9} {'peak RSS MB':>12}")
    for backend in args.backends:
        for rows in args.sizes:
            r = run(backend, rows)
            print(f"{r['backend']:<9} {r['rows']:>10,} {r['seconds']:>8} {r['rows_per_s']:>9,} {r['peak_rss_mb']:>12}")


if __name__ == "__main__":
    main()
