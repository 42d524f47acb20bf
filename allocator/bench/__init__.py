"""Benchmarks anyone can rerun (``allocator bench``): allocator against the published online
schedulers on Alibaba's openb trace, a ladder of synthetic fleets over every backend, and
the cost of building allocator's model against a plain PuLP model.

Each returns plain dataclasses; ``allocator.bench.tables`` renders them and
``allocator.bench.results`` writes them as JSON. Names load on first use, so a child
process that measures one thing imports only what that needs.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

_EXPORTS = {
    "run_openb": "openb",
    "OpenbResult": "openb",
    "OpenbSeedRun": "openb",
    "OpenbTraceSummary": "openb",
    "AllocatorRun": "openb",
    "BaselineRun": "openb",
    "BOUND_RULE": "openb",
    "run_ladder": "ladder",
    "LadderResult": "ladder",
    "LadderRun": "ladder",
    "run_build": "build",
    "BuildComparison": "build",
    "AllocatorBuild": "build",
    "PulpResult": "build",
    "LadderInstance": "instances",
    "PlanStats": "planstats",
    "LevelStats": "planstats",
    "Summary": "stats",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'allocator.bench' has no attribute {name!r}")
    return getattr(import_module(f"allocator.bench.{module}"), name)
