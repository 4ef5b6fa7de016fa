"""What a stage needs, built once at the edge (CLI command or Airflow task) and passed down."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from ptp_pipeline.memory import one_malloc_arena
from ptp_pipeline.privacy.keys import ProjectKey, key_from_airflow_variable, load_key
from ptp_pipeline.protocol import ProjectConfig, Protocol, load_project
from ptp_pipeline.protocol.load import load_protocols_tolerant
from ptp_pipeline.settings import Settings
from ptp_pipeline.warehouse import Warehouse, open_warehouse

#: Everything the pipeline writes is for its own account only: files 0600, folders 0700.
UMASK = 0o077


def private_home(home: Path) -> None:
    """Set the process umask to 077 and make PTP_HOME owner-only (0700), tightening an existing one.

    PTP_HOME holds the DuckDB warehouse (with `restricted`), raw copies and keys: no other local user
    may read it. A home owned by another account is left as it is (its owner decides).
    """
    os.umask(UMASK)
    home.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        if home.stat().st_mode & 0o077:
            home.chmod(0o700)
    except PermissionError:
        pass


@dataclass
class Runtime:
    settings: Settings
    _warehouse: Warehouse | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        private_home(self.settings.home)
        if self.settings.stage_workers > 1:
            one_malloc_arena()

    @cached_property
    def project(self) -> ProjectConfig:
        return load_project(self.settings.protocols_dir)

    @cached_property
    def _protocol_set(self) -> tuple[list[Protocol], dict[str, str]]:
        return load_protocols_tolerant(self.settings.protocols_dir)

    @property
    def protocols(self) -> list[Protocol]:
        """Valid protocols only: a broken file stops only its own dataset (see `protocol_errors`)."""
        return self._protocol_set[0]

    @property
    def protocol_errors(self) -> dict[str, str]:
        return self._protocol_set[1]

    def protocol(self, protocol_id: str, version: int) -> Protocol:
        return next(p for p in self.protocols if p.id == protocol_id and p.version == version)

    @cached_property
    def key(self) -> ProjectKey:
        s = self.settings
        key_file = s.key_file
        value = s.key.get_secret_value() if s.key else None
        if value is None and s.key_airflow_variable:
            value = key_from_airflow_variable(s.key_airflow_variable)
        if value is None and key_file is None and s.default_key_file.exists():
            key_file = s.default_key_file
        return load_key(self.project.project.id, key=value, key_file=key_file)

    @cached_property
    def reid_public_key(self) -> Any:
        """The public half of the re-identification key, if configured: seals the vault."""
        from ptp_pipeline.privacy.vault import load_public_key

        path = self.settings.reid_public_key_file or self.settings.default_reid_public_key_file
        return load_public_key(path) if path.exists() else None

    @property
    def warehouse(self) -> Warehouse:
        if self._warehouse is None:
            self._warehouse = open_warehouse(self.settings.warehouse_url)
            # Audit entries are signed with a sub-key of the project key, which the database never holds.
            self._warehouse.audit_key = lambda: self.key.subkey("audit")
        return self._warehouse

    def close(self) -> None:
        if self._warehouse is not None:
            self._warehouse.close()
            self._warehouse = None

    def work(self, extract_id: str) -> Path:
        """The extract's folder in the restricted work area."""
        path = self.settings.work_dir / extract_id
        path.mkdir(parents=True, exist_ok=True, mode=0o700)
        return path


@dataclass
class WorkItem:
    """An extract's state between stages, kept as meta.json in its work folder (never in XCom)."""

    extract_id: str
    partner: str
    dataset: str
    file_name: str
    sha256: str
    protocol_id: str
    protocol_version: int
    received_at: str
    rows_received: int | None = None  # None until the check stage has read the file
    dropped_columns: list[str] = field(default_factory=list)

    def save(self, folder: Path) -> None:
        (folder / "meta.json").write_text(json.dumps(asdict(self), indent=2))

    @classmethod
    def load(cls, folder: Path) -> WorkItem:
        return cls(**json.loads((folder / "meta.json").read_text()))
