"""File intake for Airflow: claim landed files by atomic rename so each is taken exactly once.

Folders, per partner dataset (all under ``$PTP_HOME``; one filesystem, so renames are atomic):

- ``landing/<partner>/<dataset>/``: partners (or a pull task) drop files here. Write ``*.part`` or
  ``*.tmp`` (or a dot file) first and rename when complete; anything else is taken once its size and
  modification time have stayed the same for one scan.
- ``claimed/<partner>/<dataset>/``: the watcher trigger moves a stable file here, then emits an asset
  event. A claimed file is waiting for a run.
- ``claimed/<partner>/<dataset>/.taken/<sha256[:32]>/<file name>``: a run has taken the file; the
  ingest run for that content reads it from here. Housekeeping deletes it after the retention period.

Standard library only: the triggerer and the DAG processor import this module.
"""

from __future__ import annotations

import fnmatch
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

IGNORED_SUFFIXES = (".part", ".tmp", ".partial", ".crdownload")
TAKEN = ".taken"
RETRY = ".retry"  # claimed/<partner>/<dataset>/.retry/<sha256[:32]>: attempt number set by `ptp reprocess`
Signature = tuple[int, int]  # size, mtime_ns


def scan(directory: Path, pattern: str = "*") -> dict[str, Signature]:
    """Visible, complete-looking files in a folder with their (size, mtime_ns); none if it is missing."""
    found: dict[str, Signature] = {}
    try:
        with os.scandir(directory) as entries:
            for entry in entries:
                if entry.name.startswith(".") or entry.name.endswith(IGNORED_SUFFIXES):
                    continue
                if fnmatch.fnmatch(entry.name, pattern) and entry.is_file(follow_symlinks=False):
                    st = entry.stat(follow_symlinks=False)
                    found[entry.path] = (st.st_size, st.st_mtime_ns)
    except FileNotFoundError:
        pass
    return found


def claim(path: Path, claimed: Path, signature: Signature) -> Path | None:
    """Move one landed file into the claimed folder; None when another process took it first."""
    claimed.mkdir(parents=True, exist_ok=True, mode=0o700)
    target = claimed / f"{signature[1]:020d}_{path.name}"
    try:
        os.rename(path, target)
    except FileNotFoundError:
        return None
    return target


def claim_all(landing: Path, claimed: Path) -> list[Path]:
    """Claim every file now in the landing folder, without waiting for it to be stable (manual runs)."""
    out = []
    for name, sig in sorted(scan(landing).items()):
        target = claim(Path(name), claimed, sig)
        if target is not None:
            out.append(target)
    return out


def claim_settled(landing: Path, claimed: Path, min_age: float, now: float | None = None) -> list[Path]:
    """Claim files left in the landing folder that nothing has changed for `min_age` seconds.

    The sweep's safety net for files the watcher never claimed (the triggerer was down, or the DAG
    was paused): a file untouched for that long is complete. Files still being written stay.
    """
    import time

    cutoff = (time.time() if now is None else now) - min_age
    out = []
    for name, sig in sorted(scan(landing).items()):
        if sig[1] / 1e9 > cutoff:
            continue
        target = claim(Path(name), claimed, sig)
        if target is not None:
            out.append(target)
    return out


def sha256_file(path: Path) -> str:
    """The file's SHA-256, read in 1 MiB blocks: the ledger's key for "this exact file"."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@dataclass(frozen=True)
class Taken:
    """A file a run has taken: where it now is and its SHA-256 (the ledger's key)."""

    path: str
    sha256: str
    attempt: int = 1  # above 1 after `ptp reprocess` cleared the way for a refused extract

    @property
    def run_id(self) -> str:
        """The ingest run for this content: the same file can never start two runs (per attempt)."""
        base = f"file__{self.sha256[:32]}"
        return base if self.attempt <= 1 else f"{base}__attempt{self.attempt}"


def attempt(claimed: Path, sha256: str) -> int:
    """Which attempt at this content the next run is (1 unless `allow_another_attempt` was called)."""
    try:
        return int((claimed / RETRY / sha256[:32]).read_text().strip())
    except (FileNotFoundError, ValueError):
        return 1


def allow_another_attempt(claimed: Path, sha256: str) -> int:
    """Let this content start one more ingest run (a new run id); returns that attempt's number."""
    folder = claimed / RETRY
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    number = attempt(claimed, sha256) + 1
    marker = folder / f"{sha256[:32]}"
    tmp = folder / f".{sha256[:32]}.tmp"
    tmp.write_text(f"{number}\n")
    os.replace(tmp, marker)
    return number


def take_pending(claimed: Path) -> list[Taken]:
    """Take every claimed file not yet taken by a run (atomic rename into ``.taken/<sha>/``).

    Runs take *all* waiting files rather than the ones named in their triggering events: on
    PostgreSQL, Airflow 3.3.2 can leave asset events that arrive together unconsumed.
    """
    out: list[Taken] = []
    for entry in sorted(scan(claimed)):
        src = Path(entry)
        try:
            sha = sha256_file(src)
        except FileNotFoundError:  # another run took it while we were reading it
            continue
        original = src.name.split("_", 1)[1] if src.name[:20].isdigit() and "_" in src.name else src.name
        dest_dir = claimed / TAKEN / sha[:32]
        dest_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        dest = dest_dir / original
        try:
            os.rename(src, dest)
        except FileNotFoundError:
            continue
        out.append(Taken(str(dest), sha, attempt(claimed, sha)))
    return out
