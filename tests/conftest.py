"""Shared fixtures. Airflow settings are fixed here, before anything imports Airflow."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
_AIRFLOW_HOME = Path(tempfile.mkdtemp(prefix="ptp-airflow-"))
os.environ.update({
    "AIRFLOW_HOME": str(_AIRFLOW_HOME),
    "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
    "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
    "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{_AIRFLOW_HOME / 'airflow.db'}",
    "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
    # The command line sizes its tables to the terminal (ptp_pipeline/cli/common.py); pytest-xdist's workers
    # say 80 columns, a plain run whatever the terminal is: tests read the same tables either way.
    "COLUMNS": "200",
})
for _name in [k for k in os.environ if k.startswith("PTP_")]:
    del os.environ[_name]
# Airflow's cluster policy (airflow_local_settings.py) lives in config/: on the path of this process
# and of every Airflow process a test starts.
_CONFIG = str(REPO / "config")
sys.path.insert(0, _CONFIG)
os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (_CONFIG, str(REPO), os.environ.get("PYTHONPATH")) if p)

from ptp_pipeline.runtime import Runtime  # noqa: E402
from ptp_pipeline.settings import load_settings  # noqa: E402
from ptp_pipeline.synthetic import SyntheticConfig, SyntheticResult, generate  # noqa: E402


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """A fresh installation: its own home, warehouse and key, set in the environment."""
    values = {"PTP_HOME": str(tmp_path / "home"), "PTP_KEY": secrets.token_hex(32)}
    for k, v in values.items():
        monkeypatch.setenv(k, v)
    return values


@pytest.fixture
def rt(env: dict[str, str]) -> Iterator[Runtime]:
    runtime = Runtime(load_settings(env))
    yield runtime
    runtime.close()


@pytest.fixture(scope="session")
def synthetic(tmp_path_factory: pytest.TempPathFactory) -> SyntheticResult:
    """A small synthetic partnership (read-only: tests copy what they change)."""
    return generate(tmp_path_factory.mktemp("synthetic"), SyntheticConfig(n_persons=400, seed=7))


@pytest.fixture(scope="session")
def airflow_db() -> Path:
    """Airflow's metadata DB (SQLite) migrated once per test session."""
    subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], check=True, capture_output=True,
                   env=os.environ.copy())
    return _AIRFLOW_HOME


PG_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
PG_START_HINT = ("PostgreSQL is not reachable on 127.0.0.1:5432. Start it with "
                 "`pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start` and rerun.")


def migrate(url: str) -> str:
    """What the admin login does once per installation (`ptp migrate`); other logins never change the schema."""
    from ptp_pipeline.warehouse import open_warehouse

    open_warehouse(url, migrate=True).close()
    return url


@pytest.fixture
def pg_databases() -> Iterator[Callable[..., str]]:
    """Makes fresh PostgreSQL databases for one test (dropped after it); fails if the server is down.

    Each is migrated by the admin login (`postgres`), as `ptp migrate` would: the pipeline never migrates
    a server database. `make(migrated=False)` gives an empty one.
    """
    import psycopg

    made: list[str] = []

    def make(migrated: bool = True) -> str:
        name = f"ptp_test_{secrets.token_hex(6)}"
        try:
            with psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=5) as admin:
                admin.execute(f"CREATE DATABASE {name}")
        except psycopg.OperationalError:
            pytest.fail(PG_START_HINT)
        made.append(name)
        url = f"postgresql://postgres@127.0.0.1:5432/{name}"
        return migrate(url) if migrated else url

    yield make
    if made:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
            for name in made:
                admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture
def pg_database(pg_databases: Callable[..., str]) -> str:
    return pg_databases()


@pytest.fixture(params=["duckdb", "postgresql"])
def warehouse_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """One warehouse per test on each backend: the behavioural suite runs on both."""
    if request.param == "postgresql":
        return str(request.getfixturevalue("pg_database"))
    return f"duckdb:///{tmp_path / 'wh' / 'ptp.duckdb'}"


@pytest.fixture
def wh_env(env: dict[str, str], warehouse_url: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """`env` with PTP_WAREHOUSE set to the backend under test."""
    monkeypatch.setenv("PTP_WAREHOUSE", warehouse_url)
    return {**env, "PTP_WAREHOUSE": warehouse_url}


@pytest.fixture
def wh_rt(wh_env: dict[str, str]) -> Iterator[Runtime]:
    runtime = Runtime(load_settings(wh_env))
    yield runtime
    runtime.close()


@pytest.fixture(scope="session")
def pathways_env(synthetic: SyntheticResult, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The `synthetic` partnership ingested once and its pathway tables rebuilt (read-only for tests)."""
    from helpers import assert_conserved

    from ptp_pipeline.pathways import rebuild
    from ptp_pipeline.pipeline import ingest

    # A fixed key, so linkage (and with it the golden report) is the same on every run.
    values = {"PTP_HOME": str(tmp_path_factory.mktemp("pathways") / "home"), "PTP_KEY": "5a" * 32}
    runtime = Runtime(load_settings(values))
    try:
        for extract in synthetic.extracts:
            assert ingest(runtime, extract.path, extract.partner, extract.dataset).status == "merged"
        assert_conserved(runtime)
        rebuild(runtime)
    finally:
        runtime.close()
    return values
