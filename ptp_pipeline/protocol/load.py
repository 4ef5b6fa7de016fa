"""Load protocols and project settings from YAML, with errors that point at file:line."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from ptp_pipeline.errors import ProtocolError, Where
from ptp_pipeline.protocol.model import PROBLEM_SEP, ProjectConfig, Protocol, raw_cross_problems
from ptp_pipeline.protocol.source import redact_secrets

M = TypeVar("M", bound=BaseModel)


class _NoDatesLoader(yaml.SafeLoader):
    """SafeLoader that leaves dates as text so pydantic, not YAML, decides what a date is."""


_NoDatesLoader.yaml_implicit_resolvers = {
    ch: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for ch, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _line_map(node: yaml.Node, path: tuple[Any, ...], out: dict[tuple[Any, ...], int]) -> None:
    out[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            out[(*path, key.value)] = key.start_mark.line + 1
            _line_map(value, (*path, key.value), out)
            out[(*path, key.value)] = key.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _line_map(item, (*path, i), out)


def read_yaml(path: Path) -> tuple[Any, dict[tuple[Any, ...], int]]:
    """Parse YAML into plain data plus a map from key path to line number."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ProtocolError("file not found", where=Where(file=str(path))) from None
    except UnicodeDecodeError:
        raise ProtocolError("file is not UTF-8 text", where=Where(file=str(path)),
                            hint="Save the protocol as UTF-8.") from None
    loader = _NoDatesLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            raise ProtocolError("file is empty", where=Where(file=str(path)))
        data = loader.construct_document(node)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        line = mark.line + 1 if mark else None
        context = ""
        if exc.context and exc.context_mark and exc.context_mark.line + 1 != line:
            context = f" ({exc.context} that starts on line {exc.context_mark.line + 1})"
        raise ProtocolError(
            f"not valid YAML: {exc.problem}{context}", where=Where(file=str(path), line=line),
            hint="Check indentation and quoting around that line.",
        ) from None
    finally:
        loader.dispose()
    lines: dict[tuple[Any, ...], int] = {}
    _line_map(node, (), lines)
    return data, lines


def _nearest_line(loc: tuple[Any, ...], lines: dict[tuple[Any, ...], int]) -> int | None:
    for cut in range(len(loc), -1, -1):
        if loc[:cut] in lines:
            return lines[loc[:cut]]
    return None


def _locate(part: str, data: Any) -> tuple[Any, ...]:
    """Where a whole-protocol rule points: the field or event slot it names."""
    slot = re.match(r"event\.(\w+) ", part)
    if slot:
        return ("event", slot.group(1))
    named = re.search(r"field '([^']+)'", part)
    if named and isinstance(data, dict) and isinstance(data.get("fields"), list):
        hits = [i for i, f in enumerate(data["fields"]) if isinstance(f, dict) and f.get("name") == named.group(1)]
        if hits:
            return ("fields", hits[-1])
    return ()


def quote(source: list[str], line: int, key: object) -> str:
    """The protocol line a problem is on, with a caret under the key (protocols hold no row values)."""
    if not 1 <= line <= len(source):
        return ""
    text = redact_secrets(source[line - 1].rstrip())  # a mistaken inline password is never echoed
    col = text.find(f"{key}:") if isinstance(key, str) else -1
    if col < 0:
        col = len(text) - len(text.lstrip())
    return f"\n  {line:>4} | {text}\n       | {' ' * col}^"


