"""Reading other systems' documents so that every complaint names the object and field.

Importers walk JSON/YAML produced by kubectl, squeue or hand-written task files. A
`Where` is a position in such a document: the file and line (for the reader's editor),
the object ("pods/serving/llama-0") and the field inside it ("spec.containers[0]").
Problems are collected, not raised one by one, so a user fixes a file in one pass.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from allocator.io.errors import InputError, InputProblem
from allocator.io.source import Loc, SourceDocument


@dataclass(frozen=True)
class Where:
    """A field of an object inside a source document."""

    doc: SourceDocument
    loc: Loc
    subject: str
    path: tuple[str | int, ...] = ()

    def at(self, *keys: str | int) -> Where:
        return Where(self.doc, (*self.loc, *keys), self.subject, (*self.path, *keys))

    @property
    def field_name(self) -> str:
        """The dotted field path, e.g. `spec.containers[0].resources.requests.cpu`."""
        return dotted(self.path)

    @property
    def label(self) -> str:
        """`subject: field` (or either alone): how messages name a place."""
        if self.subject and self.path:
            return f"{self.subject}: {self.field_name}"
        return self.subject or self.field_name

    def problem(self, message: str) -> InputProblem:
        position = self.doc.position(self.loc)
        return InputProblem(
            file=self.doc.path,
            message=message,
            entry=self.label or None,
            line=position[0] if position else None,
            column=position[1] if position else None,
        )


def dotted(path: tuple[str | int, ...]) -> str:
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


@dataclass
class Problems:
    """Every problem found while importing; raised together by `raise_if_any`."""

    found: list[InputProblem] = field(default_factory=list)

    def add(self, where: Where, message: str) -> None:
        self.found.append(where.problem(message))

    def add_problem(self, problem: InputProblem) -> None:
        self.found.append(problem)

    def raise_if_any(self) -> None:
        if self.found:
            raise InputError(self.found)


def describe(value: Any) -> str:
    """How a found value is named in messages."""
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return f"{value!r}".lower()
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return repr(value)


def mapping(value: Any, where: Where, problems: Problems, required: bool = False) -> dict | None:
    """`value` when it is a mapping; None (and a problem, unless absent and optional)."""
    if value is None:
        if required:
            problems.add(where, "missing; expected a mapping")
        return None
    if not isinstance(value, dict):
        problems.add(where, f"expected a mapping, got {describe(value)}")
        return None
    return value


def sequence(value: Any, where: Where, problems: Problems, required: bool = False) -> list | None:
    if value is None:
        if required:
            problems.add(where, "missing; expected a list")
        return None
    if not isinstance(value, list):
        problems.add(where, f"expected a list, got {describe(value)}")
        return None
    return value


def text(value: Any, where: Where, problems: Problems, required: bool = False) -> str | None:
    if value is None or value == "":
        if required:
            problems.add(where, "missing; expected text")
        return None
    if not isinstance(value, str):
        problems.add(where, f"expected text, got {describe(value)}")
        return None
    return value


def string_map(value: Any, where: Where, problems: Problems) -> dict[str, str]:
    """A label/selector mapping: text keys to text values (numbers are not quoted by YAML)."""
    found = mapping(value, where, problems)
    if found is None:
        return {}
    out: dict[str, str] = {}
    for key, item in found.items():
        if isinstance(item, bool) or not isinstance(item, str | int | float):
            problems.add(where.at(str(key)), f"expected a text value, got {describe(item)}")
            continue
        out[str(key)] = str(item)
    return out


def items_of(value: Any, where: Where, problems: Problems) -> Iterator[tuple[dict, Where]]:
    """Each mapping of a list, with its place; non-mappings are reported."""
    found = sequence(value, where, problems)
    for i, item in enumerate(found or []):
        item_where = where.at(i)
        if mapping(item, item_where, problems, required=True) is not None:
            yield item, item_where


def report_duplicates(names: list[str], plural: str, file: str, problems: Problems) -> None:
    """Objects listed more than once (a concatenated or hand-edited listing)."""
    for item, times in sorted(Counter(names).items()):
        if times > 1:
            problems.add_problem(
                InputProblem(file, f"listed {times} times", entry=f"{plural}/{item}")
            )
