"""Benchmark results as JSON: plain dataclasses in, one file out, written atomically."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path
from typing import Any

from allocator.bench.machine import machine
from allocator.io.atomic import write_text_atomic


def to_jsonable(value: Any) -> Any:
    """Dataclasses, tuples and numpy scalars as JSON values; NaN and infinities as null."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_jsonable(v) for v in value]
    if hasattr(value, "item") and callable(value.item):  # numpy scalar
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def results_document(benchmark: str, config: dict, results: Any) -> dict:
    """One JSON document: which benchmark, its settings, the machine, the results."""
    return {
        "benchmark": benchmark,
        "config": to_jsonable(config),
        "machine": machine(),
        "results": to_jsonable(results),
    }


def write_results(path: str | Path, benchmark: str, config: dict, results: Any) -> None:
    write_text_atomic(
        path, json.dumps(results_document(benchmark, config, results), indent=2) + "\n"
    )
