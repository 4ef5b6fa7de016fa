"""The repository carries every file its tests read: no test, fixture or CI file reaches outside the clone.

A fresh clone in an empty folder must pass `make test`. Folders that happen to sit beside the clone on a
developer's machine (a notes folder next to it, one machine's absolute paths) are not there in CI, so a
path that climbs out of the repository is refused here, whatever file in the test tree or test
configuration it appears in. The examples below are spelt in pieces so this file names no such path.
"""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
# Where tests and their configuration live; tests/data holds copied third-party files (not code).
# This file is left out: it spells the refused paths as examples.
SCANNED = [*sorted(p for p in (REPO / "tests").rglob("*.py") if p != Path(__file__).resolve()),
           REPO / "pyproject.toml", REPO / "Makefile",
           *sorted((REPO / ".ci").rglob("*") if (REPO / ".ci").is_dir() else [])]
UP = r"\.\.[/\\]"  # "../" or "..\"
OUTSIDE = [
    (re.compile(UP + r"(?:\.\.[/\\])*shared\b"), "a folder beside the clone"),
    (re.compile(r"/" + r"work/"), "an absolute path of one machine"),
    (re.compile(r"\b(?:REPO|ROOT)\.parent\b"), "the folder that holds the clone"),
    (re.compile(r"""["']\.\.["']\s*/\s*["']shared"""), "a folder beside the clone"),
]
PARENTS = re.compile(r"__file__\)(?:\.resolve\(\))?\.parents\[(\d+)\]")
PARENT_CHAIN = re.compile(r"__file__\)(?:\.resolve\(\))?((?:\.parent)+)\b")


def outside_references(path: Path, text: str) -> list[str]:
    """Lines of `text` (the file at `path` in the repository) that reach outside the repository."""
    depth = len(path.relative_to(REPO).parts) - 1  # parents[depth] is the repository root
    found = []
    for number, line in enumerate(text.splitlines(), 1):
        if line.lstrip().startswith("#"):
            continue  # a comment pointing a reader at a note reads nothing
        where = f"{path.relative_to(REPO)}, line {number}"
        found += [f"{where}: {why}" for pattern, why in OUTSIDE if pattern.search(line)]
        found += [f"{where}: parents[{m}] climbs above the repository" for m in PARENTS.findall(line)
                  if int(m) > depth]
        found += [f"{where}: {len(chain) // 7} x .parent climbs above the repository"
                  for chain in PARENT_CHAIN.findall(line) if len(chain) // 7 > depth + 1]
    return found


def test_no_test_reads_outside_the_repository() -> None:
    assert len(SCANNED) > 20 and REPO / "tests" / "conftest.py" in SCANNED
    problems = [p for path in SCANNED if path.is_file()
                for p in outside_references(path, path.read_text(errors="replace"))]
    assert problems == [], "tests must read only files inside the repository (copy them into tests/data)"


BESIDE = "sha" + "red"  # the design-notes folder that sits beside a developer's clone


def test_the_check_can_fail() -> None:
    unit = REPO / "tests" / "unit" / "test_x.py"
    conftest = REPO / "tests" / "conftest.py"
    bad = {
        "SCHEMA = REPO.parent / '" + BESIDE + "' / 'compose-spec.schema.json'": unit,
        "open('.." + "/" + BESIDE + "/DESIGN.md')": unit,
        "Path('/" + "work/" + BESIDE + "/x.json')": unit,
        "Path(__file__).resolve().parents[3] / 'x'": unit,
        "Path(__file__).resolve().parent.parent.parent / 'x'": conftest,
        "SCHEMA=$(REPO)/.." + "/" + BESIDE + "/compose-spec.schema.json": REPO / "Makefile",
    }
    for line, path in bad.items():
        assert outside_references(path, line), line
    good = {"REPO = Path(__file__).resolve().parents[2]": unit,
            "REPO = Path(__file__).resolve().parent.parent": conftest,
            "SCHEMA = REPO / 'tests' / 'data' / 'compose-spec.schema.json'": unit,
            "# see .." + "/" + BESIDE + "/AIRFLOW-NOTES.md": unit}
    for line, path in good.items():
        assert outside_references(path, line) == [], line
