"""Settings in one place: read once at the edge (CLI command, Airflow task) and passed down."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_PROTOCOLS = Path(__file__).resolve().parent.parent / "protocols"


class Settings(BaseSettings):
    """Environment settings, prefix ``PTP_``.

    ``home`` holds the working state of one installation: landing area, restricted work area,
    key file (demo only), Data Docs, reports and, by default, the DuckDB warehouse.
    """

    model_config = SettingsConfigDict(env_prefix="PTP_", extra="ignore")

    home: Path = Field(default=Path(".ptp"))
    warehouse: str | None = None
    watch_interval: float = Field(default=10.0, gt=0, description="Seconds between landing-folder scans (Airflow).")
    protocols_dir: Path = Field(default=REPO_PROTOCOLS)
    key: SecretStr | None = None
    key_file: Path | None = None
    key_airflow_variable: str | None = Field(
        default=None, description="Name of an Airflow Variable holding the key (so a secrets backend works).")
    reid_public_key_file: Path | None = None
    reid_key_file: Path | None = None

    @field_validator("home", "protocols_dir")
    @classmethod
    def _absolute(cls, value: Path) -> Path:
        """Absolute paths, so GX, Airflow workers and subprocesses agree on where things are."""
        return value.expanduser().resolve()

    @property
    def warehouse_url(self) -> str:
        return self.warehouse or f"duckdb:///{(self.home / 'ptp.duckdb').resolve()}"

    @property
    def landing_dir(self) -> Path:
        return self.home / "landing"

    @property
    def claimed_dir(self) -> Path:
        """Files claimed from landing by the Airflow watcher, waiting for or taken by an ingest run."""
        return self.home / "claimed"

    @property
    def work_dir(self) -> Path:
        """Restricted work area: files between stages; never published."""
        return self.home / "work"

    @property
    def docs_dir(self) -> Path:
        return self.home / "data-docs"

    @property
    def gx_dir(self) -> Path:
        return self.home / "gx"

    @property
    def default_key_file(self) -> Path:
        return self.home / "keys" / "project.key"

    @property
    def default_reid_public_key_file(self) -> Path:
        return self.home / "keys" / "reid_public.pem"


def load_settings(environ: dict[str, str] | None = None) -> Settings:
    """Build settings from an explicit environment (tests) or the process environment."""
    if environ is None:
        return Settings()
    values = {k[4:].lower(): v for k, v in environ.items() if k.startswith("PTP_")}
    return Settings.model_validate(values)
