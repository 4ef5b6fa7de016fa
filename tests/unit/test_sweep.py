"""The dispatcher's sweep claims files the watcher never claimed; re-process markers are not files."""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from ptp_pipeline import housekeeping, intake
from ptp_pipeline.runtime import Runtime


def test_sweep_claims_settled_files_and_leaves_fresh_ones(tmp_path: Path) -> None:
    landing, claimed = tmp_path / "landing", tmp_path / "claimed"
    landing.mkdir()
    old, fresh, part = landing / "old.csv", landing / "fresh.csv", landing / "upload.csv.part"
    for path in (old, fresh, part):
        path.write_text("a,b\n1,2\n")
    an_hour_ago = time.time() - 3600
    os.utime(old, (an_hour_ago, an_hour_ago))
    os.utime(part, (an_hour_ago, an_hour_ago))
    swept = intake.claim_settled(landing, claimed, min_age=60)
    assert [p.name.split("_", 1)[1] for p in swept] == ["old.csv"]
    assert sorted(p.name for p in landing.iterdir()) == ["fresh.csv", "upload.csv.part"]  # still being written
    (taken,) = intake.take_pending(claimed)
    assert taken.run_id == f"file__{taken.sha256[:32]}"
    assert intake.claim_settled(landing, claimed, min_age=60, now=time.time() + 120) != []  # fresh.csv, later


def test_attempt_markers_change_the_run_id_and_are_not_reported_as_files(rt: Runtime) -> None:
    claimed = rt.settings.claimed_dir / "police" / "incidents"
    sha = "ab" * 32
    assert intake.attempt(claimed, sha) == 1
    assert intake.allow_another_attempt(claimed, sha) == 2
    assert intake.allow_another_attempt(claimed, sha) == 3
    assert intake.Taken("x", sha, intake.attempt(claimed, sha)).run_id == f"file__{sha[:32]}__attempt3"
    long_ago = time.time() - 10 * 86400
    marker = claimed / intake.RETRY / sha[:32]
    os.utime(marker, (long_ago, long_ago))
    assert housekeeping.unprocessed_files(rt, datetime.now(UTC).replace(tzinfo=None) + timedelta(days=1)) == {}

