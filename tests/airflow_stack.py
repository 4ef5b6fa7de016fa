"""A real, throwaway Airflow deployment on loopback for live tests (importable as `airflow_stack`).

PostgreSQL metadata DB (its own database, dropped at the end), CeleryExecutor on the local Redis (its
own queue), and the api-server, dag-processor, triggerer, scheduler and a Celery worker as separate
processes, each in its own session so it can be stopped by its process id. Logs go to files under the
stack's folder so a failing test can show them.
"""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

PG = "postgresql+psycopg://postgres@127.0.0.1:5432"
REDIS = "redis://127.0.0.1:6379"
REPO = Path(__file__).resolve().parents[1]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class AirflowStack:
    """Start with `start()`, always `stop()` (it drops the database and the Redis queue)."""

    def __init__(self, root: Path, ptp_env: dict[str, str], worker_env: dict[str, str] | None = None) -> None:
        tag = secrets.token_hex(4)
        self.root = root
        self.db = f"ptp_t7_{tag}"
        self.queue = f"ptp_t7_{tag}"
        self.redis_db = 1 + secrets.randbelow(15)
        self.port = _free_port()
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        # the worker forks the task processes: PTP_PRELOAD=1 there imports their heavy modules once
        self.worker_env = {"PTP_PRELOAD": "1"} if worker_env is None else worker_env
        home = root / "airflow"
        home.mkdir(parents=True, exist_ok=True)
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW__", "PTP_"))}
        self.env.update(ptp_env)
        self.env.update({
            "AIRFLOW_HOME": str(home),
            "PYTHONPATH": os.pathsep.join([str(REPO / "config"), str(REPO)]),
            "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{self.port}/execution/",
            "AIRFLOW__CORE__FERNET_KEY": "",
            "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(32),
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(self.port),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"{PG}/{self.db}",
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
            # a changed protocol file (not its DAG file) is seen at the next parse of the DAG file
            "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "10",
            "AIRFLOW__CELERY__BROKER_URL": f"{REDIS}/{self.redis_db}",
            "AIRFLOW__CELERY__RESULT_BACKEND": f"db+{PG}/{self.db}",
            "AIRFLOW__CELERY__WORKER_CONCURRENCY": "2",
            "AIRFLOW__CELERY_BROKER_TRANSPORT_OPTIONS__VISIBILITY_TIMEOUT": "21600",
            "AIRFLOW__OPERATORS__DEFAULT_QUEUE": self.queue,
            "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
        })

    # -- processes ---------------------------------------------------------------------------
    def airflow(self, *args: str, timeout: float = 120) -> str:
        out = subprocess.run([sys.executable, "-m", "airflow", *args], env=self.env, capture_output=True,
                             text=True, timeout=timeout)
        if out.returncode:
            raise RuntimeError(f"airflow {' '.join(args)} failed:\n{out.stdout[-2000:]}\n{out.stderr[-4000:]}")
        return out.stdout

    def spawn(self, name: str, *args: str, env: dict[str, str] | None = None) -> None:
        log = (self.root / f"{name}.log").open("wb")
        self.procs[name] = subprocess.Popen([sys.executable, "-m", "airflow", *args], env={**self.env, **(env or {})},
                                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)

    def start(self) -> None:
        import psycopg

        with psycopg.connect("host=127.0.0.1 user=postgres dbname=postgres", autocommit=True) as con:
            con.execute(f'CREATE DATABASE "{self.db}"')
        self.airflow("db", "migrate", timeout=300)
        self.airflow("pools", "set", "ptp_warehouse_writer", "1", "DuckDB allows one writer")
        self.spawn("api-server", "api-server", "-H", "127.0.0.1", "-p", str(self.port), "-w", "1")
        self.spawn("dag-processor", "dag-processor")
        self.spawn("triggerer", "triggerer", "--skip-serve-logs")
        self.spawn("scheduler", "scheduler", "--skip-serve-logs")
        self.spawn("worker", "celery", "worker", "--skip-serve-logs", "-q", self.queue, "-c", "2", env=self.worker_env)

    def stop(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + 20
        for proc in self.procs.values():
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
        import psycopg
        import redis

        with psycopg.connect("host=127.0.0.1 user=postgres dbname=postgres", autocommit=True) as con:
            con.execute(f'DROP DATABASE IF EXISTS "{self.db}" WITH (FORCE)')
        client = redis.Redis(host="127.0.0.1", port=6379, db=self.redis_db)
        keys = [k for k in client.scan_iter(match=f"*{self.queue}*")]
        if keys:
            client.delete(*keys)

    # -- inspection --------------------------------------------------------------------------
    def sql(self, query: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        import psycopg

        with psycopg.connect(f"host=127.0.0.1 user=postgres dbname={self.db}") as con:
            return list(con.execute(query, params).fetchall())  # type: ignore[arg-type]

    def logs(self, tail: int = 40) -> str:
        parts = []
        for name in self.procs:
            lines = (self.root / f"{name}.log").read_text(errors="replace").splitlines()
            parts.append(f"--- {name} (exit {self.procs[name].poll()}) ---\n" + "\n".join(lines[-tail:]))
        return "\n".join(parts)

    def wait_for(self, what: str, check: Callable[[], bool], timeout: float, every: float = 2.0) -> float:
        """Poll until `check()` is true; fail with the process logs after `timeout` seconds."""
        start = time.monotonic()
        last: Exception | None = None
        while time.monotonic() - start < timeout:
            dead = [n for n, p in self.procs.items() if p.poll() is not None]
            if dead:
                raise AssertionError(f"{', '.join(dead)} exited while waiting for {what}\n{self.logs()}")
            try:
                if check():
                    return time.monotonic() - start
            except Exception as exc:  # the database may not be ready yet
                last = exc
            time.sleep(every)
        raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what} (last error: {last!r})\n"
                             f"{self.logs()}")
