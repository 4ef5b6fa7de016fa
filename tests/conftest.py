"""Shared fixtures. Airflow settings are fixed here, before anything imports Airflow."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import tempfile
from collections.abc import Iterator
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
