"""Reading YAML and JSON documents while remembering where every value sits.

Error messages name the line and column of the offending value, so the loader keeps
a map from each path in the document (e.g. ``("nodes", 3, "cpus")``) to its position.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from allocator.io.errors import InputError

Loc = tuple[str | int, ...]


@dataclass
class SourceDocument:
    """A parsed document and the 1-based (line, column) of each value in it."""

    path: str
    data: Any
    positions: dict[Loc, tuple[int, int]] = field(default_factory=dict)

    def position(self, loc: Loc) -> tuple[int, int] | None:
        """Position of ``loc``, or of its nearest ancestor that has one."""
        for end in range(len(loc), -1, -1):
            found = self.positions.get(tuple(loc[:end]))
            if found:
                return found
        return None


def read_document(path: str | Path) -> SourceDocument:
    """Parse a YAML or JSON file; raises InputError with line and column on bad syntax."""
    path = Path(path)
    name = str(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise InputError.single(name, "file not found") from None
    except IsADirectoryError:
        raise InputError.single(name, "is a directory, expected a YAML or JSON file") from None
    except OSError as exc:
        raise InputError.single(name, f"cannot read file: {exc.strerror}") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError.single(
            name,
            f"not UTF-8 text (byte {exc.start} is 0x{raw[exc.start]:02x}); expected YAML or JSON",
        ) from None
    if not text.strip():
        raise InputError.single(name, "file is empty; expected a YAML or JSON document")
    looks_json = path.suffix.lower() == ".json" or (
        path.suffix.lower() not in (".yaml", ".yml") and text.lstrip()[:1] in "{["
    )
    if looks_json:
        return _parse_json(name, text)
    return _parse_yaml(name, text)


def parse_text(name: str, text: str) -> SourceDocument:
    """Parse YAML (a superset of JSON) from a string, e.g. a test fixture."""
    return _parse_yaml(name, text)


def _parse_json(name: str, text: str) -> SourceDocument:
    def no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        seen: dict[str, Any] = {}
        for key, value in pairs:
            if key in seen:
                raise _DuplicateKey(key)
            seen[key] = value
        return seen

    try:
        data = json.loads(text, object_pairs_hook=no_duplicates)
    except json.JSONDecodeError as exc:
        raise InputError.single(
            name, f"malformed JSON: {exc.msg}", line=exc.lineno, column=exc.colno
        ) from None
    except _DuplicateKey as exc:
        try:  # YAML's composer reports the duplicate with its line and column
            _collect_positions(name, yaml.compose(text, Loader=yaml.SafeLoader), (), {})
        except InputError as located:
            raise InputError.single(
                name,
                f"malformed JSON: key {exc.key!r} appears twice in the same object",
                line=located.problems[0].line,
                column=located.problems[0].column,
            ) from None
        except yaml.YAMLError:
            pass
        raise InputError.single(
            name, f"malformed JSON: key {exc.key!r} appears twice in the same object"
        ) from None
    doc = SourceDocument(name, data)
    try:  # JSON is (almost always) YAML too: borrow YAML's marks for positions.
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        _collect_positions(name, node, (), doc.positions)
    except (yaml.YAMLError, InputError):
        pass
    return doc


class _DuplicateKey(Exception):
    def __init__(self, key: str):
        self.key = key


def _parse_yaml(name: str, text: str) -> SourceDocument:
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            raise InputError.single(name, "file is empty; expected a YAML or JSON document")
        positions: dict[Loc, tuple[int, int]] = {}
        _collect_positions(name, node, (), positions)
        data = loader.construct_document(node)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = exc.problem or "syntax error"
        if exc.context and exc.context not in problem:
            problem = f"{problem} ({exc.context})"
        where = {"line": mark.line + 1, "column": mark.column + 1} if mark else {}
        raise InputError.single(name, f"malformed YAML: {problem}", **where) from None
    except yaml.YAMLError as exc:
        raise InputError.single(name, f"malformed YAML: {exc}") from None
    finally:
        loader.dispose()
    return SourceDocument(name, data, positions)


def _collect_positions(
    name: str, node: yaml.Node, loc: Loc, out: dict[Loc, tuple[int, int]]
) -> None:
    """Walk the YAML node tree, recording marks and rejecting duplicate keys."""
    out[loc] = (node.start_mark.line + 1, node.start_mark.column + 1)
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key_node, value_node in node.value:
            key = str(key_node.value)
            if key in seen:
                raise InputError.single(
                    name,
                    f"malformed YAML: key {key!r} appears twice in the same mapping",
                    line=key_node.start_mark.line + 1,
                    column=key_node.start_mark.column + 1,
                )
            seen.add(key)
            out[(*loc, key)] = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
            _collect_positions(name, value_node, (*loc, key), out)
            out[(*loc, key)] = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _collect_positions(name, item, (*loc, index), out)
