"""The instances of a batch: inventory files named on the command line, directly, as
folders (their `*.yaml`, `*.yml` and `*.json` files, not recursively) or as glob
patterns (expanded here, so a quoted pattern works from cron).

Each instance is named by its file's stem, which names its outputs; two inputs with one
stem would overwrite each other's plan, so they are refused.
"""

from __future__ import annotations

import glob
from dataclasses import dataclass
from pathlib import Path

from allocator.io.errors import InputError, InputProblem

SUFFIXES = (".yaml", ".yml", ".json")
NOT_INVENTORIES = (".plan.json",)
MAX_INSTANCES = 100_000


@dataclass(frozen=True)
class Instance:
    name: str
    path: Path


def find_instances(inputs: list[str], skip: Path | None = None) -> list[Instance]:
    """The inventory files `inputs` stand for, in order, each once; files under `skip`
    (the batch's own output folder) are left out."""
    problems: list[InputProblem] = []
    found: list[Path] = []
    for given in inputs:
        path = Path(given)
        if path.is_dir():
            files = sorted(p for p in path.iterdir() if _is_inventory(p))
            if not files:
                problems.append(_problem(given, "folder holds no *.yaml, *.yml or *.json file"))
            found += files
        elif path.is_file():
            found.append(path)
        elif glob.has_magic(given):
            files = sorted(Path(p) for p in glob.glob(given) if _is_inventory(Path(p)))
            if not files:
                problems.append(_problem(given, "pattern matches no inventory file"))
            found += files
        else:
            problems.append(_problem(given, "file not found"))
    if problems:
        raise InputError(problems)
    skip_at = skip.resolve() if skip is not None else None
    unique: dict[Path, Path] = {}
    for path in found:
        resolved = path.resolve()
        if skip_at is not None and resolved.is_relative_to(skip_at):
            continue
        unique.setdefault(resolved, path)
    if len(unique) > MAX_INSTANCES:
        raise InputError.single(
            inputs[0], f"{len(unique):,} inventory files; a batch runs at most {MAX_INSTANCES:,}"
        )
    by_name: dict[str, list[Path]] = {}
    for path in unique.values():
        by_name.setdefault(instance_name(path), []).append(path)
    clashes = [
        _problem(
            str(paths[1]), f"has the same name as {paths[0]}; both would write {name}.plan.json"
        )
        for name, paths in by_name.items()
        if len(paths) > 1
    ]
    if clashes:
        raise InputError(clashes)
    if not by_name:
        raise InputError.single(inputs[0] if inputs else ".", "no inventory files to plan")
    return [Instance(name, paths[0]) for name, paths in by_name.items()]


def instance_name(path: Path) -> str:
    return path.name[: -len(path.suffix)] if path.suffix else path.name


def _is_inventory(path: Path) -> bool:
    name = path.name.lower()
    return path.is_file() and name.endswith(SUFFIXES) and not name.endswith(NOT_INVENTORIES)


def _problem(file: str, message: str) -> InputProblem:
    return InputProblem(file, message)
