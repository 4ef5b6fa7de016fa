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

#: Limits checked before any Python object is built. A protocol is a few kilobytes, a few hundred
#: nodes and six levels deep; these bounds are far above that and far below harm.
MAX_BYTES = 512_000
MAX_DEPTH = 32
MAX_NODES = 10_000
_CONTROL = re.compile(rb"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
#: Characters that change how text displays (bidirectional overrides) or hide (zero-width): a key
#: or value holding one reads as something it is not.
_INVISIBLE = re.compile("[\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]")
#: What an escape in a quoted value ("\x1b", "\0", "\ud800") may produce that the bytes could not hold:
#: control characters, lone surrogates and the invisible ones above.
_ESCAPED = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff\u200b-\u200f\u202a-\u202e\u2060-\u2064"
                      "\u2066-\u2069\ufeff]")


class _Refused(Exception):
    """A limit or rule the guarded loader enforces while composing (before constructing)."""

    def __init__(self, message: str, mark: Any, hint: str) -> None:
        super().__init__(message)
        self.message, self.mark, self.hint = message, mark, hint


class _GuardedLoader(_NoDatesLoader):
    """Counts nodes as aliases would expand them, bounds nesting, and refuses duplicate keys.

    All of it happens while the node graph is composed, so an alias bomb ("billion laughs") or a
    thousand-deep nesting is refused in milliseconds, before construction or validation walk it.
    """

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0
        self._expanded = 0  # nodes the document would have with every alias written out
        self._sizes: dict[int, int] = {}  # id(node) -> its expanded size
        self._open_anchors: list[str] = []

    def _count(self, n: int, mark: Any) -> None:
        self._expanded += n
        if self._expanded > MAX_NODES:
            raise _Refused(f"the document would expand to more than {MAX_NODES:,} values (through YAML "
                           "aliases or sheer size); a protocol has a few hundred", mark,
                           "Write the protocol out plainly: remove the anchors (&name) and aliases (*name), "
                           "or split the file. An alias that repeats another many times is refused as a "
                           "precaution against 'billion laughs' files.")

    def fetch_flow_collection_start(self, TokenClass: Any) -> None:
        """Refuse deep `[[[[...` while scanning: the scanner would otherwise read all of it first."""
        if self.flow_level >= MAX_DEPTH:
            raise _Refused(f"values are nested more than {MAX_DEPTH} levels deep; a protocol needs about six",
                           self.get_mark(), "Check the brackets from this line: a protocol's deepest value is "
                                            "a field's allowed_values list.")
        super().fetch_flow_collection_start(TokenClass)  # type: ignore[misc]

    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent):
            if event.anchor in self._open_anchors:
                raise _Refused(f"alias *{event.anchor} refers to the value it is inside (a loop)",
                               event.start_mark, "Remove the alias, or write the value out in full.")
            target = self.anchors.get(event.anchor)
            if target is not None:
                self._count(self._sizes.get(id(target), 1), event.start_mark)
            return super().compose_node(parent, index)
        self._depth += 1
        if self._depth > MAX_DEPTH:
            raise _Refused(f"values are nested more than {MAX_DEPTH} levels deep; a protocol needs about six",
                           event.start_mark, "Check the brackets and indentation from this line: a "
                                             "protocol's deepest value is a field's allowed_values list.")
        anchor = getattr(event, "anchor", None)
        if anchor:
            self._open_anchors.append(anchor)
        before = self._expanded
        self._count(1, event.start_mark)
        node = super().compose_node(parent, index)
        if anchor:
            self._open_anchors.pop()
        self._sizes[id(node)] = self._expanded - before
        self._depth -= 1
        if isinstance(node, yaml.MappingNode):
            _refuse_duplicate_keys(node)
        elif isinstance(node, yaml.ScalarNode):
            _refuse_escaped_characters(node)
        return node


def _refuse_escaped_characters(node: yaml.ScalarNode) -> None:
    bad = _ESCAPED.search(node.value)
    if bad:
        raise _Refused(f"a quoted value holds an escaped control, invisible or invalid character "
                       f"(U+{ord(bad.group()):04X})", node.start_mark,
                       "Remove the escape sequence (such as \\x1b, \\0 or \\u202e) from the quoted value.")