def format_validation_error(path: Path, exc: ValidationError, lines: dict[tuple[Any, ...], int],
                            data: Any = None, source: list[str] | None = None) -> str:
    """Every problem at once, sorted by line, as `file:line key.path: message` plus the quoted line."""
    rows: list[tuple[int, str]] = []
    errors: list[dict[str, Any]] = [dict(e) for e in exc.errors(include_url=False, include_input=False)]
    if all(err["loc"] for err in errors) and isinstance(data, dict) and "fields" in data:
        # The protocol's own cross-key rules did not run (a part failed first): run those we can.
        errors += [{"loc": (), "msg": msg, "type": "value_error"} for msg in raw_cross_problems(data)]
    for err in errors:
        loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-")))
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = "unknown key: check its spelling against protocols/schema/protocol.schema.json"
        elif err["type"] == "missing":
            msg = f"required key '{loc[-1]}' is missing: add it (see docs/protocols.md)" if loc else \
                "required key is missing"
        for part in msg.split(PROBLEM_SEP):
            where = loc
            if part.startswith("@"):
                rel, _, part = part[1:].partition(" ")
                where = (*loc, *(int(p) if p.isdigit() else p for p in rel.split(".")))
            where = where or _locate(part, data)
            line = _nearest_line(where, lines) or 0
            dotted = ".".join(str(p) for p in where) or "(top level)"
            shown = quote(source, line, where[-1] if where else None) if source else ""
            rows.append((line, f"{path}:{line} {dotted}: {part}{shown}"))
    return "\n".join(text for _, text in sorted(rows))


def load_model(path: Path, model: type[M]) -> M:
    data, lines = read_yaml(path)
    if not isinstance(data, dict):
        raise ProtocolError("expected a mapping of keys at the top level", where=Where(file=str(path), line=1))
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        source = path.read_text(encoding="utf-8").splitlines()
        raise ProtocolError("\n" + format_validation_error(path, exc, lines, data, source)) from None


def load_protocol(path: Path) -> Protocol:
    """Load and check one protocol file."""
    return load_model(path, Protocol)


def load_project(protocols_dir: Path) -> ProjectConfig:
    """Load project-wide settings (`project.yaml`) beside the protocols."""
    return load_model(protocols_dir / "project.yaml", ProjectConfig)


def protocol_paths(protocols_dir: Path) -> list[Path]:
    """Protocol files: every YAML in the folder except project.yaml."""
    return sorted(p for p in protocols_dir.glob("*.yaml") if p.name != "project.yaml")


def protocol_set_problems(loaded: list[tuple[Path, Protocol]]) -> list[str]:
    """Rules across files: one file per id and version, and an id always names the same dataset."""
    problems: list[str] = []
    first: dict[tuple[str, int], Path] = {}
    dataset: dict[str, tuple[tuple[str, str], Path]] = {}
    for path, p in loaded:
        if (p.id, p.version) in first:
            problems.append(f"{path}:1 version: {p.id} version {p.version} is also in {first[(p.id, p.version)]}: "
                            "give the newer file the next version number")
        first.setdefault((p.id, p.version), path)
        known = dataset.setdefault(p.id, (p.key, path))
        if known[0] != p.key:
            problems.append(f"{path}:1 id: '{p.id}' is used in {known[1]} for {'/'.join(known[0])}: "
                            "give each partner dataset its own protocol id")
    return problems


def load_protocols_tolerant(protocols_dir: Path) -> tuple[list[Protocol], dict[str, str]]:
    """Every valid protocol, and each broken file with its problem.

    For the running pipeline: one broken or clashing file must not stop other partners' extracts
    (the DAGs isolate broken files the same way). Files that clash on id and version are both left out.
    """
    loaded: list[tuple[Path, Protocol]] = []
    broken: dict[str, str] = {}
    for path in protocol_paths(protocols_dir):
        try:
            loaded.append((path, load_protocol(path)))
        except ProtocolError as exc:
            broken[str(path)] = exc.message.strip()
    for problem in protocol_set_problems(loaded):
        broken[problem.split(":", 1)[0]] = problem
    clashing = {(p.id, p.version) for path, p in loaded if str(path) in broken}
    return [p for path, p in loaded if (p.id, p.version) not in clashing], broken


def load_protocols(protocols_dir: Path) -> list[Protocol]:
    loaded = [(path, load_protocol(path)) for path in protocol_paths(protocols_dir)]
    problems = protocol_set_problems(loaded)
    if problems:
        raise ProtocolError("\n" + "\n".join(problems))
    return [p for _, p in loaded]
