"""Settings in one place: read once at the edge (CLI command, Airflow task) and passed down."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from ptp_pipeline.errors import ConfigError
from ptp_pipeline.parallel import default_workers

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
    workers: int | None = Field(
        default=None, ge=1, le=64,
        description="Threads a stage may run its independent parts on (default: this machine's cores, at most "
                    "4). Set 1 where each Airflow worker slot should use one core.")
    theme: str | None = Field(
        default=None, pattern=r"^[a-z][a-z0-9_-]*$",
        description="One theme of a deployment: protocols/<theme>/ with its own project.yaml (see `for_theme`).")

    @field_validator("home", "protocols_dir")
    @classmethod
    def _absolute(cls, value: Path) -> Path:
        """Absolute paths, so GX, Airflow workers and subprocesses agree on where things are."""
        return value.expanduser().resolve()

    @property
    def warehouse_url(self) -> str:
        return self.warehouse or f"duckdb:///{(self.home / 'ptp.duckdb').resolve()}"

    @property
    def stage_workers(self) -> int:
        return self.workers or default_workers()

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


#: Where a theme's own state lives under the deployment's PTP_HOME.
THEMES_HOME = "themes"


def themes(protocols_dir: Path) -> list[str]:
    """The themes of a deployment: sub-folders of the protocols folder holding a project.yaml."""
    return sorted(p.parent.name for p in protocols_dir.glob("*/project.yaml"))


def served_themes(protocols_dir: Path) -> list[str | None]:
    """The themes one Airflow serves: None (the flat default theme) when the protocols folder has a project.yaml
    of its own or no theme at all, then every named theme."""
    named = themes(protocols_dir)
    flat: list[str | None] = [None] if (protocols_dir / "project.yaml").is_file() or not named else []
    return [*flat, *named]


def theme_settings(theme: str | None) -> Settings:
    """The settings of the theme a caller names (an Airflow task: its DAG's theme), whatever PTP_THEME says:
    one Airflow worker serves every theme, so the process environment cannot say which one a task is for."""
    return for_theme(Settings(theme=theme))


def for_theme(settings: Settings) -> Settings:
    """The settings of one theme: a deployment's themes share nothing but the machine and the key secret.

    Protocols and project.yaml come from protocols/<theme>/; landing, work area, Data Docs, reports and the
    default DuckDB warehouse from $PTP_HOME/themes/<theme>/. A server warehouse must name one database per
    theme with `{theme}` in PTP_WAREHOUSE. One PTP_KEY may serve every theme: sub-keys are derived with the
    theme's project id, so tokens of two themes never match.
    """
    theme = settings.theme
    if theme is None:
        found = themes(settings.protocols_dir)
        if found and not (settings.protocols_dir / "project.yaml").is_file():
            raise ConfigError(f"the protocols folder {settings.protocols_dir} holds themes ({', '.join(found)}) and "
                              "no project.yaml of its own, so a command must name its theme",
                              hint="Add --theme THEME to the command (or set PTP_THEME).")
        return settings
    folder = settings.protocols_dir / theme
    if not (folder / "project.yaml").is_file():
        known = ", ".join(themes(settings.protocols_dir)) or "none"
        raise ConfigError(f"theme '{theme}' has no project.yaml in {folder} (themes of this deployment: {known})",
                          hint="Give one of the themes listed, or create protocols/<theme>/project.yaml for a new one.")
    warehouse = settings.warehouse
    if warehouse is not None:
        if "{theme}" not in warehouse:
            raise ConfigError("PTP_WAREHOUSE names one warehouse, but each theme needs its own (its own population "
                              "and tables)", hint="Put {theme} in PTP_WAREHOUSE, e.g. postgresql://ptp@db/ptp_{theme}, "
                                                  "and create one database per theme.")
        warehouse = warehouse.replace("{theme}", theme)
    return settings.model_copy(update={"protocols_dir": folder, "home": settings.home / THEMES_HOME / theme,
                                       "warehouse": warehouse})


def load_settings(environ: dict[str, str] | None = None) -> Settings:
    """Build settings from an explicit environment (tests) or the process environment; with PTP_THEME, the
    settings of that theme (`for_theme`)."""
    try:
        if environ is None:
            settings = Settings()
        else:
            settings = Settings.model_validate({k[4:].lower(): v for k, v in environ.items() if k.startswith("PTP_")})
    except ValidationError as err:  # a setting's value is never quoted: PTP_KEY is one of them
        problems = "; ".join(f"PTP_{'_'.join(str(p) for p in e['loc']).upper()}: {e['msg'].lower()}"
                             for e in err.errors())
        raise ConfigError(f"a setting in the environment is not valid ({problems})",
                          hint="Correct or unset the variable named, then run the command again.") from None
    return for_theme(settings)