def _refuse_duplicate_keys(node: yaml.MappingNode) -> None:
    seen: dict[str, int] = {}
    for key, _ in node.value:
        if not isinstance(key, yaml.ScalarNode) or key.tag == "tag:yaml.org,2002:merge":
            continue
        line = key.start_mark.line + 1
        if key.value in seen:
            lines = f"on line {line}" if seen[key.value] == line else f"on line {seen[key.value]} and line {line}"
            raise _Refused(f"key '{_shown_key(key.value)}' is given twice in the same mapping, {lines}; YAML "
                           "would silently keep only the last",
                           key.start_mark, "Keep one of the two lines (check which one was agreed), then "
                                           "validate again.")
        seen[key.value] = line


def _shown_key(key: str) -> str:
    """A key fit to print: short, printable, and not one that may name a credential."""
    if len(key) > 60 or not key.isprintable() or redact_secrets(f"{key}:") != f"{key}:":
        return "(not shown)"
    return key


def _line_at(data: bytes, offset: int) -> int:
    return data.count(b"\n", 0, offset) + 1


def _read_text(path: Path) -> str:
    """The file as text, or a refusal naming the file, line and byte offset of what is wrong."""
    where = Where(file=str(path))
    try:
        if path.is_dir():
            raise ProtocolError("is a folder, not a protocol file", where=where,
                                hint="Name the YAML files, or pass the folder to `ptp protocol validate`, "
                                     "which checks every protocol in it.")
        size = path.stat().st_size
        if size > MAX_BYTES:
            raise ProtocolError(f"file is {size:,} bytes; a protocol is a few kilobytes (limit {MAX_BYTES:,})",
                                where=Where(file=str(path), line=1),
                                hint="Check this is the protocol file meant; split or trim it.")
        data = path.read_bytes()
    except FileNotFoundError:
        raise ProtocolError("file not found", where=where) from None
    except PermissionError:
        raise ProtocolError("file cannot be read (permission denied)", where=where,
                            hint="Ask operations to let the pipeline's user read the protocols folder.") from None
    bad = _CONTROL.search(data)
    if bad:
        what = "a NUL byte" if bad.group() == b"\x00" else "a control character"
        raise ProtocolError(f"{what} at byte {bad.start():,}: a protocol is plain text",
                            where=Where(file=str(path), line=_line_at(data, bad.start())),
                            hint="The file may be damaged or not a protocol: open it in a text editor, remove "
                                 "the character (or restore the file from version control) and save as UTF-8.")
    try:
        text = data.decode("utf-8-sig" if data.startswith(b"\xef\xbb\xbf") else "utf-8")
    except UnicodeDecodeError as exc:
        raise ProtocolError(f"file is not UTF-8 text: byte {exc.start:,} cannot be read as UTF-8 (the file "
                            "was probably saved as Latin-1/Windows-1252)",
                            where=Where(file=str(path), line=_line_at(data, exc.start)),
                            hint="Save the protocol as UTF-8 (in most editors: Save As, encoding UTF-8).") from None
    hidden = _INVISIBLE.search(text)
    if hidden:
        offset = len(text[: hidden.start()].encode("utf-8")) + (3 if data.startswith(b"\xef\xbb\xbf") else 0)
        raise ProtocolError(f"an invisible or text-direction character (U+{ord(hidden.group()):04X}) at byte "
                            f"{offset:,}: it makes a key or value read as something it is not",
                            where=Where(file=str(path), line=text.count("\n", 0, hidden.start()) + 1),
                            hint="Delete the character (retype the line in a plain-text editor), then validate "
                                 "again.")
    return text


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
    """Parse YAML into plain data plus a map from key path to line number.

    Safe on hostile input: size, control bytes and encoding are checked on the bytes; nesting,
    alias expansion and duplicate keys while composing; nothing is built before those pass.
    """
    text = _read_text(path)
    loader = _GuardedLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            raise ProtocolError("file is empty (no keys)", where=Where(file=str(path), line=1),
                                hint="Write the protocol (see docs/protocols.md), or start from `ptp protocol draft`.")
        data = loader.construct_document(node)
    except _Refused as exc:
        raise ProtocolError(exc.message, where=Where(file=str(path), line=exc.mark.line + 1 if exc.mark else None),
                            hint=exc.hint) from None
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
    except yaml.YAMLError as exc:  # a reader error: a character YAML does not allow
        position = getattr(exc, "position", None)
        line = text.count("\n", 0, position) + 1 if isinstance(position, int) else None
        raise ProtocolError("not valid YAML: the file holds a character YAML does not allow"
                            + (f" (character {position:,})" if isinstance(position, int) else ""),
                            where=Where(file=str(path), line=line),
                            hint="Remove the character, or restore the file from version control.") from None
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
        source = _read_text(path).splitlines()
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
