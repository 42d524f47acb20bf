"""What a benchmark ran on and which planner code it measured, recorded with its results.

The planner changes over time; a fingerprint of its source files ties each result to the
code that produced it.
"""

from __future__ import annotations

import hashlib
import os
import platform
import sys
from importlib import metadata
from pathlib import Path

import allocator

PACKAGE = Path(allocator.__file__).resolve().parent
PLANNER_SOURCES = ("model", "solve", "heuristics")


def planner_fingerprint() -> str:
    """First 12 hex digits of a SHA-256 over the planner's source files, as they are now."""
    digest = hashlib.sha256()
    for name in PLANNER_SOURCES:
        path = PACKAGE / name
        files = sorted(path.rglob("*.py")) if path.is_dir() else [path]
        for file in files:
            if file.exists():
                digest.update(file.relative_to(PACKAGE).as_posix().encode())
                digest.update(file.read_bytes())
    return digest.hexdigest()[:12]


def machine() -> dict[str, object]:
    """CPU model and count, memory, Python, and the versions of the solver and numeric
    libraries (numba compiles the pricing loops; without it they run slower)."""
    return {
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "memory_gib": _memory_gib(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "packages": {
            name: _version(name) for name in ("highspy", "ortools", "PuLP", "numpy", "numba")
        },
        "planner_fingerprint_at_end": planner_fingerprint(),
        "argv": sys.argv,
    }


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _memory_gib() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 1024**2, 1)
    except OSError:
        pass
    return None


def _version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None
