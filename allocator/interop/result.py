"""What every importer returns, and how an imported inventory is checked and written.

An importer builds a plain inventory document (the dict a YAML file holds), validates it
with allocator's own loader, and lists what it read but could not carry over exactly (a
preference, an operator the inventory has no equivalent for): each such constraint
becomes a warning naming the object and field it came from.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from allocator.inventory.load import validate_document
from allocator.inventory.schema import Inventory
from allocator.io.atomic import write_text_atomic
from allocator.io.source import SourceDocument

MIN_PRIORITY = 1
MAX_PRIORITY = 1_000_000
_ID_CHARS = re.compile(r"[^A-Za-z0-9._:/@+-]+")


@dataclass(frozen=True)
class ImportWarning:
    """Something read from the source that the inventory does not express exactly."""

    subject: str
    field: str
    message: str

    def __str__(self) -> str:
        where = f"{self.subject}: {self.field}" if self.field else self.subject
        return f"{where}: {self.message}"


@dataclass
class ImportResult:
    """A validated inventory, the document it was validated from, and the warnings."""

    inventory: Inventory
    document: dict[str, Any]
    warnings: list[ImportWarning] = field(default_factory=list)


def validated(document: dict[str, Any], source: str) -> Inventory:
    """Run allocator's inventory loader on an imported document. It fails on values the
    source holds that the format refuses (beyond its limits); `source` names the files the
    document was made from, and each message the entry and field it holds them in."""
    return validate_document(SourceDocument(source, document))


def write_inventory(path: str | Path, result: ImportResult, header: str = "") -> None:
    """Write the inventory as YAML, atomically, with a comment saying where it came from."""
    comment = "".join(f"# {line}\n" if line else "#\n" for line in header.splitlines())
    body = yaml.safe_dump(
        result.document, sort_keys=False, default_flow_style=False, allow_unicode=True, width=100
    )
    write_text_atomic(path, comment + body)


def clamp_priority(value: int) -> int:
    """A scheduler's priority as an allocator priority (1..1,000,000)."""
    return max(MIN_PRIORITY, min(MAX_PRIORITY, value))


def order_keeping_priorities(values: Iterable[int]) -> dict[int, int]:
    """Scheduler priorities as allocator priorities, never tying two that differ: each
    value as it is when all fit 1..1,000,000, else its dense rank (1 for the lowest).
    Clamping would flatten Slurm's 4294901757 and 4294901000 into one priority."""
    distinct = sorted(set(values))
    if all(MIN_PRIORITY <= v <= MAX_PRIORITY for v in distinct):
        return {v: v for v in distinct}
    return {v: rank for rank, v in enumerate(distinct, 1)}


def safe_id(text: str, fallback: str) -> str:
    """`text` as an inventory id: invalid characters become '-', it starts alphanumeric."""
    cleaned = _ID_CHARS.sub("-", text).strip("-._:/@+")[:253].rstrip("-._:/@+")
    return cleaned or fallback


def number(value: float) -> int | float:
    """Integers as ints, so written inventories read `cpus: 96`, not `cpus: 96.0`."""
    return int(value) if float(value).is_integer() else float(value)
