"""Land a pulled file exactly once: temporary name, size and checksum checked, one rename, one record.

Temporary files live in $PTP_HOME/pulling/<partner>/<dataset>/ (same file system as landing, so the
final rename is atomic), never in landing: an interrupted pull leaves landing untouched, and the next
pull sweeps what an interrupted one left behind.
"""

from __future__ import annotations

import hashlib
import os
import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from ptp_pipeline.pull import records
from ptp_pipeline.pull.errors import TransferChanged
from ptp_pipeline.runtime import Runtime


@dataclass
class Incoming:
    """A file being fetched: bytes written through it are counted and hashed."""

    path: Path
    fh: BinaryIO
    size: int = 0
    digest: hashlib._Hash = field(default_factory=hashlib.sha256)

    def write(self, data: bytes) -> None:
        self.fh.write(data)
        self.size += len(data)
        self.digest.update(data)

    @property
    def sha256(self) -> str:
        return self.digest.hexdigest()


def safe_name(text: str) -> str:
    """A file name made of the remote name's safe characters."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._") or "extract"


def pulling_dir(rt: Runtime, partner: str, dataset: str) -> Path:
    return rt.settings.home / "pulling" / partner / dataset


def landing_dir(rt: Runtime, partner: str, dataset: str) -> Path:
    return rt.settings.landing_dir / partner / dataset


def sweep(rt: Runtime, partner: str, dataset: str) -> int:
    """Delete temporary files an interrupted pull left behind; returns how many."""
    folder = pulling_dir(rt, partner, dataset)
    stale = list(folder.glob("*.part")) if folder.exists() else []
    for path in stale:
        path.unlink(missing_ok=True)
    return len(stale)


@contextmanager
def incoming(rt: Runtime, partner: str, dataset: str) -> Iterator[Incoming]:
    """A temporary file that is deleted unless `commit` moved it into landing."""
    folder = pulling_dir(rt, partner, dataset)
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = folder / f"{uuid.uuid4().hex}.part"
    fh = path.open("wb")
    try:
        yield Incoming(path, fh)  # type: ignore[arg-type]
    finally:
        fh.close()
        path.unlink(missing_ok=True)


def commit(rt: Runtime, item: Incoming, rec: records.PullRecord, expected_size: int | None) -> Path:
    """Check size, fsync, rename into landing and record the pull, as one step.

    The rename comes first: a crash before the record is written leaves a complete file in landing
    and no record, so the next pull fetches the same remote again, finds the identical file already
    in place and only writes the record.
    """
    item.fh.flush()
    os.fsync(item.fh.fileno())
    if expected_size is not None and item.size != expected_size:
        raise TransferChanged(f"'{rec.remote}' through connection '{rec.conn_id}': {item.size} bytes arrived but "
                              f"the source said {expected_size}; nothing was landed",
                              hint="Pull again; if it keeps happening, ask the partner whether the file is "
                                   "still being written when the pull runs.")
    final = landing_dir(rt, rec.partner, rec.dataset) / rec.file_name
    final.parent.mkdir(parents=True, exist_ok=True)
    if final.exists():
        from ptp_pipeline.extract.receipt import sha256_file

        if sha256_file(final) != item.sha256:
            final = final.with_name(f"{final.stem}-{item.sha256[:8]}{final.suffix}")
            rec = records.PullRecord(**{**rec.__dict__, "file_name": final.name})
    if not final.exists():
        os.rename(item.path, final)
    wh = rt.warehouse
    with wh.transaction():
        records.add(wh, rec)
    return final


@dataclass
class Pulled:
    """What one pull of one source did."""

    landed: list[Path] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # remote items pulled before: nothing new
    planned: list[str] = field(default_factory=list)  # dry run: what would be pulled
