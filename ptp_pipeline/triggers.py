"""The Airflow event trigger behind each landing folder's asset watcher.

It runs in the triggerer (and is imported by the DAG processor), so it imports only Airflow's trigger
base and the standard-library intake helpers. It never returns: one long-lived trigger per landing
folder emits one event per scan in which it claimed files. The event carries the claim folder and
a count, not file names; the dispatcher takes every claimed file anyway (see ``intake.take_pending``).
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from airflow.triggers.base import BaseEventTrigger, TriggerEvent

from ptp_pipeline import intake


class ClaimingDirectoryTrigger(BaseEventTrigger):
    """Wait for files in ``directory`` to be stable for one scan, claim them by rename, emit an event."""

    def __init__(self, *, directory: str, claim_dir: str, pattern: str = "*", poke_interval: float = 10.0) -> None:
        super().__init__()
        self.directory = directory
        self.claim_dir = claim_dir
        self.pattern = pattern
        self.poke_interval = poke_interval

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return ("ptp_pipeline.triggers.ClaimingDirectoryTrigger",
                {"directory": self.directory, "claim_dir": self.claim_dir, "pattern": self.pattern,
                 "poke_interval": self.poke_interval})

    def claim_stable(self, previous: dict[str, intake.Signature]) -> tuple[list[Path], dict[str, intake.Signature]]:
        """One scan: claim files unchanged since the previous scan; return them and the new scan."""
        current = intake.scan(Path(self.directory), self.pattern)
        claimed = []
        for path, sig in sorted(current.items()):
            if previous.get(path) != sig:  # new, or still being written: look again next scan
                continue
            target = intake.claim(Path(path), Path(self.claim_dir), sig)
            if target is not None:
                claimed.append(target)
        return claimed, current

    async def run(self) -> AsyncIterator[TriggerEvent]:
        os.makedirs(self.claim_dir, mode=0o700, exist_ok=True)
        previous: dict[str, intake.Signature] = {}
        while True:
            claimed, previous = await asyncio.to_thread(self.claim_stable, previous)
            if claimed:
                self.log.info("claimed %d file(s) from %s", len(claimed), self.directory)
                yield TriggerEvent({"claim_dir": self.claim_dir, "files": len(claimed), "detected_at": time.time()})
            await asyncio.sleep(self.poke_interval)
