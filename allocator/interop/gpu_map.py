"""`--gpu-map FILE`: the GPU type behind a name that allocator cannot resolve on its own.

Clusters name their GPUs in ways no table foresees: a GRES type of the site's choosing
(`gpu:rtx6000:4`), an untyped `Gres=gpu:8`, a node label or instance type allocator does
not know. The map is YAML (or JSON): each key is such a name, each value the GPU type it
stands for, a catalog name or a new type with its memory:

    rtx6000: {gpu_type: RTX6000, memory_gib: 24}   # a Slurm GRES type
    a100: A100-80GB                                 # a catalog type (shorthand)
    gpu-[01-16]: L4                                 # nodes (a Slurm hostlist)
    example.com/gpu=a6000: {gpu_type: RTX-A6000, memory_gib: 48}   # a Kubernetes node label

Keys compare without regard to case. Which names an importer looks up, and in what order,
is its own business (docs/importers.md); this module only reads and checks the file.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from allocator.interop.reading import Problems, Where, describe
from allocator.inventory.catalog import BUILTIN_GPU_TYPES
from allocator.io.source import read_document

FIELDS = ("gpu_type", "memory_gib")
# A catalog type whose memory is given must have about that memory (as for GPU labels).
MEMORY_TOLERANCE = 0.10
MAX_MEMORY_GIB = 1e9
EXAMPLE = "'rtx6000: {gpu_type: RTX6000, memory_gib: 24}' or 'a100: A100-80GB'"


@dataclass(frozen=True)
class GpuMapEntry:
    """One key of the map and the GPU type it names."""

    key: str  # as written in the file
    gpu_type: str  # the catalog's spelling for a catalog type
    memory_gib: float | None  # given for (and required of) a type not in the catalog
    in_catalog: bool

    def __str__(self) -> str:
        return f"--gpu-map entry {self.key!r}"


@dataclass(frozen=True)
class GpuMap:
    """The entries of a `--gpu-map` file by lower-cased name; empty without a file."""

    by_name: dict[str, GpuMapEntry] = field(default_factory=dict)
    by_label: dict[tuple[str, str], GpuMapEntry] = field(default_factory=dict)
    source: str | None = None

    def get(self, name: str | None) -> GpuMapEntry | None:
        """The entry for a name (a node, a GRES type, a label value, an instance type)."""
        return self.by_name.get(name.lower()) if name else None

    def for_labels(self, labels: Mapping[str, str]) -> GpuMapEntry | None:
        """The first `key=value` entry (in file order) whose label the node has."""
        lowered = {k.lower(): v.lower() for k, v in labels.items()}
        for (key, value), entry in self.by_label.items():
            if lowered.get(key) == value:
                return entry
        return None


def load_gpu_map(path: str | Path | None) -> GpuMap:
    """Read a `--gpu-map` file (none: an empty map); bad entries raise one InputError."""
    if path is None:
        return GpuMap()
    doc = read_document(path)
    problems = Problems()
    top = Where(doc, (), "")
    if not isinstance(doc.data, dict):
        problems.add(
            top,
            f"expected a mapping of names to GPU types, e.g. {EXAMPLE}; got {describe(doc.data)}",
        )
        problems.raise_if_any()
    by_name: dict[str, GpuMapEntry] = {}
    by_label: dict[tuple[str, str], GpuMapEntry] = {}
    for raw_key, value in doc.data.items():
        key = str(raw_key)
        where = Where(doc, (raw_key,), key)
        entry = _entry(key, value, where, problems)
        if entry is None:
            continue
        for name in _names(key, where, problems):
            if "=" in name:
                label, _, label_value = name.partition("=")
                by_label[(label.strip().lower(), label_value.strip().lower())] = entry
            elif name.lower() in by_name and by_name[name.lower()].key != key:
                problems.add(
                    where, f"{name!r} is also named by entry {by_name[name.lower()].key!r}"
                )
            else:
                by_name[name.lower()] = entry
    problems.raise_if_any()
    return GpuMap(by_name, by_label, doc.path)


def _names(key: str, where: Where, problems: Problems) -> list[str]:
    """The names a key stands for: itself, or each host of a hostlist such as gpu-[01-16]."""
    if "[" not in key and "]" not in key:
        return [key.strip()]
    # Imported here: the Slurm package imports this module.
    from allocator.interop.slurm.hostlist import HostlistError, expand_hostlist

    try:
        return expand_hostlist(key)
    except HostlistError as exc:
        problems.add(where, f"a key with brackets is a hostlist: {exc}")
        return []


def _entry(key: str, value: object, where: Where, problems: Problems) -> GpuMapEntry | None:
    if not key.strip():
        problems.add(where, "an empty name")
        return None
    if isinstance(value, str):
        value = {"gpu_type": value}
    if not isinstance(value, dict):
        problems.add(
            where, f"expected a GPU type name or {{gpu_type, memory_gib}}, got {describe(value)}"
        )
        return None
    known = len(problems.found)
    for name in value:
        if name not in FIELDS:
            problems.add(
                where.at(str(name)),
                f"unknown field {str(name)!r}; an entry has {' and '.join(FIELDS)}",
            )
    gpu_type = value.get("gpu_type")
    if not isinstance(gpu_type, str) or not gpu_type.strip():
        problems.add(where.at("gpu_type"), f"expected a GPU type name, got {describe(gpu_type)}")
        return None
    memory = _memory(value.get("memory_gib"), where.at("memory_gib"), problems)
    catalog_name = _catalog_name(gpu_type.strip())
    if catalog_name is None and memory is None and "memory_gib" not in value:
        problems.add(
            where.at("memory_gib"),
            f"missing; GPU type {gpu_type.strip()!r} is not in allocator's catalog "
            f"({', '.join(BUILTIN_GPU_TYPES)}), so the map must give the memory of one GPU "
            "in GiB",
        )
    if catalog_name is not None and memory is not None:
        _check_catalog_memory(catalog_name, memory, where.at("memory_gib"), problems)
    if len(problems.found) > known:
        return None
    return GpuMapEntry(key, catalog_name or gpu_type.strip(), memory, catalog_name is not None)


def _memory(value: object, where: Where, problems: Problems) -> float | None:
    if value is None:
        return None
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or not 0 < value <= MAX_MEMORY_GIB
    ):
        problems.add(
            where, f"expected the memory of one GPU in GiB (a number > 0), got {describe(value)}"
        )
        return None
    return float(value)


def _catalog_name(name: str) -> str | None:
    """The catalog's spelling of a type name, compared without regard to case."""
    return next((t for t in BUILTIN_GPU_TYPES if t.lower() == name.lower()), None)


def _check_catalog_memory(name: str, memory: float, where: Where, problems: Problems) -> None:
    catalog = BUILTIN_GPU_TYPES[name].memory_gib
    if abs(memory - catalog) <= MEMORY_TOLERANCE * catalog:
        return
    model = name.split("-")[0]
    fitting = [
        t
        for t, spec in BUILTIN_GPU_TYPES.items()
        if t.split("-")[0] == model and abs(memory - spec.memory_gib) <= MEMORY_TOLERANCE * memory
    ]
    hint = f"name {fitting[0]}" if fitting else "give the type a name of its own"
    problems.add(
        where,
        f"{memory:g} GiB, but the catalog's {name} has {catalog:g} GiB: {hint}, or leave "
        "memory_gib out",
    )
