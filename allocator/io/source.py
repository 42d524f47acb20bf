"""Reading YAML and JSON documents while remembering where every value sits.

Error messages name the line and column of the offending value, so the loader keeps
a map from each path in the document (e.g. ``("nodes", 3, "cpus")``) to its position.

Reading is bounded before anything is expanded: the file's size, how deeply values
nest, and how many values the document holds once YAML aliases are followed (a few
lines of aliases can stand for billions of values). A document over a bound is refused
with a message, never half-read.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from allocator.io.errors import InputError

Loc = tuple[str | int, ...]

MAX_FILE_BYTES = 256 * 2**20  # JSON (cluster dumps can be large)
MAX_YAML_BYTES = 32 * 2**20  # YAML costs far more memory per value while it is parsed
POSITIONS_UP_TO = 16 * 2**20  # larger JSON is not re-read for line numbers
MAX_DEPTH = 64  # nested mappings and lists
MAX_VALUES = 2_000_000  # scalars, mappings and lists, with aliases followed


@dataclass
class SourceDocument:
    """A parsed document and the 1-based (line, column) of each value in it."""

    path: str
    data: Any
    positions: dict[Loc, tuple[int, int]] = field(default_factory=dict)
    # Per list of the document (by identity): how often each `id` occurs in it.
    id_counts: dict[int, Counter[Any]] = field(default_factory=dict, repr=False)

    def position(self, loc: Loc) -> tuple[int, int] | None:
        """Position of ``loc``, or of its nearest ancestor that has one."""
        for end in range(len(loc), -1, -1):
            found = self.positions.get(tuple(loc[:end]))
            if found:
                return found
        return None


def read_text(path: str | Path, expected: str) -> str:
    """A whole text file, bounded: missing files, folders, files over MAX_FILE_BYTES and
    bytes that are not UTF-8 become InputErrors naming the file (and the byte)."""
    return decode_text(str(path), read_bytes(path, expected), expected)


def read_bytes(path: str | Path, expected: str) -> bytes:
    """A whole file, bounded by MAX_FILE_BYTES; unreadable files are InputErrors."""
    path = Path(path)
    name = str(path)
    try:
        if path.is_file() and path.stat().st_size > MAX_FILE_BYTES:
            raise InputError.single(
                name,
                f"file is {path.stat().st_size / 2**20:,.0f} MiB; at most "
                f"{MAX_FILE_BYTES / 2**20:,.0f} MiB is read",
            )
        raw = path.read_bytes()
    except FileNotFoundError:
        raise InputError.single(name, "file not found") from None
    except IsADirectoryError:
        raise InputError.single(name, f"is a directory, expected {expected}") from None
    except OSError as exc:
        raise InputError.single(name, f"cannot read file: {exc.strerror}") from None
    if len(raw) > MAX_FILE_BYTES:
        raise InputError.single(name, f"more than {MAX_FILE_BYTES / 2**20:,.0f} MiB; refused")
    return raw


def decode_text(name: str, raw: bytes, expected: str) -> str:
    """The file's bytes as text; bytes that are not UTF-8 are located."""
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise InputError.single(
            name,
            f"not UTF-8 text (byte {exc.start} is 0x{raw[exc.start]:02x}); expected {expected}",
            line=line,
        ) from None


def read_document(path: str | Path) -> SourceDocument:
    """Parse a YAML or JSON file; raises InputError with line and column on bad syntax."""
    return document_from_text(str(path), read_text(path, "YAML or JSON"))


def document_from_text(name: str, text: str) -> SourceDocument:
    """Parse the text of the file `name` (read elsewhere, e.g. by a batch's coordinator
    and sent to a worker), bounded as a file is: JSON by its suffix or first character,
    YAML otherwise."""
    suffix = Path(name).suffix.lower()
    raw_size = len(text.encode("utf-8"))
    if not text.strip():
        raise InputError.single(name, "file is empty; expected a YAML or JSON document")
    looks_json = suffix == ".json" or (
        suffix not in (".yaml", ".yml") and text.lstrip()[:1] in "{["
    )
    if looks_json:
        return _parse_json(name, text)
    if raw_size > MAX_YAML_BYTES:
        raise InputError.single(
            name,
            f"a YAML file of {raw_size / 2**20:,.0f} MiB; YAML is read up to "
            f"{MAX_YAML_BYTES / 2**20:,.0f} MiB (write it as JSON, or describe identical "
            "nodes as one group with `count`)",
        )
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
        _check_depth(name, data)
    except RecursionError:
        raise InputError.single(name, _too_deep()) from None
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
    if len(text) > POSITIONS_UP_TO:
        return doc
    try:  # JSON is (almost always) YAML too: borrow YAML's marks for positions.
        loader = yaml.CSafeLoader(text) if yaml.__with_libyaml__ else _BoundedLoader(name, text)
        try:
            node = loader.get_single_node()
        finally:
            loader.dispose()
        if node is not None:
            _collect_positions(name, node, (), doc.positions)
    except (yaml.YAMLError, InputError, RecursionError):
        pass
    return doc


class _DuplicateKey(Exception):
    def __init__(self, key: str):
        self.key = key


class _BoundedLoader(yaml.SafeLoader):
    """PyYAML's safe loader, refusing documents nested deeper than MAX_DEPTH while it
    composes them (before any value is built)."""

    def __init__(self, name: str, text: str):
        super().__init__(text)
        self._name = name
        self._depth = 0

    def compose_node(self, parent: yaml.Node | None, index: object) -> yaml.Node:
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                mark = self.peek_event().start_mark
                raise InputError.single(
                    self._name, _too_deep(), line=mark.line + 1, column=mark.column + 1
                )
            return super().compose_node(parent, index)  # type: ignore[no-any-return]
        finally:
            self._depth -= 1


