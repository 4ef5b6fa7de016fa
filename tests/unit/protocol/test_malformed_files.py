"""Hostile and damaged protocol files: each refused in bounded memory, with file:line and exit 3.

The corpus is generated here (an alias bomb, deep nesting, NUL and Latin-1 bytes, duplicate keys ...).
Every case goes through `ptp protocol validate` and must allocate under 50 MB (tracemalloc, on top of
the CLI's own imports); how fast each is refused is measured by bench/protocol_load.py. Then the whole
corpus sits in a protocols folder and another partner's extract still goes in: a broken file stops only
its own dataset.
"""

from __future__ import annotations

import shutil
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import pytest
from helpers import assert_conserved

from ptp_pipeline import pipeline
from ptp_pipeline.cli import main
from ptp_pipeline.runtime import Runtime
from ptp_pipeline.settings import load_settings
from ptp_pipeline.synthetic import SyntheticResult

REPO_PROTOCOLS = Path(__file__).resolve().parents[3] / "protocols"
POLICE = (REPO_PROTOCOLS / "police_incidents.yaml").read_text(encoding="utf-8")


def alias_bomb(levels: int = 9, fan: int = 9) -> bytes:
    """'Billion laughs': each level repeats the one before `fan` times (9**9 strings if expanded)."""
    lines = ["id: police-incidents", 'a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for i in range(1, levels):
        lines.append(f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * fan)}]")
    return ("\n".join(lines) + "\n").encode()


def police_with(old: str, new: bytes) -> bytes:
    assert old.encode() in POLICE.encode()
    return POLICE.encode().replace(old.encode(), new, 1)


def block_nesting(depth: int) -> bytes:
    return ("id: x\n" + "".join(f"{'  ' * i}k{i}:\n" for i in range(depth)) + "  " * depth + "v: 1\n").encode()


# (id, file content, expected line, phrase in the message)
CASES: list[tuple[str, Callable[[], bytes], int, str]] = [
    ("alias-bomb", alias_bomb, 6, "would expand to more than 10,000 values"),
    ("alias-loop", lambda: b"id: x\nloop: &me [1, 2, *me]\n", 2, "alias *me refers to the value it is inside"),
    ("undefined-alias", lambda: b"id: x\ntitle: *nowhere\n", 2, "not valid YAML: found undefined alias"),
    ("deep-flow-nesting", lambda: b"id: x\nv: " + b"[" * 50_000 + b"]" * 50_000 + b"\n", 2,
     "nested more than 32 levels deep"),
    ("deep-block-nesting", lambda: block_nesting(200), 33, "nested more than 32 levels deep"),
    ("wide-document", lambda: b"id: x\nv:\n" + b"- 1\n" * 20_000, 9_998, "would expand to more than 10,000"),
    ("nul-in-key", lambda: police_with("status: approved", b"sta\x00tus: approved"), 17, "a NUL byte at byte"),
    ("escape-character", lambda: police_with("title: ", b"title: \x1b[31m"), 4, "a control character at byte"),
    ("latin-1-bytes", lambda: police_with("title: ", "title: Caf\u00e9 ".encode("latin-1")), 4,
     "file is not UTF-8 text: byte"),
    ("duplicate-status", lambda: police_with("status: approved", b"status: draft\nstatus: approved"), 18,
     "key 'status' is given twice in the same mapping, on line 17 and line 18"),
    ("duplicate-in-flow-mapping", lambda: police_with("{name: sex, type: code", b"{name: sex, name: gender, "
                                                      b"type: code"), 38,
     "key 'name' is given twice in the same mapping, on line 38;"),
    ("too-large", lambda: b"id: x\n# " + b"x" * 600_000 + b"\n", 1, "bytes; a protocol is a few kilobytes"),
    ("empty", lambda: b"", 1, "file is empty"),
    ("comments-only", lambda: b"# nothing here\n", 1, "file is empty"),
    ("bidi-override-in-key", lambda: police_with("status: approved", "sta\u202etus: approved".encode()), 17,
     "an invisible or text-direction character (U+202E) at byte"),
    ("zero-width-in-key", lambda: police_with("status: approved", "status\u200b: approved".encode()), 17,
     "an invisible or text-direction character (U+200B) at byte"),
    ("escaped-escape-in-key", lambda: b'id: x\n"\\x1b[31mkey": 1\n', 2,
     "a quoted value holds an escaped control, invisible or invalid character (U+001B)"),
    ("escaped-surrogate", lambda: b'id: x\ntitle: "a\\ud800b"\n', 2, "invalid character (U+D800)"),
    ("escaped-nul", lambda: b'id: x\ntitle: "a\\0b"\n', 2, "invalid character (U+0000)"),
    ("two-documents", lambda: POLICE.encode() + b"---\nid: other\n", POLICE.count("\n") + 1,
     "not valid YAML: but found another document"),
    ("python-object-tag", lambda: b"id: !!python/object/apply:os.system ['true']\n", 1,
     "not valid YAML: could not determine a constructor for the tag"),
    ("not-a-mapping", lambda: b"- id: x\n", 1, "expected a mapping of keys at the top level"),
    ("unhashable-key", lambda: b"id: x\n? [a, b]\n: c\n", 2, "not valid YAML: found unhashable key"),
    ("tab-indentation", lambda: b"id: x\npartner:\n\tid: police\n", 3, "not valid YAML: found character"),
]


