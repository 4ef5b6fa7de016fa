"""Landing-folder intake: the watcher trigger claims stable files once; runs take every claimed file once."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from ptp_pipeline import intake
from ptp_pipeline.triggers import ClaimingDirectoryTrigger


def _drop(folder: Path, name: str, text: str = "a,b\n1,2\n") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(text)
    return path


def test_scan_ignores_partial_and_hidden_files(tmp_path: Path) -> None:
    _drop(tmp_path, "x.csv")
    _drop(tmp_path, "y.csv.part")
    _drop(tmp_path, ".z.csv")
    assert [Path(p).name for p in intake.scan(tmp_path)] == ["x.csv"]
    assert intake.scan(tmp_path / "missing") == {}


def test_trigger_claims_a_file_only_once_it_is_stable(tmp_path: Path) -> None:
    landing, claimed = tmp_path / "landing", tmp_path / "claimed"
    trig = ClaimingDirectoryTrigger(directory=str(landing), claim_dir=str(claimed), poke_interval=0.01)
    path = _drop(landing, "extract.csv")
    got, seen = trig.claim_stable({})
    assert got == [] and path.exists()  # first sight: may still be being written
    with path.open("a") as fh:
        fh.write("3,4\n")  # still growing
    got, seen = trig.claim_stable(seen)
    assert got == [] and path.exists()
    got, seen = trig.claim_stable(seen)
    assert len(got) == 1 and not path.exists() and got[0].read_text().endswith("3,4\n")
    assert got[0].parent == claimed and got[0].name.endswith("_extract.csv")


def test_trigger_run_emits_an_event_without_file_names(tmp_path: Path) -> None:
    landing, claimed = tmp_path / "landing", tmp_path / "claimed"
    _drop(landing, "smith_john.csv")
    trig = ClaimingDirectoryTrigger(directory=str(landing), claim_dir=str(claimed), poke_interval=0.01)
    classpath, kwargs = trig.serialize()
    assert classpath == "ptp_pipeline.triggers.ClaimingDirectoryTrigger"
    assert ClaimingDirectoryTrigger(**kwargs).serialize() == (classpath, kwargs)

    async def first_event() -> object:
        gen = trig.run()
        try:
            return (await asyncio.wait_for(gen.__anext__(), timeout=5)).payload
        finally:
            await gen.aclose()

    payload = asyncio.run(first_event())
    assert isinstance(payload, dict) and payload["files"] == 1 and payload["claim_dir"] == str(claimed)
    assert "smith" not in repr(payload)
    assert len(list(claimed.iterdir())) == 1


def test_take_pending_takes_each_file_once_keyed_by_content(tmp_path: Path) -> None:
    claimed = tmp_path / "claimed"
    a = intake.claim(_drop(tmp_path / "in", "a.csv", "one\n"), claimed, (4, 1))
    b = intake.claim(_drop(tmp_path / "in", "b.csv", "two\n"), claimed, (4, 2))
    assert a is not None and b is not None
    taken = intake.take_pending(claimed)
    assert sorted(Path(t.path).name for t in taken) == ["a.csv", "b.csv"]  # original names kept
    assert all(Path(t.path).is_file() and t.run_id == f"file__{t.sha256[:32]}" for t in taken)
    assert len({t.run_id for t in taken}) == 2
    assert intake.take_pending(claimed) == []  # nothing is taken twice


def test_claim_loses_gracefully_when_another_process_took_the_file(tmp_path: Path) -> None:
    path = _drop(tmp_path / "in", "a.csv")
    os.rename(path, tmp_path / "elsewhere.csv")
    assert intake.claim(path, tmp_path / "claimed", (1, 1)) is None


@pytest.mark.parametrize("name", ["a.csv", "0001_weird_name.csv"])
def test_claim_all_then_take_keeps_the_original_name(tmp_path: Path, name: str) -> None:
    _drop(tmp_path / "landing", name)
    claimed = tmp_path / "claimed"
    assert len(intake.claim_all(tmp_path / "landing", claimed)) == 1
    (taken,) = intake.take_pending(claimed)
    assert Path(taken.path).name == name