def _too_deep() -> str:
    return f"values nest more than {MAX_DEPTH} levels deep; refused"


def _check_expansion(name: str, root: yaml.Node) -> None:
    """Refuse a node graph that aliases make cyclic, deeper than MAX_DEPTH, or larger than
    MAX_VALUES once every alias is followed; each node is visited once."""
    size: dict[int, int] = {}
    depth: dict[int, int] = {}
    open_: set[int] = set()

    def visit(node: yaml.Node) -> None:
        key = id(node)
        if key in size:
            return
        if len(open_) >= MAX_DEPTH:
            mark = node.start_mark
            raise InputError.single(name, _too_deep(), line=mark.line + 1, column=mark.column + 1)
        if key in open_:
            mark = node.start_mark
            raise InputError.single(
                name,
                "malformed YAML: an alias refers to a value that contains it",
                line=mark.line + 1,
                column=mark.column + 1,
            )
        open_.add(key)
        if isinstance(node, yaml.MappingNode):
            children = [child for pair in node.value for child in pair]
        elif isinstance(node, yaml.SequenceNode):
            children = list(node.value)
        else:
            children = []
        for child in children:
            visit(child)
        open_.discard(key)
        size[key] = 1 + sum(size[id(c)] for c in children)
        depth[key] = 1 + max((depth[id(c)] for c in children), default=0)
        if size[key] > MAX_VALUES or depth[key] > MAX_DEPTH:
            mark = node.start_mark
            what = (
                f"stands for more than {MAX_VALUES:,} values once its aliases are followed"
                if size[key] > MAX_VALUES
                else f"nests more than {MAX_DEPTH} levels deep once its aliases are followed"
            )
            raise InputError.single(
                name, f"the document {what}; refused", line=mark.line + 1, column=mark.column + 1
            )

    visit(root)


def _check_depth(name: str, data: Any) -> None:
    """Refuse parsed JSON nested deeper than MAX_DEPTH."""
    level = [data]
    for _ in range(MAX_DEPTH + 1):
        level = [
            child
            for value in level
            if isinstance(value, dict | list)
            for child in (value.values() if isinstance(value, dict) else value)
        ]
        if not level:
            return
    raise InputError.single(name, _too_deep())


def _parse_yaml(name: str, text: str) -> SourceDocument:
    """Parse with LibYAML where it is installed (several times faster; it refuses nesting
    past its own limit while parsing, and `_check_expansion` applies ours before any value
    is built); a document it rejects is parsed again by the pure-Python loader, whose
    messages are the ones users see on every installation."""
    if getattr(yaml, "__with_libyaml__", False):
        try:
            return _parse_with(name, text, yaml.CSafeLoader(text))
        except yaml.YAMLError:
            pass
    return _parse_with(name, text, None)


def _parse_with(name: str, text: str, loader: yaml.SafeLoader | None) -> SourceDocument:
    """Parse with `loader`, or with the bounded pure-Python loader; syntax errors become
    located input errors (only for the pure-Python loader: LibYAML's are re-raised)."""
    fast = loader is not None
    try:
        if loader is None:
            loader = _BoundedLoader(name, text)
    except yaml.reader.ReaderError as exc:
        position = int(exc.position)
        line = text.count("\n", 0, position) + 1
        column = position - (text.rfind("\n", 0, position) + 1) + 1
        raise InputError.single(
            name,
            f"not a text document: character code {exc.character} is not allowed in YAML or JSON",
            line=line,
            column=column,
        ) from None
    try:
        node = loader.get_single_node()
        if node is None:
            raise InputError.single(name, "file is empty; expected a YAML or JSON document")
        aliased = "*" in text  # without an alias the node graph is a tree of the text's size
        if aliased:
            _check_expansion(name, node)
        positions: dict[Loc, tuple[int, int]] = {}
        _collect_positions(name, node, (), positions)
        data = loader.construct_document(node)
        if not aliased:
            _check_depth(name, data)
    except yaml.MarkedYAMLError as exc:
        if fast:
            raise
        mark = exc.problem_mark or exc.context_mark
        problem = exc.problem or "syntax error"
        if exc.context and exc.context not in problem:
            problem = f"{problem} ({exc.context})"
        where = {"line": mark.line + 1, "column": mark.column + 1} if mark else {}
        raise InputError.single(name, f"malformed YAML: {problem}", **where) from None
    except yaml.YAMLError as exc:
        if fast:
            raise
        raise InputError.single(name, f"malformed YAML: {exc}") from None
    finally:
        loader.dispose()
    return SourceDocument(name, data, positions)


def _collect_positions(
    name: str,
    node: yaml.Node,
    loc: Loc,
    out: dict[Loc, tuple[int, int]],
    seen_nodes: set[int] | None = None,
) -> None:
    """Walk the YAML node tree, recording marks and rejecting duplicate keys. A value
    reached again through an alias is not walked again: paths inside it fall back to the
    alias's own position."""
    out[loc] = (node.start_mark.line + 1, node.start_mark.column + 1)
    seen_nodes = set() if seen_nodes is None else seen_nodes
    if id(node) in seen_nodes:
        return
    seen_nodes.add(id(node))
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
            _collect_positions(name, value_node, (*loc, key), out, seen_nodes)
            out[(*loc, key)] = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _collect_positions(name, item, (*loc, index), out, seen_nodes)