@pytest.mark.parametrize(("case_id", "content", "line", "phrase"), CASES, ids=[c[0] for c in CASES])
def test_malformed_file_refused_in_bounded_memory(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], case_id: str, content: Callable[[], bytes],
        line: int, phrase: str) -> None:
    path = tmp_path / f"{case_id}.yaml"
    path.write_bytes(content())
    main(["protocol", "validate", str(REPO_PROTOCOLS / "project.yaml")])  # warm the imports up
    capsys.readouterr()
    # Speed is measured by bench/protocol_load.py; here the bound is on work done (memory allocated).
    tracemalloc.start()
    try:
        code = main(["protocol", "validate", str(path)])
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    err = capsys.readouterr().err
    assert code == 3, err
    assert peak < 50 * 2**20, f"{case_id} allocated {peak / 2**20:.0f} MB"
    where = f"{path}:{line}: " if line else f"{path}: "
    assert where in err and phrase in err, err
    assert "What to do:" in err
    assert "Internal error" not in err and "Traceback" not in err


def test_duplicate_key_is_not_shown_when_it_may_name_a_credential(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "dup-secret.yaml"
    path.write_text("id: x\nsource:\n  kind: sftp\n  password: one\n  password: two\n", encoding="utf-8")
    assert main(["protocol", "validate", str(path)]) == 3
    err = capsys.readouterr().err
    assert f"{path}:5: key '(not shown)' is given twice" in err and "password" not in err


def test_byte_order_mark_and_windows_line_endings_are_accepted(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "police.yaml"
    path.write_bytes(b"\xef\xbb\xbf" + POLICE.replace("\n", "\r\n").encode())
    assert main(["protocol", "validate", str(path)]) == 0, capsys.readouterr().err


def test_anchors_used_sparingly_are_still_allowed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = POLICE.replace("retention:\n", "retention: &keep\n", 1)
    text = text.replace("unexpected_columns:", "x-retention-copy: *keep\nunexpected_columns:", 1)
    path = tmp_path / "police.yaml"
    path.write_text(text, encoding="utf-8")
    assert main(["protocol", "validate", str(path)]) == 3  # the extra key is unknown, the alias is fine
    err = capsys.readouterr().err
    assert "x-retention-copy: unknown key" in err and "expand" not in err


def test_a_folder_is_validated_file_by_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "protocols"
    shutil.copytree(REPO_PROTOCOLS, folder)
    assert main(["protocol", "validate", str(folder)]) == 0
    out = capsys.readouterr().out
    for name in ("project.yaml", "council_contacts.yaml", "health_attendances.yaml", "police_incidents.yaml"):
        assert f"ok   {folder / name}" in out
    (folder / "bomb.yaml").write_bytes(alias_bomb())
    assert main(["protocol", "validate", str(folder)]) == 3
    captured = capsys.readouterr()
    assert f"{folder / 'bomb.yaml'}:6: " in captured.err and f"ok   {folder / 'police_incidents.yaml'}" in captured.out
    (folder / "bomb.yaml").unlink()
    (folder / "old.yml").write_text("id: x\n", encoding="utf-8")
    assert main(["protocol", "validate", str(folder)]) == 0
    assert f"warning: {folder / 'old.yml'} is not read (the pipeline reads *.yaml)" in capsys.readouterr().err
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["protocol", "validate", str(empty)]) == 3
    assert "holds no protocol" in capsys.readouterr().err


def test_the_corpus_in_the_protocols_folder_stops_only_its_own_dataset(
        tmp_path: Path, env: dict[str, str], synthetic: SyntheticResult) -> None:
    """The police protocol replaced by an alias bomb, and every other malformed file beside it: the
    council's extract still merges; the police extract is refused naming the broken file."""
    protocols = tmp_path / "protocols"
    shutil.copytree(REPO_PROTOCOLS, protocols)
    (protocols / "police_incidents.yaml").write_bytes(alias_bomb())
    for case_id, content, _, _ in CASES:
        (protocols / f"zz_{case_id}.yaml").write_bytes(content())
    rt = Runtime(load_settings({**env, "PTP_PROTOCOLS_DIR": str(protocols)}))
    try:
        # The repo's protocols (not project.yaml) but the broken police one.
        valid = len([p for p in REPO_PROTOCOLS.glob("*.yaml") if p.name != "project.yaml"]) - 1
        assert len(rt.protocols) == valid and len(rt.protocol_errors) == len(CASES) + 1
        council = next(e for e in synthetic.extracts if e.partner == "council")
        police = next(e for e in synthetic.extracts if e.partner == "police")
        merged = pipeline.ingest(rt, council.path, "council", "contacts")
        assert merged.status == "merged", merged.reason
        refused = pipeline.ingest(rt, police.path, "police", "incidents")
        assert refused.status == "refused" and "police_incidents.yaml" in str(refused.reason)
        assert_conserved(rt)
    finally:
        rt.close()


@pytest.mark.airflow
def test_the_dag_folder_isolates_malformed_protocols(airflow_db: Path, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """An alias bomb and a duplicated status break only their own ingest DAGs, each named."""
    from airflow.dag_processing.dagbag import DagBag

    protocols = tmp_path / "protocols"
    shutil.copytree(REPO_PROTOCOLS, protocols)
    (protocols / "police_incidents.yaml").write_bytes(alias_bomb())
    health = protocols / "health_attendances.yaml"
    health.write_text(health.read_text(encoding="utf-8").replace("status: approved", "status: draft\nstatus: approved"),
                      encoding="utf-8")
    monkeypatch.setenv("PTP_PROTOCOLS_DIR", str(protocols))
    bag = DagBag(str(REPO_PROTOCOLS.parent / "dags"))
    assert "ptp_ingest_council_contacts" in bag.dag_ids
    assert not {"ptp_ingest_police_incidents", "ptp_ingest_health_attendances"} & set(bag.dag_ids)
    # One DAG file per protocol: each broken protocol is an import error of its own file only.
    errors = {Path(k).name: v for k, v in bag.import_errors.items()}
    assert len(errors) == 2, sorted(errors)
    police = next(v for k, v in errors.items() if "police" in k)
    health = next(v for k, v in errors.items() if "health" in k)
    assert f"{protocols / 'police_incidents.yaml'}:6: the document would expand" in police
    assert f"{protocols / 'health_attendances.yaml'}:" in health and "key 'status' is given twice" in health
